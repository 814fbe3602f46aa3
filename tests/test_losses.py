"""Losses: torch parity (golden files), finite differences in float64, stability, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnlab.engine.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from rnnlab.testing import numeric_gradient

GOLDEN = Path(__file__).resolve().parent / "golden_training" / "losses.npz"
TOL = {"float64": {"rtol": 1e-10, "atol": 1e-10}, "float32": {"rtol": 1e-5, "atol": 1e-5}}
LOSSES = {"MSELoss": MSELoss, "BCEWithLogitsLoss": BCEWithLogitsLoss,
          "CrossEntropyLoss": CrossEntropyLoss}


def _golden():
    with np.load(GOLDEN, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    return json.loads(str(data.pop("config"))), data


CONFIG, DATA = _golden()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(CONFIG))
def test_matches_torch(case, dtype):
    c = CONFIG[case]
    pre = f"{case}.{dtype}."
    fn = LOSSES[c["loss"]](**c["kwargs"])
    value = fn(DATA[pre + "pred"], DATA[pre + "target"])
    grad = fn.backward()
    assert isinstance(value, float)
    assert grad.dtype == np.dtype(dtype) and grad.shape == DATA[pre + "pred"].shape
    np.testing.assert_allclose(value, DATA[pre + "value"], **TOL[dtype])
    np.testing.assert_allclose(grad, DATA[pre + "grad"], **TOL[dtype])


def _targets(kind, shape, rng):
    if kind == "class":
        t = rng.integers(0, shape[-1], shape[:-1])
        t.reshape(-1)[1::4] = -100
        return t
    if kind == "prob":
        return rng.uniform(0, 1, shape)
    return rng.standard_normal(shape)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("cls,kind,shape", [
    (MSELoss, "float", (3, 4)),
    (BCEWithLogitsLoss, "prob", (2, 3, 2)),
    (CrossEntropyLoss, "class", (5, 4)),
    (CrossEntropyLoss, "class", (3, 2, 4)),
])
def test_gradient_matches_finite_differences(cls, kind, shape, reduction):
    rng = np.random.default_rng(3)
    pred = rng.standard_normal(shape) * 2
    target = _targets(kind, shape, rng)
    fn = cls(reduction=reduction)
    fn(pred, target)
    analytic = fn.backward()
    numeric = numeric_gradient(lambda: cls(reduction=reduction)(pred, target), pred)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_cross_entropy_per_timestep_equals_flattened_rows():
    rng = np.random.default_rng(4)
    pred = rng.standard_normal((4, 3, 5))
    target = rng.integers(0, 5, (4, 3))
    fn = CrossEntropyLoss()
    value = fn(pred, target)
    grad = fn.backward()
    flat = CrossEntropyLoss()
    assert value == pytest.approx(flat(pred.reshape(12, 5), target.reshape(12)), rel=1e-12)
    np.testing.assert_allclose(grad.reshape(12, 5), flat.backward(), rtol=1e-12)


def test_cross_entropy_mean_counts_only_kept_targets():
    rng = np.random.default_rng(5)
    pred = rng.standard_normal((6, 3))
    target = np.array([0, -100, 2, -100, 1, 1])
    keep = target != -100
    mean = CrossEntropyLoss()(pred, target)
    total = CrossEntropyLoss(reduction="sum")(pred[keep], target[keep])
    assert mean == pytest.approx(total / keep.sum(), rel=1e-12)


def test_cross_entropy_all_ignored_is_zero_with_zero_gradient():
    fn = CrossEntropyLoss(ignore_index=-1)
    assert fn(np.ones((3, 4)), np.full(3, -1)) == 0.0
    assert not fn.backward().any()


def test_stable_for_huge_logits():
    ce = CrossEntropyLoss()
    value = ce(np.array([[1e4, 0.0, -1e4]], dtype=np.float32), np.array([1]))
    assert value == pytest.approx(1e4)
    np.testing.assert_allclose(ce.backward(), [[1.0, -1.0, 0.0]], atol=1e-6)
    bce = BCEWithLogitsLoss(reduction="sum")
    x = np.array([1000.0, -1000.0, 1000.0], dtype=np.float32)
    value = bce(x, np.array([0.0, 1.0, 1.0], dtype=np.float32))
    assert value == pytest.approx(2000.0)
    np.testing.assert_allclose(bce.backward(), [1.0, -1.0, 0.0], atol=1e-6)


def test_float32_target_cast_and_backward_is_a_copy():
    fn = MSELoss()
    pred = np.zeros(4, dtype=np.float32)
    fn(pred, np.ones(4))
    g = fn.backward()
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, -0.5)
    g[:] = 7
    np.testing.assert_allclose(fn.backward(), -0.5)


@pytest.mark.parametrize("make,pred,target,exc,match", [
    (MSELoss, np.zeros((2, 3)), np.zeros((3, 2)), ValueError, r"target: expected shape \(2, 3\)"),
    (MSELoss, np.zeros(3, dtype=np.int64), np.zeros(3), TypeError, "pred: expected a float32"),
    (MSELoss, [0.0, 1.0], np.zeros(2), TypeError, "pred: expected a numpy array, got list"),
    (MSELoss, np.array([0.0, np.nan]), np.zeros(2), ValueError, "pred: expected finite"),
    (MSELoss, np.zeros(2), np.array([0.0, np.inf]), ValueError, "target: expected finite"),
    (MSELoss, np.zeros((0, 2)), np.zeros((0, 2)), ValueError, "at least one element"),
    (BCEWithLogitsLoss, np.zeros(3), np.zeros(3, dtype=np.int64), TypeError,
     "target: expected a float array, got int64"),
    (CrossEntropyLoss, np.zeros((4, 3)), np.zeros(4), TypeError,
     "target: expected an integer array"),
    (CrossEntropyLoss, np.zeros((4, 3)), np.zeros((4, 1), dtype=np.int64), ValueError,
     r"target: expected shape \(4,\)"),
    (CrossEntropyLoss, np.zeros((4, 3)), np.array([0, 1, 3, 0]), IndexError,
     r"class indices in \[0, 3\) or ignore_index -100, got 3"),
    (CrossEntropyLoss, np.zeros((2, 3)), np.array([-1, 0]), IndexError, "got -1"),
])
def test_bad_input_errors(make, pred, target, exc, match):
    with pytest.raises(exc, match=match):
        make()(pred, target)


def test_bad_arguments_and_order():
    with pytest.raises(ValueError, match="reduction: expected 'mean' or 'sum', got 'none'"):
        MSELoss(reduction="none")
    with pytest.raises(TypeError, match="ignore_index: expected an integer"):
        CrossEntropyLoss(ignore_index=1.5)
    with pytest.raises(RuntimeError, match=r"backward\(\) called before"):
        BCEWithLogitsLoss().backward()
