"""Sequences and directions on several threads give the same numbers as one thread."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

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


_FAULTS_SCRIPT = """
import resource, sys
import numpy as np
import rnnlab as rl
from rnnlab.engine import config

rl.set_threads(2)
layer = rl.LSTM(32, 128, seed=0)
x = np.random.default_rng(0).standard_normal((50, 32, 32)).astype(np.float32)
for _ in range(3):
    layer(x)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    layer(x)
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10
print(config.keep_freed_memory(), faults)
"""


@pytest.mark.slow
@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="glibc's malloc only")
def test_freed_memory_is_reused_not_faulted_in_again():
    """Forwards on two threads reuse the memory the last call freed: without
    keep_freed_memory each such LSTM forward page-faulted ~800 times here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    res = subprocess.run([sys.executable, "-c", _FAULTS_SCRIPT], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    tuned, faults = res.stdout.split()
    assert tuned == "True"
    assert float(faults) < 50


def test_users_malloc_settings_win(monkeypatch):
    monkeypatch.setattr(config, "_keeps_freed", None)  # decide afresh, under this environment
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    assert config.keep_freed_memory() is False
