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
    activate,
    activate_into,
    chunk_grads,
    chunk_slot,
    chunk_state_grads,
    chunk_work,
    cols_operand,
    copy_active_rows,
    copy_mat,
    copy_vec,
    finish_merged,
    operand_product,
    prev_index,
    step_operands,
    step_preactivations,
    step_product,
    step_row,
    steps_or_scratch,
    sum_squares,
    tanh,
    time_index,
    time_range,
    zero_invalid_units,
)
from .gemm import pack_b, pack_bt
from .sync import barrier


@jit
def activate_gates(g, r, H, j0, j1, whole):
    """Units ``j0:j1`` of the gates ``g (4H,)`` of one sequence and step, activated in
    place (sigmoid for i, f, o; tanh for g): of ``r (4U,)`` when ``whole`` (the product was
    the whole pre-activation), else of ``g + r`` (``g`` holds the input projection).

    One call per gate with a literal activation: with the choice computed in a loop
    (``gate == 2``) they ran 3x slower at 32 units."""
    U = j1 - j0
    if whole:
        activate_into(g[j0:j1], r[:U], False)
        activate_into(g[H + j0:H + j1], r[U:2 * U], False)
        activate_into(g[2 * H + j0:2 * H + j1], r[2 * U:3 * U], True)
        activate_into(g[3 * H + j0:3 * H + j1], r[3 * U:], False)
    else:
        activate(g[j0:j1], r[:U], False)
        activate(g[H + j0:H + j1], r[U:2 * U], False)
        activate(g[2 * H + j0:2 * H + j1], r[2 * U:3 * U], True)
        activate(g[3 * H + j0:3 * H + j1], r[3 * U:], False)


@jit
def lstm_forward(x, lengths, reverse, w_ih, w_hh, bias, w_hr, has_proj, c0,
                 y, gates, cs, ms, hbuf, cn, fused, dense, j0, j1, sync, nthreads):
    """Forward over the whole sequence, units ``j0:j1``; ``fused`` and ``dense`` as chosen
    by :func:`rnnlab.engine.cells.step_plan`.

    in:     x (T, B, I), lengths (B,) int64, reverse bool, w_ih (4H, I), w_hh (4H, P),
            bias (4H,) = b_ih + b_hh, w_hr (P, H) (ignored unless has_proj), c0 (B, H)
    in-out: hbuf (2, B, P) shared state buffers, hbuf[0] = h0 on entry; on return
            hbuf[T % 2] holds each sequence's state at its last valid step
    out:    y (T, B, P), gates (T, B, 4H) activated i, f, g, o, cs (T, B, H) cell states,
            ms (T, B, H) o*tanh(c) (if has_proj), all 0 past each sequence's length;
            cn (B, H) cell states at each sequence's last valid step

    ``cs (0, B, H)`` keeps nothing for the backward (inference): then ``ms`` is unused, and
    ``gates`` is a work buffer (the input projections, activated in place, not zeroed past
    the lengths) unless ``fused``; then it has 0 steps and each step's activated gates go
    to a scratch row, which stays in cache.
    """
    T, B, _ = x.shape
    H = cs.shape[2]
    P = y.shape[2]
    U = j1 - j0
    q0, q1 = (0, P) if has_proj else (j0, j1)
    wp, xh = step_operands(x, w_ih, w_hh, bias, 4, H, j0, j1, fused, dense, gates)
    packed = wp[0]
    keep = cs.shape[0] > 0
    gs = steps_or_scratch(gates, keep or not fused)
    c = np.empty((B, U), dtype=x.dtype)
    copy_mat(c, c0[:, j0:j1])
    hw = np.empty((B, 4 * U), dtype=x.dtype)
    m = np.empty((B, U), dtype=x.dtype)
    hp = np.empty((B, P), dtype=x.dtype)
    wrp = pack_bt(w_hr if has_proj else w_hr[:0])
    for s in range(T):
        cur = hbuf[s % 2]
        nxt = hbuf[(s + 1) % 2]
        if fused or dense:
            step_preactivations(x, s, lengths, reverse, cur, wp, xh, hw, fused)
        else:  # a direct call: see step_preactivations
            step_product(cur, packed, hw)
        for b in range(B):
            t = time_index(s, lengths[b], reverse)
            if t < 0:
                copy_vec(nxt[b, q0:q1], cur[b, q0:q1])
                continue
            g = step_row(gs, t, b)
            activate_gates(g, hw[b], H, j0, j1, fused)
            gi, gf = g[j0:j1], g[H + j0:H + j1]
            gg, go = g[2 * H + j0:2 * H + j1], g[3 * H + j0:3 * H + j1]
            cb = c[b]
            mb = m[b]
            for j in range(U):
                cnew = gf[j] * cb[j] + gi[j] * gg[j]
                cb[j] = cnew
                mb[j] = go[j] * tanh(cnew)
            if keep:
                copy_vec(cs[t, b, j0:j1], cb)  # a loop of its own: fewer arrays in the one above
            if not has_proj:
                hb = nxt[b, j0:j1]
                yb = y[t, b, j0:j1]
                for j in range(U):  # a loop: slice assignment costs more at small U
                    hb[j] = mb[j]
                    yb[j] = mb[j]
        if has_proj:
            step_product(m, wrp, hp)
            for b in range(B):
                t = time_index(s, lengths[b], reverse)
                if t >= 0:
                    if keep:
                        copy_vec(ms[t, b], m[b])
                    copy_vec(nxt[b], hp[b])
                    copy_vec(y[t, b], hp[b])
        barrier(sync, s + 1, nthreads)
    copy_mat(cn[:, j0:j1], c)
    zero_invalid_units(y, lengths, 1, P, q0, q1)
    if keep:
        zero_invalid_units(gates, lengths, 4, H, j0, j1)
        zero_invalid_units(cs, lengths, 1, H, j0, j1)
        if has_proj:
            zero_invalid_units(ms, lengths, 1, H, 0, H)


