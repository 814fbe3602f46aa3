"""Linear, Embedding, Dropout, LastStep, Sequential: torch parity, finite differences, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnlab.engine.layers import Dropout, Embedding, LastStep, Linear, Sequential
from rnnlab.engine.losses import CrossEntropyLoss
from rnnlab.engine.recurrent import GRU, LSTM
from rnnlab.testing import numeric_gradient

GOLDEN = Path(__file__).resolve().parent / "golden_training" / "layers.npz"
TOL = {"float64": {"rtol": 1e-10, "atol": 1e-10}, "float32": {"rtol": 1e-5, "atol": 1e-5}}


def _golden():
    with np.load(GOLDEN, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    return json.loads(str(data.pop("config"))), data


CONFIG, DATA = _golden()


def check_gradients(loss, arrays: dict[str, np.ndarray], analytic: dict[str, np.ndarray],
                    eps: float = 1e-6, rtol: float = 1e-6, atol: float = 1e-8) -> None:
    """Compare ``analytic`` with central differences of ``loss()`` for each named array.

    ``loss()`` must read the arrays, which are perturbed in place and restored.
    """
    for name, a in arrays.items():
        numeric = numeric_gradient(loss, a, eps)
        np.testing.assert_allclose(analytic[name], numeric, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of {name}")


# golden parity --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(c for c in CONFIG if CONFIG[c]["kind"] == "Linear"))
def test_linear_matches_torch(case, dtype):
    c, pre = CONFIG[case], f"{case}.{dtype}."
    lin = Linear(c["in"], c["out"], bias=c["bias"], dtype=dtype)
    state = {"weight": DATA[pre + "weight"]}
    if c["bias"]:
        state["bias"] = DATA[pre + "bias"]
    lin.load_state_dict(state)
    y = lin(DATA[pre + "x"])
    dx = lin.backward(DATA[pre + "dy"])
    assert y.dtype == dx.dtype == np.dtype(dtype)
    np.testing.assert_allclose(y, DATA[pre + "y"], **TOL[dtype])
    np.testing.assert_allclose(dx, DATA[pre + "dx"], **TOL[dtype])
    for name, p in lin.named_parameters():
        np.testing.assert_allclose(p.grad, DATA[pre + "grad." + name], **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(c for c in CONFIG if CONFIG[c]["kind"] == "Embedding"))
def test_embedding_matches_torch(case, dtype):
    c, pre = CONFIG[case], f"{case}.{dtype}."
    emb = Embedding(c["num"], c["dim"], padding_idx=c["padding_idx"], dtype=dtype)
    emb.load_state_dict({"weight": DATA[pre + "weight"]})
    y = emb(DATA[pre + "idx"])
    assert emb.backward(DATA[pre + "dy"]) is None
    np.testing.assert_allclose(y, DATA[pre + "y"], **TOL[dtype])
    np.testing.assert_allclose(emb.weight.grad, DATA[pre + "grad.weight"], **TOL[dtype])


# Linear / Embedding ---------------------------------------------------------------------
def test_linear_init_follows_torch_bounds_and_seed():
    lin = Linear(16, 200, seed=1)
    assert lin.weight.shape == (200, 16) and lin.bias.shape == (200,)
    assert lin.weight.dtype == np.float32
    for p in (lin.weight.data, lin.bias.data):
        assert np.abs(p).max() <= 0.25 and np.abs(p).max() > 0.24
    np.testing.assert_array_equal(Linear(16, 200, seed=1).weight.data, lin.weight.data)
    assert [n for n, _ in Linear(2, 3, bias=False).named_parameters()] == ["weight"]


def test_linear_gradients_accumulate_and_match_finite_differences():
    rng = np.random.default_rng(0)
    lin = Linear(3, 2, dtype=np.float64, seed=0)
    x = rng.standard_normal((2, 4, 3))
    r = rng.standard_normal((2, 4, 2))
    lin(x)
    dx = lin.backward(r)
    check_gradients(lambda: float(np.sum(lin(x) * r)),
                    {"x": x, "weight": lin.weight.data, "bias": lin.bias.data},
                    {"x": dx, "weight": lin.weight.grad, "bias": lin.bias.grad})
    once = lin.weight.grad.copy()
    lin(x)
    lin.backward(r)
    np.testing.assert_allclose(lin.weight.grad, 2 * once, rtol=1e-12)


def test_embedding_padding_row_is_zero_and_never_learns():
    emb = Embedding(5, 3, padding_idx=-1, dtype=np.float64, seed=0)
    assert emb.padding_idx == 4
    assert not emb.weight.data[4].any() and emb.weight.data[:4].all()
    idx = np.array([[4, 1], [1, 4]])
    emb(idx)
    emb.backward(np.ones((2, 2, 3)))
    np.testing.assert_array_equal(emb.weight.grad[4], 0.0)
    np.testing.assert_array_equal(emb.weight.grad[1], 2.0)
    np.testing.assert_array_equal(emb.weight.grad[[0, 2, 3]], 0.0)


def test_embedding_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    emb = Embedding(4, 2, dtype=np.float64, seed=1)
    idx = np.array([[0, 3, 3], [1, 0, 3]], dtype=np.int32)
    r = rng.standard_normal((2, 3, 2))
    emb(idx)
    emb.backward(r)
    check_gradients(lambda: float(np.sum(emb(idx) * r)), {"weight": emb.weight.data},
                    {"weight": emb.weight.grad})


# Dropout --------------------------------------------------------------------------------
def test_dropout_train_eval_and_backward():
    x = np.ones((200, 50), dtype=np.float32)
    drop = Dropout(0.25, seed=0)
    y = drop(x)
    kept = y != 0
    assert y.dtype == np.float32
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert abs(kept.mean() - 0.75) < 0.02
    g = np.arange(x.size, dtype=np.float32).reshape(x.shape)
    np.testing.assert_array_equal(drop.backward(g), g * y)
    drop.eval()
    assert drop(x) is x and drop.backward(g) is g
    drop.train()
    assert not Dropout(1.0)(x).any()
    np.testing.assert_array_equal(Dropout(0.5, seed=3)(x), Dropout(0.5, seed=3)(x))


# LastStep -------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [LSTM, GRU])
@pytest.mark.parametrize("batch_first", [False, True])
def test_last_step_equals_final_state_of_bidirectional_layer(cls, batch_first):
    rng = np.random.default_rng(2)
    layer = cls(3, 4, bidirectional=True, batch_first=batch_first, dtype=np.float64, seed=0)
    lengths = np.array([5, 2, 4])
    x = rng.standard_normal((3, 5, 3) if batch_first else (5, 3, 3))
    out, state = layer(x, lengths=lengths)
    h_n = state[0] if isinstance(state, tuple) else state
    y = LastStep(batch_first=batch_first, num_directions=2)(out, lengths=lengths)
    np.testing.assert_allclose(y, np.concatenate([h_n[0], h_n[1]], axis=1), rtol=1e-12)
    uni = cls(3, 4, batch_first=batch_first, dtype=np.float64, seed=0)
    out, state = uni(x, lengths=lengths)
    h_n = state[0] if isinstance(state, tuple) else state
    np.testing.assert_allclose(LastStep(batch_first)(out, lengths), h_n[0], rtol=1e-12)


@pytest.mark.parametrize("shape,batch_first,dirs,lengths", [
    ((5, 3, 4), False, 1, [5, 1, 3]),
    ((3, 5, 4), True, 2, [2, 5, 4]),
    ((5, 6), False, 2, None),
])
def test_last_step_backward_is_the_adjoint(shape, batch_first, dirs, lengths):
    rng = np.random.default_rng(3)
    out = rng.standard_normal(shape)
    head = LastStep(batch_first=batch_first, num_directions=dirs)
    y = head(out, lengths=lengths)
    g = rng.standard_normal(y.shape)
    dout = head.backward(g)
    assert dout.shape == out.shape
    assert np.sum(y * g) == pytest.approx(np.sum(out * dout), rel=1e-12)
    assert np.count_nonzero(dout) == g.size


# Sequential -----------------------------------------------------------------------------
def _classifier(bidirectional: bool, batch_first: bool, dtype=np.float64):
    dirs = 2 if bidirectional else 1
    return Sequential(Embedding(6, 3, padding_idx=0, dtype=dtype, seed=0),
                      LSTM(3, 4, batch_first=batch_first, bidirectional=bidirectional,
                           dtype=dtype, seed=1),
                      LastStep(batch_first=batch_first, num_directions=dirs),
                      Linear(4 * dirs, 3, dtype=dtype, seed=2))


def test_sequential_names_like_torch_and_matches_manual_composition():
    model = _classifier(bidirectional=False, batch_first=False)
    assert [n for n, _ in model.named_parameters()] == [
        "0.weight", "1.weight_ih_l0", "1.weight_hh_l0", "1.bias_ih_l0", "1.bias_hh_l0",
        "3.weight", "3.bias"]
    assert len(model) == 4 and isinstance(model[2], LastStep)
    idx = np.array([[1, 2], [3, 0], [4, 0]])
    lengths = np.array([3, 1])
    out, _ = model[1](model[0](idx), lengths=lengths)
    manual = model[3](model[2](out, lengths=lengths))
    np.testing.assert_array_equal(model(idx, lengths=lengths), manual)


@pytest.mark.parametrize("bidirectional,batch_first", [(False, False), (True, True)])
def test_sequential_end_to_end_gradient_with_lengths(bidirectional, batch_first):
    rng = np.random.default_rng(4)
    model = _classifier(bidirectional, batch_first)
    T, B = 5, 3
    lengths = np.array([5, 2, 4])
    idx = rng.integers(1, 6, (T, B))
    idx[lengths[None, :] <= np.arange(T)[:, None]] = 0  # padding past each length
    if batch_first:
        idx = idx.T.copy()
    y = np.array([0, 2, 1])
    loss_fn = CrossEntropyLoss()

    def loss():
        return loss_fn(model(idx, lengths=lengths), y)

    loss()
    model.zero_grad()
    assert model.backward(loss_fn.backward()) is None
    params = dict(model.named_parameters())
    check_gradients(loss, {n: p.data for n, p in params.items()},
                    {n: p.grad for n, p in params.items()}, rtol=1e-5, atol=1e-9)
    assert not params["0.weight"].grad[0].any()
    assert np.abs(params["1.weight_hh_l0"].grad).sum() > 0


def test_sequential_takes_first_item_of_tuples_in_backward_and_passes_dx():
    rng = np.random.default_rng(5)
    model = Sequential(Linear(2, 3, dtype=np.float64, seed=0),
                       GRU(3, 2, dtype=np.float64, seed=1), LastStep())
    x = rng.standard_normal((4, 2, 2))
    r = rng.standard_normal((2, 2))
    model(x)
    dx = model.backward(r)
    check_gradients(lambda: float(np.sum(model(x) * r)), {"x": x}, {"x": dx})


@pytest.mark.parametrize("first", ["lstm", "linear"])
def test_sequential_without_input_gradient_keeps_every_parameter_gradient(first):
    """``backward(grad, input_grad=False)`` returns ``None`` and fills the same ``.grad`` as
    a full backward, whether the first module can skip dL/dx (a recurrent layer) or not."""
    rng = np.random.default_rng(6)
    head = [LastStep(), Linear(3, 2, dtype=np.float64, seed=2)]
    if first == "lstm":
        model = Sequential(LSTM(2, 3, num_layers=2, dtype=np.float64, seed=1), *head)
    else:
        model = Sequential(Linear(2, 4, dtype=np.float64, seed=0),
                           GRU(4, 3, dtype=np.float64, seed=1), *head)
    x = rng.standard_normal((5, 2, 2))
    r = rng.standard_normal((2, 2))
    grads = []
    for wanted in (True, False):
        model.zero_grad()
        model(x)
        dx = model.backward(r, input_grad=wanted)
        assert (dx is None) != wanted
        grads.append({n: p.grad.copy() for n, p in model.named_parameters()})
    for n, g in grads[0].items():
        assert np.any(g != 0), n
        np.testing.assert_array_equal(grads[1][n], g, err_msg=n)


# errors ---------------------------------------------------------------------------------
def test_bad_inputs():
    lin = Linear(3, 2)
    with pytest.raises(ValueError, match=r"x: expected shape \(\.\.\., 3\), got \(4, 2\)"):
        lin(np.zeros((4, 2), dtype=np.float32))
    with pytest.raises(TypeError, match="x: expected dtype float32, got float64"):
        lin(np.zeros((4, 3)))
    with pytest.raises(RuntimeError, match=r"Linear.backward\(\) called before forward"):
        Linear(3, 2).backward(np.zeros(2, dtype=np.float32))
    lin(np.zeros((4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"grad: expected shape \(4, 2\), got \(4, 3\)"):
        lin.backward(np.zeros((4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="in_features: expected an integer >= 1, got 0"):
        Linear(0, 2)
    emb = Embedding(4, 2)
    with pytest.raises(TypeError, match="indices: expected an integer array, got array"):
        emb(np.array([0.0, 1.0]))
    with pytest.raises(IndexError, match=r"indices: expected values in \[0, 4\), got 4"):
        emb(np.array([[0, 4]]))
    with pytest.raises(IndexError, match=r"expected values in \[0, 4\), got -1"):
        emb(np.array([-1, 2]))
    with pytest.raises(ValueError, match=r"padding_idx: expected None or an integer in \[-4, 4\)"):
        Embedding(4, 2, padding_idx=4)
    with pytest.raises(ValueError, match=r"p: expected a probability in \[0, 1\], got 1.5"):
        Dropout(1.5)
    with pytest.raises(ValueError, match="num_directions: expected 1 or 2, got 3"):
        LastStep(num_directions=3)
    with pytest.raises(ValueError, match=r"lengths: expected values in 1\.\.4"):
        LastStep()(np.zeros((4, 2, 3)), lengths=[4, 5])
    with pytest.raises(ValueError, match="divisible by num_directions = 2, got 3"):
        LastStep(num_directions=2)(np.zeros((4, 2, 3)))
    with pytest.raises(TypeError, match="Sequential: module 1: expected a Module, got int"):
        Sequential(Linear(2, 2), 3)
    bad = Sequential(Linear(2, 2, dtype=np.float64), Embedding(3, 2, dtype=np.float64))
    bad[0](np.zeros((2, 2)))
    bad[1](np.array([0, 1]))
    with pytest.raises(RuntimeError, match=r"module 1 \(Embedding\) returns no input gradient"):
        bad.backward(np.zeros((2, 2)))
