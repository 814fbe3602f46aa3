"""The pool of large arrays: reuse only what nothing refers to any more."""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

import rnnlab as rl
from rnnlab.engine import buffers

F32 = np.dtype(np.float32)


@pytest.fixture
def small_pool(monkeypatch):
    """Pool arrays from 4 KiB on, keep at most 64 KiB free; an empty pool before and after."""
    monkeypatch.setattr(buffers, "LARGE_BYTES", 4096)
    monkeypatch.setattr(buffers, "MAX_FREE_BYTES", 64 << 10)
    buffers.release_free()
    yield
    buffers.release_free()


def test_small_arrays_are_plain(small_pool):
    a = buffers.empty((10, 3), F32)
    assert a.shape == (10, 3) and a.dtype == F32 and a.flags.owndata
    del a
    assert buffers.free_bytes() == 0


def test_large_array_shape_layout_and_reuse(small_pool):
    a = buffers.empty((4, 8, 64), F32)
    assert a.shape == (4, 8, 64) and a.dtype == F32
    assert a.flags.c_contiguous and a.flags.writeable and a.ctypes.data % 64 == 0
    addr = a.ctypes.data
    del a
    assert buffers.free_bytes() >= 4 * 8 * 64 * 4
    b = buffers.empty((8, 4, 64), F32)  # the same size: the freed block again
    assert b.ctypes.data == addr
    assert buffers.free_bytes() == 0


def test_a_live_view_keeps_the_memory(small_pool):
    a = buffers.empty((16, 256), F32)
    a[...] = 7.0
    view = a[3:5].reshape(-1)[::2]
    del a
    gc.collect()
    assert buffers.free_bytes() == 0  # the view still uses it
    b = buffers.empty((16, 256), F32)
    b[...] = -1.0
    assert np.all(view == 7.0)
    del view
    assert buffers.free_bytes() >= 16 * 256 * 4


def test_sizes_far_apart_do_not_share(small_pool):
    a = buffers.empty((16, 256), F32)  # 16 KiB
    del a
    b = buffers.empty((4, 256), F32)  # 4 KiB: less than half of the free block
    assert buffers.free_bytes() >= 16 * 256 * 4
    c = buffers.empty((20, 256), F32)  # larger than the free block
    assert buffers.free_bytes() >= 16 * 256 * 4
    del b, c


def test_free_memory_is_capped(small_pool):
    arrays = [buffers.empty((16, 256), F32) for _ in range(6)]  # 6 x 16 KiB
    del arrays
    assert 0 < buffers.free_bytes() <= 64 << 10


def test_zeros_are_zero_on_reused_memory(small_pool):
    a = buffers.empty((16, 256), F32)
    a[...] = np.nan
    del a
    z = buffers.zeros((16, 256), F32)
    assert buffers.free_bytes() == 0 and not np.any(z)
    assert not np.any(buffers.zeros((3, 4), F32))


def test_a_block_larger_than_the_cap_is_not_kept(small_pool):
    kept = [buffers.empty((16, 256), F32) for _ in range(2)]  # 2 x 16 KiB
    del kept
    held = buffers.free_bytes()
    assert held > 0
    big = buffers.empty((80, 256), F32)  # 80 KiB: more than the cap on its own
    del big
    assert buffers.free_bytes() == held


def test_a_held_memoryview_keeps_the_memory(small_pool):
    a = buffers.empty((16, 256), F32)
    mv = a.base.base
    del a
    gc.collect()
    assert buffers.free_bytes() == 0
    del mv
    assert buffers.free_bytes() > 0


def test_threads_allocating_and_freeing_never_share_memory(small_pool):
    """Four threads take and drop pooled arrays (finalisers then run on any of them); no
    two live arrays may overlap, and each keeps what it was given."""
    errors = []

    def work(k):
        rng = np.random.default_rng(k)
        live = []
        for i in range(300):
            a = buffers.empty((int(rng.integers(4, 24)), 256), F32)
            a.fill(k * 1000 + i)
            live.append((a, k * 1000 + i))
            if len(live) > 3:
                b, v = live.pop(int(rng.integers(0, len(live))))
                if not np.all(b == v):
                    errors.append((k, i))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_layer_results_and_traces_survive_reuse(small_pool, rng, monkeypatch):
    """A GRU's outputs and caches come from the pool here: a second training step on other
    data, of the same shapes, gets other memory while the first one's output and a trace
    of it are held, and leaves them as they were; pooled and plain runs agree."""
    xs = rng.standard_normal((2, 20, 6, 5)).astype(np.float32)
    dout = rng.standard_normal((20, 6, 16)).astype(np.float32)

    def step(layer, x):
        layer.zero_grad()
        y, _ = layer(x)
        dx, _ = layer.backward(dout)
        return y, dx, layer.weight_hh_l0.grad.copy()

    pooled = rl.GRU(5, 16, seed=3)
    y1, dx1, g1 = step(pooled, xs[0])
    assert y1.nbytes >= buffers.LARGE_BYTES  # so the test exercises the pool
    gates = pooled.trace()["gates"]
    kept_y, kept_gates = y1.copy(), gates.copy()
    y2, dx2, g2 = step(pooled, xs[1])
    assert not np.shares_memory(y1, y2) and not np.shares_memory(gates, pooled.trace()["gates"])
    np.testing.assert_array_equal(y1, kept_y)
    np.testing.assert_array_equal(gates, kept_gates)

    monkeypatch.setattr(buffers, "LARGE_BYTES", 1 << 62)  # nothing pooled
    plain = rl.GRU(5, 16, seed=3)
    for x, want in zip(xs, ((y1, dx1, g1), (y2, dx2, g2))):
        for got, w in zip(step(plain, x), want):
            np.testing.assert_array_equal(got, w)
