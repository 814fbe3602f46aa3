"""Events yielded by the trainer (:mod:`rnnlab.engine.train`); plain data, no UI knowledge.

Every event has ``step`` (optimizer steps taken so far) and ``epoch`` (0-based, the epoch
the step belongs to). Arrays in a :class:`Snapshot` are copies the consumer may keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Started:
    """The run is set up: resolved config, task spec and parameter count."""

    step: int
    epoch: int
    config: dict[str, Any]
    task: str
    cell: str
    gates: tuple[str, ...]
    states: tuple[str, ...]
    num_params: int
    steps_per_epoch: int


@dataclass
class StepDone:
    """One optimizer step on one batch."""

    step: int
    epoch: int
    loss: float
    grad_norm: float          # total gradient norm before clipping
    lr: float
    steps_per_sec: float


@dataclass
class Evaluated:
    """End of an epoch (or an evaluation point): mean train loss, validation loss/metrics."""

    step: int
    epoch: int
    train_loss: float
    val_loss: float
    metrics: dict[str, float]  # "val_<name>" keys, e.g. val_accuracy, val_mse
    best: bool                 # this is the best validation loss so far


@dataclass
class Snapshot:
    """What the model does on a fixed probe sample from the validation split.

    ``layers`` holds one dict per (layer, direction) in order ``layer * dirs + dir``, with
    the probe sample's ``"h"`` ``(T, H_out)``, optional ``"c"`` ``(T, H)``, ``"gates"``
    ``(T, G, H)`` and ``"grad_h_norm"`` ``(T,)`` (||dL/dh_t|| from the last backward of the
    probe). ``x``, ``y``, ``pred`` are the probe's input, target and prediction;
    ``param_norms`` / ``grad_norms`` map torch parameter names to L2 norms.
    """

    step: int
    epoch: int
    layers: list[dict[str, np.ndarray]]
    length: int
    x: np.ndarray
    y: np.ndarray
    pred: np.ndarray
    param_norms: dict[str, float] = field(default_factory=dict)
    grad_norms: dict[str, float] = field(default_factory=dict)


@dataclass
class Paused:
    """The trainer is paused before its next batch (only with ``yield_when_paused``); the
    consumer decides how to wait and calls ``next()`` again after ``resume()``."""

    step: int
    epoch: int


@dataclass
class Halted:
    """A NaN/Inf loss or gradient with ``on_non_finite="pause"``: the update was skipped and
    the trainer paused itself; ``resume()`` continues from the last good weights."""

    step: int
    epoch: int
    message: str


@dataclass
class Stopped:
    """The run ended. ``reason``: ``"finished"``, ``"stopped"`` (asked to), ``"early_stopping"``,
    or ``"non_finite"`` (NaN/Inf loss or gradient; ``message`` names the step)."""

    step: int
    epoch: int
    reason: str
    message: str = ""
    checkpoint: str | None = None
