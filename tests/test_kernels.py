"""The compiled kernels agree with the plain NumPy reference in ``naive.py``.

Through the cells (one layer, one direction, the contract the driver relies on) and through
the layers (stacks, directions, lengths, layouts), in float32 and float64: outputs, final
states and every array ``trace()`` exposes. The sequence kernel also equals a loop of
one-step calls (:func:`rnnlab.testing.step_loop_check`).
"""

from __future__ import annotations

import naive
import numpy as np
import pytest

from rnnlab.engine.cells import BUILTIN_CELLS, RNNTanhKernel
from rnnlab.engine.recurrent import Recurrent
from rnnlab.testing import step_loop_check

TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-5}, np.float64: {"rtol": 1e-12, "atol": 1e-12}}
DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]
CASES = list(naive.CASES)


def close(name, got, want, dtype):
    assert got.shape == want.shape, f"{name}: expected shape {want.shape}, got {got.shape}"
    np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=name)


def random_cell_inputs(cell, I, H, T, B, bias, dtype, rng, lengths):
    params = {s.name: rng.uniform(-0.6, 0.6, size=s.shape).astype(dtype)
              for s in cell.param_specs(I, H, bias)}
    x = rng.standard_normal((T, B, I)).astype(dtype)
    state0 = tuple((0.5 * rng.standard_normal((B, s))).astype(dtype)
                   for s in cell.state_sizes(H))
    lens = np.full(B, T, dtype=np.int64) if lengths is None else np.asarray(lengths, np.int64)
    return params, x, lens, state0


