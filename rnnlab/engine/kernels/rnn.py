"""Elman RNN sequence kernels: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` with
``act`` tanh or relu.

Both kernels compute the hidden units ``j0 <= j < j1``; ``nthreads`` threads calling them
at once with disjoint unit ranges and one ``sync`` array share the sequence (see
:mod:`rnnlab.engine.parallel`). One thread passes ``0, H`` and a fresh ``sync``.
"""

from __future__ import annotations

import numpy as np

from ..config import jit
from .common import (
    chunk_grads,
    chunk_slot,
    chunk_work,
    cols_operand,
    copy_active_rows,
    copy_mat,
    copy_vec,
    finish_merged,
    operand_product,
    step_operands,
    step_preactivations,
    step_product,
    sum_squares,
    tanh,
    time_index,
    time_range,
    zero_invalid_units,
)
from .sync import barrier


@jit
def rnn_forward(x, lengths, reverse, w_ih, w_hh, bias, relu, y, pre, hbuf, fused, dense, j0,
                j1, sync, nthreads):
    """Forward over the whole sequence, units ``j0:j1``; ``fused`` and ``dense`` as chosen
    by :func:`rnnlab.engine.cells.step_plan`.

    in:     x (T, B, I), lengths (B,) int64, reverse bool, w_ih (H, I), w_hh (H, H),
            bias (H,) = b_ih + b_hh, relu bool (else tanh)
    in-out: hbuf (2, B, H) shared state buffers, hbuf[0] = h0 on entry; on return
            hbuf[T % 2] holds each sequence's state at its last valid step
    out:    y (T, B, H), 0 past each sequence's length
    work:   pre (T, B, H) unless ``fused`` (then unused, may be empty)
    """
    T, B, _ = x.shape
    H = y.shape[2]
    U = j1 - j0
    wp, xh = step_operands(x, w_ih, w_hh, bias, 1, H, j0, j1, fused, dense, pre)
    packed = wp[0]
    hw = np.empty((B, U), dtype=x.dtype)
    zeros = np.zeros(U, dtype=x.dtype)  # the fused product includes the bias
    for s in range(T):
        cur = hbuf[s % 2]
        nxt = hbuf[(s + 1) % 2]
        if fused or dense:
            step_preactivations(x, s, lengths, reverse, cur, wp, xh, hw, fused)
        else:  # a direct call: see step_preactivations
            step_product(cur, packed, hw)
        for b in range(B):
            t = time_index(s, lengths[b], reverse)
            h = nxt[b, j0:j1]
            if t < 0:
                copy_vec(h, cur[b, j0:j1])
                continue
            v = zeros if fused else pre[t, b, j0:j1]
            r = hw[b]
            yt = y[t, b, j0:j1]
            for j in range(U):
                a = v[j] + r[j]
                if relu:
                    a = a if a > 0.0 else 0.0
                else:
                    a = tanh(a)
                h[j] = a
                yt[j] = a
        barrier(sync, s + 1, nthreads)
    zero_invalid_units(y, lengths, 1, H, j0, j1)


@jit
def rnn_backward(x, lengths, reverse, w_ih, w_hh, relu, h0, y, dy, dhn, dx, dh0, dw_ih, dw_hh,
                 db, dh_sq, dg, dense, merged, j0, j1, sync, nthreads, part):
    """BPTT over the sequence saved by :func:`rnn_forward`, units ``j0:j1``; after each chunk
    of steps (see :func:`~.common.chunk_slot`) thread ``part`` of ``nthreads`` adds its share
    of the chunk's rows to the weight gradients.

    in:     x, lengths, reverse, w_ih, w_hh, relu, h0 (B, H) as in the forward; y its
            output; dy (T, B, H), dhn (B, H)
    out:    dx (T, B, I) zero-filled by the caller, dh0 (B, H), dh_sq (T, B) squared norm of
            dL/dh_t over units ``j0:j1`` (each thread its own: partial sums)
    in-out: dw_ih (H, I), dw_hh (H, H), db (H,) accumulated (each thread its own buffers:
            they are partial sums)
    work:   dg (1 or 2, C, B, H) shared: chunks of ``C`` steps' pre-activation gradients;
            ``merged``: the weight gradients from one product (see :func:`~.common.chunk_grads`)
    """
    T, B, I = x.shape
    H = y.shape[2]
    U = j1 - j0
    C = dg.shape[1]
    dh = np.empty((B, U), dtype=x.dtype)
    copy_mat(dh, dhn[:, j0:j1])
    dhrec = np.empty((B, U), dtype=x.dtype)
    wb = cols_operand(w_hh, j0, j1, dense)
    wbp = wb[0]
    work = chunk_work(C, B, I, H, H, merged, dx)
    for s in range(T - 1, -1, -1):
        q, k = chunk_slot(s, T, C)
        dgs = dg[q % 2, k]
        for b in range(B):
            t = time_index(s, lengths[b], reverse)
            d = dgs[b, j0:j1]
            if t < 0:
                for j in range(U):
                    d[j] = 0.0
                continue
            yt = y[t, b, j0:j1]
            dyb = dy[t, b, j0:j1]
            dhb = dh[b]
            for j in range(U):
                d[j] = dyb[j] + dhb[j]
            dh_sq[t, b] = sum_squares(d)
            for j in range(U):
                if relu:
                    d[j] = d[j] if yt[j] > 0.0 else 0.0
                else:
                    d[j] = d[j] * (1.0 - yt[j] * yt[j])
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
    finish_merged(work, dw_ih, dw_hh)
    copy_mat(dh0[:, j0:j1], dh)
