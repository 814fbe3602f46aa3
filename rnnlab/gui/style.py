"""Colours, fonts and pyqtgraph defaults shared by every view.

One colour per series everywhere: train/validation/metric, truth/prediction, each gate by
name, and the diverging map (blue < 0 < red, white at 0) for hidden states.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtGui import QColor, QFont
from PyQt6.QtWidgets import QGraphicsItem

# Okabe-Ito / Tol colours: distinguishable with colour-blindness, readable on white.
SERIES = {
    "train": "#0072B2",
    "train_raw": (0, 114, 178, 70),
    "val": "#D55E00",
    "metric": "#009E73",
    "truth": "#333333",
    "prediction": "#AA3377",
    "input": "#7F7F7F",
    "h": "#333333",
    "c": "#E69F00",
}
GATES = {
    "i": "#0072B2", "f": "#D55E00", "g": "#009E73", "o": "#AA3377",
    "r": "#E69F00", "z": "#56B4E9", "n": "#009E73",
}
GATE_NAMES = {"i": "input", "f": "forget", "g": "candidate", "o": "output",
              "r": "reset", "z": "update", "n": "new"}
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#AA3377", "#E69F00", "#56B4E9", "#332288",
           "#999933", "#882255", "#44AA99", "#000000", "#CC6677"]

# ColorBrewer RdBu (11 classes), reversed: negative blue, zero near-white, positive red.
_RDBU = ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
         "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f"]
DIVERGING = pg.ColorMap(np.linspace(0.0, 1.0, len(_RDBU)), [QColor(c) for c in _RDBU])

TICK_FONT_PT = 8
LABEL_STYLE = {"font-size": "9pt", "color": "#333"}


def color_for(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def gate_color(name: str, index: int) -> str:
    return GATES.get(name, color_for(index + 4))


def diverging_rgb(value: float, limit: float) -> QColor:
    """The diverging map's colour of ``value`` on the symmetric scale ``[-limit, limit]``."""
    limit = max(float(limit), 1e-12)
    pos = 0.5 + 0.5 * float(np.clip(value / limit, -1.0, 1.0))
    return DIVERGING.map(pos, mode="qcolor")


def symmetric_limit(values: np.ndarray) -> float:
    """Colour scale half-width: 1 for data inside [-1, 1] (tanh range), else its max |v|."""
    finite = np.abs(values[np.isfinite(values)]) if values.size else values
    top = float(finite.max()) if finite.size else 0.0
    return 1.0 if top <= 1.0 else top


def apply_pyqtgraph_defaults() -> None:
    # No antialiasing: with it, painting the window while training raised the event loop's
    # p99 latency from 30-41 ms to 40-66 ms (offscreen, 1280x800), for smoother edges only.
    pg.setConfigOptions(imageAxisOrder="row-major", background="w", foreground="#333",
                        antialias=False)


def tick_font() -> QFont:
    f = QFont()
    f.setPointSize(TICK_FONT_PT)
    return f


def cache_axes(plot: pg.PlotItem) -> None:
    """Draw axes (ticks, text and the grid they carry) from a pixmap cache: a curve update
    then repaints the curve, not every tick label."""
    for side in ("left", "bottom", "right", "top"):
        plot.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def style_plot(plot: pg.PlotItem, x_label: str, y_label: str) -> None:
    """Axis labels (with units in the text), small tick fonts, a light grid."""
    for side, text in (("bottom", x_label), ("left", y_label)):
        axis = plot.getAxis(side)
        axis.enableAutoSIPrefix(False)
        axis.setLabel(text, **LABEL_STYLE)
        axis.setStyle(tickFont=tick_font(), tickTextOffset=3)
    cache_axes(plot)
    plot.showGrid(x=True, y=True, alpha=0.15)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.layout.setContentsMargins(2, 2, 6, 2)


def pen(color, width: float = 1.5, style=None) -> pg.QtGui.QPen:
    p = pg.mkPen(color, width=width)
    if style is not None:
        p.setStyle(style)
    return p
