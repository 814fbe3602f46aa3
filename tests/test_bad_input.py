"""Every bad input gets a clear error that names what was expected and what was given."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.engine.cell import ParamSpec
from rnnlab.engine.cells import GRUKernel, LSTMKernel
from rnnlab.engine.recurrent import GRU, LSTM, RNN, CellContractError, Recurrent
from rnnlab.engine.registry import get_cell
from rnnlab.engine.validate import all_finite

I, H, T, B = 3, 4, 5, 2


@pytest.fixture
def lstm():
    return LSTM(I, H, seed=0)


@pytest.fixture
def x(rng):
    return rng.standard_normal((T, B, I)).astype(np.float32)


# --- x ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("bad", "error", "message"), [
    ([[0.0] * I] * T, TypeError, r"x: expected a numpy array, got list"),
    (np.zeros((T, B, I)), TypeError, r"x: expected dtype float32, got float64"),
    (np.zeros((T, B, I), dtype=np.int64), TypeError, r"x: expected dtype float32, got int64"),
    (np.zeros((T, B, I), dtype=bool), TypeError, r"x: expected dtype float32, got bool"),
    (np.zeros(I, np.float32), ValueError, r"x: expected shape .* got \(3,\)"),
    (np.zeros((T, B, I, 1), np.float32), ValueError, r"x: expected shape .* got \(5, 2, 3, 1\)"),
    (np.zeros((T, B, I + 1), np.float32), ValueError,
     r"x: expected shape \(T, B, I\) with I = input_size = 3, got \(5, 2, 4\)"),
    (np.zeros((T, I + 2), np.float32), ValueError,
     r"x: expected shape \(T, I\) with I = input_size = 3, got \(5, 5\)"),
    (np.zeros((T, 0, I), np.float32), ValueError,
     r"x: expected at least one sequence, got an empty batch"),
    (np.zeros((0, B, I), np.float32), ValueError,
     r"x: expected at least one timestep, got a sequence of length 0"),
    (np.zeros((0, I), np.float32), ValueError,
     r"x: expected at least one timestep, got a sequence of length 0"),
], ids=["list", "float64", "int", "bool", "1d", "4d", "input_size", "unbatched_input_size",
        "empty_batch", "zero_length", "unbatched_zero_length"])
def test_bad_x(lstm, bad, error, message):
    with pytest.raises(error, match=message):
        lstm(bad)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_x(lstm, x, value):
    x[2, 1, 0] = value
    with pytest.raises(ValueError, match=r"x: expected finite values, got NaN or Inf"):
        lstm(x)


def test_batch_first_shape_message(x):
    layer = GRU(I, H, batch_first=True, seed=0)
    with pytest.raises(ValueError, match=r"expected shape \(B, T, I\) .* got \(2, 5, 2\)"):
        layer(np.zeros((B, T, 2), np.float32))
    with pytest.raises(ValueError, match=r"x: expected at least one timestep"):
        layer(np.zeros((B, 0, I), np.float32))


def test_float64_layer_refuses_float32(x):
    with pytest.raises(TypeError, match=r"x: expected dtype float64, got float32"):
        RNN(I, H, dtype=np.float64)(x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, ">f4"])
@pytest.mark.parametrize("layout", ["c", "fortran", "strided"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_all_finite_finds_one_bad_value_anywhere(dtype, layout, bad):
    base = np.arange(3 * 40 * 7, dtype=np.float64).reshape(3, 40, 7) / 7.0
    for where in [(0, 0, 0), (1, 17, 3), (2, 39, 6)]:
        a = base.astype(dtype)
        a[where] = bad
        a = {"c": a, "fortran": np.asfortranarray(a), "strided": a[:, :, ::3]}[layout]
        assert not all_finite(a)
        assert all_finite(np.where(np.isfinite(a), a, 0.0).astype(a.dtype))
    assert all_finite(np.zeros((0, 3), dtype))


# --- lengths ------------------------------------------------------------------------------

@pytest.mark.parametrize(("lengths", "error", "message"), [
    ([0, 3], ValueError, r"lengths: expected values in 1..5 \(the sequence length\), "
                         r"got lengths\[0\] = 0"),
    ([3, 6], ValueError, r"lengths: expected values in 1..5 .* got lengths\[1\] = 6"),
    ([-1, 2], ValueError, r"lengths: expected values in 1..5 .* got lengths\[0\] = -1"),
    ([3], ValueError, r"lengths: expected 2 lengths \(one per sequence\), got shape \(1,\)"),
    ([3, 3, 3], ValueError, r"lengths: expected 2 lengths .* got shape \(3,\)"),
    ([[3, 3]], ValueError, r"lengths: expected 2 lengths .* got shape \(1, 2\)"),
    ([2.5, 3], TypeError, r"lengths: expected integers, got float64"),
    ([np.nan, 3], TypeError, r"lengths: expected integers, got float64"),
    (["3", "2"], TypeError, r"lengths: expected integers, got <U1"),
    ([True, True], TypeError, r"lengths: expected integers, got bool"),
], ids=["zero", "too_long", "negative", "too_few", "too_many", "2d", "fraction", "nan",
        "strings", "bools"])
def test_bad_lengths(lstm, x, lengths, error, message):
    with pytest.raises(error, match=message):
        lstm(x, lengths=lengths)


def test_integral_float_lengths_are_accepted(lstm, x):
    out, _ = lstm(x, lengths=np.array([2.0, 5.0]))
    assert np.all(out[2:, 0] == 0) and np.any(out[4, 1] != 0)


def test_unbatched_lengths_take_one_value(lstm, x):
    with pytest.raises(ValueError, match=r"lengths: expected 1 lengths .* got shape \(2,\)"):
        lstm(x[:, 0], lengths=[2, 3])
    with pytest.raises(ValueError, match=r"expected values in 1..5 .* got lengths\[0\] = 7"):
        lstm(x[:, 0], lengths=7)


# --- hx -----------------------------------------------------------------------------------

def _zeros(*shape, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


@pytest.mark.parametrize(("hx", "error", "message"), [
    (_zeros(1, B, H), TypeError,
     r"hx: expected a tuple of 2 arrays \('h', 'c'\), got array of shape \(1, 2, 4\)"),
    ((_zeros(1, B, H),), TypeError, r"hx: expected a tuple of 2 arrays .* got tuple"),
    ((_zeros(1, B, H),) * 3, TypeError, r"hx: expected a tuple of 2 arrays .* got tuple"),
    ({"h": _zeros(1, B, H)}, TypeError, r"hx: expected a tuple of 2 arrays .* got dict"),
    ((_zeros(1, B, H), None), TypeError, r"hx \(c\): expected a numpy array, got NoneType"),
    ((_zeros(1, B, H + 1), _zeros(1, B, H)), ValueError,
     r"hx \(h\): expected shape \(1, 2, 4\), got \(1, 2, 5\)"),
    ((_zeros(1, B, H), _zeros(2, B, H)), ValueError,
     r"hx \(c\): expected shape \(1, 2, 4\), got \(2, 2, 4\)"),
    ((_zeros(B, H), _zeros(B, H)), ValueError,
     r"hx \(h\): expected shape \(1, 2, 4\), got \(2, 4\)"),
    ((_zeros(1, B, H, dtype=np.float64), _zeros(1, B, H)), TypeError,
     r"hx \(h\): expected dtype float32, got float64"),
    ((_zeros(1, B, H), np.full((1, B, H), np.nan, np.float32)), ValueError,
     r"hx \(c\): expected finite values, got NaN or Inf"),
], ids=["array_for_tuple", "one_item", "three_items", "dict", "none_item", "width",
        "layers", "missing_layer_axis", "dtype", "nan"])
def test_bad_lstm_hx(lstm, x, hx, error, message):
    with pytest.raises(error, match=message):
        lstm(x, hx)


def test_bad_single_state_hx(x):
    gru = GRU(I, H, num_layers=2, bidirectional=True, seed=0)
    with pytest.raises(TypeError, match=r"hx: expected an array, got tuple"):
        gru(x, (_zeros(4, B, H), _zeros(4, B, H)))
    with pytest.raises(ValueError, match=r"hx \(h\): expected shape \(4, 2, 4\), got \(2, 2, 4\)"):
        gru(x, _zeros(2, B, H))
    with pytest.raises(ValueError, match=r"hx \(h\): expected shape \(4, 4\), got \(4, 1, 4\)"):
        gru(x[:, 0], _zeros(4, 1, H))


def test_batch_first_hx_is_not_batch_first(rng):
    gru = GRU(I, H, num_layers=3, batch_first=True, seed=0)
    xb = rng.standard_normal((B, T, I)).astype(np.float32)
    with pytest.raises(ValueError, match=r"hx \(h\): expected shape \(3, 2, 4\), got \(2, 3, 4\)"):
        gru(xb, _zeros(B, 3, H))


def test_projected_lstm_hx_widths(x):
    lstm = LSTM(I, H, proj_size=2, seed=0)
    with pytest.raises(ValueError, match=r"hx \(h\): expected shape \(1, 2, 2\), got \(1, 2, 4\)"):
        lstm(x, (_zeros(1, B, H), _zeros(1, B, H)))
    lstm(x, (_zeros(1, B, 2), _zeros(1, B, H)))


# --- backward -----------------------------------------------------------------------------

def test_backward_before_forward(lstm):
    with pytest.raises(RuntimeError, match=r"backward\(\) called before forward\(\)"):
        lstm.backward(_zeros(T, B, H))


@pytest.mark.parametrize(("dout", "error", "message"), [
    (_zeros(T, B, H + 1), ValueError, r"dout: expected shape \(5, 2, 4\), got \(5, 2, 5\)"),
    (_zeros(B, T, H), ValueError, r"dout: expected shape \(5, 2, 4\), got \(2, 5, 4\)"),
    (_zeros(T, H), ValueError, r"dout: expected shape \(5, 2, 4\), got \(5, 4\)"),
    (_zeros(T, B, H, dtype=np.float64), TypeError, r"dout: expected dtype float32, got float64"),
    (np.full((T, B, H), np.inf, np.float32), ValueError,
     r"dout: expected finite values, got NaN or Inf"),
    (None, TypeError, r"dout: expected a numpy array, got NoneType"),
], ids=["width", "batch_first_layout", "unbatched", "dtype", "inf", "none"])
def test_bad_dout(lstm, x, dout, error, message):
    lstm(x)
    with pytest.raises(error, match=message):
        lstm.backward(dout)


@pytest.mark.parametrize(("dh_n", "error", "message"), [
    (_zeros(1, B, H), TypeError,
     r"dh_n: expected None or a tuple of 2 arrays \('h', 'c'\), got array of shape"),
    ((None,), TypeError, r"dh_n: expected None or a tuple of 2 arrays .* got tuple"),
    ((_zeros(1, B, H + 1), None), ValueError,
     r"dh_n \(h\): expected shape \(1, 2, 4\), got \(1, 2, 5\)"),
    ((None, _zeros(1, B, H, dtype=np.float64)), TypeError,
     r"dh_n \(c\): expected dtype float32, got float64"),
    ((None, np.full((1, B, H), np.nan, np.float32)), ValueError,
     r"dh_n \(c\): expected finite values"),
], ids=["array_for_tuple", "one_item", "width", "dtype", "nan"])
def test_bad_dh_n(lstm, x, dh_n, error, message):
    lstm(x)
    with pytest.raises(error, match=message):
        lstm.backward(_zeros(T, B, H), dh_n)


def test_backward_shapes_follow_the_last_forward(x):
    gru = GRU(I, H, batch_first=True, seed=0)
    gru(x.transpose(1, 0, 2))
    with pytest.raises(ValueError, match=r"dout: expected shape \(2, 5, 4\), got \(5, 2, 4\)"):
        gru.backward(_zeros(T, B, H))
    gru(x[:, 0].copy())
    with pytest.raises(ValueError, match=r"dout: expected shape \(5, 4\), got \(2, 5, 4\)"):
        gru.backward(_zeros(B, T, H))
    with pytest.raises(ValueError, match=r"dh_n \(h\): expected shape \(1, 4\), got \(1, 1, 4\)"):
        gru.backward(_zeros(T, H), _zeros(1, 1, H))


def test_trace_before_forward_and_out_of_range(lstm, x):
    with pytest.raises(RuntimeError, match=r"trace\(\) called before forward\(\)"):
        lstm.trace()
    lstm(x)
    with pytest.raises(IndexError, match=r"expected layer < 1 and direction < 1, got layer=1"):
        lstm.trace(1)
    with pytest.raises(IndexError, match=r"got layer=0, direction=1"):
        lstm.trace(0, 1)


# --- state dicts --------------------------------------------------------------------------

def _load_fails_and_changes_nothing(layer, state, error, message):
    before = layer.state_dict()
    with pytest.raises(error, match=message):
        layer.load_state_dict(state)
    after = layer.state_dict()
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)


def _changed(layer) -> dict:
    """A valid state dict whose every value differs from the layer's."""
    return {k: v + 1.0 for k, v in layer.state_dict().items()}


