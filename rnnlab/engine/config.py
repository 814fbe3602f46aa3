"""One place for Numba flags and thread settings.

Every kernel is compiled with :data:`JIT_OPTIONS`: cached on disk (so a second start does not
recompile), ``nogil`` (so a UI thread keeps running while a worker is inside a kernel), the
numpy error model (no zero-division branches that block vectorisation) and never fastmath
(it would break NaN checks).
"""

from __future__ import annotations

import os
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


def set_threads(n: int | None) -> int:
    """Use ``n`` threads for Numba and BLAS together (``None``: all cores). Returns ``n``."""
    import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS numba calls, so it is limited too)
    from threadpoolctl import threadpool_limits

    cores = os.cpu_count() or 1
    n = cores if n is None else int(n)
    if not 1 <= n <= max(cores, numba.config.NUMBA_NUM_THREADS):
        raise ValueError(f"threads: expected 1..{cores}, got {n}")
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    threadpool_limits(limits=n, user_api="blas")
    return n
