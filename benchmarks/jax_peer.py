"""The JAX peer: Elman RNN, LSTM and GRU in jax.numpy with ``lax.scan``, torch's layout.

Single layer, one direction, time-major ``x (T, B, I)``. ``make(kind, state_dict, x, dout)``
returns jitted ``(infer, train)`` callables that block until the result is ready.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _step_fn(kind: str):
    def rnn(p, h, xw):
        return jnp.tanh(xw + h @ p["weight_hh_l0"].T + p["bias_hh_l0"])

    def gru(p, h, xw):
        H = h.shape[-1]
        hw = h @ p["weight_hh_l0"].T + p["bias_hh_l0"]
        r = jax.nn.sigmoid(xw[:, :H] + hw[:, :H])
        z = jax.nn.sigmoid(xw[:, H:2 * H] + hw[:, H:2 * H])
        n = jnp.tanh(xw[:, 2 * H:] + r * hw[:, 2 * H:])
        return (1 - z) * n + z * h

    return {"rnn": rnn, "gru": gru}[kind]


def _forward(kind: str):
    def run(p, x):
        xw = x @ p["weight_ih_l0"].T + p["bias_ih_l0"]
        B = x.shape[1]
        H = p["weight_hh_l0"].shape[1]
        if kind == "lstm":
            def step(carry, xt):
                h, c = carry
                g = xt + h @ p["weight_hh_l0"].T + p["bias_hh_l0"]
                i, f, gg, o = jnp.split(g, 4, axis=-1)
                c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
                h = jax.nn.sigmoid(o) * jnp.tanh(c)
                return (h, c), h

            init = (jnp.zeros((B, H), x.dtype), jnp.zeros((B, H), x.dtype))
        else:
            cell = _step_fn(kind)

            def step(h, xt):
                h = cell(p, h, xt)
                return h, h

            init = jnp.zeros((B, H), x.dtype)
        _, out = jax.lax.scan(step, init, xw)
        return out

    return run


def make(kind: str, state_dict: dict[str, np.ndarray], x: np.ndarray, dout: np.ndarray):
    params = {k: jnp.asarray(v) for k, v in state_dict.items()}
    xj, dj = jnp.asarray(x), jnp.asarray(dout)
    fwd = jax.jit(_forward(kind))
    grad = jax.jit(jax.grad(lambda p, x, d: jnp.sum(_forward(kind)(p, x) * d)))

    def infer():
        fwd(params, xj).block_until_ready()

    def train():
        jax.block_until_ready(grad(params, xj, dj))

    return infer, train
