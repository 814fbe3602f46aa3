"""Independently recurrent neural network, IndRNN (Li et al., 2018).

Step (``⊙`` elementwise)::

    h_t = act(W_ih x_t + b_ih + w_hh ⊙ h_{t-1})

with ``act`` ReLU (option ``nonlinearity="relu"``, the paper's choice and the default) or tanh.
Each unit only feeds itself back through one scalar, so the recurrence is a vector product:
no recurrent GEMM, and the whole per-step work is one fused elementwise loop.

Parameters: ``weight_ih (H, I)``, ``weight_hh (H,)`` (the recurrent weight vector) and, with
``bias``, ``bias_ih (H,)`` (one bias: a second would only duplicate it). All are initialised
uniform in ``±1/sqrt(H)`` like every built-in cell. The paper draws ``weight_hh`` from
``[0, 1]`` for ReLU; the cell contract's init kinds are ``uniform (±1/sqrt(H))``, ``zeros`` and
``ones``, and the symmetric range keeps ``|w_hh| < 1`` so the recurrence cannot blow up at
start for any hidden size (memory length is then learnt by growing ``|w_hh|``). For long
memories set ``weight_hh`` yourself, e.g. ``p.data[:] = rng.uniform(0, 1, H)``.
"""

from __future__ import annotations

import numpy as np

from ...engine.cell import Cache, Cell, ParamSpec
from ...engine.config import jit
from ...engine.kernels.common import (
    column_sums,
    gather_previous,
    input_projection,
    row_sq_norms,
    tanh,
    time_index,
)


@jit
def indrnn_forward(x, lengths, reverse, w_ih, w_hh, bias, relu, h0, y, pre, hn):
    """Forward over the whole sequence.

    in:  x (T, B, I), lengths (B,) int64, reverse bool, w_ih (H, I), w_hh (H,) recurrent
         weight vector, bias (H,), relu bool (else tanh), h0 (B, H)
    out: y (T, B, H) zero-filled by the caller, pre (T, B, H) workspace (the input
         projection), hn (B, H) state at each sequence's last valid step
    """
    T, B, _ = x.shape
    H = y.shape[2]
    input_projection(x, w_ih, bias, pre)
    hn[:] = h0
    for s in range(T):
        for b in range(B):
            t = time_index(s, lengths[b], reverse)
            if t < 0:
                continue
            v = pre[t, b]
            h = hn[b]
            yt = y[t, b]
            for j in range(H):
                a = v[j] + w_hh[j] * h[j]
                if relu:
                    a = a if a > 0.0 else 0.0
                else:
                    a = tanh(a)
                h[j] = a
                yt[j] = a


@jit
def indrnn_backward(x, lengths, reverse, w_ih, w_hh, relu, h0, y, dy, dhn,
                    dx, dh0, dw_ih, dw_hh, db, dh_sq):
    """BPTT over the sequence saved by :func:`indrnn_forward`.

    in:     x, lengths, reverse, w_ih, w_hh, relu, h0 as in the forward; y its output;
            dy (T, B, H), dhn (B, H)
    out:    dx (T, B, I), dh0 (B, H), dh_sq (T, B) squared norm of dL/dh_t
    in-out: dw_ih (H, I), dw_hh (H,), db (H,) accumulated
    """
    T, B, I = x.shape
    H = y.shape[2]
    dg = np.zeros((T, B, H), dtype=x.dtype)
    dht = np.zeros((T, B, H), dtype=x.dtype)
    dh = dhn.copy()
    for s in range(T - 1, -1, -1):
        for b in range(B):
            t = time_index(s, lengths[b], reverse)
            if t < 0:
                continue
            yt = y[t, b]
            dyb = dy[t, b]
            dhb = dh[b]
            tot = dht[t, b]
            d = dg[t, b]
            for j in range(H):
                g = dyb[j] + dhb[j]
                tot[j] = g
                if relu:
                    dj = g if yt[j] > 0.0 else 0.0
                else:
                    dj = g * (1.0 - yt[j] * yt[j])
                d[j] = dj
                dhb[j] = dj * w_hh[j]
    dh0[:] = dh
    row_sq_norms(dht, dh_sq)
    hprev = np.empty((T, B, H), dtype=x.dtype)
    gather_previous(y, h0, lengths, reverse, hprev)
    for t in range(T):
        for b in range(B):
            d = dg[t, b]
            hp = hprev[t, b]
            for j in range(H):
                dw_hh[j] += d[j] * hp[j]
    dg2 = dg.reshape(T * B, H)
    tmp = np.empty_like(dw_ih)
    np.dot(dg2.T, x.reshape(T * B, I), tmp)
    dw_ih += tmp
    np.dot(dg2, w_ih, dx.reshape(T * B, I))
    column_sums(dg, db)


class IndRNNKernel(Cell):
    name = "indrnn"
    description = ("IndRNN, h_t = act(W_ih x_t + b_ih + w_hh * h_(t-1)) with a recurrent "
                   "weight vector; act relu (default) or tanh")
    gates = ()
    states = ("h",)
    options = {"nonlinearity": "relu"}

    def __init__(self, **options):
        super().__init__(**options)
        act = self.config["nonlinearity"]
        if act not in ("relu", "tanh"):
            raise ValueError(f"nonlinearity: expected 'relu' or 'tanh', got {act!r}")
        self.relu = act == "relu"

    def param_specs(self, input_size, hidden_size, bias):
        specs = [ParamSpec("weight_ih", (hidden_size, input_size)),
                 ParamSpec("weight_hh", (hidden_size,))]
        if bias:
            specs.append(ParamSpec("bias_ih", (hidden_size,)))
        return specs

    def forward(self, params, x, lengths, state0, reverse):
        self.check_inputs(params, x, lengths, state0)
        w_ih, w_hh = params["weight_ih"], params["weight_hh"]
        T, B, _ = x.shape
        H = w_hh.shape[0]
        bias = params["bias_ih"] if "bias_ih" in params else np.zeros(H, dtype=x.dtype)
        y = np.zeros((T, B, H), dtype=x.dtype)
        pre = np.empty((T, B, H), dtype=x.dtype)
        hn = np.empty((B, H), dtype=x.dtype)
        indrnn_forward(x, lengths, reverse, w_ih, w_hh, bias, self.relu, state0[0], y, pre, hn)
        arrays = dict(x=x, lengths=lengths, reverse=reverse, h0=state0[0], y=y)
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
        indrnn_backward(x, a["lengths"], a["reverse"], params["weight_ih"], params["weight_hh"],
                        self.relu, a["h0"], y, dy, dstate_n[0], dx, dh0,
                        grads["weight_ih"], grads["weight_hh"], db, dh_sq)
        if "bias_ih" in grads:
            grads["bias_ih"] += db
        return dx, (dh0,), dh_sq
