"""The app's remembered state: last settings, window geometry, dock and splitter layout.

Stored with QSettings as ``gui.ini`` next to rnnlab's ``settings.json`` (see
:mod:`rnnlab.engine.settings`, which also holds plugin folders and disabled plugins).
"""

from __future__ import annotations

import json

from PyQt6.QtCore import QByteArray, QSettings

from ..engine.settings import config_dir


class AppSettings:
    def __init__(self, path: str | None = None):
        self.path = path or str(config_dir() / "gui.ini")
        self.qs = QSettings(self.path, QSettings.Format.IniFormat)

    def config(self) -> dict | None:
        text = self.qs.value("run/config", "", type=str)
        try:
            d = json.loads(text) if text else None
        except ValueError:
            return None
        return d if isinstance(d, dict) else None

    def set_config(self, d: dict) -> None:
        self.qs.setValue("run/config", json.dumps(d))

    def bytes(self, key: str) -> QByteArray | None:
        v = self.qs.value(key)
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    def set_bytes(self, key: str, value: QByteArray) -> None:
        self.qs.setValue(key, value)

    def get(self, key: str, default, kind=str):
        return self.qs.value(key, default, type=kind)

    def set(self, key: str, value) -> None:
        self.qs.setValue(key, value)

    def sync(self) -> None:
        self.qs.sync()
