"""Helpers shared by the sequence kernels: activations, time indexing, GEMM tails.

All functions are compiled with the project flags and trust their inputs.
"""

from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.extending import overload

from ..config import JIT_OPTIONS, jit
from .blas import gemm_into, grad_gemm_into
from .gemm import empty_packed, gemm_panels, pack_b, pack_bt_units


def tanh(x):
    """tanh: exact for float64; for float32 a rational approximation (max abs error 3.6e-7,
    about 3 ulp) that, unlike libm's, vectorises (18x faster per element here)."""
    return math.tanh(x)


def sigmoid(x):
    """Logistic function; float32 goes through the vectorisable :func:`tanh`."""
    if x < -700.0:  # without the JIT, math.exp raises OverflowError where numba gives inf
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


_CLAMP = 7.90531110763549805
# Odd numerator and even denominator of a [13/6] rational fit of tanh on [-_CLAMP, _CLAMP].
_P = (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
      5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03)
_Q = (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)
#: the activations may fuse a multiply and an add into one FMA (``contract``, nothing else of
#: fastmath: NaN and Inf keep their meaning); it shortens their dependency chains
_ACTIVATION_OPTIONS = {**JIT_OPTIONS, "fastmath": {"contract"}}


@overload(tanh, jit_options=_ACTIVATION_OPTIONS)
def _tanh_impl(x):
    if x != types.float32:
        return lambda x: math.tanh(x)
    c = np.float32(_CLAMP)
    p0, p1, p2, p3, p4, p5, p6 = (np.float32(v) for v in _P)
    q0, q1, q2, q3 = (np.float32(v) for v in _Q)

    def impl(x):
        x = min(max(x, -c), c)
        x2 = x * x
        p = ((((((p0 * x2 + p1) * x2 + p2) * x2 + p3) * x2 + p4) * x2 + p5) * x2 + p6)
        q = (((q0 * x2 + q1) * x2 + q2) * x2 + q3)
        return x * p / q

    return impl


@overload(sigmoid, jit_options=_ACTIVATION_OPTIONS)
def _sigmoid_impl(x):
    if x != types.float32:
        return lambda x: 1.0 / (1.0 + math.exp(-x))
    half = np.float32(0.5)

    def impl(x):
        return half + half * tanh(half * x)

    return impl


@jit
def activate(dst, add, squash):
    """``dst[j] = act(dst[j] + add[j])`` in place, ``act`` sigmoid, or tanh with ``squash``.
    A loop of its own (two arrays, one activation) runs ~20% faster than the same work inside
    a cell's update loop, whose many arrays keep the vectoriser busy with overlap checks."""
    if squash:
        for j in range(dst.shape[0]):
            dst[j] = tanh(dst[j] + add[j])
    else:
        for j in range(dst.shape[0]):
            dst[j] = sigmoid(dst[j] + add[j])


@jit
def activate_into(dst, src, squash):
    """``dst[j] = act(src[j])`` (see :func:`activate`): for a pre-activation that is whole
    already, so ``dst`` needs no zero fill first."""
    if squash:
        for j in range(dst.shape[0]):
            dst[j] = tanh(src[j])
    else:
        for j in range(dst.shape[0]):
            dst[j] = sigmoid(src[j])


@jit
def steps_or_scratch(buf, kept):
    """``buf (T, B, N)`` when ``kept``, else a one-step scratch ``(1, B, N)`` (``buf`` may
    then have 0 steps) that every step overwrites: see :func:`step_row`."""
    if kept:
        return buf
    return np.empty((1, buf.shape[1], buf.shape[2]), dtype=buf.dtype)


@jit
def step_row(buf, t, b):
    """Row ``b`` of step ``t`` of a buffer from :func:`steps_or_scratch` (its only step when
    it is a scratch)."""
    return buf[t if buf.shape[0] > 1 else 0, b]


@jit
def copy_vec(dst, src):
    """``dst[:] = src`` for 1-D arrays of one length, as a loop. An array-to-array slice
    assignment compiles a shape check with its error message: seconds of cold compile per
    kernel that calls it."""
    for j in range(dst.shape[0]):
        dst[j] = src[j]


