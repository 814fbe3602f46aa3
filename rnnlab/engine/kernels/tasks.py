"""Several calls of one sequence kernel at once, over Numba's threads (``prange``).

A layer runs its chunks of sequences and its directions as independent calls of one kernel
(:mod:`rnnlab.engine.parallel`). Each driver here takes the number of calls ``n`` and every
argument of its kernel as a tuple over the calls, and runs call ``k < n`` with the ``k``-th
items, one call per thread. A tuple's length is part of its Numba type, so the caller pads
the tuples to a power of two: one compile serves 2 calls, another 3 or 4, and so on. The
hand-off stays in compiled code: Numba's worker threads spin a while after a parallel region
instead of sleeping, so starting and joining the calls costs microseconds, where waking a
Python thread costs ~0.1 ms on a virtual machine.

The tuples must be homogeneous (one Numba type per argument): arrays of one dtype, ndim,
layout and writability. Each driver compiles its kernel into itself again (and once more
into its parallel region): ~10 s for a forward, ~15 s for a backward per dtype, once, on the
first call that uses it; cached on disk like the kernels.
"""

from __future__ import annotations

import numba

from ..config import JIT_OPTIONS
from .gru import gru_backward, gru_forward
from .lstm import lstm_backward, lstm_forward
from .rnn import rnn_backward, rnn_forward

_OPTIONS = {**JIT_OPTIONS, "parallel": True}

# One driver per kernel, alike but for the argument list: a Numba function has a fixed
# arity (no star-args indexed per call), and a generated one (exec) could not be cached.


@numba.njit(**_OPTIONS)
def rnn_forward_tasks(n, x, lengths, reverse, w_ih, w_hh, bias, relu, y, pre, hbuf, fused, dense,
                      j0, j1, sync, nthreads):
    """:func:`~.rnn.rnn_forward` for calls ``0..n-1`` (every other argument a tuple over
    the calls)."""
    for k in numba.prange(n):
        rnn_forward(x[k], lengths[k], reverse[k], w_ih[k], w_hh[k], bias[k], relu[k], y[k],
                    pre[k], hbuf[k], fused[k], dense[k], j0[k], j1[k], sync[k], nthreads[k])


@numba.njit(**_OPTIONS)
def rnn_backward_tasks(n, x, lengths, reverse, w_ih, w_hh, relu, h0, y, dy, dhn, dx, dh0, dw_ih,
                       dw_hh, db, dh_sq, dg, dense, merged, j0, j1, sync, nthreads, part):
    """:func:`~.rnn.rnn_backward` for calls ``0..n-1`` (every other argument a tuple over
    the calls)."""
    for k in numba.prange(n):
        rnn_backward(x[k], lengths[k], reverse[k], w_ih[k], w_hh[k], relu[k], h0[k], y[k],
                     dy[k], dhn[k], dx[k], dh0[k], dw_ih[k], dw_hh[k], db[k], dh_sq[k], dg[k],
                     dense[k], merged[k], j0[k], j1[k], sync[k], nthreads[k], part[k])


@numba.njit(**_OPTIONS)
def lstm_forward_tasks(n, x, lengths, reverse, w_ih, w_hh, bias, w_hr, has_proj, c0, y, gates,
                       cs, ms, hbuf, cn, fused, dense, j0, j1, sync, nthreads):
    """:func:`~.lstm.lstm_forward` for calls ``0..n-1`` (every other argument a tuple over
    the calls)."""
    for k in numba.prange(n):
        lstm_forward(x[k], lengths[k], reverse[k], w_ih[k], w_hh[k], bias[k], w_hr[k],
                     has_proj[k], c0[k], y[k], gates[k], cs[k], ms[k], hbuf[k], cn[k],
                     fused[k], dense[k], j0[k], j1[k], sync[k], nthreads[k])


@numba.njit(**_OPTIONS)
def lstm_backward_tasks(n, x, lengths, reverse, w_ih, w_hh, w_hr, has_proj, h0, c0, y, gates, cs,
                        ms, dy, dhn, dcn, dx, dh0, dc0, dw_ih, dw_hh, db, dw_hr, dh_sq, dg,
                        dht, dense, merged, j0, j1, sync, nthreads, part):
    """:func:`~.lstm.lstm_backward` for calls ``0..n-1`` (every other argument a tuple over
    the calls)."""
    for k in numba.prange(n):
        lstm_backward(x[k], lengths[k], reverse[k], w_ih[k], w_hh[k], w_hr[k], has_proj[k],
                      h0[k], c0[k], y[k], gates[k], cs[k], ms[k], dy[k], dhn[k], dcn[k],
                      dx[k], dh0[k], dc0[k], dw_ih[k], dw_hh[k], db[k], dw_hr[k], dh_sq[k],
                      dg[k], dht[k], dense[k], merged[k], j0[k], j1[k], sync[k], nthreads[k],
                      part[k])


@numba.njit(**_OPTIONS)
def gru_forward_tasks(n, x, lengths, reverse, w_ih, w_hh, bias_x, b_hn, y, gates, hlin, hbuf,
                      fused, dense, j0, j1, sync, nthreads):
    """:func:`~.gru.gru_forward` for calls ``0..n-1`` (every other argument a tuple over
    the calls)."""
    for k in numba.prange(n):
        gru_forward(x[k], lengths[k], reverse[k], w_ih[k], w_hh[k], bias_x[k], b_hn[k], y[k],
                    gates[k], hlin[k], hbuf[k], fused[k], dense[k], j0[k], j1[k], sync[k],
                    nthreads[k])


@numba.njit(**_OPTIONS)
def gru_backward_tasks(n, x, lengths, reverse, w_ih, w_hh, h0, y, gates, hlin, dy, dhn, dx, dh0,
                       dw_ih, dw_hh, db_ih, db_hh, dh_sq, dg, dgbuf, dense, j0, j1, sync,
                       nthreads, part):
    """:func:`~.gru.gru_backward` for calls ``0..n-1`` (every other argument a tuple over
    the calls)."""
    for k in numba.prange(n):
        gru_backward(x[k], lengths[k], reverse[k], w_ih[k], w_hh[k], h0[k], y[k], gates[k],
                     hlin[k], dy[k], dhn[k], dx[k], dh0[k], dw_ih[k], dw_hh[k], db_ih[k],
                     db_hh[k], dh_sq[k], dg[k], dgbuf[k], dense[k], j0[k], j1[k], sync[k],
                     nthreads[k], part[k])


#: each sequence kernel's driver
DRIVERS = {
    rnn_forward: rnn_forward_tasks, rnn_backward: rnn_backward_tasks,
    lstm_forward: lstm_forward_tasks, lstm_backward: lstm_backward_tasks,
    gru_forward: gru_forward_tasks, gru_backward: gru_backward_tasks,
}
