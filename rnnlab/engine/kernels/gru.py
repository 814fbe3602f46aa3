"""GRU sequence kernels (torch gate order r, z, n).

Step: ``r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)``, ``z`` likewise,
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h_t = (1 - z) n + z h_{t-1}``.
"""

from __future__ import annotations

import numpy as np

from ..config import jit
from .common import (
    column_sums,
    finish_backward,
    input_projection,
    prev_index,
    sigmoid,
    step_product,
    tanh,
    time_index,
    zero_invalid,
)
from .gemm import apack_shape, pack_b, pack_bt


@jit
def gru_forward(x, lengths, reverse, w_ih, w_hh, bias_x, b_hn, h0, y, gates, hlin, hn):
    """Forward over the whole sequence.

    in:  x (T, B, I), lengths (B,) int64, reverse bool, w_ih (3H, I), w_hh (3H, H),
         bias_x (3H,) = b_ih + (b_hr, b_hz, 0), b_hn (H,), h0 (B, H)
    out: y (T, B, H) zero-filled by the caller, gates (T, B, 3H) activated r, z, n,
         hlin (T, B, H) = W_hn h_{t-1} + b_hn (zero-filled), hn (B, H)
    """
    T, B, _ = x.shape
    H = y.shape[2]
    input_projection(x, w_ih, bias_x, gates)
    hn[:] = h0
    hw = np.empty((B, 3 * H), dtype=x.dtype)
    wp = pack_bt(w_hh)
    work = np.empty(apack_shape(B, hn.shape[1]), dtype=x.dtype)
    for s in range(T):
        step_product(hn, wp, hw, work)
        for b in range(B):
            t = time_index(s, lengths[b], reverse)
            if t < 0:
                continue
            g = gates[t, b]
            r = hw[b]
            gr, gz, gn = g[0:H], g[H:2 * H], g[2 * H:3 * H]
            rr, rz, rn = r[0:H], r[H:2 * H], r[2 * H:3 * H]
            a = hlin[t, b]
            h = hn[b]
            yt = y[t, b]
            for j in range(H):
                r_ = sigmoid(gr[j] + rr[j])
                z_ = sigmoid(gz[j] + rz[j])
                a_ = rn[j] + b_hn[j]
                n_ = tanh(gn[j] + r_ * a_)
                gr[j] = r_
                gz[j] = z_
                gn[j] = n_
                a[j] = a_
                hnew = (1.0 - z_) * n_ + z_ * h[j]
                h[j] = hnew
                yt[j] = hnew
    zero_invalid(gates, lengths)


@jit
def gru_backward(x, lengths, reverse, w_ih, w_hh, h0, y, gates, hlin, dy, dhn,
                 dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dh_sq):
    """BPTT over the sequence saved by :func:`gru_forward`.

    in:     x, lengths, reverse, w_ih, w_hh, h0 as in the forward; y, gates, hlin its
            outputs; dy (T, B, H), dhn (B, H)
    out:    dx (T, B, I), dh0 (B, H), dh_sq (T, B) squared norm of dL/dh_t
    in-out: dw_ih (3H, I), dw_hh (3H, H), db_ih (3H,), db_hh (3H,) accumulated
    """
    T, B, _ = x.shape
    H = y.shape[2]
    dgx = np.zeros((T, B, 3 * H), dtype=x.dtype)
    dgh = np.zeros((T, B, 3 * H), dtype=x.dtype)
    dht = np.zeros((T, B, H), dtype=x.dtype)
    dh = dhn.copy()
    direct = np.zeros((B, H), dtype=x.dtype)
    dgs = np.zeros((B, 3 * H), dtype=x.dtype)
    dhrec = np.empty((B, H), dtype=x.dtype)
    wb = pack_b(w_hh)
    bwork = np.empty(apack_shape(B, w_hh.shape[0]), dtype=x.dtype)
    for s in range(T - 1, -1, -1):
        for b in range(B):
            L = lengths[b]
            t = time_index(s, L, reverse)
            if t < 0:
                dgs[b] = 0.0
                continue
            p = prev_index(t, L, reverse)
            hp = y[p, b] if p >= 0 else h0[b]
            g = gates[t, b]
            gr, gz, gn = g[0:H], g[H:2 * H], g[2 * H:3 * H]
            a = hlin[t, b]
            dxg = dgx[t, b]
            dxr, dxz, dxn = dxg[0:H], dxg[H:2 * H], dxg[2 * H:3 * H]
            dhg = dgh[t, b]
            dhr, dhz, dhn_ = dhg[0:H], dhg[H:2 * H], dhg[2 * H:3 * H]
            dyb = dy[t, b]
            dhb = dh[b]
            tot = dht[t, b]
            dirb = direct[b]
            for j in range(H):
                d = dyb[j] + dhb[j]
                tot[j] = d
                r_ = gr[j]
                z_ = gz[j]
                n_ = gn[j]
                dzn = d * (1.0 - z_) * (1.0 - n_ * n_)
                dzr = dzn * a[j] * r_ * (1.0 - r_)
                dzz = d * (hp[j] - n_) * z_ * (1.0 - z_)
                dxr[j] = dzr
                dxz[j] = dzz
                dxn[j] = dzn
                dhr[j] = dzr
                dhz[j] = dzz
                dhn_[j] = dzn * r_
                dirb[j] = d * z_
            dgs[b] = dhg
        step_product(dgs, wb, dhrec, bwork)
        for b in range(B):
            if time_index(s, lengths[b], reverse) >= 0:
                dhb = dh[b]
                rec = dhrec[b]
                dirb = direct[b]
                for j in range(H):
                    dhb[j] = rec[j] + dirb[j]
    finish_backward(dgx, dgh, x, w_ih, y, h0, lengths, reverse, dht, dh, dh0, dw_ih, dw_hh,
                    dx, dh_sq)
    column_sums(dgx, db_ih)
    column_sums(dgh, db_hh)
