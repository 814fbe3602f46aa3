"""LSTM with layer normalisation (Ba, Kiros & Hinton, 2016, section 3.1).

Step (torch gate order i, f, g, o, ``⊙`` elementwise)::

    z   = LN(W_ih x_t; γ_ih, β_ih) + LN(W_hh h_{t-1}; γ_hh, β_hh)     (4H rows)
    i, f, o = sigmoid(z_i, z_f, z_o),  g = tanh(z_g)
    c_t = f ⊙ c_{t-1} + i ⊙ g                                         (carried unnormalised)
    h_t = o ⊙ tanh(LN(c_t; γ_c, β_c))

``LN(a; γ, β) = γ ⊙ (a - mean(a)) / sqrt(var(a) + eps) + β`` over the whole row: all 4H
gate rows of each projection at once, and the H units of the cell state; ``var`` is the
biased variance (torch's ``nn.LayerNorm``), ``eps`` the option of that name (default 1e-5).
The input and recurrent projections are normalised separately, so neither can swamp the
other; the input projection of all timesteps is still one GEMM, normalised per ``(t, b)``
row afterwards.

Parameters: ``weight_ih (4H, I)``, ``weight_hh (4H, H)`` (uniform ``±1/sqrt(H)``), gains
``ln_ih_weight``, ``ln_hh_weight`` ``(4H,)`` and ``ln_c_weight (H,)`` (ones), and with
``bias`` the shifts ``ln_ih_bias``, ``ln_hh_bias`` ``(4H,)`` and ``ln_c_bias (H,)`` (zeros).
The shifts are the cell's biases: the paper's extra gate bias ``b`` would only add to
``β_ih + β_hh`` (already one redundant pair, like torch's ``bias_ih + bias_hh``), so
there are no ``bias_ih``/``bias_hh``; ``bias=False`` drops all three shifts.
"""

from __future__ import annotations

import math

import numpy as np

from ...engine.cell import Cache, Cell, ParamSpec
from ...engine.config import jit
from ...engine.kernels.common import (
    carry_recurrent_grad,
    finish_backward,
    prev_index,
    sigmoid,
    step_product,
    tanh,
    time_index,
    zero_invalid,
)
from ...engine.kernels.gemm import pack_b, pack_bt


@jit
def ln_normalize(a, out, eps):
    """Normalise one row: ``out = (a - mean(a)) / sqrt(var(a) + eps)``; returns the
    reciprocal standard deviation. ``a``, ``out`` ``(N,)`` (may be the same array)."""
    N = a.shape[0]
    mu = 0.0
    for k in range(N):
        mu += a[k]
    mu /= N
    var = 0.0
    for k in range(N):
        d = a[k] - mu
        var += d * d
    rstd = 1.0 / math.sqrt(var / N + eps)
    for k in range(N):
        out[k] = (a[k] - mu) * rstd
    return rstd


@jit
def ln_normalize_grad(dout, gamma, ahat, rstd, da):
    """Backward of ``gamma ⊙ ln_normalize(a) + beta`` for one row.

    in:  dout (N,) gradient of the LN output, gamma (N,), ahat (N,) the normalised row,
         rstd the reciprocal standard deviation of the row
    out: da (N,) gradient of the raw row ``a``
    """
    N = dout.shape[0]
    m1 = 0.0
    m2 = 0.0
    for k in range(N):
        gd = dout[k] * gamma[k]
        m1 += gd
        m2 += gd * ahat[k]
    m1 /= N
    m2 /= N
    for k in range(N):
        da[k] = rstd * (dout[k] * gamma[k] - m1 - ahat[k] * m2)


@jit
def ln_param_grads(dout, ahat, dgamma, dbeta):
    """Gain and shift gradients summed over all rows.

    in:     dout (T, B, N) gradients of the LN outputs (0 at invalid steps), ahat (T, B, N)
            the normalised rows
    in-out: dgamma (N,) += sum dout ⊙ ahat, dbeta (N,) += sum dout
    """
    T, B, N = dout.shape
    d2 = dout.reshape(T * B, N)
    a2 = ahat.reshape(T * B, N)
    for r in range(T * B):
        d = d2[r]
        a = a2[r]
        for k in range(N):
            dgamma[k] += d[k] * a[k]
            dbeta[k] += d[k]


