"""The trainer generator: learning, determinism, exact resume, control, failure handling."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from toy_tasks import ToyParity, ToySine

from rnnlab.engine.events import Evaluated, Halted, Snapshot, Started, StepDone, Stopped
from rnnlab.engine.model import SequenceModel
from rnnlab.engine.train import TrainConfig, Trainer


def config(**kw):
    base = dict(task="toy_sine", hidden_size=16, epochs=3, batch_size=32, lr=0.02,
                snapshot_every=5, seed=0)
    return TrainConfig.from_dict({**base, **kw})


def evaluations(trainer):
    return [e for e in trainer.run() if isinstance(e, Evaluated)]


def test_sine_loss_falls_and_events_are_complete():
    tr = Trainer(config(epochs=4), task=ToySine())
    events = list(tr.run())
    assert isinstance(events[0], Started) and events[0].gates == ("i", "f", "g", "o")
    assert isinstance(events[-1], Stopped) and events[-1].reason == "finished"
    steps = [e for e in events if isinstance(e, StepDone)]
    assert len(steps) == 4 * tr.steps_per_epoch == tr.step
    evals = [e for e in events if isinstance(e, Evaluated)]
    assert evals[-1].val_loss < 0.3 * evals[0].val_loss
    assert evals[-1].metrics["val_mse"] == pytest.approx(evals[-1].val_loss, rel=1e-5)
    snaps = [e for e in events if isinstance(e, Snapshot)]
    assert len(snaps) == len(steps) // 5
    layer = snaps[-1].layers[0]
    T = snaps[-1].x.shape[0]
    assert layer["h"].shape == (T, 16) and layer["gates"].shape == (T, 4, 16)
    assert np.all(layer["grad_h_norm"][: snaps[-1].length] > 0)
    assert np.all(layer["h"][snaps[-1].length:] == 0)
    assert set(snaps[-1].grad_norms) == {n for n, _ in tr.model.named_parameters()}


def test_snapshot_does_not_disturb_training_gradients():
    tr = Trainer(config(), task=ToySine())
    gen = tr.run()
    for ev in gen:
        if isinstance(ev, StepDone) and ev.step == 2:
            break
    before = [p.grad.copy() for p in tr.model.parameters()]
    tr.snapshot(3)
    for p, g in zip(tr.model.parameters(), before):
        np.testing.assert_array_equal(p.grad, g)


@pytest.mark.parametrize("task", [ToySine, ToyParity])
def test_model_backward_without_input_gradient_keeps_every_parameter_gradient(task):
    """The trainer's ``backward(grad, input_grad=False)``: ``None`` back and the same
    ``.grad`` as a full backward, the embedding's included (it still gets its dL/dx)."""
    t = task()
    model = SequenceModel(t.spec(), "lstm", hidden_size=8, num_layers=2, dtype=np.float64,
                          seed=0)
    batch = t.make_data(0).train.batch(np.arange(8))
    loss_fn = t.loss()
    grads = []
    for wanted in (True, False):
        model.zero_grad()
        loss_fn(model(batch.x, batch.lengths), batch.y)
        dx = model.backward(loss_fn.backward(), input_grad=wanted)
        assert (dx is None) == (not wanted or task is ToyParity)
        grads.append({n: p.grad.copy() for n, p in model.named_parameters()})
    for n, g in grads[0].items():
        assert np.any(g != 0), n
        np.testing.assert_array_equal(grads[1][n], g, err_msg=n)


def test_same_seed_same_metrics_and_other_seed_differs():
    a = [e.val_loss for e in evaluations(Trainer(config(dropout=0.2, num_layers=2),
                                                 task=ToySine()))]
    b = [e.val_loss for e in evaluations(Trainer(config(dropout=0.2, num_layers=2),
                                                 task=ToySine()))]
    c = [e.val_loss for e in evaluations(Trainer(config(dropout=0.2, num_layers=2, seed=1),
                                                 task=ToySine()))]
    assert a == b
    assert a != c