@jit
def copy_mat(dst, src):
    """``dst[:] = src`` for 2-D arrays of one shape (see :func:`copy_vec`)."""
    for i in range(dst.shape[0]):
        copy_vec(dst[i], src[i])


@jit
def step_product(a, packed, c):
    """``c = a @ b`` for ``a (M, K)`` and ``c (M, N)`` with contiguous rows and ``b`` packed
    for them (:func:`~.gemm.pack_b`, :func:`~.gemm.pack_bt`).

    Unchecked, unlike :func:`~.gemm.gemm_packed`: the kernels pack their own operands, and
    its checks cost ~30 ns a call, a quarter of a one-row product at hidden 32. Serial on
    purpose: a parallel region per timestep costs more than it gains below hidden ~512, and
    functions calling Numba's parallel code cannot be cached. Threads are used across
    sequences and directions instead (:mod:`rnnlab.engine.recurrent`).
    """
    gemm_panels(a, packed, c, False, 0, packed.shape[0])


@jit
def rows_operand(w, G, H, j0, j1, dense):
    """``b = w[rows].T`` (rows: units ``j0:j1`` of each of the ``G`` blocks of ``w (G*H, K)``)
    as :func:`operand_product` takes it: packed (see :func:`~.gemm.pack_bt_units`), or with
    ``dense`` (one-row products only; 1 or 2, the parts of the product) the gathered rows
    themselves, for BLAS's matrix-vector product.

    An operand is ``(packed, dense, transposed, parts)``: ``packed (NP, K, NR)`` (no panels
    if dense), ``dense`` the plain weight (no rows if packed), ``transposed`` whether
    ``dense`` holds ``b.T (N, K)`` rather than ``b (K, N)``, ``parts`` 1 or 2."""
    K = w.shape[1]
    U = j1 - j0
    if not dense:
        return pack_bt_units(w, G, H, j0, j1), np.empty((0, K), dtype=w.dtype), True, 1
    rows = np.empty((G * U, K), dtype=w.dtype)
    for g in range(G):
        copy_mat(rows[g * U:(g + 1) * U], w[g * H + j0:g * H + j1])
    return empty_packed(K, 0, w.dtype), rows, True, dense


@jit
def cols_operand(w, q0, q1, dense):
    """``b = w[:, q0:q1]`` of ``w (K, N)`` for :func:`operand_product` (see
    :func:`rows_operand`)."""
    K = w.shape[0]
    if not dense:
        return pack_b(w[:, q0:q1]), np.empty((0, q1 - q0), dtype=w.dtype), False, 1
    return empty_packed(K, 0, w.dtype), np.ascontiguousarray(w[:, q0:q1]), False, dense


@jit
def fused_operand(w_ih, w_hh, bias, G, H, j0, j1):
    """:func:`rows_operand` (packed) of ``[w_ih | bias | w_hh] (G*H, I + 1 + P)``: the weight
    of ``[x_t | 1 | h_{t-1}] @ [w_ih | bias | w_hh].T``, which gives a step's whole
    pre-activation in one product (see :func:`fused_inputs`). Each part packs from its own
    array: concatenating them first cost as much again (a thread copied every unit's rows)."""
    I = w_ih.shape[1]
    U = j1 - j0
    packed = empty_packed(I + 1 + w_hh.shape[1], G * U, w_ih.dtype)
    pack_bt_units(w_ih, G, H, j0, j1, packed[:, :I])
    pack_bt_units(bias[:, None], G, H, j0, j1, packed[:, I:I + 1])
    pack_bt_units(w_hh, G, H, j0, j1, packed[:, I + 1:])
    return packed, np.empty((0, packed.shape[1]), dtype=w_ih.dtype), True, 1


@jit
def fused_inputs(x, s, lengths, reverse, h, xh):
    """``xh[b] = [x[t, b] | 1 | h[b]]`` (``xh (B, I + 1 + P)``) for each sequence ``b``
    active at step ``s`` (``t`` its position then); other rows are left as they are."""
    I = x.shape[2]
    for b in range(xh.shape[0]):
        t = time_index(s, lengths[b], reverse)
        if t >= 0:
            row = xh[b]
            copy_vec(row[:I], x[t, b])
            row[I] = 1.0
            copy_vec(row[I + 1:], h[b])


