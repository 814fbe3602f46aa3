"""The built-in plugin cells: peephole LSTM, layer-normalised LSTM and IndRNN.

Each is checked against the plain NumPy reference in ``naive_plugin_cells.py`` (float32
and float64), by finite differences (``rnnlab.testing.gradient_check``, also with random
layer-norm gains and shifts), by the step-loop check, and on properties of its formulation.
"""

from __future__ import annotations

import numpy as np
import pytest
from naive_plugin_cells import run_recurrent

from rnnlab.engine.cells import LSTMKernel
from rnnlab.engine.recurrent import Recurrent
from rnnlab.plugins.cells import IndRNNKernel, LayerNormLSTMKernel, PeepholeLSTMKernel
from rnnlab.testing import gradient_check, make_gradient_problem, step_loop_check

# id -> (cell class, cell options)
CASES = {
    "peephole_lstm": (PeepholeLSTMKernel, {}),
    "layernorm_lstm": (LayerNormLSTMKernel, {}),
    "indrnn_relu": (IndRNNKernel, {}),
    "indrnn_tanh": (IndRNNKernel, {"nonlinearity": "tanh"}),
}
CONFIGS = {  # id -> Recurrent / gradient_check keywords
    "1layer": dict(num_layers=1),
    "2layer_bidir_lengths": dict(num_layers=2, bidirectional=True, lengths="random"),
    "nobias_bidir_batchfirst": dict(bias=False, bidirectional=True, batch_first=True,
                                    lengths="random"),
}
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-4, atol=2e-5)}


def randomise(layer: Recurrent, rng: np.random.Generator) -> None:
    """Move every parameter off its init: layer-norm gains near 1, everything else ±0.8."""
    for name, p in layer.named_parameters():
        centre = 1.0 if name.startswith(("ln_ih_weight", "ln_hh_weight", "ln_c_weight")) else 0.0
        p.data[...] = centre + rng.uniform(-0.8, 0.8, p.shape)


def run_both(cell, options, *, dtype, num_layers=1, bidirectional=False, bias=True,
             lengths=None, T=5, B=3, I=3, H=4, seed=0):
    """The kernel layer and the NumPy reference on the same random problem."""
    rng = np.random.default_rng(seed)
    layer = Recurrent(cell, I, H, num_layers=num_layers, bidirectional=bidirectional,
                      bias=bias, dtype=dtype, seed=seed, **options)
    randomise(layer, rng)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    LD = num_layers * layer.num_directions
    hx = tuple((0.5 * rng.standard_normal((LD, B, s))).astype(dtype) for s in layer.state_sizes)
    out, h_n = layer(x, hx if len(hx) > 1 else hx[0], lengths=lengths)
    h_n = h_n if isinstance(h_n, tuple) else (h_n,)
    lens = np.full(B, T) if lengths is None else np.asarray(lengths)
    ref_out, ref_h_n = run_recurrent(cell.name, dict(_named_data(layer)), x, lens, hx,
                                     num_layers, bidirectional, **options)
    return layer, (out, h_n), (ref_out, ref_h_n)


def _named_data(layer):
    return ((n, p.data) for n, p in layer.named_parameters())


# --- the NumPy reference -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("config", [
    dict(),
    dict(num_layers=2, bidirectional=True, lengths=[5, 2, 1]),
    dict(num_layers=2, bias=False, lengths=[3, 5, 4]),
], ids=["1layer", "2layer_bidir_lengths", "2layer_nobias_lengths"])
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_forward_matches_numpy_reference(case, config, dtype):
    cell, options = CASES[case]
    _, (out, h_n), (ref_out, ref_h_n) = run_both(cell, options, dtype=dtype, **config)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ref_out, **TOL[dtype], err_msg=f"{case}: out")
    for name, got, want in zip(cell.states, h_n, ref_h_n):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=f"{case}: h_n ({name})")


# --- gradients -----------------------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS, ids=list(CONFIGS))
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_gradient_check(case, config):
    cell, options = CASES[case]
    errors = gradient_check(cell, **CONFIGS[config], **options)
    names = {n for n, _ in Recurrent(cell, 3, 4, **{k: v for k, v in CONFIGS[config].items()
                                                     if k != "lengths"},
                                     **options).named_parameters()}
    assert names | {"dx"} <= set(errors)
    assert max(errors.values()) < 1e-5


