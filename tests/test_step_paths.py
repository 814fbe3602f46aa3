"""Every way a built-in kernel can run a step agrees with the NumPy reference and with finite
differences, whatever size would pick it: the input projection fused into the step product
(several sequences, small input), BLAS's matrix-vector product (one sequence, large weight),
in two halves whose order flips every step (a weight as large as L2), the hidden units split
over threads, fused and split at once (a few sequences, a large state), and a backward that
adds its weight gradients in several chunks of steps (split over threads too, a chunk
shorter than the threads included), with the input and recurrent weight gradients from one
product (small weights) or from two (large ones). The thresholds are changed so small,
checkable problems take each path."""

from __future__ import annotations

import naive
import numba
import numpy as np
import pytest
from conftest import BUILTIN_CELLS, force_unit_split, record_results

from rnnlab.engine import cells
from rnnlab.engine.kernels.common import cols_operand, operand_product, rows_operand
from rnnlab.engine.recurrent import Recurrent
from rnnlab.testing import gradient_check

PATHS = ["fused", "dense", "halves", "split", "fused_split"]
#: steps per backward chunk on the "chunks" path (sequences of 4 steps: chunks of 3 and 1)
CHUNK_STEPS = 3


@pytest.fixture
def path(request, monkeypatch):
    """Force one path for every problem size; records the plans the cells make."""
    name = request.param
    if name in ("fused", "fused_split"):
        monkeypatch.setattr(cells, "FUSE_RATIO", 0)
    if name in ("dense", "halves"):
        monkeypatch.setattr(cells, "DENSE_MIN_ELEMENTS", 0)
        parts = 2 if name == "halves" else 1
        monkeypatch.setattr(cells, "dense_parts", lambda nbytes: parts)
    elif name != "fused" and not numba.config.DISABLE_JIT:
        force_unit_split(monkeypatch, threads=2, min_units=2)
    elif name in ("split", "fused_split"):
        pytest.skip("interpreted kernels never split their units")
    plans = []
    if name == "separate":
        monkeypatch.setattr(cells, "MERGE_MAX_ELEMENTS", 0)
        record_results(monkeypatch, cells, "merged_grads", plans,
                       lambda merged, *_: "merged" if merged else "separate")
    if name in ("chunks", "separate"):
        monkeypatch.setattr(cells, "CHUNK_ROWS", CHUNK_STEPS * BATCH[name])
        # a buffer of fewer steps than the sequence: the backward runs in several chunks
        record_results(monkeypatch, cells, "chunk_buffers", plans,
                       lambda buf, steps, *_: buf.shape[1] < steps)
    record_results(monkeypatch, cells, "step_plan", plans)
    return name, plans


def _taken(name, plans):
    """Whether the forced path was taken by at least one call (it cannot be by all: the
    backward never fuses, and a batch of several sequences is never dense)."""
    if name == "fused":
        return any(p.fused for p in plans)
    if name == "fused_split":
        return any(p.fused and p.n > 1 for p in plans)
    if name in ("dense", "halves"):
        return any(p.dense == (2 if name == "halves" else 1) for p in plans)
    if name == "chunks":  # split over threads too, where kernels are compiled
        split = numba.config.DISABLE_JIT or any(getattr(p, "n", 1) > 1 for p in plans)
        return any(p is True for p in plans) and split
    if name == "separate":  # in several chunks, and never merged
        return "separate" in plans and "merged" not in plans and any(p is True for p in plans)
    return any(p.n > 1 for p in plans)


def _path_possible(name, cell):
    """Whether ``cell`` can take path ``name``: a GRU always adds its weight gradients with
    two products."""
    return cell != "gru" or name != "separate"


# batch 1 for the dense paths (one-row products only), 3 sequences for the others
BATCH = {"fused": 3, "dense": 1, "halves": 1, "split": 3, "fused_split": 3, "chunks": 3,
         "separate": 3}