@pytest.mark.parametrize("cut", [7, 8, 20])
def test_resume_mid_epoch_matches_an_uninterrupted_run(tmp_path, cut, monkeypatch):
    cfg = config(dropout=0.3, num_layers=2, schedule="cosine", optimizer="adamw")
    full = [(e.val_loss, e.metrics) for e in evaluations(Trainer(cfg, task=ToySine()))]
    tr = Trainer(cfg, task=ToySine())
    for ev in tr.run():
        if isinstance(ev, StepDone) and ev.step == cut:
            break
    tr.save(tmp_path / "cut.safetensors")
    import rnnlab.engine.registry as registry

    monkeypatch.setattr(registry, "get_task", lambda name: ToySine)
    resumed = Trainer.load(tmp_path / "cut.safetensors")
    assert resumed.step == cut
    rest = [(e.val_loss, e.metrics) for e in evaluations(resumed)]
    assert rest == full[len(full) - len(rest):]
    assert len(rest) == len(full) - (cut - 1) // tr.steps_per_epoch


def test_labelling_with_token_ids_learns():
    cfg = config(task="toy_parity", epochs=25, hidden_size=16, lr=0.03, cell="gru")
    evals = evaluations(Trainer(cfg, task=ToyParity()))
    assert evals[-1].metrics["val_accuracy"] > 0.9


def test_pause_step_and_stop_from_another_thread():
    tr = Trainer(config(epochs=1000), task=ToySine())
    seen = []
    done = threading.Event()

    def consume():
        for ev in tr.run():
            seen.append(ev)
        done.set()

    tr.pause()
    worker = threading.Thread(target=consume)
    worker.start()
    time.sleep(0.3)
    assert not any(isinstance(e, StepDone) for e in seen)
    tr.request_step()
    tr.request_step()
    time.sleep(0.5)
    assert sum(isinstance(e, StepDone) for e in seen) == 2
    tr.resume()
    time.sleep(0.3)
    t0 = time.perf_counter()
    tr.stop()
    assert done.wait(1.0), "stop did not end the run within a second"
    assert time.perf_counter() - t0 < 1.0
    worker.join()
    assert isinstance(seen[-1], Stopped) and seen[-1].reason == "stopped"


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    good = Trainer(config(epochs=1), task=ToySine(), out_dir=tmp_path)
    list(good.run())
    saved = (tmp_path / "last.safetensors").read_bytes()
    bad = Trainer(config(epochs=2), task=ToySine(poison=True), out_dir=tmp_path)
    events = list(bad.run())
    stop = events[-1]
    assert stop.reason == "non_finite" and "step 1" in stop.message
    assert (tmp_path / "last.safetensors").read_bytes() == saved
    assert stop.checkpoint == str(tmp_path / "last.safetensors")


def test_non_finite_can_pause_instead_of_stopping():
    tr = Trainer(config(epochs=2), task=ToySine(poison=True), on_non_finite="pause")
    before = [p.data.copy() for p in tr.model.parameters()]
    gen = tr.run()
    events = [next(gen), next(gen)]
    assert isinstance(events[1], Halted) and "step 1" in events[1].message
    assert tr.paused
    for p, b in zip(tr.model.parameters(), before):
        np.testing.assert_array_equal(p.data, b)
    tr.resume()
    assert isinstance(next(gen), Halted)
    tr.stop()
    assert next(gen).reason == "stopped"


def test_max_steps_within_an_epoch_resumes_exactly(tmp_path, monkeypatch):
    import rnnlab.engine.registry as registry

    monkeypatch.setattr(registry, "get_task", lambda name: ToySine)
    full = [(e.step, e.val_loss) for e in evaluations(Trainer(config(), task=ToySine()))]
    first = list(Trainer(config(max_steps=11), task=ToySine(), out_dir=tmp_path).run())
    assert first[-1].reason == "finished" and "max_steps" in first[-1].message
    assert [e.step for e in first if isinstance(e, Evaluated)] == [8]
    resumed = Trainer.load(tmp_path / "last.safetensors")
    resumed.config.max_steps = None
    rest = [(e.step, e.val_loss) for e in evaluations(resumed)]
    assert rest == full[1:]