@jit
def operand_product(a, op, c, s):
    """``c (M, N) = a (M, K) @ b`` for ``op`` from :func:`rows_operand` or
    :func:`cols_operand` (``M == 1`` if it is dense) at step ``s`` of a sequence kernel.

    A dense product in two parts goes in two halves (of the output, or of the sum), their
    order flipped from one step to the next: each step starts on the half the step before
    ended with, which is still in L2 when the whole weight is not (see
    :func:`~rnnlab.engine.cells.step_plan`).
    """
    packed, dense, transposed, parts = op
    if dense.shape[0] == 0:
        gemm_panels(a, packed, c, False, 0, packed.shape[0])  # unchecked: see step_product
        return
    n = dense.shape[0]
    mid = n // 2 if parts == 2 else n
    swap = parts == 2 and s % 2 == 1
    out = c[0]
    for q in range(parts):
        lo, hi = (0, mid) if (q == 0) != swap else (mid, n)
        if transposed:  # dense (N, K): parts of the output
            np.dot(dense[lo:hi], a[0], out[lo:hi])
            continue
        # dense (K, N): parts of the sum, the second through a scratch row
        part = out if q == 0 else np.empty_like(out)
        np.dot(a[0, lo:hi], dense[lo:hi], part)
        if q > 0:
            for j in range(out.shape[0]):
                out[j] += part[j]


@jit
def step_operands(x, w_ih, w_hh, bias, G, H, j0, j1, fused, dense, projected):
    """What a forward over units ``j0:j1`` sets up before its time loop: the operand of the
    per-step product (:func:`fused_operand` when ``fused``, else :func:`rows_operand` of
    ``w_hh``) and the product's input buffer ``xh`` (see :func:`fused_inputs`; no columns
    unless ``fused``). Without ``fused`` the input projection of every step goes into
    ``projected (T, B, G*H)`` first."""
    B = x.shape[1]
    P = w_hh.shape[1]
    if fused:
        op = fused_operand(w_ih, w_hh, bias, G, H, j0, j1)
        xh = np.zeros((B, x.shape[2] + 1 + P), dtype=x.dtype)
    else:
        input_projection_units(x, w_ih, bias, G, H, j0, j1, projected)
        op = rows_operand(w_hh, G, H, j0, j1, dense)
        xh = np.zeros((B, 0), dtype=x.dtype)
    return op, xh


@jit
def step_preactivations(x, s, lengths, reverse, h, op, xh, out, fused):
    """``out (B, G*U)``: the product part of step ``s``'s pre-activations for the state
    ``h (B, P)``, with the operands of :func:`step_operands` (with ``fused`` the whole
    pre-activation, input and bias included).

    For the packed recurrent weight alone (neither ``fused`` nor ``dense``) the kernels
    call :func:`step_product` on it themselves, taken out of the operand before the time
    loop, and so do the backwards for :func:`operand_product`: through these functions a
    step took ~60 ns more at hidden 32, batch 1 (500 against 440 ns for the LSTM)."""
    if fused:
        fused_inputs(x, s, lengths, reverse, h, xh)
        operand_product(xh, op, out, s)
    else:
        operand_product(h, op, out, s)


@jit
def copy_active_rows(s, lengths, reverse, src, dst):
    """``dst[b] = src[b]`` for the sequences active at step ``s`` (others keep theirs); row
    copies as loops, which cost less than slice assignment at small widths."""
    for b in range(dst.shape[0]):
        if time_index(s, lengths[b], reverse) >= 0:
            d = dst[b]
            r = src[b]
            for j in range(d.shape[0]):
                d[j] = r[j]


@jit
def carry_recurrent_grad(s, lengths, reverse, dgs, packed_w, dhrec, dh):
    """``dh[b] = (dgs @ W)[b]`` for the sequences active at step ``s`` (others keep theirs).

    ``dgs (B, G)`` pre-activation gradients of this step (0 for inactive rows),
    ``packed_w`` the packed ``W (G, H)``, ``dhrec (B, H)`` scratch.
    """
    step_product(dgs, packed_w, dhrec)
    copy_active_rows(s, lengths, reverse, dhrec, dh)


