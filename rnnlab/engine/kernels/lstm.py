"""LSTM sequence kernels (torch gate order i, f, g, o; optional projection ``proj_size``).

Step: ``z = W_ih x_t + b + W_hh h_{t-1}``, ``i, f, o = sigmoid(z_i, z_f, z_o)``,
``g = tanh(z_g)``, ``c_t = f c_{t-1} + i g``, ``m_t = o tanh(c_t)``, ``h_t = W_hr m_t``
(``h_t = m_t`` without projection). ``H`` is the hidden size, ``P`` the output size
(``proj_size`` or ``H``).
"""

from __future__ import annotations

import numpy as np

from ..config import jit
from .common import (
    carry_recurrent_grad,
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
def lstm_forward(x, lengths, reverse, w_ih, w_hh, bias, w_hr, has_proj, h0, c0,
                 y, gates, cs, ms, hn, cn):
    """Forward over the whole sequence.

    in:  x (T, B, I), lengths (B,) int64, reverse bool, w_ih (4H, I), w_hh (4H, P),
         bias (4H,) = b_ih + b_hh, w_hr (P, H) (ignored unless has_proj), h0 (B, P), c0 (B, H)
    out: y (T, B, P) zero-filled by the caller, gates (T, B, 4H) activated i, f, g, o,
         cs (T, B, H) cell states (zero-filled), ms (T, B, H) o*tanh(c) (written if has_proj),
         hn (B, P), cn (B, H) states at each sequence's last valid step
    """
    T, B, _ = x.shape
    H = cs.shape[2]
    P = y.shape[2]
    input_projection(x, w_ih, bias, gates)
    hn[:] = h0
    cn[:] = c0
    hw = np.empty((B, 4 * H), dtype=x.dtype)
    m = np.empty((B, H), dtype=x.dtype)
    hp = np.empty((B, P), dtype=x.dtype)
    wp = pack_bt(w_hh)
    work = np.empty(apack_shape(B, hn.shape[1]), dtype=x.dtype)
    wrp = pack_bt(w_hr if has_proj else w_hr[:0])
    mwork = np.empty(apack_shape(B, H), dtype=x.dtype)
    for s in range(T):
        step_product(hn, wp, hw, work)
        for b in range(B):
            t = time_index(s, lengths[b], reverse)
            if t < 0:
                continue
            g = gates[t, b]
            r = hw[b]
            gi, gf, gg, go = g[0:H], g[H:2 * H], g[2 * H:3 * H], g[3 * H:4 * H]
            ri, rf, rg, ro = r[0:H], r[H:2 * H], r[2 * H:3 * H], r[3 * H:4 * H]
            c = cn[b]
            ct = cs[t, b]
            mb = m[b]
            for j in range(H):
                i_ = sigmoid(gi[j] + ri[j])
                f_ = sigmoid(gf[j] + rf[j])
                g_ = tanh(gg[j] + rg[j])
                o_ = sigmoid(go[j] + ro[j])
                gi[j] = i_
                gf[j] = f_
                gg[j] = g_
                go[j] = o_
                cnew = f_ * c[j] + i_ * g_
                c[j] = cnew
                ct[j] = cnew
                mb[j] = o_ * tanh(cnew)
        if has_proj:
            step_product(m, wrp, hp, mwork)
        for b in range(B):
            t = time_index(s, lengths[b], reverse)
            if t < 0:
                continue
            if has_proj:
                ms[t, b] = m[b]
                hn[b] = hp[b]
                y[t, b] = hp[b]
            else:
                hn[b] = m[b]
                y[t, b] = m[b]
    zero_invalid(gates, lengths)


@jit
def lstm_backward(x, lengths, reverse, w_ih, w_hh, w_hr, has_proj, h0, c0, y, gates, cs, ms,
                  dy, dhn, dcn, dx, dh0, dc0, dw_ih, dw_hh, db, dw_hr, dh_sq):
    """BPTT over the sequence saved by :func:`lstm_forward`.

    in:     x, lengths, reverse, w_ih, w_hh, w_hr, has_proj, h0, c0 as in the forward;
            y, gates, cs, ms its outputs; dy (T, B, P), dhn (B, P), dcn (B, H)
    out:    dx (T, B, I), dh0 (B, P), dc0 (B, H), dh_sq (T, B) squared norm of dL/dh_t
    in-out: dw_ih (4H, I), dw_hh (4H, P), db (4H,), dw_hr (P, H) accumulated
    """
    T, B, _ = x.shape
    H = cs.shape[2]
    P = y.shape[2]
    dg = np.zeros((T, B, 4 * H), dtype=x.dtype)
    dht = np.zeros((T, B, P), dtype=x.dtype)
    dh = dhn.copy()
    dc = dcn.copy()
    dhs = np.zeros((B, P), dtype=x.dtype)
    dm = np.empty((B, H), dtype=x.dtype)
    dgs = np.zeros((B, 4 * H), dtype=x.dtype)
    dhrec = np.empty((B, P), dtype=x.dtype)
    wb = pack_b(w_hh)
    bwork = np.empty(apack_shape(B, w_hh.shape[0]), dtype=x.dtype)
    wrb = pack_b(w_hr if has_proj else w_hr[:0])
    pwork = np.empty(apack_shape(B, P), dtype=x.dtype)
    for s in range(T - 1, -1, -1):
        for b in range(B):
            t = time_index(s, lengths[b], reverse)
            if t < 0:
                dhs[b] = 0.0
                continue
            dyb = dy[t, b]
            dhb = dh[b]
            out = dhs[b]
            for k in range(P):
                out[k] = dyb[k] + dhb[k]
            dht[t, b] = out
        if has_proj:
            step_product(dhs, wrb, dm, pwork)
        else:
            dm[:] = dhs
        for b in range(B):
            L = lengths[b]
            t = time_index(s, L, reverse)
            if t < 0:
                dgs[b] = 0.0
                continue
            p = prev_index(t, L, reverse)
            cp = cs[p, b] if p >= 0 else c0[b]
            g = gates[t, b]
            gi, gf, gg, go = g[0:H], g[H:2 * H], g[2 * H:3 * H], g[3 * H:4 * H]
            d = dg[t, b]
            di, df, dgg, do = d[0:H], d[H:2 * H], d[2 * H:3 * H], d[3 * H:4 * H]
            ct = cs[t, b]
            dmb = dm[b]
            dcb = dc[b]
            for j in range(H):
                i_ = gi[j]
                f_ = gf[j]
                g_ = gg[j]
                o_ = go[j]
                tc = tanh(ct[j])
                dct = dcb[j] + dmb[j] * o_ * (1.0 - tc * tc)
                di[j] = dct * g_ * i_ * (1.0 - i_)
                df[j] = dct * cp[j] * f_ * (1.0 - f_)
                dgg[j] = dct * i_ * (1.0 - g_ * g_)
                do[j] = dmb[j] * tc * o_ * (1.0 - o_)
                dcb[j] = dct * f_
            dgs[b] = d
        carry_recurrent_grad(s, lengths, reverse, dgs, wb, bwork, dhrec, dh)
    dc0[:] = dc
    finish_backward(dg, dg, x, w_ih, y, h0, lengths, reverse, dht, dh, dh0, dw_ih, dw_hh,
                    dx, dh_sq)
    column_sums(dg, db)
    if has_proj:
        tmp = np.empty_like(dw_hr)
        np.dot(dht.reshape(T * B, P).T, ms.reshape(T * B, H), tmp)
        dw_hr += tmp
