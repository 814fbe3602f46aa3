"""The layers behave like ``torch.nn.RNN/LSTM/GRU``: shapes, names, gradient accumulation,
dropout, seeding and the contents of ``trace()``."""

from __future__ import annotations

import naive
import numpy as np
import pytest

from rnnlab.engine.cells import GRUKernel
from rnnlab.engine.recurrent import GRU, LSTM, RNN, Recurrent

F64 = np.float64


def make(kind: str, I=3, H=4, **kwargs):
    if kind == "rnn_tanh":
        return RNN(I, H, **kwargs)
    if kind == "rnn_relu":
        return RNN(I, H, nonlinearity="relu", **kwargs)
    if kind == "lstm":
        return LSTM(I, H, **kwargs)
    if kind == "lstm_proj":
        return LSTM(I, H, proj_size=2, **kwargs)
    return GRU(I, H, **kwargs)


def as_tuple(states):
    return states if isinstance(states, tuple) else (states,)


KINDS = list(naive.CASES)


# shapes -------------------------------------------------------------------------------------
@pytest.mark.parametrize("bi", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("layout", ["time_major", "batch_first", "unbatched"])
@pytest.mark.parametrize("kind", KINDS)
def test_shapes_follow_torch(kind, layout, bi, rng):
    T, B, I, H, L = 5, 2, 3, 4, 2
    layer = make(kind, I, H, num_layers=L, bidirectional=bi,
                 batch_first=layout == "batch_first", seed=0)
    D = 2 if bi else 1
    P = 2 if kind == "lstm_proj" else H
    lead = {"time_major": (T, B), "batch_first": (B, T), "unbatched": (T,)}[layout]
    x = rng.standard_normal((*lead, I)).astype(np.float32)

    out, h_n = layer(x)

    assert out.shape == (*lead, D * P) and out.dtype == np.float32
    state_lead = (L * D,) if layout == "unbatched" else (L * D, B)
    widths = (P, H) if kind.startswith("lstm") else (H,)
    assert isinstance(h_n, tuple) == kind.startswith("lstm")
    assert [s.shape for s in as_tuple(h_n)] == [(*state_lead, w) for w in widths]

    dx, dh0 = layer.backward(np.ones_like(out))
    assert dx.shape == x.shape and dx.dtype == np.float32
    assert [s.shape for s in as_tuple(dh0)] == [(*state_lead, w) for w in widths]


@pytest.mark.parametrize("kind", KINDS)
def test_unbatched_and_batch_first_agree_with_time_major(kind, rng):
    T, I, L = 4, 3, 2
    tm = make(kind, num_layers=L, bidirectional=True, dtype=F64, seed=1)
    bf = make(kind, num_layers=L, bidirectional=True, dtype=F64, seed=1, batch_first=True)
    x = rng.standard_normal((T, 2, I))
    hx = tuple(rng.standard_normal(s.shape) for s in as_tuple(tm(x)[1]))
    dout = rng.standard_normal(tm(x)[0].shape)
    pack = (lambda s: s) if len(hx) > 1 else (lambda s: s[0])

    out, h_n = tm(x, pack(hx))
    dx, dh0 = tm.backward(dout, pack(hx))
    out_bf, h_n_bf = bf(np.ascontiguousarray(x.transpose(1, 0, 2)), pack(hx))
    dx_bf, dh0_bf = bf.backward(np.ascontiguousarray(dout.transpose(1, 0, 2)), pack(hx))
    np.testing.assert_allclose(out_bf, out.transpose(1, 0, 2), rtol=0, atol=1e-14)
    np.testing.assert_allclose(dx_bf, dx.transpose(1, 0, 2), rtol=0, atol=1e-14)
    for a, b in zip(as_tuple(h_n) + as_tuple(dh0), as_tuple(h_n_bf) + as_tuple(dh0_bf)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)

    one = make(kind, num_layers=L, bidirectional=True, dtype=F64, seed=1)
    out_u, h_n_u = one(x[:, 1], pack(tuple(h[:, 1] for h in hx)))
    dx_u, dh0_u = one.backward(dout[:, 1], pack(tuple(h[:, 1] for h in hx)))
    np.testing.assert_allclose(out_u, out[:, 1], rtol=0, atol=1e-14)
    np.testing.assert_allclose(dx_u, dx[:, 1], rtol=0, atol=1e-14)
    for a, b in zip(as_tuple(h_n) + as_tuple(dh0), as_tuple(h_n_u) + as_tuple(dh0_u)):
        np.testing.assert_allclose(a[:, 1], b, rtol=0, atol=1e-14)


def test_missing_states_mean_zeros(rng):
    layer = LSTM(3, 4, num_layers=2, dtype=F64, seed=0)
    x = rng.standard_normal((3, 2, 3))
    zeros = (np.zeros((2, 2, 4)), np.zeros((2, 2, 4)))
    out, (h, c) = layer(x)
    out0, (h0, c0) = layer(x, zeros)
    assert np.array_equal(out, out0) and np.array_equal(h, h0) and np.array_equal(c, c0)
    dout = rng.standard_normal(out.shape)
    dx_none = layer.backward(dout)[0]
    dx_half = layer.backward(dout, (None, np.zeros((2, 2, 4))))[0]
    dx_zero = layer.backward(dout, zeros)[0]
    assert np.array_equal(dx_none, dx_zero) and np.array_equal(dx_half, dx_zero)


# names --------------------------------------------------------------------------------------
def torch_names(layers: int, bidirectional: bool, bias: bool, proj: bool) -> list[str]:
    """torch's rule: per layer, per direction: weight_ih, weight_hh, bias_ih, bias_hh,
    weight_hr, suffixed ``_l{layer}`` and ``_reverse``."""
    names = []
    for k in range(layers):
        for suffix in ("", "_reverse")[:2 if bidirectional else 1]:
            base = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
            base += ["weight_hr"] if proj else []
            names += [f"{b}_l{k}{suffix}" for b in base]
    return names


def test_lstm_proj_names_shapes_and_order_equal_torch():
    layer = LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, seed=0)
    want = [
        ("weight_ih_l0", (20, 3)), ("weight_hh_l0", (20, 2)), ("bias_ih_l0", (20,)),
        ("bias_hh_l0", (20,)), ("weight_hr_l0", (2, 5)),
        ("weight_ih_l0_reverse", (20, 3)), ("weight_hh_l0_reverse", (20, 2)),
        ("bias_ih_l0_reverse", (20,)), ("bias_hh_l0_reverse", (20,)),
        ("weight_hr_l0_reverse", (2, 5)),
        ("weight_ih_l1", (20, 4)), ("weight_hh_l1", (20, 2)), ("bias_ih_l1", (20,)),
        ("bias_hh_l1", (20,)), ("weight_hr_l1", (2, 5)),
        ("weight_ih_l1_reverse", (20, 4)), ("weight_hh_l1_reverse", (20, 2)),
        ("bias_ih_l1_reverse", (20,)), ("bias_hh_l1_reverse", (20,)),
        ("weight_hr_l1_reverse", (2, 5)),
    ]
    assert [(n, p.shape) for n, p in layer.named_parameters()] == want
    assert list(layer.state_dict()) == [n for n, _ in want]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("bi", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", KINDS)
def test_parameter_names_and_shapes_follow_the_rule(kind, bi, bias):
    I, H, L = 3, 4, 3
    layer = make(kind, I, H, num_layers=L, bidirectional=bi, bias=bias, seed=0)
    proj = kind == "lstm_proj"
    assert [n for n, _ in layer.named_parameters()] == torch_names(L, bi, bias, proj)
    G = {"lstm": 4, "lstm_proj": 4, "gru": 3}.get(kind, 1)
    P = 2 if proj else H
    D = 2 if bi else 1
    bound = 1 / np.sqrt(H)
    for name, p in layer.named_parameters():
        base, k = name.split("_l")[0], int(name.split("_l")[1][0])
        want = {"weight_ih": (G * H, I if k == 0 else D * P), "weight_hh": (G * H, P),
                "bias_ih": (G * H,), "bias_hh": (G * H,), "weight_hr": (P, H)}[base]
        assert p.shape == want, name
        assert p.data.dtype == np.float32 and p.grad.shape == want
        assert np.all(np.abs(p.data) <= bound) and np.ptp(p.data) > 0, name


# gradients ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_gradients_accumulate_and_zero_grad_clears(kind, rng):
    layer = make(kind, num_layers=2, bidirectional=True, dtype=F64, seed=2)
    x = rng.standard_normal((4, 2, 3))
    out, _ = layer(x)
    dout = rng.standard_normal(out.shape)
    layer.backward(dout)
    first = {n: p.grad.copy() for n, p in layer.named_parameters()}
    assert all(np.any(g != 0) for g in first.values())
    layer(x)
    layer.backward(dout)
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * first[name], rtol=1e-13, atol=0, err_msg=name)
    layer.zero_grad()
    assert all(np.all(p.grad == 0) for p in layer.parameters())


