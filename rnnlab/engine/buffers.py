"""Large arrays whose memory is reused from call to call instead of being mapped afresh.

glibc's malloc serves blocks of 32 MiB and more (its largest threshold, see
:func:`~.config.keep_freed_memory`) with a fresh mapping each time, so a forward that
keeps such a buffer (a GRU's gates at hidden 512, batch 32, 200 steps: 39 MB) page-faults
through it and has the system zero it on every call: ~6 ms of a 150 ms training step
there. :func:`empty` hands out such arrays from memory kept when an earlier one was freed.
"""

from __future__ import annotations

import collections
import math
import os
import threading
import weakref

import numpy as np

#: arrays from this size on come from the pool (smaller ones stay on glibc's heap)
LARGE_BYTES = 32 << 20
#: free memory the pool keeps at most; the oldest blocks beyond it are released
MAX_FREE_BYTES = 256 << 20
_ALIGN = 64

_free: list[np.ndarray] = []  # free blocks (uint8), oldest first; only under _lock
# blocks whose arrays are gone, not yet in _free: a finaliser may run on any thread and
# inside a locked section (the garbage collector may start at any allocation), so it only
# appends here (atomic) and the locked functions move the blocks over
_returned: collections.deque[np.ndarray] = collections.deque()
_lock = threading.Lock()


def empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``np.empty(shape, dtype)``, C-contiguous; from :data:`LARGE_BYTES` on its memory is a
    freed array's, 64-byte aligned, when one of at least its size (and at most twice it) is
    free. The memory goes back to the pool once the array and every view of it are gone."""
    if not isinstance(dtype, np.dtype):
        dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < LARGE_BYTES:
        return np.empty(shape, dtype)
    block = _take(nbytes)
    if block is None:
        block = np.empty(nbytes + _ALIGN, np.uint8)
    off = -block.ctypes.data % _ALIGN
    owner = np.frombuffer(memoryview(block)[off:off + nbytes], dtype=dtype)
    # owner.base is numpy's memoryview of the block, which owner keeps, as every view of
    # owner keeps owner: it dies last (also if someone holds it after the arrays), and then
    # the block is free
    weakref.finalize(owner.base, _returned.append, block).atexit = False
    return owner.reshape(shape)


def zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``np.zeros(shape, dtype)`` with :func:`empty`'s memory."""
    a = empty(shape, dtype)
    a.fill(0)
    return a


def copy(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``a`` with :func:`empty`'s memory."""
    out = empty(a.shape, a.dtype)
    out[...] = a
    return out


def _collect() -> None:
    """Move the returned blocks into the pool, then release the oldest ones beyond
    :data:`MAX_FREE_BYTES` (a block larger than that on its own is not kept). Under
    ``_lock``."""
    while _returned:
        block = _returned.popleft()
        if block.nbytes <= MAX_FREE_BYTES:
            _free.append(block)
    total = sum(b.nbytes for b in _free)
    while total > MAX_FREE_BYTES:
        total -= _free.pop(0).nbytes


def _take(nbytes: int) -> np.ndarray | None:
    """The smallest free block that holds ``nbytes`` (plus alignment) and is at most twice
    that, removed from the pool; ``None`` if there is none."""
    with _lock:
        _collect()
        best = -1
        for i, block in enumerate(_free):
            if nbytes + _ALIGN <= block.nbytes <= 2 * nbytes and (
                    best < 0 or block.nbytes < _free[best].nbytes):
                best = i
        return None if best < 0 else _free.pop(best)


def free_bytes() -> int:
    """Bytes the pool holds for reuse."""
    with _lock:
        _collect()
        return sum(b.nbytes for b in _free)


def release_free() -> None:
    """Give every free block back to the system."""
    with _lock:
        _returned.clear()
        _free.clear()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread of the parent may have held it


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
