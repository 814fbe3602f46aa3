"""Many-to-many labelling: every integer's label is its value modulo 3."""

from __future__ import annotations

import numpy as np

from ...engine.task import Dataset, Task, TaskParam, TaskSpec
from ._common import PAD, VAL_FRACTION, check_range, pad_sequences, samples_param, split


class Mod3Task(Task):
    """Sequences of integers ``0..max_value`` of random length, right-padded. Token ids are
    ``value + 1`` (id 0 is padding), so ``vocab[id]`` is the integer as text; targets are
    ``value % 3`` and ``ignore_index`` past each sequence's length."""

    name = "mod3"
    description = "Label each integer of a sequence with its value modulo 3 (per-token labels)"
    view = "labels"
    params = (
        TaskParam("max_value", 9, int, 2, 999, help="integers are drawn from 0..max_value"),
        TaskParam("min_length", 5, int, 1, 500, help="shortest sequence"),
        TaskParam("max_length", 20, int, 1, 500, help="longest sequence"),
        samples_param(2000),
        VAL_FRACTION,
    )
    reference = {"metric": "val_accuracy", "above": 0.98, "chance": 1 / 3,
                 "settings": {"cell": "gru", "hidden_size": 32, "epochs": 3,
                              "task_params": {"samples": 800}}}

    def __init__(self, **values):
        super().__init__(**values)
        check_range(self.name, "min_length", self.config["min_length"],
                    "max_length", self.config["max_length"])

    def spec(self) -> TaskSpec:
        vocab = ("<pad>", *(str(v) for v in range(self.config["max_value"] + 1)))
        return TaskSpec("labelling", input_size=len(vocab), output_size=3,
                        vocab_size=len(vocab), padding_idx=PAD, vocab=vocab,
                        class_names=("0", "1", "2"))

    def make_data(self, seed: int) -> Dataset:
        c = self.config
        rng = np.random.default_rng(seed)
        n = c["samples"]
        lengths = rng.integers(c["min_length"], c["max_length"] + 1, size=n)
        values = [rng.integers(0, c["max_value"] + 1, size=k) for k in lengths]
        x, lengths = pad_sequences([v + 1 for v in values])
        y, _ = pad_sequences([v % 3 for v in values], fill=self.spec().ignore_index)
        return split(x, y, lengths, c["val_fraction"])