def test_state_dict_missing_key(lstm):
    state = _changed(lstm)
    del state["bias_hh_l0"]
    _load_fails_and_changes_nothing(lstm, state, KeyError,
                                    r"missing keys \['bias_hh_l0'\], unexpected keys \[\]")


def test_state_dict_extra_key(lstm):
    state = _changed(lstm)
    state["weight_hr_l0"] = np.zeros((2, H), np.float32)
    _load_fails_and_changes_nothing(lstm, state, KeyError,
                                    r"missing keys \[\], unexpected keys \['weight_hr_l0'\]")


def test_state_dict_wrong_shape_after_valid_keys(lstm):
    state = _changed(lstm)
    state["bias_hh_l0"] = np.zeros(4 * H + 1, np.float32)
    _load_fails_and_changes_nothing(
        lstm, state, ValueError, r"state_dict\['bias_hh_l0'\]: expected shape \(16,\), got \(17,\)")


@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
def test_state_dict_non_finite(lstm, value):
    state = _changed(lstm)
    state["weight_hh_l0"][3, 1] = value
    _load_fails_and_changes_nothing(
        lstm, state, ValueError,
        r"state_dict\['weight_hh_l0'\]: expected finite values, got NaN or Inf")


def test_state_dict_integer_values(lstm):
    state = _changed(lstm)
    state["bias_ih_l0"] = np.zeros(4 * H, np.int64)
    _load_fails_and_changes_nothing(
        lstm, state, TypeError, r"state_dict\['bias_ih_l0'\]: expected a float array, got int64")


