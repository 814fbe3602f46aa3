"""rnnlab's own threads. Two ways to use the cores for one layer:

- **Across sequences and directions** (:func:`batch_chunks`, :func:`run_all`): independent
  tasks, no synchronisation inside the time loop. Fits many sequences or two directions.
- **Across hidden units** (:func:`unit_threads`, :func:`run_split`): the threads share one
  sequence, each owning a slice of the units of every gate and a slice of the recurrent
  weight, and meet at a spin barrier each timestep (:mod:`.kernels.sync`). Fits one
  direction of few sequences with a large weight (batch 1, hidden 512), where nothing else
  could be split and each core then streams only its half of the weight, and one direction
  of many sequences whose weight is larger than a core's L2 cache.

The kernels release the GIL, so plain Python threads run them in parallel. BLAS stays
single-threaded (:func:`~.config.limit_blas`). Tasks started by :func:`run_all` run with a
budget of one thread, so a cell never splits its units while its siblings are running.

The built-in cells' tasks are calls of one compiled kernel (:class:`Launch`): those run
together in one compiled driver over Numba's threads (:mod:`.kernels.tasks`,
:func:`run_launches`) when Numba's threading layer is OpenMP or TBB. Its workers stay
awake between calls, so a hand-off costs microseconds instead of ~0.2 ms, and much smaller
calls are worth splitting (:data:`MIN_DRIVER_WORK`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any, NamedTuple, TypeVar

import numba
import numpy as np

from .config import L2_BYTES, get_threads
from .kernels.sync import abort
from .kernels.tasks import DRIVERS

T = TypeVar("T")
R = TypeVar("R")

#: multiply-adds of one call below which threads cost more than they save. A hand-off
#: costs ~0.2 ms on a 2-vCPU VM: the worker starts ~70 us after the submit and the caller
#: returns 90-160 us after the tasks end (each thread waking from a sleep, for the GIL or a
#: future). Measured, two chunks against one at 50 steps: LSTM hidden 32, batch 32 (13.5M)
#: 0.93x forward; GRU hidden 64, batch 16 (15M) 1.04x; LSTM hidden 64, batch 16 (20M) 1.23x
MIN_PARALLEL_WORK = 20_000_000
#: the same for tasks run by a compiled driver (:func:`run_launches`): its hand-off costs
#: ~10-20 us. Measured, two chunks against one at 50 steps (medians, forward / training):
#: Elman RNN hidden 32, batch 32 (3.4M) 0.88x / 1.06x, hidden 64, batch 16 (5M) 0.94x /
#: 0.81x, hidden 64, batch 32 (10M) 1.11x / 1.13x; LSTM hidden 32, batch 8 (3.4M) 0.76x /
#: 0.79x, batch 16 (6.8M) 1.09x / 1.21x; GRU hidden 32, batch 16 (5M) 1.24x / 1.30x
MIN_DRIVER_WORK = 8_000_000
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


def batch_chunks(batch: int, directions: int, work: float, compiled: bool = False,
                 weight_bytes: int = 0) -> list[slice]:
    """Split ``batch`` sequences into contiguous chunks so ``chunks x directions`` tasks keep
    the configured threads busy; one chunk when ``work`` (multiply-adds) is small or the
    batch too thin to split (a built-in cell then splits its units instead). ``compiled``:
    the tasks will be :class:`Launch` es (see :func:`task_mode`).

    Also one chunk, so the cell splits its units, for one direction whose per-step weight
    (``weight_bytes``; 0 when the cell cannot split its units) fills a core's L2 cache
    (:data:`~.config.L2_BYTES`) or more: each thread then streams half the weight per step,
    for twice the sequences. Measured on a 2 MiB L2, against chunks of sequences: LSTM
    hidden 512, batch 32 (4.5 MB) 0.92x the time in inference, 0.93x in training; 2-layer
    LSTM 256->256, batch 8 (2.1 MB, exactly 2 MiB) 0.89x and 0.98x (a later benchmark run:
    179 ms inference in chunks, 141-150 ms split); GRU hidden 512 (3.3 MB) 1.00x and 0.98x.
    Below it the sequence chunks win: Elman RNN hidden 512 (1.1 MB) 1.05x, LSTM hidden 256
    (1.2 MB) 1.04-1.08x, GRU 256->256 batch 8 (1.6 MB) 1.14-1.21x."""
    threads = budget()
    if threads <= directions or not worth_threads(work, compiled):
        return [slice(0, batch)]
    if compiled and directions == 1 and weight_bytes >= L2_BYTES > 0:
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
    return _on_threads(fn, tasks, threads)


def _on_threads(fn: Callable[[T], R], tasks: Sequence[T], threads: int) -> list[R]:
    """``[fn(t) for t in tasks]`` on ``threads`` threads, each task with a budget of one."""
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


class Launch(NamedTuple):
    """One kernel call of a built-in cell, prepared: ``kernel(*args(k))`` for thread ``k`` of
    ``plan.n`` (sharing ``plan.sync``), then ``finish()`` gives the cell's result."""

    kernel: Callable
    args: Callable[[int], tuple]
    plan: Any  # a StepPlan: n, sync
    finish: Callable[[], Any]

    def run(self) -> Any:
        """Run the call on its plan's threads now; the cell's result."""
        if self.plan.n == 1:
            self.kernel(*self.args(0))
        else:
            run_split(lambda k: self.kernel(*self.args(k)), self.plan.n, self.plan.sync)
        return self.finish()


