"""The pool of large arrays: reuse only what nothing refers to any more."""

from __future__ import annotations

import gc

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


def test_layer_results_and_traces_survive_reuse(small_pool, rng, monkeypatch):
    """A GRU's outputs and caches come from the pool here: a trace held from the first
    training step keeps its values through the second, and pooled and plain runs agree."""
    x = rng.standard_normal((20, 6, 5)).astype(np.float32)
    dout = rng.standard_normal((20, 6, 16)).astype(np.float32)

    def step(layer):
        layer.zero_grad()
        y, _ = layer(x)
        dx, _ = layer.backward(dout)
        return y, dx, layer.weight_hh_l0.grad.copy()

    pooled = rl.GRU(5, 16, seed=3)
    y1, dx1, g1 = step(pooled)
    gates = pooled.trace()["gates"]
    kept = gates.copy()
    y2, dx2, g2 = step(pooled)
    np.testing.assert_array_equal(gates, kept)
    for a, b in ((y1, y2), (dx1, dx2), (g1, g2)):
        np.testing.assert_array_equal(a, b)

    monkeypatch.setattr(buffers, "LARGE_BYTES", 1 << 62)  # nothing pooled
    y3, dx3, g3 = step(rl.GRU(5, 16, seed=3))
    for a, b in ((y1, y3), (dx1, dx3), (g1, g3)):
        np.testing.assert_array_equal(a, b)
