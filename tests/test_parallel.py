"""Sequences and directions on several threads give the same numbers as one thread."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import train_once

import rnnlab as rl
from rnnlab.engine import config, parallel


@pytest.fixture
def threads(monkeypatch):
    """Force the threaded path even for tiny problems, on 3 threads."""
    monkeypatch.setattr(parallel, "MIN_PARALLEL_WORK", 0)
    monkeypatch.setattr(parallel, "MIN_ROWS", 2)
    monkeypatch.setattr(config, "_threads", 3)


@pytest.mark.parametrize("cell, kw", [
    ("lstm", dict(num_layers=2, bidirectional=True, proj_size=3)),
    ("lstm", dict(batch_first=True)),
    ("gru", dict(num_layers=2, bidirectional=True)),
    ("rnn_tanh", dict(bidirectional=True)),
    ("peephole_lstm", dict(bidirectional=True)),
])
def test_threaded_path_matches_serial(threads, monkeypatch, cell, kw):
    rng = np.random.default_rng(0)
    T, B = 6, 9
    layer = rl.Recurrent(cell, 3, 5, dtype=np.float64, seed=1, **kw)
    x = rng.standard_normal((B, T, 3) if kw.get("batch_first") else (T, B, 3))
    lengths = rng.integers(1, T + 1, B)
    out, hn = layer(x, lengths=lengths)
    dout = rng.standard_normal(out.shape)
    dh = tuple(rng.standard_normal(h.shape) for h in hn) if isinstance(hn, tuple) else \
        rng.standard_normal(hn.shape)
    threaded = train_once(layer, x, lengths, dout, dh)
    assert len(layer._chunks) > 1
    monkeypatch.setattr(config, "_threads", 1)
    serial = train_once(layer, x, lengths, dout, dh)
    assert len(layer._chunks) == 1
    for a, b in zip(threaded[:4], serial[:4]):
        for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
            np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14)
    for name in serial[4]:
        np.testing.assert_allclose(threaded[4][name], serial[4][name], rtol=1e-12, atol=1e-14,
                                   err_msg=name)
    for t1, t2 in zip(threaded[5], serial[5]):
        assert set(t1) == set(t2)
        for key in t2:
            np.testing.assert_allclose(t1[key], t2[key], rtol=1e-12, atol=1e-14, err_msg=key)


def test_chunks_cover_the_batch_once(monkeypatch):
    monkeypatch.setattr(config, "_threads", 4)
    for batch in (4, 7, 8, 33):
        chunks = parallel.batch_chunks(batch, 1, 1e9)
        covered = np.concatenate([np.arange(batch)[c] for c in chunks])
        np.testing.assert_array_equal(covered, np.arange(batch))
        assert all(c.stop - c.start >= min(parallel.MIN_ROWS, batch) for c in chunks)
    assert parallel.batch_chunks(64, 1, 10) == [slice(0, 64)]


def test_traces_are_read_only(threads):
    layer = rl.LSTM(3, 4, seed=0)
    layer(np.ones((5, 8, 3), np.float32))
    h = layer.trace()["h"]
    with pytest.raises(ValueError, match="read-only"):
        h[0, 0, 0] = 1.0


def test_set_threads_validates():
    with pytest.raises(ValueError, match=r"threads: expected an integer in 1\.\."):
        rl.set_threads(0)
    with pytest.raises(ValueError, match="threads: expected an integer"):
        rl.set_threads("two")
