"""Shared fixtures and helpers: a seeded generator, the built-in cell cases, a training
pass that keeps everything a layer computed, and forcing the unit split."""

from __future__ import annotations

import numpy as np
import pytest

BUILTIN_CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru")


@pytest.fixture
def rng() -> np.random.Generator:
    """A generator with a fixed seed, fresh for every test."""
    return np.random.default_rng(20240607)


def train_once(layer, x, lengths, dout, dh):
    """One forward and backward from zeroed gradients: ``(out, h_n, dx, dh0, grads,
    traces)`` with copies of every parameter gradient and every layer's trace."""
    layer.zero_grad()
    out, hn = layer(x, lengths=lengths)
    dx, dh0 = layer.backward(dout, dh)
    grads = {n: p.grad.copy() for n, p in layer.named_parameters()}
    traces = [dict(layer.trace(l, d)) for l in range(layer.num_layers)
              for d in range(layer.num_directions)]
    return out, hn, dx, dh0, grads, traces


def record_results(monkeypatch, owner, name: str, into: list | None = None,
                   summary=lambda result, *args: result) -> list:
    """Wrap ``owner.name`` so that each call also appends ``summary(result, *args)`` (its
    result by default) to ``into`` (a new list unless given); returns that list."""
    into = [] if into is None else into
    real = getattr(owner, name)

    def recording(*args, **kwargs):
        result = real(*args, **kwargs)
        into.append(summary(result, *args))
        return result

    monkeypatch.setattr(owner, name, recording)
    return into


def force_unit_split(monkeypatch, threads: int, min_units: int) -> None:
    """Split hidden units (at least ``min_units`` per thread) over ``threads`` threads for
    any problem size; directions and batch chunks then run one after another."""
    from rnnlab.engine import config, parallel

    monkeypatch.setattr(parallel, "MIN_SPLIT_STEP_WORK", 0)
    monkeypatch.setattr(parallel, "MIN_SPLIT_WORK", 0)
    monkeypatch.setattr(parallel, "MIN_SPLIT_UNITS", min_units)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_WORK", 10**18)
    monkeypatch.setattr(parallel, "MIN_DRIVER_WORK", 10**18)
    monkeypatch.setattr(config, "_threads", threads)
