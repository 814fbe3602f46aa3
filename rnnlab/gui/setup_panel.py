"""The Setup panel: task, cell, model and training settings, from declared parameters."""

from __future__ import annotations

import dataclasses

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ..engine import registry
from ..engine.task import TaskParam
from ..engine.train import OPTIMIZERS, TrainConfig
from .fields import Field

DEFAULT_TASK = "sine"
DEFAULT_CELL = "lstm"

MODEL_PARAMS = (
    (TaskParam("hidden_size", 32, int, 1, 1024, help="units per layer and direction"),
     "hidden size", False),
    (TaskParam("num_layers", 1, int, 1, 8, help="stacked recurrent layers"), "layers", False),
    (TaskParam("bidirectional", False, bool, help="a second direction reading backwards"),
     "bidirectional", False),
    (TaskParam("dropout", 0.0, float, 0.0, 0.95, help="dropout between layers"),
     "dropout", False),
    (TaskParam("embedding_dim", 16, int, 1, 1024, help="token embedding width (text tasks)"),
     "embedding dim", False),
    (TaskParam("init_scale", None, float, 1e-3, 100.0,
               help="multiplies the initial recurrent weights"), "init scale", True),
)
TRAIN_PARAMS = (
    (TaskParam("optimizer", "adam", str, choices=tuple(sorted(OPTIMIZERS))), "optimizer",
     False),
    (TaskParam("lr", 1e-2, float, 1e-7, 10.0, help="learning rate"), "learning rate", False),
    (TaskParam("batch_size", 32, int, 1, 8192, help="sequences per step"), "batch size",
     False),
    (TaskParam("epochs", 20, int, 1, 1_000_000), "epochs", False),
    (TaskParam("clip", 1.0, float, 1e-6, 1e6, help="maximum total gradient norm"),
     "clip grad norm", True),
    (TaskParam("seed", 0, int, 0, 2**31 - 1, help="data, initialisation and shuffling"),
     "seed", False),
    (TaskParam("snapshot_every", 10, int, 1, 1_000_000,
               help="steps between snapshots of the probe sample"), "snapshot every", False),
)


def app_default(key: str):
    """The value the app starts with for a model or training setting."""
    if key == "cell":
        return DEFAULT_CELL
    for param, _label, _optional in (*MODEL_PARAMS, *TRAIN_PARAMS):
        if param.name == key:
            return param.default
    f = TrainConfig.__dataclass_fields__.get(key)
    if f is None:
        return None
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _raw_or_none(field: Field):
    """A field's value, or ``None`` while it holds a refused one."""
    try:
        return field.value()
    except ValueError:
        return None


