"""Write the golden parity files in ``tests/golden/`` with real PyTorch.

Run with the torch extra installed: ``python tests/make_golden.py`` (``make fixtures``).
Each case is built once in float64 and saved twice, as ``<case>-float64.npz`` and as
``<case>-float32.npz`` (the same values cast, then run again by torch in float32).

A file holds ``config`` (a JSON string), ``param.<name>`` (the state dict), ``x``,
``lengths`` (if any), the initial states, the outputs, random upstream gradients and what
torch's autograd returns for them: ``dx``, the initial-state gradients and
``grad.<name>`` for every parameter. Layers store ``h0 c0 out h_n c_n dout dh_n dc_n dx dh0
dc0``; single-step cells store ``h0 c0 h1 c1 dh1 dc1 dx dh0 dc0`` (``c*`` for LSTM only).
"""

from __future__ import annotations

import json
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

GOLDEN = Path(__file__).resolve().parent / "golden"
DTYPES = {"float64": torch.float64, "float32": torch.float32}
I = 3

LAYERS = {"rnn_tanh": ("RNN", {"nonlinearity": "tanh"}),
          "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
          "lstm": ("LSTM", {}),
          "gru": ("GRU", {})}
# name -> (constructor kwargs, T, B or None for unbatched 2-D input, lengths or None)
VARIANTS = {
    "l1": ({"hidden_size": 5}, 5, 3, None),
    "l2_bi": ({"hidden_size": 4, "num_layers": 2, "bidirectional": True}, 4, 2, None),
    "batch_first": ({"hidden_size": 5, "batch_first": True}, 4, 3, None),
    "lengths_l2_bi": ({"hidden_size": 4, "num_layers": 2, "bidirectional": True}, 6, 3,
                      [4, 1, 5]),
    "nobias": ({"hidden_size": 4, "bias": False}, 5, 2, None),
    "unbatched_bi": ({"hidden_size": 6, "bidirectional": True}, 5, None, None),
}
PROJ_VARIANTS = {
    "lstm_proj_l1": ({"hidden_size": 5, "proj_size": 3}, 5, 3, None),
    "lstm_proj_l2_bi_lengths": ({"hidden_size": 4, "proj_size": 2, "num_layers": 2,
                                 "bidirectional": True}, 5, 3, [3, 5, 1]),
}
CELLS = {"rnncell_tanh": ("RNNCell", {"nonlinearity": "tanh"}),
         "rnncell_relu": ("RNNCell", {"nonlinearity": "relu"}),
         "lstmcell": ("LSTMCell", {}),
         "grucell": ("GRUCell", {})}


def cases() -> list[dict]:
    """Every case's config, without the dtype."""
    out = []
    for kind, (module, extra) in LAYERS.items():
        for variant, (kwargs, T, B, lengths) in VARIANTS.items():
            out.append(dict(name=f"{kind}_{variant}", module=module, T=T, B=B, lengths=lengths,
                            kwargs={"input_size": I, **kwargs, **extra}))
    for name, (kwargs, T, B, lengths) in PROJ_VARIANTS.items():
        out.append(dict(name=name, module="LSTM", T=T, B=B, lengths=lengths,
                        kwargs={"input_size": I, **kwargs}))
    for kind, (module, extra) in CELLS.items():
        for variant, B in (("batched", 3), ("unbatched", None)):
            out.append(dict(name=f"{kind}_{variant}", module=module, T=None, B=B, lengths=None,
                            kwargs={"input_size": I, "hidden_size": 4, **extra}))
    return out


def _randn(shape, gen) -> torch.Tensor:
    return torch.randn(shape, generator=gen, dtype=torch.float64)


