"""Tasks with a valid contract whose data is wrong in one way each."""

import numpy as np

from rnnlab.engine.task import Dataset, Split, Task, TaskSpec


def _data(rng, y_shape=(10,)):
    x = rng.standard_normal((10, 4, 2)).astype(np.float32)
    y = rng.integers(0, 3, size=y_shape)
    return Dataset(Split(x[:6], y[:6]), Split(x[6:], y[6:]))


class _Base(Task):
    def spec(self):
        return TaskSpec("classification", input_size=2, output_size=3)


class SeedlessTask(_Base):
    name = "seedless"

    def make_data(self, seed):
        return _data(np.random.default_rng(0))


class UnreproducibleTask(_Base):
    name = "unreproducible"

    def make_data(self, seed):
        return _data(np.random.default_rng())


class BadShapeTask(_Base):
    name = "bad_shape"

    def make_data(self, seed):
        return _data(np.random.default_rng(seed), y_shape=(10, 1))
