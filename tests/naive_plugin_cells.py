"""Plain NumPy references for the plugin cells: one step per cell and a per-sequence driver.

Written for clarity, not speed: every sequence of the batch runs on its own, step by step,
straight from the formulas in each cell's module docstring, in float64.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _layer_norm(a, gain, shift, eps):
    mu = a.mean()
    var = ((a - mu) ** 2).mean()
    return gain * (a - mu) / np.sqrt(var + eps) + shift


def peephole_lstm_step(p, x, state, **_):
    """One step of the peephole LSTM; returns the new ``(h, c)`` and gates ``(4, H)``."""
    h, c = state
    z = p["weight_ih"] @ x + p["weight_hh"] @ h
    if "bias_ih" in p:
        z = z + p["bias_ih"] + p["bias_hh"]
    zi, zf, zg, zo = np.split(z, 4)
    i = _sigmoid(zi + p["weight_ci"] * c)
    f = _sigmoid(zf + p["weight_cf"] * c)
    g = np.tanh(zg)
    c_new = f * c + i * g
    o = _sigmoid(zo + p["weight_co"] * c_new)
    return (o * np.tanh(c_new), c_new), np.stack([i, f, g, o])


def layernorm_lstm_step(p, x, state, eps=1e-5, **_):
    """One step of the layer-normalised LSTM; returns ``(h, c)`` and gates ``(4, H)``."""
    h, c = state
    G = p["weight_hh"].shape[0]
    zero = np.zeros(G)
    z = (_layer_norm(p["weight_ih"] @ x, p["ln_ih_weight"], p.get("ln_ih_bias", zero), eps)
         + _layer_norm(p["weight_hh"] @ h, p["ln_hh_weight"], p.get("ln_hh_bias", zero), eps))
    zi, zf, zg, zo = np.split(z, 4)
    i, f, g, o = _sigmoid(zi), _sigmoid(zf), np.tanh(zg), _sigmoid(zo)
    c_new = f * c + i * g
    n = _layer_norm(c_new, p["ln_c_weight"], p.get("ln_c_bias", np.zeros(G // 4)), eps)
    return (o * np.tanh(n), c_new), np.stack([i, f, g, o])


def indrnn_step(p, x, state, nonlinearity="relu", **_):
    """One IndRNN step; returns ``(h,)`` and an empty gate array."""
    (h,) = state
    a = p["weight_ih"] @ x + p["weight_hh"] * h
    if "bias_ih" in p:
        a = a + p["bias_ih"]
    h_new = np.maximum(a, 0.0) if nonlinearity == "relu" else np.tanh(a)
    return (h_new,), np.zeros((0, h.shape[0]))


STEPS = {"peephole_lstm": peephole_lstm_step, "layernorm_lstm": layernorm_lstm_step,
         "indrnn": indrnn_step}


def run_direction(step, p, x, lengths, state0, reverse, **options):
    """One layer and direction over ``x (T, B, I)`` with packed-sequence semantics.

    Returns ``y (T, B, H)`` (0 past each length), the final states (each ``(B, S)``) and the
    gates ``(T, B, G, H)``.
    """
    T, B, _ = x.shape
    y = None
    finals = [np.array(s, dtype=np.float64) for s in state0]
    gates = None
    for b in range(B):
        L = int(lengths[b])
        state = tuple(np.array(s[b], dtype=np.float64) for s in state0)
        order = range(L - 1, -1, -1) if reverse else range(L)
        for t in order:
            state, gt = step(p, x[t, b].astype(np.float64), state, **options)
            if y is None:
                y = np.zeros((T, B, state[0].shape[0]))
                gates = np.zeros((T, B, *gt.shape))
            y[t, b] = state[0]
            gates[t, b] = gt
        for f, s in zip(finals, state):
            f[b] = s
    return y, tuple(finals), gates


def run_recurrent(cell_name, named_params, x, lengths, states0, num_layers, bidirectional,
                  **options):
    """A whole multi-layer, optionally bidirectional stack from torch-named parameters.

    ``named_params``: ``{"weight_ih_l0": ..., "weight_ih_l0_reverse": ...}``; ``x (T, B, I)``;
    ``states0``: tuple of ``(layers*dirs, B, S)``. Returns ``out (T, B, dirs*H)`` and the
    final states stacked like ``states0``.
    """
    step = STEPS[cell_name]
    D = 2 if bidirectional else 1
    inp = x.astype(np.float64)
    finals = [np.zeros(s.shape) for s in states0]
    for layer in range(num_layers):
        ys = []
        for d in range(D):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            p = {k[:-len(suffix)]: np.asarray(v, dtype=np.float64)
                 for k, v in named_params.items() if k.endswith(suffix)}
            idx = layer * D + d
            y, fin, _ = run_direction(step, p, inp, lengths, tuple(s[idx] for s in states0),
                                      bool(d), **options)
            for f, s in zip(finals, fin):
                f[idx] = s
            ys.append(y)
        inp = np.concatenate(ys, axis=2)
    return inp, tuple(finals)