# sizes (I, H, T, B) and lengths; "wide" has a hidden size off any vector width.
CELL_SHAPES = {
    "full": ((3, 4, 5, 3), None),
    "ragged": ((3, 4, 6, 4), [6, 1, 3, 6]),
    "wide": ((5, 17, 4, 2), [2, 4]),
    "single": ((1, 3, 1, 1), None),
}


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("shape", list(CELL_SHAPES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_cell_forward_matches_naive(case, dtype, shape, reverse, rng):
    name, options = naive.CASES[case]
    cell = BUILTIN_CELLS[name](**options)
    (I, H, T, B), lengths = CELL_SHAPES[shape]
    params, x, lens, state0 = random_cell_inputs(cell, I, H, T, B, True, dtype, rng, lengths)

    y, finals, cache = cell.forward(params, x, lens, state0, reverse)
    ry, rfinals, rtrace = naive.LAYERS[name](x, lens, state0, params, reverse=reverse)

    assert y.dtype == dtype
    close("y", y, ry, dtype)
    assert len(finals) == len(cell.states)
    for state, got, want in zip(cell.states, finals, rfinals):
        assert got.dtype == dtype
        close(f"final {state}", got, want, dtype)
    assert set(cache.trace) == {"h"} | set(rtrace) - {"pre"}
    for key in cache.trace:
        close(f"trace {key}", cache.trace[key], rtrace[key], dtype)


@pytest.mark.parametrize("case", CASES)
def test_cell_forward_without_bias_matches_naive(case, rng):
    name, options = naive.CASES[case]
    cell = BUILTIN_CELLS[name](**options)
    params, x, lens, state0 = random_cell_inputs(cell, 2, 3, 4, 2, False, np.float64, rng,
                                                 [4, 2])
    assert not any(k.startswith("bias") for k in params)
    y, finals, _ = cell.forward(params, x, lens, state0, True)
    ry, rfinals, _ = naive.LAYERS[name](x, lens, state0, params, reverse=True)
    close("y", y, ry, np.float64)
    for got, want in zip(finals, rfinals):
        close("final state", got, want, np.float64)


# (num_layers, bidirectional, batch_first, lengths, bias, T, B); B None is unbatched input.
LAYER_CONFIGS = {
    "l1": (1, False, False, None, True, 5, 3),
    "l2_bi": (2, True, False, None, True, 4, 2),
    "l2_bi_lengths": (2, True, False, [4, 1, 3], True, 4, 3),
    "l3_batch_first_lengths": (3, False, True, [2, 5], True, 5, 2),
    "bi_nobias_batch_first": (1, True, True, [3, 3, 1], False, 3, 3),
    "unbatched_l2_bi": (2, True, False, None, True, 4, None),
}


@pytest.mark.parametrize("config", list(LAYER_CONFIGS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_layer_matches_naive_stack(case, dtype, config, rng):
    name, options = naive.CASES[case]
    L, bi, batch_first, lengths, bias, T, B = LAYER_CONFIGS[config]
    I, H = 3, 4
    layer = Recurrent(name, I, H, num_layers=L, bidirectional=bi, batch_first=batch_first,
                      bias=bias, dtype=dtype, seed=7, **options)
    D = 2 if bi else 1
    if B is None:
        x = rng.standard_normal((T, I)).astype(dtype)
        hx = tuple(rng.standard_normal((L * D, s)).astype(dtype) for s in layer.state_sizes)
    else:
        x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(dtype)
        hx = tuple(rng.standard_normal((L * D, B, s)).astype(dtype) for s in layer.state_sizes)

    out, h_n = layer(x, hx if len(hx) > 1 else hx[0], lengths=lengths)
    rout, rfinals, rtraces = naive.stack(name, layer.state_dict(), x, hx, lengths, L, bi,
                                         batch_first)

    assert out.dtype == dtype
    close("out", out, rout, dtype)
    finals = h_n if isinstance(h_n, tuple) else (h_n,)
    assert len(finals) == len(rfinals)
    for state, got, want in zip(layer.cell.states, finals, rfinals):
        close(f"h_n ({state})", got, want, dtype)
    for layer_idx in range(L):
        for d in range(D):
            trace = layer.trace(layer_idx, d)
            want = rtraces[layer_idx * D + d]
            for key in ("h", "c", "gates"):
                assert (key in trace) == (key in want), f"trace key {key!r}"
                if key in want:
                    close(f"trace {key} l{layer_idx} d{d}", trace[key], want[key], dtype)


@pytest.mark.parametrize("lengths", [None, "random", [1, 5, 3]], ids=["full", "random", "fixed"])
@pytest.mark.parametrize("case", CASES)
def test_sequence_equals_step_loop(case, lengths):
    name, options = naive.CASES[case]
    errors = step_loop_check(name, lengths=lengths, seed=3, **options)
    assert set(errors) >= {"out (forward)", "out (reverse)"}
    assert all(e <= 1e-12 for e in errors.values())


class _IgnoresLengths(RNNTanhKernel):
    name = "ignores_lengths"

    def forward(self, params, x, lengths, state0, reverse):
        full = np.full_like(lengths, x.shape[0])
        return super().forward(params, x, full, state0, reverse)


class _IgnoresReverse(RNNTanhKernel):
    name = "ignores_reverse"

    def forward(self, params, x, lengths, state0, reverse):
        return super().forward(params, x, lengths, state0, False)


def test_step_loop_check_catches_a_cell_that_ignores_lengths():
    step_loop_check(_IgnoresLengths, lengths=None)  # nothing to ignore
    with pytest.raises(AssertionError, match=r"stage 'out \(forward\)'"):
        step_loop_check(_IgnoresLengths, lengths=[2, 5, 4])


def test_step_loop_check_catches_a_cell_that_ignores_reverse():
    with pytest.raises(AssertionError, match=r"stage 'out \(reverse\)'"):
        step_loop_check(_IgnoresReverse)


def test_naive_reference_differs_from_kernel_when_weights_differ(rng):
    """The comparison has teeth: a one-element change in a weight is detected."""
    layer = Recurrent("gru", 2, 3, dtype=np.float64, seed=0)
    x = rng.standard_normal((4, 2, 2))
    out, _ = layer(x)
    state = layer.state_dict()
    state["weight_hh_l0"][1, 2] += 1e-6
    rout, _, _ = naive.stack("gru", state, x)
    with pytest.raises(AssertionError):
        close("out", out, rout, np.float64)


@pytest.mark.parametrize("scale", [1e4, 1e30], ids=["1e4", "1e30"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["rnn_tanh", "lstm", "lstm_proj", "gru"])
def test_saturating_inputs_stay_finite_and_match_naive(case, dtype, scale, rng):
    """Huge but finite inputs saturate every gate: no NaN/Inf, bounds hold, and the results
    still match the reference (relu is left out: it does not saturate)."""
    name, options = naive.CASES[case]
    layer = Recurrent(name, 3, 4, num_layers=2, bidirectional=True, dtype=dtype, seed=2,
                      **options)
    x = (scale * rng.standard_normal((4, 2, 3))).astype(dtype)
    out, h_n = layer(x, lengths=[4, 3])
    rout, rfinals, rtraces = naive.stack(name, layer.state_dict(), x, None, [4, 3], 2, True)
    close("out", out, rout, dtype)
    for got, want in zip(h_n if isinstance(h_n, tuple) else (h_n,), rfinals):
        close("h_n", got, want, dtype)
    for k in range(4):
        trace = layer.trace(k // 2, k % 2)
        if "gates" in trace:
            assert np.all(np.abs(trace["gates"]) <= 1.0)
            close(f"gates {k}", trace["gates"], rtraces[k]["gates"], dtype)
    dx, _ = layer.backward(np.ones_like(out))
    assert np.all(np.isfinite(dx))
    assert all(np.all(np.isfinite(p.grad)) for p in layer.parameters())
