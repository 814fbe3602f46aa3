"""Loss functions with torch's semantics: ``value = loss(pred, target)``, then
``loss.backward()`` returns dL/dpred with ``pred``'s shape and dtype.

``reduction`` is ``"mean"`` (the default) or ``"sum"``.
"""

from __future__ import annotations

import numpy as np

from .validate import all_finite, check_array, describe

REDUCTIONS = ("mean", "sum")


def _float_pred(pred) -> np.ndarray:
    pred = check_array("pred", pred, contiguous=False)
    if pred.dtype not in (np.float32, np.float64):
        raise TypeError(f"pred: expected a float32 or float64 array, got {pred.dtype}")
    if pred.size == 0:
        raise ValueError(f"pred: expected at least one element, got shape {pred.shape}")
    return pred


def _float_target(target, pred: np.ndarray) -> np.ndarray:
    """A float target of ``pred``'s shape, converted to ``pred``'s dtype."""
    target = check_array("target", target, contiguous=False, finite=False)
    if not np.issubdtype(target.dtype, np.floating):
        raise TypeError(f"target: expected a float array, got {target.dtype}")
    if target.shape != pred.shape:
        raise ValueError(f"target: expected shape {pred.shape} (as pred), got {target.shape}")
    if not all_finite(target):
        raise ValueError("target: expected finite values, got NaN or Inf")
    return target.astype(pred.dtype, copy=False)


class _Loss:
    def __init__(self, reduction: str = "mean"):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction: expected 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self._grad = None

    def __call__(self, pred, target) -> float:
        return self.forward(pred, target)

    def forward(self, pred, target) -> float:  # pragma: no cover - every loss overrides it
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        """dL/dpred for the last call, shaped and typed like ``pred``."""
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before the loss")
        return self._grad.copy()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reduction={self.reduction!r})"


class MSELoss(_Loss):
    """Mean (or sum) of ``(pred - target)**2`` over all elements; any shape."""

    def forward(self, pred, target) -> float:
        pred = _float_pred(pred)
        diff = pred - _float_target(target, pred)
        scale = 1.0 / diff.size if self.reduction == "mean" else 1.0
        self._grad = diff * pred.dtype.type(2.0 * scale)
        return float(np.sum(diff * diff) * scale)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits: ``max(x, 0) - x*y + log(1 + exp(-|x|))`` per element,
    stable for any ``x``; ``target`` holds probabilities of ``pred``'s shape."""

    def forward(self, pred, target) -> float:
        pred = _float_pred(pred)
        y = _float_target(target, pred)
        e = np.exp(-np.abs(pred))
        per = np.maximum(pred, 0) - pred * y + np.log1p(e)
        scale = 1.0 / pred.size if self.reduction == "mean" else 1.0
        # sigmoid(x) from e = exp(-|x|) without overflow
        sig = np.where(pred >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(pred.dtype)
        self._grad = (sig - y) * pred.dtype.type(scale)
        return float(np.sum(per) * scale)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy on logits against integer class indices.

    ``pred`` is ``(..., C)`` (``(N, C)``, per-timestep ``(T, B, C)`` or ``(B, T, C)``) and
    ``target`` an integer array of shape ``pred.shape[:-1]``: every axis but the last is
    flattened. Targets equal to ``ignore_index`` add nothing; ``"mean"`` divides by the
    number of other targets, as torch does. If every target is ignored the loss is ``0.0``
    with a zero gradient (torch returns NaN).
    """

    def __init__(self, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
            raise TypeError(f"ignore_index: expected an integer, got {ignore_index!r}")
        self.ignore_index = int(ignore_index)

    def forward(self, pred, target) -> float:
        pred = _float_pred(pred)
        if pred.ndim == 0:
            raise ValueError("pred: expected logits of shape (..., C), got a scalar")
        C = pred.shape[-1]
        t = np.asarray(target)
        if t.dtype == np.bool_ or not np.issubdtype(t.dtype, np.integer):
            raise TypeError(f"target: expected an integer array of class indices, "
                            f"got {describe(target)}")
        if t.shape != pred.shape[:-1]:
            raise ValueError(f"target: expected shape {pred.shape[:-1]} (pred's shape without "
                             f"the class axis), got {t.shape}")
        z = pred.reshape(-1, C)
        t = t.reshape(-1).astype(np.int64)
        valid = t != self.ignore_index
        bad = valid & ((t < 0) | (t >= C))
        if bad.any():
            raise IndexError(f"target: expected class indices in [0, {C}) or ignore_index "
                             f"{self.ignore_index}, got {t[np.flatnonzero(bad)[0]]}")
        shifted = z - z.max(axis=1, keepdims=True)
        expz = np.exp(shifted)
        sums = expz.sum(axis=1, keepdims=True)
        rows = np.flatnonzero(valid)
        picked = t[rows]
        nll = np.log(sums[rows, 0]) - shifted[rows, picked]
        count = rows.size
        scale = 1.0 / count if (self.reduction == "mean" and count) else 1.0
        grad = expz / sums
        grad[~valid] = 0
        grad[rows, picked] -= 1
        grad *= pred.dtype.type(scale)
        self._grad = grad.reshape(pred.shape)
        return float(np.sum(nll) * scale) if count else 0.0

    def __repr__(self) -> str:
        return f"CrossEntropyLoss(ignore_index={self.ignore_index}, reduction={self.reduction!r})"
