"""Gate activations of the followed unit over time (LSTM i f g o, GRU r z n, plugin gates)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QStackedWidget

from ..style import GATE_NAMES, LABEL_STYLE, gate_color, pen
from .base import Panel, fmt, make_plot, on_hover


class GatesPanel(Panel):
    """One curve per gate, created when the cell's gate names are known."""

    def __init__(self, parent=None):
        super().__init__("Gates of unit 0", parent)
        self.plot = make_plot("timestep", "activation")
        self.none = QLabel("")
        self.none.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.none.setWordWrap(True)
        self.none.setStyleSheet("color: #666; background: white;")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.plot)
        self.stack.addWidget(self.none)
        self.item = self.plot.getPlotItem()
        self.item.addItem(pg.InfiniteLine(0, angle=0, pen=pen("#bbbbbb", 1)))
        self.body.addWidget(self.stack)
        on_hover(self.plot, self._hover)
        self.curves: list[pg.PlotDataItem] = []
        self.gates: tuple[str, ...] = ()
        self.data: np.ndarray | None = None  # (T, G) of the followed unit
        self.unit = 0

    def set_gates(self, gates: tuple[str, ...], cell: str) -> None:
        """Create the curves for ``gates`` (kept while the cell stays the same)."""
        if tuple(gates) != self.gates:
            for c in self.curves:
                self.item.removeItem(c)
            self.gates = tuple(gates)
            self.curves = []
            entries = []
            for j, g in enumerate(self.gates):
                label = f"{g} {GATE_NAMES[g]}" if g in GATE_NAMES else g
                self.curves.append(self.item.plot(pen=pen(gate_color(g, j), 2)))
                entries.append((label, gate_color(g, j), "line"))
            self.set_legend(entries)
        self.none.setText(f"The {cell} cell has no gates: its hidden state alone carries "
                          "the memory (see the unit's trace and the gradient through time).")
        self.stack.setCurrentWidget(self.plot if gates else self.none)

    def show(self, layer: dict[str, np.ndarray], length: int, unit: int) -> None:
        self.unit = unit
        self.set_title(f"Gates of unit {unit}")
        gates = layer.get("gates")
        if gates is None or not self.curves or unit >= gates.shape[2]:
            self.data = None
            for c in self.curves:
                c.setData([], [])
            return
        self.data = np.asarray(gates[:length, :, unit], dtype=np.float64)
        t = np.arange(length, dtype=np.float64)
        for j, c in enumerate(self.curves):
            c.setData(t, self.data[:, j])
        lo, hi = float(np.nanmin(self.data)), float(np.nanmax(self.data))
        if lo >= -1.0 and hi <= 1.0:  # sigmoid/tanh gates: a fixed, comparable scale
            self.item.setYRange(-1.1 if lo < 0 else -0.1, 1.1, padding=0)
        else:
            self.item.enableAutoRange(axis="y")
        self.item.getAxis("left").setLabel("activation", **LABEL_STYLE)

    def clear(self) -> None:
        self.data = None
        for c in self.curves:
            c.setData([], [])

    def has_data(self) -> bool:
        return self.data is not None or self.stack.currentWidget() is self.none

    def _hover(self, x, _y) -> None:
        if x is None or self.data is None:
            self.readout.setText("")
            return
        t = round(x)
        if 0 <= t < self.data.shape[0]:
            vals = "  ".join(f"{g}={fmt(v)}" for g, v in zip(self.gates, self.data[t]))
            self.readout.setText(f"timestep {t}: {vals}")
