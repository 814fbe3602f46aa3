"""||dL/dh_t|| over timesteps for each layer and direction (log scale)."""

from __future__ import annotations

import numpy as np

from ..style import color_for, pen
from .base import Panel, fmt, make_plot, on_hover
from .hidden import layer_names


class GradientPanel(Panel):
    """Vanishing gradients fall to the left (early timesteps); exploding ones shoot up."""

    def __init__(self, parent=None):
        super().__init__("Gradient ‖dL/dhₜ‖ through time", parent)
        self.plot = make_plot("timestep", "‖dL/dhₜ‖ (log)")
        self.item = self.plot.getPlotItem()
        self.item.setLogMode(x=False, y=True)
        self.body.addWidget(self.plot)
        on_hover(self.plot, self._hover)
        self.curves = []
        self.names: list[str] = []
        self.values: list[np.ndarray] = []

    def set_layers(self, num_layers: int, dirs: int) -> None:
        names = layer_names(num_layers, dirs)
        if names == self.names:
            return
        for c in self.curves:
            self.item.removeItem(c)
        self.names = names
        self.curves = [self.item.plot(pen=pen(color_for(i), 2), connect="finite")
                       for i in range(len(names))]
        self.set_legend([(n, color_for(i), "line") for i, n in enumerate(names)]
                        if len(names) > 1 else [])

    def show(self, layers: list[dict[str, np.ndarray]], length: int) -> None:
        self.values = []
        t = np.arange(length, dtype=np.float64)
        for curve, layer in zip(self.curves, layers):
            g = np.asarray(layer.get("grad_h_norm", np.zeros(0)), dtype=np.float64)[:length]
            g = np.where(g > 0, g, np.nan)  # zero (no gradient) cannot be shown on a log axis
            self.values.append(g)
            curve.setData(t[: g.size], g)

    def clear(self) -> None:
        self.values = []
        for c in self.curves:
            c.setData([], [])

    def has_data(self) -> bool:
        return any(np.isfinite(v).any() for v in self.values)

    def _hover(self, x, _y) -> None:
        if x is None or not self.values:
            self.readout.setText("")
            return
        t = round(x)
        parts = [(n, v[t]) for n, v in zip(self.names, self.values) if 0 <= t < v.size]
        if len(parts) == 1:
            self.readout.setText(f"timestep {t}: ‖dL/dhₜ‖ = {fmt(parts[0][1])}")
        elif parts:
            self.readout.setText(f"timestep {t}: " + "  ".join(f"{n} {fmt(v)}"
                                                              for n, v in parts))
