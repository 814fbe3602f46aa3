"""The user settings file: a JSON object in the user's config folder, written atomically.

Location: ``$RNNLAB_CONFIG_DIR/settings.json`` if set, else ``$XDG_CONFIG_HOME/rnnlab``
(``~/.config/rnnlab``; ``%APPDATA%\\rnnlab`` on Windows). Keys other modules do not know are
kept as they are. A missing file means defaults; an unreadable one is logged and ignored.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from .checkpoint import atomic_write

log = logging.getLogger(__name__)

#: keys read by rnnlab and their defaults
DEFAULTS: dict[str, Any] = {"plugin_paths": [], "disabled_plugins": []}


def config_dir() -> Path:
    """The folder holding ``settings.json`` (not created here)."""
    explicit = os.environ.get("RNNLAB_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    if os.name == "nt" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "rnnlab"
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "rnnlab"


def settings_path() -> Path:
    return config_dir() / "settings.json"


def _string_list(key: str, value) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key}: expected a list of strings, got {value!r}")
    return list(value)


def load_settings() -> dict[str, Any]:
    """The settings merged over :data:`DEFAULTS`; problems are logged, never raised."""
    path = settings_path()
    settings = {k: list(v) if isinstance(v, list) else v for k, v in DEFAULTS.items()}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return settings
    except OSError as exc:
        log.warning("cannot read %s: %s", path, exc)
        return settings
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    except ValueError as exc:
        log.warning("ignoring %s: %s", path, exc)
        return settings
    for key, value in data.items():
        if key in ("plugin_paths", "disabled_plugins"):
            try:
                value = _string_list(key, value)
            except ValueError as exc:
                log.warning("ignoring a setting in %s: %s", path, exc)
                continue
        settings[key] = value
    return settings


def save_settings(**changes: Any) -> Path:
    """Update keys in the settings file atomically (temp file + rename); returns its path."""
    for key in ("plugin_paths", "disabled_plugins"):
        if key in changes:
            changes[key] = _string_list(key, changes[key])
    path = settings_path()
    settings = {k: list(v) if isinstance(v, list) else v for k, v in DEFAULTS.items()}
    if path.exists():
        # Update what is on disk as it is: a file we cannot read is refused, not replaced.
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: expected a readable JSON settings file, got an error "
                             f"({exc}); fix or remove it, nothing was changed") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}; "
                             "fix or remove it, nothing was changed")
        settings.update(data)
    settings.update(changes)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(settings, indent=2, sort_keys=True) + "\n"
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
