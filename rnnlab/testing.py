"""Correctness checks for recurrent cells, built-in or plugin.

- :func:`gradient_check`: a float64 layer's analytic gradients (input, every initial state,
  every parameter) against central finite differences.
- :func:`step_loop_check`: a cell's whole-sequence forward against a loop of one-step
  forwards that carries the states, in both directions and with per-sequence lengths.

Both raise ``AssertionError`` naming the failing stage and return the error per stage.
A cell is given as a registered name, a :class:`~rnnlab.engine.cell.Cell` subclass or an
instance; cell options (e.g. ``proj_size=2``) are passed as keywords.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .checks import task_check
from .engine.recurrent import Recurrent

__all__ = ["GradientProblem", "gradient_check", "make_gradient_problem", "numeric_gradient",
           "step_loop_check", "task_check"]


@dataclass
class GradientProblem:
    """A float64 layer, random inputs and the loss :func:`gradient_check` differentiates.

    ``loss = sum(out * out_weight) + sum_k sum(h_n[k] * state_weights[k])`` where ``k`` runs
    over the cell's states. ``x`` is shaped for the layer (``(B, T, I)`` with
    ``batch_first``), each ``hx[k]`` and ``state_weights[k]`` is ``(layers*dirs, B, S_k)``.
    """

    layer: Recurrent
    x: np.ndarray
    hx: tuple[np.ndarray, ...]
    lengths: np.ndarray | None
    out_weight: np.ndarray
    state_weights: tuple[np.ndarray, ...]

    def forward(self):
        """The layer's ``(out, h_n)`` on the current ``x``, ``hx`` and parameters."""
        return self.layer(self.x, _pack(self.hx), lengths=self.lengths)

    def loss(self) -> float:
        out, h_n = self.forward()
        total = float(np.sum(out * self.out_weight))
        for s, w in zip(_unpack(h_n), self.state_weights):
            total += float(np.sum(s * w))
        return total

    def analytic(self) -> dict[str, np.ndarray]:
        """Gradients of :meth:`loss` from the layer's backward, keyed by stage name."""
        self.layer.zero_grad()
        self.forward()
        dx, dhx = self.layer.backward(self.out_weight, _pack(self.state_weights))
        grads = {"dx": dx}
        for name, g in zip(self.layer.cell.states, _unpack(dhx)):
            grads[f"dh0 ({name})"] = g
        for name, p in self.layer.named_parameters():
            grads[name] = p.grad.copy()
        return grads

    def numeric(self, eps: float) -> dict[str, np.ndarray]:
        """Central finite differences of :meth:`loss`, one scalar at a time."""
        grads = {"dx": numeric_gradient(self.loss, self.x, eps)}
        for name, h in zip(self.layer.cell.states, self.hx):
            grads[f"dh0 ({name})"] = numeric_gradient(self.loss, h, eps)
        for name, p in self.layer.named_parameters():
            grads[name] = numeric_gradient(self.loss, p.data, eps)
        return grads


def make_gradient_problem(cell, *, input_size: int = 3, hidden_size: int = 4,
                          num_layers: int = 1, bidirectional: bool = False,
                          batch_first: bool = False, bias: bool = True, lengths=None,
                          seq_len: int = 5, batch: int = 3, seed: int = 0,
                          **cell_options) -> GradientProblem:
    """The problem :func:`gradient_check` solves, for inspecting it (same arguments).

    The layer's parameters come from ``seed``; ``x``, every initial state, ``lengths="random"``
    (drawn in ``1..seq_len``) and the loss weights from ``numpy.random.default_rng(seed)``.
    """
    layer = Recurrent(cell, input_size, hidden_size, num_layers=num_layers, bias=bias,
                      batch_first=batch_first, bidirectional=bidirectional,
                      dtype=np.float64, seed=seed, **cell_options)
    layer.eval()
    rng = np.random.default_rng(seed)
    x_shape = (batch, seq_len, input_size) if batch_first else (seq_len, batch, input_size)
    x = rng.standard_normal(x_shape)
    LD = num_layers * layer.num_directions
    hx = tuple(0.5 * rng.standard_normal((LD, batch, s)) for s in layer.state_sizes)
    if isinstance(lengths, str):
        if lengths != "random":
            raise ValueError(f"lengths: expected None, 'random' or integers, got {lengths!r}")
        lengths = rng.integers(1, seq_len + 1, size=batch)
    elif lengths is not None:
        lengths = np.asarray(lengths, dtype=np.int64)
    out_shape = (*x_shape[:2], layer.num_directions * layer.output_size)
    out_weight = rng.standard_normal(out_shape)
    state_weights = tuple(rng.standard_normal(h.shape) for h in hx)
    return GradientProblem(layer, x, hx, lengths, out_weight, state_weights)


def gradient_check(cell, *, input_size: int = 3, hidden_size: int = 4, num_layers: int = 1,
                   bidirectional: bool = False, batch_first: bool = False, bias: bool = True,
                   lengths=None, seq_len: int = 5, batch: int = 3, seed: int = 0,
                   eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7,
                   **cell_options) -> dict[str, float]:
    """Check every gradient of a float64 ``Recurrent(cell, ...)`` by finite differences.

    Stages: ``"dx"``, ``"dh0 (<state>)"`` for each cell state and each parameter by its torch
    name (``"weight_hh_l1_reverse"``). An element passes when
    ``|analytic - numeric| <= atol + rtol * |numeric|``. Returns per stage the max relative
    error ``|analytic - numeric| / (|numeric| + atol / rtol)``, which exceeds ``rtol`` exactly
    where an element fails. Raises ``AssertionError`` naming the first failing stage.
    """
    if not (eps > 0 and rtol > 0 and atol >= 0):
        raise ValueError(f"eps, rtol, atol: expected eps > 0, rtol > 0, atol >= 0, "
                         f"got {eps}, {rtol}, {atol}")
    problem = make_gradient_problem(
        cell, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
        bidirectional=bidirectional, batch_first=batch_first, bias=bias, lengths=lengths,
        seq_len=seq_len, batch=batch, seed=seed, **cell_options)
    analytic = problem.analytic()
    numeric = problem.numeric(eps)
    label = f"gradient_check({problem.layer.cell.name!r})"
    return {stage: _compare(f"{label}: stage {stage!r}", analytic[stage], numeric[stage],
                            rtol, atol, relative=True)
            for stage in numeric}


