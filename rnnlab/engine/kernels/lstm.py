"""LSTM sequence kernels (torch gate order i, f, g, o; optional projection ``proj_size``).

Step: ``z = W_ih x_t + b + W_hh h_{t-1}``, ``i, f, o = sigmoid(z_i, z_f, z_o)``,
``g = tanh(z_g)``, ``c_t = f c_{t-1} + i g``, ``m_t = o tanh(c_t)``, ``h_t = W_hr m_t``
(``h_t = m_t`` without projection). ``H`` is the hidden size, ``P`` the output size
(``proj_size`` or ``H``).

Both kernels compute the hidden units ``j0 <= j < j1`` of every gate; ``nthreads`` threads
calling them at once with disjoint unit ranges and one ``sync`` array share the sequence
(see :mod:`rnnlab.engine.parallel`). One thread passes ``0, H`` and a fresh ``sync``. The projection
needs every unit at each step, so with ``has_proj`` only one thread runs.
"""

from __future__ import annotations

import numpy as np

from ..config import jit
from .common import (
    cols_operand,
    column_sums,
    copy_active_rows,
    input_grads,
    operand_product,
    prev_index,
    recurrent_weight_grad,
    sigmoid,
    step_operands,
    step_preactivations,
    step_product,
    sum_squares,
    tanh,
    time_index,
    time_range,
    zero_invalid_units,
)
from .gemm import apack_shape, pack_b, pack_bt
from .sync import barrier


@jit
def lstm_forward(x, lengths, reverse, w_ih, w_hh, bias, w_hr, has_proj, c0,
                 y, gates, cs, ms, hbuf, cn, fused, dense, j0, j1, sync, nthreads):
    """Forward over the whole sequence, units ``j0:j1``; ``fused`` and ``dense`` as chosen
    by :func:`rnnlab.engine.cells.step_plan`.

    in:     x (T, B, I), lengths (B,) int64, reverse bool, w_ih (4H, I), w_hh (4H, P),
            bias (4H,) = b_ih + b_hh, w_hr (P, H) (ignored unless has_proj), c0 (B, H)
    in-out: hbuf (2, B, P) shared state buffers, hbuf[0] = h0 on entry; on return
            hbuf[T % 2] holds each sequence's state at its last valid step
    out:    y (T, B, P) zero-filled by the caller, gates (T, B, 4H) activated i, f, g, o
            (zero-filled by the caller when fused: the gate loop adds the product to it),
            cs (T, B, H) cell states (zero-filled), ms (T, B, H) o*tanh(c) (if has_proj),
            cn (B, H) cell states at each sequence's last valid step
    """
    T, B, _ = x.shape
    H = cs.shape[2]
    P = y.shape[2]
    U = j1 - j0
    q0, q1 = (0, P) if has_proj else (j0, j1)
    wp, xh, work = step_operands(x, w_ih, w_hh, bias, 4, H, j0, j1, fused, dense, gates)
    c = np.empty((B, U), dtype=x.dtype)
    c[:] = c0[:, j0:j1]
    hw = np.empty((B, 4 * U), dtype=x.dtype)
    m = np.empty((B, U), dtype=x.dtype)
    hp = np.empty((B, P), dtype=x.dtype)
    wrp = pack_bt(w_hr if has_proj else w_hr[:0])
    mwork = np.empty(apack_shape(B, H), dtype=x.dtype)
    for s in range(T):
        cur = hbuf[s % 2]
        nxt = hbuf[(s + 1) % 2]
        step_preactivations(x, s, lengths, reverse, cur, wp, xh, hw, work, fused)
        for b in range(B):
            t = time_index(s, lengths[b], reverse)
            if t < 0:
                nxt[b, q0:q1] = cur[b, q0:q1]
                continue
            g = gates[t, b]
            r = hw[b]
            gi, gf = g[j0:j1], g[H + j0:H + j1]
            gg, go = g[2 * H + j0:2 * H + j1], g[3 * H + j0:3 * H + j1]
            ri, rf, rg, ro = r[0:U], r[U:2 * U], r[2 * U:3 * U], r[3 * U:4 * U]
            cb = c[b]
            ct = cs[t, b, j0:j1]
            mb = m[b]
            for j in range(U):
                i_ = sigmoid(gi[j] + ri[j])
                f_ = sigmoid(gf[j] + rf[j])
                g_ = tanh(gg[j] + rg[j])
                o_ = sigmoid(go[j] + ro[j])
                gi[j] = i_
                gf[j] = f_
                gg[j] = g_
                go[j] = o_
                cnew = f_ * cb[j] + i_ * g_
                cb[j] = cnew
                ct[j] = cnew
                mb[j] = o_ * tanh(cnew)
            if not has_proj:
                hb = nxt[b, j0:j1]
                yb = y[t, b, j0:j1]
                for j in range(U):  # a loop: slice assignment costs more at small U
                    hb[j] = mb[j]
                    yb[j] = mb[j]
        if has_proj:
            step_product(m, wrp, hp, mwork)
            for b in range(B):
                t = time_index(s, lengths[b], reverse)
                if t >= 0:
                    ms[t, b] = m[b]
                    nxt[b] = hp[b]
                    y[t, b] = hp[b]
        barrier(sync, s + 1, nthreads)
    cn[:, j0:j1] = c
    zero_invalid_units(gates, lengths, 4, H, j0, j1)


