"""Training as a generator of events; CLI and app both consume it, neither re-implements it.

``Trainer(config).run()`` yields :mod:`~rnnlab.engine.events` and honours ``pause()``,
``resume()``, ``request_step()`` and ``stop()`` from any thread. The same config and seed give
identical metrics (with the same thread settings; see ``docs/training.md``).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import checkpoint as ckpt
from .clip import clip_grad_norm_
from .events import Evaluated, Halted, Paused, Snapshot, Started, StepDone, Stopped
from .grad_mode import no_grad
from .model import SequenceModel
from .module import FLOAT_DTYPES
from .optim import SGD, Adam, AdamW, CosineAnnealingLR, RMSprop, StepLR
from .task import Task
from .validate import NonFiniteError

OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}
SCHEDULES = (None, "cosine", "step")
_MODEL_FIELDS = ("cell", "hidden_size", "num_layers", "bidirectional", "dropout",
                 "embedding_dim", "init_scale", "cell_options")


@dataclass
class TrainConfig:
    """Everything that defines a run. ``TrainConfig.for_task(name, **overrides)`` starts from
    the task's own ``model_defaults`` (e.g. a deep vanilla RNN for ``gradflow``)."""

    task: str = "sine"
    task_params: dict[str, Any] = field(default_factory=dict)
    cell: str = "lstm"
    cell_options: dict[str, Any] = field(default_factory=dict)
    hidden_size: int = 32
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    embedding_dim: int = 16
    init_scale: float | None = None
    optimizer: str = "adam"
    lr: float = 1e-2
    momentum: float = 0.0
    weight_decay: float = 0.0
    schedule: str | None = None
    batch_size: int = 32
    epochs: int = 20
    max_steps: int | None = None
    clip: float | None = 1.0
    patience: int | None = None
    seed: int = 0
    snapshot_every: int = 10
    dtype: str = "float32"

    @classmethod
    def for_task(cls, task: str, **overrides) -> TrainConfig:
        from .registry import get_task

        defaults = dict(getattr(get_task(task), "model_defaults", {}) or {})
        return cls.from_dict({"task": task, **defaults, **overrides})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"train config: unknown setting(s) {unknown}; "
                             f"expected some of {sorted(names)}")
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting, what was expected and got."""
        def need(ok, name, want):
            if not ok:
                raise ValueError(f"{name}: expected {want}, got {getattr(self, name)!r}")

        def is_int(v, lo):
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= lo

        def is_num(v):
            return isinstance(v, (int, float, np.number)) and not isinstance(v, bool) \
                and math.isfinite(v)

        need(isinstance(self.task, str) and self.task, "task", "a task name")
        need(isinstance(self.cell, str) and self.cell, "cell", "a cell name")
        need(isinstance(self.task_params, dict), "task_params", "a dict")
        need(isinstance(self.cell_options, dict), "cell_options", "a dict")
        for name in ("hidden_size", "num_layers", "embedding_dim", "batch_size", "epochs",
                     "snapshot_every"):
            need(is_int(getattr(self, name), 1), name, "an integer >= 1")
        need(isinstance(self.bidirectional, bool), "bidirectional", "true or false")
        need(is_num(self.dropout) and 0 <= self.dropout < 1, "dropout", "a number in [0, 1)")
        need(self.init_scale is None or (is_num(self.init_scale) and self.init_scale > 0),
             "init_scale", "None or a number > 0")
        need(self.optimizer in OPTIMIZERS, "optimizer", f"one of {sorted(OPTIMIZERS)}")
        need(is_num(self.lr) and self.lr > 0, "lr", "a number > 0")
        need(is_num(self.momentum) and 0 <= self.momentum < 1, "momentum", "a number in [0, 1)")
        need(is_num(self.weight_decay) and self.weight_decay >= 0, "weight_decay",
             "a number >= 0")
        need(self.schedule in SCHEDULES, "schedule", f"one of {SCHEDULES}")
        need(self.max_steps is None or is_int(self.max_steps, 1), "max_steps",
             "None or an integer >= 1")
        need(self.clip is None or (is_num(self.clip) and self.clip > 0), "clip",
             "None or a number > 0")
        need(self.patience is None or is_int(self.patience, 1), "patience",
             "None or an integer >= 1")
        need(is_int(self.seed, 0), "seed", "an integer >= 0")
        need(self.dtype in tuple(str(d) for d in FLOAT_DTYPES), "dtype",
             "'float32' or 'float64'")


class Trainer:
    """Builds task data, model and optimizer from a :class:`TrainConfig` and trains it.

    ``run()`` is a generator; control methods are thread-safe. ``out_dir``, when given,
    receives ``last.safetensors`` every epoch and ``best.safetensors`` on improvement.
    A NaN/Inf loss or gradient never reaches the weights, and a non-finite validation loss
    is never checkpointed: with ``on_non_finite="stop"`` the run ends with a
    ``Stopped("non_finite")`` event; with ``"pause"`` it yields :class:`~.events.Halted`,
    skips that batch (or repeats that epoch) and pauses until ``resume()``.
    """

    def __init__(self, config: TrainConfig | dict, out_dir: str | Path | None = None,
                 task: Task | None = None, on_non_finite: str = "stop"):
        if on_non_finite not in ("stop", "pause"):
            raise ValueError(f"on_non_finite: expected 'stop' or 'pause', got {on_non_finite!r}")
        self.on_non_finite = on_non_finite
        if isinstance(config, dict):
            config = TrainConfig.from_dict(config)
        config.validate()
        self.config = config
        if task is None:
            from .registry import get_task

            task = get_task(config.task)(**config.task_params)
        self.task = task
        self.spec = self.task.spec()
        self.data = self.task.make_data(config.seed)
        if len(self.data.train) == 0 or len(self.data.val) == 0:
            raise ValueError(f"task {config.task!r}: expected non-empty train and validation "
                             f"splits, got {len(self.data.train)} and {len(self.data.val)}")
        dtype = np.dtype(config.dtype)
        if not self.spec.vocab_size:
            self.data.train.x = self.data.train.x.astype(dtype, copy=False)
            self.data.val.x = self.data.val.x.astype(dtype, copy=False)
        if self.spec.kind == "regression":
            self.data.train.y = self.data.train.y.astype(dtype, copy=False)
            self.data.val.y = self.data.val.y.astype(dtype, copy=False)
        self.model = SequenceModel(
            self.spec, cell=config.cell, hidden_size=config.hidden_size,
            num_layers=config.num_layers, bidirectional=config.bidirectional,
            dropout=config.dropout, embedding_dim=config.embedding_dim,
            init_scale=config.init_scale, dtype=dtype, seed=config.seed,
            cell_options=config.cell_options)
        n = len(self.data.train)
        self.steps_per_epoch = max(1, math.ceil(n / config.batch_size))
        self.optimizer = self._make_optimizer()
        self.scheduler = self._make_scheduler()
        self.loss_fn = self.task.loss()
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.rng = np.random.default_rng(np.random.SeedSequence(config.seed).spawn(1)[0])
        self.step = 0
        self.epoch = 0
        self.batch_index = 0
        self.perm: np.ndarray | None = None
        self.epoch_losses: list[float] = []
        self.history: list[dict[str, float]] = []
        self.best_val = math.inf
        self.bad_epochs = 0
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._step_tokens = 0
        #: yield Paused events while paused instead of blocking inside run()
        self.yield_when_paused = False
        self._lock = threading.Lock()
        self._state_lock = threading.RLock()  # a step and a save never interleave

    # control (thread-safe) ------------------------------------------------------------
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def request_step(self) -> None:
        """While paused, let exactly one more batch through."""
        with self._lock:
            self._step_tokens += 1
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def _next_turn(self):
        """Generator: wait for the next batch's turn; returns ``False`` once stop was asked.

        While paused it blocks, or with :attr:`yield_when_paused` yields :class:`Paused`
        events, so a consumer never waits inside the generator (it can act on the pause).
        """
        while True:
            if self._stop.is_set():
                return False
            if self._running.is_set():
                with self._lock:
                    if self._step_tokens:
                        self._step_tokens -= 1
                        if self._step_tokens == 0:
                            self._running.clear()
                return True
            if self.yield_when_paused:
                yield Paused(self.step, self.epoch)
            else:
                self._running.wait(0.05)

    # building -------------------------------------------------------------------------
    def _make_optimizer(self):
        c = self.config
        params = self.model.parameters()
        if c.optimizer == "sgd":
            return SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        if c.optimizer == "rmsprop":
            return RMSprop(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        cls = OPTIMIZERS[c.optimizer]
        if c.optimizer == "adamw" and c.weight_decay == 0:
            return cls(params, lr=c.lr)
        return cls(params, lr=c.lr, weight_decay=c.weight_decay)

    def _make_scheduler(self):
        c = self.config
        if c.schedule == "cosine":
            total = c.max_steps or c.epochs * max(1, math.ceil(len(self.data.train)
                                                                / c.batch_size))
            return CosineAnnealingLR(self.optimizer, T_max=total)
        if c.schedule == "step":
            return StepLR(self.optimizer, step_size=max(1, c.epochs // 3) *
                          max(1, math.ceil(len(self.data.train) / c.batch_size)), gamma=0.3)
        return None

    # the loop -------------------------------------------------------------------------
    def run(self) -> Iterator:
        c = self.config
        cell = self.model.rnn.cell
        yield Started(self.step, self.epoch, c.to_dict(), c.task, cell.name, tuple(cell.gates),
                      tuple(cell.states), sum(p.data.size for p in self.model.parameters()),
                      self.steps_per_epoch)
        t_last = time.perf_counter()
        train = self.data.train
        while self.epoch < c.epochs:
            if self.perm is None:
                self.perm = self.rng.permutation(len(train))
                self.batch_index = 0
                self.epoch_losses = []
            while self.batch_index < self.steps_per_epoch:
                if not (yield from self._next_turn()):
                    yield self._finish("stopped", "stopped on request")
                    return
                idx = self.perm[self.batch_index * c.batch_size:
                                (self.batch_index + 1) * c.batch_size]
                with self._state_lock:
                    loss, gnorm, bad = self._train_step(train.batch(idx))
                if bad:
                    message = f"step {self.step + 1}: {bad}"
                    if self.on_non_finite == "stop":
                        yield self._finish("non_finite", f"{message}; training stopped, the "
                                           "last good checkpoint is kept")
                        return
                    self.batch_index += 1
                    self.pause()
                    yield Halted(self.step, self.epoch, f"{message}; the update was skipped "
                                 "and training paused (lower the learning rate or clip)")
                    continue
                self.step += 1
                self.batch_index += 1
                self.epoch_losses.append(loss)
                now = time.perf_counter()
                rate = 1.0 / max(now - t_last, 1e-9)
                t_last = now
                yield StepDone(self.step, self.epoch, loss, gnorm, self._lr(), rate)
                if self.step % c.snapshot_every == 0:
                    yield self.snapshot()
                if c.max_steps is not None and self.step >= c.max_steps:
                    break
            if self.batch_index < self.steps_per_epoch:
                # max_steps within an epoch: keep the position so a resume continues it
                if self.out_dir is not None:
                    self.save(self.out_dir / "last.safetensors")
                yield self._finish("finished", f"max_steps reached: {self.step} steps, epoch "
                                   f"{self.epoch} at batch {self.batch_index}")
                return
            ev = self._end_epoch()
            if isinstance(ev, str):
                if self.on_non_finite == "stop":
                    yield self._finish("non_finite", f"{ev}; training stopped, the last good "
                                       "checkpoint is kept")
                    return
                self.pause()
                yield Halted(self.step, self.epoch, f"{ev}; paused")
                continue
            yield ev
            if c.max_steps is not None and self.step >= c.max_steps:
                break
            if c.patience is not None and self.bad_epochs >= c.patience:
                yield self._finish("early_stopping", f"no validation improvement for "
                                   f"{c.patience} epochs")
                return
        yield self._finish("finished", f"{self.step} steps, {self.epoch} epochs")

    def _train_step(self, batch) -> tuple[float, float, str]:
        model = self.model
        model.train()
        model.zero_grad()
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                pred = model(batch.x, batch.lengths)
            except NonFiniteError as exc:
                return math.nan, math.nan, f"the forward pass overflowed ({exc})"
            loss = float(self.loss_fn(pred, batch.y))
        if not math.isfinite(loss):
            return loss, math.nan, f"the loss is {loss}"
        model.backward(self.loss_fn.backward(), input_grad=False)
        params = model.parameters()
        if self.config.clip is not None:
            gnorm = float(clip_grad_norm_(params, self.config.clip))
        else:
            gnorm = math.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2))
                                  for p in params))
        if not math.isfinite(gnorm):
            names = [n for n, p in model.named_parameters() if not np.isfinite(p.grad).all()]
            return loss, gnorm, f"non-finite gradient in {', '.join(names) or 'parameters'}"
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss, gnorm, ""

    def _lr(self) -> float:
        if self.scheduler is not None:
            return float(self.scheduler.get_last_lr()[0])
        return float(self.optimizer.lr)

    def evaluate(self, split=None) -> tuple[float, dict[str, float]]:
        """Loss and ``val_``-prefixed task metrics on ``split`` (default: validation)."""
        split = self.data.val if split is None else split
        self.model.eval()
        with no_grad():
            pred = self.model(split.x, split.lengths)
        loss = float(self.task.loss()(pred, split.y))
        metrics = self.task.metrics(pred, split.y, split.lengths)
        return loss, {f"val_{k}": float(v) for k, v in metrics.items()}

    def _end_epoch(self) -> Evaluated | str:
        """Evaluate, record and checkpoint the finished epoch; a message if it went non-finite
        (then nothing is recorded or saved and the epoch is repeated from its start)."""
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                val_loss, metrics = self.evaluate()
            except NonFiniteError as exc:
                val_loss, metrics = math.nan, {"error": str(exc)}
        if not math.isfinite(val_loss):
            self.perm = None
            return f"epoch {self.epoch}: the validation loss is {val_loss}"
        train_loss = float(np.mean(self.epoch_losses)) if self.epoch_losses else math.nan
        best = val_loss < self.best_val
        if best:
            self.best_val = val_loss
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        ev = Evaluated(self.step, self.epoch, train_loss, val_loss, metrics, best)
        self.history.append({"epoch": self.epoch, "step": self.step, "train_loss": train_loss,
                             "val_loss": val_loss, **metrics})
        self.epoch += 1
        self.perm = None
        if self.out_dir is not None:
            self.save(self.out_dir / "last.safetensors")
            if best:
                self.save(self.out_dir / "best.safetensors")
        return ev

    def _finish(self, reason: str, message: str) -> Stopped:
        path = None
        if self.out_dir is not None and (self.out_dir / "last.safetensors").exists():
            path = str(self.out_dir / "last.safetensors")
        return Stopped(self.step, self.epoch, reason, message, path)

    # introspection --------------------------------------------------------------------
    def snapshot(self, index: int = 0) -> Snapshot:
        """Internals of validation sample ``index`` under the current weights.

        Runs forward and backward on that one sample in eval mode; the training gradients
        are read (for ``grad_norms``) before and restored after, so training is unaffected.
        """
        model = self.model
        params = model.named_parameters()
        named = list(params)
        param_norms = {n: float(np.linalg.norm(p.data)) for n, p in named}
        grad_norms = {n: float(np.linalg.norm(p.grad)) for n, p in named}
        saved = [p.grad.copy() for _, p in named]
        probe = self.data.val.batch(np.array([index]))
        model.eval()
        pred = model(probe.x, probe.lengths)
        loss_fn = self.task.loss()
        loss_fn(pred, probe.y)
        model.backward(loss_fn.backward(), input_grad=False)
        for (_, p), g in zip(named, saved):
            p.grad[...] = g
        rnn = model.rnn
        layers = []
        for layer in range(rnn.num_layers):
            for d in range(rnn.num_directions):
                tr = rnn.trace(layer, d)
                layers.append({k: np.array(v[:, 0]) for k, v in tr.items()})
        length = int(probe.lengths[0]) if probe.lengths is not None else probe.x.shape[1]
        return Snapshot(self.step, self.epoch, layers, length, probe.x[0].copy(),
                        np.array(probe.y[0]), np.array(pred[0]), param_norms, grad_norms)

    # checkpoints ----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write an atomic checkpoint that :meth:`load` resumes exactly (from any thread:
        it waits for a step in progress to finish)."""
        with self._state_lock:
            return self._save(path)

    def _save(self, path: str | Path) -> Path:
        from .. import __version__

        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        opt_arrays, opt_meta = ckpt.flatten(self.optimizer.state_dict())
        tensors.update({f"optim.{k}": v for k, v in opt_arrays.items()})
        sched_meta = None
        if self.scheduler is not None:
            sched_arrays, sched_meta = ckpt.flatten(self.scheduler.state_dict())
            tensors.update({f"sched.{k}": v for k, v in sched_arrays.items()})
        if self.perm is not None:
            tensors["trainer.perm"] = self.perm
        rngs = {"trainer": self.rng.bit_generator.state}
        for name, mod in self.model.named_modules():
            if hasattr(mod, "_rng"):
                rngs[f"module:{name}"] = mod._rng.bit_generator.state
        meta = {"kind": "training", "rnnlab": __version__, "config": self.config.to_dict(),
                "task": self.task.name, "step": self.step, "epoch": self.epoch,
                "batch_index": self.batch_index, "epoch_losses": self.epoch_losses,
                "history": self.history, "best_val": _json_float(self.best_val),
                "bad_epochs": self.bad_epochs, "optimizer": opt_meta, "scheduler": sched_meta,
                "rng": rngs}
        return ckpt.save_file(path, tensors, meta)

    def _check_position(self) -> None:
        """Refuse a restored position that this config and data cannot have produced."""
        n, spe = len(self.data.train), self.steps_per_epoch
        done = self.epoch * spe + (self.batch_index if self.perm is not None else 0)
        ok = (0 <= self.step <= done and 0 <= self.epoch <= self.config.epochs
              and 0 <= self.batch_index <= spe)
        if not ok:
            raise ValueError(f"expected a training position within {self.config.epochs} "
                             f"epochs of {spe} steps, got step {self.step}, epoch "
                             f"{self.epoch}, batch {self.batch_index}")
        if self.perm is not None and (self.perm.shape != (n,) or not np.array_equal(
                np.sort(self.perm), np.arange(n))):
            raise ValueError(f"expected trainer.perm to be a permutation of the {n} "
                             "training samples")

    @classmethod
    def load(cls, path: str | Path, out_dir: str | Path | None = None) -> Trainer:
        """A trainer restored from :meth:`save`: weights, optimizer, RNGs, position, history."""
        tensors, meta = ckpt.load_file(path)
        if meta.get("kind") != "training":
            raise ckpt.CheckpointError(f"{path}: expected a training checkpoint, got "
                                       f"{meta.get('kind')!r}")
        try:
            trainer = cls(TrainConfig.from_dict(meta["config"]), out_dir=out_dir)
            model_sd = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
            trainer.model.load_state_dict(model_sd)
            opt = {k[6:]: v for k, v in tensors.items() if k.startswith("optim.")}
            trainer.optimizer.load_state_dict(ckpt.unflatten(meta["optimizer"], opt))
            if trainer.scheduler is not None and meta.get("scheduler") is not None:
                sch = {k[6:]: v for k, v in tensors.items() if k.startswith("sched.")}
                trainer.scheduler.load_state_dict(ckpt.unflatten(meta["scheduler"], sch))
            trainer.step, trainer.epoch = int(meta["step"]), int(meta["epoch"])
            trainer.batch_index = int(meta["batch_index"])
            trainer.epoch_losses = [float(v) for v in meta["epoch_losses"]]
            trainer.history = list(meta["history"])
            trainer.best_val = float(meta["best_val"])
            trainer.bad_epochs = int(meta["bad_epochs"])
            trainer.perm = tensors.get("trainer.perm")
            trainer._check_position()
            rngs = meta["rng"]
            trainer.rng.bit_generator.state = rngs["trainer"]
            for name, mod in trainer.model.named_modules():
                if f"module:{name}" in rngs:
                    mod._rng.bit_generator.state = rngs[f"module:{name}"]
        except ckpt.CheckpointError:
            raise
        except (KeyError, ValueError, TypeError) as exc:
            raise ckpt.CheckpointError(f"{path}: checkpoint does not fit: {exc}") from None
        return trainer


def _json_float(v: float) -> float | str:
    return v if math.isfinite(v) else str(v)
