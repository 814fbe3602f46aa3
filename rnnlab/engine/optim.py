"""Optimizers and learning-rate schedules with torch's update formulas.

An optimizer holds one parameter group: ``opt.lr`` (also ``opt.param_groups[0]["lr"]``, the
torch idiom) and hyperparameters. ``step()`` updates ``p.data`` in place from ``p.grad``.

``state_dict()`` holds only plain values, so it can be written as JSON plus safetensors::

    {"type": "Adam", "step": int, "lr": float, "hparams": {...JSON values...},
     "buffers": {"0.exp_avg": ndarray, ...}}   # "<parameter index>.<buffer name>"

and ``load_state_dict()`` restores it exactly (buffers are copied, hyperparameters replaced).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import ClassVar

import numpy as np

from .module import Module, Parameter
from .validate import describe, positive_int


def _as_params(params) -> list[Parameter]:
    if isinstance(params, Module):
        params = params.parameters()
    elif isinstance(params, Parameter):
        params = [params]
    if not isinstance(params, Iterable):
        raise TypeError(f"params: expected an iterable of Parameters, got {describe(params)}")
    out = list(params)
    for i, p in enumerate(out):
        if not isinstance(p, Parameter):
            raise TypeError(f"params[{i}]: expected a Parameter, got {describe(p)}")
    if not out:
        raise ValueError("params: expected at least one Parameter, got an empty list")
    if len({id(p) for p in out}) != len(out):
        raise ValueError("params: expected distinct Parameters, got one more than once")
    return out


def _number(name: str, value, lo: float = 0.0, hi: float = math.inf,
            hi_open: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        v = float(value)
        ok = math.isfinite(v) and lo <= v and (v < hi if hi_open else v <= hi)
    if not ok:
        right = ")" if hi_open else "]"
        raise ValueError(f"{name}: expected a number in [{lo}, {hi}{right}, got {value!r}")
    return float(value)


class Optimizer:
    """Base class: parameters, hyperparameters, per-parameter buffers and a step count."""

    defaults: ClassVar[dict] = {}

    def __init__(self, params, lr: float, **hparams):
        self.params = _as_params(params)
        self.param_groups = [{"params": self.params, "lr": 0.0}]
        self.lr = lr
        self._set_hparams(hparams)
        self.step_count = 0
        self._make_buffers()

    @property
    def lr(self) -> float:
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value) -> None:
        self.param_groups[0]["lr"] = _number("lr", value)

    @property
    def hparams(self) -> dict:
        g = self.param_groups[0]
        return {k: v for k, v in g.items() if k not in ("params", "lr")}

    def _set_hparams(self, hparams: Mapping) -> None:
        if not isinstance(hparams, Mapping):
            raise TypeError(f"hparams: expected a mapping, got {describe(hparams)}")
        unknown = sorted(set(hparams) - set(self.defaults))
        if unknown:
            raise KeyError(f"hparams: expected keys among {sorted(self.defaults)}, "
                           f"got unknown {unknown}")
        checked = self._validate({**self.defaults, **hparams})
        g = self.param_groups[0]
        for k in [k for k in g if k not in ("params", "lr")]:
            del g[k]
        g.update(checked)

    def _validate(self, h: dict) -> dict:  # pragma: no cover - every optimizer overrides it
        raise NotImplementedError

    def _buffer_names(self) -> tuple[str, ...]:
        return ()

    def _make_buffers(self) -> None:
        self.state = [{name: np.zeros_like(p.data) for name in self._buffer_names()}
                      for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad[...] = 0

    def step(self) -> None:
        """One update of every parameter from its ``.grad``."""
        self.step_count += 1
        g = self.param_groups[0]
        for p, st in zip(self.params, self.state):
            self._update(p.data, p.grad, st, g)

    def _update(self, p, grad, st, g) -> None:  # pragma: no cover - every optimizer overrides
        raise NotImplementedError

    # checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        h = {k: list(v) if isinstance(v, tuple) else v for k, v in self.hparams.items()}
        buffers = {f"{i}.{name}": buf.copy()
                   for i, st in enumerate(self.state) for name, buf in st.items()}
        return {"type": type(self).__name__, "step": self.step_count, "lr": self.lr,
                "hparams": h, "buffers": buffers}

    def load_state_dict(self, state: Mapping) -> None:
        """Restore a :meth:`state_dict`; nothing changes unless every entry fits."""
        name = type(self).__name__
        if not isinstance(state, Mapping):
            raise TypeError(f"state_dict: expected a mapping, got {describe(state)}")
        missing = [k for k in ("type", "step", "lr", "hparams", "buffers") if k not in state]
        if missing:
            raise KeyError(f"state_dict: expected keys type, step, lr, hparams, buffers; "
                           f"missing {missing}")
        if state["type"] != name:
            raise ValueError(f"state_dict: expected type {name!r}, got {state['type']!r}")
        step = state["step"]
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"state_dict['step']: expected an integer >= 0, got {step!r}")
        lr = _number("state_dict['lr']", state["lr"])
        old = self.hparams
        self._set_hparams(state["hparams"])
        try:
            want = {f"{i}.{b}": p for i, p in enumerate(self.params)
                    for b in self._buffer_names()}
            bufs = state["buffers"]
            if set(bufs) != set(want):
                raise KeyError(f"state_dict['buffers']: expected keys {sorted(want)}, "
                               f"got {sorted(bufs)}")
            staged = {}
            for key, p in want.items():
                arr = np.asarray(bufs[key])
                if arr.shape != p.data.shape or not np.issubdtype(arr.dtype, np.floating):
                    raise ValueError(f"state_dict['buffers'][{key!r}]: expected a float array "
                                     f"of shape {p.data.shape}, got {describe(arr)}")
                staged[key] = arr
        except Exception:
            self._set_hparams(old)
            raise
        self._make_buffers()
        for key, arr in staged.items():
            i, b = key.split(".", 1)
            self.state[int(i)][b][...] = arr
        self.step_count = int(step)
        self.lr = lr

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in {"lr": self.lr, **self.hparams}.items())
        return f"{type(self).__name__}({items})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, weight decay, Nesterov.

    ``g = grad + wd*p``; with momentum ``b = g`` at the first step, then
    ``b = momentum*b + (1-dampening)*g``, and ``g = g + momentum*b`` (Nesterov) or ``g = b``;
    ``p -= lr*g``.
    """

    defaults: ClassVar[dict] = {"momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0,
                                "nesterov": False}

    def __init__(self, params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov)

    def _validate(self, h):
        out = {"momentum": _number("momentum", h["momentum"]),
               "dampening": _number("dampening", h["dampening"]),
               "weight_decay": _number("weight_decay", h["weight_decay"]),
               "nesterov": bool(h["nesterov"])}
        if out["nesterov"] and (out["momentum"] <= 0 or out["dampening"] != 0):
            raise ValueError("nesterov: expected momentum > 0 and dampening = 0, got "
                             f"momentum={out['momentum']}, dampening={out['dampening']}")
        return out

    def _buffer_names(self):
        return ("momentum_buffer",) if self.param_groups[0]["momentum"] != 0 else ()

    def _update(self, p, grad, st, g):
        d = grad + g["weight_decay"] * p if g["weight_decay"] != 0 else grad
        mom = g["momentum"]
        if mom != 0:
            buf = st["momentum_buffer"]
            if self.step_count == 1:
                buf[...] = d
            else:
                buf *= mom
                buf += (1 - g["dampening"]) * d
            d = d + mom * buf if g["nesterov"] else buf
        p -= g["lr"] * d