@jit
def lstm_backward(x, lengths, reverse, w_ih, w_hh, w_hr, has_proj, h0, c0, y, gates, cs, ms,
                  dy, dhn, dcn, dx, dh0, dc0, dw_ih, dw_hh, db, dw_hr, dh_sq, dg, dht,
                  dgbuf, dense, j0, j1, sync, nthreads, part):
    """BPTT over the sequence saved by :func:`lstm_forward`, units ``j0:j1``; then thread
    ``part`` of ``nthreads`` adds its share of the steps to the weight gradients.

    in:     x, lengths, reverse, w_ih, w_hh, w_hr, has_proj, h0, c0 as in the forward;
            y, gates, cs, ms its outputs; dy (T, B, P), dhn (B, P), dcn (B, H)
    out:    dx (T, B, I), dh0 (B, P), dc0 (B, H), dh_sq (T, B) squared norm of dL/dh_t over
            units ``j0:j1`` (each thread its own: partial sums)
    in-out: dw_ih (4H, I), dw_hh (4H, P), db (4H,), dw_hr (P, H) accumulated (each thread
            its own buffers: they are partial sums)
    work:   dg (T, B, 4H) zero-filled, dgbuf (2, B, 4H), both shared; dht (T, B, P) the
            total dL/dh_t when has_proj (else unused, may be empty)
    """
    T, B, _ = x.shape
    H = cs.shape[2]
    P = y.shape[2]
    U = j1 - j0
    q0, q1 = (0, P) if has_proj else (j0, j1)
    dh = np.empty((B, q1 - q0), dtype=x.dtype)
    dh[:] = dhn[:, q0:q1]
    dc = np.empty((B, U), dtype=x.dtype)
    dc[:] = dcn[:, j0:j1]
    dhs = np.zeros((B, q1 - q0), dtype=x.dtype)
    dm = np.empty((B, U), dtype=x.dtype)
    dhrec = np.empty((B, q1 - q0), dtype=x.dtype)
    wb = cols_operand(w_hh, q0, q1, dense)
    bwork = np.empty(apack_shape(B, 4 * H), dtype=x.dtype)
    wrb = pack_b(w_hr if has_proj else w_hr[:0])
    pwork = np.empty(apack_shape(B, P), dtype=x.dtype)
    for s in range(T - 1, -1, -1):
        dgs = dgbuf[s % 2]
        for b in range(B):
            t = time_index(s, lengths[b], reverse)
            if t < 0:
                dhs[b] = 0.0
                continue
            dyb = dy[t, b, q0:q1]
            dhb = dh[b]
            out = dhs[b]
            for k in range(q1 - q0):
                out[k] = dyb[k] + dhb[k]
            dh_sq[t, b] = sum_squares(out)
            if has_proj:
                dht[t, b] = out
        if has_proj:
            step_product(dhs, wrb, dm, pwork)
        else:
            dm[:] = dhs
        for b in range(B):
            L = lengths[b]
            t = time_index(s, L, reverse)
            d = dgs[b]
            if t < 0:
                for gate in range(4):
                    d[gate * H + j0:gate * H + j1] = 0.0
                continue
            p = prev_index(t, L, reverse)
            cp = cs[p, b, j0:j1] if p >= 0 else c0[b, j0:j1]
            g = gates[t, b]
            gi, gf = g[j0:j1], g[H + j0:H + j1]
            gg, go = g[2 * H + j0:2 * H + j1], g[3 * H + j0:3 * H + j1]
            di, df = d[j0:j1], d[H + j0:H + j1]
            dgg, do = d[2 * H + j0:2 * H + j1], d[3 * H + j0:3 * H + j1]
            ct = cs[t, b, j0:j1]
            dmb = dm[b]
            dcb = dc[b]
            for j in range(U):
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
            dgt = dg[t, b]
            for gate in range(4):
                src = d[gate * H + j0:gate * H + j1]
                dst = dgt[gate * H + j0:gate * H + j1]
                for j in range(U):
                    dst[j] = src[j]
        barrier(sync, T - s, nthreads)
        operand_product(dgs, wb, dhrec, bwork)
        copy_active_rows(s, lengths, reverse, dhrec, dh)
    dh0[:, q0:q1] = dh
    dc0[:, j0:j1] = dc
    barrier(sync, T + 1, nthreads)
    t0, t1 = time_range(T, part, nthreads)
    input_grads(dg, x, w_ih, dw_ih, dx, t0, t1)
    recurrent_weight_grad(dg, y, h0, lengths, reverse, dw_hh, t0, t1)
    column_sums(dg[t0:t1], db)
    if has_proj:
        tmp = np.empty_like(dw_hr)
        np.dot(dht.reshape(T * B, P).T, ms.reshape(T * B, H), tmp)
        dw_hr += tmp