def _description(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: #666; font-size: 8pt;")
    return label


class SetupPanel(QWidget):
    """Emits ``validity_changed(ok, reason)`` as fields are edited; :meth:`config` returns
    a dict for :meth:`TrainConfig.from_dict` or raises ``ValueError`` with the reason."""

    validity_changed = pyqtSignal(bool, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumWidth(250)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(6)

        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #C03000; background: #fff1ec; padding: 4px; "
                                       "font-size: 8pt;")
        self.error_label.setVisible(False)
        lay.addWidget(self.error_label)
        self.task_box = QComboBox()
        self.task_box.setToolTip("Task plugins from the registry")
        self.task_box.currentTextChanged.connect(self._task_chosen)
        self.task_desc = _description("")
        self.task_form = self._chooser(lay, "Task", self.task_box, self.task_desc)
        self.cell_box = QComboBox()
        self.cell_box.setToolTip("Cell plugins from the registry")
        self.cell_box.currentTextChanged.connect(self._cell_chosen)
        self.cell_desc = _description("")
        self.cell_form = self._chooser(lay, "Cell", self.cell_box, self.cell_desc)

        self.model_fields = self._group(lay, "Model", MODEL_PARAMS)
        self.train_fields = self._group(lay, "Training", TRAIN_PARAMS)

        lay.addStretch(1)

        self.task_fields: list[Field] = []
        self.cell_fields: list[Field] = []
        self.extra: dict = {}
        self.applied: dict = {}  # the current task's model_defaults, as applied to the form
        self.reload()

    def _chooser(self, lay, title, combo, desc) -> QFormLayout:
        box = QGroupBox(title)
        inner = QVBoxLayout(box)
        inner.setSpacing(4)
        inner.addWidget(combo)
        inner.addWidget(desc)
        form = QFormLayout()
        inner.addLayout(form)
        lay.addWidget(box)
        return form

    def _group(self, lay, title, params) -> dict[str, Field]:
        box = QGroupBox(title)
        form = QFormLayout(box)
        fields = {}
        for param, label, optional in params:
            f = Field(param, label, optional)
            f.changed.connect(self._validate)
            form.addRow(f.label, f.widget)
            fields[param.name] = f
        lay.addWidget(box)
        return fields

    # registry ----------------------------------------------------------------------------
    def reload(self) -> None:
        """Fill the task and cell lists from the registry, keeping the current choices."""
        task, cell = self.task_box.currentText(), self.cell_box.currentText()
        for combo, kind, keep, default in ((self.task_box, "task", task, DEFAULT_TASK),
                                           (self.cell_box, "cell", cell, DEFAULT_CELL)):
            names = registry.names(kind)
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            pick = keep if keep in names else default if default in names else None
            if pick is not None:
                combo.setCurrentText(pick)
            combo.blockSignals(False)
        self._rebuild_task_form()
        self._rebuild_cell_form()
        if self.task_box.currentText() != task:
            self._apply_task_defaults()
        self._validate()

    def _task_chosen(self, _name: str) -> None:
        self._rebuild_task_form()
        self._apply_task_defaults()
        self._validate()

    def _model_defaults(self) -> dict:
        cls = self._task_class()
        defaults = getattr(cls, "model_defaults", None) if cls else None
        return dict(defaults) if isinstance(defaults, dict) else {}

    def _apply_task_defaults(self) -> None:
        """Show the chosen task's ``model_defaults`` in the form. Settings the previous
        task's defaults had changed, and the user has not, go back to the app's defaults."""
        new = self._model_defaults()
        for key, value in self.applied.items():
            if key not in new and self._shows(key, value):
                self._set_setting(key, app_default(key))
        for key, value in new.items():
            self._set_setting(key, value)
        self.applied = new

    def _cell_chosen(self, _name: str) -> None:
        self._rebuild_cell_form()
        self._validate()

    def _task_class(self):
        try:
            return registry.get_task(self.task_box.currentText())
        except (KeyError, TypeError):
            return None

    def _cell_class(self):
        try:
            return registry.get_cell(self.cell_box.currentText())
        except (KeyError, TypeError):
            return None

    def _rebuild_task_form(self) -> None:
        cls = self._task_class()
        self.task_desc.setText(getattr(cls, "description", "") if cls else "no usable task")
        params = tuple(getattr(cls, "params", ()) or ()) if cls else ()
        self.task_fields = self._rebuild(self.task_form, [(p, False) for p in params])

    def _rebuild_cell_form(self) -> None:
        cls = self._cell_class()
        self.cell_desc.setText(getattr(cls, "description", "") if cls else "no usable cell")
        options = dict(getattr(cls, "options", {}) or {}) if cls else {}
        params = []
        for name, default in options.items():
            kind = type(default) if isinstance(default, (bool, int, float, str)) else float
            params.append((TaskParam(name, default, kind), default is None))
        self.cell_fields = self._rebuild(self.cell_form, params)

    def _rebuild(self, form: QFormLayout, params) -> list[Field]:
        while form.rowCount() > 0:
            form.removeRow(0)
        fields = []
        for param, optional in params:
            f = Field(param, optional=optional)
            f.changed.connect(self._validate)
            form.addRow(f.label, f.widget)
            fields.append(f)
        return fields

    # values ------------------------------------------------------------------------------
    def _set_setting(self, key, value) -> None:
        """Show one setting: in its widget where it has one, else keep it in ``extra``."""
        if key == "cell":
            if self.cell_box.findText(str(value)) >= 0:
                self.cell_box.setCurrentText(str(value))  # rebuilds the option form
            return
        if key == "cell_options":
            values = value if isinstance(value, dict) else {}
            for f in self.cell_fields:
                f.set_value(values.get(f.param.name, f.param.default))
            return
        for group in (self.model_fields, self.train_fields):
            if key in group:
                group[key].set_value(value)
                return
        if key in TrainConfig.__dataclass_fields__ and value == app_default(key):
            self.extra.pop(key, None)
        else:
            self.extra[key] = value

    def _shows(self, key, value) -> bool:
        """Whether the form still holds ``value`` for ``key`` (the user left it alone)."""
        if key == "cell":
            return self.cell_box.currentText() == str(value)
        if key == "cell_options":
            values = value if isinstance(value, dict) else {}
            return all(_raw_or_none(f) == values.get(f.param.name, f.param.default)
                       for f in self.cell_fields)
        for group in (self.model_fields, self.train_fields):
            if key in group:
                return _raw_or_none(group[key]) == value
        return self.extra.get(key) == value

    def errors(self) -> list[str]:
        fields = [*self.task_fields, *self.cell_fields, *self.model_fields.values(),
                  *self.train_fields.values()]
        return [e for e in (f.error() for f in fields) if e]

    def _validate(self) -> None:
        reason = ""
        if not self.task_box.currentText():
            reason = "no usable task: see Plugins"
        elif not self.cell_box.currentText():
            reason = "no usable cell: see Plugins"
        else:
            errs = self.errors()
            if errs:
                reason = errs[0]
            else:
                try:
                    self.config()
                except ValueError as exc:
                    reason = str(exc)
        self.error_label.setText(reason)
        self.error_label.setVisible(bool(reason))
        self.validity_changed.emit(not reason, reason)

    def config(self) -> dict:
        """The settings as a :class:`TrainConfig` dict; ``ValueError`` names a bad one."""
        d = {"task": self.task_box.currentText(), "cell": self.cell_box.currentText()}
        d["task_params"] = {f.param.name: f.value() for f in self.task_fields}
        d["cell_options"] = {f.param.name: f.value() for f in self.cell_fields
                             if f.value() is not None}
        for group in (self.model_fields, self.train_fields):
            for name, f in group.items():
                d[name] = f.value()
        d.update(self.extra)
        cls = self._task_class()
        if cls is not None:
            cls(**d["task_params"])  # the task's own checks
        return TrainConfig.from_dict(d).to_dict()

    def set_config(self, d: dict) -> None:
        """Show ``d`` (a TrainConfig dict, possibly partial); unknown names are skipped."""
        for combo, key in ((self.task_box, "task"), (self.cell_box, "cell")):
            if key in d and combo.findText(str(d[key])) >= 0:
                combo.blockSignals(True)
                combo.setCurrentText(str(d[key]))
                combo.blockSignals(False)
        self._rebuild_task_form()
        self._rebuild_cell_form()
        for fields, key in ((self.task_fields, "task_params"), (self.cell_fields,
                                                                 "cell_options")):
            values = d.get(key) or {}
            for f in fields:
                if f.param.name in values:
                    f.set_value(values[f.param.name])
        known = {*self.model_fields, *self.train_fields}
        self.applied = self._model_defaults()
        self.extra = {}
        for key, value in d.items():
            if key in known:
                self._set_setting(key, value)
            elif key not in ("task", "cell", "task_params", "cell_options") and \
                    key in TrainConfig.__dataclass_fields__ and \
                    value != TrainConfig.__dataclass_fields__[key].default:
                self.extra[key] = value
        self._validate()