@pytest.mark.parametrize("cell", ["lstm", "gru", "peephole_lstm"])
@pytest.mark.parametrize("layout", ["time_major", "batch_first", "unbatched"])
def test_backward_without_input_gradient(cell, layout, rng):
    """``input_grad=False`` gives ``dx = None`` and the same state and parameter gradients,
    in every layout, for built-in cells and for a plugin cell (whose ``dx`` is dropped)."""
    layer = Recurrent(cell, 3, 4, batch_first=layout == "batch_first", dtype=F64, seed=2)
    shape = {"time_major": (5, 2, 3), "batch_first": (2, 5, 3), "unbatched": (5, 3)}[layout]
    x = rng.standard_normal(shape)
    out, _ = layer(x)
    dout = rng.standard_normal(out.shape)
    results = []
    for wanted in (True, False):
        layer.zero_grad()
        layer(x)
        dx, dstates = layer.backward(dout, input_grad=wanted)
        results.append((dx, as_tuple(dstates), [p.grad.copy() for p in layer.parameters()]))
    (dx, dstates, grads), (no_dx, no_dstates, no_grads) = results
    assert dx.shape == x.shape and no_dx is None
    for a, b in zip(dstates, no_dstates, strict=True):
        np.testing.assert_array_equal(b, a)
    for a, b in zip(grads, no_grads, strict=True):
        np.testing.assert_array_equal(b, a)


