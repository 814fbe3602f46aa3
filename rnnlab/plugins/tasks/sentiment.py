"""Sentiment of short template sentences, where a negation flips the label."""

from __future__ import annotations

import numpy as np

from ...engine.task import Dataset, Task, TaskParam, TaskSpec
from ._common import PAD, VAL_FRACTION, pad_sequences, samples_param, split

SUBJECTS = ("the film", "the movie", "the book", "the food", "the service", "the show",
            "the hotel", "the game", "the music", "this place", "my meal", "the trip",
            "the concert", "our room", "the story", "the staff")
VERBS = ("was", "is", "seemed", "looked", "felt", "sounded")
INTENSIFIERS = ("", "", "very", "really", "quite", "so", "truly", "rather", "extremely")
POSITIVE = ("good", "great", "wonderful", "fun", "lovely", "superb", "excellent", "nice",
            "brilliant", "pleasant", "charming", "delightful")
NEGATIVE = ("bad", "awful", "boring", "terrible", "dull", "poor", "horrible", "weak",
            "bland", "sad", "annoying", "dreadful")
PREFIXES = ("honestly ,", "i think", "well ,", "to me", "sadly for some ,", "in the end")
TAILS = ("overall", "in my opinion", "to be honest", "from start to end", "i must say",
         "this time", "for the price", "as far as i can tell", "if you ask me",
         "on a rainy sunday afternoon", "compared with last year", "and that is all")
NEGATION = "not"


def vocabulary() -> tuple[str, ...]:
    """``<pad>`` then every word the templates can produce, sorted."""
    words = {NEGATION, *POSITIVE, *NEGATIVE, *VERBS}
    for group in (SUBJECTS, INTENSIFIERS, PREFIXES, TAILS):
        words.update(w for phrase in group for w in phrase.split())
    return ("<pad>", *sorted(words))


class SentimentTask(Task):
    """``[prefix] subject verb [not] [intensifier] adjective [tail]``, e.g. "the film was not
    very good overall". The label is 1 (positive) for a positive adjective, flipped by "not".
    Sentences are right-padded with id 0; ``reverse`` reverses each sentence's words but
    keeps the padding on the right. The deciding words sit mid-sentence, mostly followed by
    a neutral tail of varied words that a forward-only vanilla RNN must carry them through
    (it stays near chance); reversed, only the subject, verb and an occasional prefix follow
    them, and a bidirectional model reads them from both ends. The defaults
    (:attr:`model_defaults`) are a bidirectional ``rnn_tanh``: switch ``bidirectional`` off,
    then turn ``reverse`` on.
    ``Dataset.info`` has boolean masks ``negated`` and ``positive_word`` for every sample,
    train samples first."""

    name = "sentiment"
    description = "Positive or negative? Short rule-labelled sentences where 'not' flips the label"
    view = "text"
    params = (
        TaskParam("negation", 0.5, float, 0.0, 1.0, help="probability a sentence has 'not'"),
        TaskParam("tail", 0.7, float, 0.0, 1.0,
                  help="probability of a neutral phrase after the adjective"),
        TaskParam("prefix", 0.3, float, 0.0, 1.0,
                  help="probability of a neutral phrase before the subject"),
        TaskParam("reverse", False, bool, help="reverse each sentence's words (padding stays)"),
        samples_param(2000),
        VAL_FRACTION,
    )
    #: the trainer's model settings unless the user chooses otherwise
    model_defaults = {"cell": "rnn_tanh", "bidirectional": True}
    reference = {"metric": "val_accuracy", "above": 0.95, "chance": 0.5,
                 "settings": {"cell": "rnn_tanh", "bidirectional": True, "epochs": 15,
                              "task_params": {"samples": 1000}},
                 "note": "forward-only rnn_tanh stays near chance; with reverse=True it "
                         "reaches 0.95 in 8 epochs"}

    def spec(self) -> TaskSpec:
        vocab = vocabulary()
        return TaskSpec("classification", input_size=len(vocab), output_size=2,
                        vocab_size=len(vocab), padding_idx=PAD, vocab=vocab,
                        class_names=("negative", "positive"))

    def make_data(self, seed: int) -> Dataset:
        c = self.config
        rng = np.random.default_rng(seed)
        index = {w: i for i, w in enumerate(vocabulary())}
        n = c["samples"]
        positive = rng.random(n) < 0.5
        negated = rng.random(n) < c["negation"]
        seqs = []
        for i in range(n):
            words = []
            if rng.random() < c["prefix"]:
                words += rng.choice(PREFIXES).split()
            words += [*rng.choice(SUBJECTS).split(), rng.choice(VERBS)]
            if negated[i]:
                words.append(NEGATION)
            words += rng.choice(INTENSIFIERS).split()
            words.append(rng.choice(POSITIVE if positive[i] else NEGATIVE))
            if rng.random() < c["tail"]:
                words += rng.choice(TAILS).split()
            if c["reverse"]:
                words.reverse()
            seqs.append([index[w] for w in words])
        x, lengths = pad_sequences(seqs)
        y = (positive ^ negated).astype(np.int64)
        return split(x, y, lengths, c["val_fraction"], negated=negated,
                     positive_word=positive)
