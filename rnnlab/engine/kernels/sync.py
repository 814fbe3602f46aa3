"""A spin barrier for threads that share one sequence kernel (nogil, compiled code).

When a layer's hidden units are split over threads (:mod:`rnnlab.engine.parallel`), every
timestep ends with the threads exchanging their part of the new state: each waits until all
have written theirs. A Python lock costs tens of microseconds per wait; this barrier is an
atomic counter in a shared ``int64`` array, polled with the CPU's spin hint and handing the
core back to the OS (``sched_yield``) after a short spin, so a thread waiting for a
preempted partner does not burn its time slice.

``sync (SYNC_SLOTS,) int64``, zeroed before the threads start:

- ``sync[0]``: arrivals so far. Barrier ``k`` (1, 2, ...) is passed once it reaches
  ``k * nthreads``, so the counter never needs resetting.
- ``sync[1]``: non-zero once the group is aborted (a thread failed): every wait returns.

Under ``NUMBA_DISABLE_JIT=1`` there is no unit split (the interpreter holds the GIL), and
these functions fall back to a lock-protected counter so tests of the protocol still run.
"""

from __future__ import annotations

import platform
import threading
import time

import numba
import numpy as np

from ..config import jit

#: Length of a ``sync`` array (one cache line of int64, so no other data shares its line).
SYNC_SLOTS = 8

#: Spins (each a CPU pause hint) before a waiting thread starts yielding its core.
SPINS_BEFORE_YIELD = 4000


def new_sync() -> np.ndarray:
    """A zeroed ``sync`` array for one group of threads."""
    return np.zeros(SYNC_SLOTS, dtype=np.int64)


def abort(sync: np.ndarray) -> None:
    """Release every thread waiting on ``sync`` now and at later barriers."""
    sync[1] = 1


if not numba.config.DISABLE_JIT:
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    _X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "i386")

    def _slot_ptr(context, builder, arr_type, arr, idx):
        array = context.make_array(arr_type)(context, builder, arr)
        return cgutils.get_item_pointer(context, builder, arr_type, array, [idx],
                                        wraparound=False)

    @intrinsic
    def atomic_add(typingctx, arr, idx, value):
        """``old = arr[idx]; arr[idx] += value`` as one sequentially consistent step."""
        if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1):
            return None
        sig = types.int64(arr, types.intp, types.int64)

        def codegen(context, builder, signature, args):
            ptr = _slot_ptr(context, builder, signature.args[0], args[0], args[1])
            return builder.atomic_rmw("add", ptr, args[2], "seq_cst")

        return sig, codegen

    @intrinsic
    def atomic_load(typingctx, arr, idx):
        """``arr[idx]`` read with acquire ordering (sees writes made before a release)."""
        if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1):
            return None
        sig = types.int64(arr, types.intp)

        def codegen(context, builder, signature, args):
            ptr = _slot_ptr(context, builder, signature.args[0], args[0], args[1])
            value = builder.load_atomic(ptr, "acquire", 8)
            return value

        return sig, codegen

    @intrinsic
    def cpu_relax(typingctx):
        """The spin-loop hint (``pause`` on x86; nothing elsewhere)."""
        sig = types.void()

        def codegen(context, builder, signature, args):
            if _X86:
                fn = cgutils.get_or_insert_function(
                    builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
                builder.call(fn, [])
            return context.get_dummy_value()

        return sig, codegen

    @intrinsic
    def os_yield(typingctx):
        """``sched_yield()``: let the OS run another thread on this core."""
        sig = types.void()

        def codegen(context, builder, signature, args):
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
            builder.call(fn, [])
            return context.get_dummy_value()

        return sig, codegen

else:
    _lock = threading.Lock()

    def atomic_add(arr, idx, value):
        with _lock:
            old = int(arr[idx])
            arr[idx] = old + value
        return old

    def atomic_load(arr, idx):
        with _lock:
            return int(arr[idx])

    def cpu_relax():
        pass

    def os_yield():
        time.sleep(0)


@jit
def barrier(sync, k, nthreads):
    """Arrive at barrier ``k`` (1, 2, ... in order) of ``nthreads`` threads and wait for all.

    Writes made by any thread before its arrival are visible to all after the wait.
    """
    if nthreads <= 1:
        return
    atomic_add(sync, 0, 1)
    target = k * nthreads
    spins = 0
    while atomic_load(sync, 0) < target and atomic_load(sync, 1) == 0:
        if spins < SPINS_BEFORE_YIELD:
            cpu_relax()
            spins += 1
        else:
            os_yield()
