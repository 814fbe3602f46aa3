"""Per-parameter weight norms (solid) and gradient norms (dashed) over training."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt

from ..style import color_for, pen
from .base import Growing, Panel, fmt, make_plot, nearest_index, on_hover


def short_name(name: str) -> str:
    return name.removeprefix("rnn.")


class NormsPanel(Panel):
    """One colour per parameter; ``‖W‖`` solid, ``‖∇W‖`` dashed, on a log axis."""

    def __init__(self, parent=None):
        super().__init__("Parameter norms: ‖W‖ solid, ‖∇W‖ dashed", parent)
        self.plot = make_plot("step", "L2 norm (log)")
        self.item = self.plot.getPlotItem()
        self.item.setLogMode(x=False, y=True)
        self.body.addWidget(self.plot)
        on_hover(self.plot, self._hover)
        self.names: list[str] = []
        self.steps = Growing()
        self.weights: dict[str, Growing] = {}
        self.grads: dict[str, Growing] = {}
        self.w_curves: dict[str, object] = {}
        self.g_curves: dict[str, object] = {}
        self._dirty = False

    def _ensure(self, names: list[str]) -> None:
        if names == self.names:
            return
        for c in (*self.w_curves.values(), *self.g_curves.values()):
            self.item.removeItem(c)
        self.names = names
        self.steps.clear()
        self.weights = {n: Growing() for n in names}
        self.grads = {n: Growing() for n in names}
        self.w_curves, self.g_curves = {}, {}
        for i, n in enumerate(names):
            col = color_for(i)
            self.w_curves[n] = self.item.plot(pen=pen(col, 2))
            self.g_curves[n] = self.item.plot(pen=pen(col, 1, Qt.PenStyle.DashLine),
                                              connect="finite")
            for c in (self.w_curves[n], self.g_curves[n]):
                c.setDownsampling(auto=True, method="mean")
                c.setClipToView(True)
        self.set_legend([(short_name(n), color_for(i), "line") for i, n in enumerate(names)])

    def add(self, step: int, param_norms: dict[str, float], grad_norms: dict[str, float]
            ) -> None:
        self._ensure(list(param_norms))
        self.steps.append(step)
        for n in self.names:
            self.weights[n].append(param_norms.get(n, np.nan))
            self.grads[n].append(grad_norms.get(n, np.nan))
        self._dirty = True

    def refresh(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        s = self.steps.values
        for n in self.names:
            w, g = self.weights[n].values, self.grads[n].values
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
        # the curve nearest the cursor (compared on the log axis)
        target = 10 ** y
        best, best_d = None, np.inf
        for n in self.names:
            for kind, store in (("‖W‖", self.weights), ("‖∇W‖", self.grads)):
                v = store[n].values[i]
                if v > 0 and abs(np.log10(v) - np.log10(target)) < best_d:
                    best, best_d = (n, kind, v), abs(np.log10(v) - np.log10(target))
        if best is not None:
            n, kind, v = best
            self.readout.setText(f"step {int(self.steps.values[i])}: {kind} "
                                 f"{short_name(n)} = {fmt(v)}")