def _problem(case, batch, dtype, rng):
    """A built-in cell of ``case`` with random parameters, inputs of 5 steps, initial
    states and lengths ``[5, 2, 4][:batch]``, and the tolerance for ``dtype``."""
    cell_name, options = naive.CASES[case]
    cell = cells.BUILTIN_CELLS[cell_name](**options)
    I, H, T = 2, 6, 5
    params = {s.name: rng.uniform(-0.6, 0.6, size=s.shape).astype(dtype)
              for s in cell.param_specs(I, H, True)}
    x = rng.standard_normal((T, batch, I)).astype(dtype)
    state0 = tuple((0.5 * rng.standard_normal((batch, s))).astype(dtype)
                   for s in cell.state_sizes(H))
    lengths = np.array([5, 2, 4][:batch], dtype=np.int64)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else \
        {"rtol": 1e-12, "atol": 1e-12}
    return cell, (params, x, lengths, state0), tol


def _assert_matches_naive(case, result, inputs, reverse, tol):
    """A cell's forward ``result`` (output, final states, cache) against the reference."""
    params, x, lengths, state0 = inputs
    y, finals, cache = result
    ry, rfinals, rtrace = naive.LAYERS[naive.CASES[case][0]](x, lengths, state0, params,
                                                             reverse=reverse)
    np.testing.assert_allclose(y, ry, **tol)
    for got, want in zip(finals, rfinals):
        np.testing.assert_allclose(got, want, **tol)
    for key in cache.trace:
        np.testing.assert_allclose(cache.trace[key], rtrace[key], **tol, err_msg=key)


def _takes(name, case):
    """Whether ``case`` can take path ``name``: an LSTM with a projection never splits."""
    return not (name.endswith("split") and naive.CASES[case][1].get("proj_size"))