def test_state_dict_of_another_architecture():
    gru2 = GRU(I, H, num_layers=2, bidirectional=True, seed=0)
    gru1 = GRU(I, H, seed=1)
    _load_fails_and_changes_nothing(gru1, gru2.state_dict(), KeyError,
                                    r"unexpected keys \['weight_ih_l0_reverse'")


# --- constructors -------------------------------------------------------------------------

@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda: LSTM(I, 0), ValueError, r"hidden_size: expected an integer >= 1, got 0"),
    (lambda: LSTM(I, 4.0), ValueError, r"hidden_size: expected an integer >= 1, got 4.0"),
    (lambda: GRU(I, True), ValueError, r"hidden_size: expected an integer >= 1, got True"),
    (lambda: LSTM(-1, H), ValueError, r"input_size: expected an integer >= 1, got -1"),
    (lambda: RNN(I, H, num_layers=0), ValueError, r"num_layers: expected an integer >= 1, got 0"),
    (lambda: LSTM(I, H, dropout=1.5), ValueError,
     r"dropout: expected a probability in \[0, 1\), got 1.5"),
    (lambda: LSTM(I, H, dropout=1.0), ValueError, r"dropout: expected .* got 1.0"),
    (lambda: GRU(I, H, dropout=-0.1), ValueError, r"dropout: expected .* got -0.1"),
    (lambda: GRU(I, H, dropout="0.5"), ValueError, r"dropout: expected .* got '0.5'"),
    (lambda: LSTM(I, H, proj_size=H), ValueError,
     r"proj_size: expected 0 <= proj_size < hidden_size=4, got 4"),
    (lambda: LSTM(I, H, proj_size=-1), ValueError,
     r"proj_size: expected 0 <= proj_size < hidden_size=4, got -1"),
    (lambda: LSTM(I, H, proj_size=1.5), ValueError, r"proj_size: expected an integer, got 1.5"),
    (lambda: RNN(I, H, nonlinearity="sigmoid"), ValueError,
     r"nonlinearity: expected 'tanh' or 'relu', got 'sigmoid'"),
    (lambda: Recurrent("no_such_cell", I, H), KeyError,
     r"unknown cell 'no_such_cell'; .*\bgru\b.*\blstm\b.*\brnn_tanh\b"),
    (lambda: Recurrent(42, I, H), TypeError,
     r"cell: expected a registered name or a Cell, got int"),
    (lambda: Recurrent("gru", I, H, proj_size=2), TypeError,
     r"cell 'gru': unknown option\(s\) \['proj_size'\]"),
    (lambda: Recurrent(LSTMKernel(), I, H, proj_size=2), TypeError,
     r"cell options must be given to the cell instance"),
    (lambda: LSTM(I, H, dtype=np.int32), TypeError,
     r"dtype: expected float32 or float64, got int32"),
    (lambda: LSTM(I, H, dtype=np.float16), TypeError,
     r"dtype: expected float32 or float64, got float16"),
    (lambda: GRU(I, H, dtype="complex"), TypeError,
     r"dtype: expected float32 or float64, got complex128"),
    (lambda: GRU(I, H, dtype=object()), TypeError,
     r"dtype: expected float32 or float64, got <object object"),
], ids=["hidden_0", "hidden_float", "hidden_bool", "input_negative", "layers_0",
        "dropout_1.5", "dropout_1", "dropout_negative", "dropout_str", "proj_eq_hidden",
        "proj_negative", "proj_float", "nonlinearity", "unknown_cell", "cell_int",
        "unknown_option", "options_with_instance", "dtype_int", "dtype_f16", "dtype_complex",
        "dtype_object"])