@jit
def layernorm_lstm_forward(x, lengths, reverse, w_ih, w_hh, g_ih, b_ih, g_hh, b_hh, g_c, b_c,
                           eps, h0, c0, y, gates, xhat, rstd_x, hhat, rstd_h, cs, chat, rstd_c,
                           hn, cn):
    """Forward over the whole sequence.

    in:  x (T, B, I), lengths (B,) int64, reverse bool, w_ih (4H, I), w_hh (4H, H),
         g_ih, b_ih, g_hh, b_hh (4H,) gains and shifts of the two projection LNs,
         g_c, b_c (H,) gain and shift of the cell-state LN (shifts zero without bias),
         eps float, h0 (B, H), c0 (B, H)
    out: y (T, B, H) zero-filled by the caller, gates (T, B, 4H) activated i, f, g, o,
         xhat (T, B, 4H) normalised input projection, rstd_x (T, B) its reciprocal std,
         hhat (T, B, 4H) normalised recurrent projection, rstd_h (T, B),
         cs (T, B, H) cell states, chat (T, B, H) normalised cell states, rstd_c (T, B)
         (hhat, rstd_h, cs, chat, rstd_c zero-filled by the caller; everything is 0 past
         each length), hn (B, H), cn (B, H) states at each sequence's last valid step
    """
    T, B, I = x.shape
    H = cs.shape[2]
    G = 4 * H
    xh2 = xhat.reshape(T * B, G)
    np.dot(x.reshape(T * B, I), w_ih.T, xh2)
    rx2 = rstd_x.reshape(T * B)
    for r in range(T * B):
        rx2[r] = ln_normalize(xh2[r], xh2[r], eps)
    zero_invalid(xhat, lengths)
    zero_invalid(rstd_x, lengths)
    hn[:] = h0
    cn[:] = c0
    hw = np.empty((B, G), dtype=x.dtype)
    wp = pack_bt(w_hh)
    for s in range(T):
        step_product(hn, wp, hw)
        for b in range(B):
            t = time_index(s, lengths[b], reverse)
            if t < 0:
                continue
            xr = xhat[t, b]
            hr = hhat[t, b]
            rstd_h[t, b] = ln_normalize(hw[b], hr, eps)
            g = gates[t, b]
            for k in range(G):
                g[k] = g_ih[k] * xr[k] + b_ih[k] + g_hh[k] * hr[k] + b_hh[k]
            gi, gf, gg, go = g[0:H], g[H:2 * H], g[2 * H:3 * H], g[3 * H:4 * H]
            c = cn[b]
            ct = cs[t, b]
            for j in range(H):
                i_ = sigmoid(gi[j])
                f_ = sigmoid(gf[j])
                g_ = tanh(gg[j])
                gi[j] = i_
                gf[j] = f_
                gg[j] = g_
                go[j] = sigmoid(go[j])
                cnew = f_ * c[j] + i_ * g_
                c[j] = cnew
                ct[j] = cnew
            ch = chat[t, b]
            rstd_c[t, b] = ln_normalize(ct, ch, eps)
            h = hn[b]
            yt = y[t, b]
            for j in range(H):
                hv = go[j] * tanh(g_c[j] * ch[j] + b_c[j])
                h[j] = hv
                yt[j] = hv
    zero_invalid(gates, lengths)


