"""Large arrays whose memory is reused from call to call instead of being mapped afresh.

glibc's malloc serves blocks of 32 MiB and more (its largest threshold, see
:func:`~.config.keep_freed_memory`) with a fresh mapping each time, so a forward that
keeps such a buffer (a GRU's gates at hidden 512, batch 32, 200 steps: 39 MB) page-faults
through it and has the system zero it on every call: ~6 ms of a 150 ms training step
there. :func:`empty` hands out such arrays from memory kept when an earlier one was freed.
"""

from __future__ import annotations

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

_free: list[np.ndarray] = []  # free blocks (uint8), oldest first
# reentrant: a finaliser may run inside a locked section (the garbage collector may start at
# any allocation)
_lock = threading.RLock()


def empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``np.empty(shape, dtype)``, C-contiguous; from :data:`LARGE_BYTES` on its memory is a
    freed array's, 64-byte aligned, when one of at least its size (and at most twice it) is
    free. The memory goes back to the pool once the array and every view of it are gone."""
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < LARGE_BYTES:
        return np.empty(shape, dtype)
    block = _take(nbytes)
    if block is None:
        block = np.empty(nbytes + _ALIGN, np.uint8)
    off = -block.ctypes.data % _ALIGN
    # a memoryview between block and owner: views of the owner keep it (not the block) as
    # their base, so its finaliser runs only once the last of them is gone
    owner = np.frombuffer(memoryview(block)[off:off + nbytes], dtype=dtype)
    weakref.finalize(owner, _give_back, block).atexit = False
    return owner.reshape(shape)


def zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``np.zeros(shape, dtype)`` with :func:`empty`'s memory."""
    if math.prod(shape) * dtype.itemsize < LARGE_BYTES:
        return np.zeros(shape, dtype)
    a = empty(shape, dtype)
    a.fill(0)
    return a


def _take(nbytes: int) -> np.ndarray | None:
    """The smallest free block that holds ``nbytes`` (plus alignment) and is at most twice
    that, removed from the pool; ``None`` if there is none."""
    with _lock:
        best = None
        for block in list(_free):
            if nbytes + _ALIGN <= block.nbytes <= 2 * nbytes and (
                    best is None or block.nbytes < best.nbytes):
                best = block
        if best is not None:
            for i, block in enumerate(_free):
                if block is best:
                    del _free[i]
                    break
        return best


def _give_back(block: np.ndarray) -> None:
    with _lock:
        _free.append(block)
        total = sum(b.nbytes for b in _free)
        while total > MAX_FREE_BYTES and _free:
            total -= _free.pop(0).nbytes


def free_bytes() -> int:
    """Bytes the pool holds for reuse."""
    with _lock:
        return sum(b.nbytes for b in _free)


def release_free() -> None:
    """Give every free block back to the system."""
    with _lock:
        _free.clear()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.RLock()  # another thread of the parent may have held it


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
