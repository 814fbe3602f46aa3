"""A cell that breaks its contract in several ways."""

from rnnlab.engine.cells import RNNTanhKernel


class WrongContractCell(RNNTanhKernel):
    name = "wrong_contract"
    gates = ["a", "b"]  # a list, not a tuple
    states = ()

    def forward(self, params, x, lengths, state0):  # no `reverse`
        raise AssertionError("never called")