@pytest.mark.parametrize("config", CONFIGS, ids=list(CONFIGS))
@pytest.mark.parametrize("case", ["peephole_lstm", "layernorm_lstm"])
def test_gradients_with_random_parameters(case, config):
    """Init values hide mistakes (layer-norm gains 1, shifts 0): check away from them."""
    cell, options = CASES[case]
    problem = make_gradient_problem(cell, **CONFIGS[config], **options)
    randomise(problem.layer, np.random.default_rng(7))
    analytic, numeric = problem.analytic(), problem.numeric(1e-6)
    for stage, want in numeric.items():
        np.testing.assert_allclose(analytic[stage], want, rtol=1e-5, atol=1e-7,
                                   err_msg=f"{case}: stage {stage}")


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_float32_gradients_follow_float64(case):
    cell, options = CASES[case]
    grads = {}
    for dtype in (np.float64, np.float32):
        layer, (out, _), _ = run_both(cell, options, dtype=dtype, num_layers=2,
                                      bidirectional=True, lengths=[5, 3, 4])
        dout = np.random.default_rng(3).standard_normal(out.shape).astype(dtype)
        dx, _ = layer.backward(dout)
        assert dx.dtype == dtype
        grads[dtype] = {"dx": dx, **{n: p.grad for n, p in layer.named_parameters()}}
    for name, want in grads[np.float64].items():
        np.testing.assert_allclose(grads[np.float32][name], want, rtol=1e-3, atol=1e-4,
                                   err_msg=f"{case}: {name}")


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_sequence_equals_loop_of_steps(case, bias):
    cell, options = CASES[case]
    errors = step_loop_check(cell, bias=bias, lengths="random", **options)
    assert max(errors.values()) <= 1e-10


# --- registration, layout, init, introspection ---------------------------------------------
@pytest.mark.parametrize("cell", [PeepholeLSTMKernel, LayerNormLSTMKernel, IndRNNKernel])
def test_registered_by_name_and_fulfils_the_contract(cell):
    from rnnlab.engine.contract import validate
    from rnnlab.engine.registry import get_cell

    assert validate(cell) == []
    assert get_cell(cell.name) is cell
    layer = Recurrent(cell.name, 3, 4, num_layers=2, bidirectional=True, seed=0)
    assert isinstance(layer.cell, cell)
    out, _ = layer(np.zeros((2, 1, 3), dtype=np.float32))
    assert out.shape == (2, 1, 8)


def test_parameter_names_shapes_and_init():
    I, H = 3, 4
    pe = dict((n, p) for n, p in Recurrent(PeepholeLSTMKernel, I, H).named_parameters())
    assert list(pe) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                        "weight_ci_l0", "weight_cf_l0", "weight_co_l0"]
    assert pe["weight_ih_l0"].shape == (4 * H, I) and pe["weight_co_l0"].shape == (H,)
    assert all(np.abs(p.data).max() <= 1 / np.sqrt(H) for p in pe.values())

    ln = dict((n, p.data) for n, p in Recurrent(LayerNormLSTMKernel, I, H).named_parameters())
    assert list(ln) == ["weight_ih_l0", "weight_hh_l0", "ln_ih_weight_l0", "ln_ih_bias_l0",
                        "ln_hh_weight_l0", "ln_hh_bias_l0", "ln_c_weight_l0", "ln_c_bias_l0"]
    for gain, size in (("ln_ih", 4 * H), ("ln_hh", 4 * H), ("ln_c", H)):
        np.testing.assert_array_equal(ln[gain + "_weight_l0"], np.ones(size))
        np.testing.assert_array_equal(ln[gain + "_bias_l0"], np.zeros(size))
    ln_nobias = [n for n, _ in Recurrent(LayerNormLSTMKernel, I, H, bias=False)
                 .named_parameters()]
    assert ln_nobias == ["weight_ih_l0", "weight_hh_l0", "ln_ih_weight_l0", "ln_hh_weight_l0",
                         "ln_c_weight_l0"]

    ind = dict((n, p.data) for n, p in Recurrent(IndRNNKernel, I, H, bidirectional=True)
               .named_parameters())
    assert {n: a.shape for n, a in ind.items()} == {
        "weight_ih_l0": (H, I), "weight_hh_l0": (H,), "bias_ih_l0": (H,),
        "weight_ih_l0_reverse": (H, I), "weight_hh_l0_reverse": (H,),
        "bias_ih_l0_reverse": (H,)}


@pytest.mark.parametrize("cell", [PeepholeLSTMKernel, LayerNormLSTMKernel])
def test_trace_of_lstm_variants(cell):
    T, B, H = 4, 2, 3
    layer = Recurrent(cell, 2, H, seed=0)
    x = np.random.default_rng(0).standard_normal((T, B, 2)).astype(np.float32)
    out, (h_n, c_n) = layer(x, lengths=[4, 2])
    tr = layer.trace()
    assert tr["gates"].shape == (T, B, 4, H) and tr["c"].shape == (T, B, H)
    np.testing.assert_array_equal(tr["gates"][2:, 1], 0.0)
    np.testing.assert_array_equal(out[2:, 1], 0.0)
    gates = tr["gates"][:2, 1]
    assert np.all((gates[:, [0, 1, 3]] > 0) & (gates[:, [0, 1, 3]] < 1))
    np.testing.assert_array_equal(c_n[0, 1], tr["c"][1, 1])
    np.testing.assert_array_equal(h_n[0, 1], out[1, 1])
    layer.backward(np.ones_like(out))
    grad_norm = layer.trace()["grad_h_norm"]
    assert np.all(grad_norm[:2, 1] > 0) and np.all(grad_norm[2:, 1] == 0)


