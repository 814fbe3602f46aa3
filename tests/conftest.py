"""Shared fixtures: a seeded generator and the built-in cell cases."""

from __future__ import annotations

import numpy as np
import pytest

BUILTIN_CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru")


@pytest.fixture
def rng() -> np.random.Generator:
    """A generator with a fixed seed, fresh for every test."""
    return np.random.default_rng(20240607)
