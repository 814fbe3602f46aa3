"""Shared parameters and array helpers for the built-in tasks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...engine.task import Dataset, Split, TaskParam

PAD = 0


def samples_param(default: int = 2000) -> TaskParam:
    return TaskParam("samples", default, int, 20, 100_000,
                     help="sequences generated in total (train + validation)")


VAL_FRACTION = TaskParam("val_fraction", 0.2, float, 0.05, 0.5,
                         help="share of the samples held out for validation")


def split(x: np.ndarray, y: np.ndarray, lengths: np.ndarray | None, val_fraction: float,
          **info) -> Dataset:
    """The last ``val_fraction`` of already shuffled samples as validation, the rest train."""
    n = len(x)
    n_val = min(n - 1, max(1, round(n * val_fraction)))
    cut = n - n_val

    def part(sl: slice) -> Split:
        return Split(x[sl], y[sl], None if lengths is None else lengths[sl])

    return Dataset(part(slice(0, cut)), part(slice(cut, n)), info)


def pad_sequences(seqs: Sequence[Sequence[int]], fill: int = PAD) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad integer sequences into ``(N, T_max)`` int64 and return it with lengths."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    out = np.full((len(seqs), int(lengths.max())), fill, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out, lengths


def check_range(task: str, low_name: str, low: int, high_name: str, high: int) -> None:
    if low > high:
        raise ValueError(f"{task}: expected {low_name} <= {high_name}, got {low} > {high}")
