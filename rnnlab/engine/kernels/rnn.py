"""Elman RNN sequence kernels: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` with
``act`` tanh or relu."""

from __future__ import annotations

import numpy as np

from ..config import jit
from .common import (
    carry_recurrent_grad,
    column_sums,
    finish_backward,
    input_projection,
    step_product,
    tanh,
    time_index,
)
from .gemm import apack_shape, pack_b, pack_bt


@jit
def rnn_forward(x, lengths, reverse, w_ih, w_hh, bias, relu, h0, y, pre, hn):
    """Forward over the whole sequence.

    in:  x (T, B, I), lengths (B,) int64, reverse bool, w_ih (H, I), w_hh (H, H),
         bias (H,) = b_ih + b_hh, relu bool (else tanh), h0 (B, H)
    out: y (T, B, H) zero-filled by the caller, pre (T, B, H) workspace, hn (B, H)
    """
    T, B, _ = x.shape
    H = y.shape[2]
    input_projection(x, w_ih, bias, pre)
    hn[:] = h0
    hw = np.empty((B, H), dtype=x.dtype)
    wp = pack_bt(w_hh)
    work = np.empty(apack_shape(B, hn.shape[1]), dtype=x.dtype)
    for s in range(T):
        step_product(hn, wp, hw, work)
        for b in range(B):
            t = time_index(s, lengths[b], reverse)
            if t < 0:
                continue
            v = pre[t, b]
            r = hw[b]
            h = hn[b]
            yt = y[t, b]
            for j in range(H):
                a = v[j] + r[j]
                if relu:
                    a = a if a > 0.0 else 0.0
                else:
                    a = tanh(a)
                h[j] = a
                yt[j] = a


@jit
def rnn_backward(x, lengths, reverse, w_ih, w_hh, relu, h0, y, dy, dhn,
                 dx, dh0, dw_ih, dw_hh, db, dh_sq):
    """BPTT over the sequence saved by :func:`rnn_forward`.

    in:     x, lengths, reverse, w_ih, w_hh, relu, h0 as in the forward; y its output;
            dy (T, B, H), dhn (B, H)
    out:    dx (T, B, I), dh0 (B, H), dh_sq (T, B) squared norm of dL/dh_t
    in-out: dw_ih (H, I), dw_hh (H, H), db (H,) accumulated
    """
    T, B, _ = x.shape
    H = y.shape[2]
    dg = np.zeros((T, B, H), dtype=x.dtype)
    dht = np.zeros((T, B, H), dtype=x.dtype)
    dh = dhn.copy()
    dgs = np.zeros((B, H), dtype=x.dtype)
    dhrec = np.empty((B, H), dtype=x.dtype)
    wb = pack_b(w_hh)
    bwork = np.empty(apack_shape(B, w_hh.shape[0]), dtype=x.dtype)
    for s in range(T - 1, -1, -1):
        for b in range(B):
            t = time_index(s, lengths[b], reverse)
            if t < 0:
                dgs[b] = 0.0
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
                    d[j] = g if yt[j] > 0.0 else 0.0
                else:
                    d[j] = g * (1.0 - yt[j] * yt[j])
            dgs[b] = d
        carry_recurrent_grad(s, lengths, reverse, dgs, wb, bwork, dhrec, dh)
    finish_backward(dg, dg, x, w_ih, y, h0, lengths, reverse, dht, dh, dh0, dw_ih, dw_hh,
                    dx, dh_sq)
    column_sums(dg, db)
