"""rnnlab's own threads: independent sequences and directions of a layer run concurrently.

The kernels release the GIL, so plain Python threads run them in parallel with no
synchronisation inside the time loop (a parallel region per timestep costs more than it
gains at these sizes). BLAS stays single-threaded (:func:`~.config.limit_blas`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import TypeVar

from .config import get_threads

T = TypeVar("T")
R = TypeVar("R")

#: multiply-adds of one call below which threads cost more than they save: a hand-off
#: costs ~0.1 ms, measured break-even near LSTM hidden 32, batch 32, 50 steps (13M)
MIN_PARALLEL_WORK = 20_000_000
#: fewest sequences per chunk: thinner chunks run the recurrent product inefficiently
MIN_ROWS = 4

_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def batch_chunks(batch: int, directions: int, work: float) -> list[slice]:
    """Split ``batch`` sequences into contiguous chunks so ``chunks x directions`` tasks keep
    the configured threads busy; one chunk when ``work`` (multiply-adds) is small."""
    threads = get_threads()
    if threads <= directions or work < MIN_PARALLEL_WORK:
        return [slice(0, batch)]
    n = max(1, min(-(-threads // directions), batch // MIN_ROWS))
    bounds = [round(i * batch / n) for i in range(n + 1)]
    return [slice(a, b) for a, b in pairwise(bounds)]


def run_all(fn: Callable[[T], R], tasks: Sequence[T], work: float) -> list[R]:
    """``[fn(t) for t in tasks]``, on up to :func:`get_threads` threads when it pays."""
    threads = min(get_threads(), len(tasks))
    if threads <= 1 or work < MIN_PARALLEL_WORK:
        return [fn(t) for t in tasks]
    pool = _executor(threads - 1)
    futures = [pool.submit(fn, t) for t in tasks[1:]]
    first = fn(tasks[0])
    return [first, *(f.result() for f in futures)]


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    if _pool is None or _pool_size < workers:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rnnlab")
        _pool_size = workers
    return _pool