def test_non_finite_validation_loss_is_not_checkpointed(tmp_path, monkeypatch):
    tr = Trainer(config(epochs=3), task=ToySine(), out_dir=tmp_path)
    monkeypatch.setattr(tr, "evaluate", lambda split=None: (float("inf"), {}))
    events = list(tr.run())
    assert events[-1].reason == "non_finite" and "validation loss is inf" in events[-1].message
    assert not (tmp_path / "last.safetensors").exists()


def test_overflow_in_the_forward_pass_stops_cleanly():
    cfg = config(cell="rnn_relu", optimizer="sgd", lr=1e4, clip=None, epochs=5)
    events = list(Trainer(cfg, task=ToySine()).run())
    assert events[-1].reason == "non_finite"
    assert "step" in events[-1].message


def test_checkpoint_files_are_readable_by_others(tmp_path):
    tr = Trainer(config(max_steps=1), task=ToySine())
    list(tr.run())
    path = tr.save(tmp_path / "c.safetensors")
    assert path.stat().st_mode & 0o644 == 0o644


def test_early_stopping():
    events = list(Trainer(config(epochs=50, lr=1e-9, patience=2), task=ToySine()).run())
    assert events[-1].reason == "early_stopping"
    assert sum(isinstance(e, Evaluated) for e in events) < 50


def test_max_steps_ends_the_run():
    events = list(Trainer(config(max_steps=5), task=ToySine()).run())
    assert sum(isinstance(e, StepDone) for e in events) == 5
    assert events[-1].reason == "finished"


@pytest.mark.parametrize("bad, match", [
    ({"hidden_size": 0}, "hidden_size: expected an integer >= 1, got 0"),
    ({"lr": -1.0}, "lr: expected a number > 0"),
    ({"optimizer": "lbfgs"}, "optimizer: expected one of"),
    ({"dropout": 1.0}, r"dropout: expected a number in \[0, 1\)"),
    ({"clip": 0}, "clip: expected None or a number > 0"),
    ({"dtype": "float16"}, "dtype: expected 'float32' or 'float64'"),
    ({"colour": "red"}, r"unknown setting\(s\) \['colour'\]"),
])
def test_bad_config_is_refused_with_a_reason(bad, match):
    with pytest.raises(ValueError, match=match):
        config(**bad)


def test_loading_a_weights_file_as_training_checkpoint_is_refused(tmp_path):
    import rnnlab as rl
    from rnnlab.engine.checkpoint import CheckpointError

    rl.save_weights(rl.GRU(2, 2), tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match="expected a training checkpoint"):
        Trainer.load(tmp_path / "w.safetensors")


@pytest.mark.parametrize("field, value, match", [
    ("step", -5, "training position"),
    ("batch_index", 999, "training position"),
    ("perm", np.arange(10**6), "permutation"),
])
def test_a_checkpoint_with_an_impossible_position_is_refused(tmp_path, monkeypatch, field,
                                                             value, match):
    import rnnlab.engine.registry as registry
    from rnnlab.engine import checkpoint as ckpt

    monkeypatch.setattr(registry, "get_task", lambda name: ToySine)
    tr = Trainer(config(), task=ToySine())
    gen = tr.run()
    for ev in gen:
        if isinstance(ev, StepDone) and ev.step == 3:
            break
    if field == "perm":
        tr.perm = value
        tr.save(tmp_path / "c.safetensors")
    else:
        tr.save(tmp_path / "c.safetensors")
        tensors, meta = ckpt.load_file(tmp_path / "c.safetensors")
        meta[field] = value
        meta.pop("sha256")
        ckpt.save_file(tmp_path / "c.safetensors", tensors, meta)
    with pytest.raises(ckpt.CheckpointError, match=match):
        Trainer.load(tmp_path / "c.safetensors")


def test_yield_when_paused_hands_the_wait_to_the_consumer():
    from rnnlab.engine.events import Paused

    tr = Trainer(config(epochs=100), task=ToySine())
    tr.yield_when_paused = True
    gen = tr.run()
    assert isinstance(next(gen), Started)
    tr.pause()
    assert isinstance(next(gen), Paused) and isinstance(next(gen), Paused)
    tr.request_step()
    assert isinstance(next(gen), StepDone)
    assert isinstance(next(gen), Paused) and tr.step == 1
    tr.stop()
    assert next(gen).reason == "stopped"