@jit
def finish_backward(dgx, dgh, x, w_ih, y, h0, lengths, reverse, dht, dh, dh0, dw_ih, dw_hh,
                    dx, dh_sq):
    """What every backward ends with: the initial-state gradient ``dh0 = dh``, the squared
    norms ``dh_sq (T, B)`` of the total ``dht (T, B, H)``, and the weight gradients and
    ``dx`` as GEMMs over all steps (see :func:`input_grads` and
    :func:`recurrent_weight_grad`; ``y`` and ``h0`` give the state that fed each step)."""
    copy_mat(dh0, dh)
    row_sq_norms(dht, dh_sq)
    input_grads(dgx, x, w_ih, dw_ih, dx, 0, x.shape[0])
    recurrent_weight_grad(dgh, y, h0, lengths, reverse, dw_hh)


@jit
def input_grads(dgx, x, w_ih, dw_ih, dx, t0, t1):
    """Steps ``t0 <= t < t1`` of :func:`weight_grads`: ``dx`` there and their share of
    ``dw_ih`` (threads that split the steps pass disjoint ranges and their own ``dw_ih``)."""
    if t1 > t0:
        weight_grads(dgx[t0:t1], x[t0:t1], w_ih, dw_ih, dx[t0:t1])


@jit
def time_range(T, part, parts):
    """Steps ``t0, t1`` of share ``part`` when ``T`` steps are split into ``parts``."""
    return part * T // parts, (part + 1) * T // parts


@jit
def recurrent_weight_grad(dgh, y, h0, lengths, reverse, dw_hh, t0=0, t1=-1):
    """``dw_hh (G, H) += sum over steps t0 <= t < t1 of dgh[t].T @ h_prev[t]`` (``t1 = -1``:
    up to ``T``) without building ``h_prev``: it is ``y (T, B, H)`` shifted by one step
    (``y`` is 0 past each length), except at each sequence's first step, where it is
    ``h0 (B, H)``."""
    T, B, G = dgh.shape
    H = y.shape[2]
    if t1 < 0:
        t1 = T
    lo, hi = (t0, min(t1, T - 1)) if reverse else (max(t0, 1), t1)
    if hi > lo:
        n = (hi - lo) * B
        a = dgh[lo:hi]
        b = y[lo + 1:hi + 1] if reverse else y[lo - 1:hi - 1]
        grad_gemm_into(a.reshape(n, G), b.reshape(n, H), dw_hh, 1.0)
    firsts = np.zeros((B, G), dtype=dgh.dtype)
    for k in range(B):
        t = lengths[k] - 1 if reverse else 0
        if t0 <= t < t1:
            copy_vec(firsts[k], dgh[t, k])
    gemm_into(firsts.T, h0, dw_hh, 1.0)


@jit
def chunk_slot(s, T, C):
    """Chunk ``q`` and row ``k`` of step ``s`` in a backward that keeps the pre-activation
    gradients of ``C`` steps at a time: steps run from ``T - 1`` down, so row ``k`` of chunk
    ``q`` is step ``T - 1 - q * C - k``; a chunk is complete at ``k == C - 1`` or ``s == 0``.
    Two chunk buffers alternate (``q % 2``): threads may still read one while the next fills
    (one buffer when ``C == T``).
    """
    q = (T - 1 - s) // C
    return q, T - 1 - s - q * C


@jit
def gather_steps(seq, init, shift, s_top, k0, k1, lengths, reverse, out, c0=0):
    """``out[k - k0, b, c0:c0 + N]`` for the rows ``k0 <= k < k1`` of a chunk (row ``k`` is
    step ``s_top - k``): the row of ``seq (T, B, N)`` at the position sequence ``b`` has at
    that step (with ``shift`` the position that fed it, or ``init[b]`` at its first), or
    zeros where ``b`` has ended. ``out (>= k1 - k0, B, >= c0 + N)``; a column range of a
    contiguous ``out``, not a strided view of it, keeps the row copies fast (3x)."""
    B = seq.shape[1]
    N = seq.shape[2]
    for k in range(k0, k1):
        for b in range(B):
            L = lengths[b]
            t = time_index(s_top - k, L, reverse)
            dst = out[k - k0, b, c0:c0 + N]
            if t < 0:
                for j in range(N):
                    dst[j] = 0.0
                continue
            src = seq[t, b]
            if shift:
                p = prev_index(t, L, reverse)
                src = seq[p, b] if p >= 0 else init[b]
            copy_vec(dst, src)


