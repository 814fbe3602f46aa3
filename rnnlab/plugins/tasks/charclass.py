"""Character-level sequence classification: which language a word comes from."""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np

from ...engine.task import Dataset, Task, TaskParam, TaskSpec
from ._common import PAD, VAL_FRACTION, pad_sequences, split

DATA_PACKAGE = "rnnlab.plugins.data"
PREFIX = "charclass_"


@cache
def load_corpus() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``((class_name, words), ...)`` sorted by class, from ``charclass_*.txt``."""
    root = resources.files(DATA_PACKAGE)
    out = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.startswith(PREFIX) and entry.name.endswith(".txt"):
            words = tuple(w.strip() for w in entry.read_text("utf-8").splitlines())
            out.append((entry.name[len(PREFIX):-4], tuple(w for w in words if w)))
    if not out:
        raise FileNotFoundError(f"no {PREFIX}*.txt corpus in {DATA_PACKAGE}")
    return tuple(out)


class CharClassTask(Task):
    """Words of the shipped corpus (see :mod:`rnnlab.plugins.data`) as character ids, one
    class per language. Id 0 is padding; the vocabulary is every character of the corpus.
    ``Dataset.info["words"]`` holds each sample's word, train samples first."""

    name = "charclass"
    description = "Tell which language a word comes from, one character at a time"
    view = "text"
    params = (
        TaskParam("max_length", 12, int, 3, 40,
                  help="words longer than this are cut to their first characters"),
        VAL_FRACTION,
    )
    reference = {"metric": "val_accuracy", "above": 0.7, "chance": 0.25,
                 "settings": {"cell": "gru", "hidden_size": 64, "epochs": 6}}

    def spec(self) -> TaskSpec:
        corpus = load_corpus()
        chars = sorted({ch for _, words in corpus for w in words for ch in w})
        vocab = ("<pad>", *chars)
        return TaskSpec("classification", input_size=len(vocab), output_size=len(corpus),
                        vocab_size=len(vocab), padding_idx=PAD, vocab=vocab,
                        class_names=tuple(name for name, _ in corpus))

    def make_data(self, seed: int) -> Dataset:
        spec = self.spec()
        index = {ch: i for i, ch in enumerate(spec.vocab)}
        m = self.config["max_length"]
        words, labels = [], []
        for label, (_, ws) in enumerate(load_corpus()):
            words.extend(ws)
            labels.extend([label] * len(ws))
        order = np.random.default_rng(seed).permutation(len(words))
        x, lengths = pad_sequences([[index[ch] for ch in words[i][:m]] for i in order])
        y = np.asarray(labels, dtype=np.int64)[order]
        return split(x, y, lengths, self.config["val_fraction"],
                     words=tuple(words[i] for i in order))
