"""Parity with real PyTorch: forward and backward against golden files from ``make_golden.py``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import rnnlab
from rnnlab.engine.recurrent import GRU, LSTM, RNN

GOLDEN = Path(__file__).resolve().parent / "golden"
FILES = sorted(GOLDEN.glob("*.npz"))
IDS = [p.stem for p in FILES]
TOL = {"float64": {"rtol": 1e-9, "atol": 1e-12}, "float32": {"rtol": 2e-4, "atol": 1e-5}}
LAYERS = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}
CELLS = ("RNNCell", "LSTMCell", "GRUCell")


def load(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    return json.loads(arrays.pop("config").item()), arrays


def build(cfg: dict, seed: int = 0):
    """A fresh rnnlab module with the case's torch constructor arguments."""
    kind = cfg["module"]
    if kind in LAYERS:
        cls = LAYERS[kind]
    else:
        cls = getattr(rnnlab, kind, None)
        if cls is None:
            pytest.skip(f"rnnlab.{kind} does not exist")
    return cls(**cfg["kwargs"], dtype=np.dtype(cfg["dtype"]), seed=seed)


def state_dict(cfg: dict, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {n: arrays[f"param.{n}"] for n in cfg["param_names"]}


def check(name: str, got, want: np.ndarray, cfg: dict) -> None:
    assert isinstance(got, np.ndarray), f"{name}: expected an array, got {type(got).__name__}"
    assert got.shape == want.shape, f"{name}: expected shape {want.shape}, got {got.shape}"
    assert got.dtype == want.dtype, f"{name}: expected dtype {want.dtype}, got {got.dtype}"
    np.testing.assert_allclose(got, want, **TOL[cfg["dtype"]], err_msg=f"{cfg['name']}: {name}")


def run_layer(module, cfg, a):
    """Forward and backward through a sequence layer; returns name -> array."""
    lstm = cfg["module"] == "LSTM"
    hx = (a["h0"], a["c0"]) if lstm else a["h0"]
    out, hn = module(a["x"], hx, lengths=a.get("lengths"))
    dx, dhx = module.backward(a["dout"], (a["dh_n"], a["dc_n"]) if lstm else a["dh_n"])
    if lstm:
        return {"out": out, "h_n": hn[0], "c_n": hn[1], "dx": dx, "dh0": dhx[0], "dc0": dhx[1]}
    return {"out": out, "h_n": hn, "dx": dx, "dh0": dhx}


def run_cell(module, cfg, a):
    """One step forward and backward through a single-step cell; returns name -> array."""
    if cfg["module"] == "LSTMCell":
        h1, c1 = module(a["x"], (a["h0"], a["c0"]))
        dx, (dh0, dc0) = module.backward(a["dh1"], a["dc1"])
        return {"h1": h1, "c1": c1, "dx": dx, "dh0": dh0, "dc0": dc0}
    h1 = module(a["x"], a["h0"])
    dx, dh0 = module.backward(a["dh1"])
    return {"h1": h1, "dx": dx, "dh0": dh0}


def test_golden_files_cover_both_dtypes():
    assert FILES, f"no golden files in {GOLDEN}; run tests/make_golden.py"
    cases: dict[str, set[str]] = {}
    for p in FILES:
        case, dtype = p.stem.rsplit("-", 1)
        cases.setdefault(case, set()).add(dtype)
    assert all(d == {"float32", "float64"} for d in cases.values()), cases
    kinds = {load(p)[0]["module"] for p in FILES}
    assert kinds == {*LAYERS, *CELLS}


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_forward_backward_match_torch(path):
    cfg, a = load(path)
    module = build(cfg)
    module.load_state_dict(state_dict(cfg, a))
    got = (run_cell if cfg["module"] in CELLS else run_layer)(module, cfg, a)
    for name, value in got.items():
        check(name, value, a[name], cfg)
    for name, p in module.named_parameters():
        check(f"grad.{name}", p.grad, a[f"grad.{name}"], cfg)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_parameter_names_and_shapes_match_torch(path):
    cfg, a = load(path)
    module = build(cfg)
    ours = [(n, p.shape, p.dtype) for n, p in module.named_parameters()]
    torch_params = [(n, a[f"param.{n}"].shape, a[f"param.{n}"].dtype)
                    for n in cfg["param_names"]]
    assert ours == torch_params


@pytest.mark.parametrize("path", [p for p in FILES if p.stem.endswith("float64")],
                         ids=[i for i in IDS if i.endswith("float64")])
def test_init_range_matches_torch(path):
    cfg, a = load(path)
    bound = 1.0 / math.sqrt(cfg["kwargs"]["hidden_size"])
    for name in cfg["param_names"]:
        assert np.abs(a[f"param.{name}"]).max() <= bound
    for seed in (0, 1):
        params = dict(build(cfg, seed).named_parameters())
        for name, p in params.items():
            w = np.abs(p.data)
            assert w.max() <= bound, f"{name}: {w.max()} outside ±{bound}"
            assert np.ptp(p.data) > 0, f"{name}: all values equal"
        # dozens of uniform draws reach the top quarter of the range (p > 1 - 1e-4)
        pooled = np.concatenate([p.data.ravel() for p in params.values()])
        assert pooled.max() > 0.75 * bound and pooled.min() < -0.75 * bound
