"""A cell and a task whose cheap hooks raise."""

from rnnlab.engine.cells import RNNTanhKernel
from rnnlab.engine.task import Task


class ParamSpecsRaiseCell(RNNTanhKernel):
    name = "hook_error_cell"

    def param_specs(self, input_size, hidden_size, bias):
        raise RuntimeError("boom in param_specs")


class SpecRaisesTask(Task):
    name = "hook_error_task"

    def spec(self):
        raise ZeroDivisionError("boom in spec")

    def make_data(self, seed):
        raise AssertionError("never called")
