"""Finite-difference gradient checks (float64) of every built-in cell through the layer.

Over 100 configurations drawn from a fixed seed cover layers 1-2, both directions,
batch_first, variable lengths, bias on/off and LSTM projections; every stage (input, each
initial state, each parameter) is compared. ``grad_h_norm`` in ``trace()`` is checked
against finite differences of the loss in a perturbation added to ``h_t``.
"""

from __future__ import annotations

import naive
import numpy as np
import pytest
from conftest import BUILTIN_CELLS

from rnnlab.engine.cells import GRUKernel, LSTMKernel
from rnnlab.testing import gradient_check, make_gradient_problem

CONFIGS_PER_CELL = 26
RELU_MARGIN = 1e-4  # far beyond the eps-sized change a finite difference makes


def _configs():
    rng = np.random.default_rng(1234)
    cases = []
    for cell in BUILTIN_CELLS:
        for k in range(CONFIGS_PER_CELL):
            hidden = int(rng.integers(2, 4))
            cfg = dict(num_layers=1 + k % 2, bidirectional=bool(k >> 1 & 1),
                       batch_first=bool(k >> 2 & 1), lengths="random" if k >> 3 & 1 else None,
                       bias=k % 5 != 4, input_size=int(rng.integers(1, 4)), hidden_size=hidden,
                       seq_len=int(rng.integers(1, 5)), batch=int(rng.integers(1, 4)),
                       seed=int(rng.integers(2**31)))
            if cell == "lstm" and k % 3 == 1:
                cfg["proj_size"] = int(rng.integers(1, hidden))
            tag = "".join([f"-L{cfg['num_layers']}", "-bi" if cfg["bidirectional"] else "",
                           "-bf" if cfg["batch_first"] else "", "-len" if cfg["lengths"] else "",
                           "" if cfg["bias"] else "-nobias",
                           f"-proj{cfg['proj_size']}" if "proj_size" in cfg else ""])
            cases.append(pytest.param(cell, cfg, id=f"{cell}-{k:02d}{tag}"))
    return cases


CONFIGS = _configs()


def _relu_margin(cfg: dict) -> float:
    """Smallest |pre-activation| over every valid step, layer and direction."""
    problem = make_gradient_problem("rnn_relu", **cfg)
    layer = problem.layer
    _, _, traces = naive.stack("rnn_relu", layer.state_dict(), problem.x, problem.hx,
                               problem.lengths, layer.num_layers, layer.bidirectional,
                               layer.batch_first)
    T = cfg["seq_len"]
    lengths = np.full(cfg["batch"], T) if problem.lengths is None else problem.lengths
    valid = np.arange(T)[:, None] < lengths[None, :]
    return min(float(np.abs(tr["pre"][valid]).min()) for tr in traces)


def _away_from_kinks(cfg: dict) -> dict:
    """``cfg`` with the first seed whose relu pre-activations all clear the kink at 0."""
    for j in range(100):
        trial = {**cfg, "seed": cfg["seed"] + j}
        if _relu_margin(trial) > RELU_MARGIN:
            return trial
    raise AssertionError(f"no seed near {cfg['seed']} keeps relu away from 0")


def test_configurations_cover_the_grid():
    assert len(CONFIGS) >= 100
    seen = {(c.values[0], c.values[1]["num_layers"], c.values[1]["bidirectional"],
             c.values[1]["batch_first"], c.values[1]["lengths"]) for c in CONFIGS}
    assert len(seen) == len(BUILTIN_CELLS) * 16
    lstm = [c.values[1] for c in CONFIGS if c.values[0] == "lstm"]
    assert any("proj_size" in cfg for cfg in lstm) and any(not cfg["bias"] for cfg in lstm)


@pytest.mark.parametrize(("cell", "cfg"), CONFIGS)
def test_builtin_cell_gradients(cell, cfg):
    if cell == "rnn_relu":
        cfg = _away_from_kinks(cfg)
    errors = gradient_check(cell, **cfg)
    names = [n for n, _ in make_gradient_problem(cell, **cfg).layer.named_parameters()]
    states = ("h", "c") if cell == "lstm" else ("h",)
    assert list(errors) == ["dx"] + [f"dh0 ({s})" for s in states] + names
    assert max(errors.values()) <= 1e-5


GRAD_H_CASES = [
    pytest.param("rnn_tanh", {}, id="rnn_tanh"),
    pytest.param("rnn_relu", {}, id="rnn_relu"),
    pytest.param("lstm", {}, id="lstm"),
    pytest.param("lstm", {"proj_size": 2}, id="lstm_proj2"),
    pytest.param("gru", {}, id="gru"),
]
# (num_layers, bidirectional, lengths) with batch = len(lengths) and T = 4
GRAD_H_SHAPES = {
    "l1": (1, False, [4, 1, 3]),
    "l1_bi": (1, True, [2, 4]),
    "l2_bi": (2, True, [4, 2]),
}


