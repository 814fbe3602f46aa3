"""``rnnlab plugins new``: a pip-installable plugin package from the templates beside this file.

The package registers its cell or task through the ``rnnlab.plugins`` entry point and
carries its own tests (rnnlab's checks), which pass as generated::

    DIR/pyproject.toml
    DIR/README.md
    DIR/src/rnnlab_NAME/__init__.py
    DIR/src/rnnlab_NAME/{cell,task}.py
    DIR/tests/test_NAME.py
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

KINDS = ("cell", "task")
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}")

_DESCRIPTIONS = {
    "cell": "A minimal gated recurrent cell with Numba kernels",
    "task": "Predict the mean of a variable-length sequence",
}
_USAGE = {
    "cell": 'e.g. `rnnlab.layer("{name}", input_size, hidden_size)`',
    "task": 'e.g. `rnnlab.engine.registry.get_task("{name}")`',
}


def class_name(name: str, kind: str) -> str:
    """``my_gru`` -> ``MyGruCell`` (no doubled suffix: ``fast_cell`` -> ``FastCell``)."""
    camel = "".join(part.capitalize() for part in name.split("_") if part)
    suffix = kind.capitalize()
    return camel if camel.endswith(suffix) else camel + suffix


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"NAME: expected a lowercase identifier of at most 32 characters "
                         f"(letters, digits, underscores; a letter first), got {name!r}")
    return name


def _template(file: str) -> str:
    return (resources.files(__package__) / "templates" / file).read_text("utf-8")


def _render(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    left = re.search(r"\{\{\w+\}\}", text)
    if left:
        raise RuntimeError(f"template placeholder {left.group(0)} has no value")
    return text


def create(kind: str, name: str, directory: str | Path) -> list[Path]:
    """Write a plugin package for a ``kind`` called ``name`` into ``directory``.

    ``directory`` must not exist or be empty. Returns the files written.
    """
    from .. import __version__

    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    check_name(name)
    root = Path(directory)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(f"DIR: expected a new or empty folder, got {str(root)!r} "
                              "which already has files")
    package = f"rnnlab_{name}"
    values = {
        "name": name,
        "kind": kind,
        "Class": class_name(name, kind),
        "package": package,
        "module": kind,
        "dist": package.replace("_", "-"),
        "description": _DESCRIPTIONS[kind],
        "usage": _USAGE[kind].format(name=name),
        "rnnlab_version": __version__,
    }
    files = {
        "pyproject.toml": "pyproject.toml.txt",
        "README.md": "README.md.txt",
        f"src/{package}/__init__.py": "init.py.txt",
        f"src/{package}/{kind}.py": f"{kind}.py.txt",
        f"tests/test_{name}.py": f"test_{kind}.py.txt",
    }
    written = []
    for rel, template in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_render(_template(template), values), encoding="utf-8")
        written.append(path)
    return written