@pytest.mark.parametrize("path", PATHS, indirect=True)
@pytest.mark.parametrize("case", list(naive.CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_forced_path_matches_naive(path, case, dtype, rng):
    name, plans = path
    cell, inputs, tol = _problem(case, BATCH[name], dtype, rng)
    for reverse in (False, True):
        result = cell.forward(*inputs, reverse)
        _assert_matches_naive(case, result, inputs, reverse, tol)
    assert _taken(name, plans) == _takes(name, case)


class _DirtyNumpy:
    """numpy whose ``empty`` hands out NaN-filled float arrays, as reused memory may hold
    anything: a kernel must write or zero every element it returns."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def empty(shape, dtype=float):
        a = np.empty(shape, dtype)
        if a.dtype.kind == "f":
            a.fill(np.nan)
        return a


@pytest.mark.parametrize("path", PATHS, indirect=True)
@pytest.mark.parametrize("case", list(naive.CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_forced_path_in_dirty_buffers_and_without_caches(path, case, dtype, rng, monkeypatch):
    """Outputs, kept gates and states are right past each length when the cells' buffers
    start out as NaN, and ``keep=False`` (inference) changes no output bit."""
    monkeypatch.setattr(cells, "np", _DirtyNumpy())
    name, plans = path
    cell, inputs, tol = _problem(case, BATCH[name], dtype, rng)
    for reverse in (False, True):
        y, finals, cache = cell._forward(*inputs, reverse)
        _assert_matches_naive(case, (y, finals, cache), inputs, reverse, tol)
        y2, finals2, cache2 = cell._forward(*inputs, reverse, keep=False)
        assert cache2.arrays == {} and cache2.trace == {}
        for got, want in zip((y2, *finals2), (y, *finals)):
            np.testing.assert_array_equal(got, want)
    assert _taken(name, plans) == _takes(name, case)


@pytest.mark.parametrize("path", [*PATHS, "chunks", "separate"], indirect=True)
@pytest.mark.parametrize("cell", BUILTIN_CELLS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_forced_path_gradients(path, cell, bidirectional):
    name, plans = path
    seed = 5
    for trial in range(20):  # relu: a seed whose pre-activations clear the kink at 0
        try:
            errors = gradient_check(cell, input_size=2, hidden_size=6, num_layers=2,
                                    bidirectional=bidirectional, lengths="random", seq_len=4,
                                    batch=BATCH[name], seed=seed + trial)
            break
        except AssertionError:
            if cell != "rnn_relu" or trial == 19:
                raise
    assert max(errors.values()) <= 1e-5
    assert _taken(name, plans) == _path_possible(name, cell)


@pytest.mark.parametrize("path", ["dense", "halves", "split", "chunks", "separate"],
                         indirect=True)
def test_forced_path_lstm_projection_gradients(path):
    name, plans = path
    errors = gradient_check("lstm", input_size=2, hidden_size=6, proj_size=3, lengths="random",
                            seq_len=4, batch=BATCH[name], seed=11)
    assert max(errors.values()) <= 1e-5
    # the projection needs every unit at each step
    assert all(p.n == 1 for p in plans if isinstance(p, cells.StepPlan))
    assert name not in ("chunks", "separate") or any(p is True for p in plans)
    assert name != "separate" or "separate" in plans


@pytest.mark.parametrize("path", [*PATHS, "chunks", "separate"], indirect=True)
@pytest.mark.parametrize("cell", BUILTIN_CELLS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_forced_path_without_input_gradient(path, cell, bidirectional, rng):
    """``input_grad=False`` skips the first layer's ``dx`` and changes nothing else: the
    parameter and initial-state gradients are those of a full backward, bit for bit."""
    name, plans = path
    B = BATCH[name]
    layer = Recurrent(cell, 2, 6, num_layers=2, bidirectional=bidirectional, seed=3)
    x = rng.standard_normal((4, B, 2)).astype(np.float32)
    lengths = np.array([4, 2, 3][:B])
    out, _ = layer(x, lengths=lengths)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    results = []
    for wanted in (True, False):
        layer.zero_grad()
        layer(x, lengths=lengths)
        dx, dh0 = layer.backward(dout, input_grad=wanted)
        grads = {n: p.grad.copy() for n, p in layer.named_parameters()}
        results.append((dx, dh0, grads))
    (dx, dh0, grads), (no_dx, no_dh0, no_grads) = results
    assert no_dx is None and dx.shape == x.shape and np.any(dx != 0)
    np.testing.assert_array_equal(no_dh0, dh0)
    for n, g in grads.items():
        assert np.any(g != 0), n
        np.testing.assert_array_equal(no_grads[n], g, err_msg=n)
    assert _taken(name, plans) == _path_possible(name, cell)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("k", [1, 3, 4])
def test_dense_product_in_parts_matches_numpy(dtype, n, k, rng):
    """A one-row product by BLAS, whole or in halves in either order (even and odd sizes,
    an empty first half at 1), over the gathered rows (halves of the output) and over the
    plain columns (halves of the sum)."""
    w = rng.standard_normal((n, k)).astype(dtype)  # b = w.T (k, n)
    v = rng.standard_normal((k, n)).astype(dtype)  # b = v (k, n)
    a = rng.standard_normal((1, k)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for dense in (1, 2):
        for op, b in ((rows_operand(w, 1, n, 0, n, dense), w.T),
                      (cols_operand(v, 0, n, dense), v)):
            assert op[3] == dense
            for s in (0, 1):
                c = np.full((1, n), np.nan, dtype=dtype)
                operand_product(a, op, c, s)
                np.testing.assert_allclose(c, a @ b, rtol=tol, atol=tol)


def test_dense_halves_from_l2_to_twice_it(monkeypatch):
    """Halves where the weight is as large as L2 up to twice it; none if L2 is unknown."""
    monkeypatch.setattr(cells, "DENSE_HALVES_MIN_BYTES", 2 << 20)
    got = [cells.dense_parts(b) for b in ((2 << 20) - 1, 2 << 20, (4 << 20) - 1, 4 << 20)]
    assert got == [1, 2, 2, 1]
    monkeypatch.setattr(cells, "DENSE_HALVES_MIN_BYTES", 0)
    assert cells.dense_parts(2 << 20) == 1