def test_state_dict_round_trip_and_copies(rng):
    a = GRU(3, 4, num_layers=2, bidirectional=True, dtype=F64, seed=0)
    b = GRU(3, 4, num_layers=2, bidirectional=True, dtype=F64, seed=1)
    x = rng.standard_normal((5, 2, 3))
    assert not np.allclose(a(x)[0], b(x)[0])
    state = a.state_dict()
    state["weight_hh_l0"][0, 0] += 1.0  # a copy: the layer is untouched
    assert a.weight_hh_l0.data[0, 0] != state["weight_hh_l0"][0, 0]
    b.load_state_dict(a.state_dict())
    assert np.array_equal(a(x)[0], b(x)[0])


def test_cell_by_name_class_or_instance_is_the_same_layer(rng):
    x = rng.standard_normal((4, 2, 3))
    outs = [Recurrent(c, 3, 4, dtype=F64, seed=5)(x)[0] for c in ("gru", GRUKernel, GRUKernel())]
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])
    assert np.array_equal(outs[0], GRU(3, 4, dtype=F64, seed=5)(x)[0])


# dropout ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_dropout_only_in_training_mode(kind, rng):
    x = rng.standard_normal((5, 3, 3))
    layer = make(kind, num_layers=3, dropout=0.5, dtype=F64, seed=0)
    plain = make(kind, num_layers=3, dtype=F64, seed=0)
    assert layer.training and layer.eval() is layer and not layer.training
    e1, e2 = layer(x)[0], layer(x)[0]
    assert np.array_equal(e1, e2) and np.array_equal(e1, plain(x)[0])
    assert layer.train() is layer and layer.training
    t1, t2 = layer(x)[0], layer(x)[0]
    assert not np.allclose(t1, e1) and not np.allclose(t1, t2)
    one = make(kind, num_layers=1, dropout=0.5, dtype=F64, seed=0)  # no layer after the last
    assert np.array_equal(one(x)[0], make(kind, dtype=F64, seed=0)(x)[0])


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_backward_matches_finite_differences_with_a_fixed_mask(kind, rng):
    """A fresh layer from the same seed draws the same mask on its first forward."""
    def fresh():
        return make(kind, 2, 3, num_layers=3, dropout=0.4, bidirectional=True, dtype=F64,
                    seed=11)

    x = rng.standard_normal((3, 2, 2))
    layer = fresh()
    out, _ = layer(x)
    weight = rng.standard_normal(out.shape)
    dx, _ = layer.backward(weight)
    dw = layer.weight_ih_l0.grad.copy()
    assert not np.allclose(out, fresh().eval()(x)[0])  # the mask really applies

    def loss(x_, state):
        m = fresh()
        m.load_state_dict(state)
        return float(np.sum(m(x_)[0] * weight))

    eps = 1e-6
    state = layer.state_dict()
    num_dx = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = eps
        num_dx[idx] = (loss(x + e, state) - loss(x - e, state)) / (2 * eps)
    num_dw = np.zeros_like(dw)
    for idx in np.ndindex(dw.shape):
        up, down = layer.state_dict(), layer.state_dict()
        up["weight_ih_l0"][idx] += eps
        down["weight_ih_l0"][idx] -= eps
        num_dw[idx] = (loss(x, up) - loss(x, down)) / (2 * eps)
    np.testing.assert_allclose(dx, num_dx, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dw, num_dw, rtol=1e-6, atol=1e-8)


