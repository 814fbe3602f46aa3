"""The desktop app, offscreen: controls, live views, errors, checkpoints, export, demo."""

from __future__ import annotations

import csv
import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numba
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest.importorskip("PyQt6")
pytest.importorskip("pytestqt")

from PyQt6.QtCore import QElapsedTimer, QPointF, Qt, QTimer
from PyQt6.QtGui import QImage

from rnnlab.engine import registry

pytestmark = pytest.mark.gui

SMALL = {"task": "sine", "task_params": {"length": 20, "samples": 500}, "cell": "lstm",
         "hidden_size": 16, "batch_size": 16, "epochs": 50, "snapshot_every": 10, "seed": 0}

BROKEN_PLUGINS = '''
import numpy as np
from rnnlab.engine.task import Dataset, Split, Task, TaskParam, TaskSpec


class BrokenData(Task):
    name = "broken_data"
    description = "make_data raises"
    params = (TaskParam("size", 8, int, 1, 100),)

    def spec(self):
        return TaskSpec("regression", input_size=1, output_size=1)

    def make_data(self, seed):
        raise RuntimeError("the data source is gone")


class BrokenMetrics(Task):
    name = "broken_metrics"
    description = "metrics raise after the first epoch"

    def spec(self):
        return TaskSpec("regression", input_size=1, output_size=1)

    def make_data(self, seed):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((40, 6, 1)).astype(np.float32)
        y = x[:, -1].copy()
        return Dataset(Split(x[:32], y[:32]), Split(x[32:], y[32:]))

    def metrics(self, pred, y, lengths=None):
        raise ValueError("metric exploded")


class NanLoss:
    """Mean squared error that turns NaN from its sixth batch on."""

    calls = 0

    def __init__(self):
        from rnnlab.engine.losses import MSELoss

        self.mse = MSELoss()

    def __call__(self, pred, y):
        NanLoss.calls += 1
        value = self.mse(pred, y)
        return float("nan") if NanLoss.calls > 5 else value

    def backward(self):
        return self.mse.backward()


class NanLater(Task):
    name = "nan_later"
    description = "the loss becomes NaN after a few steps"

    def spec(self):
        return TaskSpec("regression", input_size=1, output_size=1)

    def make_data(self, seed):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((80, 6, 1)).astype(np.float32)
        y = x[:, -1].copy()
        return Dataset(Split(x[:64], y[:64]), Split(x[64:], y[64:]))

    def loss(self):
        return NanLoss()


class NanOnceLoss(NanLoss):
    """Mean squared error that is NaN on its sixth call only."""

    calls = 0

    def __call__(self, pred, y):
        NanOnceLoss.calls += 1
        value = self.mse(pred, y)
        return float("nan") if NanOnceLoss.calls == 6 else value


class NanOnce(NanLater):
    name = "nan_once"
    description = "the loss is NaN once, on the sixth batch"

    def loss(self):
        return NanOnceLoss()
'''


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """Settings, plugin folders and disabled plugins live in a temporary folder."""
    monkeypatch.setenv("RNNLAB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("RNNLAB_PLUGIN_PATH", raising=False)
    monkeypatch.delenv("RNNLAB_DISABLE_PLUGINS", raising=False)
    registry.refresh()
    yield
    registry.refresh()


def new_window(**kwargs):
    """A MainWindow built with the collector paused: earlier windows' wrappers are collected
    first, not while pyqtgraph walks the new widgets (a crash seen once in many runs)."""
    from rnnlab.gui.app import MainWindow

    gc.collect()
    gc.disable()
    try:
        return MainWindow(**kwargs)
    finally:
        gc.enable()


@pytest.fixture
def window(qtbot, tmp_path):
    from rnnlab.gui.settings import AppSettings

    w = new_window(settings=AppSettings(str(tmp_path / "gui.ini")), remember=False)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    yield w
    w.close()
    for s in [w.session, *w.ending]:
        if s is not None:
            assert s.wait(5000), "the worker thread did not end"
    w.deleteLater()
    qtbot.wait(10)


def steps(w) -> int:
    return w.last_step.step if w.last_step is not None else 0


def run_until(qtbot, w, n: int, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: steps(w) >= n, timeout=timeout)


def start_small(qtbot, w, **changes) -> None:
    w.setup.set_config({**SMALL, **changes})
    assert w.start_act.isEnabled(), w.setup.error_label.text()
    w.start_act.trigger()
    qtbot.waitUntil(lambda: w.state == "running" and w.started is not None, timeout=60_000)


def run_queue_wait_ms() -> float:
    """Time this (the UI) thread has waited for a CPU so far (Linux), else 0."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
            return int(f.read().split()[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


def non_blank(image: QImage) -> int:
    """Number of distinct colours on a coarse grid of pixels."""
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7)
               for y in range(0, image.height(), 7)}
    return len(colours)


# ---------------------------------------------------------------------------------------
def test_window_opens_with_default_setup(window):
    assert window.isVisible()
    assert window.setup.task_box.currentText() == "sine"
    assert window.setup.cell_box.currentText() == "lstm"
    assert {"sine", "mod3", "charclass"} <= {window.setup.task_box.itemText(i)
                                             for i in range(window.setup.task_box.count())}
    assert window.start_act.isEnabled() and not window.stop_act.isEnabled()
    assert window.start_act.shortcut().toString() == "F5"
    cfg = window.setup.config()
    assert cfg["task"] == "sine" and cfg["hidden_size"] == 32
    assert not any(p.has_data() for p in window.panels.values())


def test_form_refuses_bad_values_with_a_reason(window):
    hidden = window.setup.model_fields["hidden_size"].widget
    hidden.setText("abc")
    assert not window.start_act.isEnabled()
    assert "hidden_size" in window.setup.error_label.text()
    assert "expected int" in window.setup.error_label.text()
    hidden.setText("32")
    lr = window.setup.train_fields["lr"].widget
    lr.setText("-1")
    assert "lr" in window.setup.error_label.text() and not window.start_act.isEnabled()
    lr.setText("0.01")
    length = next(f for f in window.setup.task_fields if f.param.name == "length")
    length.widget.setText("5000")
    assert "length" in window.setup.error_label.text()
    length.widget.setText("40")
    assert window.setup.error_label.text() == ""
    assert window.start_act.isEnabled()


def lenient_validate(self, value):
    """``TaskParam.validate`` without a finiteness check: the form must refuse NaN anyway."""
    try:
        v = self.type(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{self.name}: expected {self.type.__name__}, got {value!r}") from None
    if (self.min is not None and v < self.min) or (self.max is not None and v > self.max):
        raise ValueError(f"{self.name}: expected {self.type.__name__} in range, got {v!r}")
    return v


@pytest.mark.parametrize("params", ["engine", "lenient"])
@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "NaN", "1e999"])
def test_form_refuses_non_finite_numbers(window, monkeypatch, text, params):
    from rnnlab.engine.task import TaskParam

    if params == "lenient":
        monkeypatch.setattr(TaskParam, "validate", lenient_validate)
    setup = window.setup
    noise = next(f for f in setup.task_fields if f.param.name == "noise")
    val = next(f for f in setup.task_fields if f.param.name == "val_fraction")
    for field, name in ((noise, "noise"), (val, "val_fraction"),
                        (setup.train_fields["lr"], "lr"),
                        (setup.model_fields["dropout"], "dropout"),
                        (setup.model_fields["init_scale"], "init_scale"),
                        (setup.model_fields["hidden_size"], "hidden_size")):
        good = field.widget.text()
        field.widget.setText(text)
        assert not window.start_act.isEnabled() and not window.step_act.isEnabled()
        reason = setup.error_label.text()
        assert name in reason and ("finite" in reason or "expected int" in reason), reason
        assert "⚠" in field.widget.toolTip()
        with pytest.raises(ValueError, match=name):
            setup.config()
        field.widget.setText(good)
        assert setup.error_label.text() == "" and window.start_act.isEnabled()


def builtin_tasks() -> list[str]:
    return [n for n in registry.names("task")
            if registry.get_task(n).__module__.startswith("rnnlab.")]


def form_model(setup) -> dict:
    cfg = setup.config()
    return {k: cfg[k] for k in ("cell", "cell_options", "hidden_size", "num_layers",
                                "bidirectional", "init_scale")}


APP_MODEL = {"cell": "lstm", "cell_options": {"proj_size": 0}, "hidden_size": 32,
             "num_layers": 1, "bidirectional": False, "init_scale": None}


def test_choosing_a_task_shows_its_model_defaults_in_the_form(window):
    setup = window.setup
    setup.task_box.setCurrentText("gradflow")
    assert setup.cell_box.currentText() == "rnn_tanh"
    assert setup.model_fields["num_layers"].widget.text() == "5"
    assert setup.model_fields["init_scale"].widget.text() == "3"
    assert setup.cell_fields == []  # rnn_tanh has no options: no lstm proj_size left over
    assert form_model(setup) == {**APP_MODEL, "cell": "rnn_tanh", "cell_options": {},
                                 "num_layers": 5, "init_scale": 3.0}
    assert setup.error_label.text() == "" and window.start_act.isEnabled()

    # what the user picks afterwards wins
    setup.cell_box.setCurrentText("gru")
    setup.model_fields["num_layers"].widget.setText("2")
    cfg = setup.config()
    assert (cfg["cell"], cfg["num_layers"], cfg["init_scale"]) == ("gru", 2, 3.0)

    # the next task resets what gradflow set and the user left alone
    setup.task_box.setCurrentText("sine")
    cfg = setup.config()
    assert (cfg["cell"], cfg["num_layers"], cfg["init_scale"]) == ("gru", 2, None)
    assert setup.model_fields["init_scale"].widget.text() == ""

    setup.task_box.setCurrentText("gradflow")
    setup.task_box.setCurrentText("sine")
    assert form_model(setup) == APP_MODEL
    assert [f.param.name for f in setup.cell_fields] == ["proj_size"]

    setup.task_box.setCurrentText("sentiment")
    assert setup.cell_box.currentText() == "rnn_tanh"
    assert setup.model_fields["bidirectional"].widget.isChecked()
    assert form_model(setup) == {**APP_MODEL, "cell": "rnn_tanh", "cell_options": {},
                                 "bidirectional": True}
    setup.model_fields["bidirectional"].widget.setChecked(False)
    assert setup.config()["bidirectional"] is False

    setup.task_box.setCurrentText("gradflow")  # sentiment's cell is gradflow's cell too
    assert form_model(setup) == {**APP_MODEL, "cell": "rnn_tanh", "cell_options": {},
                                 "num_layers": 5, "init_scale": 3.0}
    setup.task_box.setCurrentText("mod3")
    assert form_model(setup) == APP_MODEL
    assert setup.extra == {}


def test_a_loaded_setup_counts_as_the_tasks_defaults(window):
    from rnnlab.engine.train import TrainConfig

    window.setup.set_config(TrainConfig.for_task("gradflow").to_dict())
    assert form_model(window.setup)["num_layers"] == 5
    window.setup.task_box.setCurrentText("sine")
    assert form_model(window.setup) == APP_MODEL


def test_every_builtin_task_steps_with_its_defaults(qtbot, window):
    """Choosing a task in the list, then Step: one batch trains with the form as shown,
    every setting at its default."""
    tasks = builtin_tasks()
    assert {"sine", "gradflow", "sentiment", "mod3"} <= set(tasks)
    for name in tasks:
        window.setup.task_box.setCurrentText(name)
        assert window.step_act.isEnabled(), (name, window.setup.error_label.text())
        shown = form_model(window.setup)
        window.step_act.trigger()
        qtbot.waitUntil(lambda: window.state == "failed"
                        or (window.state == "paused" and steps(window) == 1), timeout=60_000)
        assert window.state == "paused", (name, window.errors)
        trainer = window.session.trainer
        ran = trainer.config.to_dict()
        assert {k: ran[k] for k in shown} == shown, name
        assert window.started.cell == shown["cell"]
        window.reset_act.trigger()
        assert window.state == "idle" and window.setup.isEnabled()


def test_start_trains_loss_falls_and_every_view_has_data(qtbot, window):
    start_small(qtbot, window)
    run_until(qtbot, window, 300)
    qtbot.waitUntil(lambda: all(p.has_data() for p in window.panels.values()), timeout=10_000)
    losses = window.loss.losses.values
    assert np.mean(losses[:20]) > 3 * np.mean(losses[-20:])
    assert len(window.evaluations) >= 1 and "val_mse" in window.evaluations[0]
    assert window.gates.gates == ("i", "f", "g", "o")
    assert window.hidden.h.shape == (20, 16)
    assert window.task_view.kind == "series"
    assert "steps/s" in window.progress.text()
    window.stop_act.trigger()
    qtbot.waitUntil(lambda: window.state == "stopped", timeout=5_000)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="the guarantee rests on compiled kernels "
                    "releasing the GIL; interpreted ones hold it between bytecode switches")
def test_ui_stays_responsive_while_training_and_stop_is_fast(qtbot, window):
    """Default task (sine, lstm): event-loop latency p99 < 50 ms; Stop ends within 1 s."""
    from rnnlab.engine.train import TrainConfig

    window.setup.set_config({**TrainConfig().to_dict(), "epochs": 10_000})
    window.start_act.trigger()
    qtbot.waitUntil(lambda: steps(window) >= 5, timeout=60_000)
    gaps, waits, clock, last = [], [], QElapsedTimer(), [0, run_queue_wait_ms()]
    clock.start()

    def ping():
        now, wait = clock.elapsed(), run_queue_wait_ms()
        gaps.append(now - last[0])
        waits.append(wait - last[1])
        last[:] = [now, wait]

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(ping)
    last[0] = clock.elapsed()
    timer.start()
    qtbot.wait(3000)
    timer.stop()
    latency = np.array(gaps[1:], dtype=float) - 10.0
    # the part of each gap the UI thread spent runnable but waiting for a core taken by
    # other processes: on a shared, oversubscribed machine this is not the app's doing
    own = np.maximum(latency - np.array(waits[1:]), 0.0)
    p99, own_p99 = float(np.percentile(latency, 99)), float(np.percentile(own, 99))
    load = os.getloadavg()[0]
    print(f"event-loop latency: p50 {np.median(latency):.1f} ms, p99 {p99:.1f} ms; without "
          f"run-queue waits p99 {own_p99:.1f} ms; {len(latency)} pings, {steps(window)} "
          f"steps, load {load:.1f} on {os.cpu_count()} cores")
    assert len(latency) > 100
    if load < (os.cpu_count() or 1):
        assert p99 < 50.0
    else:  # oversubscribed (other jobs): the worker can be preempted holding the GIL
        assert own_p99 < 150.0 and p99 < 300.0
    assert window.state == "running"
    t0 = time.perf_counter()
    window.stop_act.trigger()
    qtbot.waitUntil(lambda: window.state == "stopped", timeout=5_000)
    elapsed = time.perf_counter() - t0
    print(f"stop latency: {elapsed * 1000:.0f} ms (worker: {window.stop_latency})")
    assert elapsed < 1.0
    assert window.session.wait(2000)


def test_pause_resume_step_stop_reset(qtbot, window):
    start_small(qtbot, window)
    run_until(qtbot, window, 20)
    window.pause_act.trigger()
    assert window.state == "paused" and window.pause_act.text() == "Resume"
    qtbot.wait(300)  # the batch in flight finishes
    frozen = steps(window)
    qtbot.wait(500)
    assert steps(window) == frozen
    # parked: a fresh snapshot of the current weights is shown
    qtbot.waitUntil(lambda: window.snapshot is not None and window.snapshot.step == frozen,
                    timeout=5_000)
    window.step_act.trigger()
    qtbot.waitUntil(lambda: steps(window) == frozen + 1, timeout=5_000)
    qtbot.wait(300)
    assert steps(window) == frozen + 1
    qtbot.waitUntil(lambda: window.snapshot.step == frozen + 1, timeout=5_000)
    window.pause_act.trigger()  # resume
    assert window.state == "running"
    run_until(qtbot, window, frozen + 30)
    window.stop_act.trigger()
    qtbot.waitUntil(lambda: window.state == "stopped", timeout=5_000)
    assert window.start_act.isEnabled() and window.setup.isEnabled()
    window.reset_act.trigger()
    assert window.state == "idle" and window.session is None
    assert not any(p.has_data() for p in window.panels.values())
    assert window.progress.text() == ""


def test_step_from_idle_trains_exactly_one_batch(qtbot, window):
    window.setup.set_config(SMALL)
    window.step_act.trigger()
    qtbot.waitUntil(lambda: steps(window) == 1 and window.state == "paused", timeout=60_000)
    qtbot.waitUntil(lambda: window.snapshot is not None, timeout=5_000)
    qtbot.wait(300)
    assert steps(window) == 1
    window.stop_act.trigger()
    qtbot.waitUntil(lambda: window.state == "stopped", timeout=5_000)


def test_plugin_errors_show_a_dialog_and_the_app_survives(qtbot, window, tmp_path,
                                                          monkeypatch):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "broken_tasks.py").write_text(BROKEN_PLUGINS)
    (folder / "does_not_import.py").write_text("import no_such_module_here\n")
    monkeypatch.setenv("RNNLAB_PLUGIN_PATH", str(folder))
    registry.refresh()
    window.setup.reload()

    # a task that raises while building its data
    window.setup.set_config({**SMALL, "task": "broken_data", "task_params": {}})
    assert window.setup.task_box.currentText() == "broken_data"
    window.start_act.trigger()
    qtbot.waitUntil(lambda: window.state == "failed", timeout=30_000)
    assert any("the data source is gone" in e for e in window.errors)
    box = window.dialogs[-1]
    assert box.isVisible() and "RuntimeError" in box.text()
    assert "make_data" in box.detailedText()
    box.accept()

    # a task that raises in the middle of training (after the first epoch's steps)
    window.setup.set_config({**SMALL, "task": "broken_metrics", "task_params": {}})
    window.start_act.trigger()
    qtbot.waitUntil(lambda: window.state == "failed", timeout=30_000)
    assert steps(window) >= 1
    assert any("metric exploded" in e for e in window.errors)

    # the app keeps working: the default task still trains
    start_small(qtbot, window)
    run_until(qtbot, window, 30)
    window.stop_act.trigger()
    qtbot.waitUntil(lambda: window.state == "stopped", timeout=5_000)

    # the plugin manager lists the broken file with its error
    dlg = window.show_plugins()
    rows = {dlg.table.item(r, 1).text(): dlg.table.item(r, 6).text()
            for r in range(dlg.table.rowCount())}
    assert "no_such_module_here" in rows["does_not_import"]
    assert rows["broken_data"] == ""
    dlg.close()


def nan_plugins(tmp_path, monkeypatch, window, module: str) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / f"{module}.py").write_text(BROKEN_PLUGINS)  # module names are unique
    monkeypatch.setenv("RNNLAB_PLUGIN_PATH", str(folder))
    registry.refresh()
    window.setup.reload()


def test_nan_loss_pauses_with_a_warning_and_resume_continues(qtbot, window, tmp_path,
                                                             monkeypatch):
    nan_plugins(tmp_path, monkeypatch, window, "nan_once_tasks")
    window.setup.set_config({**SMALL, "task": "nan_once", "task_params": {}, "batch_size": 8})
    assert window.setup.task_box.currentText() == "nan_once"
    window.start_act.trigger()
    qtbot.waitUntil(lambda: bool(window.halts), timeout=30_000)
    session, trainer = window.session, window.session.trainer
    assert window.state == "paused" and session.paused and trainer.paused
    assert window.halts[0].step == 5 and steps(window) == 5
    box = window.dialogs[-1]
    assert box.isVisible() and box.icon() == box.Icon.Warning
    assert "Non-finite values at step 6" in box.text() and "paused" in box.text()
    assert "the loss is nan" in box.detailedText()
    assert "Training paused" in window.message.text()
    assert window.state_label.text().endswith(">paused</b>")
    assert window.start_act.text() == "Resume" and window.start_act.isEnabled()
    assert window.loss.has_data()  # the views keep the run so far
    qtbot.wait(300)
    assert trainer.step == 5  # stays paused
    box.accept()

    window.step_act.trigger()  # Step trains the skipped batch's successor
    qtbot.waitUntil(lambda: steps(window) == 6, timeout=5_000)
    qtbot.wait(200)
    assert steps(window) == 6 and window.state == "paused"
    window.start_act.trigger()  # Resume: the same run goes on
    assert window.state == "running"
    run_until(qtbot, window, 40)
    assert window.session is session and session.trainer is trainer
    assert len(window.halts) == 1 and window.state == "running"
    window.stop_act.trigger()
    qtbot.waitUntil(lambda: window.state == "stopped", timeout=5_000)
    window.reset_act.trigger()
    assert window.state == "idle" and window.session is None


def test_a_loss_that_stays_nan_pauses_again_and_stop_ends_it(qtbot, window, tmp_path,
                                                            monkeypatch):
    nan_plugins(tmp_path, monkeypatch, window, "nan_later_tasks")
    window.setup.set_config({**SMALL, "task": "nan_later", "task_params": {}, "batch_size": 8})
    window.start_act.trigger()
    qtbot.waitUntil(lambda: bool(window.halts), timeout=30_000)
    assert window.state == "paused" and steps(window) == 5
    window.start_act.trigger()  # Resume: the next batch is NaN as well
    qtbot.waitUntil(lambda: len(window.halts) == 2, timeout=10_000)
    assert window.state == "paused" and steps(window) == 5
    assert len([b for b in window.dialogs if b.isVisible()]) <= 2
    window.stop_act.trigger()
    qtbot.waitUntil(lambda: window.state == "stopped", timeout=5_000)
    assert window.start_act.isEnabled() and window.start_act.text() == "Start"


def test_save_then_load_restores_the_model(qtbot, window, tmp_path):
    start_small(qtbot, window, hidden_size=8)
    run_until(qtbot, window, 40)
    window.pause_act.trigger()
    path = tmp_path / "run.safetensors"
    with qtbot.waitSignal(window.checkpoint_saved, timeout=10_000):
        window.save_checkpoint(str(path))
    assert path.exists()
    trainer = window.session.trainer
    saved = {k: v.copy() for k, v in trainer.model.state_dict().items()}
    saved_step = trainer.step
    window.reset_act.trigger()
    window.setup.set_config({**SMALL, "hidden_size": 24})

    window.load_checkpoint(str(path))
    qtbot.waitUntil(lambda: window.state == "paused" and window.snapshot is not None,
                    timeout=30_000)
    loaded = window.session.trainer
    assert loaded is not trainer and loaded.step == saved_step
    state = loaded.model.state_dict()
    assert state.keys() == saved.keys()
    for k, v in saved.items():
        np.testing.assert_array_equal(state[k], v)
    assert window.setup.config()["hidden_size"] == 8  # the form shows the loaded run
    assert window.hidden.h.shape[1] == 8
    # resuming continues from the saved step
    window.start_act.trigger()
    qtbot.waitUntil(lambda: steps(window) > saved_step + 5, timeout=30_000)
    window.stop_act.trigger()
    qtbot.waitUntil(lambda: window.state == "stopped", timeout=5_000)


def test_heatmap_click_follows_a_unit_and_hover_reads_values(qtbot, window):
    start_small(qtbot, window)
    qtbot.waitUntil(lambda: window.snapshot is not None, timeout=30_000)
    window.pause_act.trigger()
    qtbot.wait(200)
    panel = window.hidden
    view = panel.view
    scene_pos = panel.heat.vb.mapViewToScene(QPointF(5.0, 7.0))
    pos = view.mapFromScene(scene_pos)
    qtbot.mouseMove(view.viewport(), pos)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: panel.unit == 7, timeout=2_000)
    assert window.gates.unit == 7 and window.gates.title.text() == "Gates of unit 7"
    np.testing.assert_allclose(panel.h_curve.yData, panel.h[: panel.length, 7])
    panel._hover_heat(5.0, 7.0)
    assert panel.readout.text().startswith("timestep 5, unit 7: h = ")
    window.loss._hover(float(steps(window)), 0.0)
    assert "train" in window.loss.readout.text()


def test_log_scale_toggle(qtbot, window):
    assert window.loss.plot.getPlotItem().ctrl.logYCheck.isChecked()
    window.log_act.trigger()
    assert not window.loss.log_box.isChecked()
    assert not window.loss.plot.getPlotItem().ctrl.logYCheck.isChecked()
    window.loss.log_box.setChecked(True)
    assert window.log_act.isChecked()


def test_export_plots_and_metrics(qtbot, window, tmp_path):
    start_small(qtbot, window)
    qtbot.waitUntil(lambda: len(window.evaluations) >= 2, timeout=60_000)
    window.stop_act.trigger()
    qtbot.waitUntil(lambda: window.state == "stopped", timeout=5_000)
    pngs = window.export_plots(str(tmp_path / "png"))
    assert {p.name for p in pngs} >= {"loss.png", "hidden-state.png", "plots.png"}
    for p in pngs:
        img = QImage(str(p))
        assert not img.isNull() and non_blank(img) > 10
    main, per_step = window.export_metrics(str(tmp_path / "metrics.csv"))
    rows = list(csv.DictReader(main.read_text().splitlines()))
    assert list(rows[0]) == ["epoch", "step", "train_loss", "val_loss", "val_mse"]
    assert len(rows) == len(window.evaluations)
    step_rows = list(csv.DictReader(per_step.read_text().splitlines()))
    assert len(step_rows) == steps(window) and step_rows[0]["step"] == "1"


def test_plugin_manager_disables_and_enables(qtbot, window):
    dlg = window.show_plugins()
    names = [dlg.table.item(r, 1).text() for r in range(dlg.table.rowCount())]
    assert "lstm" in names and "sine" in names
    dlg.set_enabled("gru", False)
    cells = [window.setup.cell_box.itemText(i) for i in range(window.setup.cell_box.count())]
    assert "gru" not in cells
    status = {dlg.table.item(r, 1).text(): dlg.table.item(r, 5).text()
              for r in range(dlg.table.rowCount())}
    assert status["gru"] == "disabled"
    dlg.set_enabled("gru", True)
    cells = [window.setup.cell_box.itemText(i) for i in range(window.setup.cell_box.count())]
    assert "gru" in cells
    dlg.close()


def test_settings_and_layout_are_remembered(qtbot, tmp_path):
    from rnnlab.gui.settings import AppSettings

    path = str(tmp_path / "gui.ini")
    w = new_window(settings=AppSettings(path))
    qtbot.addWidget(w)
    w.setup.set_config({**SMALL, "task": "mod3", "task_params": {}, "hidden_size": 12})
    w.loss.set_log(False)
    w.top.setSizes([500, 250, 250])
    sizes = w.top.sizes()
    w.close()
    w2 = new_window(settings=AppSettings(path))
    qtbot.addWidget(w2)
    assert w2.setup.task_box.currentText() == "mod3"
    assert w2.setup.config()["hidden_size"] == 12
    assert not w2.loss.log_box.isChecked()
    assert w2.top.sizes() == sizes
    w2.close()


@pytest.mark.parametrize("task,kind", [("mod3", "labels"), ("charclass", "text")])
def test_task_views(qtbot, window, task, kind):
    from rnnlab.engine.train import TrainConfig

    cfg = TrainConfig.for_task(task, hidden_size=8, batch_size=16, snapshot_every=2)
    window.setup.set_config(cfg.to_dict())
    window.step_act.trigger()
    qtbot.waitUntil(lambda: window.snapshot is not None and window.state == "paused",
                    timeout=60_000)
    assert window.task_view.kind == kind
    assert window.task_view.has_data()
    if kind == "text":
        assert "<span" in window.task_view.views["text"].html
    window.stop_act.trigger()
    qtbot.waitUntil(lambda: window.state == "stopped", timeout=5_000)


def test_demo_writes_a_screenshot(tmp_path):
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "RNNLAB_CONFIG_DIR": str(tmp_path / "config")}
    code = textwrap.dedent(f"""
        import sys
        from rnnlab.gui.app import main
        sys.exit(main(["--demo", "3", "--screenshot", {str(out)!r}]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    img = QImage(str(out))
    assert (img.width(), img.height()) == (1280, 800)
    assert non_blank(img) > 50
    assert not Path(tmp_path / "config" / "gui.ini").exists()  # a demo changes no settings


def test_demo_keeps_the_window_up_after_a_short_run(qtbot, window, tmp_path):
    from rnnlab.gui.app import Demo

    out = tmp_path / "demo.png"
    quits = []
    demo = Demo(window, 2.0, str(out), config={**SMALL, "epochs": 1})
    demo.quit = quits.append
    demo.begin()
    qtbot.waitUntil(lambda: window.state == "finished" and demo.started_at is not None,
                    timeout=60_000)
    assert demo.finished_at is None
    assert window.isVisible() and not out.exists()
    qtbot.waitUntil(lambda: bool(quits), timeout=30_000)
    assert demo.finished_at - demo.started_at >= 2.0
    assert quits == [0] and demo.code == 0
    img = QImage(str(out))
    assert not img.isNull() and non_blank(img) > 50


def test_closing_while_the_run_is_being_built_ends_cleanly(qtbot, tmp_path, monkeypatch):
    from rnnlab.gui import app
    from rnnlab.gui.settings import AppSettings

    real = app.make_trainer

    def slow(config):  # stands in for a slow dataset or a first kernel compilation
        time.sleep(0.5)
        return real(config)

    monkeypatch.setattr(app, "make_trainer", slow)
    w = new_window(settings=AppSettings(str(tmp_path / "gui.ini")), remember=False)
    qtbot.addWidget(w)
    w.setup.set_config(SMALL)
    w.start_act.trigger()
    session = w.session
    assert w.state == "building" and w.stop_act.isEnabled()
    w.close()
    assert session.isFinished() and session.error is None
    assert [type(e).__name__ for e in session.buffer.drain()][-1] == "Stopped"
