"""Built-in tasks: data shapes against the spec, labelling rules, seeds and parameter checks."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from rnnlab.engine.task import KINDS, VIEWS, Dataset, Task
from rnnlab.plugins.tasks import (
    BUILTIN_TASKS,
    AddingTask,
    CharClassTask,
    CopyTask,
    GradFlowTask,
    Mod3Task,
    SentimentTask,
    SineTask,
)

#: small settings so every test stays fast
SMALL = {
    "sine": {"samples": 200},
    "mod3": {"samples": 200},
    "charclass": {},
    "sentiment": {"samples": 200},
    "gradflow": {"samples": 200, "length": 30},
    "adding": {"samples": 200, "length": 20},
    "copy": {"samples": 200},
}


def small(cls: type[Task], **extra) -> Task:
    return cls(**{**SMALL[cls.name], **extra})


def splits(data: Dataset):
    return (data.train, data.val)


def test_names_are_the_registered_ones():
    assert [t.name for t in BUILTIN_TASKS] == list(SMALL)


@pytest.mark.parametrize("cls", BUILTIN_TASKS, ids=lambda c: c.name)
def test_metadata(cls):
    assert cls.description and "\n" not in cls.description and len(cls.description) < 100
    assert cls.view in VIEWS
    ref = cls.reference
    assert ref["metric"].startswith("val_") or ref["metric"] == "grad_norm"
    assert ("below" in ref) != ("above" in ref)
    assert isinstance(ref["settings"], dict) and ref["settings"]
    for p in cls.params:
        assert p.validate(p.default) == p.default, p.name
        assert p.help, p.name
    assert cls().spec().kind in KINDS


@pytest.mark.parametrize("cls", BUILTIN_TASKS, ids=lambda c: c.name)
def test_arrays_match_spec(cls):
    task = small(cls)
    spec = task.spec()
    data = task.make_data(0)
    assert len(data.train) > len(data.val) > 0
    for s in splits(data):
        n = len(s)
        if spec.vocab_size is not None:
            assert s.x.dtype == np.int64 and s.x.ndim == 2
            assert 0 <= s.x.min() and s.x.max() < spec.vocab_size
            assert spec.vocab is not None and len(spec.vocab) == spec.vocab_size
        else:
            assert s.x.dtype == np.float32 and s.x.shape[2] == spec.input_size
            assert np.isfinite(s.x).all()
        t = s.x.shape[1]
        if spec.kind == "regression":
            assert s.y.dtype == np.float32 and s.y.shape == (n, spec.output_size)
        elif spec.kind == "classification":
            assert s.y.dtype == np.int64 and s.y.shape == (n,)
            assert 0 <= s.y.min() and s.y.max() < spec.output_size
        else:
            assert s.y.dtype == np.int64 and s.y.shape == (n, t)
            labels = s.y[s.y != spec.ignore_index]
            assert labels.size and 0 <= labels.min() and labels.max() < spec.output_size
        if spec.class_names is not None:
            assert len(spec.class_names) == spec.output_size
        if s.lengths is not None:
            assert s.lengths.dtype == np.int64 and s.lengths.shape == (n,)
            assert 1 <= s.lengths.min() and s.lengths.max() <= t


@pytest.mark.parametrize("cls", [c for c in BUILTIN_TASKS if c().spec().padding_idx is not None],
                         ids=lambda c: c.name)
def test_padding_positions(cls):
    task = small(cls)
    spec = task.spec()
    for s in splits(task.make_data(3)):
        past = np.arange(s.x.shape[1]) >= s.lengths[:, None]
        assert past.any(), "expected some padded positions"
        assert (s.x[past] == spec.padding_idx).all()
        assert (s.x[~past] != spec.padding_idx).all()
        assert s.lengths.max() == s.x.shape[1]
        if spec.kind == "labelling":
            assert (s.y[past] == spec.ignore_index).all()
            assert (s.y[~past] != spec.ignore_index).all()


@pytest.mark.parametrize("cls", BUILTIN_TASKS, ids=lambda c: c.name)
def test_seed_reproducible(cls):
    task = small(cls)
    a, b, c = task.make_data(7), task.make_data(7), task.make_data(8)
    for sa, sb in zip(splits(a), splits(b)):
        np.testing.assert_array_equal(sa.x, sb.x)
        np.testing.assert_array_equal(sa.y, sb.y)
        if sa.lengths is not None:
            np.testing.assert_array_equal(sa.lengths, sb.lengths)
    assert a.train.x.shape != c.train.x.shape or not np.array_equal(a.train.x, c.train.x)


@pytest.mark.parametrize(("cls", "values", "match"), [
    (SineTask, {"length": 5}, r"length: expected int in \[10, 200\], got 5"),
    (SineTask, {"noise": -0.1}, "noise: expected float"),
    (SineTask, {"samples": "many"}, "samples: expected int, got 'many'"),
    (SineTask, {"lenght": 40}, r"unknown parameter\(s\) \['lenght'\]"),
    (Mod3Task, {"min_length": 9, "max_length": 4}, "expected min_length <= max_length"),
    (Mod3Task, {"max_value": 1}, "max_value"),
    (CharClassTask, {"val_fraction": 0.9}, "val_fraction"),
    (SentimentTask, {"reverse": "yes"}, "reverse: expected true or false"),
    (SentimentTask, {"negation": 1.5}, "negation"),
    (GradFlowTask, {"noise": 3.0}, "noise"),
    (GradFlowTask, {"length": 2.5}, "length: expected int"),
    (AddingTask, {"length": 1}, "length"),
    (CopyTask, {"symbols": 1}, "symbols"),
    (CopyTask, {"delay": -1}, "delay"),
])
def test_bad_params_refused(cls, values, match):
    with pytest.raises(ValueError, match=match):
        cls(**values)


def test_sine_target_is_next_value_of_the_wave():
    task = SineTask(samples=100, noise=0.0)
    x, y = task.make_data(0).train.x[:, :, 0].astype(np.float64), task.make_data(0).train.y
    # a sinusoid obeys s[t+1] = 2 cos(w) s[t] - s[t-1]; estimate cos(w) from the inputs
    mid = x[:, 1:-1]
    ok = np.abs(mid) > 0.3
    cos_w = np.nanmedian(np.where(ok, (x[:, 2:] + x[:, :-2]) / (2 * np.where(ok, mid, 1)),
                                  np.nan), axis=1)
    nxt = 2 * cos_w * x[:, -1] - x[:, -2]
    np.testing.assert_allclose(y[:, 0], nxt, atol=1e-4)
    assert np.all(np.abs(y) <= 1)
    noisy = SineTask(samples=100, noise=0.5).make_data(0).train
    assert np.std(noisy.x - x[:, :, None]) > 0.4
    np.testing.assert_array_equal(noisy.y, y)


def test_mod3_labels_are_value_mod_3():
    task = Mod3Task(samples=300, max_value=20, min_length=2, max_length=9)
    spec = task.spec()
    assert spec.vocab[1:] == tuple(str(v) for v in range(21))
    for s in splits(task.make_data(1)):
        valid = s.y != spec.ignore_index
        values = np.array([int(spec.vocab[i]) for i in s.x[valid]])
        np.testing.assert_array_equal(s.y[valid], values % 3)
        assert 2 <= s.lengths.min() and s.lengths.max() <= 9
        assert set(np.unique(values)) == set(range(21))


def test_mod3_metrics_per_token_accuracy_ignores_padding():
    task = Mod3Task()
    y = np.array([[0, 1, -100], [2, -100, -100]])
    pred = np.zeros((2, 3, 3))
    pred[0, 0, 0] = pred[0, 1, 2] = pred[1, 0, 2] = 1.0  # 2 of 3 valid tokens right
    pred[0, 2, 1] = pred[1, 1, 1] = 5.0                   # padding positions never count
    assert task.metrics(pred, y) == {"accuracy": pytest.approx(2 / 3)}


def test_charclass_words_and_labels_come_from_the_corpus():
    task = CharClassTask(max_length=40)
    spec = task.spec()
    root = resources.files("rnnlab.plugins.data")
    corpus = {name: set(root.joinpath(f"charclass_{name}.txt").read_text("utf-8").split())
              for name in spec.class_names}
    assert all(len(words) >= 200 for words in corpus.values())
    data = task.make_data(0)
    assert len(data.train) + len(data.val) == sum(len(w) for w in corpus.values())
    decoded = []
    for s in splits(data):
        for row, n, label in zip(s.x, s.lengths, s.y):
            word = "".join(spec.vocab[i] for i in row[:n])
            assert word in corpus[spec.class_names[label]]
            decoded.append(word)
    assert decoded == list(data.info["words"])


def test_charclass_cuts_long_words():
    data = CharClassTask(max_length=4).make_data(0)
    assert data.train.x.shape[1] == 4 and data.train.lengths.max() == 4


def test_corpus_classes_do_not_share_words():
    spec = CharClassTask().spec()
    root = resources.files("rnnlab.plugins.data")
    seen: dict[str, str] = {}
    for name in spec.class_names:
        words = root.joinpath(f"charclass_{name}.txt").read_text("utf-8").split()
        assert len(words) == len(set(words)), name
        for w in words:
            assert seen.setdefault(w, name) == name, f"{w!r} in {seen[w]} and {name}"


def decode(spec, row, n):
    return [spec.vocab[i] for i in row[:n]]


def test_sentiment_negation_flips_the_label():
    task = SentimentTask(samples=400)
    spec = task.spec()
    data = task.make_data(2)
    info = data.info
    y = np.concatenate([data.train.y, data.val.y])
    np.testing.assert_array_equal(y, info["positive_word"] ^ info["negated"])
    assert info["negated"].any() and (~info["negated"]).any()
    positive = set(spec.vocab) & {"good", "great", "wonderful", "lovely"}
    i = 0
    for s in splits(data):
        for row, n, label in zip(s.x, s.lengths, s.y):
            words = decode(spec, row, n)
            assert ("not" in words) == info["negated"][i]
            has_positive = any(w in positive for w in words)
            if has_positive:
                assert label == (not info["negated"][i])
            i += 1


def test_sentiment_reverse_keeps_padding_on_the_right():
    spec = SentimentTask().spec()
    fwd = SentimentTask(samples=100).make_data(4)
    rev = SentimentTask(samples=100, reverse=True).make_data(4)
    for a, b in zip(splits(fwd), splits(rev)):
        np.testing.assert_array_equal(a.lengths, b.lengths)
        np.testing.assert_array_equal(a.y, b.y)
        for ra, rb, n in zip(a.x, b.x, a.lengths):
            assert decode(spec, rb, n) == decode(spec, ra, n)[::-1]
            assert (rb[n:] == spec.padding_idx).all()


def test_sentiment_model_defaults_bidirectional():
    assert SentimentTask.model_defaults["bidirectional"] is True


def test_gradflow_target_is_first_sign():
    task = GradFlowTask(samples=300, length=50, noise=0.3)
    for s in splits(task.make_data(5)):
        assert s.x.shape[1] == 50
        np.testing.assert_array_equal(np.abs(s.x[:, 0, 0]), 1.0)
        np.testing.assert_array_equal(s.y, (s.x[:, 0, 0] > 0).astype(np.int64))
        assert 0.2 < s.x[:, 1:].std() < 0.4
    assert 0.3 < task.make_data(5).train.y.mean() < 0.7


def test_gradflow_model_defaults():
    d = GradFlowTask.model_defaults
    assert d["cell"] == "rnn_tanh" and d["num_layers"] == 5 and d["init_scale"] > 1


def test_adding_target_is_the_marked_sum():
    task = AddingTask(samples=300, length=31)
    for s in splits(task.make_data(6)):
        values, marks = s.x[:, :, 0], s.x[:, :, 1]
        assert ((values >= 0) & (values <= 1)).all()
        assert set(np.unique(marks)) == {0.0, 1.0}
        np.testing.assert_array_equal(marks.sum(axis=1), 2)
        np.testing.assert_array_equal(marks[:, :15].sum(axis=1), 1)
        np.testing.assert_allclose(s.y[:, 0], (values * marks).sum(axis=1), rtol=1e-6)


def test_adding_baseline_and_metrics():
    task = AddingTask(samples=4000, length=10)
    y = np.concatenate([task.make_data(0).train.y, task.make_data(1).train.y])
    base = task.metrics(np.ones_like(y), y)
    assert base["mse"] == pytest.approx(task.reference["baseline"], abs=0.01)
    assert base["baseline_ratio"] == pytest.approx(1.0, abs=0.06)
    perfect = task.metrics(y.copy(), y)
    assert perfect == {"mse": 0.0, "baseline_ratio": 0.0, "solved": 1.0}
    assert task.metrics(y + 0.03, y)["solved"] == 1.0
    assert task.metrics(y + 0.05, y)["solved"] == 0.0


def test_copy_targets_are_the_symbols():
    task = CopyTask(samples=100, length=4, delay=6, symbols=5)
    spec = task.spec()
    assert spec.vocab == ("_", ":", "A", "B", "C", "D", "E")
    for s in splits(task.make_data(9)):
        assert s.x.shape[1] == 2 * 4 + 6 + 1
        np.testing.assert_array_equal(s.y[:, -4:], s.x[:, :4] - 2)
        assert (s.y[:, :-4] == spec.ignore_index).all()
        assert (s.x[:, 4:10] == 0).all() and (s.x[:, 10] == 1).all()
        assert (s.x[:, 11:] == 0).all()


def test_copy_metrics_count_only_copied_positions():
    task = CopyTask(length=2, delay=1, symbols=3)
    y = np.full((2, 6), -100)
    y[:, 4:] = [[0, 1], [2, 2]]
    pred = np.eye(3)[np.where(y < 0, 1, y)]  # right everywhere, ignored steps say class 1
    assert task.metrics(pred, y) == {"accuracy": 1.0, "sequence_accuracy": 1.0}
    pred[1, 5] = np.eye(3)[0]
    assert task.metrics(pred, y) == {"accuracy": 0.75, "sequence_accuracy": 0.5}
