"""Parameters and the module base class shared by every layer.

A :class:`Module` mirrors the part of ``torch.nn.Module`` that scripted lessons use:
``named_parameters()`` with torch names, ``state_dict()`` / ``load_state_dict()``,
``zero_grad()``, ``train()`` / ``eval()``, plus an explicit ``backward(grad)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from .validate import all_finite

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_dtype(dtype) -> np.dtype:
    """Return ``dtype`` as a numpy dtype, refusing anything but float32/float64."""
    if dtype is None:
        raise TypeError("dtype: expected float32 or float64, got None")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected float32 or float64, got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype: expected float32 or float64, got {dt}")
    return dt


class Parameter:
    """A trainable array ``data`` with a gradient ``grad`` of the same shape and dtype."""

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray):
        self.data = np.ascontiguousarray(data)
        self.grad = np.zeros_like(self.data)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def zero_grad(self) -> None:
        self.grad.fill(0)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: parameters and child modules registered as attributes, in order."""

    def __init__(self):
        object.__setattr__(self, "_params", {})
        object.__setattr__(self, "_children", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self._params[name] = value
        elif isinstance(value, Module):
            self._children[name] = value
        object.__setattr__(self, name, value)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):  # pragma: no cover - every layer overrides it
        raise NotImplementedError

    def backward(self, grad):  # pragma: no cover - every layer overrides it
        raise NotImplementedError

    # parameters -------------------------------------------------------------------------
    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Yield ``(name, parameter)`` with torch's dotted names, children after own."""
        for name, p in self._params.items():
            yield prefix + name, p
        for cname, child in self._children.items():
            yield from child.named_parameters(prefix + cname + ".")

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Yield ``(dotted name, module)`` for this module (name ``""``) and all children."""
        yield prefix.rstrip("."), self
        for cname, child in self._children.items():
            yield from child.named_modules(prefix + cname + ".")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode: bool = True) -> Module:
        object.__setattr__(self, "training", bool(mode))
        for child in self._children.values():
            child.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    # state dicts ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter, keyed by torch name."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, np.ndarray], strict: bool = True) -> None:
        """Copy arrays (numpy, or anything with ``.numpy()``/``__array__``) into parameters.

        Raises ``KeyError`` naming missing and unexpected keys (``strict``) and ``ValueError``
        for a wrong shape or a non-finite value; nothing is changed unless all keys pass.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"state_dict: expected a mapping of parameter names to arrays, "
                            f"got {type(state).__name__}")
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        if strict and (missing or unexpected):
            raise KeyError(
                f"state_dict does not match {type(self).__name__}: "
                f"missing keys {missing}, unexpected keys {unexpected}"
            )
        staged = {}
        for name, p in params.items():
            if name not in state:
                continue
            arr = _to_numpy(state[name])
            if arr.shape != p.data.shape:
                raise ValueError(
                    f"state_dict[{name!r}]: expected shape {p.data.shape}, got {arr.shape}"
                )
            if not np.issubdtype(arr.dtype, np.floating):
                raise TypeError(f"state_dict[{name!r}]: expected a float array, got {arr.dtype}")
            if not all_finite(arr):
                raise ValueError(f"state_dict[{name!r}]: expected finite values, got NaN or Inf")
            staged[name] = arr
        for name, arr in staged.items():
            params[name].data[...] = arr


def _to_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach()
    if hasattr(value, "cpu"):
        value = value.cpu()
    if hasattr(value, "numpy"):
        value = value.numpy()
    return np.asarray(value)
