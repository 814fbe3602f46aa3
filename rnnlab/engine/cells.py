"""Built-in cells: Elman RNN (tanh, relu), LSTM (with optional projection) and GRU.

Each binds a pair of sequence kernels from :mod:`rnnlab.engine.kernels` to the
:class:`~rnnlab.engine.cell.Cell` contract, with torch's parameter names and gate order.
"""

from __future__ import annotations

import numpy as np

from .cell import Cache, Cell, ParamSpec
from .kernels.gru import gru_backward, gru_forward
from .kernels.lstm import lstm_backward, lstm_forward
from .kernels.rnn import rnn_backward, rnn_forward


def torch_param_specs(gate_rows: int, input_size: int, hidden_size: int, out_size: int,
                      bias: bool) -> list[ParamSpec]:
    """torch's ``weight_ih (G, I)``, ``weight_hh (G, out)`` and, with ``bias``, ``bias_ih``
    and ``bias_hh (G,)``, for a cell with ``G = gate_rows`` pre-activations."""
    specs = [ParamSpec("weight_ih", (gate_rows, input_size)),
             ParamSpec("weight_hh", (gate_rows, out_size))]
    if bias:
        specs += [ParamSpec("bias_ih", (gate_rows,)), ParamSpec("bias_hh", (gate_rows,))]
    return specs


def summed_bias(params: dict[str, np.ndarray], rows: int, dtype) -> np.ndarray:
    """``bias_ih + bias_hh`` (zeros without bias): what the input projection adds."""
    if "bias_ih" in params:
        return params["bias_ih"] + params["bias_hh"]
    return np.zeros(rows, dtype=dtype)


def add_bias_grads(grads: dict[str, np.ndarray], db: np.ndarray, db_hh=None) -> None:
    """Add ``db`` to both bias gradients (``db_hh`` to ``bias_hh`` when they differ)."""
    if "bias_ih" in grads:
        grads["bias_ih"] += db
        grads["bias_hh"] += db if db_hh is None else db_hh



class _ElmanBase(Cell):
    gates = ()
    states = ("h",)
    relu = False

    def param_specs(self, input_size, hidden_size, bias):
        return torch_param_specs(hidden_size, input_size, hidden_size, hidden_size, bias)

    def forward(self, params, x, lengths, state0, reverse):
        self.check_inputs(params, x, lengths, state0)
        w_ih, w_hh = params["weight_ih"], params["weight_hh"]
        T, B, _ = x.shape
        H = w_hh.shape[0]
        y = np.zeros((T, B, H), dtype=x.dtype)
        pre = np.empty((T, B, H), dtype=x.dtype)
        hn = np.empty((B, H), dtype=x.dtype)
        rnn_forward(x, lengths, reverse, w_ih, w_hh, summed_bias(params, H, x.dtype),
                    self.relu, state0[0], y, pre, hn)
        arrays = dict(x=x, lengths=lengths, h0=state0[0], y=y, reverse=reverse)
        return y, (hn,), Cache(arrays, {"h": y})

    def backward(self, params, cache, dy, dstate_n, grads):
        a = cache.arrays
        x, y = a["x"], a["y"]
        T, B, _ = x.shape
        H = y.shape[2]
        dx = np.empty_like(x)
        dh0 = np.empty((B, H), dtype=x.dtype)
        db = np.zeros(H, dtype=x.dtype)
        dh_sq = np.empty((T, B), dtype=x.dtype)
        rnn_backward(x, a["lengths"], a["reverse"], params["weight_ih"], params["weight_hh"],
                     self.relu, a["h0"], y, dy, dstate_n[0], dx, dh0,
                     grads["weight_ih"], grads["weight_hh"], db, dh_sq)
        add_bias_grads(grads, db)
        return dx, (dh0,), dh_sq


class RNNTanhKernel(_ElmanBase):
    name = "rnn_tanh"
    description = "Elman RNN, h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)"


class RNNReLUKernel(_ElmanBase):
    name = "rnn_relu"
    description = "Elman RNN with ReLU, h_t = max(0, W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)"
    relu = True