def step_loop_check(cell, *, input_size: int = 3, hidden_size: int = 4, bias: bool = True,
                    lengths=None, seq_len: int = 5, batch: int = 3, seed: int = 0,
                    rtol: float = 1e-10, atol: float = 1e-12, **cell_options
                    ) -> dict[str, float]:
    """Check that a cell's sequence forward equals a loop of one-step forwards.

    Runs a float64 one-layer bidirectional ``Recurrent(cell, ...)`` over the whole batch,
    then, per sequence and direction, a loop of ``T = 1`` calls over that sequence's own
    length (forward: ``t = 0 .. L-1``; reverse: ``t = L-1 .. 0``) carrying every state.
    Outputs must agree at valid steps and be 0 past the length; final states must agree.
    ``lengths`` is ``None``, ``"random"`` or ``batch`` integers. Returns the max absolute
    error per stage (``"out (forward)"``, ``"h_n (c) (reverse)"`` ...).
    """
    layer = Recurrent(cell, input_size, hidden_size, bias=bias, bidirectional=True,
                      dtype=np.float64, seed=seed, **cell_options)
    layer.eval()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((seq_len, batch, input_size))
    hx = tuple(0.5 * rng.standard_normal((2, batch, s)) for s in layer.state_sizes)
    if isinstance(lengths, str):
        if lengths != "random":
            raise ValueError(f"lengths: expected None, 'random' or integers, got {lengths!r}")
        lens = rng.integers(1, seq_len + 1, size=batch)
    else:
        lens = np.full(batch, seq_len) if lengths is None else np.asarray(lengths, np.int64)
    out, h_n = layer(x, _pack(hx), lengths=None if lengths is None else lens)
    h_n = _unpack(h_n)
    H = layer.output_size
    label = f"step_loop_check({layer.cell.name!r})"
    errors: dict[str, float] = {}
    for d, direction in enumerate(("forward", "reverse")):
        loop_out = np.zeros((seq_len, batch, H))
        loop_final = [np.zeros_like(s[d]) for s in h_n]
        for b in range(batch):
            L = int(lens[b])
            carried = [s[:, b:b + 1].copy() for s in hx]
            steps = range(L) if d == 0 else range(L - 1, -1, -1)
            for t in steps:
                y, st = layer(x[t:t + 1, b:b + 1], _pack(tuple(carried)))
                loop_out[t, b] = y[0, 0, d * H:(d + 1) * H]
                for c, s in zip(carried, _unpack(st)):
                    c[d] = s[d]
            for f, c in zip(loop_final, carried):
                f[b] = c[d, 0]
        seq_out = out[:, :, d * H:(d + 1) * H]
        errors[f"out ({direction})"] = _compare(
            f"{label}: stage 'out ({direction})'", seq_out, loop_out, rtol, atol)
        for name, s, f in zip(layer.cell.states, h_n, loop_final):
            stage = f"h_n ({name}) ({direction})"
            errors[stage] = _compare(f"{label}: stage {stage!r}", s[d], f, rtol, atol)
    return errors


def _pack(states: tuple[np.ndarray, ...]):
    return states[0] if len(states) == 1 else tuple(states)


def _unpack(states) -> tuple[np.ndarray, ...]:
    return (states,) if isinstance(states, np.ndarray) else tuple(states)


def numeric_gradient(f: Callable[[], float], a: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """``d f / d a`` by central differences: each element of the C-contiguous ``a`` is
    perturbed in place by ``±eps`` and restored; ``f()`` must read ``a``."""
    if not a.flags.c_contiguous:
        raise ValueError("finite differences need a C-contiguous array")
    flat = a.reshape(-1)
    grad = np.empty(flat.size)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        grad[i] = (up - down) / (2.0 * eps)
    return grad.reshape(a.shape)


def _compare(what: str, got: np.ndarray, want: np.ndarray, rtol: float, atol: float,
             relative: bool = False) -> float:
    got = np.asarray(got)
    want = np.asarray(want)
    if got.shape != want.shape:
        raise AssertionError(f"{what}: expected shape {want.shape}, got {got.shape}")
    err = np.abs(got - want)
    ok = err <= atol + rtol * np.abs(want)  # False where NaN
    score = err / (np.abs(want) + atol / rtol) if relative else err
    worst = float(np.max(score, initial=0.0)) if np.all(np.isfinite(score)) else float("inf")
    if not np.all(ok):
        ranked = np.where(ok, -1.0, np.nan_to_num(err, nan=np.inf))
        idx = tuple(int(k) for k in np.unravel_index(int(np.argmax(ranked)), got.shape))
        kind = "relative error" if relative else "abs error"
        raise AssertionError(
            f"{what}: {int(np.count_nonzero(~ok))} of {got.size} values differ, max {kind} "
            f"{worst:.3g} (rtol={rtol}, atol={atol}); worst at index {idx}: got "
            f"{float(got[idx]):.10g}, expected {float(want[idx]):.10g}")
    return worst
