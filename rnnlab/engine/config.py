"""One place for Numba flags and thread settings.

Every kernel is compiled with :data:`JIT_OPTIONS`: cached on disk (so a second start does not
recompile), ``nogil`` (so a UI thread keeps running while a worker is inside a kernel), the
numpy error model (no zero-division branches that block vectorisation) and no fastmath
(it would break NaN checks). The activations alone add ``contract`` (see
:mod:`rnnlab.engine.kernels.common`): fused multiply-adds, with NaN and Inf unchanged.
"""

from __future__ import annotations

import ctypes
import os
import platform
import tempfile
from pathlib import Path


def _ensure_cache_dir() -> None:
    """Point ``NUMBA_CACHE_DIR`` at a writable folder when the package folder is read-only."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    package_dir = Path(__file__).resolve().parent
    if os.access(package_dir, os.W_OK):
        return
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    for candidate in (os.path.join(base, "rnnlab", "numba"),
                      os.path.join(tempfile.gettempdir(), "rnnlab-numba")):
        try:
            os.makedirs(candidate, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            os.environ["NUMBA_CACHE_DIR"] = candidate
            return


_ensure_cache_dir()

import numba  # noqa: E402  (the cache folder must be chosen before numba reads its config)

JIT_OPTIONS = dict(cache=True, nogil=True, error_model="numpy", fastmath=False, boundscheck=False)


def jit(func):
    """Compile ``func`` with the project's Numba flags (lazily, per argument types)."""
    return numba.njit(**JIT_OPTIONS)(func)


_threads: int | None = None
_blas_limited = False
_prepared = False
_keeps_freed: bool | None = None  # what keep_freed_memory decided, once
#: cores of the machine, read once (``os.cpu_count`` reads a file: ~10 us on every call)
CORES = os.cpu_count() or 1


def _l2_cache_bytes(base: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int:
    """Bytes of the first core's level-2 cache as Linux reports it under ``base``; 0 when
    unknown."""
    try:
        for index in sorted(base.glob("index*")):
            if (index / "level").read_text().strip() != "2":
                continue
            if (index / "type").read_text().strip() not in ("Unified", "Data"):
                continue
            size = (index / "size").read_text().strip().upper()
            scale = {"K": 1024, "M": 1024 ** 2}.get(size[-1:], 1)
            return int(size.rstrip("KM")) * scale
    except (OSError, ValueError):
        pass
    return 0


#: level-2 cache of a core in bytes (0: unknown), read once
L2_BYTES = _l2_cache_bytes()


def set_threads(n: int | None) -> int:
    """Use ``n`` threads (``None``: all cores); returns ``n``.

    rnnlab runs independent sequences and directions of a layer on its own threads (the
    kernels release the GIL), so BLAS is kept to one thread to avoid oversubscription:
    one setting governs Numba, BLAS and rnnlab together.
    """
    global _threads
    n = CORES if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= CORES:
        raise ValueError(f"threads: expected an integer in 1..{CORES}, got {n!r}")
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    _threads = n
    limit_blas()
    return n


def get_threads() -> int:
    """Threads rnnlab uses (all cores unless :func:`set_threads` chose otherwise)."""
    return _threads if _threads is not None else CORES


def prepare_runtime() -> None:
    """What the layers need before their first call, done once: :func:`limit_blas` and
    :func:`keep_freed_memory`."""
    global _prepared
    if _prepared:
        return
    limit_blas()
    keep_freed_memory()
    _prepared = True


def limit_blas() -> None:
    """Keep BLAS (numpy's and the one Numba calls) to one thread; rnnlab threads instead.

    Done once, on first need: OpenBLAS workers spin after large calls and slowed the
    single-threaded time loop that follows by up to 2x here.
    """
    global _blas_limited
    if _blas_limited:
        return
    import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS Numba calls, so it is limited too)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    _blas_limited = True


#: glibc ``mallopt`` parameters and the values :func:`keep_freed_memory` sets: blocks up to
#: 32 MiB (glibc's largest threshold) come from the heap, and up to 256 MiB of free heap is
#: kept rather than returned to the system
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed memory for reuse (once); returns whether it is set.

    Each forward allocates its outputs and caches afresh and frees the last call's. By
    default glibc hands such blocks back to the system and every new one page-faults on
    first touch; with two threads allocating at once the faults also contend: an LSTM
    (hidden 512, batch 32, 50 steps) forward spent 19 of its 48 ms in the operating system
    on 4,000 page faults, none with these settings. Skipped where malloc is not glibc's and
    when the environment sets any of glibc's ``MALLOC_*`` variables (the user's choice wins).
    """
    global _keeps_freed
    if _keeps_freed is None:
        _keeps_freed = _set_malloc_thresholds()
    return _keeps_freed


def _set_malloc_thresholds() -> bool:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or \
            any(k.startswith("MALLOC_") for k in os.environ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