@jit
def scatter_steps(src, s_top, k0, k1, lengths, reverse, seq):
    """The inverse of :func:`gather_steps` without ``shift``: ``seq[t, b] = src[k - k0, b]``
    where sequence ``b`` is at position ``t`` at step ``s_top - k``; other rows untouched."""
    B = seq.shape[1]
    for k in range(k0, k1):
        for b in range(B):
            t = time_index(s_top - k, lengths[b], reverse)
            if t >= 0:
                copy_vec(seq[t, b], src[k - k0, b])


@jit
def chunk_input_grads(dgc, s_top, k0, k1, x, w_ih, lengths, reverse, dw_ih, dx, xg):
    """Input side of rows ``k0:k1`` of a chunk ``dgc (C, B, G)`` of pre-activation gradients
    (row ``k`` is step ``s_top - k``, zero where a sequence has ended): ``dw_ih (G, I) +=
    dg.T @ x`` over those rows and ``dx (T, B, I) = dg @ w_ih`` at their positions (not
    when ``dx`` has 0 steps: no input gradient wanted). ``xg (C, B, I)`` scratch."""
    n = k1 - k0
    if n <= 0:
        return
    B, G = dgc.shape[1], dgc.shape[2]
    I = x.shape[2]
    gather_steps(x, x[0], False, s_top, k0, k1, lengths, reverse, xg)
    d2 = dgc[k0:k1].reshape(n * B, G)
    x2 = xg[:n].reshape(n * B, I)
    grad_gemm_into(d2, x2, dw_ih, 1.0)
    chunk_dx(d2, w_ih, s_top, k0, k1, lengths, reverse, dx, xg)


@jit
def chunk_dx(d2, w_ih, s_top, k0, k1, lengths, reverse, dx, xg):
    """``dx (T, B, I) = dg @ w_ih`` at the positions of rows ``k0:k1`` of a chunk, ``d2
    ((k1 - k0) * B, G)`` their pre-activation gradients; nothing when ``dx`` has 0 steps (no
    input gradient wanted). ``xg (C, B, I)`` scratch."""
    if dx.shape[0] == 0:
        return
    gemm_into(d2, w_ih, xg[:k1 - k0].reshape(d2.shape[0], xg.shape[2]), 0.0)
    scatter_steps(xg, s_top, k0, k1, lengths, reverse, dx)


@jit
def chunk_state_grads(dgc, s_top, k0, k1, seq, init, shift, lengths, reverse, dw, sg):
    """``dw (G, N) += dg.T @ s`` over rows ``k0:k1`` of a chunk (see
    :func:`chunk_input_grads`), ``s`` the rows :func:`gather_steps` takes from ``seq (T, B,
    N)`` and ``init``: with ``shift``, the state that fed each step. ``sg (C, B, N)``
    scratch."""
    n = k1 - k0
    if n <= 0:
        return
    B, G = dgc.shape[1], dgc.shape[2]
    gather_steps(seq, init, shift, s_top, k0, k1, lengths, reverse, sg)
    grad_gemm_into(dgc[k0:k1].reshape(n * B, G), sg[:n].reshape(n * B, seq.shape[2]), dw,
                   1.0)


