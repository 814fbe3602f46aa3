"""Weight norms (solid) and gradient norms (dashed) over training, per parameter or layer."""

from __future__ import annotations

import re

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QComboBox

from ..style import color_for, pen
from .base import Growing, Panel, fmt, make_plot, nearest_index, on_hover

MODES = ("per parameter", "per layer")
MANY = 8  # more parameters than this: start grouped by layer


def short_name(name: str) -> str:
    return name.removeprefix("rnn.")


def layer_of(name: str) -> str:
    """``rnn.weight_hh_l1_reverse`` -> ``rnn layer 1 ←``; ``head.weight`` -> ``head``."""
    m = re.match(r"rnn\.\w+?_l(\d+)(_reverse)?$", name)
    if m:
        return f"rnn layer {m.group(1)}" + (" ←" if m.group(2) else "")
    return name.split(".")[0]


class NormsPanel(Panel):
    """One colour per parameter (or layer); ``‖W‖`` solid, ``‖∇W‖`` dashed, log axis.
    A layer's norm is the L2 norm over all its parameters."""

    def __init__(self, parent=None):
        super().__init__("Norms: ‖W‖ solid, ‖∇W‖ dashed", parent)
        self.mode_box = QComboBox()
        self.mode_box.addItems(MODES)
        self.mode_box.setToolTip("One curve per parameter, or per layer")
        self.mode_box.currentIndexChanged.connect(self._mode_changed)
        self.controls.addWidget(self.mode_box)
        self.plot = make_plot("step", "L2 norm (log)")
        self.item = self.plot.getPlotItem()
        self.item.setLogMode(x=False, y=True)
        self.body.addWidget(self.plot)
        on_hover(self.plot, self._hover)
        self.params: list[str] = []
        self.steps = Growing()
        self.weights: dict[str, Growing] = {}
        self.grads: dict[str, Growing] = {}
        self.names: list[str] = []           # the curves' names in the current mode
        self.w_curves: dict[str, object] = {}
        self.g_curves: dict[str, object] = {}
        self._auto_mode = True
        self._dirty = False

    @property
    def grouped(self) -> bool:
        return self.mode_box.currentIndex() == 1

    def _ensure(self, params: list[str]) -> None:
        if params == self.params:
            return
        self.params = params
        self.steps.clear()
        self.weights = {n: Growing() for n in params}
        self.grads = {n: Growing() for n in params}
        if self._auto_mode:
            self.mode_box.blockSignals(True)
            self.mode_box.setCurrentIndex(1 if len(params) > MANY else 0)
            self.mode_box.blockSignals(False)
        self._make_curves()

    def _mode_changed(self, _index: int) -> None:
        self._auto_mode = False
        self._make_curves()
        self._dirty = True
        self.refresh()

    def _make_curves(self) -> None:
        for c in (*self.w_curves.values(), *self.g_curves.values()):
            self.item.removeItem(c)
        if self.grouped:
            self.names = list(dict.fromkeys(layer_of(n) for n in self.params))
        else:
            self.names = list(self.params)
        self.w_curves, self.g_curves = {}, {}
        for i, n in enumerate(self.names):
            col = color_for(i)
            self.w_curves[n] = self.item.plot(pen=pen(col, 2))
            self.g_curves[n] = self.item.plot(pen=pen(col, 1, Qt.PenStyle.DashLine),
                                              connect="finite")
            for c in (self.w_curves[n], self.g_curves[n]):
                c.setDownsampling(auto=True, method="mean")
                c.setClipToView(True)
        self.set_legend([(n if self.grouped else short_name(n), color_for(i), "line")
                         for i, n in enumerate(self.names)])

    def add(self, step: int, param_norms: dict[str, float], grad_norms: dict[str, float]
            ) -> None:
        self._ensure(list(param_norms))
        self.steps.append(step)
        for n in self.params:
            self.weights[n].append(param_norms.get(n, np.nan))
            self.grads[n].append(grad_norms.get(n, np.nan))
        self._dirty = True

    def series(self, name: str, grads: bool) -> np.ndarray:
        """The norm history of curve ``name`` (a parameter or a layer)."""
        store = self.grads if grads else self.weights
        if not self.grouped:
            return store[name].values
        members = [store[p].values for p in self.params if layer_of(p) == name]
        return np.sqrt(np.sum(np.square(members), axis=0))

    def refresh(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        s = self.steps.values
        for n in self.names:
            w, g = self.series(n, False), self.series(n, True)
            self.w_curves[n].setData(s, np.where(w > 0, w, np.nan))
            self.g_curves[n].setData(s, np.where(g > 0, g, np.nan))

    def clear(self) -> None:
        self.steps.clear()
        for d in (self.weights, self.grads):
            for g in d.values():
                g.clear()
        for c in (*self.w_curves.values(), *self.g_curves.values()):
            c.setData([], [])
        self._dirty = False

    def has_data(self) -> bool:
        return len(self.steps) > 0

    def _hover(self, x, y) -> None:
        if x is None or not self.names:
            self.readout.setText("")
            return
        i = nearest_index(self.steps.values, x)
        if i is None:
            return
        best, best_d = None, np.inf
        for n in self.names:  # the curve nearest the cursor, compared on the log axis
            for kind, grads in (("‖W‖", False), ("‖∇W‖", True)):
                v = self.series(n, grads)[i]
                if v > 0 and abs(np.log10(v) - y) < best_d:
                    best, best_d = (n, kind, v), abs(np.log10(v) - y)
        if best is not None:
            n, kind, v = best
            label = n if self.grouped else short_name(n)
            self.readout.setText(f"step {int(self.steps.values[i])}: {kind} {label} = {fmt(v)}")