class Adam(Optimizer):
    """Adam (Kingma & Ba) with torch's bias corrections; ``amsgrad`` keeps the running max
    of the second moment. ``weight_decay`` adds ``wd*p`` to the gradient (L2)."""

    decoupled = False
    defaults: ClassVar[dict] = {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                                "amsgrad": False}

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False):
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)

    def _validate(self, h):
        betas = h["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas: expected two numbers in [0, 1), got {betas!r}")
        return {"betas": (_number("betas[0]", betas[0], hi=1.0, hi_open=True),
                          _number("betas[1]", betas[1], hi=1.0, hi_open=True)),
                "eps": _number("eps", h["eps"]),
                "weight_decay": _number("weight_decay", h["weight_decay"]),
                "amsgrad": bool(h["amsgrad"])}

    def _buffer_names(self):
        names = ("exp_avg", "exp_avg_sq")
        return (*names, "max_exp_avg_sq") if self.param_groups[0]["amsgrad"] else names

    def _update(self, p, grad, st, g):
        lr, (b1, b2), wd = g["lr"], g["betas"], g["weight_decay"]
        if wd != 0:
            if self.decoupled:
                p *= 1 - lr * wd
            else:
                grad = grad + wd * p
        m, v = st["exp_avg"], st["exp_avg_sq"]
        m += (1 - b1) * (grad - m)
        v *= b2
        v += (1 - b2) * grad * grad
        t = self.step_count
        step_size = lr / (1 - b1**t)
        bc2_sqrt = (1 - b2**t) ** 0.5
        if g["amsgrad"]:
            np.maximum(st["max_exp_avg_sq"], v, out=st["max_exp_avg_sq"])
            v = st["max_exp_avg_sq"]
        denom = np.sqrt(v) / bc2_sqrt + g["eps"]
        p -= step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr*wd`` before the Adam update."""

    decoupled = True
    defaults: ClassVar[dict] = {**Adam.defaults, "weight_decay": 1e-2}

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


class RMSprop(Optimizer):
    """RMSprop: ``s = alpha*s + (1-alpha)*g**2``; ``centered`` subtracts the squared running
    mean of ``g``; ``eps`` is added after the square root; optional momentum buffer."""

    defaults: ClassVar[dict] = {"alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0,
                                "momentum": 0.0, "centered": False}

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        super().__init__(params, lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                         momentum=momentum, centered=centered)

    def _validate(self, h):
        return {"alpha": _number("alpha", h["alpha"]),
                "eps": _number("eps", h["eps"]),
                "weight_decay": _number("weight_decay", h["weight_decay"]),
                "momentum": _number("momentum", h["momentum"]),
                "centered": bool(h["centered"])}

    def _buffer_names(self):
        g = self.param_groups[0]
        names = ("square_avg",)
        if g["centered"]:
            names += ("grad_avg",)
        if g["momentum"] > 0:
            names += ("momentum_buffer",)
        return names

    def _update(self, p, grad, st, g):
        alpha = g["alpha"]
        if g["weight_decay"] != 0:
            grad = grad + g["weight_decay"] * p
        sq = st["square_avg"]
        sq *= alpha
        sq += (1 - alpha) * grad * grad
        if g["centered"]:
            ga = st["grad_avg"]
            ga += (1 - alpha) * (grad - ga)
            avg = np.sqrt(sq - ga * ga)
        else:
            avg = np.sqrt(sq)
        avg += g["eps"]
        if g["momentum"] > 0:
            buf = st["momentum_buffer"]
            buf *= g["momentum"]
            buf += grad / avg
            p -= g["lr"] * buf
        else:
            p -= g["lr"] * (grad / avg)


# schedules ------------------------------------------------------------------------------
class LRScheduler:
    """Sets ``optimizer.lr`` once per ``step()``, from the current lr like torch's
    chainable schedulers. ``get_last_lr()`` is a one-item list, as torch's."""

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected an Optimizer, got {describe(optimizer)}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0
        self._last_lr = optimizer.lr

    def step(self) -> None:
        self.last_epoch += 1
        lr = self._next_lr(self.optimizer.lr)
        self.optimizer.lr = lr
        self._last_lr = self.optimizer.lr

    def _next_lr(self, lr: float) -> float:  # pragma: no cover - every schedule overrides it
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        return [self._last_lr]

    def _hparams(self) -> dict:  # pragma: no cover - every schedule overrides it
        raise NotImplementedError

    def state_dict(self) -> dict:
        """``{"type", "last_epoch", "base_lr", "last_lr", **hyperparameters}``, JSON values."""
        return {"type": type(self).__name__, "last_epoch": self.last_epoch,
                "base_lr": self.base_lr, "last_lr": self._last_lr, **self._hparams()}

    def load_state_dict(self, state: Mapping) -> None:
        want = self.state_dict()
        if not isinstance(state, Mapping) or set(state) != set(want):
            got = sorted(state) if isinstance(state, Mapping) else describe(state)
            raise KeyError(f"state_dict: expected keys {sorted(want)}, got {got}")
        if state["type"] != want["type"]:
            raise ValueError(f"state_dict: expected type {want['type']!r}, got {state['type']!r}")
        epoch = state["last_epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"state_dict['last_epoch']: expected an integer >= 0, got {epoch!r}")
        base = _number("state_dict['base_lr']", state["base_lr"])
        last = _number("state_dict['last_lr']", state["last_lr"])
        self._set_hparams({k: state[k] for k in self._hparams()})
        self.last_epoch, self.base_lr, self._last_lr = int(epoch), base, last

    def _set_hparams(self, h: dict) -> None:  # pragma: no cover - every schedule overrides it
        raise NotImplementedError


class StepLR(LRScheduler):
    """Multiplies the lr by ``gamma`` every ``step_size`` calls of ``step()``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        super().__init__(optimizer)
        self._set_hparams({"step_size": step_size, "gamma": gamma})

    def _set_hparams(self, h):
        self.step_size = positive_int("step_size", h["step_size"])
        self.gamma = _number("gamma", h["gamma"])

    def _hparams(self):
        return {"step_size": self.step_size, "gamma": self.gamma}

    def _next_lr(self, lr):
        if self.last_epoch % self.step_size != 0:
            return lr
        return lr * self.gamma


class CosineAnnealingLR(LRScheduler):
    """Cosine from the initial lr down to ``eta_min`` over ``T_max`` steps, then back up
    (period ``2*T_max``), with torch's recursive update so outside lr changes carry on."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):
        super().__init__(optimizer)
        self._set_hparams({"T_max": T_max, "eta_min": eta_min})

    def _set_hparams(self, h):
        self.T_max = positive_int("T_max", h["T_max"])
        self.eta_min = _number("eta_min", h["eta_min"])

    def _hparams(self):
        return {"T_max": self.T_max, "eta_min": self.eta_min}

    def _next_lr(self, lr):
        e, T, lo = self.last_epoch, self.T_max, self.eta_min
        if (e - 1 - T) % (2 * T) == 0:
            return lr + (self.base_lr - lo) * (1 - math.cos(math.pi / T)) / 2
        return ((1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
                * (lr - lo) + lo)
