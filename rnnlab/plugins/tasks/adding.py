"""The adding problem (Hochreiter & Schmidhuber, 1997): sum two marked values."""

from __future__ import annotations

import numpy as np

from ...engine.task import Dataset, Task, TaskParam, TaskSpec
from ._common import VAL_FRACTION, samples_param, split

#: MSE of always answering 1.0: the variance of the sum of two uniform [0, 1] values, 2/12
BASELINE_MSE = 1.0 / 6.0
#: an answer counts as solved within this absolute error (the original paper's criterion)
TOLERANCE = 0.04


class AddingTask(Task):
    """Two input channels: values uniform in [0, 1] and a marker that is 1 at exactly two
    steps, one in each half of the sequence. The target is the sum of the two marked
    values. Predicting 1.0 always scores MSE 1/6 ≈ 0.167 (:data:`BASELINE_MSE`)."""

    name = "adding"
    description = "The adding problem: output the sum of the two marked values in a long sequence"
    view = "series"
    params = (
        TaskParam("length", 50, int, 2, 1000, help="timesteps per sequence"),
        samples_param(2000),
        VAL_FRACTION,
    )
    reference = {"metric": "val_mse", "below": 0.05, "baseline": round(BASELINE_MSE, 3),
                 "settings": {"cell": "lstm", "hidden_size": 32, "epochs": 12,
                              "task_params": {"length": 20}},
                 "note": "a vanilla rnn_tanh stays near the baseline at length 50"}

    def spec(self) -> TaskSpec:
        return TaskSpec("regression", input_size=2, output_size=1)

    def make_data(self, seed: int) -> Dataset:
        c = self.config
        rng = np.random.default_rng(seed)
        n, t = c["samples"], c["length"]
        half = t // 2
        x = np.zeros((n, t, 2))
        x[:, :, 0] = rng.random((n, t))
        rows = np.arange(n)
        first = rng.integers(0, half, size=n)
        second = rng.integers(half, t, size=n)
        x[rows, first, 1] = 1.0
        x[rows, second, 1] = 1.0
        y = (x[rows, first, 0] + x[rows, second, 0])[:, None]
        return split(x.astype(np.float32), y.astype(np.float32), None, c["val_fraction"],
                     baseline_mse=BASELINE_MSE)

    def metrics(self, pred, y, lengths=None) -> dict[str, float]:
        """``mse``, ``baseline_ratio`` (mse / 0.167: below 1 beats the constant answer) and
        ``solved`` (share of answers within 0.04)."""
        err = np.asarray(pred, dtype=np.float64) - y
        mse = float(np.mean(err**2))
        return {"mse": mse, "baseline_ratio": mse / BASELINE_MSE,
                "solved": float(np.mean(np.abs(err) < TOLERANCE))}
