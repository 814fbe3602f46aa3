"""The task's own view of the probe sample: series, labels, classes or coloured text."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QLabel, QSplitter, QStackedWidget, QTextBrowser, QVBoxLayout, QWidget

from ...engine.task import VIEWS
from ..style import SERIES, color_for, diverging_rgb, pen, symmetric_limit
from .base import Panel, fmt, make_plot, on_hover


def view_kind(task, spec) -> str:
    """The task's declared view, or the one its output kind suggests."""
    declared = getattr(task, "view", None)
    if declared in VIEWS:
        return declared
    if spec.kind == "regression":
        return "series"
    if spec.kind == "labelling":
        return "labels"
    return "text" if spec.vocab else "classes"


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def class_names(spec, count: int) -> list[str]:
    names = list(spec.class_names or ())
    return names if len(names) == count else [str(i) for i in range(count)]


def token_text(spec, ids) -> list[str]:
    vocab = spec.vocab or ()
    return [vocab[int(i)] if 0 <= int(i) < len(vocab) else "?" for i in ids]


class SeriesView(QWidget):
    """Inputs over time; target and prediction (one step ahead or per step)."""

    def __init__(self):
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.plot = make_plot("timestep", "value")
        self.item = self.plot.getPlotItem()
        lay.addWidget(self.plot)
        self.inputs: list[pg.PlotDataItem] = []
        self.target = self.item.plot(pen=pen(SERIES["truth"], 2), symbol="x", symbolSize=11,
                                     symbolPen=pen(SERIES["truth"], 2))
        self.pred = self.item.plot(pen=pen(SERIES["prediction"], 2), symbol="o", symbolSize=8,
                                   symbolBrush=SERIES["prediction"], symbolPen=None)
        self.text = ""
        self.legend: list = []

    def _ensure_inputs(self, n: int) -> None:
        n = min(n, 4)
        while len(self.inputs) < n:
            k = len(self.inputs)
            col = SERIES["input"] if n == 1 else color_for(k + 4)
            name = "input" if n == 1 else f"input {k}"
            self.inputs.append(self.item.plot(pen=pen(col, 1.5)))
            self.legend.insert(k, (name, col, "line"))

    def show(self, snap, spec) -> None:
        x = np.asarray(snap.x, dtype=np.float64)
        x = x.reshape(x.shape[0], -1) if x.ndim > 1 else x[:, None]
        n = snap.length
        t = np.arange(n, dtype=np.float64)
        self._ensure_inputs(x.shape[1])
        for k, c in enumerate(self.inputs):
            c.setData(t, x[:n, k]) if k < x.shape[1] else c.setData([], [])
        y, p = np.asarray(snap.y, dtype=np.float64), np.asarray(snap.pred, dtype=np.float64)
        if spec.per_step:
            self.target.setSymbol(None)
            self.pred.setSymbol(None)
            self.target.setData(t, y.reshape(y.shape[0], -1)[:n, 0])
            self.pred.setData(t, p.reshape(p.shape[0], -1)[:n, 0])
            err = float(np.mean((y[:n] - p[:n]) ** 2))
            self.text = f"probe MSE {fmt(err)}"
            marks = [("target", SERIES["truth"], "line"),
                     ("prediction", SERIES["prediction"], "line")]
        else:
            at = np.full(y.size, float(n))
            self.target.setSymbol("x")
            self.pred.setSymbol("o")
            self.target.setData(at, y.ravel(), pen=None)
            self.pred.setData(at, p.ravel(), pen=None)
            self.text = f"at t={n}: target {fmt(y.ravel()[0])}, predicted {fmt(p.ravel()[0])}"
            marks = [(f"target at t={n}", SERIES["truth"], "x"),
                     (f"prediction at t={n}", SERIES["prediction"], "dot")]
        self.legend = self.legend[: len(self.inputs)] + marks

    def has_data(self) -> bool:
        return self.pred.xData is not None and len(self.pred.xData) > 0

    def clear(self) -> None:
        for c in (*self.inputs, self.target, self.pred):
            c.setData([], [])
        self.text = ""


