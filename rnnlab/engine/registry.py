"""Cell and task lookup by name (the built-ins for now)."""

from __future__ import annotations

from .cell import Cell
from .cells import BUILTIN_CELLS


def get_cell(name: str) -> type[Cell]:
    """The cell class registered as ``name``; ``KeyError`` lists the known names."""
    try:
        return BUILTIN_CELLS[name]
    except KeyError:
        raise KeyError(f"unknown cell {name!r}; known cells: {sorted(BUILTIN_CELLS)}") from None
