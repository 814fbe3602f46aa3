"""Hidden-state heatmap (units x timesteps) of the probe sample, and one unit's trace."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, pyqtSignal
from PyQt6.QtWidgets import QComboBox, QGraphicsRectItem

from ..axes import axes
from ..style import DIVERGING, LABEL_STYLE, SERIES, pen, style_plot, symmetric_limit, tick_font
from .base import Panel, fmt

AXIS_WIDTH = 44


def layer_names(num_layers: int, dirs: int) -> list[str]:
    arrows = ("→", "←")
    return [f"layer {k} {arrows[d]}" if dirs == 2 else f"layer {k}"
            for k in range(num_layers) for d in range(dirs)]


class HiddenPanel(Panel):
    """Click a row to follow that unit; hover reads ``h`` at (timestep, unit)."""

    selection_changed = pyqtSignal(int, int)  # layer index, unit
    placeholder_text = ("The hidden state of a probe sequence appears here at each snapshot; "
                        "click a row to follow a unit")

    def __init__(self, parent=None):
        super().__init__("Hidden state h of the probe sample", parent)
        self.layer_box = QComboBox()
        self.layer_box.setToolTip("Layer and direction")
        self.layer_box.addItem("layer 0")
        self.layer_box.currentIndexChanged.connect(self._layer_changed)
        self.controls.addWidget(self.layer_box)

        self.view = pg.GraphicsLayoutWidget()
        self.view.ci.layout.setContentsMargins(0, 0, 0, 0)
        self.view.ci.layout.setVerticalSpacing(2)
        self.heat = self.view.addPlot(row=0, col=0, axisItems=axes(True, True))
        style_plot(self.heat, "", "unit")
        self.heat.getAxis("bottom").setStyle(showValues=False)
        self.heat.getAxis("bottom").setHeight(6)
        self.heat.invertY(True)
        self.heat.showGrid(x=False, y=False)
        self.image = pg.ImageItem()
        self.image.setColorMap(DIVERGING)
        self.heat.addItem(self.image)
        self.cbar = pg.ColorBarItem(values=(-1.0, 1.0), colorMap=DIVERGING, interactive=False,
                                    width=10)
        self.cbar.setImageItem(self.image)
        self.cbar.axis.setStyle(tickFont=tick_font())
        self.cbar.axis.setLabel("h", **LABEL_STYLE)
        self.view.addItem(self.cbar, row=0, col=1)
        self.marker = QGraphicsRectItem()
        self.marker.setPen(pen("#000000", 1.5))
        self.marker.setZValue(10)
        self.marker.setVisible(False)
        self.heat.addItem(self.marker)

        self.trace = self.view.addPlot(row=1, col=0, axisItems=axes(True, False))
        style_plot(self.trace, "timestep", "unit 0")
        self.trace.setXLink(self.heat)
        self.h_curve = self.trace.plot(pen=pen(SERIES["h"], 2))
        self.c_curve = self.trace.plot(pen=pen(SERIES["c"], 2))
        self.zero = pg.InfiniteLine(0, angle=0, pen=pen("#bbbbbb", 1))
        self.trace.addItem(self.zero)
        for p in (self.heat, self.trace):
            p.getAxis("left").setWidth(AXIS_WIDTH)
        self.view.ci.layout.setRowStretchFactor(0, 3)
        self.view.ci.layout.setRowStretchFactor(1, 2)
        self.body.addWidget(self.view)

        self.view.scene().sigMouseClicked.connect(self._clicked)
        on_hover_item(self.view, self.heat, self._hover_heat)
        on_hover_item(self.view, self.trace, self._hover_trace)

        self.layer = 0
        self.unit = 0
        self.h: np.ndarray | None = None      # (T, H) of the shown layer
        self.c: np.ndarray | None = None
        self.length = 0
        self.limit = 1.0

    # selection ---------------------------------------------------------------------------
    def set_layers(self, num_layers: int, dirs: int) -> None:
        names = layer_names(num_layers, dirs)
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        self.layer_box.addItems(names)
        self.layer_box.setCurrentIndex(min(self.layer, len(names) - 1))
        self.layer_box.blockSignals(False)
        self.layer = self.layer_box.currentIndex()

    def _layer_changed(self, index: int) -> None:
        if index >= 0:
            self.layer = index
            self.selection_changed.emit(self.layer, self.unit)

    def select_unit(self, unit: int) -> None:
        if self.h is not None:
            unit = int(np.clip(unit, 0, self.h.shape[1] - 1))
        self.unit = max(0, int(unit))
        self.selection_changed.emit(self.layer, self.unit)

    def _clicked(self, event) -> None:
        pos = event.scenePos()
        if self.h is None or not self.heat.vb.sceneBoundingRect().contains(pos):
            return
        p = self.heat.vb.mapSceneToView(pos)
        unit = round(p.y())
        if 0 <= unit < self.h.shape[1]:
            self.select_unit(unit)

    # data --------------------------------------------------------------------------------
    def show(self, layer: dict[str, np.ndarray], length: int) -> None:
        """Draw ``layer["h"]`` (T, H) and the selected unit's h and c over time."""
        h = np.asarray(layer["h"], dtype=np.float64)
        self.h, self.length = h, int(length)
        c = layer.get("c")
        self.c = np.asarray(c, dtype=np.float64) if c is not None else None
        T, H = h.shape
        # only the probe's valid timesteps: padding would read as zero activity
        T = max(1, min(T, self.length))
        self.limit = symmetric_limit(h[:T])
        self.image.setImage(np.ascontiguousarray(h[:T].T), autoLevels=False)
        self.image.setRect(QRectF(-0.5, -0.5, T, H))
        self.cbar.setLevels((-self.limit, self.limit))
        self.heat.setLimits(xMin=-0.5, xMax=T - 0.5, yMin=-0.5, yMax=H - 0.5)
        self.heat.setRange(xRange=(-0.5, T - 0.5), yRange=(-0.5, H - 0.5), padding=0)
        if self.unit >= H:
            self.unit = H - 1
        self._draw_unit()

    def _draw_unit(self) -> None:
        if self.h is None:
            return
        T = self.h.shape[0]
        k, n = self.unit, self.length
        t = np.arange(n, dtype=np.float64)
        self.marker.setRect(QRectF(-0.5, k - 0.5, T, 1.0))
        self.marker.setVisible(True)
        self.h_curve.setData(t, self.h[:n, k])
        has_c = self.c is not None and k < self.c.shape[1]
        self.c_curve.setData(t, self.c[:n, k]) if has_c else self.c_curve.setData([], [])
        self.c_curve.setVisible(has_c)
        entries = [(f"unit {k}: h", SERIES["h"], "line")]
        if has_c:
            entries.append((f"unit {k}: c (cell state)", SERIES["c"], "line"))
        self.set_legend(entries)
        self.legend_label.setText("click a row to follow a unit &nbsp;&nbsp; "
                                  + self.legend_label.text())
        self.trace.getAxis("left").setLabel(f"unit {k}", **LABEL_STYLE)

    def clear(self) -> None:
        self.h = self.c = None
        self.image.clear()
        self.marker.setVisible(False)
        self.h_curve.setData([], [])
        self.c_curve.setData([], [])
        self.readout.setText("")

    def has_data(self) -> bool:
        return self.h is not None and self.h_curve.xData is not None \
            and len(self.h_curve.xData) > 0

    # hover -------------------------------------------------------------------------------
    def _hover_heat(self, x, y) -> None:
        if x is None or self.h is None:
            self.readout.setText("")
            return
        t, k = round(x), round(y)
        if 0 <= t < self.h.shape[0] and 0 <= k < self.h.shape[1]:
            self.readout.setText(f"timestep {t}, unit {k}: h = {fmt(self.h[t, k])}")

    def _hover_trace(self, x, _y) -> None:
        if x is None or self.h is None:
            self.readout.setText("")
            return
        t = round(x)
        if 0 <= t < self.length:
            text = f"unit {self.unit}, timestep {t}: h = {fmt(self.h[t, self.unit])}"
            if self.c is not None and self.unit < self.c.shape[1]:
                text += f", c = {fmt(self.c[t, self.unit])}"
            self.readout.setText(text)


def on_hover_item(view: pg.GraphicsLayoutWidget, plot: pg.PlotItem, callback) -> None:
    """Like :func:`.base.on_hover` for a plot inside a graphics layout."""
    def moved(pos):
        if plot.vb.sceneBoundingRect().contains(pos):
            p = plot.vb.mapSceneToView(pos)
            callback(p.x(), p.y())

    view.scene().sigMouseMoved.connect(moved)

