"""Hidden units split over threads that meet at a spin barrier give the serial numbers; the
barrier orders writes, and a failing thread never leaves its partners waiting."""

from __future__ import annotations

import itertools
import threading

import numba
import numpy as np
import pytest
from conftest import BUILTIN_CELLS, force_unit_split, train_once

import rnnlab as rl
from rnnlab.engine import config, parallel
from rnnlab.engine.config import jit
from rnnlab.engine.kernels.sync import barrier, new_sync

needs_jit = pytest.mark.skipif(numba.config.DISABLE_JIT,
                               reason="interpreted kernels never split their units")


@pytest.fixture
def split_everything(monkeypatch):
    """Unit split for any size, on 3 threads; directions and chunks one after another."""
    force_unit_split(monkeypatch, threads=3, min_units=16)
    groups = []
    real = parallel.Launch.run

    def counting(launch):
        groups.append(launch.plan.n)
        return real(launch)

    monkeypatch.setattr(parallel.Launch, "run", counting)
    return groups


def _flat(*items):
    return [a for item in items for a in (item if isinstance(item, tuple) else (item,))]


def _run(layer, x, lengths, dout, dh):
    out, hn, dx, dh0, grads, traces = train_once(layer, x, lengths, dout, dh)
    return _flat(out, hn, dx, dh0), grads, traces


@needs_jit
@pytest.mark.parametrize("cell", BUILTIN_CELLS)
@pytest.mark.parametrize("batch", [1, 3])
def test_split_matches_serial(split_everything, monkeypatch, cell, batch):
    rng = np.random.default_rng(3)
    T, I, H = 7, 5, 56  # units split 16 + 16 + 24: not all multiples of the vector width
    layer = rl.Recurrent(cell, I, H, num_layers=2, bidirectional=True, dtype=np.float64,
                         seed=2)
    x = rng.standard_normal((T, batch, I))
    lengths = np.array([T, 2, 5][:batch])
    out, hn = layer(x, lengths=lengths)
    dout = rng.standard_normal(out.shape)
    dh = tuple(rng.standard_normal(h.shape) for h in hn) if isinstance(hn, tuple) else \
        rng.standard_normal(hn.shape)
    split_everything.clear()
    split = _run(layer, x, lengths, dout, dh)
    assert split_everything and set(split_everything) == {3}
    monkeypatch.setattr(config, "_threads", 1)
    split_everything.clear()
    serial = _run(layer, x, lengths, dout, dh)
    assert set(split_everything) == {1}
    for a, b in zip(split[0], serial[0]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    for name in serial[1]:
        np.testing.assert_allclose(split[1][name], serial[1][name], rtol=1e-12, atol=1e-13,
                                   err_msg=name)
    for t1, t2 in zip(split[2], serial[2]):
        assert set(t1) == set(t2)
        for key in t2:
            np.testing.assert_allclose(t1[key], t2[key], rtol=1e-12, atol=1e-13, err_msg=key)


@needs_jit
def test_projection_never_splits(split_everything):
    layer = rl.LSTM(3, 40, proj_size=8, dtype=np.float64, seed=0)
    out, _ = layer(np.ones((4, 1, 3)))
    layer.backward(np.ones_like(out))
    assert set(split_everything) == {1}


def test_unit_threads_thresholds(monkeypatch):
    monkeypatch.setattr(config, "_threads", 2)
    big = parallel.MIN_SPLIT_WORK
    expect_split = 1 if numba.config.DISABLE_JIT else 2
    assert parallel.unit_threads(512, 50, 4 * 512 * 512) == expect_split
    assert parallel.unit_threads(512, 1, parallel.MIN_SPLIT_STEP_WORK) == 1  # too little
    assert parallel.unit_threads(32, 10**6, big) == 1  # one thread's worth of units
    monkeypatch.setattr(parallel._local, "budget", 1, raising=False)
    assert parallel.unit_threads(512, 50, 4 * 512 * 512) == 1  # inside a run_all task


@pytest.mark.parametrize("hidden, n", [(40, 3), (512, 2), (100, 2), (7, 2), (64, 4), (20, 2)])
def test_unit_ranges_cover_the_units_once(hidden, n):
    ranges = parallel.unit_ranges(hidden, n)
    assert len(ranges) == n
    assert ranges[0][0] == 0 and ranges[-1][1] == hidden
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert all(j1 > j0 for j0, j1 in ranges)
    if hidden >= 16 * n:
        assert all(j0 % 16 == 0 for j0, _ in ranges)


@jit
def _exchange(sync, tid, n, slots, rounds):
    """Each round every thread writes its slot then reads all others after a barrier."""
    seen = 0
    for k in range(1, rounds + 1):
        slots[tid] = k
        barrier(sync, 2 * k - 1, n)
        for other in range(n):
            if slots[other] >= k:
                seen += 1
        barrier(sync, 2 * k, n)  # nobody writes round k + 1 before all have read round k
    return seen


def test_barrier_orders_writes():
    n, rounds = 2, 300 if numba.config.DISABLE_JIT else 20000
    sync, slots = new_sync(), np.zeros(n, dtype=np.int64)
    seen = parallel.run_split(lambda k: _exchange(sync, k, n, slots, rounds), n, sync)
    assert seen == [n * rounds] * n


def test_a_failing_thread_releases_its_partners():
    sync = new_sync()
    slots = np.zeros(2, dtype=np.int64)

    def work(k):
        if k == 1:
            raise RuntimeError("partner failed")
        return _exchange(sync, 0, 2, slots, 50)

    outcome = []

    def call():
        try:
            parallel.run_split(work, 2, sync)
        except RuntimeError as err:
            outcome.append(str(err))

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive(), "a thread kept waiting for a partner that had failed"
    assert outcome == ["partner failed"]
