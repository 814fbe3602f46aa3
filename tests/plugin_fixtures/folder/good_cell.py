"""A good cell: the built-in tanh kernels under another name."""

from rnnlab.engine.cells import RNNTanhKernel

__version__ = "1.2.3"


class FixtureTanhCell(RNNTanhKernel):
    name = "fixture_tanh"
    description = "Elman tanh cell registered from a plugin folder"