def test_bad_constructor_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_get_cell_unknown_name():
    with pytest.raises(KeyError, match=r"unknown cell 'LSTM'; .*\blstm\b"):
        get_cell("LSTM")


# --- cells that break their contract --------------------------------------------------------

class _ShortOutput(GRUKernel):
    name = "gru_short_output"

    def forward(self, params, x, lengths, state0, reverse):
        y, states, cache = super().forward(params, x, lengths, state0, reverse)
        return y[:-1], states, cache


class _WrongDtype(GRUKernel):
    name = "gru_wrong_dtype"

    def forward(self, params, x, lengths, state0, reverse):
        y, states, cache = super().forward(params, x, lengths, state0, reverse)
        return y.astype(np.float64), states, cache


class _MissingState(LSTMKernel):
    name = "lstm_missing_state"

    def forward(self, params, x, lengths, state0, reverse):
        y, states, cache = super().forward(params, x, lengths, state0, reverse)
        return y, states[:1], cache


class _BadInit(GRUKernel):
    name = "gru_bad_init"

    def param_specs(self, input_size, hidden_size, bias):
        return [ParamSpec("weight_ih", (3 * hidden_size, input_size), init="normal")]


class _TwoItems(GRUKernel):
    name = "gru_two_items"

    def forward(self, params, x, lengths, state0, reverse):
        return super().forward(params, x, lengths, state0, reverse)[:2]


