"""Plain NumPy references for the built-in cells: readable loops, no Numba.

Everything is computed in float64 whatever the input dtype. Packed-sequence semantics:
outputs at ``t >= lengths[b]`` are 0, the final states are those of the last valid step and
the reverse direction starts at ``lengths[b] - 1``.

A layer function takes ``x (T, B, I)``, ``lengths (B,)``, a tuple of initial states
``(B, S)``, one direction's parameters by base name (``weight_ih``, ``bias_hh``,
``weight_hr``), ``reverse`` and an optional ``dh (T, B, H_out)`` added to ``h_t`` right after
it is computed (so a finite difference in ``dh`` gives ``dL/dh_t``). It returns
``(y (T, B, H_out), final states, trace)`` where ``trace`` holds ``"h"``, and ``"c"``,
``"gates"`` ``(T, B, G, H)`` or ``"pre"`` (the Elman pre-activation) as the cell has them.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z):
    return 0.5 + 0.5 * np.tanh(0.5 * z)  # the logistic function, without overflow


def steps(length: int, reverse: bool) -> range:
    """Positions visited in order for one sequence of ``length`` valid steps."""
    return range(length - 1, -1, -1) if reverse else range(length)


def _f64(p: dict) -> dict:
    return {k: np.asarray(v, dtype=np.float64) for k, v in p.items()}


def _biases(p: dict, rows: int):
    zero = np.zeros(rows)
    return p.get("bias_ih", zero), p.get("bias_hh", zero)


def _perturbed(h, dh, t, b):
    return h if dh is None else h + dh[t, b]


def rnn_layer(x, lengths, state0, p, reverse=False, dh=None, nonlinearity="tanh"):
    """Elman RNN: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``."""
    x, p = np.asarray(x, np.float64), _f64(p)
    T, B, _ = x.shape
    H = p["weight_hh"].shape[0]
    b_ih, b_hh = _biases(p, H)
    y = np.zeros((T, B, H))
    pre = np.zeros((T, B, H))
    h_n = np.zeros((B, H))
    for b in range(B):
        h = np.asarray(state0[0][b], np.float64)
        for t in steps(int(lengths[b]), reverse):
            a = p["weight_ih"] @ x[t, b] + b_ih + p["weight_hh"] @ h + b_hh
            h = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0.0)
            h = _perturbed(h, dh, t, b)
            pre[t, b] = a
            y[t, b] = h
        h_n[b] = h
    return y, (h_n,), {"h": y, "pre": pre}


def lstm_layer(x, lengths, state0, p, reverse=False, dh=None):
    """LSTM, gates i, f, g, o; with ``weight_hr`` the output is ``h_t = W_hr (o * tanh(c_t))``."""
    x, p = np.asarray(x, np.float64), _f64(p)
    T, B, _ = x.shape
    H = p["weight_hh"].shape[0] // 4
    P = p["weight_hr"].shape[0] if "weight_hr" in p else H
    b_ih, b_hh = _biases(p, 4 * H)
    y = np.zeros((T, B, P))
    cs = np.zeros((T, B, H))
    gates = np.zeros((T, B, 4, H))
    h_n, c_n = np.zeros((B, P)), np.zeros((B, H))
    for b in range(B):
        h = np.asarray(state0[0][b], np.float64)
        c = np.asarray(state0[1][b], np.float64)
        for t in steps(int(lengths[b]), reverse):
            z = p["weight_ih"] @ x[t, b] + b_ih + p["weight_hh"] @ h + b_hh
            i = sigmoid(z[0:H])
            f = sigmoid(z[H:2 * H])
            g = np.tanh(z[2 * H:3 * H])
            o = sigmoid(z[3 * H:4 * H])
            c = f * c + i * g
            h = o * np.tanh(c)
            if "weight_hr" in p:
                h = p["weight_hr"] @ h
            h = _perturbed(h, dh, t, b)
            gates[t, b] = (i, f, g, o)
            cs[t, b] = c
            y[t, b] = h
        h_n[b], c_n[b] = h, c
    return y, (h_n, c_n), {"h": y, "c": cs, "gates": gates}


def gru_layer(x, lengths, state0, p, reverse=False, dh=None):
    """GRU as torch: ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``,
    ``h_t = (1 - z) n + z h_{t-1}``."""
    x, p = np.asarray(x, np.float64), _f64(p)
    T, B, _ = x.shape
    H = p["weight_hh"].shape[1]
    b_ih, b_hh = _biases(p, 3 * H)
    y = np.zeros((T, B, H))
    gates = np.zeros((T, B, 3, H))
    h_n = np.zeros((B, H))
    for b in range(B):
        h = np.asarray(state0[0][b], np.float64)
        for t in steps(int(lengths[b]), reverse):
            gx = p["weight_ih"] @ x[t, b] + b_ih
            gh = p["weight_hh"] @ h + b_hh
            r = sigmoid(gx[0:H] + gh[0:H])
            z = sigmoid(gx[H:2 * H] + gh[H:2 * H])
            n = np.tanh(gx[2 * H:] + r * gh[2 * H:])
            h = (1.0 - z) * n + z * h
            h = _perturbed(h, dh, t, b)
            gates[t, b] = (r, z, n)
            y[t, b] = h
        h_n[b] = h
    return y, (h_n,), {"h": y, "gates": gates}


def _rnn_relu(*args, **kwargs):
    return rnn_layer(*args, nonlinearity="relu", **kwargs)


LAYERS = {"rnn_tanh": rnn_layer, "rnn_relu": _rnn_relu, "lstm": lstm_layer, "gru": gru_layer}


def direction_params(state: dict, layer: int, direction: int) -> dict:
    """One direction's parameters by base name from a torch-named state dict."""
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    return {k[:-len(suffix)]: v for k, v in state.items() if k.endswith(suffix)}


