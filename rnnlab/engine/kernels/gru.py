"""GRU sequence kernels (torch gate order r, z, n).

Step: ``r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)``, ``z`` likewise,
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h_t = (1 - z) n + z h_{t-1}``.

Both kernels compute the hidden units ``j0 <= j < j1`` of every gate; ``nthreads`` threads
calling them at once with disjoint unit ranges and one ``sync`` array share the sequence
(see :mod:`rnnlab.engine.parallel`). One thread passes ``0, H`` and a fresh ``sync``.
"""

from __future__ import annotations

import numpy as np

from ..config import jit
from .common import (
    activate,
    activate_into,
    chunk_input_grads,
    chunk_slot,
    chunk_state_grads,
    cols_operand,
    copy_mat,
    copy_vec,
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
from .gemm import empty_packed, pack_bt_units
from .sync import barrier


@jit
def gru_step_operands(x, w_ih, w_hh, bias_x, b_hn, j0, j1, fused, dense, gates):
    """What :func:`gru_forward` sets up before its time loop: the operand of the step product
    and its input buffer as :func:`~.common.step_operands` makes them, and the packed
    ``[W_in | b_in]`` of the n gate's input part (an empty one unless ``fused``).

    With ``fused`` one product of ``[x_t | 1 | h]`` gives each step the whole r and z
    pre-activations and ``W_hn h + b_hn`` (the n block's input rows are zeros), and a second,
    ``[x_t | 1]`` by the packed ``[W_in | b_in]``, gives ``W_in x_t + b_in``: the n gate
    needs the two parts apart. Without it every step's input projection goes into
    ``gates`` first."""
    H = w_hh.shape[1]
    I = x.shape[2]
    U = j1 - j0
    op, xh = step_operands(x, w_ih, w_hh, bias_x, 3, H, j0, j1, fused, dense, gates)
    nx = empty_packed(I + 1, U if fused else 0, x.dtype)
    if fused:
        packed = op[0]
        NR = packed.shape[2]
        for j in range(U):  # the n block's input rows and bias: 0 and b_hn, not W_in, b_in
            col = 2 * U + j
            rows = packed[col // NR, :, col % NR]
            for k in range(I):
                rows[k] = 0.0
            rows[I] = b_hn[j0 + j]
        pack_bt_units(w_ih[2 * H:], 1, H, j0, j1, nx[:, :I])
        pack_bt_units(bias_x[2 * H:][:, None], 1, H, j0, j1, nx[:, I:])
    return op, xh, nx


@jit
def gru_forward(x, lengths, reverse, w_ih, w_hh, bias_x, b_hn, y, gates, hlin, hbuf, fused,
                dense, j0, j1, sync, nthreads):
    """Forward over the whole sequence, units ``j0:j1``; ``fused`` (see
    :func:`gru_step_operands`) and ``dense`` as chosen by
    :func:`rnnlab.engine.cells.step_plan`.

    in:     x (T, B, I), lengths (B,) int64, reverse bool, w_ih (3H, I), w_hh (3H, H),
            bias_x (3H,) = b_ih + (b_hr, b_hz, 0), b_hn (H,)
    in-out: hbuf (2, B, H) shared state buffers, hbuf[0] = h0 on entry; on return
            hbuf[T % 2] holds each sequence's state at its last valid step
    out:    y (T, B, H), gates (T, B, 3H) activated r, z, n, hlin (T, B, H) = W_hn h_{t-1}
            + b_hn, all 0 past each sequence's length (gates: when kept)

    ``hlin (0, B, H)`` keeps nothing for the backward (inference): each step's ``hlin`` goes
    to a scratch row, and ``gates`` is a work buffer as in :func:`~.lstm.lstm_forward`.
    """
    T, B, I = x.shape
    H = y.shape[2]
    U = j1 - j0
    wp, xh, nxp = gru_step_operands(x, w_ih, w_hh, bias_x, b_hn, j0, j1, fused, dense, gates)
    packed = wp[0]
    hw = np.empty((B, 3 * U), dtype=x.dtype)
    xn = np.empty((B, U if fused else 0), dtype=x.dtype)
    bn = np.zeros(U, dtype=x.dtype) if fused else b_hn[j0:j1]  # fused: in the product
    keep = hlin.shape[0] > 0
    gs = steps_or_scratch(gates, keep or not fused)
    hl = steps_or_scratch(hlin, keep)
    for s in range(T):
        cur = hbuf[s % 2]
        nxt = hbuf[(s + 1) % 2]
        if fused:
            step_preactivations(x, s, lengths, reverse, cur, wp, xh, hw, True)
            step_product(xh[:, :I + 1], nxp, xn)
        elif dense:
            operand_product(cur, wp, hw, s)
        else:  # a direct call: see step_preactivations
            step_product(cur, packed, hw)
        for b in range(B):
            t = time_index(s, lengths[b], reverse)
            h = cur[b, j0:j1]
            hnew = nxt[b, j0:j1]
            if t < 0:
                copy_vec(hnew, h)
                continue
            g = step_row(gs, t, b)
            r = hw[b]
            if fused:
                activate_into(g[j0:j1], r[0:U], False)
                activate_into(g[H + j0:H + j1], r[U:2 * U], False)
            else:
                activate(g[j0:j1], r[0:U], False)
                activate(g[H + j0:H + j1], r[U:2 * U], False)
            gr, gz, gn = g[j0:j1], g[H + j0:H + j1], g[2 * H + j0:2 * H + j1]
            if fused:  # gn then holds the n gate's input part, as without fusing
                copy_vec(gn, xn[b])
            rn = r[2 * U:3 * U]
            a = step_row(hl, t, b)[j0:j1]
            yt = y[t, b, j0:j1]
            for j in range(U):
                a_ = rn[j] + bn[j]
                n_ = tanh(gn[j] + gr[j] * a_)
                gn[j] = n_
                a[j] = a_
                z_ = gz[j]
                v = (1.0 - z_) * n_ + z_ * h[j]
                hnew[j] = v
                yt[j] = v
        barrier(sync, s + 1, nthreads)
    zero_invalid_units(y, lengths, 1, H, j0, j1)
    if keep:
        zero_invalid_units(gates, lengths, 3, H, j0, j1)
        zero_invalid_units(hlin, lengths, 1, H, j0, j1)


@jit
def bias_grads_to_recurrent(chunk, s_top, k0, k1, gates, lengths, reverse, db_ih, db_hh):
    """Rows ``k0:k1`` of a backward chunk ``(C, B, 3H)`` of input-side pre-activation
    gradients (row ``k`` is step ``s_top - k``) in one pass, each row while it is in cache:
    ``db_ih +=`` the row; its n block times that step's ``r`` makes it the recurrent side
    (in place); ``db_hh +=`` that. Rows of ended sequences are zero and skipped."""
    H = gates.shape[2] // 3
    for kk in range(k0, k1):
        for b in range(chunk.shape[1]):
            t = time_index(s_top - kk, lengths[b], reverse)
            if t < 0:
                continue
            row = chunk[kk, b]
            for j in range(3 * H):
                db_ih[j] += row[j]
            dn = row[2 * H:]
            r = gates[t, b, 0:H]
            for j in range(H):
                dn[j] *= r[j]
            for j in range(3 * H):
                db_hh[j] += row[j]


@jit
def gru_backward(x, lengths, reverse, w_ih, w_hh, h0, y, gates, hlin, dy, dhn, dx, dh0,
                 dw_ih, dw_hh, db_ih, db_hh, dh_sq, dg, dgbuf, dense, j0, j1, sync, nthreads,
                 part):
    """BPTT over the sequence saved by :func:`gru_forward`, units ``j0:j1``; after each chunk
    of steps (see :func:`~.common.chunk_slot`) thread ``part`` of ``nthreads`` adds its share
    of the chunk's rows to the weight gradients.

    in:     x, lengths, reverse, w_ih, w_hh, h0 (B, H) as in the forward; y, gates, hlin
            its outputs; dy (T, B, H), dhn (B, H)
    out:    dx (T, B, I) zero-filled by the caller, dh0 (B, H), dh_sq (T, B) squared norm of
            dL/dh_t over units ``j0:j1`` (each thread its own: partial sums)
    in-out: dw_ih (3H, I), dw_hh (3H, H), db_ih (3H,), db_hh (3H,) accumulated (each
            thread its own buffers: they are partial sums)
    work:   dg (1 or 2, C, B, 3H), dgbuf (2, B, 3H); both shared. ``dg`` holds chunks of ``C``
            steps' input-side pre-activation gradients; a chunk's n block, times r,
            becomes the recurrent side when its weight gradients are added. ``dgbuf`` holds
            a step's recurrent side for the product that carries it back.
    """
    T, B, I = x.shape
    H = y.shape[2]
    U = j1 - j0
    C = dg.shape[1]
    dh = np.empty((B, U), dtype=x.dtype)
    copy_mat(dh, dhn[:, j0:j1])
    direct = np.zeros((B, U), dtype=x.dtype)
    dtot = np.empty((B, U), dtype=x.dtype)
    dhrec = np.empty((B, U), dtype=x.dtype)
    wb = cols_operand(w_hh, j0, j1, dense)
    wbp = wb[0]
    xg = np.empty((C, B, I), dtype=x.dtype)
    hg = np.empty((C, B, H), dtype=x.dtype)
    for s in range(T - 1, -1, -1):
        dgs = dgbuf[s % 2]
        q, k = chunk_slot(s, T, C)
        for b in range(B):
            L = lengths[b]
            t = time_index(s, L, reverse)
            dhg = dgs[b]
            dxg = dg[q % 2, k, b]
            if t < 0:
                for gate in range(3):
                    for j in range(gate * H + j0, gate * H + j1):
                        dhg[j] = 0.0
                        dxg[j] = 0.0
                continue
            dhr, dhz, dhn_ = dhg[j0:j1], dhg[H + j0:H + j1], dhg[2 * H + j0:2 * H + j1]
            p = prev_index(t, L, reverse)
            hp = y[p, b, j0:j1] if p >= 0 else h0[b, j0:j1]
            g = gates[t, b]
            gr, gz, gn = g[j0:j1], g[H + j0:H + j1], g[2 * H + j0:2 * H + j1]
            a = hlin[t, b, j0:j1]
            dxr, dxz, dxn = dxg[j0:j1], dxg[H + j0:H + j1], dxg[2 * H + j0:2 * H + j1]
            dyb = dy[t, b, j0:j1]
            dhb = dh[b]
            tot = dtot[b]
            for j in range(U):
                tot[j] = dyb[j] + dhb[j]
            dh_sq[t, b] = sum_squares(tot)
            dirb = direct[b]
            for j in range(U):
                d = tot[j]
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
        barrier(sync, T - s, nthreads)
        if dense:
            operand_product(dgs, wb, dhrec, s)
        else:  # a direct call: see step_preactivations
            step_product(dgs, wbp, dhrec)
        for b in range(B):
            if time_index(s, lengths[b], reverse) >= 0:
                dhb = dh[b]
                rec = dhrec[b]
                dirb = direct[b]
                for j in range(U):
                    dhb[j] = rec[j] + dirb[j]
        if k == C - 1 or s == 0:
            k0, k1 = time_range(k + 1, part, nthreads)
            chunk = dg[q % 2]
            chunk_input_grads(chunk, s + k, k0, k1, x, w_ih, lengths, reverse, dw_ih, dx, xg)
            bias_grads_to_recurrent(chunk, s + k, k0, k1, gates, lengths, reverse, db_ih,
                                    db_hh)
            chunk_state_grads(chunk, s + k, k0, k1, y, h0, True, lengths, reverse, dw_hh, hg)
    copy_mat(dh0[:, j0:j1], dh)