# seeding ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_seed_reproduces_parameters_and_masks(kind, rng):
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    a = make(kind, num_layers=2, dropout=0.3, seed=42)
    b = make(kind, num_layers=2, dropout=0.3, seed=42)
    c = make(kind, num_layers=2, dropout=0.3, seed=43)
    for (na, pa), (nb, pb), (_, pc) in zip(a.named_parameters(), b.named_parameters(),
                                           c.named_parameters()):
        assert na == nb and np.array_equal(pa.data, pb.data) and not np.array_equal(pa.data,
                                                                                    pc.data)
    assert np.array_equal(a(x)[0], b(x)[0]) and np.array_equal(a(x)[0], b(x)[0])
    u, v = make(kind), make(kind)
    assert not np.array_equal(u.weight_ih_l0.data, v.weight_ih_l0.data)


# trace --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_trace_contents(kind, rng):
    lengths = np.array([5, 2, 3])
    layer = make(kind, num_layers=2, bidirectional=True, dtype=F64, seed=3)
    with pytest.raises(RuntimeError, match="forward"):
        layer.trace()
    x = rng.standard_normal((5, 3, 3))
    out, _ = layer(x, lengths=lengths)
    valid = np.arange(5)[:, None] < lengths[None, :]
    H, P = 4, layer.output_size
    for k in range(2):
        for d in range(2):
            tr = layer.trace(k, d)
            assert "grad_h_norm" not in tr
            if k == 1:
                assert np.array_equal(tr["h"], out[:, :, d * P:(d + 1) * P])
            assert tr["h"].shape == (5, 3, P)
            assert np.all(tr["h"][~valid] == 0) and np.any(tr["h"][valid] != 0)
            if kind.startswith("lstm"):
                assert set(tr) == {"h", "c", "gates"}
                gates = tr["gates"]
                assert gates.shape == (5, 3, 4, H) and tr["c"].shape == (5, 3, H)
                sig, tanh = gates[:, :, [0, 1, 3]], gates[:, :, 2]
                assert np.all(tr["c"][~valid] == 0)
            elif kind == "gru":
                assert set(tr) == {"h", "gates"}
                gates = tr["gates"]
                assert gates.shape == (5, 3, 3, H)
                sig, tanh = gates[:, :, :2], gates[:, :, 2]
            else:
                assert set(tr) == {"h"}
                continue
            assert np.all((sig[valid] > 0) & (sig[valid] < 1))
            assert np.all((tanh[valid] > -1) & (tanh[valid] < 1))
            assert np.all(gates[~valid] == 0) and np.all(sig[valid] != 0)
    layer.backward(np.ones_like(out))
    for k in range(2):
        for d in range(2):
            g = layer.trace(k, d)["grad_h_norm"]
            assert g.shape == (5, 3) and np.all(g[~valid] == 0) and np.all(g[valid] > 0)
    with pytest.raises(IndexError, match="layer < 2 and direction < 2"):
        layer.trace(2, 0)
    with pytest.raises(IndexError, match="direction < 2"):
        layer.trace(0, 2)


def test_trace_of_the_top_layer_is_the_output(rng):
    layer = LSTM(3, 4, proj_size=3, bidirectional=True, dtype=F64, seed=0)
    out, _ = layer(rng.standard_normal((4, 2, 3)))
    assert np.array_equal(layer.trace(0, 0)["h"], out[:, :, :3])
    assert np.array_equal(layer.trace(0, 1)["h"], out[:, :, 3:])


