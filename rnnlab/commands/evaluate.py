"""``rnnlab eval RUN_DIR``: validation loss and metrics of a run's checkpoint."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("eval", help="evaluate a run folder's checkpoint on validation data")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by rnnlab train")
    p.add_argument("--which", choices=("best", "last"), default="best")
    p.set_defaults(handler=run)
    return p


def run(args) -> int:
    from ..engine.checkpoint import CheckpointError
    from ..engine.registry import PluginNotFoundError
    from ..engine.train import Trainer

    path = Path(args.run_dir) / f"{args.which}.safetensors"
    if not path.exists() and args.which == "best":
        path = Path(args.run_dir) / "last.safetensors"
    try:
        trainer = Trainer.load(path)
    except (CheckpointError, PluginNotFoundError, ValueError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    loss, metrics = trainer.evaluate()
    c = trainer.config
    print(f"{path}: task {c.task}, cell {c.cell}, step {trainer.step}, epoch {trainer.epoch}")
    print(f"val_loss {loss:.6g}")
    for k, v in metrics.items():
        print(f"{k} {v:.6g}")
    return 0