@jit
def lstm_backward(x, lengths, reverse, w_ih, w_hh, w_hr, has_proj, h0, c0, y, gates, cs, ms,
                  dy, dhn, dcn, dx, dh0, dc0, dw_ih, dw_hh, db, dw_hr, dh_sq, dg, dht, dense,
                  merged, j0, j1, sync, nthreads, part):
    """BPTT over the sequence saved by :func:`lstm_forward`, units ``j0:j1``; after each
    chunk of steps (see :func:`~.common.chunk_slot`) thread ``part`` of ``nthreads`` adds its
    share of the chunk's rows to the weight gradients.

    in:     x, lengths, reverse, w_ih, w_hh, w_hr, has_proj, h0, c0 as in the forward;
            y, gates, cs, ms its outputs; dy (T, B, P), dhn (B, P), dcn (B, H)
    out:    dx (T, B, I) zero-filled by the caller, dh0 (B, P), dc0 (B, H), dh_sq (T, B)
            squared norm of dL/dh_t over units ``j0:j1`` (each thread its own: partial sums)
    in-out: dw_ih (4H, I), dw_hh (4H, P), db (4H,), dw_hr (P, H) accumulated (each thread
            its own buffers: they are partial sums)
    work:   dg (1 or 2, C, B, 4H) shared: chunks of ``C`` steps' pre-activation gradients;
            dht (1 or 2, C, B, P) likewise the total dL/dh_t when has_proj (else unused);
            ``merged``: the weight gradients from one product (see :func:`~.common.chunk_grads`)
    """
    T, B, I = x.shape
    H = cs.shape[2]
    P = y.shape[2]
    U = j1 - j0
    C = dg.shape[1]
    q0, q1 = (0, P) if has_proj else (j0, j1)
    dh = np.empty((B, q1 - q0), dtype=x.dtype)
    copy_mat(dh, dhn[:, q0:q1])
    dc = np.empty((B, U), dtype=x.dtype)
    copy_mat(dc, dcn[:, j0:j1])
    dhs = np.zeros((B, q1 - q0), dtype=x.dtype)
    dm = np.empty((B, U), dtype=x.dtype)
    dhrec = np.empty((B, q1 - q0), dtype=x.dtype)
    wb = cols_operand(w_hh, q0, q1, dense)
    wbp = wb[0]
    wrb = pack_b(w_hr if has_proj else w_hr[:0])
    work = chunk_work(C, B, I, P, 4 * H, merged, dx)
    mg = np.empty((C if has_proj else 0, B, H), dtype=x.dtype)
    for s in range(T - 1, -1, -1):
        q, k = chunk_slot(s, T, C)
        dgs = dg[q % 2, k]
        for b in range(B):
            t = time_index(s, lengths[b], reverse)
            out = dhs[b]
            if t < 0:
                for j in range(q1 - q0):
                    out[j] = 0.0
            else:
                dyb = dy[t, b, q0:q1]
                dhb = dh[b]
                for j in range(q1 - q0):
                    out[j] = dyb[j] + dhb[j]
                dh_sq[t, b] = sum_squares(out)
            if has_proj:
                copy_vec(dht[q % 2, k, b], out)
        if has_proj:
            step_product(dhs, wrb, dm)
        else:
            copy_mat(dm, dhs)
        for b in range(B):
            L = lengths[b]
            t = time_index(s, L, reverse)
            d = dgs[b]
            if t < 0:
                for gate in range(4):
                    for j in range(gate * H + j0, gate * H + j1):
                        d[j] = 0.0
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
        barrier(sync, T - s, nthreads)
        if dense:
            operand_product(dgs, wb, dhrec, s)
        else:  # a direct call: see step_preactivations
            step_product(dgs, wbp, dhrec)
        copy_active_rows(s, lengths, reverse, dhrec, dh)
        if k == C - 1 or s == 0:
            k0, k1 = time_range(k + 1, part, nthreads)
            chunk_grads(dg[q % 2], s + k, k0, k1, x, w_ih, y, h0, lengths, reverse, dw_ih,
                        dw_hh, db, dx, work)
            if has_proj:
                chunk_state_grads(dht[q % 2], s + k, k0, k1, ms, ms[0], False, lengths,
                                  reverse, dw_hr, mg)
    finish_merged(work, dw_ih, dw_hh)
    copy_mat(dh0[:, q0:q1], dh)
    copy_mat(dc0[:, j0:j1], dc)
