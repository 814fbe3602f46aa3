"""Input checks that raise "expected X, got Y" errors before anything reaches a kernel."""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from .config import JIT_OPTIONS


class NonFiniteError(ValueError):
    """An array holds NaN or Inf where finite values are required."""


def describe(a) -> str:
    """Short description of an argument for error messages."""
    if isinstance(a, np.ndarray):
        return f"array of shape {a.shape} and dtype {a.dtype}"
    return f"{type(a).__name__}"


def positive_int(name: str, value) -> int:
    """``value`` as an ``int`` if it is an integer >= 1 (not a bool), else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    return int(value)


def check_array(name: str, a, shape: Sequence[int | None] | None = None, dtype=None,
                contiguous: bool = True, finite: bool = True) -> np.ndarray:
    """Validate ``a`` and return it.

    ``shape`` entries of ``None`` match any size. Raises ``TypeError`` for a non-array or a
    wrong dtype, ``ValueError`` for a wrong shape, non-contiguous layout or NaN/Inf.
    """
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {describe(a)}")
    if dtype is not None and a.dtype != np.dtype(dtype):
        raise TypeError(
            f"{name}: expected dtype {np.dtype(dtype)}, got {a.dtype}"
            + (" (convert with .astype())" if np.issubdtype(a.dtype, np.number) else "")
        )
    if shape is not None and a.shape != shape:  # a tuple with a None never equals a.shape
        ok = a.ndim == len(shape) and all(s is None or s == n for s, n in zip(shape, a.shape))
        if not ok:
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name}: expected shape {want}, got {a.shape}")
    if contiguous and not a.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array, got a strided view "
                         "(use np.ascontiguousarray)")
    if finite and a.size and not all_finite(a):
        raise NonFiniteError(f"{name}: expected finite values, got NaN or Inf")
    return a


def all_finite(a: np.ndarray) -> bool:
    """Whether ``a`` holds no NaN or Inf (the one finiteness check of inputs, targets, state
    dicts and checkpoints)."""
    if a.dtype in _COMPILED and a.flags.c_contiguous and a.size:
        return _finite_sum(a.reshape(-1))
    return bool(np.isfinite(a).all())


#: dtypes :func:`all_finite` checks with its compiled pass (none when kernels are interpreted)
_COMPILED = () if numba.config.DISABLE_JIT else (np.dtype(np.float32), np.dtype(np.float64))


@numba.njit(**{**JIT_OPTIONS, "fastmath": {"reassoc"}})
def _finite_sum(flat):
    """Whether ``flat`` (1-D, non-empty) is all finite: ``v - v`` is 0 for a finite ``v`` and
    NaN otherwise, and a NaN survives the sum. The sum may be reordered (``reassoc``), so it
    vectorises: 2-3x faster than ``np.isfinite(a).all()`` for float32 here."""
    acc = flat[0] - flat[0]
    for i in range(1, flat.shape[0]):
        acc += flat[i] - flat[i]
    return acc == acc


def check_lengths(lengths, batch: int, steps: int) -> np.ndarray:
    """Validate per-sequence lengths; returns them as a C-contiguous int64 array ``(B,)``."""
    arr = np.asarray(lengths)
    if arr.ndim != 1 or arr.shape[0] != batch:
        raise ValueError(f"lengths: expected {batch} lengths (one per sequence), "
                         f"got shape {arr.shape}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"lengths: expected integers, got {arr.dtype}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)) \
                or not np.all(arr == np.round(arr)):
            raise TypeError(f"lengths: expected integers, got {arr.dtype} values such as "
                            f"{arr.flat[0]!r}")
    bad = (arr < 1) | (arr > steps)  # on the given values, before any cast can wrap them
    if bad.any():
        b = int(np.flatnonzero(bad)[0])
        raise ValueError(f"lengths: expected values in 1..{steps} (the sequence length), "
                         f"got lengths[{b}] = {arr[b]}")
    return np.ascontiguousarray(arr, dtype=np.int64)
