"""The contract every recurrent cell fulfils, built-in or plugin.

A cell is a set of parameters plus compiled whole-sequence kernels. The recurrent driver
(:mod:`rnnlab.engine.recurrent`) stacks layers and directions, handles ``batch_first``,
unbatched input, dropout and validation, so a cell only ever sees one layer and one
direction in time-major, C-contiguous buffers:

- ``x``: ``(T, B, I)`` input, ``lengths``: ``(B,)`` int64 with ``1 <= lengths[b] <= T``
- states: a tuple of ``(B, size)`` arrays, one per name in :attr:`Cell.states`; the first
  state is the one emitted as output at every step.

Packed-sequence semantics: outputs at ``t >= lengths[b]`` are zero, the final states are
those at each sequence's last valid step, and the reverse direction starts at
``lengths[b] - 1``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

API_VERSION = (1, 0)
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_INT64 = np.dtype(np.int64)


_lengths_within = None


def _inputs_ok(params, x, lengths, state0, n_states) -> bool:
    """Cheap yes/no version of :meth:`Cell.check_inputs` (the common, valid case); inline
    checks, as it runs on every call of a cell."""
    global _lengths_within
    ndarray = np.ndarray
    if type(x) is not ndarray or x.ndim != 3 or x.dtype not in _FLOATS \
            or not x.flags.c_contiguous:
        return False
    dtype = x.dtype
    T, B = x.shape[0], x.shape[1]
    for p in params.values():
        if type(p) is not ndarray or p.dtype != dtype or not p.flags.c_contiguous:
            return False
    if type(lengths) is not ndarray or lengths.dtype != _INT64 or lengths.shape != (B,) \
            or not lengths.flags.c_contiguous or len(state0) != n_states:
        return False
    for s in state0:
        if type(s) is not ndarray or s.dtype != dtype or s.ndim != 2 or s.shape[0] != B \
                or not s.flags.c_contiguous:
            return False
    if _lengths_within is None:  # the kernels load on first use, not with this module
        from .kernels.common import lengths_within as _lengths_within
    return _lengths_within(lengths, T)


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of one layer and direction.

    ``name`` is torch's base name (``weight_ih``); the driver appends ``_l{k}`` and
    ``_reverse``. ``init`` is ``"uniform"`` (uniform in ``±1/sqrt(hidden_size)``, torch's
    default), ``"zeros"`` or ``"ones"``.
    """

    name: str
    shape: tuple[int, ...]
    init: str = "uniform"


@dataclass
class Cache:
    """What a cell's forward keeps for its backward and for introspection.

    ``arrays`` is cell-specific; ``trace`` maps names to time-major views for display:
    ``"h"`` ``(T, B, H_out)``, optional ``"c"`` ``(T, B, H)`` and ``"gates"``
    ``(T, B, G, H)`` in the order of :attr:`Cell.gates`. Values at ``t >= lengths[b]`` are 0.
    """

    arrays: dict[str, np.ndarray]
    trace: dict[str, np.ndarray]


class Cell(ABC):
    """A recurrent cell: parameters, states, gates and a forward/backward kernel pair.

    Subclasses set the class attributes and implement the four methods; options
    (e.g. ``proj_size``) are constructor keywords listed in :attr:`options` with defaults.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    gates: ClassVar[tuple[str, ...]] = ()
    states: ClassVar[tuple[str, ...]] = ("h",)
    options: ClassVar[dict[str, Any]] = {}
    api_version: ClassVar[tuple[int, int]] = API_VERSION

    def __init__(self, **options):
        unknown = set(options) - set(self.options)
        if unknown:
            raise TypeError(
                f"cell {self.name!r}: unknown option(s) {sorted(unknown)}; "
                f"expected some of {sorted(self.options)}"
            )
        self.config = {**self.options, **options}

    def check_inputs(self, params: dict[str, np.ndarray], x: np.ndarray, lengths: np.ndarray,
                     state0: tuple[np.ndarray, ...]) -> None:
        """Validate what a kernel is about to trust; raises "expected X, got Y" errors.

        Cells call this at the top of :meth:`forward`, so a direct call with a strided
        buffer, a mixed dtype or a length past ``T`` fails clearly instead of reading or
        writing out of bounds. (Finiteness is the layer's check: it costs a pass over ``x``.)
        """
        if _inputs_ok(params, x, lengths, state0, len(self.states)):
            return
        from .validate import check_array

        check_array("x", x, shape=(None, None, None), dtype=None, finite=False)
        dtype = x.dtype
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"x: expected float32 or float64, got {dtype}")
        T, B, _ = x.shape
        for name, p in params.items():
            check_array(f"params[{name!r}]", p, dtype=dtype, finite=False)
        check_array("lengths", lengths, shape=(B,), dtype=np.int64, finite=False)
        if B and (lengths.min() < 1 or lengths.max() > T):
            raise ValueError(f"lengths: expected values in 1..{T}, got "
                             f"{int(lengths.min())}..{int(lengths.max())}")
        if len(state0) != len(self.states):
            raise ValueError(f"state0: expected {len(self.states)} states {self.states}, "
                             f"got {len(state0)}")
        for name, s in zip(self.states, state0):
            check_array(f"state0 ({name})", s, shape=(B, None), dtype=dtype, finite=False)

    @abstractmethod
    def param_specs(self, input_size: int, hidden_size: int, bias: bool) -> list[ParamSpec]:
        """Parameters of one layer and direction, in torch's order."""

    def state_sizes(self, hidden_size: int) -> tuple[int, ...]:
        """Width of each state in :attr:`states` (default: all ``hidden_size``)."""
        return (hidden_size,) * len(self.states)

    @abstractmethod
    def forward(self, params: dict[str, np.ndarray], x: np.ndarray, lengths: np.ndarray,
                state0: tuple[np.ndarray, ...], reverse: bool
                ) -> tuple[np.ndarray, tuple[np.ndarray, ...], Cache]:
        """Run the whole sequence: returns ``y (T, B, H_out)``, final states, cache."""

    @abstractmethod
    def backward(self, params: dict[str, np.ndarray], cache: Cache, dy: np.ndarray,
                 dstate_n: tuple[np.ndarray, ...], grads: dict[str, np.ndarray]
                 ) -> tuple[np.ndarray, tuple[np.ndarray, ...], np.ndarray]:
        """BPTT through the sequence of ``cache``.

        ``dy``: ``(T, B, H_out)``; ``dstate_n``: gradients of the final states. Adds the
        parameter gradients into ``grads`` (same keys as ``params``) and returns
        ``dx (T, B, I)``, the initial-state gradients and ``dh_sq (T, B)``: the squared
        norm of the total gradient dL/dh_t at each valid step (0 elsewhere).
        """
