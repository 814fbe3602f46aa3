"""Feed-forward layers and containers with torch's semantics and explicit backward.

``Linear``, ``Embedding``, ``Dropout``, the ``LastStep`` head and ``Sequential``. Every
``backward(grad)`` takes dL/d(output), accumulates parameter gradients into ``.grad`` and
returns dL/d(input) (``None`` for ``Embedding``, whose input is integer indices).
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from .grad_mode import is_grad_enabled, missing_forward
from .module import Module, Parameter, as_float_dtype
from .validate import check_array, check_lengths, describe, positive_int


def _probability(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: expected a probability in [0, 1], got {value!r}")
    return float(value)


class Linear(Module):
    """``y = x @ weight.T + bias`` over the last axis of ``x``.

    ``x`` is ``(..., in_features)`` of the layer's dtype; ``y`` is ``(..., out_features)``.
    Parameters as torch: ``weight`` ``(out_features, in_features)`` and ``bias``
    ``(out_features,)``, both uniform in ``±1/sqrt(in_features)``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype=np.float32, seed: int | None = None):
        super().__init__()
        self.in_features = positive_int("in_features", in_features)
        self.out_features = positive_int("out_features", out_features)
        self.dtype = as_float_dtype(dtype)
        rng = np.random.default_rng(seed)
        bound = 1.0 / math.sqrt(self.in_features)
        shape = (self.out_features, self.in_features)
        self.weight = Parameter(rng.uniform(-bound, bound, size=shape).astype(self.dtype))
        if bias:
            self.bias = Parameter(
                rng.uniform(-bound, bound, size=self.out_features).astype(self.dtype))
        else:
            self.bias = None
        self._x = None
        self._no_grad = False  # whether the last forward ran under no_grad

    def forward(self, x):
        x = check_array("x", x, dtype=self.dtype, contiguous=False)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"x: expected shape (..., {self.in_features}), got {x.shape}")
        self._no_grad = not is_grad_enabled()
        # backward must not see later changes to the caller's array
        self._x = None if self._no_grad else x.copy()
        y = x @ self.weight.data.T
        if self.bias is not None:
            y += self.bias.data
        return y

    def backward(self, grad):
        """``grad`` shaped like the output; returns dL/dx shaped like ``x``."""
        if self._x is None:
            raise missing_forward("Linear.backward()", self._no_grad)
        x = self._x
        grad = check_array("grad", grad, shape=(*x.shape[:-1], self.out_features),
                           dtype=self.dtype, contiguous=False)
        g2 = grad.reshape(-1, self.out_features)
        self.weight.grad += g2.T @ x.reshape(-1, self.in_features)
        if self.bias is not None:
            self.bias.grad += g2.sum(axis=0)
        return grad @ self.weight.data

    def __repr__(self) -> str:
        return (f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None})")