class LSTMKernel(Cell):
    name = "lstm"
    description = "Long short-term memory (gates i, f, g, o), optional output projection"
    gates = ("i", "f", "g", "o")
    states = ("h", "c")
    options = {"proj_size": 0}

    def _proj(self, hidden_size: int) -> int:
        p = int(self.config["proj_size"])
        if p < 0 or p >= hidden_size:
            raise ValueError(f"proj_size: expected 0 <= proj_size < hidden_size={hidden_size}, "
                             f"got {p}")
        return p

    def param_specs(self, input_size, hidden_size, bias):
        p = self._proj(hidden_size)
        specs = torch_param_specs(4 * hidden_size, input_size, hidden_size, p or hidden_size, bias)
        if p:
            specs.append(ParamSpec("weight_hr", (p, hidden_size)))
        return specs

    def state_sizes(self, hidden_size):
        return (self._proj(hidden_size) or hidden_size, hidden_size)

    def forward(self, params, x, lengths, state0, reverse):
        self.check_inputs(params, x, lengths, state0)
        w_ih, w_hh = params["weight_ih"], params["weight_hh"]
        T, B, _ = x.shape
        H = w_hh.shape[0] // 4
        P = w_hh.shape[1]
        has_proj = "weight_hr" in params
        w_hr = params["weight_hr"] if has_proj else np.zeros((P, H), dtype=x.dtype)
        y = np.zeros((T, B, P), dtype=x.dtype)
        gates = np.empty((T, B, 4 * H), dtype=x.dtype)
        cs = np.zeros((T, B, H), dtype=x.dtype)
        ms = np.zeros((T, B, H) if has_proj else (0, 0, 0), dtype=x.dtype)
        hn = np.empty((B, P), dtype=x.dtype)
        cn = np.empty((B, H), dtype=x.dtype)
        h0, c0 = state0
        lstm_forward(x, lengths, reverse, w_ih, w_hh, summed_bias(params, 4 * H, x.dtype),
                     w_hr, has_proj, h0, c0, y, gates, cs, ms, hn, cn)
        arrays = dict(x=x, lengths=lengths, reverse=reverse, h0=h0, c0=c0, y=y, gates=gates,
                      cs=cs, ms=ms, w_hr=w_hr, has_proj=has_proj)
        trace = {"h": y, "c": cs, "gates": gates.reshape(T, B, 4, H)}
        return y, (hn, cn), Cache(arrays, trace)

    def backward(self, params, cache, dy, dstate_n, grads):
        a = cache.arrays
        x, y, cs = a["x"], a["y"], a["cs"]
        T, B, _ = x.shape
        H, P = cs.shape[2], y.shape[2]
        dx = np.empty_like(x)
        dh0 = np.empty((B, P), dtype=x.dtype)
        dc0 = np.empty((B, H), dtype=x.dtype)
        db = np.zeros(4 * H, dtype=x.dtype)
        dh_sq = np.empty((T, B), dtype=x.dtype)
        dw_hr = grads["weight_hr"] if a["has_proj"] else np.zeros((P, H), dtype=x.dtype)
        lstm_backward(x, a["lengths"], a["reverse"], params["weight_ih"], params["weight_hh"],
                      a["w_hr"], a["has_proj"], a["h0"], a["c0"], y, a["gates"], cs, a["ms"],
                      dy, dstate_n[0], dstate_n[1], dx, dh0, dc0,
                      grads["weight_ih"], grads["weight_hh"], db, dw_hr, dh_sq)
        add_bias_grads(grads, db)
        return dx, (dh0, dc0), dh_sq


class GRUKernel(Cell):
    name = "gru"
    description = "Gated recurrent unit (gates r, z, n), torch's formulation"
    gates = ("r", "z", "n")
    states = ("h",)

    def param_specs(self, input_size, hidden_size, bias):
        return torch_param_specs(3 * hidden_size, input_size, hidden_size, hidden_size, bias)

    def forward(self, params, x, lengths, state0, reverse):
        self.check_inputs(params, x, lengths, state0)
        w_ih, w_hh = params["weight_ih"], params["weight_hh"]
        T, B, _ = x.shape
        H = w_hh.shape[1]
        if "bias_ih" in params:
            bias_x = params["bias_ih"].copy()
            bias_x[:2 * H] += params["bias_hh"][:2 * H]
            b_hn = np.ascontiguousarray(params["bias_hh"][2 * H:])
        else:
            bias_x = np.zeros(3 * H, dtype=x.dtype)
            b_hn = np.zeros(H, dtype=x.dtype)
        y = np.zeros((T, B, H), dtype=x.dtype)
        gates = np.empty((T, B, 3 * H), dtype=x.dtype)
        hlin = np.zeros((T, B, H), dtype=x.dtype)
        hn = np.empty((B, H), dtype=x.dtype)
        gru_forward(x, lengths, reverse, w_ih, w_hh, bias_x, b_hn, state0[0], y, gates, hlin, hn)
        arrays = dict(x=x, lengths=lengths, reverse=reverse, h0=state0[0], y=y, gates=gates,
                      hlin=hlin)
        return y, (hn,), Cache(arrays, {"h": y, "gates": gates.reshape(T, B, 3, H)})

    def backward(self, params, cache, dy, dstate_n, grads):
        a = cache.arrays
        x, y = a["x"], a["y"]
        T, B, _ = x.shape
        H = y.shape[2]
        dx = np.empty_like(x)
        dh0 = np.empty((B, H), dtype=x.dtype)
        db_ih = np.zeros(3 * H, dtype=x.dtype)
        db_hh = np.zeros(3 * H, dtype=x.dtype)
        dh_sq = np.empty((T, B), dtype=x.dtype)
        gru_backward(x, a["lengths"], a["reverse"], params["weight_ih"], params["weight_hh"],
                     a["h0"], y, a["gates"], a["hlin"], dy, dstate_n[0], dx, dh0,
                     grads["weight_ih"], grads["weight_hh"], db_ih, db_hh, dh_sq)
        add_bias_grads(grads, db_ih, db_hh)
        return dx, (dh0,), dh_sq


BUILTIN_CELLS: dict[str, type[Cell]] = {
    c.name: c for c in (RNNTanhKernel, RNNReLUKernel, LSTMKernel, GRUKernel)
}
