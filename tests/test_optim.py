"""Optimizers, schedules and gradient clipping: torch parity, checkpoint round trips, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from rnnlab.engine import optim
from rnnlab.engine.clip import clip_grad_norm_, clip_grad_value_
from rnnlab.engine.module import Parameter

GOLDEN = Path(__file__).resolve().parent / "golden_training"
TOL = {"float64": {"rtol": 1e-10, "atol": 1e-10}, "float32": {"rtol": 1e-5, "atol": 1e-5}}


def _golden(name):
    with np.load(GOLDEN / f"{name}.npz", allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    return json.loads(str(data.pop("config"))), data


OPT_CFG, OPT = _golden("optim")
SCHED_CFG, SCHED = _golden("schedules")
CLIP_CFG, CLIP = _golden("clip")


def _make(case, dtype):
    c = OPT_CFG[case]
    pre = f"{case}.{dtype}."
    params = [Parameter(OPT[pre + f"p{i}"].copy()) for i in range(2)]
    grads = [OPT[pre + f"g{i}"] for i in range(2)]
    return getattr(optim, c["optim"])(params, **c["kwargs"]), params, grads


def _run(opt, params, grads, steps):
    for s in steps:
        for p, g in zip(params, grads):
            p.grad[...] = g[s]
        opt.step()


# optimizers -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(OPT_CFG))
def test_optimizer_matches_torch_step_by_step(case, dtype):
    opt, params, grads = _make(case, dtype)
    pre = f"{case}.{dtype}."
    for s in range(OPT_CFG[case]["steps"]):
        _run(opt, params, grads, [s])
        for i, p in enumerate(params):
            assert p.data.dtype == np.dtype(dtype)
            np.testing.assert_allclose(p.data, OPT[pre + f"traj{i}"][s], **TOL[dtype],
                                       err_msg=f"parameter {i} after step {s + 1}")
    torch_buffers = {k[len(pre) + 6:]: v for k, v in OPT.items() if k.startswith(pre + "state.")}
    ours = opt.state_dict()["buffers"]
    assert set(ours) == set(torch_buffers)
    for key, buf in torch_buffers.items():
        np.testing.assert_allclose(ours[key], buf, **TOL[dtype], err_msg=key)


@pytest.mark.parametrize("case", sorted(OPT_CFG))
def test_state_dict_round_trip_through_json_and_safetensors(case, tmp_path):
    steps = OPT_CFG[case]["steps"]
    ref, ref_params, grads = _make(case, "float64")
    _run(ref, ref_params, grads, range(steps))

    first, params, _ = _make(case, "float64")
    _run(first, params, grads, range(5))
    state = first.state_dict()
    save_file(state.pop("buffers"), str(tmp_path / "buffers.safetensors"))
    (tmp_path / "meta.json").write_text(json.dumps(state))

    resumed_params = [Parameter(p.data.copy()) for p in params]
    kind = OPT_CFG[case]["optim"]
    resumed = getattr(optim, kind)(resumed_params, lr=0.5)  # hyperparameters come from disk
    loaded = json.loads((tmp_path / "meta.json").read_text())
    loaded["buffers"] = load_file(str(tmp_path / "buffers.safetensors"))
    resumed.load_state_dict(loaded)
    assert resumed.lr == OPT_CFG[case]["kwargs"]["lr"] and resumed.step_count == 5
    _run(resumed, resumed_params, grads, range(5, steps))
    for a, b in zip(resumed_params, ref_params):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_holds_plain_values_and_copies():
    p = Parameter(np.ones(3))
    opt = optim.Adam([p], lr=0.1, betas=(0.5, 0.6), amsgrad=True)
    p.grad[...] = 1.0
    opt.step()
    state = opt.state_dict()
    assert json.loads(json.dumps({k: v for k, v in state.items() if k != "buffers"})) == {
        "type": "Adam", "step": 1, "lr": 0.1,
        "hparams": {"betas": [0.5, 0.6], "eps": 1e-8, "weight_decay": 0.0, "amsgrad": True}}
    assert sorted(state["buffers"]) == ["0.exp_avg", "0.exp_avg_sq", "0.max_exp_avg_sq"]
    state["buffers"]["0.exp_avg"][...] = 99
    assert opt.state[0]["exp_avg"][0] == pytest.approx(0.5)


def test_load_state_dict_rejects_mismatch_and_changes_nothing():
    p = Parameter(np.zeros((2, 2)))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    good = opt.state_dict()
    with pytest.raises(ValueError, match="expected type 'SGD', got 'Adam'"):
        opt.load_state_dict({**good, "type": "Adam"})
    with pytest.raises(KeyError, match="missing"):
        opt.load_state_dict({"type": "SGD"})
    bad = {**good, "lr": 0.7, "buffers": {"0.momentum_buffer": np.zeros(3)}}
    with pytest.raises(ValueError, match=r"expected a float array of shape \(2, 2\)"):
        opt.load_state_dict(bad)
    with pytest.raises(KeyError, match="expected keys"):
        opt.load_state_dict({**good, "hparams": {**good["hparams"], "momentum": 0.0}})
    with pytest.raises(ValueError, match="dampening: expected a number"):
        opt.load_state_dict({**good, "hparams": {**good["hparams"], "dampening": -1.0}})
    assert opt.lr == 0.1 and opt.hparams == {"momentum": 0.9, "dampening": 0.0,
                                             "weight_decay": 0.0, "nesterov": False}
    with pytest.raises(ValueError, match=r"step'\]: expected an integer >= 0"):
        opt.load_state_dict({**good, "step": -1})


def test_zero_grad_and_param_groups_idiom():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(3, dtype=np.float32))
    opt = optim.SGD([a, b], lr=1.0)
    a.grad[...] = 2.0
    b.grad[...] = 3.0
    opt.param_groups[0]["lr"] = 0.5
    opt.step()
    np.testing.assert_array_equal(a.data, 0.0)
    np.testing.assert_array_equal(b.data, -0.5)
    opt.zero_grad()
    assert not a.grad.any() and not b.grad.any()


@pytest.mark.parametrize("make,match", [
    (lambda p: optim.SGD(p, lr=-1.0), r"lr: expected a number in \[0.0, inf\], got -1.0"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "nesterov: expected momentum > 0"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=float("nan")), "momentum: expected a number"),
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), r"betas\[1\]: expected a number in \[0.0, 1.0\)"),
    (lambda p: optim.Adam(p, betas=0.9), "betas: expected two numbers"),
    (lambda p: optim.AdamW(p, eps=-1e-8), "eps: expected a number"),
    (lambda p: optim.RMSprop(p, alpha=-0.1), "alpha: expected a number"),
    (lambda p: optim.RMSprop(p, lr="x"), "lr: expected a number in .*, got 'x'"),
])
def test_bad_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make([Parameter(np.zeros(2))])


def test_bad_params():
    with pytest.raises(ValueError, match="params: expected at least one Parameter"):
        optim.Adam([])
    with pytest.raises(TypeError, match=r"params\[1\]: expected a Parameter, got array of shape"):
        optim.Adam([Parameter(np.zeros(2)), np.zeros(2)])
    p = Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="distinct"):
        optim.SGD([p, p], lr=0.1)


# schedules ------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(SCHED_CFG))
def test_schedule_matches_torch(case):
    c = SCHED_CFG[case]
    opt = optim.SGD([Parameter(np.zeros(2))], lr=c["lr"])
    sched = getattr(optim, c["schedule"])(opt, **c["kwargs"])
    lrs = [sched.get_last_lr()[0]]
    for _ in range(c["steps"]):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
        assert opt.lr == lrs[-1]
    np.testing.assert_allclose(lrs, SCHED[f"{case}.lr"], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("make", [lambda o: optim.StepLR(o, 2, gamma=0.3),
                                  lambda o: optim.CosineAnnealingLR(o, T_max=4, eta_min=0.01)])
def test_schedule_state_dict_round_trip(make):
    def fresh():
        opt = optim.Adam([Parameter(np.zeros(1))], lr=0.2)
        return opt, make(opt)

    opt, sched = fresh()
    for _ in range(13):
        sched.step()
    reference = sched.get_last_lr()

    opt, sched = fresh()
    for _ in range(6):
        sched.step()
    saved = json.loads(json.dumps(sched.state_dict()))
    opt2, sched2 = fresh()
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(saved)
    assert opt2.lr == opt.lr and sched2.get_last_lr() == sched.get_last_lr()
    for _ in range(7):
        sched2.step()
    assert sched2.get_last_lr() == reference


def test_schedule_errors():
    opt = optim.SGD([Parameter(np.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="step_size: expected an integer >= 1, got 0"):
        optim.StepLR(opt, 0)
    with pytest.raises(ValueError, match=r"T_max: expected an integer >= 1, got 2\.5"):
        optim.CosineAnnealingLR(opt, 2.5)
    with pytest.raises(TypeError, match="optimizer: expected an Optimizer"):
        optim.StepLR([0.1], 3)
    sched = optim.StepLR(opt, 3)
    with pytest.raises(KeyError, match="expected keys"):
        sched.load_state_dict({"last_epoch": 2})


# clipping -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(CLIP_CFG))
def test_clip_grad_norm_matches_torch(case, dtype):
    pre = f"{case}.{dtype}."
    params = []
    for i in range(3):
        p = Parameter(np.zeros_like(CLIP[pre + f"g{i}"]))
        p.grad[...] = CLIP[pre + f"g{i}"]
        params.append(p)
    total = clip_grad_norm_(params, **CLIP_CFG[case])
    assert isinstance(total, float)
    np.testing.assert_allclose(total, CLIP[pre + "total"], **TOL[dtype])
    for i, p in enumerate(params):
        assert p.grad.dtype == np.dtype(dtype)
        np.testing.assert_allclose(p.grad, CLIP[pre + f"out{i}"], **TOL[dtype])


def test_clip_grad_norm_result_has_max_norm():
    rng = np.random.default_rng(0)
    params = [Parameter(np.zeros(s)) for s in [(4, 3), (7,)]]
    for p in params:
        p.grad[...] = rng.standard_normal(p.shape) * 10
    before = clip_grad_norm_(params, 2.0)
    after = math.sqrt(sum(float(np.sum(p.grad**2)) for p in params))
    assert before > 2.0 and after == pytest.approx(2.0, rel=1e-6)
    assert clip_grad_norm_(params, 5.0) == pytest.approx(after)
    assert clip_grad_norm_([], 1.0) == 0.0


def test_clip_grad_norm_nonfinite():
    p = Parameter(np.zeros(3))
    p.grad[...] = [1.0, np.inf, 0.0]
    with pytest.raises(RuntimeError, match=r"total norm of order 2\.0 is inf"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert p.grad[1] == np.inf  # nothing changed before the error
    assert clip_grad_norm_(p, 1.0) == math.inf


def test_clip_grad_value():
    p = Parameter(np.zeros(5, dtype=np.float32))
    p.grad[...] = [-3.0, -0.5, 0.0, 0.25, 9.0]
    grad = p.grad
    assert clip_grad_value_([p], 0.5) is None
    assert p.grad is grad
    np.testing.assert_array_equal(p.grad, np.array([-0.5, -0.5, 0.0, 0.25, 0.5], np.float32))


def test_clip_errors():
    p = Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="max_norm: expected a number >= 0, got -1"):
        clip_grad_norm_([p], -1)
    with pytest.raises(ValueError, match="norm_type: expected a number > 0 or 'inf', got 0"):
        clip_grad_norm_([p], 1.0, norm_type=0)
    with pytest.raises(TypeError, match=r"params\[0\]: expected a Parameter, got array of shape"):
        clip_grad_norm_([np.zeros(2)], 1.0)
    with pytest.raises(ValueError, match="clip_value: expected a number >= 0"):
        clip_grad_value_([p], float("nan"))
