"""rnnlab's own threads. Two ways to use the cores for one layer:

- **Across sequences and directions** (:func:`batch_chunks`, :func:`run_all`): independent
  tasks, no synchronisation inside the time loop. Fits many sequences or two directions.
- **Across hidden units** (:func:`unit_threads`, :func:`run_split`): the threads share one
  sequence, each owning a slice of the units of every gate and a slice of the recurrent
  weight, and meet at a spin barrier each timestep (:mod:`.kernels.sync`). Fits one
  direction of few sequences with a large weight (batch 1, hidden 512), where nothing else
  could be split and each core then streams only its half of the weight.

The kernels release the GIL, so plain Python threads run them in parallel. BLAS stays
single-threaded (:func:`~.config.limit_blas`). Tasks started by :func:`run_all` run with a
budget of one thread, so a cell never splits its units while its siblings are running.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import TypeVar

import numba

from .config import get_threads
from .kernels.sync import abort

T = TypeVar("T")
R = TypeVar("R")

#: multiply-adds of one call below which threads cost more than they save. A hand-off
#: costs ~0.2 ms on a 2-vCPU VM: the worker starts ~70 us after the submit and the caller
#: returns 90-160 us after the tasks end (each thread waking from a sleep, for the GIL or a
#: future). Measured, two chunks against one at 50 steps: LSTM hidden 32, batch 32 (13.5M)
#: 0.93x forward; GRU hidden 64, batch 16 (15M) 1.04x; LSTM hidden 64, batch 16 (20M) 1.23x
MIN_PARALLEL_WORK = 20_000_000
#: fewest sequences per chunk: thinner chunks run the recurrent product inefficiently
MIN_ROWS = 4
#: recurrent multiply-adds per step below which a unit split's barrier (~1 us) costs more
#: than it saves, and of one call below which its hand-off does (measured break-even near
#: LSTM hidden 128, batch 1: 50 steps no gain, 200 steps 1.3x)
MIN_SPLIT_STEP_WORK = 40_000
MIN_SPLIT_WORK = 8_000_000
#: fewest hidden units per thread of a unit split
MIN_SPLIT_UNITS = 32

_pools: dict[str, tuple[ThreadPoolExecutor, int]] = {}
_pool_lock = threading.Lock()


class _Local(threading.local):
    budget: int | None = None  # a class default: no failed lookup (slow) on each read


_local = _Local()


def budget() -> int:
    """Threads the calling task may use: all of them, or 1 inside a :func:`run_all` task."""
    return _local.budget or get_threads()


def batch_chunks(batch: int, directions: int, work: float) -> list[slice]:
    """Split ``batch`` sequences into contiguous chunks so ``chunks x directions`` tasks keep
    the configured threads busy; one chunk when ``work`` (multiply-adds) is small or the
    batch too thin to split (a built-in cell then splits its units instead).

    Measured at batch 8 and 32: splitting the sequences was as fast as or faster than
    splitting the units (LSTM, GRU inference, Elman RNN), except GRU training (0.9x)."""
    threads = budget()
    if threads <= directions or work < MIN_PARALLEL_WORK:
        return [slice(0, batch)]
    n = max(1, min(-(-threads // directions), batch // MIN_ROWS))
    bounds = [round(i * batch / n) for i in range(n + 1)]
    return [slice(a, b) for a, b in pairwise(bounds)]


def unit_threads(hidden: int, steps: int, step_work: float) -> int:
    """Threads to split ``hidden`` units over for one call of ``steps`` timesteps with
    ``step_work`` recurrent multiply-adds per step (1: no split)."""
    if numba.config.DISABLE_JIT:
        return 1  # interpreted kernels hold the GIL: a spin barrier would only stall
    n = min(budget(), hidden // MIN_SPLIT_UNITS)
    if n <= 1 or step_work < MIN_SPLIT_STEP_WORK or steps * step_work < MIN_SPLIT_WORK:
        return 1
    return n


def unit_ranges(hidden: int, n: int) -> list[tuple[int, int]]:
    """``n`` contiguous, non-empty ranges ``(j0, j1)`` covering ``hidden >= n`` units, starting
    at multiples of 16 where possible (whole 64-byte vectors of float32)."""
    if n <= 1:
        return [(0, hidden)]
    bounds = [min(hidden, round(i * hidden / n / 16) * 16) for i in range(n)] + [hidden]
    if any(a >= b for a, b in pairwise(bounds)):
        bounds = [round(i * hidden / n) for i in range(n + 1)]
    return list(pairwise(bounds))


def run_split(fn: Callable[[int], R], n: int, sync) -> list[R]:
    """``[fn(k) for k in range(n)]`` with every call on its own thread at the same time, as
    a unit split needs (its threads wait for each other at barriers on ``sync``); ``fn(0)``
    runs on the caller.

    A call that raises marks ``sync`` aborted, so its partners stop waiting for it (their
    results are then garbage); the first exception is re-raised after all have returned.
    """
    if n <= 1:
        return [fn(0)]

    def guarded(k: int) -> R:
        try:
            return fn(k)
        except BaseException:
            abort(sync)
            raise

    pool = _executor(n - 1, "rnnlab-split")
    futures = [pool.submit(guarded, k) for k in range(1, n)]
    try:
        first = guarded(0)
    finally:
        rest = [f.exception() for f in futures]
    for err in rest:
        if err is not None:
            raise err
    return [first, *(f.result() for f in futures)]


def run_all(fn: Callable[[T], R], tasks: Sequence[T], work: float) -> list[R]:
    """``[fn(t) for t in tasks]``, on up to :func:`budget` threads when it pays; each task
    then runs with a budget of one thread."""
    threads = min(budget(), len(tasks))
    if threads <= 1 or work < MIN_PARALLEL_WORK:
        return [fn(t) for t in tasks]
    pool = _executor(threads - 1)
    futures = [pool.submit(_single, fn, t) for t in tasks[1:]]
    first = _single(fn, tasks[0])
    return [first, *(f.result() for f in futures)]


def _single(fn: Callable[[T], R], task: T) -> R:
    saved = _local.budget
    _local.budget = 1
    try:
        return fn(task)
    finally:
        _local.budget = saved


def _executor(workers: int, kind: str = "rnnlab") -> ThreadPoolExecutor:
    """The pool ``kind`` with at least ``workers`` threads. Unit splits have a pool of their
    own (``"rnnlab-split"``): a split's partners must never queue behind :func:`run_all`
    tasks."""
    with _pool_lock:
        pool, size = _pools.get(kind, (None, 0))
        if pool is None or size < workers:
            if pool is not None:
                pool.shutdown(wait=False)
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=kind)
            _pools[kind] = (pool, workers)
        return pool