@jit
def layernorm_lstm_backward(x, lengths, reverse, w_ih, w_hh, g_ih, g_hh, g_c, b_c, h0, c0,
                            y, gates, xhat, rstd_x, hhat, rstd_h, cs, chat, rstd_c,
                            dy, dhn, dcn, dx, dh0, dc0, dw_ih, dw_hh,
                            dg_ih, db_ih, dg_hh, db_hh, dg_c, db_c, dh_sq):
    """BPTT over the sequence saved by :func:`layernorm_lstm_forward`.

    in:     x, lengths, reverse, w_ih, w_hh, g_ih, g_hh, g_c, b_c, h0, c0 as in the forward;
            y, gates, xhat, rstd_x, hhat, rstd_h, cs, chat, rstd_c its outputs;
            dy (T, B, H), dhn (B, H), dcn (B, H)
    out:    dx (T, B, I), dh0 (B, H), dc0 (B, H), dh_sq (T, B) squared norm of dL/dh_t
    in-out: dw_ih (4H, I), dw_hh (4H, H), dg_ih, db_ih, dg_hh, db_hh (4H,), dg_c, db_c (H,)
            accumulated (pass scratch arrays for the shifts of a cell without bias)
    """
    T, B, _ = x.shape
    H = cs.shape[2]
    G = 4 * H
    dz = np.zeros((T, B, G), dtype=x.dtype)      # gradient of the gate pre-activations
    dgh = np.zeros((T, B, G), dtype=x.dtype)     # gradient of the raw W_hh h_{t-1}
    dn = np.zeros((T, B, H), dtype=x.dtype)      # gradient of the cell-state LN output
    dht = np.zeros((T, B, H), dtype=x.dtype)
    dh = dhn.copy()
    dc = dcn.copy()
    dgs = np.zeros((B, G), dtype=x.dtype)
    dhrec = np.empty((B, H), dtype=x.dtype)
    dcl = np.empty(H, dtype=x.dtype)
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
            d = dz[t, b]
            di, df, dgg, do = d[0:H], d[H:2 * H], d[2 * H:3 * H], d[3 * H:4 * H]
            ch = chat[t, b]
            dnb = dn[t, b]
            dyb = dy[t, b]
            dhb = dh[b]
            tot = dht[t, b]
            for j in range(H):
                o_ = go[j]
                dhj = dyb[j] + dhb[j]
                tot[j] = dhj
                tn = tanh(g_c[j] * ch[j] + b_c[j])
                do[j] = dhj * tn * o_ * (1.0 - o_)
                dnb[j] = dhj * o_ * (1.0 - tn * tn)
            ln_normalize_grad(dnb, g_c, ch, rstd_c[t, b], dcl)
            dcb = dc[b]
            for j in range(H):
                i_ = gi[j]
                f_ = gf[j]
                g_ = gg[j]
                dct = dcb[j] + dcl[j]
                di[j] = dct * g_ * i_ * (1.0 - i_)
                df[j] = dct * cp[j] * f_ * (1.0 - f_)
                dgg[j] = dct * i_ * (1.0 - g_ * g_)
                dcb[j] = dct * f_
            dr = dgh[t, b]
            ln_normalize_grad(d, g_hh, hhat[t, b], rstd_h[t, b], dr)
            dgs[b] = dr
        carry_recurrent_grad(s, lengths, reverse, dgs, wb, dhrec, dh)
    dc0[:] = dc
    dgx = np.empty((T, B, G), dtype=x.dtype)
    dz2 = dz.reshape(T * B, G)
    xh2 = xhat.reshape(T * B, G)
    rx2 = rstd_x.reshape(T * B)
    dgx2 = dgx.reshape(T * B, G)
    for r in range(T * B):
        ln_normalize_grad(dz2[r], g_ih, xh2[r], rx2[r], dgx2[r])
    finish_backward(dgx, dgh, x, w_ih, y, h0, lengths, reverse, dht, dh, dh0, dw_ih, dw_hh,
                    dx, dh_sq)
    ln_param_grads(dz, xhat, dg_ih, db_ih)
    ln_param_grads(dz, hhat, dg_hh, db_hh)
    ln_param_grads(dn, chat, dg_c, db_c)


