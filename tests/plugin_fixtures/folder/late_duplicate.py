"""Two cells whose names are taken: by a built-in and by good_cell.py (found earlier)."""

from rnnlab.engine.cells import RNNReLUKernel


class ShadowLSTMCell(RNNReLUKernel):
    name = "lstm"


class SecondTanhCell(RNNReLUKernel):
    name = "fixture_tanh"