# aliasing -----------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["time_major", "batch_first", "unbatched"])
@pytest.mark.parametrize("kind", KINDS)
def test_in_place_changes_after_forward_leave_backward_alone(kind, layout, rng):
    """Changing ``x``, ``hx`` or the returned arrays in place between forward and backward
    must not change the gradients or the trace (the layer keeps its own copies)."""
    lead = {"time_major": (4, 2), "batch_first": (2, 4), "unbatched": (4,)}[layout]
    state_lead = (1,) if layout == "unbatched" else (1, 2)

    def run(mutate: bool):
        layer = make(kind, batch_first=layout == "batch_first", dtype=F64, seed=4)
        x = np.random.default_rng(0).standard_normal((*lead, 3))
        hx = tuple(0.5 * np.ones((*state_lead, w)) for w in layer.state_sizes)
        out, h_n = layer(x, hx if len(hx) > 1 else hx[0])
        trace = {k: v.copy() for k, v in layer.trace().items()}
        dout = np.random.default_rng(1).standard_normal(out.shape)
        if mutate:
            for a in (x, out, *hx, *as_tuple(h_n)):
                a += 1.0
        dx, dh0 = layer.backward(dout)
        grads = [dx, *as_tuple(dh0)] + [p.grad for p in layer.parameters()]
        return grads, trace, layer.trace()

    clean, trace, _ = run(False)
    mutated, _, trace_after = run(True)
    for a, b in zip(clean, mutated):
        np.testing.assert_array_equal(a, b)
    for key, value in trace.items():
        np.testing.assert_array_equal(trace_after[key], value, err_msg=key)


def test_forward_and_backward_leave_their_arguments_unchanged(rng):
    layer = LSTM(3, 4, num_layers=2, bidirectional=True, dtype=F64, seed=0)
    x = rng.standard_normal((4, 2, 3))
    hx = (rng.standard_normal((4, 2, 4)), rng.standard_normal((4, 2, 4)))
    dout = rng.standard_normal((4, 2, 8))
    dh_n = (rng.standard_normal((4, 2, 4)), rng.standard_normal((4, 2, 4)))
    copies = [a.copy() for a in (x, *hx, dout, *dh_n)]
    layer(x, hx, lengths=[4, 2])
    layer.backward(dout, dh_n)
    for a, b in zip((x, *hx, dout, *dh_n), copies):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", [dict(), dict(num_layers=2), dict(bidirectional=True)],
                         ids=["one", "two_layers", "bi"])
@pytest.mark.parametrize("kind", KINDS)
def test_calls_of_one_shape_do_not_leak_into_each_other(kind, shape, rng):
    """Without ``hx`` or ``lengths`` the layer reuses its full lengths and zero states for
    the next call of the same shape: whatever the caller does to the returned arrays, a
    second call returns what a fresh layer does."""
    x = rng.standard_normal((5, 1, 3))
    dout = rng.standard_normal((5, 1, 4 * (2 if shape.get("bidirectional") else 1)))
    if kind == "lstm_proj":
        dout = dout[..., : dout.shape[-1] // 2]

    def step(layer):
        out, h_n = layer(x)
        dx, dh0 = layer.backward(dout)
        return [out, *as_tuple(h_n), dx, *as_tuple(dh0)]

    used = make(kind, dtype=F64, seed=3, **shape)
    for a in step(used):
        a += 7.0
    used.zero_grad()
    again = step(used)
    fresh = step(make(kind, dtype=F64, seed=3, **shape))
    for a, b in zip(again, fresh):
        np.testing.assert_array_equal(a, b)


def test_a_cell_writing_into_its_inputs_does_not_change_the_next_call(rng):
    """A plugin cell that writes into the state and lengths it is given still gets zeros
    and full lengths on the next call (only the built-in cells, which only read them, share
    them between calls)."""

    class Scribbler(GRUKernel):
        name = "scribbler"

        def forward(self, params, x, lengths, state0, reverse):
            result = super().forward(params, x, lengths, state0, reverse)
            state0[0][...] = 5.0
            lengths[...] = 1
            return result

    layer = Recurrent(Scribbler(), 3, 4, dtype=F64, seed=1)
    reference = GRU(3, 4, dtype=F64, seed=1)
    x = rng.standard_normal((5, 2, 3))
    for _ in range(2):
        out, h_n = layer(x)
        want, want_h = reference(x)
        np.testing.assert_array_equal(out, want)
        np.testing.assert_array_equal(h_n, want_h)