def _layer_arrays(cfg: dict, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Float64 inputs, initial states and upstream gradients of a layer case."""
    kw = cfg["kwargs"]
    T, B = cfg["T"], cfg["B"]
    H = kw["hidden_size"]
    P = kw.get("proj_size", 0) or H
    LD = kw.get("num_layers", 1) * (2 if kw.get("bidirectional", False) else 1)
    D = 2 if kw.get("bidirectional", False) else 1
    lead = (T,) if B is None else ((B, T) if kw.get("batch_first", False) else (T, B))
    batch = () if B is None else (B,)
    a = {"x": _randn((*lead, I), gen), "h0": 0.5 * _randn((LD, *batch, P), gen)}
    if cfg["module"] == "LSTM":
        a["c0"] = 0.5 * _randn((LD, *batch, H), gen)
    a["dout"] = _randn((*lead, D * P), gen)
    a["dh_n"] = _randn((LD, *batch, P), gen)
    if cfg["module"] == "LSTM":
        a["dc_n"] = _randn((LD, *batch, H), gen)
    return a


def _cell_arrays(cfg: dict, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Float64 input, initial state(s) and upstream gradients of a single-step cell case."""
    H, B = cfg["kwargs"]["hidden_size"], cfg["B"]
    batch = () if B is None else (B,)
    a = {"x": _randn((*batch, I), gen), "h0": 0.5 * _randn((*batch, H), gen)}
    if cfg["module"] == "LSTMCell":
        a["c0"] = 0.5 * _randn((*batch, H), gen)
    a["dh1"] = _randn((*batch, H), gen)
    if cfg["module"] == "LSTMCell":
        a["dc1"] = _randn((*batch, H), gen)
    return a


def _run_layer(cfg, module, a):
    kw = cfg["kwargs"]
    x = a["x"].requires_grad_()
    states = [a["h0"].requires_grad_()]
    if "c0" in a:
        states.append(a["c0"].requires_grad_())
    hx = tuple(states) if len(states) == 2 else states[0]
    if cfg["lengths"] is None:
        out, hn = module(x, hx)
    else:
        bf = kw.get("batch_first", False)
        lengths = torch.tensor(cfg["lengths"], dtype=torch.int64)
        packed = pack_padded_sequence(x, lengths, batch_first=bf, enforce_sorted=False)
        out, hn = module(packed, hx)
        out, _ = pad_packed_sequence(out, batch_first=bf, total_length=cfg["T"])
    finals = hn if isinstance(hn, tuple) else (hn,)
    res = {"out": out, "h_n": finals[0]}
    loss = (out * a["dout"]).sum() + (finals[0] * a["dh_n"]).sum()
    if len(finals) == 2:
        res["c_n"] = finals[1]
        loss = loss + (finals[1] * a["dc_n"]).sum()
    inputs = [x, *states]
    return res, loss, inputs, ["dx", "dh0", "dc0"][:len(inputs)]


def _run_cell(cfg, module, a):
    x = a["x"].requires_grad_()
    states = [a["h0"].requires_grad_()]
    if "c0" in a:
        states.append(a["c0"].requires_grad_())
        h1, c1 = module(x, tuple(states))
        res = {"h1": h1, "c1": c1}
        loss = (h1 * a["dh1"]).sum() + (c1 * a["dc1"]).sum()
    else:
        h1 = module(x, states[0])
        res = {"h1": h1}
        loss = (h1 * a["dh1"]).sum()
    inputs = [x, *states]
    return res, loss, inputs, ["dx", "dh0", "dc0"][:len(inputs)]


def make_case(cfg: dict) -> dict[str, dict[str, np.ndarray]]:
    """Run one case in both dtypes; returns ``{dtype name: arrays to save}``."""
    seed = zlib.crc32(cfg["name"].encode())
    torch.manual_seed(seed)
    base = getattr(nn, cfg["module"])(**cfg["kwargs"]).double()
    gen = torch.Generator().manual_seed(seed)
    cell = cfg["T"] is None
    arrays64 = (_cell_arrays if cell else _layer_arrays)(cfg, gen)
    state = {k: v.detach().clone() for k, v in base.state_dict().items()}
    files = {}
    for dname, dtype in DTYPES.items():
        module = getattr(nn, cfg["module"])(**cfg["kwargs"]).to(dtype)
        module.load_state_dict({k: v.to(dtype) for k, v in state.items()})
        a = {k: v.to(dtype).clone() for k, v in arrays64.items()}
        res, loss, inputs, grad_names = (_run_cell if cell else _run_layer)(cfg, module, a)
        params = list(module.named_parameters())
        grads = torch.autograd.grad(loss, inputs + [p for _, p in params])
        full = {**cfg, "dtype": dname, "param_names": [n for n, _ in params]}
        f = {"config": np.array(json.dumps(full))}
        f.update({f"param.{n}": p.detach().numpy() for n, p in params})
        f.update({k: v.detach().numpy() for k, v in a.items()})
        if cfg["lengths"] is not None:
            f["lengths"] = np.array(cfg["lengths"], dtype=np.int64)
        f.update({k: v.detach().numpy() for k, v in res.items()})
        f.update({k: g.numpy() for k, g in zip(grad_names, grads)})
        f.update({f"grad.{n}": g.numpy() for (n, _), g in zip(params, grads[len(inputs):])})
        files[dname] = {k: np.ascontiguousarray(v) for k, v in f.items()}
    return files


def main() -> int:
    torch.use_deterministic_algorithms(True)
    warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
    GOLDEN.mkdir(exist_ok=True)
    for old in GOLDEN.glob("*.npz"):
        old.unlink()
    total = 0
    for cfg in cases():
        for dname, arrays in make_case(cfg).items():
            path = GOLDEN / f"{cfg['name']}-{dname}.npz"
            np.savez_compressed(path, **arrays)
            total += path.stat().st_size
    print(f"wrote {len(list(GOLDEN.glob('*.npz')))} files, {total / 1024:.0f} KiB, in {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
