"""Train and validation loss over steps, with the task's metric on a right-hand axis."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QCheckBox

from ..style import LABEL_STYLE, SERIES, pen, tick_font
from .base import Growing, Panel, fmt, make_plot, nearest_index, on_hover

EMA = 0.1  # smoothing of log(loss): a time constant of about ten steps


class LossPanel(Panel):
    """Per-step train loss (raw and smoothed), validation loss per evaluation, metric."""

    placeholder_text = "Loss curves appear here as training runs: press Start (F5)"

    def __init__(self, parent=None):
        super().__init__("Loss & metric", parent)
        self.log_box = QCheckBox("log scale")
        self.log_box.setChecked(True)
        self.log_box.setToolTip("Logarithmic loss axis (L)")
        self.log_box.toggled.connect(self.set_log)
        self.controls.addWidget(self.log_box)

        self.plot = make_plot("step", "loss", right=True)
        item = self.plot.getPlotItem()
        self.raw = item.plot(pen=pen(SERIES["train_raw"], 1))
        self.smooth = item.plot(pen=pen(SERIES["train"], 2))
        self.val = item.plot(pen=pen(SERIES["val"], 2), symbol="o", symbolSize=5,
                             symbolBrush=SERIES["val"], symbolPen=None)
        for c in (self.raw, self.smooth):
            c.setDownsampling(auto=True, method="peak")
            c.setClipToView(True)
            c.opts["connect"] = "finite"

        # the metric lives in its own view box, bound to the right axis
        self.metric_box = pg.ViewBox()
        item.showAxis("right")
        right = item.getAxis("right")
        right.enableAutoSIPrefix(False)
        right.setStyle(tickFont=tick_font(), tickTextOffset=3)
        right.setLabel("metric", **{**LABEL_STYLE, "color": SERIES["metric"]})
        item.scene().addItem(self.metric_box)
        right.linkToView(self.metric_box)
        self.metric_box.setXLink(item)
        self.metric = pg.PlotDataItem(pen=pen(SERIES["metric"], 2), symbol="s", symbolSize=4,
                                      symbolBrush=SERIES["metric"], symbolPen=None)
        self.metric_box.addItem(self.metric)
        item.vb.sigResized.connect(self._sync_boxes)
        self.body.addWidget(self.plot)
        on_hover(self.plot, self._hover)

        self.steps, self.losses, self.ema = Growing(), Growing(), Growing()
        self._log_avg, self._weight = 0.0, 0.0
        self.eval_steps, self.val_losses, self.metric_values = Growing(), Growing(), Growing()
        self.metric_name: str | None = None
        self._dirty = False
        self.set_log(True)
        self._show_metric_axis()

    def _sync_boxes(self) -> None:
        item = self.plot.getPlotItem()
        self.metric_box.setGeometry(item.vb.sceneBoundingRect())
        self.metric_box.linkedViewChanged(item.vb, self.metric_box.XAxis)

    # data --------------------------------------------------------------------------------
    def add_step(self, step: int, loss: float) -> None:
        self.steps.append(step)
        self.losses.append(loss)
        if math.isfinite(loss) and loss > 0:
            # bias-corrected moving average of log(loss): no lag from a high first value
            self._log_avg = (1 - EMA) * self._log_avg + EMA * math.log(loss)
            self._weight = (1 - EMA) * self._weight + EMA
            self.ema.append(math.exp(self._log_avg / self._weight))
        else:
            self.ema.append(loss)
        self._dirty = True

    def add_evaluation(self, step: int, val_loss: float, metrics: dict[str, float]) -> None:
        if self.metric_name is None and metrics:
            self.metric_name = next(iter(metrics))
            self.plot.getPlotItem().getAxis("right").setLabel(
                self.metric_name, **{**LABEL_STYLE, "color": SERIES["metric"]})
            self.set_log(self.log_box.isChecked())
        self.eval_steps.append(step)
        self.val_losses.append(val_loss)
        value = metrics.get(self.metric_name, math.nan) if self.metric_name else math.nan
        self.metric_values.append(value)
        self._dirty = True

    def refresh(self) -> None:
        """Push buffered data to the curves (called at the UI's refresh rate)."""
        if not self._dirty:
            return
        self._dirty = False
        s = self.steps.values
        self.raw.setData(s, _positive(self.losses.values, self._log))
        self.smooth.setData(s, _positive(self.ema.values, self._log))
        e = self.eval_steps.values
        self.val.setData(e, _positive(self.val_losses.values, self._log))
        self.metric.setData(e, _positive(self.metric_values.values, self._metric_log()))
        self.metric_box.enableAutoRange(axis=pg.ViewBox.YAxis)
        self._show_metric_axis()

    def metric_is_loss(self) -> bool:
        """True when the metric equals the validation loss (e.g. MSE on regression)."""
        v, m = self.val_losses.values, self.metric_values.values
        return v.size > 0 and bool(np.allclose(v, m, rtol=1e-6, atol=1e-12, equal_nan=True))

    def _show_metric_axis(self) -> None:
        same = self.metric_is_loss()
        separate = self.metric_name is not None and not same
        self.plot.getPlotItem().showAxis("right", separate)
        self.metric.setVisible(separate)
        val = "validation" + (f" (= {self.metric_name})" if same else "")
        entries = [("train, per batch", SERIES["train_raw"], "line"),
                   ("train, smoothed", SERIES["train"], "line"), (val, SERIES["val"], "dot")]
        if separate:
            entries.append((f"{self.metric_name} (right axis)", SERIES["metric"], "square"))
        self.set_legend(entries)

    def clear(self) -> None:
        for g in (self.steps, self.losses, self.ema, self.eval_steps, self.val_losses,
                  self.metric_values):
            g.clear()
        self._log_avg, self._weight = 0.0, 0.0
        for c in (self.raw, self.smooth, self.val, self.metric):
            c.setData([], [])
        self._dirty = False

    def has_data(self) -> bool:
        return len(self.steps) > 0

    # view --------------------------------------------------------------------------------
    @property
    def _log(self) -> bool:
        return self.log_box.isChecked()

    def _metric_log(self) -> bool:
        return self._log and not (self.metric_name or "").endswith("accuracy")

    def set_log(self, on: bool) -> None:
        if self.log_box.isChecked() != on:
            self.log_box.setChecked(on)  # re-enters through the toggled signal
            return
        item = self.plot.getPlotItem()
        item.setLogMode(x=False, y=on)
        metric_log = self._metric_log()
        self.metric.setLogMode(False, metric_log)
        item.getAxis("right").setLogMode(False, metric_log)
        self._dirty = True
        self.refresh()
        item.enableAutoRange()

    def _hover(self, x, _y) -> None:
        if x is None:
            self.readout.setText("")
            return
        parts = []
        i = nearest_index(self.steps.values, x)
        if i is not None:
            parts.append(f"step {int(self.steps.values[i])}: train {fmt(self.ema.values[i])}")
        j = nearest_index(self.eval_steps.values, x)
        if j is not None:
            parts.append(f"val {fmt(self.val_losses.values[j])} @ {int(self.eval_steps.values[j])}")
            if self.metric_name:
                parts.append(f"{self.metric_name} {fmt(self.metric_values.values[j])}")
        self.readout.setText("  ".join(parts))


def _positive(values: np.ndarray, log: bool) -> np.ndarray:
    """Values with non-positive entries hidden (NaN) on a log axis."""
    if not log:
        return values
    out = values.copy()
    out[~(out > 0)] = np.nan
    return out