@pytest.mark.parametrize("shape", list(GRAD_H_SHAPES))
@pytest.mark.parametrize(("cell", "options"), GRAD_H_CASES)
def test_grad_h_norm_matches_finite_differences(cell, options, shape):
    """``||dL/dh_t||``: dL/dh_t is the derivative of the loss in a perturbation added to
    ``h_t`` right after it is computed (it flows both to the output and to step t+1)."""
    L, bi, lengths = GRAD_H_SHAPES[shape]
    T, B, D = 4, len(lengths), 2 if bi else 1
    cfg = dict(num_layers=L, bidirectional=bi, hidden_size=3, input_size=2, seq_len=T,
               batch=B, lengths=lengths, seed=7, **options)
    if cell == "rnn_relu":
        cfg = _away_from_kinks(cfg)
    problem = make_gradient_problem(cell, **cfg)
    layer = problem.layer
    state = layer.state_dict()
    problem.analytic()
    P = layer.output_size
    valid = np.arange(T)[:, None] < np.asarray(lengths)[None, :]

    def loss(perturb):
        out, finals, _ = naive.stack(cell, state, problem.x, problem.hx, problem.lengths,
                                     L, bi, perturb=perturb)
        return np.sum(out * problem.out_weight) + sum(
            np.sum(f * w) for f, w in zip(finals, problem.state_weights))

    eps = 1e-6
    for li in range(L):
        for d in range(D):
            fd = np.zeros((T, B, P))
            for t, b, j in np.ndindex(T, B, P):
                dh = np.zeros((T, B, P))
                dh[t, b, j] = eps
                up = loss({(li, d): dh})
                down = loss({(li, d): -dh})
                fd[t, b, j] = (up - down) / (2 * eps)
            got = layer.trace(li, d)["grad_h_norm"]
            want = np.linalg.norm(fd, axis=2)
            assert got.shape == (T, B)
            assert np.all(got[~valid] == 0), "grad_h_norm past the length must be 0"
            assert np.all(want[valid] > 1e-6)
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9,
                                       err_msg=f"layer {li} direction {d}")


class _WrongBiasHHReverse(GRUKernel):
    """GRU whose reverse direction doubles the bias_hh gradient."""

    name = "gru_wrong_bias_hh_reverse"

    def backward(self, params, cache, dy, dstate_n, grads):
        before = grads["bias_hh"].copy()
        out = super().backward(params, cache, dy, dstate_n, grads)
        if cache.arrays["reverse"]:
            grads["bias_hh"] += grads["bias_hh"] - before
        return out


class _WrongCellStateGrad(LSTMKernel):
    """LSTM returning a slightly scaled gradient for the initial cell state."""

    name = "lstm_wrong_dc0"

    def backward(self, params, cache, dy, dstate_n, grads):
        dx, (dh0, dc0), dh_sq = super().backward(params, cache, dy, dstate_n, grads)
        return dx, (dh0, dc0 * 1.001), dh_sq


class _WrongInputGrad(LSTMKernel):
    name = "lstm_wrong_dx"

    def backward(self, params, cache, dy, dstate_n, grads):
        dx, dst0, dh_sq = super().backward(params, cache, dy, dstate_n, grads)
        dx[0, 0, 0] += 1e-4
        return dx, dst0, dh_sq


@pytest.mark.parametrize(("cell", "stage"), [
    (_WrongBiasHHReverse, "bias_hh_l0_reverse"),
    (_WrongCellStateGrad, r"dh0 \(c\)"),
    (_WrongInputGrad, "dx"),
], ids=["bias_hh_l0_reverse", "dh0_c", "dx"])
def test_gradient_check_names_the_first_failing_stage(cell, stage):
    with pytest.raises(AssertionError, match=rf"stage '{stage}'.*max relative error"):
        gradient_check(cell, num_layers=2, bidirectional=True, hidden_size=2, input_size=2,
                       seq_len=3, batch=2)


def test_gradient_check_passes_a_cell_instance_and_subclass():
    a = gradient_check(GRUKernel(), hidden_size=2, seq_len=2, batch=2)
    b = gradient_check(GRUKernel, hidden_size=2, seq_len=2, batch=2)
    assert a == b


def test_gradient_check_rejects_bad_arguments():
    with pytest.raises(ValueError, match="lengths: expected None, 'random' or integers"):
        gradient_check("gru", lengths="shuffled")
    with pytest.raises(ValueError, match="expected eps > 0"):
        gradient_check("gru", eps=0.0)


def test_random_lengths_are_drawn_in_range():
    problem = make_gradient_problem("gru", lengths="random", seq_len=3, batch=50)
    assert problem.lengths.min() == 1 and problem.lengths.max() == 3