@jit
def chunk_grads(dgc, s_top, k0, k1, x, w_ih, y, h0, lengths, reverse, dw_ih, dw_hh, db, dx,
                work):
    """The parameter and input gradients of rows ``k0:k1`` of a chunk when one gradient
    ``dgc (C, B, G)`` feeds input, recurrent weight and bias alike (Elman RNN, LSTM): see
    :func:`chunk_input_grads` and :func:`chunk_state_grads`; ``db (G,) +=`` the rows' sum.
    ``work`` from :func:`chunk_work`: with a merged buffer the two weight gradients come
    from one product over the inputs and the states that fed each step, gathered side by
    side (:func:`gather_steps` into their columns of one buffer), into it, which
    :func:`finish_merged` adds into ``dw_ih`` and ``dw_hh`` at the end."""
    xg, hg, xhg, dwc, started = work
    n = k1 - k0
    if dwc.shape[0] == 0:
        chunk_input_grads(dgc, s_top, k0, k1, x, w_ih, lengths, reverse, dw_ih, dx, xg)
        chunk_state_grads(dgc, s_top, k0, k1, y, h0, True, lengths, reverse, dw_hh, hg)
    elif n > 0:
        B, G = dgc.shape[1], dgc.shape[2]
        d2 = dgc[k0:k1].reshape(n * B, G)
        I = x.shape[2]
        gather_steps(x, x[0], False, s_top, k0, k1, lengths, reverse, xhg)
        gather_steps(y, h0, True, s_top, k0, k1, lengths, reverse, xhg, I)
        grad_gemm_into(d2, xhg[:n].reshape(n * B, xhg.shape[2]), dwc,
                       1.0 if started[0] else 0.0)
        started[0] = True
        chunk_dx(d2, w_ih, s_top, k0, k1, lengths, reverse, dx, xg)
    column_sums(dgc[k0:k1], db)


@jit
def chunk_work(C, B, I, P, G, merged, dx):
    """The scratch of :func:`chunk_grads` for chunks of ``C`` steps of ``B`` sequences,
    input ``I``, state ``P``, ``G`` pre-activations: ``(xg (C, B, I), hg (C, B, P), xhg (C,
    B, I + P), dwc (G, I + P), started (1,))``, the buffers of the path not taken empty
    (``merged`` or not; ``xg`` only for ``dx`` when merged)."""
    m = C if merged else 0
    xg = np.empty((C if dx.shape[0] > 0 or not merged else 0, B, I), dtype=dx.dtype)
    hg = np.empty((C - m, B, P), dtype=dx.dtype)
    xhg = np.empty((m, B, I + P), dtype=dx.dtype)
    dwc = np.empty((G if merged else 0, I + P), dtype=dx.dtype)
    return xg, hg, xhg, dwc, np.zeros(1, dtype=np.bool_)


@jit
def finish_merged(work, dw_ih, dw_hh):
    """Add what :func:`chunk_grads` gathered in the merged buffer (if any) into ``dw_ih (G,
    I)`` and ``dw_hh (G, P)``."""
    dwc, started = work[3], work[4]
    if dwc.shape[0] == 0 or not started[0]:
        return
    I = dw_ih.shape[1]
    for r in range(dwc.shape[0]):
        src = dwc[r]
        a = dw_ih[r]
        for j in range(I):
            a[j] += src[j]
        h = dw_hh[r]
        for j in range(h.shape[0]):
            h[j] += src[I + j]


@jit
def lengths_within(lengths, T):
    """Whether every length is in ``1..T``."""
    for L in lengths:
        if L < 1 or L > T:
            return False
    return True


@jit
def time_index(s, length, reverse):
    """Position in the sequence processed at step ``s`` (``-1`` past ``length``)."""
    if s >= length:
        return -1
    if reverse:
        return length - 1 - s
    return s


@jit
def prev_index(t, length, reverse):
    """Position whose state feeds position ``t`` (``-1``: the initial state)."""
    if reverse:
        return t + 1 if t + 1 < length else -1
    return t - 1


@jit
def input_projection(x, w_ih, bias, out):
    """``out (T, B, G) = x (T, B, I) @ w_ih.T (I, G) + bias (G)`` as one GEMM."""
    T, B, _ = x.shape
    G = out.shape[2]
    out2 = out.reshape(T * B, G)
    np.dot(x.reshape(T * B, x.shape[2]), w_ih.T, out2)
    for r in range(T * B):
        row = out2[r]
        for k in range(G):
            row[k] += bias[k]


