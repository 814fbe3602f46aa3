"""A good task: running parity of a bit stream, labelled at every step."""

import numpy as np

from rnnlab.engine.task import Dataset, Split, Task, TaskParam, TaskSpec


class RunningParityTask(Task):
    name = "fixture_parity"
    description = "Is the number of ones so far odd? (per-step labels)"
    view = "labels"
    params = (TaskParam("samples", 40, int, 4, 1000), TaskParam("length", 8, int, 1, 100))

    def spec(self):
        return TaskSpec("labelling", input_size=1, output_size=2)

    def make_data(self, seed):
        rng = np.random.default_rng(seed)
        n, t = self.config["samples"], self.config["length"]
        lengths = rng.integers(1, t + 1, size=n)
        bits = rng.integers(0, 2, size=(n, t))
        past = np.arange(t)[None, :] >= lengths[:, None]
        bits[past] = 0
        y = np.cumsum(bits, axis=1) % 2
        y[past] = self.spec().ignore_index
        x = bits[:, :, None].astype(np.float32)
        half = n // 2
        return Dataset(Split(x[:half], y[:half], lengths[:half]),
                       Split(x[half:], y[half:], lengths[half:]))
