"""The main window and ``main(argv)``: ``rnnlab gui [--demo SECONDS --screenshot FILE]``."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np
from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..engine.events import Evaluated, Halted, Snapshot, Started, StepDone, Stopped
from .export import export_pngs, write_metrics_csv
from .plots import GatesPanel, GradientPanel, HiddenPanel, LossPanel, NormsPanel, TaskPanel
from .plots.hidden import layer_names
from .plots.taskview import view_kind
from .settings import AppSettings
from .setup_panel import SetupPanel
from .style import apply_pyqtgraph_defaults
from .worker import TrainSession

REFRESH_MS = 100    # how often the UI thread takes the worker's events
RENDER_S = 0.25     # how often each view is redrawn at most while training runs
#: the views in the order they take turns; while training runs one is drawn per tick
VIEWS = ("loss", "norms", "hidden", "gates", "gradient", "task")
ACTIVE = ("building", "running", "paused", "stopping")
STATE_COLOURS = {"idle": "#555", "building": "#0072B2", "running": "#1a7f37",
                 "paused": "#B07000", "stopping": "#B07000", "finished": "#555",
                 "stopped": "#555", "failed": "#C03000"}


def leave_a_core_for_the_ui() -> int:
    """Numba and BLAS use all cores but one, so drawing never waits for a free core."""
    from ..engine.config import CORES, set_threads

    return set_threads(max(1, CORES - 1))


def make_trainer(config: dict):
    """A trainer that pauses (``Halted``) on a NaN/Inf loss or gradient instead of ending."""
    from ..engine.train import Trainer

    return Trainer(config, on_non_finite="pause")


def load_trainer(path: str):
    """A trainer restored from a checkpoint, pausing on NaN/Inf like :func:`make_trainer`."""
    from ..engine.train import Trainer

    trainer = Trainer.load(path)
    trainer.on_non_finite = "pause"
    return trainer


class MainWindow(QMainWindow):
    """Setup dock on the left, live views in the centre, run controls in the toolbar."""

    checkpoint_saved = pyqtSignal(str)
    run_ended = pyqtSignal(str)  # the Stopped reason, "failed" or "cancelled"

    def __init__(self, settings: AppSettings | None = None, remember: bool = True):
        super().__init__()
        apply_pyqtgraph_defaults()
        leave_a_core_for_the_ui()
        self.settings = settings or AppSettings()
        self.remember = remember
        self.session: TrainSession | None = None
        self.ending: list[TrainSession] = []
        self.state = "idle"
        self.started: Started | None = None
        self.snapshot: Snapshot | None = None
        self.last_step: StepDone | None = None
        self.evaluations: list[dict] = []
        self.step_rows: list[tuple] = []
        self.dialogs: list[QMessageBox] = []
        self.errors: list[str] = []
        self.halts: list[Halted] = []
        self._rate = deque(maxlen=64)
        self._form_ok, self._form_reason = True, ""
        self._auto_unit = True
        self._stop_clicked_at: float | None = None
        self.stop_latency: float | None = None
        self._stale: set[str] = set()   # views whose data changed since they were drawn
        self._drawn_at = dict.fromkeys(VIEWS, 0.0)
        self._render_turn = 0
        self._placeholders_shown = True

        self.setWindowTitle("rnnlab")
        self._build_views()
        self._build_setup()
        self._build_actions()
        self._build_status()
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self._restore()
        self._set_state("idle")
        self._update_placeholders()
        if self._form_ok:
            self.say("Choose a task and a cell, then press Start (F5) or Step (F10)")

    # construction ------------------------------------------------------------------------
    def _build_views(self) -> None:
        self.loss = LossPanel()
        self.norms = NormsPanel()
        self.task_view = TaskPanel()
        self.hidden = HiddenPanel()
        self.gates = GatesPanel()
        self.gradient = GradientPanel()
        self.hidden.selection_changed.connect(self._selection_changed)

        self.top = QSplitter(Qt.Orientation.Horizontal)
        for w in (self.loss, self.norms, self.task_view):
            self.top.addWidget(w)
        self.right = QSplitter(Qt.Orientation.Vertical)
        self.right.addWidget(self.gates)
        self.right.addWidget(self.gradient)
        self.bottom = QSplitter(Qt.Orientation.Horizontal)
        self.bottom.addWidget(self.hidden)
        self.bottom.addWidget(self.right)
        self.central = QSplitter(Qt.Orientation.Vertical)
        self.central.addWidget(self.top)
        self.central.addWidget(self.bottom)
        for s in (self.top, self.right, self.bottom, self.central):
            s.setChildrenCollapsible(False)
            s.setHandleWidth(4)
        for split, factors in ((self.top, (4, 3, 3)), (self.bottom, (3, 2)),
                               (self.central, (3, 5))):
            for i, f in enumerate(factors):
                split.setStretchFactor(i, f)
        self.top.setSizes([380, 300, 320])
        self.bottom.setSizes([580, 420])
        self.central.setSizes([260, 440])
        self.central.setStyleSheet("QSplitter { background: #eef0f2; }")
        self.setCentralWidget(self.central)

    @property
    def panels(self) -> dict[str, QWidget]:
        return {"loss": self.loss, "parameter-norms": self.norms, "task-view": self.task_view,
                "hidden-state": self.hidden, "gates": self.gates,
                "gradient-through-time": self.gradient}

    def _build_setup(self) -> None:
        self.setup = SetupPanel()
        self.setup.validity_changed.connect(self._form_validity)
        scroll = QScrollArea()
        scroll.setWidget(self.setup)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.lock_note = QLabel("These settings belong to the current run. "
                                "Reset (or Stop) to edit them.")
        self.lock_note.setWordWrap(True)
        self.lock_note.setStyleSheet("background: #fff6e0; color: #6b4e00; padding: 4px; "
                                     "font-size: 8pt;")
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.lock_note)
        lay.addWidget(scroll, 1)
        self.dock = QDockWidget("Setup", self)
        self.dock.setObjectName("setup-dock")
        self.dock.setWidget(box)
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                              | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                              | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        self.resizeDocks([self.dock], [270], Qt.Orientation.Horizontal)

    def _action(self, text, slot, shortcut=None, icon=None, tip="") -> QAction:
        a = QAction(text, self)
        if icon is not None:
            a.setIcon(self.style().standardIcon(icon))
        if shortcut:
            a.setShortcut(QKeySequence(shortcut))
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        keys = f" ({a.shortcut().toString()})" if shortcut else ""
        a.setToolTip(f"{tip or text}{keys}")
        a.setStatusTip(tip or text)
        a.triggered.connect(lambda _=False: slot())
        self.addAction(a)
        return a

    def _build_actions(self) -> None:
        SP = QStyle.StandardPixmap
        self.start_act = self._action("Start", self.start, "F5", SP.SP_MediaPlay,
                                      "Start training with the Setup (or resume)")
        self.pause_act = self._action("Pause", self.toggle_pause, "F6", SP.SP_MediaPause,
                                      "Pause or resume training")
        self.step_act = self._action("Step", self.step, "F10", SP.SP_MediaSkipForward,
                                     "Train on one batch, then pause")
        self.stop_act = self._action("Stop", self.stop, "Shift+F5", SP.SP_MediaStop,
                                     "End the run")
        self.reset_act = self._action("Reset", self.reset, "Ctrl+Shift+R",
                                      SP.SP_BrowserReload, "End the run and clear the views")
        self.save_act = self._action("Save", self.save_checkpoint, "Ctrl+S",
                                     SP.SP_DialogSaveButton, "Save a checkpoint")
        self.load_act = self._action("Load", self.load_checkpoint, "Ctrl+O",
                                     SP.SP_DialogOpenButton, "Load a checkpoint (paused)")
        self.export_png_act = self._action("Export plots as PNG…", self.export_plots, "Ctrl+E",
                                           tip="One PNG per view and one of all views")
        self.export_csv_act = self._action("Export metrics as CSV…", self.export_metrics,
                                           "Ctrl+Shift+E", tip="Metrics per epoch and per step")
        self.plugins_act = self._action("Plugins", self.show_plugins, "Ctrl+Shift+P",
                                        SP.SP_FileDialogDetailedView,
                                        "Plugin manager: status, errors, enable/disable")
        self.log_act = self._action("Log-scale loss", lambda: None, "Ctrl+L")
        self.log_act.setCheckable(True)
        self.log_act.setChecked(self.loss.log_box.isChecked())
        self.log_act.toggled.connect(self.loss.set_log)
        self.loss.log_box.toggled.connect(self.log_act.setChecked)
        quit_act = self._action("Quit", self.close, "Ctrl+Q")

        tb = self.addToolBar("Run")
        tb.setObjectName("run-toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for a in (self.start_act, self.pause_act, self.step_act, self.stop_act,
                  self.reset_act):
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.save_act)
        tb.addAction(self.load_act)
        export = QToolButton()
        export.setText("Export")
        export.setIcon(self.style().standardIcon(SP.SP_DriveFDIcon))
        export.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        export.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        export.addAction(self.export_png_act)
        export.addAction(self.export_csv_act)
        export.setToolTip("Export plots (PNG) or metrics (CSV)")
        tb.addWidget(export)
        tb.addAction(self.plugins_act)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        self.progress = QLabel("")
        self.progress.setStyleSheet("color: #333; padding-right: 8px;")
        tb.addWidget(self.progress)

        bar = self.menuBar()
        m = bar.addMenu("&File")
        for a in (self.load_act, self.save_act):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.export_png_act)
        m.addAction(self.export_csv_act)
        m.addSeparator()
        m.addAction(quit_act)
        m = bar.addMenu("&Run")
        for a in (self.start_act, self.pause_act, self.step_act, self.stop_act,
                  self.reset_act):
            m.addAction(a)
        m = bar.addMenu("&View")
        m.addAction(self.dock.toggleViewAction())
        m.addAction(self.log_act)
        m = bar.addMenu("&Plugins")
        m.addAction(self.plugins_act)

    def _build_status(self) -> None:
        self.message = QLabel("")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.statusBar().addWidget(self.message, 1)
        self.state_label = QLabel("")
        self.statusBar().addPermanentWidget(self.state_label)

    # settings ----------------------------------------------------------------------------
    def _restore(self) -> None:
        s = self.settings
        if self.remember:
            cfg = s.config()
            if cfg:
                self.setup.set_config(cfg)
            geometry = s.bytes("window/geometry")
            if geometry is not None:
                self.restoreGeometry(geometry)
            state = s.bytes("window/state")
            if state is not None:
                self.restoreState(state)
            for name, split in self._splitters().items():
                sizes = s.bytes(f"splitters/{name}")
                if sizes is not None:
                    split.restoreState(sizes)
            self.loss.set_log(s.get("view/log_loss", True, bool))
        self.setup._validate()

    def _splitters(self) -> dict[str, QSplitter]:
        return {"top": self.top, "right": self.right, "bottom": self.bottom,
                "central": self.central}

    def save_settings(self) -> None:
        if not self.remember:
            return
        s = self.settings
        try:
            s.set_config(self.setup.config())
        except ValueError:
            pass
        s.set_bytes("window/geometry", self.saveGeometry())
        s.set_bytes("window/state", self.saveState())
        for name, split in self._splitters().items():
            s.set_bytes(f"splitters/{name}", split.saveState())
        s.set("view/log_loss", self.loss.log_box.isChecked())
        s.sync()

    # state -------------------------------------------------------------------------------
    def _alive(self) -> bool:
        """A run is under way (its thread may outlive it briefly after it ended)."""
        return self.session is not None and self.state in ACTIVE

    def _set_state(self, state: str) -> None:
        self.state = state
        alive = state in ACTIVE
        self.start_act.setEnabled((not alive and self._form_ok) or state == "paused")
        self.start_act.setText("Resume" if state == "paused" else "Start")
        self.pause_act.setEnabled(state in ("running", "paused"))
        self.pause_act.setText("Resume" if state == "paused" else "Pause")
        self.step_act.setEnabled(state in ("running", "paused")
                                 or (not alive and self._form_ok))
        self.stop_act.setEnabled(state in ("building", "running", "paused"))
        self.reset_act.setEnabled(True)
        has_trainer = self.session is not None and self.session.trainer is not None
        self.save_act.setEnabled(has_trainer and state != "stopping")
        self.setup.setEnabled(not alive)
        self.lock_note.setVisible(alive)
        colour = STATE_COLOURS.get(state, "#333")
        self.state_label.setText(f'<b style="color:{colour}">{state}</b>')
        if not alive and not self._form_ok:
            self.start_act.setToolTip(f"Start is off: {self._form_reason}")
        else:
            self.start_act.setToolTip("Start training with the Setup (or resume) (F5)")

    def _form_validity(self, ok: bool, reason: str) -> None:
        was_ok = self._form_ok
        self._form_ok, self._form_reason = ok, reason
        if hasattr(self, "start_act"):
            self._set_state(self.state)
            if not ok:
                self.say(f"Setup: {reason}", error=True)
            elif not was_ok:
                self.say("")

    def say(self, text: str, error: bool = False) -> None:
        colour = "#C03000" if error else "#333"
        self.message.setStyleSheet(f"color: {colour};")
        self.message.setText(text)

    def show_error(self, title: str, message: str, details: str = "",
                   icon=QMessageBox.Icon.Critical) -> QMessageBox:
        """A non-blocking dialog with the details; the message also goes to the status bar."""
        self.errors.append(message)
        self.say(f"{title}: {message}", error=True)
        for box in self.dialogs:
            if box.isVisible() and box.text() == message:
                return box
        box = QMessageBox(icon, title, message, QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.finished.connect(lambda _=0, b=box: self._forget_dialog(b))
        self.dialogs.append(box)
        box.show()
        return box

    def _forget_dialog(self, box: QMessageBox) -> None:
        if box in self.dialogs:
            self.dialogs.remove(box)
        box.deleteLater()

    # run controls ------------------------------------------------------------------------
    def start(self) -> None:
        if self.state == "paused" and self._alive():
            self.resume()
            return
        if self._alive():
            return
        self._new_run(paused=False)

    def _new_run(self, paused: bool) -> TrainSession | None:
        try:
            config = self.setup.config()
        except ValueError as exc:
            self.say(f"Cannot start: {exc}", error=True)
            return None
        if self.remember:
            self.settings.set_config(config)
        return self._start_session(lambda: make_trainer(config), paused,
                                   f"building {config['task']} data and a {config['cell']} "
                                   "model…")

    def _start_session(self, factory, paused: bool, note: str) -> TrainSession:
        self._end_session()
        self.clear_views()
        s = TrainSession(factory, paused=paused)
        s.ready.connect(self._on_ready)
        s.failed.connect(lambda m, d, s=s: self._on_failed(s, m, d))
        s.finished.connect(lambda s=s: self._on_finished(s))
        s.command_done.connect(self._on_command_done)
        s.command_failed.connect(lambda m, d: self.show_error("Command failed", m, d))
        self.session = s
        self._stop_clicked_at = None
        self.stop_latency = None
        self._set_state("building")
        self.say(note)
        s.start()
        return s

    def _end_session(self) -> None:
        s = self.session
        if s is None:
            return
        self.session = None
        if s.isRunning():
            s.stop()
            self.ending.append(s)
            s.finished.connect(lambda s=s: self.ending.remove(s) if s in self.ending else None)

    def pause(self) -> None:
        if self._alive() and self.state == "running":
            self.session.pause()
            self._set_state("paused")
            self.say("paused: Step trains one batch, Resume continues")

    def resume(self) -> None:
        if self._alive() and self.state == "paused":
            self.session.resume()
            self._set_state("running")
            self.say("running")

    def toggle_pause(self) -> None:
        self.resume() if self.state == "paused" else self.pause()

    def step(self) -> None:
        if self._alive():
            if self.state in ("running", "paused"):
                self.session.step()
                self._set_state("paused")
            return
        s = self._new_run(paused=True)
        if s is not None:
            s.step()

    def stop(self) -> None:
        if self._alive() and self.state in ("building", "running", "paused"):
            self._stop_clicked_at = time.perf_counter()
            self.session.stop()
            self._set_state("stopping")
            self.say("stopping…")

    def reset(self) -> None:
        """End any run, forget its model and clear every view; the Setup stays."""
        self._end_session()
        self.clear_views()
        self._set_state("idle")
        self.say("reset: press Start to train a new model")

    # session signals ---------------------------------------------------------------------
    def _on_ready(self, trainer) -> None:
        if self.session is None or trainer is not self.session.trainer:
            return
        self.setup.set_config(trainer.config.to_dict())
        kind = view_kind(trainer.task, trainer.spec)
        self.task_view.configure(kind, trainer.spec, trainer.config.task)
        for row in getattr(trainer, "history", []) or []:
            self._add_evaluation(row)
        if not self.session.stopping:
            self._set_state("paused" if self.session.paused else "running")
        if self.session.paused:
            self.say(f"paused at step {trainer.step}: Resume (F5) continues, Step (F10) "
                     "trains one batch")

    def _on_failed(self, session: TrainSession, message: str, details: str) -> None:
        if session is not self.session:
            return
        self.refresh()
        self._set_state("failed")
        self.show_error("Training failed", message, details)
        self.run_ended.emit("failed")

    def _on_finished(self, session: TrainSession) -> None:
        if session is not self.session:
            return
        self.refresh()
        if self.state in ACTIVE:
            self._set_state("stopped")
            self.run_ended.emit("cancelled")

    def _on_command_done(self, text: str) -> None:
        self.say(text)
        if text.startswith("saved "):
            self.checkpoint_saved.emit(text[len("saved "):])

    # events ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Apply what the worker produced since the last tick (the UI's only data path)."""
        s = self.session
        if s is None:
            return
        events = s.buffer.drain()
        if not events and not self._stale:
            return
        try:
            self._apply(events)
            if self._stale:
                self._render(everything=self.state != "running")
        except Exception as exc:  # a view must never take the app down
            import traceback

            self.show_error("Could not show the run", f"{type(exc).__name__}: {exc}",
                            "".join(traceback.format_exception(exc)))

    def _apply(self, events: list) -> None:
        snap, stopped, halted = None, None, None
        for ev in events:
            if isinstance(ev, StepDone):
                self.loss.add_step(ev.step, ev.loss)
                self._stale.add("loss")
                self.step_rows.append((ev.step, ev.epoch, ev.loss, ev.grad_norm, ev.lr))
                self.last_step = ev
            elif isinstance(ev, Snapshot):
                snap = ev
                self.norms.add(ev.step, ev.param_norms, ev.grad_norms)
            elif isinstance(ev, Evaluated):
                self._add_evaluation({"epoch": ev.epoch, "step": ev.step,
                                      "train_loss": ev.train_loss, "val_loss": ev.val_loss,
                                      **ev.metrics})
                self._stale.add("loss")
            elif isinstance(ev, Started):
                self._on_started(ev)
            elif isinstance(ev, Halted):
                halted = ev
            elif isinstance(ev, Stopped):
                stopped = ev
        if self.last_step is not None and events:
            self._rate.append((time.perf_counter(), self.last_step.step))
        if snap is not None:
            self.snapshot = snap
            self._stale.update(VIEWS[1:])
        if halted is not None:
            self._on_halted(halted, ended=stopped is not None)
        if stopped is not None:
            self._render()
            self._on_stopped(stopped)

    def render_now(self) -> None:
        """Take every pending event and redraw all views at once (e.g. before a grab)."""
        self.refresh()
        self._render(everything=True)

    def _update_placeholders(self) -> None:
        for p in self.panels.values():
            p.show_placeholder(not p.has_data())

    def _refresh_placeholders(self) -> None:
        """Update the placeholders until every view has data, then stop checking."""
        if self._placeholders_shown:
            self._update_placeholders()
            self._placeholders_shown = not all(p.has_data() for p in self.panels.values())

    def _render(self, everything: bool = True) -> None:
        """Redraw the views whose data changed. While training runs, one view per call
        (taking turns, each at most every ``RENDER_S``), so no tick of the event loop paints
        more than one view; otherwise all of them at once."""
        self._show_progress()
        now = time.perf_counter()
        if everything:
            due = [v for v in VIEWS if v in self._stale]
        else:
            n = len(VIEWS)
            turns = (VIEWS[(self._render_turn + i) % n] for i in range(n))
            due = [next((v for v in turns if v in self._stale
                         and now - self._drawn_at[v] >= RENDER_S), None)]
            if due[0] is None:
                return
            self._render_turn = VIEWS.index(due[0]) + 1
        for view in due:
            self._stale.discard(view)
            self._drawn_at[view] = now
            self._draw(view)
        self._refresh_placeholders()

    def _draw(self, view: str) -> None:
        if view == "loss":
            self.loss.refresh()
        elif view == "norms":
            self.norms.refresh()
        elif self.snapshot is not None:
            if view == "hidden" and self._auto_unit:
                self._auto_unit = False
                self._follow_liveliest_unit()
            self._show_snapshot(views=(view,))

    def _add_evaluation(self, row: dict) -> None:
        self.evaluations.append(dict(row))
        metrics = {k: v for k, v in row.items()
                   if k not in ("epoch", "step", "train_loss", "val_loss")}
        self.loss.add_evaluation(int(row["step"]), float(row["val_loss"]), metrics)

    def _on_started(self, ev: Started) -> None:
        self.started = ev
        cfg = ev.config
        layers, dirs = int(cfg["num_layers"]), 2 if cfg["bidirectional"] else 1
        self.hidden.set_layers(layers, dirs)
        self.gradient.set_layers(layers, dirs)
        self.gates.set_gates(ev.gates, ev.cell)
        self.setWindowTitle(f"rnnlab · {ev.task} · {ev.cell}")
        self.say(f"{ev.task} · {ev.cell}: {ev.num_params:,} parameters, "
                 f"{ev.steps_per_epoch} steps per epoch"
                 + (f", resumed at step {ev.step}" if ev.step else ""))

    def _on_halted(self, ev: Halted, ended: bool = False) -> None:
        """A NaN/Inf loss or gradient: the trainer skipped that update and paused itself."""
        self.halts.append(ev)
        if not ended and self._alive() and self.state in ("running", "paused"):
            self.session.pause()  # keeps the worker in step with the trainer
            self._set_state("paused")
        self.show_error("Training paused",
                        f"Non-finite values at step {ev.step + 1}: the update was skipped and "
                        "training paused; the views show the last good weights. Resume (F5) "
                        "or Step (F10) continues this run. If it happens again, Stop, lower "
                        "the learning rate or turn on gradient clipping, and Start again.",
                        ev.message, icon=QMessageBox.Icon.Warning)

    def _on_stopped(self, ev: Stopped) -> None:
        if self._stop_clicked_at is not None:
            self.stop_latency = time.perf_counter() - self._stop_clicked_at
        self._set_state("finished" if ev.reason in ("finished", "early_stopping") else "stopped")
        self.say(f"{ev.reason.replace('_', ' ')} at step {ev.step}: {ev.message}")
        self.run_ended.emit(ev.reason)

    def _show_progress(self) -> None:
        if self.last_step is None:
            return
        ev = self.last_step
        total = self.started.config["epochs"] if self.started else "?"
        rate = ""
        if len(self._rate) >= 2:
            (t0, s0), (t1, s1) = self._rate[0], self._rate[-1]
            if t1 > t0 and self.state == "running":
                rate = f" · {(s1 - s0) / (t1 - t0):,.0f} steps/s"
        self.progress.setText(f"step {ev.step:,} · epoch {ev.epoch + 1}/{total}{rate} · "
                              f"loss {ev.loss:.4g}")

    # snapshot views ----------------------------------------------------------------------
    def _follow_liveliest_unit(self) -> None:
        layer = self.snapshot.layers[min(self.hidden.layer, len(self.snapshot.layers) - 1)]
        h = np.asarray(layer["h"])[: self.snapshot.length]
        if h.size:
            self.hidden.unit = int(np.argmax(h.std(axis=0)))

    def _selection_changed(self, _layer: int, _unit: int) -> None:
        if self.snapshot is not None:
            self._show_snapshot()
        self._refresh_placeholders()

    def _show_snapshot(self, views=VIEWS[2:]) -> None:
        """Show the latest snapshot in the given snapshot views."""
        snap = self.snapshot
        k = min(self.hidden.layer, len(snap.layers) - 1)
        layer = snap.layers[k]
        if "hidden" in views:
            self.hidden.show(layer, snap.length)
        if "gates" in views:
            self.gates.show(layer, snap.length, self.hidden.unit)
        if "gradient" in views:
            self.gradient.show(snap.layers, snap.length)
        if "task" in views:
            names = self.hidden.layer_box.itemText(k) or layer_names(1, 1)[0]
            self.task_view.show(snap, layer, self.hidden.unit, names)

    def clear_views(self) -> None:
        for p in self.panels.values():
            p.clear()
        self.snapshot = self.started = self.last_step = None
        self.evaluations, self.step_rows = [], []
        self._rate.clear()
        self._auto_unit = True
        self._stale.clear()
        self._placeholders_shown = True
        self._update_placeholders()
        self.progress.setText("")

    # checkpoints and export --------------------------------------------------------------
    def _trainer(self):
        return self.session.trainer if self.session is not None else None

    def save_checkpoint(self, path: str | None = None) -> None:
        trainer = self._trainer()
        if trainer is None:
            self.say("Nothing to save yet: start or load a run first", error=True)
            return
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Save checkpoint", self.settings.get("paths/checkpoint", "run.safetensors"),
                "Checkpoints (*.safetensors)")
            if not path:
                return
        self.settings.set("paths/checkpoint", path)
        if self._alive() and self.session.isRunning():
            self.session.submit(lambda t, p=path: f"saved {t.save(p)}")
            self.say("saving…")
            return
        self.session.wait(5000)  # a run that just ended: its thread is finishing
        try:
            written = trainer.save(path)
        except Exception as exc:
            from .worker import describe

            self.show_error("Save failed", *describe(exc))
            return
        self._on_command_done(f"saved {written}")

    def load_checkpoint(self, path: str | None = None) -> None:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self, "Load checkpoint", self.settings.get("paths/checkpoint", ""),
                "Checkpoints (*.safetensors);;All files (*)")
            if not path:
                return
        self.settings.set("paths/checkpoint", path)
        self._start_session(lambda p=path: load_trainer(p), True,
                            f"loading {Path(path).name}…")

    def export_plots(self, folder: str | None = None) -> list[Path]:
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Export plots to folder",
                                                      self.settings.get("paths/export", ""))
            if not folder:
                return []
        self.settings.set("paths/export", folder)
        try:
            written = export_pngs(self.panels, folder, whole=self.central)
        except OSError as exc:
            self.show_error("Export failed", str(exc))
            return []
        self.say(f"wrote {len(written)} PNG files to {folder}")
        return written

    def export_metrics(self, path: str | None = None) -> list[Path]:
        if path is None:
            start = str(Path(self.settings.get("paths/export", "")) / "metrics.csv")
            path, _ = QFileDialog.getSaveFileName(self, "Export metrics", start,
                                                  "CSV (*.csv)")
            if not path:
                return []
        try:
            written = write_metrics_csv(path, self.evaluations, self.step_rows)
        except (OSError, ValueError) as exc:
            self.show_error("Export failed", str(exc))
            return []
        self.say(f"wrote {written[0]} and {written[1].name}")
        return written

    def show_plugins(self):
        from .plugin_manager import PluginManager

        dlg = PluginManager(self)
        dlg.changed.connect(self.setup.reload)
        dlg.setWindowModality(Qt.WindowModality.NonModal)
        dlg.show()
        return dlg

    def grab_png(self, path: str) -> bool:
        return self.grab().save(str(path), "PNG")

    # lifetime ----------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        """Stop the run and wait for its thread: a stop is honoured within one batch, or as
        soon as a trainer that is still being built (data, kernel compilation) is ready."""
        self.save_settings()
        self._end_session()
        for s in list(self.ending):
            s.wait()
        self.timer.stop()
        super().closeEvent(event)


class Demo:
    """``--demo SECONDS``: train the default task (or ``config``) and keep the window up for
    SECONDS from the first step, even when the run ends sooner; then screenshot and exit."""

    def __init__(self, window: MainWindow, seconds: float, screenshot: str | None,
                 timeout: float = 120.0, config: dict | None = None):
        self.window, self.seconds, self.screenshot = window, seconds, screenshot
        self.config = config
        self.code = 1
        self.finished_at: float | None = None
        self.deadline = time.monotonic() + seconds + timeout
        self.started_at: float | None = None
        self.poll = QTimer(window)
        self.poll.setInterval(50)
        self.poll.timeout.connect(self._tick)

    def begin(self) -> None:
        from ..engine.train import TrainConfig

        self.window.setup.set_config(self.config or TrainConfig().to_dict())
        self.window.start()
        self.poll.start()

    def _tick(self) -> None:
        w = self.window
        if self.started_at is None and w.last_step is not None:
            self.started_at = time.monotonic()
        now = time.monotonic()
        shown = self.started_at is not None and now - self.started_at >= self.seconds
        failed = w.state == "failed"
        # a run that ends before its first step has nothing to show: no point in waiting
        empty = self.started_at is None and w.state in ("finished", "stopped")
        if shown or failed or empty or now > self.deadline:
            self.poll.stop()
            self._finish(ok=not failed and w.last_step is not None)

    def quit(self, code: int) -> None:
        QApplication.instance().exit(code)

    def _finish(self, ok: bool) -> None:
        w = self.window
        w.render_now()
        QApplication.processEvents()
        if self.screenshot:
            Path(self.screenshot).parent.mkdir(parents=True, exist_ok=True)
            ok = w.grab_png(self.screenshot) and ok
            print(f"screenshot: {self.screenshot}", flush=True)
        self.code = 0 if ok else 1
        self.finished_at = time.monotonic()
        w.stop()
        w.close()
        self.quit(self.code)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="rnnlab gui", description="Train a recurrent network "
                                "live and watch its hidden states, gates and gradients.")
    p.add_argument("--demo", type=float, metavar="SECONDS",
                   help="train the default task (sine, lstm) for SECONDS, then exit")
    p.add_argument("--screenshot", metavar="FILE.png",
                   help="with --demo: save a screenshot of the whole window")
    p.add_argument("--size", default="1280x800", metavar="WxH", help="window size")
    args = p.parse_args(argv)
    if args.screenshot and args.demo is None:
        p.error("--screenshot needs --demo SECONDS")
    if args.demo is not None and not (args.demo > 0 and math.isfinite(args.demo)):
        p.error(f"--demo: expected a number of seconds > 0, got {args.demo}")
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
        args.size = (w, h)
    except ValueError:
        p.error(f"--size: expected WIDTHxHEIGHT, got {args.size!r}")
    return args


def _excepthook(window_ref):
    def hook(kind, value, tb):
        import traceback

        sys.__excepthook__(kind, value, tb)
        w = window_ref()
        if w is not None:
            w.show_error("Unexpected error", f"{kind.__name__}: {value}",
                         "".join(traceback.format_exception(kind, value, tb)))
    return hook


def main(argv: list[str] | None = None) -> int:
    """Run the app; returns the exit code (``--demo``: 0 when the screenshot was written)."""
    import weakref

    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "rnnlab"])
    app.setApplicationName("rnnlab")
    app.setStyle("Fusion")
    demo = args.demo is not None
    window = MainWindow(remember=not demo)
    if demo or not window.settings.bytes("window/geometry"):
        window.resize(*args.size)
    window.show()
    previous = sys.excepthook
    sys.excepthook = _excepthook(weakref.ref(window))
    runner = None
    try:
        if demo:
            runner = Demo(window, args.demo, args.screenshot)
            QTimer.singleShot(0, runner.begin)
        code = app.exec()
    finally:
        sys.excepthook = previous
    return runner.code if runner is not None else code


if __name__ == "__main__":
    sys.exit(main())
