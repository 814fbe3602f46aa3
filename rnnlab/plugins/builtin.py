"""Entry-point targets of the built-in cells and tasks.

rnnlab's ``pyproject.toml`` registers every built-in exactly like a third-party package
would, as ``name = "rnnlab.plugins.builtin:name"``. Attributes resolve lazily, so loading
one built-in imports only the module that defines it (and a broken module fails only its
own plugins): ``builtin.lstm`` is the Cell subclass whose ``name`` is ``"lstm"`` in
``rnnlab.engine.cells``.
"""

from __future__ import annotations

import importlib

#: plugin name -> module defining the Cell or Task subclass of that name
BUILTINS: dict[str, str] = {
    "rnn_tanh": "rnnlab.engine.cells",
    "rnn_relu": "rnnlab.engine.cells",
    "lstm": "rnnlab.engine.cells",
    "gru": "rnnlab.engine.cells",
    "peephole_lstm": "rnnlab.plugins.cells",
    "layernorm_lstm": "rnnlab.plugins.cells",
    "indrnn": "rnnlab.plugins.cells",
    "sine": "rnnlab.plugins.tasks",
    "mod3": "rnnlab.plugins.tasks",
    "charclass": "rnnlab.plugins.tasks",
    "sentiment": "rnnlab.plugins.tasks",
    "gradflow": "rnnlab.plugins.tasks",
    "adding": "rnnlab.plugins.tasks",
    "copy": "rnnlab.plugins.tasks",
}


def __getattr__(name: str):
    if name not in BUILTINS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from ..engine.contract import kind_of

    module = importlib.import_module(BUILTINS[name])
    for obj in vars(module).values():
        if kind_of(obj) and getattr(obj, "name", None) == name:
            return obj
    raise AttributeError(f"{BUILTINS[name]} defines no cell or task named {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *BUILTINS])
