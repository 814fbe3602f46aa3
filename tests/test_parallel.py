"""Sequences and directions on several threads give the same numbers as one thread."""

from __future__ import annotations

import os
import platform
import select
import signal
import subprocess
import sys

import numba
import numpy as np
import pytest
from conftest import record_results, train_once

import rnnlab as rl
from rnnlab.engine import cells, config, parallel
from rnnlab.engine.kernels.lstm import lstm_forward


@pytest.fixture(params=["driver", "threads"])
def threads(request, monkeypatch):
    """Force the threaded path even for tiny problems, on 3 threads: the built-in cells' tasks
    in the compiled driver, or (as any cell's) on Python threads. Yields the modes used."""
    if request.param == "driver" and not parallel.drivers_usable():
        pytest.skip("no thread-safe Numba threading layer (or kernels not compiled)")
    if request.param == "threads":
        monkeypatch.setitem(parallel._driver_state, "usable", False)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_WORK", 0)
    monkeypatch.setattr(parallel, "MIN_DRIVER_WORK", 0)
    monkeypatch.setattr(parallel, "MIN_ROWS", 2)
    monkeypatch.setattr(config, "_threads", 3)
    return request.param, record_results(monkeypatch, parallel, "task_mode")


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
    mode, modes = threads
    if cell == "peephole_lstm":  # a plugin cell: always Python threads
        assert not modes
    else:
        assert set(modes) == {mode}
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


def test_read_only_weights_leave_the_driver_for_python_threads(threads, monkeypatch):
    """A read-only weight in one direction would give the driver's tuples two Numba types;
    such calls run on Python threads instead, with the same numbers."""
    rng = np.random.default_rng(4)
    layer = rl.LSTM(3, 5, bidirectional=True, dtype=np.float64, seed=3)
    x = rng.standard_normal((6, 8, 3))
    expected = layer(x)[0]
    w = layer.weight_hh_l0_reverse.data.copy()
    w.flags.writeable = False
    layer.weight_hh_l0_reverse.data = w
    calls = []
    real = parallel.DRIVERS[lstm_forward]
    monkeypatch.setitem(parallel.DRIVERS, lstm_forward, lambda *a: calls.append(a) or real(*a))
    np.testing.assert_allclose(layer(x)[0], expected, rtol=1e-13, atol=1e-15)
    assert not calls


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_runs_threaded_layers(threads):
    """After a fork the parent's pool threads are gone and GNU OpenMP must not be entered: a
    child still gets the right numbers, on fresh Python threads."""
    rng = np.random.default_rng(5)
    layer = rl.GRU(3, 5, bidirectional=True, dtype=np.float64, seed=3)
    x = rng.standard_normal((6, 8, 3))
    expected = layer(x)[0]  # starts the parent's threads (or Numba's)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running pytest's teardown
        code = 1
        try:
            code = 0 if np.allclose(layer(x)[0], expected, rtol=1e-13, atol=1e-15) else 2
        finally:
            os.write(write, bytes([code]))
            os._exit(code)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 120)
        assert ready, "the forked child hung"
        assert os.read(read, 1) == b"\x00"
    finally:
        os.close(read)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_no_driver_when_numba_is_held_to_one_thread(monkeypatch):
    """With NUMBA_NUM_THREADS=1 a driver would run its calls one after another: the layer
    keeps Python threads then."""
    monkeypatch.setitem(parallel._driver_state, "usable", None)
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 1)
    monkeypatch.setattr(config, "_threads", 2)
    assert not parallel.drivers_usable()
    assert parallel.task_mode(2, 10**12) == "threads"


def test_chunks_cover_the_batch_once(monkeypatch):
    monkeypatch.setattr(config, "_threads", 4)
    for batch in (4, 7, 8, 33):
        chunks = parallel.batch_chunks(batch, 1, 1e9)
        covered = np.concatenate([np.arange(batch)[c] for c in chunks])
        np.testing.assert_array_equal(covered, np.arange(batch))
        assert all(c.stop - c.start >= min(parallel.MIN_ROWS, batch) for c in chunks)
    assert parallel.batch_chunks(64, 1, 10) == [slice(0, 64)]


