"""A third-party plugin package: a good cell, a good task and two broken entry points."""

import numpy as np

from rnnlab.engine.cells import RNNTanhKernel
from rnnlab.engine.task import Dataset, Split, Task, TaskParam, TaskSpec


class ThirdPartyCell(RNNTanhKernel):
    name = "thirdparty_tanh"
    description = "Elman tanh cell from a third-party distribution"


class CountTask(Task):
    name = "thirdparty_count"
    description = "How many ones are in a bit sequence?"
    params = (TaskParam("samples", 30, int, 4, 1000),)

    def spec(self):
        return TaskSpec("regression", input_size=1, output_size=1)

    def make_data(self, seed):
        rng = np.random.default_rng(seed)
        x = rng.integers(0, 2, size=(self.config["samples"], 5, 1)).astype(np.float32)
        y = x.sum(axis=1)
        return Dataset(Split(x[:20], y[:20]), Split(x[20:], y[20:]))


class MisnamedCell(RNNTanhKernel):
    name = "not_the_entry_point_name"


def make_cells():
    return [ThirdPartyCell]
