"""A cell with a valid contract whose backward is wrong: dx is twice what it should be."""

from rnnlab.engine.cells import RNNTanhKernel


class WrongGradientCell(RNNTanhKernel):
    name = "wrong_gradient"

    def backward(self, params, cache, dy, dstate_n, grads):
        dx, dstates, dh_sq = super().backward(params, cache, dy, dstate_n, grads)
        return 2.0 * dx, dstates, dh_sq