# --- properties of each formulation --------------------------------------------------------
def test_peephole_lstm_without_peepholes_is_the_lstm():
    rng = np.random.default_rng(5)
    peep = Recurrent(PeepholeLSTMKernel, 3, 4, num_layers=2, bidirectional=True,
                     dtype=np.float64, seed=1)
    plain = Recurrent(LSTMKernel, 3, 4, num_layers=2, bidirectional=True, dtype=np.float64,
                      seed=2)
    state = {n: p.data for n, p in plain.named_parameters()}
    for name, p in peep.named_parameters():
        p.data[...] = 0.0 if name.startswith(("weight_ci", "weight_cf", "weight_co")) \
            else state[name]
    x = rng.standard_normal((5, 2, 3))
    out_a, (_, c_a) = peep(x, lengths=[5, 3])
    out_b, (_, c_b) = plain(x, lengths=[5, 3])
    np.testing.assert_allclose(out_a, out_b, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(c_a, c_b, rtol=1e-13, atol=1e-15)
    dout = rng.standard_normal(out_a.shape)
    dx_a, _ = peep.backward(dout)
    dx_b, _ = plain.backward(dout)
    np.testing.assert_allclose(dx_a, dx_b, rtol=1e-12, atol=1e-14)
    grads = {n: p.grad for n, p in plain.named_parameters()}
    for name, p in peep.named_parameters():
        if name in grads:
            np.testing.assert_allclose(p.grad, grads[name], rtol=1e-12, atol=1e-14)
        else:  # the peepholes still learn
            assert np.abs(p.grad).max() > 0


def test_peepholes_change_the_output():
    rng = np.random.default_rng(0)
    layer = Recurrent(PeepholeLSTMKernel, 3, 4, dtype=np.float64, seed=0)
    x = rng.standard_normal((4, 2, 3))
    before, _ = layer(x)
    layer.weight_co_l0.data[...] += 1.0
    after, _ = layer(x)
    assert np.abs(after - before).max() > 1e-3


def test_layernorm_lstm_ignores_the_scale_of_its_projections():
    """LN makes the cell invariant to rescaling W_ih and W_hh by positive factors (up to
    ``eps``, made negligible here)."""
    rng = np.random.default_rng(0)
    layer = Recurrent(LayerNormLSTMKernel, 3, 5, dtype=np.float64, seed=0, eps=1e-14)
    randomise(layer, rng)
    x = rng.standard_normal((6, 2, 3))
    hx = (rng.standard_normal((1, 2, 5)), rng.standard_normal((1, 2, 5)))
    out, (_, c_n) = layer(x, hx)
    layer.weight_ih_l0.data *= 7.0
    layer.weight_hh_l0.data *= 0.3
    out2, (_, c_n2) = layer(x, hx)
    np.testing.assert_allclose(out2, out, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(c_n2, c_n, rtol=1e-7, atol=1e-9)


def test_indrnn_units_are_independent():
    """Unit j's recurrent weight only reaches unit j (one layer)."""
    rng = np.random.default_rng(0)
    layer = Recurrent(IndRNNKernel, 3, 4, dtype=np.float64, seed=0, nonlinearity="tanh")
    x = rng.standard_normal((6, 2, 3))
    h0 = rng.standard_normal((1, 2, 4))
    before, _ = layer(x, h0)
    layer.weight_hh_l0.data[2] += 0.5
    after, _ = layer(x, h0)
    changed = np.abs(after - before).max(axis=(0, 1))
    assert changed[2] > 1e-3
    np.testing.assert_array_equal(changed[[0, 1, 3]], 0.0)


def test_indrnn_relu_output_is_non_negative():
    layer = Recurrent(IndRNNKernel, 3, 8, seed=0)
    out, h_n = layer(np.random.default_rng(0).standard_normal((7, 4, 3)).astype(np.float32))
    assert out.min() >= 0.0 and h_n.min() >= 0.0 and out.max() > 0.0


# --- bad input -----------------------------------------------------------------------------
def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="nonlinearity: expected 'relu' or 'tanh', got 'gelu'"):
        Recurrent(IndRNNKernel, 3, 4, nonlinearity="gelu")
    for eps in (0.0, -1e-5, float("nan"), "1e-5", True):
        with pytest.raises(ValueError, match="eps: expected a positive finite number"):
            Recurrent(LayerNormLSTMKernel, 3, 4, eps=eps)
    with pytest.raises(TypeError, match="unknown option"):
        Recurrent(PeepholeLSTMKernel, 3, 4, proj_size=2)


def test_layernorm_eps_option_is_used():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 3))
    outs = []
    for eps in (1e-5, 10.0):
        layer = Recurrent(LayerNormLSTMKernel, 3, 4, dtype=np.float64, seed=0, eps=eps)
        outs.append(layer(x)[0])
        ref, _ = run_recurrent("layernorm_lstm", dict(_named_data(layer)), x, np.full(2, 3),
                               (np.zeros((1, 2, 4)), np.zeros((1, 2, 4))), 1, False, eps=eps)
        np.testing.assert_allclose(outs[-1], ref, rtol=1e-10, atol=1e-12)
    assert np.abs(outs[0] - outs[1]).max() > 1e-3
