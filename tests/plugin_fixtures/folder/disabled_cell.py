"""A good cell the tests disable by name (then this file is not even imported)."""

from rnnlab.engine.cells import GRUKernel


class DisabledCell(GRUKernel):
    name = "disabled_cell"
