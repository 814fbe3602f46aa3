"""A PNG report of a finished run: loss curves and a probe sample's hidden states.

Rendered with pyqtgraph on Qt's offscreen platform when no display is available, so it works
on a headless machine. Only the CLI imports this module; the engine never imports Qt.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

TRAIN_COLOUR = (31, 119, 180)
VAL_COLOUR = (255, 127, 14)


def _app():
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtWidgets import QApplication

    return QApplication.instance() or QApplication(["rnnlab-report"])


def write_metrics_csv(path: str | Path, history: list[dict]) -> None:
    """Rewrite ``metrics.csv`` atomically: epoch, step, train_loss, val_loss, val_<metric>..."""
    from .engine.checkpoint import atomic_write

    base = ["epoch", "step", "train_loss", "val_loss"]
    extra = sorted({k for row in history for k in row} - set(base))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=base + extra, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(history)
    atomic_write(path, lambda tmp: Path(tmp).write_text(buf.getvalue()))


def write_report(path: str | Path, history: list[dict], snapshot, title: str) -> Path:
    """Save ``path`` (PNG, 1200x800): train/val loss per epoch and the heatmap (units x time)
    of the first layer's hidden state for ``snapshot`` (an :class:`~rnnlab.engine.events.
    Snapshot`), with a diverging colour map centred at 0."""
    _app()
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    win = pg.GraphicsLayoutWidget()
    win.resize(1200, 800)
    win.ci.addLabel(title, row=0, col=0, colspan=2, size="13pt")
    loss = win.ci.addPlot(row=1, col=0, title="Loss")
    loss.setLabel("bottom", "epoch")
    loss.setLabel("left", "loss")
    loss.setLogMode(y=True)
    loss.getAxis("left").enableAutoSIPrefix(False)
    loss.showGrid(x=True, y=True, alpha=0.3)
    loss.addLegend(offset=(-10, 10))
    epochs = np.array([h["epoch"] for h in history], dtype=float)
    for key, colour, name in (("train_loss", TRAIN_COLOUR, "train"),
                              ("val_loss", VAL_COLOUR, "validation")):
        values = np.array([h[key] for h in history], dtype=float)
        ok = np.isfinite(values) & (values > 0)
        loss.plot(epochs[ok], values[ok], pen=pg.mkPen(colour, width=2), symbol="o",
                  symbolSize=5, symbolBrush=colour, name=name)
    heat = win.ci.addPlot(row=1, col=1, title="Hidden state of a validation sample")
    heat.setLabel("bottom", "timestep")
    heat.setLabel("left", "unit index")
    h = snapshot.layers[0]["h"][: snapshot.length]
    lim = float(np.abs(h).max()) or 1.0
    img = pg.ImageItem(h, levels=(-lim, lim))
    img.setColorMap(pg.colormap.get("CET-D1"))
    heat.addItem(img)
    bar = pg.ColorBarItem(values=(-lim, lim), colorMap=pg.colormap.get("CET-D1"),
                          label="activation", interactive=False)
    bar.setImageItem(img, insert_in=heat)
    path = Path(path)
    if not win.grab().save(str(path), "PNG"):
        raise OSError(f"{path}: could not write the PNG report")
    win.close()
    return path