class LabelsView(QWidget):
    """True label (open square) and predicted label (dot) at every timestep."""

    def __init__(self):
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.plot = make_plot("timestep", "label")
        self.item = self.plot.getPlotItem()
        lay.addWidget(self.plot)
        self.truth = self.item.plot(pen=None, symbol="s", symbolSize=12, symbolBrush=None,
                                    symbolPen=pen(SERIES["truth"], 1.5))
        self.pred = self.item.plot(pen=None, symbol="o", symbolSize=6,
                                   symbolBrush=SERIES["prediction"], symbolPen=None)
        self.text = ""
        self.legend = [("true label", SERIES["truth"], "box"),
                       ("predicted label", SERIES["prediction"], "dot")]
        self._classes: list[str] = []

    def show(self, snap, spec) -> None:
        n = snap.length
        logits = np.asarray(snap.pred)
        y = np.asarray(snap.y).reshape(-1)[:n]
        labels = logits[:n].argmax(axis=-1)
        valid = y != spec.ignore_index
        t = np.arange(n, dtype=np.float64)
        self.truth.setData(t[valid], y[valid].astype(np.float64))
        self.pred.setData(t, labels.astype(np.float64))
        names = class_names(spec, logits.shape[-1])
        if names != self._classes:
            self._classes = names
            self.item.getAxis("left").setTicks([list(enumerate(names))])
            self.item.setYRange(-0.5, len(names) - 0.5)
        if spec.vocab and n <= 40:
            ids = np.asarray(snap.x).reshape(-1)[:n]
            self.item.getAxis("bottom").setTicks([list(enumerate(token_text(spec, ids)))])
        else:
            self.item.getAxis("bottom").setTicks(None)
        acc = float((labels[valid] == y[valid]).mean()) if valid.any() else float("nan")
        self.text = f"probe accuracy {acc:.0%}"

    def has_data(self) -> bool:
        return self.pred.xData is not None and len(self.pred.xData) > 0

    def clear(self) -> None:
        self.truth.setData([], [])
        self.pred.setData([], [])
        self.text = ""


class ClassesView(QWidget):
    """Predicted class probabilities; the true class's bar is dark."""

    def __init__(self):
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.plot = make_plot("class", "probability")
        self.item = self.plot.getPlotItem()
        self.item.setYRange(0, 1.02, padding=0)
        self.item.setMouseEnabled(x=False, y=False)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.item.addItem(self.bars)
        lay.addWidget(self.plot)
        self.text = ""
        self.legend = [("true class", SERIES["truth"], "square"),
                       ("other classes", SERIES["prediction"], "square")]
        self.probs = np.zeros(0)
        self._classes: list[str] = []

    def show(self, snap, spec) -> None:
        self.probs = softmax(np.asarray(snap.pred).reshape(-1))
        true = int(np.asarray(snap.y).reshape(-1)[0])
        names = class_names(spec, self.probs.size)
        brushes = [pg.mkBrush(SERIES["truth"] if i == true else SERIES["prediction"])
                   for i in range(self.probs.size)]
        self.bars.setOpts(x=np.arange(self.probs.size), height=self.probs, brushes=brushes,
                          pens=[pg.mkPen(None)] * self.probs.size)
        if names != self._classes:
            self._classes = names
            self.item.getAxis("bottom").setTicks([list(enumerate(names))])
            self.item.setXRange(-0.6, self.probs.size - 0.4, padding=0)
        guess = int(self.probs.argmax())
        tn = names[true] if 0 <= true < len(names) else str(true)
        self.text = f"true {tn} (dark) · predicted {names[guess]} (p = {self.probs[guess]:.2f})"

    def has_data(self) -> bool:
        return self.probs.size > 0

    def clear(self) -> None:
        self.probs = np.zeros(0)
        self.bars.setOpts(x=[], height=[])
        self.text = ""