@jit
def input_projection_units(x, w_ih, bias, G, H, j0, j1, out):
    """Units ``j0:j1`` of each of the ``G`` gate blocks of :func:`input_projection`:
    ``out[..., g * H + j] = (x @ w_ih.T + bias)[..., g * H + j]`` for ``j0 <= j < j1``."""
    if j0 == 0 and j1 == H:
        input_projection(x, w_ih, bias, out)
        return
    T, B, I = x.shape
    U = j1 - j0
    x2 = x.reshape(T * B, I)
    out2 = out.reshape(T * B, G * H)
    tmp = np.empty((T * B, U), dtype=x.dtype)
    for g in range(G):
        c0 = g * H + j0
        np.dot(x2, w_ih[c0:c0 + U].T, tmp)
        bg = bias[c0:c0 + U]
        for r in range(T * B):
            dst = out2[r, c0:c0 + U]
            src = tmp[r]
            for j in range(U):
                dst[j] = src[j] + bg[j]


@jit
def zero_invalid_units(a, lengths, G, H, j0, j1):
    """:func:`zero_invalid` for units ``j0:j1`` of each of the ``G`` blocks of ``a (T, B, G*H)``."""
    T = a.shape[0]
    for b in range(a.shape[1]):
        for t in range(lengths[b], T):
            row = a[t, b]
            for g in range(G):
                row[g * H + j0:g * H + j1] = 0.0


@jit
def zero_invalid(a, lengths):
    """Zero ``a[t, b]`` for every ``t >= lengths[b]``."""
    T = a.shape[0]
    for b in range(a.shape[1]):
        for t in range(lengths[b], T):
            a[t, b] = 0.0


@jit
def gather_previous(seq, init, lengths, reverse, out):
    """``out[t, b]`` = the state that fed position ``t``: ``seq`` at the previous position,
    or ``init[b]`` at the first one. Shapes: ``seq, out (T, B, H)``, ``init (B, H)``."""
    T, B, _ = seq.shape
    for b in range(B):
        L = lengths[b]
        for t in range(T):
            if t >= L:
                out[t, b] = 0.0
                continue
            p = prev_index(t, L, reverse)
            copy_vec(out[t, b], init[b] if p < 0 else seq[p, b])


@jit
def weight_grads(dgx, x, w_ih, dw_ih, dx):
    """``dw_ih (G, I) += dgx.T @ x`` over all steps at once and ``dx (T, B, I) = dgx @ w_ih``;
    ``dgx (T, B, G)`` holds the input-side pre-activation gradients (0 at invalid steps)."""
    T, B, G = dgx.shape
    dgx2 = dgx.reshape(T * B, G)
    grad_gemm_into(dgx2, x.reshape(T * B, x.shape[2]), dw_ih, 1.0)
    gemm_into(dgx2, w_ih, dx.reshape(T * B, dx.shape[2]), 0.0)


@jit
def column_sums(a, out):
    """``out (G) += a (T, B, G)`` summed over the first two axes."""
    T, B, G = a.shape
    a2 = a.reshape(T * B, G)
    for r in range(T * B):
        row = a2[r]
        for k in range(G):
            out[k] += row[k]


@jit
def sum_squares(v):
    """``sum(v ** 2)`` of a 1-D array, in four interleaved partial sums (a single running sum
    waits on each add's latency; without fastmath the compiler may not reorder it)."""
    n = v.shape[0]
    a0 = a1 = a2 = a3 = 0.0
    m = n - n % 4
    for k in range(0, m, 4):
        a0 += v[k] * v[k]
        a1 += v[k + 1] * v[k + 1]
        a2 += v[k + 2] * v[k + 2]
        a3 += v[k + 3] * v[k + 3]
    for k in range(m, n):
        a0 += v[k] * v[k]
    return (a0 + a1) + (a2 + a3)


@jit
def row_sq_norms(a, out):
    """``out[t, b] = sum(a[t, b] ** 2)`` for ``a (T, B, H)``, ``out (T, B)``."""
    for t in range(a.shape[0]):
        for b in range(a.shape[1]):
            out[t, b] = sum_squares(a[t, b])
