"""LSTM with diagonal peephole connections (Gers & Schmidhuber, 2000).

Step (torch gate order i, f, g, o, ``⊙`` elementwise)::

    z   = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh            (4H rows: z_i, z_f, z_g, z_o)
    i   = sigmoid(z_i + w_ci ⊙ c_{t-1})
    f   = sigmoid(z_f + w_cf ⊙ c_{t-1})
    g   = tanh(z_g)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    o   = sigmoid(z_o + w_co ⊙ c_t)                        (the output gate sees the new c)
    h_t = o ⊙ tanh(c_t)

Parameters: torch's ``weight_ih (4H, I)``, ``weight_hh (4H, H)``, ``bias_ih``/``bias_hh``
``(4H,)`` (only with ``bias``), plus the peephole vectors ``weight_ci``, ``weight_cf``,
``weight_co`` ``(H,)`` (always present), all initialised uniform in ``±1/sqrt(H)``.
"""

from __future__ import annotations

import numpy as np

from ...engine.cell import Cache, Cell, ParamSpec
from ...engine.cells import add_bias_grads, summed_bias, torch_param_specs
from ...engine.config import jit
from ...engine.kernels.common import (
    carry_recurrent_grad,
    column_sums,
    finish_backward,
    gather_previous,
    input_projection,
    prev_index,
    sigmoid,
    step_product,
    tanh,
    time_index,
    zero_invalid,
)
from ...engine.kernels.gemm import pack_b, pack_bt


@jit
def peephole_lstm_forward(x, lengths, reverse, w_ih, w_hh, bias, w_ci, w_cf, w_co, h0, c0,
                          y, gates, cs, hn, cn):
    """Forward over the whole sequence.

    in:  x (T, B, I), lengths (B,) int64, reverse bool, w_ih (4H, I), w_hh (4H, H),
         bias (4H,) = b_ih + b_hh, w_ci, w_cf, w_co (H,) peephole weights,
         h0 (B, H), c0 (B, H)
    out: y (T, B, H) zero-filled by the caller, gates (T, B, 4H) activated i, f, g, o
         (0 past each length), cs (T, B, H) cell states zero-filled by the caller,
         hn (B, H), cn (B, H) states at each sequence's last valid step
    """
    T, B, _ = x.shape
    H = cs.shape[2]
    input_projection(x, w_ih, bias, gates)
    hn[:] = h0
    cn[:] = c0
    hw = np.empty((B, 4 * H), dtype=x.dtype)
    wp = pack_bt(w_hh)
    for s in range(T):
        step_product(hn, wp, hw)
        for b in range(B):
            t = time_index(s, lengths[b], reverse)
            if t < 0:
                continue
            g = gates[t, b]
            r = hw[b]
            gi, gf, gg, go = g[0:H], g[H:2 * H], g[2 * H:3 * H], g[3 * H:4 * H]
            ri, rf, rg, ro = r[0:H], r[H:2 * H], r[2 * H:3 * H], r[3 * H:4 * H]
            c = cn[b]
            h = hn[b]
            ct = cs[t, b]
            yt = y[t, b]
            for j in range(H):
                cp = c[j]
                i_ = sigmoid(gi[j] + ri[j] + w_ci[j] * cp)
                f_ = sigmoid(gf[j] + rf[j] + w_cf[j] * cp)
                g_ = tanh(gg[j] + rg[j])
                cnew = f_ * cp + i_ * g_
                o_ = sigmoid(go[j] + ro[j] + w_co[j] * cnew)
                gi[j] = i_
                gf[j] = f_
                gg[j] = g_
                go[j] = o_
                c[j] = cnew
                ct[j] = cnew
                hv = o_ * tanh(cnew)
                h[j] = hv
                yt[j] = hv
    zero_invalid(gates, lengths)


@jit
def peephole_lstm_backward(x, lengths, reverse, w_ih, w_hh, w_ci, w_cf, w_co, h0, c0,
                           y, gates, cs, dy, dhn, dcn, dx, dh0, dc0,
                           dw_ih, dw_hh, db, dw_ci, dw_cf, dw_co, dh_sq):
    """BPTT over the sequence saved by :func:`peephole_lstm_forward`.

    in:     x, lengths, reverse, w_ih, w_hh, w_ci, w_cf, w_co, h0, c0 as in the forward;
            y, gates, cs its outputs; dy (T, B, H), dhn (B, H), dcn (B, H)
    out:    dx (T, B, I), dh0 (B, H), dc0 (B, H), dh_sq (T, B) squared norm of dL/dh_t
    in-out: dw_ih (4H, I), dw_hh (4H, H), db (4H,), dw_ci, dw_cf, dw_co (H,) accumulated
    """
    T, B, _ = x.shape
    H = cs.shape[2]
    dg = np.zeros((T, B, 4 * H), dtype=x.dtype)
    dht = np.zeros((T, B, H), dtype=x.dtype)
    dh = dhn.copy()
    dc = dcn.copy()
    dgs = np.zeros((B, 4 * H), dtype=x.dtype)
    dhrec = np.empty((B, H), dtype=x.dtype)
    wb = pack_b(w_hh)
    for s in range(T - 1, -1, -1):
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
            dyb = dy[t, b]
            dhb = dh[b]
            dcb = dc[b]
            tot = dht[t, b]
            for j in range(H):
                i_ = gi[j]
                f_ = gf[j]
                g_ = gg[j]
                o_ = go[j]
                dhj = dyb[j] + dhb[j]
                tot[j] = dhj
                tc = tanh(ct[j])
                do_ = dhj * tc * o_ * (1.0 - o_)
                dct = dcb[j] + dhj * o_ * (1.0 - tc * tc) + do_ * w_co[j]
                di_ = dct * g_ * i_ * (1.0 - i_)
                df_ = dct * cp[j] * f_ * (1.0 - f_)
                di[j] = di_
                df[j] = df_
                dgg[j] = dct * i_ * (1.0 - g_ * g_)
                do[j] = do_
                dcb[j] = dct * f_ + di_ * w_ci[j] + df_ * w_cf[j]
            dgs[b] = d
        carry_recurrent_grad(s, lengths, reverse, dgs, wb, dhrec, dh)
    dc0[:] = dc
    finish_backward(dg, dg, x, w_ih, y, h0, lengths, reverse, dht, dh, dh0, dw_ih, dw_hh,
                    dx, dh_sq)
    column_sums(dg, db)
    prev = np.empty((T, B, H), dtype=x.dtype)
    gather_previous(cs, c0, lengths, reverse, prev)
    peephole_grads(dg, prev, cs, dw_ci, dw_cf, dw_co)


