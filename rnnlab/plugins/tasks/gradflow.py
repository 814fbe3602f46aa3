"""Vanishing and exploding gradients in a deep vanilla RNN over a long sequence."""

from __future__ import annotations

import numpy as np

from ...engine.task import Dataset, Task, TaskParam, TaskSpec
from ._common import VAL_FRACTION, samples_param, split


class GradFlowTask(Task):
    """The first input is a sign, +1 or -1; every later input is Gaussian noise. The class
    is that sign (1 for +1), so the gradient must flow back through all ``length`` steps.

    :attr:`model_defaults` (read from the class; the trainer starts from them and the user
    may override each): a 5-layer ``rnn_tanh`` network whose initial recurrent weights are
    multiplied by ``init_scale``. Near 1 the gradient vanishes over 100 steps, well above 1
    it explodes: watch the gradient norms per step and per layer, and compare runs with
    the trainer's gradient clipping (``clip``) on and off. An LSTM learns the task at
    moderate lengths (see :attr:`reference`).
    """

    name = "gradflow"
    description = ("Vanishing/exploding gradients: recall the first input's sign after a long "
                   "noisy sequence")
    view = "classes"
    params = (
        TaskParam("length", 100, int, 2, 1000, help="timesteps per sequence"),
        TaskParam("noise", 0.5, float, 0.0, 2.0, help="std of the inputs after the first"),
        samples_param(1000),
        VAL_FRACTION,
    )
    #: the trainer's model settings unless the user chooses otherwise
    model_defaults = {"cell": "rnn_tanh", "num_layers": 5, "hidden_size": 32,
                      "init_scale": 3.0}
    reference = {"metric": "grad_norm", "above": 100.0,
                 "settings": {"cell": "rnn_tanh", "num_layers": 5, "hidden_size": 32,
                              "init_scale": 3.0, "max_steps": 5},
                 "note": "largest gradient norm before clipping in the first steps; with "
                         "init_scale 1 it stays below 10 and ||dL/dh_t|| vanishes towards t=0"}

    def spec(self) -> TaskSpec:
        return TaskSpec("classification", input_size=1, output_size=2,
                        class_names=("negative", "positive"))

    def make_data(self, seed: int) -> Dataset:
        c = self.config
        rng = np.random.default_rng(seed)
        n, t = c["samples"], c["length"]
        sign = rng.integers(0, 2, size=n)
        x = c["noise"] * rng.standard_normal((n, t, 1))
        x[:, 0, 0] = 2.0 * sign - 1.0
        return split(x.astype(np.float32), sign.astype(np.int64), None, c["val_fraction"])
