"""Write the training golden files in ``tests/golden_training/`` with real PyTorch.

Run with the torch extra installed: ``python tests/make_golden_training.py``.
Inputs are drawn once in float64 from a fixed seed; every case is run by torch in float64
and again in float32 on the same values cast. Each file holds ``config`` (a JSON string
describing every case and its arguments) and arrays named ``<case>.<dtype>.<what>``:

- ``layers.npz``: Linear / Embedding parameters, input, upstream gradient ``dy``, and
  torch's ``y``, ``dx`` and ``grad.<param>``.
- ``losses.npz``: ``pred``, ``target``, the loss ``value`` and ``grad`` = dL/dpred.
- ``optim.npz``: initial ``p<i>``, per-step gradients ``g<i>`` ``(steps, *shape)``, the
  parameters after every step ``traj<i>`` and the final ``state.<i>.<buffer>``.
- ``schedules.npz``: ``<case>.lr``: the lr after construction and after each step.
- ``clip.npz``: gradients ``g<i>``, torch's pre-clip ``total`` and clipped ``out<i>``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

OUT = Path(__file__).resolve().parent / "golden_training"
DTYPES = {"float64": torch.float64, "float32": torch.float32}
STEPS = 10


def t(a: np.ndarray, dtype: torch.dtype, grad: bool = False) -> torch.Tensor:
    return torch.tensor(a, dtype=dtype, requires_grad=grad)


def n(x: torch.Tensor) -> np.ndarray:
    return x.detach().numpy().copy()


def save(name: str, config: dict, arrays: dict[str, np.ndarray]) -> None:
    OUT.mkdir(exist_ok=True)
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    np.savez_compressed(OUT / f"{name}.npz", config=np.array(json.dumps(config)), **arrays)
    print(f"{name}.npz: {len(config)} cases, {len(arrays)} arrays")


# layers ---------------------------------------------------------------------------------
LINEAR = {"linear_2d": {"in": 4, "out": 3, "bias": True, "x": (5, 4)},
          "linear_3d": {"in": 4, "out": 3, "bias": True, "x": (2, 3, 4)},
          "linear_1d": {"in": 4, "out": 2, "bias": True, "x": (4,)},
          "linear_nobias": {"in": 3, "out": 5, "bias": False, "x": (6, 3)}}
EMBEDDING = {"embedding_pad": {"num": 6, "dim": 3, "padding_idx": 2,
                               "idx": [[0, 2, 5], [2, 2, 1], [5, 5, 5], [3, 0, 2]]},
             "embedding_nopad": {"num": 5, "dim": 4, "padding_idx": None,
                                 "idx": [[1, 1, 4, 0], [4, 3, 1, 1]]}}


def make_layers(rng: np.random.Generator) -> None:
    config, arrays = {}, {}
    for case, c in LINEAR.items():
        config[case] = {"kind": "Linear", **c}
        w = rng.uniform(-1, 1, (c["out"], c["in"]))
        b = rng.uniform(-1, 1, c["out"])
        x = rng.standard_normal(c["x"])
        dy = rng.standard_normal((*c["x"][:-1], c["out"]))
        for dname, dt in DTYPES.items():
            lin = nn.Linear(c["in"], c["out"], bias=c["bias"], dtype=dt)
            with torch.no_grad():
                lin.weight.copy_(t(w, dt))
                if c["bias"]:
                    lin.bias.copy_(t(b, dt))
            xt = t(x, dt, grad=True)
            y = lin(xt)
            y.backward(t(dy, dt))
            p = f"{case}.{dname}."
            arrays.update({p + "weight": n(lin.weight), p + "x": n(xt), p + "dy": dy.astype(dname),
                           p + "y": n(y), p + "dx": n(xt.grad),
                           p + "grad.weight": n(lin.weight.grad)})
            if c["bias"]:
                arrays[p + "bias"] = n(lin.bias)
                arrays[p + "grad.bias"] = n(lin.bias.grad)
    for case, c in EMBEDDING.items():
        config[case] = {"kind": "Embedding", **c}
        w = rng.standard_normal((c["num"], c["dim"]))
        if c["padding_idx"] is not None:
            w[c["padding_idx"]] = 0
        idx = np.array(c["idx"], dtype=np.int64)
        dy = rng.standard_normal((*idx.shape, c["dim"]))
        for dname, dt in DTYPES.items():
            emb = nn.Embedding(c["num"], c["dim"], padding_idx=c["padding_idx"], dtype=dt)
            with torch.no_grad():
                emb.weight.copy_(t(w, dt))
            y = emb(torch.tensor(idx))
            y.backward(t(dy, dt))
            p = f"{case}.{dname}."
            arrays.update({p + "weight": n(emb.weight), p + "idx": idx, p + "dy": dy.astype(dname),
                           p + "y": n(y), p + "grad.weight": n(emb.weight.grad)})
    save("layers", config, arrays)


# losses ---------------------------------------------------------------------------------
# case -> (loss class, kwargs, pred shape, logit scale, target kind)
LOSSES = {
    "mse_mean": ("MSELoss", {"reduction": "mean"}, (4, 3), 1.0, "float"),
    "mse_sum": ("MSELoss", {"reduction": "sum"}, (2, 3, 2), 1.0, "float"),
    "bce_mean": ("BCEWithLogitsLoss", {"reduction": "mean"}, (5, 3), 8.0, "prob"),
    "bce_sum": ("BCEWithLogitsLoss", {"reduction": "sum"}, (7,), 40.0, "prob"),
    "ce_mean": ("CrossEntropyLoss", {"reduction": "mean"}, (6, 4), 2.0, "class"),
    "ce_sum": ("CrossEntropyLoss", {"reduction": "sum"}, (6, 4), 2.0, "class"),
    "ce_large_logits": ("CrossEntropyLoss", {}, (5, 3), 60.0, "class"),
    "ce_ignore_mean": ("CrossEntropyLoss", {"reduction": "mean"}, (8, 5), 1.5, "class_ignore"),
    "ce_ignore_sum": ("CrossEntropyLoss", {"reduction": "sum"}, (8, 5), 1.5, "class_ignore"),
    "ce_ignore_custom": ("CrossEntropyLoss", {"ignore_index": 0}, (8, 5), 1.5, "class"),
    "ce_timestep": ("CrossEntropyLoss", {}, (4, 3, 5), 1.5, "class_ignore"),
    "ce_timestep_sum": ("CrossEntropyLoss", {"reduction": "sum"}, (3, 4, 6), 1.5, "class"),
}


def make_losses(rng: np.random.Generator) -> None:
    config, arrays = {}, {}
    for case, (kind, kwargs, shape, scale, tkind) in LOSSES.items():
        config[case] = {"loss": kind, "kwargs": kwargs}
        pred = rng.standard_normal(shape) * scale
        if tkind == "float":
            target = rng.standard_normal(shape)
        elif tkind == "prob":
            target = rng.uniform(0, 1, shape)
            target[:2] = np.round(target[:2])
        else:
            target = rng.integers(0, shape[-1], shape[:-1]).astype(np.int64)
            if tkind == "class_ignore":
                target.reshape(-1)[::3] = -100
        for dname, dt in DTYPES.items():
            pt = t(pred, dt, grad=True)
            fn = getattr(nn, kind)(**kwargs)
            if kind == "CrossEntropyLoss":
                tt = torch.tensor(target)
                if pt.ndim == 3:  # torch wants (N, C, d): time-major (T, B, C) -> (B, C, T)
                    val = fn(pt.permute(1, 2, 0), tt.T)
                else:
                    val = fn(pt, tt)
                tgt = target
            else:
                tgt = target.astype(dname)
                val = fn(pt, t(tgt, dt))
            val.backward()
            p = f"{case}.{dname}."
            arrays.update({p + "pred": pred.astype(dname), p + "target": tgt,
                           p + "value": np.array(val.item()), p + "grad": n(pt.grad)})
    save("losses", config, arrays)


# optimizers -----------------------------------------------------------------------------
OPTIMS = {
    "sgd": ("SGD", {"lr": 0.1}),
    "sgd_momentum": ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1,
                             "weight_decay": 0.01}),
    "sgd_nesterov": ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True,
                             "weight_decay": 0.001}),
    "adam": ("Adam", {"lr": 0.01}),
    "adam_wd": ("Adam", {"lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.1}),
    "adam_amsgrad": ("Adam", {"lr": 0.01, "amsgrad": True}),
    "adamw": ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    "adamw_amsgrad": ("AdamW", {"lr": 0.01, "amsgrad": True}),
    "rmsprop": ("RMSprop", {"lr": 0.01}),
    "rmsprop_centered_momentum": ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5,
                                              "centered": True, "weight_decay": 0.01}),
}
SHAPES = [(3, 4), (5,)]


def make_optim(rng: np.random.Generator) -> None:
    config, arrays = {}, {}
    p0 = [rng.standard_normal(s) for s in SHAPES]
    # gradient scales change from step to step so amsgrad's running max matters
    scales = np.array([1.0, 3.0, 0.2, 0.5, 2.0, 0.1, 1.0, 4.0, 0.3, 1.0])
    grads = [rng.standard_normal((STEPS, *s)) * scales.reshape(-1, *[1] * len(s))
             for s in SHAPES]
    for case, (kind, kwargs) in OPTIMS.items():
        config[case] = {"optim": kind, "kwargs": kwargs, "steps": STEPS}
        for dname, dt in DTYPES.items():
            params = [t(p, dt, grad=True) for p in p0]
            tk = {k: tuple(v) if k == "betas" else v for k, v in kwargs.items()}
            opt = getattr(torch.optim, kind)(params, foreach=False, **tk)
            traj = [[] for _ in params]
            for s in range(STEPS):
                for p, g in zip(params, grads):
                    p.grad = t(g[s], dt)
                opt.step()
                for i, p in enumerate(params):
                    traj[i].append(n(p))
            pre = f"{case}.{dname}."
            for i, p in enumerate(params):
                arrays[pre + f"p{i}"] = p0[i].astype(dname)
                arrays[pre + f"g{i}"] = grads[i].astype(dname)
                arrays[pre + f"traj{i}"] = np.stack(traj[i])
                for bname, buf in opt.state[p].items():
                    if bname != "step":
                        arrays[pre + f"state.{i}.{bname}"] = n(buf)
    save("optim", config, arrays)


# schedules ------------------------------------------------------------------------------
SCHEDULES = {
    "step": ("StepLR", 0.5, {"step_size": 3, "gamma": 0.5}, 12),
    "step_one": ("StepLR", 0.1, {"step_size": 1, "gamma": 0.9}, 8),
    "cosine": ("CosineAnnealingLR", 0.1, {"T_max": 5, "eta_min": 0.001}, 23),
    "cosine_zero": ("CosineAnnealingLR", 0.3, {"T_max": 4}, 10),
}


def make_schedules() -> None:
    config, arrays = {}, {}
    for case, (kind, lr, kwargs, steps) in SCHEDULES.items():
        config[case] = {"schedule": kind, "lr": lr, "kwargs": kwargs, "steps": steps}
        p = torch.zeros(2, requires_grad=True)
        opt = torch.optim.SGD([p], lr=lr)
        sched = getattr(torch.optim.lr_scheduler, kind)(opt, **kwargs)
        lrs = [sched.get_last_lr()[0]]
        for _ in range(steps):
            opt.step()
            sched.step()
            lrs.append(sched.get_last_lr()[0])
        arrays[f"{case}.lr"] = np.array(lrs, dtype=np.float64)
    save("schedules", config, arrays)


# clipping -------------------------------------------------------------------------------
CLIPS = {
    "norm2_clipped": {"max_norm": 1.0, "norm_type": 2.0},
    "norm2_unclipped": {"max_norm": 100.0, "norm_type": 2.0},
    "norm_inf": {"max_norm": 0.5, "norm_type": "inf"},
    "norm1": {"max_norm": 2.0, "norm_type": 1.0},
    "norm_1_5": {"max_norm": 2.0, "norm_type": 1.5},
}
CLIP_SHAPES = [(3, 4), (5,), (2, 2, 2)]


def make_clip(rng: np.random.Generator) -> None:
    config, arrays = {}, {}
    grads = [rng.standard_normal(s) for s in CLIP_SHAPES]
    for case, c in CLIPS.items():
        config[case] = c
        norm_type = float("inf") if c["norm_type"] == "inf" else c["norm_type"]
        for dname, dt in DTYPES.items():
            params = [t(np.zeros(s), dt, grad=True) for s in CLIP_SHAPES]
            for p, g in zip(params, grads):
                p.grad = t(g, dt)
            total = torch.nn.utils.clip_grad_norm_(params, c["max_norm"], norm_type=norm_type,
                                                   foreach=False)
            pre = f"{case}.{dname}."
            arrays[pre + "total"] = np.array(total.item())
            for i, p in enumerate(params):
                arrays[pre + f"g{i}"] = grads[i].astype(dname)
                arrays[pre + f"out{i}"] = n(p.grad)
    save("clip", config, arrays)


def main() -> None:
    rng = np.random.default_rng(20240607)
    make_layers(rng)
    make_losses(rng)
    make_optim(rng)
    make_schedules()
    make_clip(rng)


if __name__ == "__main__":
    main()
