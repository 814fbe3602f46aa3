"""Gradient clipping in place, with torch's semantics."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .module import Parameter
from .validate import describe


def _grads(params) -> list[np.ndarray]:
    if isinstance(params, Parameter):
        params = [params]
    if not isinstance(params, Iterable):
        raise TypeError(f"params: expected a Parameter or an iterable of Parameters, "
                        f"got {describe(params)}")
    out = []
    for i, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise TypeError(f"params[{i}]: expected a Parameter, got {describe(p)}")
        out.append(p.grad)
    return out


def _nonnegative(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not value >= 0:
        raise ValueError(f"{name}: expected a number >= 0, got {value!r}")
    return float(value)


def clip_grad_norm_(params, max_norm: float, norm_type: float | str = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together so their joint ``norm_type`` norm is at most ``max_norm``.

    The joint norm is the norm of the per-parameter norms (``norm_type`` > 0, or ``inf`` /
    ``"inf"`` for the largest absolute entry). Gradients are multiplied by
    ``min(1, max_norm / (total + 1e-6))``. Returns the total norm before clipping; a NaN or
    Inf total raises ``RuntimeError`` with ``error_if_nonfinite``, else spreads to the grads.
    """
    grads = _grads(params)
    max_norm = _nonnegative("max_norm", max_norm)
    p = math.inf if norm_type in ("inf", "Inf") else norm_type
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) \
            or not p > 0:
        raise ValueError(f"norm_type: expected a number > 0 or 'inf', got {norm_type!r}")
    p = float(p)
    if not grads:
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        if p == math.inf:
            total = float(np.max([np.max(np.abs(g)) if g.size else 0.0 for g in grads]))
        else:
            norms = [float(np.sum(np.abs(g.astype(np.float64)) ** p)) ** (1.0 / p)
                     for g in grads]
            total = float(np.sum(np.asarray(norms) ** p) ** (1.0 / p))
    if not math.isfinite(total):
        if error_if_nonfinite:
            raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} is "
                               f"{total}; gradients cannot be clipped (set "
                               "error_if_nonfinite=False to scale them anyway)")
    coef = min(max_norm / (total + 1e-6), 1.0) if not math.isnan(total) else math.nan
    with np.errstate(invalid="ignore"):
        for g in grads:
            g *= g.dtype.type(coef)
    return total


def clip_grad_value_(params, clip_value: float) -> None:
    """Clamp every gradient entry into ``[-clip_value, clip_value]`` in place."""
    grads = _grads(params)
    v = _nonnegative("clip_value", clip_value)
    for g in grads:
        np.clip(g, -v, v, out=g)