class TextView(QWidget):
    """Tokens coloured by the followed unit's activation, above the class probabilities."""

    def __init__(self):
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        split = QSplitter()
        split.setOrientation(pg.QtCore.Qt.Orientation.Vertical)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(2, 0, 2, 0)
        self.caption = QLabel("")
        self.caption.setStyleSheet("color: #555; font-size: 8pt;")
        tl.addWidget(self.caption)
        self.browser = QTextBrowser()
        self.browser.setStyleSheet("QTextBrowser { border: none; font-size: 13pt; }")
        tl.addWidget(self.browser)
        split.addWidget(top)
        self.classes = ClassesView()
        split.addWidget(self.classes)
        split.setSizes([150, 100])
        lay.addWidget(split)
        self.text = ""
        self.html = ""
        self.legend: list = []

    def show(self, snap, spec, layer: dict | None, unit: int, layer_name: str) -> None:
        n = snap.length
        ids = np.asarray(snap.x).reshape(-1)[:n]
        tokens = token_text(spec, ids)
        char_level = all(len(t) <= 1 for t in (spec.vocab or ())
                         if not (t.startswith("<") and t.endswith(">")))
        h = None if layer is None else np.asarray(layer["h"], dtype=np.float64)
        values = h[:n, unit] if h is not None and unit < h.shape[1] else np.zeros(n)
        limit = symmetric_limit(values)
        spans = []
        for tok, v in zip(tokens, values):
            col = diverging_rgb(v, limit)
            fg = "#ffffff" if abs(v) > 0.6 * limit else "#111111"
            text = html.escape(tok).replace(" ", "&nbsp;")
            spans.append(f'<span style="background:{col.name()}; color:{fg};" '
                         f'title="{fmt(v)}">{text}</span>')
        sep = "" if char_level else " "
        self.html = ('<div style="font-family: monospace; line-height: 150%;">'
                     + sep.join(spans) + "</div>")
        self.browser.setHtml(self.html)
        self.caption.setText(f"colour: unit {unit} of {layer_name}, "
                             f"blue -{fmt(limit)} · white 0 · red +{fmt(limit)}")
        if spec.kind == "classification":
            self.classes.setVisible(True)
            self.classes.show(snap, spec)
            self.text = self.classes.text
            self.legend = self.classes.legend
        else:
            self.classes.setVisible(False)
            self.text = ""

    def has_data(self) -> bool:
        return bool(self.html)

    def clear(self) -> None:
        self.html = self.text = ""
        self.browser.clear()
        self.caption.setText("")
        self.classes.clear()


class TaskPanel(Panel):
    """Switches between the four views; a caption reads the probe's outcome."""

    def __init__(self, parent=None):
        super().__init__("Task view", parent)
        self.stack = QStackedWidget()
        self.views = {"series": SeriesView(), "labels": LabelsView(),
                      "classes": ClassesView(), "text": TextView()}
        for v in self.views.values():
            self.stack.addWidget(v)
        self.body.addWidget(self.stack)
        self.kind = "series"
        self.spec = None
        self.task_name = ""
        for kind in ("series", "labels", "classes"):
            on_hover(self.views[kind].plot, lambda x, y, k=kind: self._hover(k, x, y))

    def configure(self, kind: str, spec, task_name: str) -> None:
        self.kind = kind if kind in self.views else "series"
        self.spec = spec
        self.task_name = task_name
        self.stack.setCurrentWidget(self.views[self.kind])
        what = {"series": "prediction vs target", "labels": "labels per timestep",
                "classes": "class probabilities", "text": "input coloured by a unit"}
        self.set_title(f"{task_name}: {what[self.kind]}")

    def show(self, snap, layer: dict | None, unit: int, layer_name: str) -> None:
        if self.spec is None:
            return
        view = self.views[self.kind]
        if self.kind == "text":
            view.show(snap, self.spec, layer, unit, layer_name)
        else:
            view.show(snap, self.spec)
        self.set_legend(view.legend)
        if view.text:
            self.legend_label.setText(self.legend_label.text() + "<br>" + html.escape(view.text))

    def has_data(self) -> bool:
        return self.views[self.kind].has_data()

    def clear(self) -> None:
        self.readout.setText("")
        self.set_legend([])
        for v in self.views.values():
            v.clear()

    def _hover(self, kind, x, y) -> None:
        if x is None or kind != self.kind:
            self.readout.setText("")
            return
        if kind == "series":
            self.readout.setText(f"timestep {fmt(x)}, value {fmt(y)}")
        elif kind == "classes":
            v = self.views["classes"]
            i = round(x)
            if 0 <= i < v.probs.size:
                self.readout.setText(f"class {v._classes[i]}: p = {v.probs[i]:.3f}")
