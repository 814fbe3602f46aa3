"""Vanishing and exploding gradients in a deep vanilla RNN over a long sequence."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...engine.task import Dataset, Task, TaskParam, TaskSpec
from ._common import VAL_FRACTION, samples_param, split


class GradFlowTask(Task):
    """The first input is a sign, +1 or -1; every later input is Gaussian noise. The class
    is that sign (1 for +1), so the gradient must flow back through all ``length`` steps.

    Model defaults (:attr:`model_defaults`, honoured by the trainer unless the user sets the
    value): a 5-layer ``rnn_tanh`` network. ``init_scale`` multiplies every recurrent
    weight matrix ``weight_hh_l*`` after the usual uniform(±1/sqrt(H)) initialisation:
    around 1 gradients vanish over 100 steps, well above 1 they explode (watch the
    gradient norms per step and per layer, and compare runs with gradient clipping on and
    off, a trainer setting). :meth:`model_settings` gives the defaults with this task's
    ``init_scale``. An LSTM learns the task at moderate lengths.
    """

    name = "gradflow"
    description = ("Vanishing/exploding gradients: recall the first input's sign after a long "
                   "noisy sequence")
    view = "classes"
    params = (
        TaskParam("length", 100, int, 2, 1000, help="timesteps per sequence"),
        TaskParam("init_scale", 3.0, float, 0.01, 20.0,
                  help="multiplies the recurrent weights after initialisation"),
        TaskParam("noise", 0.5, float, 0.0, 2.0, help="std of the inputs after the first"),
        samples_param(1000),
        VAL_FRACTION,
    )
    #: the trainer's model settings unless the user chooses otherwise
    model_defaults = {"cell": "rnn_tanh", "num_layers": 5, "hidden_size": 32,
                      "init_scale": 3.0}
    reference = {"metric": "val_accuracy", "above": 0.95, "chance": 0.5,
                 "settings": {"cell": "lstm", "num_layers": 1, "hidden_size": 16,
                              "length": 30, "init_scale": 1.0}}

    def model_settings(self) -> dict[str, Any]:
        """:attr:`model_defaults` with ``init_scale`` from this task's parameters."""
        return {**self.model_defaults, "init_scale": self.config["init_scale"]}

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