@pytest.mark.parametrize(("cell", "message"), [
    (_TwoItems, r"cell 'gru_two_items' forward: expected a tuple \(y, final states, cache\), "
                r"got 2 items"),
    (_ShortOutput, r"cell 'gru_short_output' forward: expected output \(5, 2, 4\) float32, "
                   r"got array of shape \(4, 2, 4\)"),
    (_WrongDtype, r"cell 'gru_wrong_dtype' forward: expected output \(5, 2, 4\) float32, "
                  r"got array of shape \(5, 2, 4\) and dtype float64"),
    (_MissingState, r"cell 'lstm_missing_state' forward: expected 2 final states, got 1"),
], ids=["two_items", "short_output", "wrong_dtype", "missing_state"])
def test_cell_contract_errors(cell, message, x):
    with pytest.raises(CellContractError, match=message):
        Recurrent(cell, I, H, seed=0)(x)


def test_cell_with_unknown_init():
    with pytest.raises(CellContractError, match=r"parameter 'weight_ih' has init 'normal'; "
                                                r"expected 'uniform', 'zeros' or 'ones'"):
        Recurrent(_BadInit, I, H)


# --- cells called directly ------------------------------------------------------------------

def _direct_cell_args(rng, name):
    layer = Recurrent(name, I, H, dtype=np.float64, seed=0)
    params = {k[:-len("_l0")]: p.data for k, p in layer.named_parameters()}
    x = rng.standard_normal((T, B, I))
    state0 = tuple(np.zeros((B, s)) for s in layer.state_sizes)
    return layer.cell, params, x, np.full(B, T, dtype=np.int64), state0


