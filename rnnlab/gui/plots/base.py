"""A titled panel around a view, a growable series buffer and hover helpers."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..axes import axes
from ..style import style_plot


class Growing:
    """An append-only float series with amortised growth (views, not copies, are read)."""

    def __init__(self, capacity: int = 1024):
        self._data = np.empty(capacity, dtype=np.float64)
        self._n = 0

    def append(self, value: float) -> None:
        if self._n == self._data.size:
            self._data = np.concatenate([self._data, np.empty_like(self._data)])
        self._data[self._n] = value
        self._n += 1

    def clear(self) -> None:
        self._n = 0

    @property
    def values(self) -> np.ndarray:
        return self._data[: self._n]

    def __len__(self) -> int:
        return self._n


MARKS = {"line": "━━", "dash": "╺╸╺╸", "dot": "●", "square": "■", "box": "□", "x": "✕"}


def _css(colour) -> str:
    if isinstance(colour, tuple):
        return "#" + "".join(f"{int(c):02x}" for c in colour[:3])
    return str(colour)


class Panel(QFrame):
    """A view with a header row: bold title, optional controls and a hover readout."""

    placeholder_text = "Shown once training has started: press Start (F5) or Step (F10)"

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("panel")
        self.setStyleSheet("#panel { background: white; border: 1px solid #d8d8d8; }")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 3, 4, 3)
        outer.setSpacing(2)
        head = QHBoxLayout()
        head.setSpacing(6)
        self.title = QLabel(title)
        f = QFont()
        f.setBold(True)
        f.setPointSize(9)
        self.title.setFont(f)
        head.addWidget(self.title)
        self.controls = QHBoxLayout()
        self.controls.setSpacing(4)
        head.addLayout(self.controls)
        head.addStretch(1)
        self.readout = QLabel("")
        self.readout.setStyleSheet("color: #555; font-size: 8pt;")
        self.readout.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        head.addWidget(self.readout, 1)
        outer.addLayout(head)
        self.legend_label = QLabel("")
        self.legend_label.setWordWrap(True)
        self.legend_label.setStyleSheet("font-size: 8pt; color: #333;")
        self.legend_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                        QSizePolicy.Policy.Preferred)
        self.legend_label.setVisible(False)
        outer.addWidget(self.legend_label)
        self.body = QVBoxLayout()
        self.body.setContentsMargins(0, 0, 0, 0)
        self.body.setSpacing(0)
        outer.addLayout(self.body, 1)
        self._placeholder: QLabel | None = None

    def show_placeholder(self, on: bool) -> None:
        """A grey hint over the empty view until the run has data for it."""
        if on and self._placeholder is None:
            self._placeholder = QLabel(self.placeholder_text, self)
            self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self._placeholder.setWordWrap(True)
            self._placeholder.setStyleSheet("color: #888; font-size: 9pt; background: "
                                            "rgba(255, 255, 255, 210); padding: 6px;")
            self._placeholder.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        if self._placeholder is not None:
            self._placeholder.setVisible(on)
            if on:
                self._place()

    def _place(self) -> None:
        w = max(60, min(self.width() - 24, 340))
        h = self._placeholder.heightForWidth(w) + 4
        self._placeholder.setGeometry((self.width() - w) // 2, (self.height() - h) // 2, w, h)
        self._placeholder.raise_()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._placeholder is not None and not self._placeholder.isHidden():
            self._place()

    def set_title(self, text: str) -> None:
        self.title.setText(text)

    def set_legend(self, entries: list[tuple[str, str, str]]) -> None:
        """A legend strip under the title: ``(label, colour, mark)`` with ``mark`` one of
        ``line``, ``dash``, ``dot``, ``square``, ``box``, ``x``."""
        parts = [f'<span style="color:{_css(colour)}; font-weight:bold;">'
                 f'{MARKS.get(mark, MARKS["line"])}</span>&nbsp;{label.replace(" ", "&nbsp;")}'
                 for label, colour, mark in entries]
        self.legend_label.setText("&nbsp;&nbsp;&nbsp; ".join(parts))
        self.legend_label.setVisible(bool(entries))

    def clear(self) -> None:
        """Forget the run's data (curves stay, emptied)."""

    def has_data(self) -> bool:
        return False


INDEX_LABELS = ("timestep", "step", "class", "unit", "label")


def make_plot(x_label: str, y_label: str, right: bool = False) -> pg.PlotWidget:
    """A styled plot; index axes (timestep, step, class, ...) get whole-number ticks."""
    w = pg.PlotWidget(axisItems=axes(x_label in INDEX_LABELS, y_label in INDEX_LABELS, right))
    style_plot(w.getPlotItem(), x_label, y_label)
    w.setMinimumHeight(90)
    return w


def on_hover(plot: pg.PlotWidget, callback) -> None:
    """Call ``callback(x, y)`` in data coordinates while the mouse is over the plot area,
    ``callback(None, None)`` when it leaves."""
    vb = plot.getPlotItem().vb

    def moved(pos):
        if vb.sceneBoundingRect().contains(pos):
            p = vb.mapSceneToView(pos)
            callback(p.x(), p.y())
        else:
            callback(None, None)

    plot.scene().sigMouseMoved.connect(moved)


def nearest_index(xs: np.ndarray, x: float) -> int | None:
    """Index of the value in sorted ``xs`` nearest to ``x``."""
    if xs.size == 0:
        return None
    i = int(np.searchsorted(xs, x))
    if i >= xs.size:
        return xs.size - 1
    if i > 0 and abs(xs[i - 1] - x) < abs(xs[i] - x):
        return i - 1
    return i


def fmt(v: float) -> str:
    if not np.isfinite(v):
        return str(v)
    a = abs(v)
    if a != 0 and (a < 1e-3 or a >= 1e4):
        return f"{v:.3g}"
    return f"{v:.4g}"
