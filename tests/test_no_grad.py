"""``rnnlab.no_grad``: forwards that keep nothing for a backward give the same numbers, free
what an earlier forward kept, refuse a backward with a clear error, and hold for the
calling thread only."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import BUILTIN_CELLS
from toy_tasks import ToySine

import rnnlab as rl
from rnnlab.engine import config, parallel
from rnnlab.engine.recurrent import Recurrent
from rnnlab.engine.train import TrainConfig, Trainer
from rnnlab.plugins.cells import PeepholeLSTMKernel


def _flat(hn):
    return list(hn) if isinstance(hn, tuple) else [hn]


def _both_ways(layer, x, **kw):
    out, hn = layer(x, **kw)
    with rl.no_grad():
        out_ng, hn_ng = layer(x, **kw)
    return [out, *_flat(hn)], [out_ng, *_flat(hn_ng)]


@pytest.mark.parametrize("cell", [*BUILTIN_CELLS, "lstm_proj"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_same_numbers_as_a_training_forward(cell, threads, dtype, rng, monkeypatch):
    monkeypatch.setattr(parallel, "MIN_DRIVER_WORK", 0)  # 2 threads: chunks of sequences
    monkeypatch.setattr(config, "_threads", threads)
    options = {"proj_size": 5} if cell == "lstm_proj" else {}
    layer = Recurrent(cell.removesuffix("_proj"), 4, 9, num_layers=2, bidirectional=True,
                      batch_first=True, dtype=dtype, seed=1, **options)
    x = rng.standard_normal((10, 7, 4)).astype(dtype)
    lengths = rng.integers(1, 8, 10)
    want, got = _both_ways(layer, x, lengths=lengths)
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)


def test_backward_and_trace_after_it_raise_and_name_no_grad(rng):
    layer = rl.LSTM(3, 8, seed=0)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    out, _ = layer(x)
    layer.backward(np.ones_like(out))  # a training forward keeps its caches
    with rl.no_grad():
        out, _ = layer(x)  # and a no_grad forward frees them
    with pytest.raises(RuntimeError, match=r"backward\(\).*no_grad"):
        layer.backward(np.ones_like(out))
    with pytest.raises(RuntimeError, match=r"trace\(\).*no_grad"):
        layer.trace()
    out, _ = layer(x)
    dx, _ = layer.backward(np.ones_like(out))
    assert dx.shape == x.shape and np.isfinite(dx).all()


def test_a_dropout_layer_in_training_mode_keeps_nothing_either(rng):
    layer = rl.GRU(3, 8, num_layers=3, dropout=0.5, seed=0)  # train mode: dropout is active
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    with rl.no_grad():
        out, _ = layer(x)
    assert layer._caches is None
    with pytest.raises(RuntimeError, match="no_grad"):
        layer.backward(np.ones_like(out))
    assert all(not p.grad.any() for p in layer.parameters())


def test_heads_keep_nothing_and_a_model_backward_changes_no_gradient(rng):
    model = rl.Sequential(rl.Embedding(10, 4, seed=0), rl.LSTM(4, 6, batch_first=True, seed=0),
                          rl.LastStep(batch_first=True), rl.Linear(6, 3, seed=0))
    idx = rng.integers(0, 10, (2, 5))
    with rl.no_grad():
        out = model(idx)
    for i in (0, 2, 3):
        with pytest.raises(RuntimeError, match="no_grad"):
            model[i].backward(np.ones((2, 5, 4) if i == 0 else (2, 6) if i == 2 else (2, 3),
                                      np.float32))
    with pytest.raises(RuntimeError, match="no_grad"):
        model.backward(np.ones_like(out))
    assert all(not p.grad.any() for p in model.parameters())
    model(idx)
    model.backward(np.ones_like(out))
    assert any(p.grad.any() for p in model.parameters())


def test_trainer_evaluate_keeps_nothing():
    config = TrainConfig.from_dict(dict(task="toy_sine", hidden_size=8, epochs=1, seed=0))
    trainer = Trainer(config, task=ToySine())
    loss, metrics = trainer.evaluate()
    assert np.isfinite(loss) and metrics
    assert trainer.model.rnn._caches is None


def test_step_cell_and_plugin_cell_under_no_grad(rng):
    step = rl.LSTMCell(3, 6, seed=0)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    h, c = step(x)
    with rl.no_grad():
        h2, c2 = step(x)
        with pytest.raises(RuntimeError, match="no_grad"):
            step.backward(np.ones_like(h2))
    np.testing.assert_array_equal(h, h2)
    np.testing.assert_array_equal(c, c2)

    layer = Recurrent(PeepholeLSTMKernel, 3, 6, seed=0)
    xs = rng.standard_normal((5, 2, 3)).astype(np.float32)
    want, got = _both_ways(layer, xs)
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(RuntimeError, match="no_grad"):
        layer.backward(np.ones_like(got[0]))


def test_nests_restores_after_an_error_and_decorates():
    assert rl.is_grad_enabled()
    with rl.no_grad():
        with rl.no_grad():
            assert not rl.is_grad_enabled()
        assert not rl.is_grad_enabled()
    assert rl.is_grad_enabled()
    with pytest.raises(KeyError), rl.no_grad():
        {}["missing"]
    assert rl.is_grad_enabled()

    @rl.no_grad()
    def inside():
        return rl.is_grad_enabled()

    assert inside() is False and rl.is_grad_enabled()

    reused = rl.no_grad()
    with reused:
        with reused:
            assert not rl.is_grad_enabled()
        assert not rl.is_grad_enabled()
    assert rl.is_grad_enabled()


def test_holds_for_the_calling_thread_only():
    seen = []
    with rl.no_grad():
        worker = threading.Thread(target=lambda: seen.append(rl.is_grad_enabled()))
        worker.start()
        worker.join()
        seen.append(rl.is_grad_enabled())
    assert seen == [True, False]