@pytest.mark.parametrize("name", ["rnn_tanh", "lstm", "gru"])
def test_cell_forward_refuses_a_strided_x(rng, name):
    cell, params, x, lengths, state0 = _direct_cell_args(rng, name)
    with pytest.raises(ValueError, match=r"x: expected a C-contiguous array"):
        cell.forward(params, np.asfortranarray(x), lengths, state0, False)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", ["rnn_tanh", "lstm", "gru", "peephole_lstm",
                                  "layernorm_lstm", "indrnn"])
def test_cell_forward_refuses_lengths_beyond_the_sequence(rng, name, reverse):
    cell, params, x, _, state0 = _direct_cell_args(rng, name)
    with pytest.raises(ValueError, match=r"lengths: expected values in 1..5"):
        cell.forward(params, x, np.array([T + 3, T], np.int64), state0, reverse)


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_cell_forward_refuses_mixed_dtypes(rng, name):
    cell, params, x, lengths, state0 = _direct_cell_args(rng, name)
    msg = r"params\['weight_ih'\]: expected dtype float32, got float64"
    with pytest.raises(TypeError, match=msg):
        cell.forward(params, x.astype(np.float32), lengths, state0, False)


class _NarrowDx(GRUKernel):
    def backward(self, params, cache, dy, dstate_n, grads):
        dx, dst0, dh_sq = super().backward(params, cache, dy, dstate_n, grads)
        return dx[:, :, :1].astype(np.float64), dst0, dh_sq


class _NoStateGrad(GRUKernel):
    def backward(self, params, cache, dy, dstate_n, grads):
        dx, _, dh_sq = super().backward(params, cache, dy, dstate_n, grads)
        return dx, (), dh_sq


class _NoTuple(GRUKernel):
    def backward(self, params, cache, dy, dstate_n, grads):
        return dict(enumerate(super().backward(params, cache, dy, dstate_n, grads)))