_driver_state: dict[str, Any] = {"usable": None}


def drivers_usable() -> bool:
    """Whether :func:`run_launches` may use the compiled drivers: the kernels are compiled,
    Numba may use two threads or more, and its threading layer is safe to enter from several
    Python threads (OpenMP, TBB; not its fallback ``workqueue``). Decided once; a forked
    child falls back to Python threads (GNU OpenMP does not survive a fork)."""
    usable = _driver_state["usable"]
    if usable is None:
        with _pool_lock:
            usable = _driver_state["usable"]
            if usable is None:
                usable = _driver_state["usable"] = _layer_is_threadsafe()
    return usable


def _layer_is_threadsafe() -> bool:
    if numba.config.DISABLE_JIT or numba.config.NUMBA_NUM_THREADS < 2:
        return False  # interpreted kernels; or Numba held to one thread (NUMBA_NUM_THREADS)
    try:
        from numba.np.ufunc.parallel import _launch_threads

        _launch_threads()  # loads the threading layer, as a first parallel call would
        return numba.threading_layer() in ("omp", "tbb")
    except (ImportError, ValueError, RuntimeError):
        return False


def _driver_pays(work: float, compiled: bool) -> bool:
    return compiled and work >= MIN_DRIVER_WORK and drivers_usable()


def worth_threads(work: float, compiled: bool) -> bool:
    """Whether tasks of ``work`` multiply-adds in all pay for their threads' hand-off;
    ``compiled``: they are :class:`Launch` es, which a driver may run."""
    return _driver_pays(work, compiled) or work >= MIN_PARALLEL_WORK


def task_mode(tasks: int, work: float) -> str:
    """How ``tasks`` independent kernel calls (:class:`Launch` es) of ``work`` multiply-adds
    in all run: ``"driver"`` (compiled, see :func:`run_launches`), ``"threads"`` (Python
    threads) or ``"serial"``."""
    if min(budget(), tasks) <= 1 or not worth_threads(work, True):
        return "serial"
    return "driver" if _driver_pays(work, True) else "threads"


def run_launches(prepare: Callable[[T], Launch], tasks: Sequence[T], work: float) -> list:
    """``[prepare(t).run() for t in tasks]`` for independent tasks of ``work`` multiply-adds
    in all, run as :func:`task_mode` chooses. Calls that run together are prepared with a
    budget of one thread (their plans split no units)."""
    mode = task_mode(len(tasks), work)
    if mode == "serial":
        return [prepare(t).run() for t in tasks]
    launches = [_single(prepare, t) for t in tasks]
    args = [launch.args(0) for launch in launches] if mode == "driver" else []
    if args and _all_writable(args):
        n = len(args)
        args += [args[0]] * ((1 << (n - 1).bit_length()) - n)  # see .kernels.tasks
        saved = numba.get_num_threads()
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        try:
            DRIVERS[launches[0].kernel](n, *zip(*args))
        finally:
            numba.set_num_threads(saved)
        return [launch.finish() for launch in launches]
    return _on_threads(Launch.run, launches, min(budget(), len(launches)))


def _all_writable(args: list[tuple]) -> bool:
    """Whether no argument of the calls is a read-only array: the calls of one layer share a
    kernel, but a user's read-only weight would give its tuple two Numba types."""
    return all(a.flags.writeable for call in args for a in call if isinstance(a, np.ndarray))


def _after_fork_in_child() -> None:
    # the parent's pool threads do not exist in the child, nor may GNU OpenMP be used there
    _pools.clear()
    _driver_state["usable"] = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