class Embedding(Module):
    """A lookup table: integer indices of any shape ``S`` give vectors ``(*S, embedding_dim)``.

    ``weight`` ``(num_embeddings, embedding_dim)`` starts as N(0, 1). The row at
    ``padding_idx`` (negative values count from the end, as torch) starts at zero and never
    receives a gradient.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 dtype=np.float32, seed: int | None = None):
        super().__init__()
        self.num_embeddings = positive_int("num_embeddings", num_embeddings)
        self.embedding_dim = positive_int("embedding_dim", embedding_dim)
        self.dtype = as_float_dtype(dtype)
        n = self.num_embeddings
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)) \
                    or not -n <= padding_idx < n:
                raise ValueError(f"padding_idx: expected None or an integer in [{-n}, {n}), "
                                 f"got {padding_idx!r}")
            padding_idx = int(padding_idx) % n
        self.padding_idx = padding_idx
        rng = np.random.default_rng(seed)
        data = rng.standard_normal((n, self.embedding_dim)).astype(self.dtype)
        if padding_idx is not None:
            data[padding_idx] = 0
        self.weight = Parameter(data)
        self._idx = None
        self._no_grad = False

    def forward(self, indices):
        idx = np.asarray(indices)
        if idx.dtype == np.bool_ or not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"indices: expected an integer array, got {describe(indices)}")
        if idx.size:
            lo, hi = int(idx.min()), int(idx.max())
            if lo < 0 or hi >= self.num_embeddings:
                bad = lo if lo < 0 else hi
                raise IndexError(f"indices: expected values in [0, {self.num_embeddings}), "
                                 f"got {bad}")
        self._no_grad = not is_grad_enabled()
        self._idx = None if self._no_grad else idx.copy()
        return self.weight.data[idx]

    def backward(self, grad):
        """Adds ``grad`` ``(*S, embedding_dim)`` into the looked-up rows; returns ``None``."""
        if self._idx is None:
            raise missing_forward("Embedding.backward()", self._no_grad)
        idx = self._idx
        grad = check_array("grad", grad, shape=(*idx.shape, self.embedding_dim),
                           dtype=self.dtype, contiguous=False)
        flat = idx.reshape(-1)
        g2 = grad.reshape(-1, self.embedding_dim)
        if self.padding_idx is not None:
            keep = flat != self.padding_idx
            flat, g2 = flat[keep], g2[keep]
        np.add.at(self.weight.grad, flat, g2)
        return None

    def __repr__(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}{pad})"


class Dropout(Module):
    """Zeroes each element with probability ``p`` in training mode and scales the rest by
    ``1/(1-p)``; the identity in eval mode. Its own RNG is seeded by ``seed``."""

    def __init__(self, p: float = 0.5, seed: int | None = None):
        super().__init__()
        self.p = _probability("p", p)
        self._rng = np.random.default_rng(seed)
        self._mask = None

    def forward(self, x):
        x = check_array("x", x, contiguous=False, finite=False)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"x: expected a float array, got {x.dtype}")
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        if self.p == 1.0:
            self._mask = np.zeros_like(x)
        else:
            keep = 1.0 - self.p
            self._mask = (self._rng.random(x.shape) < keep).astype(x.dtype) / x.dtype.type(keep)
        return x * self._mask

    def backward(self, grad):
        """dL/dx: ``grad`` times the last forward's mask (``grad`` itself in eval mode)."""
        if self._mask is None:
            return grad
        grad = check_array("grad", grad, shape=self._mask.shape, contiguous=False)
        return grad * self._mask

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


