"""The contract every task fulfils, built-in or plugin: data, loss, metrics and a view.

Data is batch-first: ``x`` is ``(N, T, I)`` floats, or ``(N, T)`` integer token ids when the
spec has a ``vocab_size`` (the model then starts with an embedding). Targets depend on
:attr:`TaskSpec.kind`:

- ``"regression"``: ``y`` ``(N, O)`` floats, predicted from each sequence's last valid step
  (``(N, T, O)`` when ``per_step``);
- ``"classification"``: ``y`` ``(N,)`` class ids from the last valid step;
- ``"labelling"``: ``y`` ``(N, T)`` class ids at every step, ``ignore_index`` past lengths.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .cell import API_VERSION

KINDS = ("regression", "classification", "labelling")
VIEWS = ("series", "labels", "classes", "text")


@dataclass(frozen=True)
class TaskParam:
    """A task parameter the app builds its form from: default, type and allowed range."""

    name: str
    default: Any
    type: type = float
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    help: str = ""

    def validate(self, value) -> Any:
        """``value`` coerced to :attr:`type`; ``ValueError`` says what was expected."""
        want = self.type.__name__
        if self.type is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{self.name}: expected true or false, got {value!r}")
            return bool(value)
        try:
            if self.type is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            v = self.type(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name}: expected {want}, got {value!r}") from None
        if isinstance(v, float) and not np.isfinite(v):
            raise ValueError(f"{self.name}: expected a finite {want}, got {v!r}")
        if self.choices is not None and v not in self.choices:
            raise ValueError(f"{self.name}: expected one of {list(self.choices)}, got {v!r}")
        if (self.min is not None and v < self.min) or (self.max is not None and v > self.max):
            raise ValueError(f"{self.name}: expected {want} in [{self.min}, {self.max}], "
                             f"got {v!r}")
        return v


@dataclass(frozen=True)
class TaskSpec:
    """What a model for this task looks like at its two ends."""

    kind: str
    input_size: int
    output_size: int
    per_step: bool = False
    vocab_size: int | None = None
    padding_idx: int | None = None
    vocab: tuple[str, ...] | None = None
    class_names: tuple[str, ...] | None = None
    ignore_index: int = -100

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"task spec kind: expected one of {KINDS}, got {self.kind!r}")
        if self.kind == "labelling" and not self.per_step:
            object.__setattr__(self, "per_step", True)


@dataclass
class Split:
    """One data split: ``x``, ``y`` as described in the module docstring, ``lengths (N,)``."""

    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def batch(self, index: np.ndarray) -> Split:
        return Split(self.x[index], self.y[index],
                     None if self.lengths is None else self.lengths[index])


@dataclass
class Dataset:
    train: Split
    val: Split
    info: dict[str, Any] = field(default_factory=dict)


class Task(ABC):
    """A learning problem: seeded data, loss, metrics and how the app shows predictions.

    Subclasses set the class attributes, implement :meth:`spec` and :meth:`make_data`, and
    may override :meth:`metrics` / :meth:`loss`. Parameters given to the constructor are
    validated against :attr:`params` and stored in :attr:`config`.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    params: ClassVar[tuple[TaskParam, ...]] = ()
    view: ClassVar[str | None] = None
    api_version: ClassVar[tuple[int, int]] = API_VERSION
    #: what a test or user can expect, e.g. {"metric": "val_mse", "below": 0.01}
    reference: ClassVar[dict[str, Any]] = {}

    def __init__(self, **values):
        known = {p.name: p for p in self.params}
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"task {self.name!r}: unknown parameter(s) {sorted(unknown)}; "
                             f"expected some of {sorted(known)}")
        self.config = {name: p.validate(values.get(name, p.default))
                       for name, p in known.items()}

    @abstractmethod
    def spec(self) -> TaskSpec:
        """Input/output description for the current :attr:`config`."""

    @abstractmethod
    def make_data(self, seed: int) -> Dataset:
        """Train and validation splits, identical for identical ``seed`` and config."""

    def loss(self):
        """A fresh loss object (``value = loss(pred, y)``, ``loss.backward()``)."""
        from .losses import CrossEntropyLoss, MSELoss

        spec = self.spec()
        if spec.kind == "regression":
            return MSELoss()
        return CrossEntropyLoss(ignore_index=spec.ignore_index)

    def metrics(self, pred: np.ndarray, y: np.ndarray,
                lengths: np.ndarray | None = None) -> dict[str, float]:
        """Metrics of predictions (model outputs) against targets: ``mse`` or ``accuracy``."""
        spec = self.spec()
        if spec.kind == "regression":
            return {"mse": float(np.mean((pred - y) ** 2))}
        labels = pred.argmax(axis=-1)
        valid = y != spec.ignore_index
        return {"accuracy": float((labels[valid] == y[valid]).mean()) if valid.any() else 0.0}