@jit
def peephole_grads(dg, cprev, cs, dw_ci, dw_cf, dw_co):
    """Peephole weight gradients summed over all timesteps.

    in:     dg (T, B, 4H) pre-activation gradients (0 at invalid steps), cprev (T, B, H) the
            cell state that fed each step, cs (T, B, H) the new cell states
    in-out: dw_ci += sum dz_i ⊙ c_{t-1}, dw_cf += sum dz_f ⊙ c_{t-1}, dw_co += sum dz_o ⊙ c_t
    """
    T, B, _ = dg.shape
    H = cs.shape[2]
    for t in range(T):
        for b in range(B):
            d = dg[t, b]
            di, df, do = d[0:H], d[H:2 * H], d[3 * H:4 * H]
            cp = cprev[t, b]
            ct = cs[t, b]
            for j in range(H):
                dw_ci[j] += di[j] * cp[j]
                dw_cf[j] += df[j] * cp[j]
                dw_co[j] += do[j] * ct[j]


class PeepholeLSTMKernel(Cell):
    name = "peephole_lstm"
    description = ("LSTM with diagonal peepholes: i and f see c_(t-1), o sees c_t "
                   "(weight_ci, weight_cf, weight_co)")
    gates = ("i", "f", "g", "o")
    states = ("h", "c")

    def param_specs(self, input_size, hidden_size, bias):
        specs = torch_param_specs(4 * hidden_size, input_size, hidden_size, hidden_size, bias)
        return specs + [ParamSpec(n, (hidden_size,))
                        for n in ("weight_ci", "weight_cf", "weight_co")]

    def forward(self, params, x, lengths, state0, reverse):
        self.check_inputs(params, x, lengths, state0)
        w_ih, w_hh = params["weight_ih"], params["weight_hh"]
        T, B, _ = x.shape
        H = w_hh.shape[1]
        bias = summed_bias(params, 4 * H, x.dtype)
        y = np.zeros((T, B, H), dtype=x.dtype)
        gates = np.empty((T, B, 4 * H), dtype=x.dtype)
        cs = np.zeros((T, B, H), dtype=x.dtype)
        hn = np.empty((B, H), dtype=x.dtype)
        cn = np.empty((B, H), dtype=x.dtype)
        h0, c0 = state0
        peephole_lstm_forward(x, lengths, reverse, w_ih, w_hh, bias, params["weight_ci"],
                              params["weight_cf"], params["weight_co"], h0, c0,
                              y, gates, cs, hn, cn)
        arrays = dict(x=x, lengths=lengths, reverse=reverse, h0=h0, c0=c0, y=y, gates=gates,
                      cs=cs)
        trace = {"h": y, "c": cs, "gates": gates.reshape(T, B, 4, H)}
        return y, (hn, cn), Cache(arrays, trace)

    def backward(self, params, cache, dy, dstate_n, grads):
        a = cache.arrays
        x, y = a["x"], a["y"]
        T, B, _ = x.shape
        H = y.shape[2]
        dx = np.empty_like(x)
        dh0 = np.empty((B, H), dtype=x.dtype)
        dc0 = np.empty((B, H), dtype=x.dtype)
        db = np.zeros(4 * H, dtype=x.dtype)
        dh_sq = np.empty((T, B), dtype=x.dtype)
        peephole_lstm_backward(x, a["lengths"], a["reverse"], params["weight_ih"],
                               params["weight_hh"], params["weight_ci"], params["weight_cf"],
                               params["weight_co"], a["h0"], a["c0"], y, a["gates"], a["cs"],
                               dy, dstate_n[0], dstate_n[1], dx, dh0, dc0,
                               grads["weight_ih"], grads["weight_hh"], db, grads["weight_ci"],
                               grads["weight_cf"], grads["weight_co"], dh_sq)
        add_bias_grads(grads, db)
        return dx, (dh0, dc0), dh_sq