class LastStep(Module):
    """The output at each sequence's last valid step: ``(T, B, F)`` -> ``(B, F)``.

    ``out`` is ``(T, B, F)``, ``(B, T, F)`` with ``batch_first`` or unbatched ``(T, F)``
    (giving ``(F,)``); ``lengths`` ``(B,)`` as for the recurrent layers (``None``: all ``T``).
    With ``num_directions=2`` (a bidirectional layer's output, ``F = 2*H``) the first ``H``
    features come from the forward direction at ``lengths[b] - 1`` and the last ``H`` from
    the reverse direction at step 0, where it has read the whole sequence.
    """

    def __init__(self, batch_first: bool = False, num_directions: int = 1):
        super().__init__()
        if num_directions not in (1, 2) or isinstance(num_directions, bool):
            raise ValueError(f"num_directions: expected 1 or 2, got {num_directions!r}")
        self.batch_first = bool(batch_first)
        self.num_directions = int(num_directions)
        self._layout = None
        self._no_grad = False

    def forward(self, out, lengths=None):
        out = check_array("out", out, contiguous=False, finite=False)
        if out.ndim not in (2, 3):
            want = "(B, T, F)" if self.batch_first else "(T, B, F)"
            raise ValueError(f"out: expected shape {want} or (T, F), got {out.shape}")
        F = out.shape[-1]
        if F % self.num_directions:
            raise ValueError(f"out: expected a feature size divisible by num_directions = "
                             f"{self.num_directions}, got {F}")
        unbatched = out.ndim == 2
        seq = out[:, None, :] if unbatched else (
            out.transpose(1, 0, 2) if self.batch_first else out)
        T, B = seq.shape[0], seq.shape[1]
        if lengths is None:
            lens = np.full(B, T, dtype=np.int64)
        else:
            lens = check_lengths(np.atleast_1d(lengths), B, T)
        H = F // self.num_directions
        rows = np.arange(B)
        y = np.empty((B, F), dtype=out.dtype)
        y[:, :H] = seq[lens - 1, rows, :H]
        if self.num_directions == 2:
            y[:, H:] = seq[0, :, H:]
        self._no_grad = not is_grad_enabled()
        self._layout = None if self._no_grad else (out.shape, out.dtype, unbatched, lens)
        return y[0] if unbatched else y

    def backward(self, grad):
        """``grad`` shaped like the output; returns dL/d(out), zero off the selected steps."""
        if self._layout is None:
            raise missing_forward("LastStep.backward()", self._no_grad)
        shape, dtype, unbatched, lens = self._layout
        F = shape[-1]
        B = len(lens)
        grad = check_array("grad", grad, shape=(F,) if unbatched else (B, F), dtype=dtype,
                           contiguous=False)
        g = grad.reshape(B, F)
        T = shape[0] if (unbatched or not self.batch_first) else shape[1]
        dseq = np.zeros((T, B, F), dtype=dtype)
        H = F // self.num_directions
        dseq[lens - 1, np.arange(B), :H] = g[:, :H]
        if self.num_directions == 2:
            dseq[0, :, H:] = g[:, H:]
        if unbatched:
            return dseq[:, 0, :]
        return dseq.transpose(1, 0, 2) if self.batch_first else dseq

    def __repr__(self) -> str:
        return f"LastStep(batch_first={self.batch_first}, num_directions={self.num_directions})"


def _takes(method, name: str) -> bool:
    """Whether ``method``'s signature has a parameter ``name``."""
    try:
        return name in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


class Sequential(Module):
    """Modules applied in order; parameters are named ``"0.weight"``, ``"1.weight_ih_l0"``...

    ``forward(x, lengths=None)`` hands ``lengths`` to every module whose ``forward`` takes
    it (recurrent layers, ``LastStep``) and keeps only the first item of a tuple result
    (a recurrent layer's ``(out, h_n)``). ``backward(grad)`` runs the modules in reverse
    and returns dL/dx (``None`` when the first module is an ``Embedding``).
    """

    def __init__(self, *modules: Module):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: module {i}: expected a Module, got {describe(m)}")
            setattr(self, str(i), m)
        self._modules = list(modules)
        self._lengths = [_takes(m.forward, "lengths") for m in modules]
        self._first_skips_dx = bool(modules) and _takes(modules[0].backward, "input_grad")

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i: int) -> Module:
        return self._modules[i]

    def __iter__(self):
        return iter(self._modules)

    def forward(self, x, lengths=None):
        for m, takes in zip(self._modules, self._lengths):
            x = m(x, lengths=lengths) if takes else m(x)
            if isinstance(x, tuple):
                x = x[0]
        return x

    def backward(self, grad, *, input_grad=True):
        """``input_grad=False``: ``x`` is data, so the first module may skip dL/dx (a
        recurrent layer does) and ``None`` is returned."""
        for i in range(len(self._modules) - 1, -1, -1):
            if grad is None:
                m = self._modules[i + 1]
                raise RuntimeError(f"Sequential: module {i + 1} ({type(m).__name__}) returns no "
                                   "input gradient, so it must be the first module")
            m = self._modules[i]
            if i == 0 and not input_grad and self._first_skips_dx:
                grad = m.backward(grad, input_grad=False)
            else:
                grad = m.backward(grad)
            if isinstance(grad, tuple):
                grad = grad[0]
        return grad if input_grad else None

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {m!r}" for i, m in enumerate(self._modules))
        return f"Sequential({inner}\n)"