@pytest.mark.parametrize("cell, message", [
    (_NoTuple, r"backward: expected a tuple \(dx, initial-state gradients, dh_sq\), got dict"),
    (_NarrowDx, r"backward: expected dx \(5, 2, 4\) float32, got array of shape \(5, 2, 1\)"),
    (_NoStateGrad, r"backward: expected initial-state gradients \[\(2, 4\)\]"),
])
def test_cell_backward_contract_is_checked(cell, message):
    layer = Recurrent(cell, 3, 4, num_layers=2, seed=0)
    out, _ = layer(np.ones((5, 2, 3), np.float32))
    with pytest.raises(CellContractError, match=message):
        layer.backward(np.ones_like(out))


def test_linear_and_embedding_keep_their_own_inputs():
    from rnnlab.engine.layers import Embedding, Linear

    lin = Linear(3, 2, seed=0)
    x = np.ones((4, 3), np.float32)
    lin(x)
    x[:] = 0
    lin.backward(np.ones((4, 2), np.float32))
    np.testing.assert_allclose(lin.weight.grad, 4.0)
    emb = Embedding(5, 2, seed=0)
    idx = np.array([1, 1, 2])
    emb(idx)
    idx[:] = 4
    emb.backward(np.ones((3, 2), np.float32))
    assert emb.weight.grad[1].sum() == 4.0 and emb.weight.grad[4].sum() == 0.0


@pytest.mark.parametrize("lengths, error, message", [
    (np.array([2**64 - 1, 1], np.uint64), ValueError, "got lengths\\[0\\] = 18446744073709551615"),
    (np.array([np.inf, 1.0]), TypeError, "expected integers, got float64 values such as"),
    (np.array([1e20, 1.0]), ValueError, r"got lengths\[0\] = 1e\+20"),
    (np.array([True, True]), TypeError, "expected integers, got bool"),
])
def test_lengths_are_reported_as_given(lengths, error, message):
    layer = LSTM(3, 4, seed=0)
    with pytest.raises(error, match=message):
        layer(np.ones((5, 2, 3), np.float32), lengths=lengths)


def test_numpy_scalars_and_none_in_constructors():
    assert LSTM(3, 4, dropout=np.float32(0.5)).dropout == 0.5
    with pytest.raises(TypeError, match="dtype: expected float32 or float64, got None"):
        LSTM(3, 4, dtype=None)
    with pytest.raises(TypeError, match="state_dict: expected a mapping"):
        LSTM(3, 4).load_state_dict(None)


@pytest.mark.parametrize("when", ["forward", "backward"])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_a_reassigned_parameter_is_checked_by_name(kind, when):
    """``.data`` may be given any array between calls: a wrong shape, dtype, layout or type
    fails before a kernel reads it, naming the parameter."""
    cls = {"rnn": RNN, "lstm": LSTM, "gru": GRU}[kind]
    x = np.zeros((5, 2, 3), np.float32)
    rows = {"rnn": 4, "lstm": 16, "gru": 12}[kind]
    bad = [(np.zeros((rows, 5), np.float32), ValueError, r"weight_hh_l0: expected shape"),
           (np.zeros((rows, 4), np.float64), TypeError, r"weight_hh_l0: expected dtype float32"),
           (np.zeros((4, rows), np.float32).T, ValueError, r"weight_hh_l0: expected a C-cont"),
           ([[0.0] * 4] * rows, TypeError, r"weight_hh_l0: expected a numpy array")]
    for value, error, message in bad:
        layer = cls(3, 4, seed=0)
        out, _ = layer(x)
        good = layer.weight_hh_l0.data
        layer.weight_hh_l0.data = value
        with pytest.raises(error, match=message):
            if when == "forward":
                layer(x)
            else:
                layer.backward(np.zeros_like(out))
        layer.weight_hh_l0.data = good.copy()  # a new, valid array is accepted again
        layer(x)