def test_a_weight_larger_than_l2_splits_units_not_sequences(monkeypatch):
    monkeypatch.setattr(config, "_threads", 2)
    monkeypatch.setattr(parallel, "L2_BYTES", 2 << 20)
    big, small = 3 << 20, 1 << 20
    assert parallel.batch_chunks(32, 1, 1e9, True, big) == [slice(0, 32)]
    assert parallel.batch_chunks(32, 1, 1e9, True, 2 << 20) == [slice(0, 32)]  # fills L2
    assert len(parallel.batch_chunks(32, 1, 1e9, True, (2 << 20) - 4)) == 2
    assert len(parallel.batch_chunks(32, 1, 1e9, True, small)) == 2
    assert len(parallel.batch_chunks(32, 1, 1e9, False, big)) == 2  # a plugin cell's tasks
    monkeypatch.setattr(parallel, "L2_BYTES", 0)  # unknown: chunks as before
    assert len(parallel.batch_chunks(32, 1, 1e9, True, big)) == 2


@pytest.mark.parametrize(("cell", "options", "splits"), [
    ("lstm", {}, True), ("gru", {}, True), ("rnn_tanh", {}, True),
    ("lstm", {"proj_size": 8}, False)])
@pytest.mark.parametrize("input_size", [10, 40])
def test_layers_give_their_step_weight_only_if_their_cell_splits_units(cell, options, splits,
                                                                       input_size):
    layer = rl.Recurrent(cell, input_size, 16, num_layers=2, seed=0, **options)
    params = dict(layer.named_parameters())

    def step_bytes(k):  # the input weight counts when the step product takes the input in
        w_ih, w_hh = params[f"weight_ih_l{k}"].data, params[f"weight_hh_l{k}"].data
        return w_hh.nbytes + (w_ih.nbytes if w_ih.shape[1] <= w_hh.shape[1] else 0)

    want = max(step_bytes(0), step_bytes(1)) if splits else 0
    assert layer._step_weight_bytes == want


def test_a_two_layer_lstm_256_reads_exactly_2_mib_a_step():
    """The case the L2 rule's ``>=`` is for: this layer's step weight is exactly a 2 MiB L2."""
    assert rl.LSTM(256, 256, num_layers=2)._step_weight_bytes == 2 << 20


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="interpreted kernels never split units")
def test_a_weight_beyond_l2_takes_the_unit_split_end_to_end(monkeypatch):
    for name in ("MIN_SPLIT_STEP_WORK", "MIN_SPLIT_WORK", "MIN_PARALLEL_WORK",
                 "MIN_DRIVER_WORK"):
        monkeypatch.setattr(parallel, name, 0)
    monkeypatch.setattr(parallel, "MIN_SPLIT_UNITS", 8)
    monkeypatch.setattr(config, "_threads", 2)
    plans = record_results(monkeypatch, cells, "step_plan")
    rng = np.random.default_rng(0)
    layer = rl.LSTM(3, 16, dtype=np.float64, seed=0)
    x = rng.standard_normal((6, 8, 3))
    lengths = np.array([6, 1, 3, 6, 2, 5, 4, 6])
    results = {}
    for l2 in (1 << 30, 1024):  # the weight fits in L2, then it does not
        monkeypatch.setattr(parallel, "L2_BYTES", l2)
        plans.clear()
        results[l2] = layer(x, lengths=lengths)
        results[l2] = (results[l2][0], *results[l2][1])
        assert [p.n for p in plans] == ([1, 1] if l2 > 1024 else [2])  # 2 chunks, or units
    for got, want in zip(results[1024], results[1 << 30]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_l2_size_is_read_from_the_cache_description(tmp_path):
    from rnnlab.engine.config import _l2_cache_bytes

    def level(name, lvl, kind, size):
        d = tmp_path / name
        d.mkdir()
        (d / "level").write_text(f"{lvl}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")

    assert _l2_cache_bytes(tmp_path / "missing") == 0
    level("index0", 1, "Data", "48K")
    level("index1", 1, "Instruction", "32K")
    assert _l2_cache_bytes(tmp_path) == 0
    level("index2", 2, "Unified", "2048K")
    assert _l2_cache_bytes(tmp_path) == 2048 * 1024
    (tmp_path / "index2" / "size").write_text("1M\n")
    assert _l2_cache_bytes(tmp_path) == 1 << 20
    (tmp_path / "index2" / "size").write_text("garbage\n")
    assert _l2_cache_bytes(tmp_path) == 0


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
