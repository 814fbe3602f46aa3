"""Next-value prediction of noisy sine waves (many-to-one regression)."""

from __future__ import annotations

import numpy as np

from ...engine.task import Dataset, Task, TaskParam, TaskSpec
from ._common import VAL_FRACTION, samples_param, split


class SineTask(Task):
    """Each sequence is ``sin(w t + phase) + noise`` for ``t < length`` with a random angular
    frequency ``w`` in ``[0.1, 0.5]`` rad/step and phase; the target is the noise-free value
    at ``t = length``. The target's variance is 0.5: predicting 0 scores that MSE."""

    name = "sine"
    description = "Predict the next value of a noisy sine wave with random frequency and phase"
    view = "series"
    params = (
        TaskParam("length", 40, int, 10, 200, help="timesteps per sequence (lessons: 30-50)"),
        TaskParam("noise", 0.05, float, 0.0, 1.0, help="std of Gaussian noise on the inputs"),
        samples_param(2000),
        VAL_FRACTION,
    )
    reference = {"metric": "val_mse", "below": 0.02, "baseline": 0.5,
                 "settings": {"cell": "lstm", "hidden_size": 32, "epochs": 10,
                              "task_params": {"samples": 1000}}}

    def spec(self) -> TaskSpec:
        return TaskSpec("regression", input_size=1, output_size=1)

    def make_data(self, seed: int) -> Dataset:
        c = self.config
        rng = np.random.default_rng(seed)
        n, t = c["samples"], c["length"]
        omega = rng.uniform(0.1, 0.5, size=(n, 1))
        phase = rng.uniform(0.0, 2 * np.pi, size=(n, 1))
        wave = np.sin(omega * np.arange(t + 1) + phase)
        x = wave[:, :t] + c["noise"] * rng.standard_normal((n, t))
        y = wave[:, t:]
        return split(x[:, :, None].astype(np.float32), y.astype(np.float32), None,
                     c["val_fraction"])
