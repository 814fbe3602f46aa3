"""The copy (memory) task: reproduce a symbol sequence after a delay."""

from __future__ import annotations

import numpy as np

from ...engine.task import Dataset, Task, TaskParam, TaskSpec
from ._common import VAL_FRACTION, samples_param, split

BLANK, DELIMITER, FIRST_SYMBOL = 0, 1, 2


class CopyTask(Task):
    """Input: ``length`` random symbols, ``delay`` blanks, one delimiter, then ``length``
    blanks during which the symbols must be output in order. Token ids: 0 blank ``_``,
    1 delimiter ``:``, ``2 + k`` symbol ``k``. Targets are symbol classes ``0..symbols-1`` on
    the last ``length`` steps and ``ignore_index`` everywhere else."""

    name = "copy"
    description = "The copy task: remember a few symbols over a delay, then repeat them in order"
    view = "labels"
    params = (
        TaskParam("length", 5, int, 1, 100, help="symbols to remember"),
        TaskParam("delay", 10, int, 0, 1000, help="blank steps between symbols and delimiter"),
        TaskParam("symbols", 8, int, 2, 26, help="size of the symbol alphabet"),
        samples_param(2000),
        VAL_FRACTION,
    )
    reference = {"metric": "val_accuracy", "above": 0.9, "chance": 0.125,
                 "settings": {"cell": "lstm", "hidden_size": 64, "epochs": 8,
                              "task_params": {"length": 3, "delay": 5, "symbols": 4}}}

    def spec(self) -> TaskSpec:
        names = tuple(chr(ord("A") + k) for k in range(self.config["symbols"]))
        vocab = ("_", ":", *names)
        return TaskSpec("labelling", input_size=len(vocab), output_size=len(names),
                        vocab_size=len(vocab), vocab=vocab, class_names=names)

    def make_data(self, seed: int) -> Dataset:
        c = self.config
        rng = np.random.default_rng(seed)
        n, s, d = c["samples"], c["length"], c["delay"]
        t = 2 * s + d + 1
        sym = rng.integers(0, c["symbols"], size=(n, s))
        x = np.full((n, t), BLANK, dtype=np.int64)
        x[:, :s] = sym + FIRST_SYMBOL
        x[:, s + d] = DELIMITER
        y = np.full((n, t), self.spec().ignore_index, dtype=np.int64)
        y[:, t - s:] = sym
        return split(x, y, None, c["val_fraction"])

    def metrics(self, pred, y, lengths=None) -> dict[str, float]:
        """``accuracy`` over copied symbols and ``sequence_accuracy`` (all symbols right)."""
        valid = y != self.spec().ignore_index
        right = (pred.argmax(axis=-1) == y) | ~valid
        return {"accuracy": float(right[valid].mean()),
                "sequence_accuracy": float(right.all(axis=1).mean())}