class LayerNormLSTMKernel(Cell):
    name = "layernorm_lstm"
    description = ("LSTM with layer normalisation of the input projection, the recurrent "
                   "projection and the cell state (Ba et al. 2016)")
    gates = ("i", "f", "g", "o")
    states = ("h", "c")
    options = {"eps": 1e-5}

    def __init__(self, **options):
        super().__init__(**options)
        eps = self.config["eps"]
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0.0 \
                or not math.isfinite(eps):
            raise ValueError(f"eps: expected a positive finite number, got {eps!r}")
        self.eps = float(eps)

    def param_specs(self, input_size, hidden_size, bias):
        G, H = 4 * hidden_size, hidden_size
        specs = [ParamSpec("weight_ih", (G, input_size)), ParamSpec("weight_hh", (G, H))]
        for prefix, size in (("ln_ih", G), ("ln_hh", G), ("ln_c", H)):
            specs.append(ParamSpec(prefix + "_weight", (size,), "ones"))
            if bias:
                specs.append(ParamSpec(prefix + "_bias", (size,), "zeros"))
        return specs

    @staticmethod
    def _shift(params, prefix, size, dtype):
        key = prefix + "_bias"
        return params[key] if key in params else np.zeros(size, dtype=dtype)

    def forward(self, params, x, lengths, state0, reverse):
        self.check_inputs(params, x, lengths, state0)
        w_ih, w_hh = params["weight_ih"], params["weight_hh"]
        T, B, _ = x.shape
        H = w_hh.shape[1]
        G = 4 * H
        dt = x.dtype
        y = np.zeros((T, B, H), dtype=dt)
        gates = np.empty((T, B, G), dtype=dt)
        xhat = np.empty((T, B, G), dtype=dt)
        rstd_x = np.empty((T, B), dtype=dt)
        hhat = np.zeros((T, B, G), dtype=dt)
        rstd_h = np.zeros((T, B), dtype=dt)
        cs = np.zeros((T, B, H), dtype=dt)
        chat = np.zeros((T, B, H), dtype=dt)
        rstd_c = np.zeros((T, B), dtype=dt)
        hn = np.empty((B, H), dtype=dt)
        cn = np.empty((B, H), dtype=dt)
        h0, c0 = state0
        b_c = self._shift(params, "ln_c", H, dt)
        layernorm_lstm_forward(x, lengths, reverse, w_ih, w_hh,
                               params["ln_ih_weight"], self._shift(params, "ln_ih", G, dt),
                               params["ln_hh_weight"], self._shift(params, "ln_hh", G, dt),
                               params["ln_c_weight"], b_c, self.eps, h0, c0,
                               y, gates, xhat, rstd_x, hhat, rstd_h, cs, chat, rstd_c, hn, cn)
        arrays = dict(x=x, lengths=lengths, reverse=reverse, h0=h0, c0=c0, y=y, gates=gates,
                      xhat=xhat, rstd_x=rstd_x, hhat=hhat, rstd_h=rstd_h, cs=cs, chat=chat,
                      rstd_c=rstd_c, b_c=b_c)
        trace = {"h": y, "c": cs, "gates": gates.reshape(T, B, 4, H)}
        return y, (hn, cn), Cache(arrays, trace)

    def backward(self, params, cache, dy, dstate_n, grads):
        a = cache.arrays
        x, y = a["x"], a["y"]
        T, B, _ = x.shape
        H = y.shape[2]
        G = 4 * H
        dt = x.dtype
        dx = np.empty_like(x)
        dh0 = np.empty((B, H), dtype=dt)
        dc0 = np.empty((B, H), dtype=dt)
        dh_sq = np.empty((T, B), dtype=dt)
        has_bias = "ln_c_bias" in grads
        db = {k: grads[k] if has_bias else np.zeros(n, dtype=dt)
              for k, n in (("ln_ih_bias", G), ("ln_hh_bias", G), ("ln_c_bias", H))}
        layernorm_lstm_backward(x, a["lengths"], a["reverse"], params["weight_ih"],
                                params["weight_hh"], params["ln_ih_weight"],
                                params["ln_hh_weight"], params["ln_c_weight"], a["b_c"],
                                a["h0"], a["c0"], y, a["gates"], a["xhat"], a["rstd_x"],
                                a["hhat"], a["rstd_h"], a["cs"], a["chat"], a["rstd_c"],
                                dy, dstate_n[0], dstate_n[1], dx, dh0, dc0,
                                grads["weight_ih"], grads["weight_hh"],
                                grads["ln_ih_weight"], db["ln_ih_bias"],
                                grads["ln_hh_weight"], db["ln_hh_bias"],
                                grads["ln_c_weight"], db["ln_c_bias"], dh_sq)
        return dx, (dh0, dc0), dh_sq