def state_sizes(cell: str, state: dict) -> tuple[int, ...]:
    """Width of each state of ``cell`` given its layer-0 parameters."""
    p = direction_params(state, 0, 0)
    if cell == "lstm":
        H = p["weight_hh"].shape[0] // 4
        return (p["weight_hr"].shape[0] if "weight_hr" in p else H, H)
    return (p["weight_hh"].shape[1],)


def stack(cell: str, state: dict, x, hx=None, lengths=None, num_layers=1,
          bidirectional=False, batch_first=False, perturb=None):
    """A multi-layer, optionally bidirectional layer with torch's shapes (no dropout).

    ``x`` is ``(T, B, I)``, ``(B, T, I)`` with ``batch_first`` or unbatched ``(T, I)``;
    ``hx`` a tuple of ``(layers*dirs, B, S)`` (unbatched ``(layers*dirs, S)``) or None;
    ``perturb`` maps ``(layer, direction)`` to a ``dh`` for that layer function.
    Returns ``(out, finals, traces)`` with ``traces[layer * dirs + direction]``.
    """
    x = np.asarray(x, np.float64)
    unbatched = x.ndim == 2
    if unbatched:
        x = x[:, None, :]
    elif batch_first:
        x = x.transpose(1, 0, 2)
    T, B, _ = x.shape
    D = 2 if bidirectional else 1
    sizes = state_sizes(cell, state)
    if hx is None:
        hx = tuple(np.zeros((num_layers * D, B, s)) for s in sizes)
    elif unbatched:
        hx = tuple(np.asarray(h)[:, None, :] for h in hx)
    lengths = np.full(B, T) if lengths is None else np.atleast_1d(lengths)
    perturb = perturb or {}
    finals = [np.zeros((num_layers * D, B, s)) for s in sizes]
    traces = []
    inp = x
    for layer in range(num_layers):
        ys = []
        for d in range(D):
            idx = layer * D + d
            y, fin, trace = LAYERS[cell](
                inp, lengths, tuple(h[idx] for h in hx), direction_params(state, layer, d),
                reverse=bool(d), dh=perturb.get((layer, d)))
            for f, s in zip(finals, fin):
                f[idx] = s
            ys.append(y)
            traces.append(trace)
        inp = np.concatenate(ys, axis=2)
    out = inp
    if unbatched:
        return out[:, 0], tuple(f[:, 0] for f in finals), traces
    if batch_first:
        out = out.transpose(1, 0, 2)
    return out, tuple(finals), traces


# Every built-in cell with its options, keyed by a test id.
CASES = {
    "rnn_tanh": ("rnn_tanh", {}),
    "rnn_relu": ("rnn_relu", {}),
    "lstm": ("lstm", {}),
    "lstm_proj": ("lstm", {"proj_size": 2}),
    "gru": ("gru", {}),
}
