"""``rnnlab train TASK``: train from the command line into a run folder.

The run folder holds ``config.json``, ``last.safetensors`` / ``best.safetensors``,
``metrics.csv`` (a row per epoch) and ``report.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: command-line flag -> TrainConfig field
FLAGS = {"cell": "cell", "hidden": "hidden_size", "layers": "num_layers",
         "bidirectional": "bidirectional", "dropout": "dropout", "optimizer": "optimizer",
         "lr": "lr", "batch_size": "batch_size", "epochs": "epochs", "max_steps": "max_steps",
         "clip": "clip", "seed": "seed", "patience": "patience", "schedule": "schedule",
         "weight_decay": "weight_decay", "dtype": "dtype"}


#: flags that may change when resuming; the rest define the model and data
RESUMABLE = ("epochs", "max_steps", "lr", "clip", "patience")
RUN_FILES = ("config.json", "metrics.csv", "last.safetensors", "best.safetensors",
             "report.png")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train a model on a task into a run folder",
                       description="Train TASK with the given cell and settings; unset "
                                   "settings come from the task's defaults.")
    p.add_argument("task", metavar="TASK", help="a registered task (rnnlab plugins list)")
    p.add_argument("--cell", help="a registered cell, e.g. lstm, gru, rnn_tanh")
    p.add_argument("--hidden", type=int, help="hidden size")
    p.add_argument("--layers", type=int, help="number of stacked layers")
    p.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None,
                   help="read sequences in both directions (--no-bidirectional: forward only)")
    p.add_argument("--dropout", type=float, help="dropout between layers")
    p.add_argument("--optimizer", choices=("sgd", "adam", "adamw", "rmsprop"))
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--clip", type=float, help="max gradient norm (0 disables clipping)")
    p.add_argument("--patience", type=int, help="early stopping after N epochs without gain")
    p.add_argument("--schedule", choices=("cosine", "step"))
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--dtype", choices=("float32", "float64"))
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, help="threads for kernels and BLAS (default: all)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a task parameter, e.g. --param length=60 (repeatable)")
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/TASK)")
    p.add_argument("--resume", action="store_true",
                   help="continue from DIR/last.safetensors; " + ", ".join(
                       f"--{f.replace('_', '-')}" for f in RESUMABLE) + " may change")
    p.add_argument("--force", action="store_true",
                   help="start a new run in a folder that holds another run (replacing it)")
    p.add_argument("--no-report", action="store_true", help="skip the PNG report")
    p.set_defaults(handler=run)
    return p


def _task_params(pairs: list[str]) -> dict:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--param: expected NAME=VALUE, got {pair!r}")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


def prepare_out_dir(path: Path) -> Path:
    """Create ``path`` and check it is writable; ``ValueError`` explains otherwise."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"--out: expected a writable folder, got {path} ({exc.strerror})") \
            from None
    return path


def build_trainer(args):
    from ..engine.train import TrainConfig, Trainer

    out = prepare_out_dir(Path(args.out or Path("runs") / args.task))
    overrides = {field: getattr(args, flag) for flag, field in FLAGS.items()
                 if getattr(args, flag) is not None}
    if overrides.get("clip") == 0:
        overrides["clip"] = None
    if args.resume:
        last = out / "last.safetensors"
        if not last.exists():
            raise ValueError(f"--resume: expected a checkpoint at {last}, got none")
        fixed = [flag for flag, field in FLAGS.items()
                 if field in overrides and flag not in RESUMABLE]
        fixed += ["param"] if args.param else []
        if fixed:
            raise ValueError("--resume: the model and data come from the checkpoint; "
                             f"expected only {', '.join('--' + f for f in RESUMABLE)}, got "
                             + ", ".join("--" + f.replace("_", "-") for f in fixed))
        trainer = Trainer.load(last, out_dir=out)
        for field, value in overrides.items():
            setattr(trainer.config, field, value)
        trainer.config.validate()
        if "lr" in overrides:
            trainer.optimizer.lr = overrides["lr"]
        return trainer, out
    existing = [n for n in RUN_FILES if (out / n).exists()]
    if existing and not args.force:
        raise ValueError(f"--out: {out} already holds a run ({', '.join(existing)}); "
                         "use --resume to continue it, --force to replace it, or another "
                         "folder")
    for name in existing:
        (out / name).unlink()
    params = _task_params(args.param)
    if params:
        overrides["task_params"] = params
    config = TrainConfig.for_task(args.task, **overrides)
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    return Trainer(config, out_dir=out), out


def run(args) -> int:
    from tqdm import tqdm

    from ..engine.checkpoint import CheckpointError
    from ..engine.events import Evaluated, StepDone, Stopped
    from ..engine.registry import PluginNotFoundError
    from ..report import write_metrics_csv

    try:
        if args.threads is not None:
            from ..engine.config import set_threads

            set_threads(args.threads)
        trainer, out = build_trainer(args)
    except (ValueError, PluginNotFoundError, CheckpointError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    c = trainer.config
    total = c.max_steps or c.epochs * trainer.steps_per_epoch
    print(f"training {c.task} with {c.cell} (hidden {c.hidden_size}, layers {c.num_layers}"
          f"{', bidirectional' if c.bidirectional else ''}) into {out}", flush=True)
    stop = None
    last_eval = None
    bar = None  # opened after the first step, which may compile the kernels, so its ETA is sane
    try:
        for ev in trainer.run():
            if isinstance(ev, StepDone):
                if bar is None:
                    bar = tqdm(total=total, initial=ev.step, unit="step", dynamic_ncols=True,
                               file=sys.stderr)
                else:
                    bar.update(1)
                bar.set_postfix(epoch=ev.epoch, loss=f"{ev.loss:.4g}", refresh=False)
            elif isinstance(ev, Evaluated):
                last_eval = ev
                write_metrics_csv(out / "metrics.csv", trainer.history)
                if bar is not None:
                    bar.set_postfix(epoch=ev.epoch, val_loss=f"{ev.val_loss:.4g}",
                                    **{k: f"{v:.4g}" for k, v in ev.metrics.items()})
            elif isinstance(ev, Stopped):
                stop = ev
    finally:
        if bar is not None:
            bar.close()
    print(f"stopped: {stop.reason} ({stop.message})")
    if last_eval is not None:
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in last_eval.metrics.items())
        print(f"epoch {last_eval.epoch}: train loss {last_eval.train_loss:.4g}, "
              f"val loss {last_eval.val_loss:.4g}, {metrics}; best val loss "
              f"{trainer.best_val:.4g}")
    if trainer.history and not args.no_report and stop.reason != "non_finite":
        from ..report import write_report

        path = write_report(out / "report.png", trainer.history, trainer.snapshot(),
                            f"{c.task} · {c.cell} · hidden {c.hidden_size} · step "
                            f"{trainer.step}")
        print(f"report: {path}")
    written = [n for n in ("metrics.csv", "last.safetensors", "best.safetensors", "report.png")
               if (out / n).exists()]
    print(f"run folder: {out} ({', '.join(written) or 'nothing written yet'})")
    return 1 if stop is not None and stop.reason == "non_finite" else 0
