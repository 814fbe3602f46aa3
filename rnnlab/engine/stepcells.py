"""Single-step cells with torch's API: ``RNNCell``, ``LSTMCell``, ``GRUCell``.

Each runs the sequence kernel of its cell for one timestep. Parameter names are torch's
(``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``); ``x`` is ``(B, I)`` or unbatched
``(I,)``, states ``(B, H)`` or ``(H,)``.
"""

from __future__ import annotations

import numpy as np

from .module import Module
from .recurrent import Recurrent, builtin_cell
from .validate import check_array


class _StepCell(Module):
    def __init__(self, cell: str, input_size, hidden_size, bias=True, dtype=np.float32,
                 seed=None):
        super().__init__()
        layer = Recurrent(builtin_cell(cell), input_size, hidden_size, bias=bias, dtype=dtype,
                          seed=seed)
        object.__setattr__(self, "_layer", layer)
        for name, p in layer.named_parameters():
            setattr(self, name.removesuffix("_l0"), p)
        self.input_size, self.hidden_size = layer.input_size, layer.hidden_size
        self.dtype = layer.dtype

    def _run(self, x, hx):
        x = check_array("x", x, dtype=self.dtype, contiguous=False)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"x: expected shape (B, {self.input_size}) or ({self.input_size},), "
                             f"got {x.shape}")
        if hx is not None:
            states = hx if isinstance(hx, tuple) else (hx,)
            shape = (*x.shape[:-1], self.hidden_size)
            for name, s in zip(self._layer.cell.states, states):
                check_array(f"hx ({name})", s, shape=shape, dtype=self.dtype, contiguous=False)
            hx = tuple(s[None] for s in states)
            hx = hx if len(hx) > 1 else hx[0]
        _, hn = self._layer(x[None], hx)
        object.__setattr__(self, "_unbatched", x.ndim == 1)
        return tuple(s[0] for s in hn) if isinstance(hn, tuple) else hn[0]

    def _grad(self, dh, extra=()):
        if not hasattr(self, "_unbatched"):
            raise RuntimeError("backward() called before forward()")
        shape = ((self.hidden_size,) if self._unbatched
                 else (self._layer._layout[2], self.hidden_size))
        dh = check_array("dh", dh, shape=shape, dtype=self.dtype, contiguous=False)
        rest = tuple(None if d is None else check_array("dc", d, shape=shape, dtype=self.dtype,
                                                       contiguous=False)[None] for d in extra)
        dh_n = (None, *rest) if rest else None
        dx, dhx = self._layer.backward(dh[None], dh_n)
        if isinstance(dhx, tuple):
            return dx[0], tuple(d[0] for d in dhx)
        return dx[0], dhx[0]

    def trace(self) -> dict[str, np.ndarray]:
        """Internals of the last step, as :meth:`Recurrent.trace` with ``T = 1``."""
        return self._layer.trace()


class _HiddenOnlyCell(_StepCell):
    def forward(self, x, hx=None):
        """Returns ``h'``."""
        return self._run(x, hx)

    def backward(self, dh):
        """Given dL/dh', returns ``(dx, dhx)``; parameter gradients accumulate."""
        return self._grad(dh)


class RNNCell(_HiddenOnlyCell):
    """``h' = act(W_ih x + b_ih + W_hh h + b_hh)``; ``nonlinearity`` ``"tanh"`` or ``"relu"``."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh",
                 dtype=np.float32, seed=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("rnn_" + nonlinearity, input_size, hidden_size, bias, dtype, seed)


class GRUCell(_HiddenOnlyCell):
    """torch's GRU step (gates r, z, n)."""

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, seed=None):
        super().__init__("gru", input_size, hidden_size, bias, dtype, seed)


class LSTMCell(_StepCell):
    """torch's LSTM step (gates i, f, g, o); ``hx`` is ``(h, c)``."""

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, seed=None):
        super().__init__("lstm", input_size, hidden_size, bias, dtype, seed)

    def forward(self, x, hx=None):
        """Returns ``(h', c')``."""
        return self._run(x, hx)

    def backward(self, dh, dc=None):
        """Given dL/dh' and dL/dc' (``None``: zeros), returns ``(dx, (dh, dc))``."""
        return self._grad(dh, (dc,))
