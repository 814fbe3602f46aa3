"""Small tasks defined in the tests, so trainer tests don't depend on the built-in plugins."""

from __future__ import annotations

import numpy as np

from rnnlab.engine.task import Dataset, Split, Task, TaskParam, TaskSpec


class ToySine(Task):
    """Predict the next value of a sine wave with random frequency and phase."""

    name = "toy_sine"
    params = (TaskParam("length", 20, int, 5, 100), TaskParam("n", 256, int, 8, 10_000),
              TaskParam("poison", False, bool))
    view = "series"

    def spec(self):
        return TaskSpec("regression", 1, 1)

    def make_data(self, seed):
        rng = np.random.default_rng(seed)
        T = self.config["length"]

        def split(n):
            f = rng.uniform(0.05, 0.15, (n, 1))
            ph = rng.uniform(0, 2 * np.pi, (n, 1))
            s = np.sin(2 * np.pi * f * np.arange(T + 1) + ph)
            lengths = rng.integers(T // 2, T + 1, n)
            y = s[np.arange(n), lengths][:, None]
            x = s[:, :T, None] * (np.arange(T)[None, :, None] < lengths[:, None, None])
            return Split(x, y, lengths)

        train = split(self.config["n"])
        if self.config["poison"]:
            train.y[:] = 1e30
        return Dataset(train, split(64))


class ToyParity(Task):
    """Per-step labelling over token ids: label = running count of ones, mod 2."""

    name = "toy_parity"
    params = ()
    view = "labels"

    def spec(self):
        return TaskSpec("labelling", 0, 2, vocab_size=3, padding_idx=0)

    def make_data(self, seed):
        rng = np.random.default_rng(seed)

        def split(n, T=8):
            bits = rng.integers(0, 2, (n, T))
            lengths = rng.integers(2, T + 1, n)
            y = np.cumsum(bits, axis=1) % 2
            x = bits + 1
            for i, L in enumerate(lengths):
                x[i, L:] = 0
                y[i, L:] = -100
            return Split(x, y, lengths)

        return Dataset(split(256), split(64))
