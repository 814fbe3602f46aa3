"""Form fields built from declared parameters; a bad value is refused with a reason."""

from __future__ import annotations

import math

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QWidget

from ..engine.task import TaskParam

INVALID_STYLE = "QLineEdit { border: 1px solid #D55E00; background: #fff4ef; }"


def format_value(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


class Field(QObject):
    """One input for one :class:`TaskParam`: ``value()`` returns it validated or raises
    ``ValueError`` saying what was expected."""

    changed = pyqtSignal()

    def __init__(self, param: TaskParam, label: str | None = None, optional: bool = False):
        super().__init__()
        self.param = param
        self.label = label or param.name.replace("_", " ")
        self.optional = optional
        self.widget: QWidget = self._make_widget()
        tip = param.help or ""
        if param.min is not None or param.max is not None:
            tip += f"{' · ' if tip else ''}range [{format_value(param.min)}, " \
                   f"{format_value(param.max)}]"
        if optional:
            tip += f"{' · ' if tip else ''}empty: off"
        self.widget.setToolTip(tip)
        self.widget.setAccessibleName(self.label)
        self.set_value(param.default)

    def _make_widget(self) -> QWidget:
        p = self.param
        if p.type is bool:
            w = QCheckBox()
            w.toggled.connect(self._edited)
        elif p.choices is not None:
            w = QComboBox()
            w.addItems([format_value(c) for c in p.choices])
            w.currentIndexChanged.connect(self._edited)
        else:
            w = QLineEdit()
            w.setClearButtonEnabled(False)
            w.textChanged.connect(self._edited)
        return w

    def _edited(self, *_):
        self.error()  # restyle
        self.changed.emit()

    def set_value(self, value) -> None:
        w = self.widget
        if isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QComboBox):
            choices = list(self.param.choices)
            if value in choices:
                w.setCurrentIndex(choices.index(value))
        else:
            w.setText(format_value(value))

    def raw(self):
        w = self.widget
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QComboBox):
            return self.param.choices[w.currentIndex()]
        return w.text().strip()

    def value(self):
        raw = self.raw()
        if isinstance(self.widget, QLineEdit):
            if raw == "":
                if self.optional:
                    return None
                raise ValueError(f"{self.param.name}: expected a value, got nothing")
            raw = _parse(raw, self.param)
        if isinstance(raw, (float, np.floating)) and not math.isfinite(raw):
            raise ValueError(f"{self.param.name}: expected a finite number, got {raw!r}")
        value = self.param.validate(raw)
        if isinstance(value, (float, np.floating)) and not math.isfinite(value):
            raise ValueError(f"{self.param.name}: expected a finite number, got {value!r}")
        return value

    def error(self) -> str:
        """The reason the current value is refused, or ``""``; marks the field red."""
        try:
            self.value()
            msg = ""
        except ValueError as exc:
            msg = str(exc)
        if isinstance(self.widget, QLineEdit):
            self.widget.setStyleSheet(INVALID_STYLE if msg else "")
            base = self.widget.toolTip().split("\n⚠")[0]
            self.widget.setToolTip(base + (f"\n⚠ {msg}" if msg else ""))
        return msg


def _parse(text: str, param: TaskParam):
    """Text to the parameter's type; an unparseable text is left for ``validate`` to refuse."""
    try:
        if param.type is int:
            f = float(text)
            return int(f) if f.is_integer() else f
        if param.type is float:
            return float(text)
    except ValueError:
        return text
    return text
