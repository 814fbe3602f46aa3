"""Export the current views as PNG files and the metric history as CSV."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from PyQt6.QtWidgets import QWidget

from ..report import write_metrics_csv as write_table


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "view"


def export_pngs(views: dict[str, QWidget], folder: str | Path, whole: QWidget | None = None
                ) -> list[Path]:
    """One PNG per view (``<name>.png``) and ``plots.png`` of ``whole``; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    items = list(views.items()) + ([("plots", whole)] if whole is not None else [])
    for name, widget in items:
        path = folder / f"{slug(name)}.png"
        if not widget.grab().save(str(path), "PNG"):
            raise OSError(f"cannot write {path}")
        written.append(path)
    return written


def write_metrics_csv(path: str | Path, evaluations: list[dict], steps: list[tuple]
                      ) -> list[Path]:
    """``path``: a row per evaluation (``epoch, step, train_loss, val_loss`` then one column
    per metric, as ``rnnlab train`` writes); ``<stem>_steps.csv`` beside it: a row per step
    (``step, epoch, loss, grad_norm, lr``). Returns both paths."""
    path = Path(path)
    write_table(path, evaluations)
    steps_path = path.with_name(f"{path.stem}_steps.csv")
    with open(steps_path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["step", "epoch", "loss", "grad_norm", "lr"])
        w.writerows(steps)
    return [path, steps_path]
