"""A training run off the UI thread: a QThread around ``Trainer.run()``.

The worker only appends events to an :class:`EventBuffer`; the UI thread drains it on a
timer, so the event queue is never flooded and snapshots are applied at the UI's rate.
Pause, resume, step and stop go straight to the trainer's thread-safe controls. While the
trainer is paused the worker parks *between* events (a consistent point of the run) and
runs queued commands there, such as saving a checkpoint.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import traceback
from collections.abc import Callable

from PyQt6.QtCore import QThread, pyqtSignal

from ..engine.events import Halted, Paused, Snapshot, Stopped

PARK_POLL = 0.05
#: how much nicer than the UI the training thread runs (Linux: per-thread nice value)
WORKER_NICE = int(os.environ.get("RNNLAB_WORKER_NICE", "19"))


def lower_thread_priority(step: int = WORKER_NICE) -> None:
    """Make the calling thread (and threads it starts, e.g. BLAS workers) yield the CPU to
    the UI thread when cores are busy. No effect on training speed on an idle machine."""
    if step <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + step))
    except OSError:
        pass


class EventBuffer:
    """Events handed from the worker to the UI thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._events: list = []

    def put(self, event) -> None:
        with self._lock:
            self._events.append(event)

    def drain(self) -> list:
        with self._lock:
            events, self._events = self._events, []
        return events


def describe(exc: BaseException) -> tuple[str, str]:
    """A one-line message and the full traceback of ``exc``."""
    message = f"{type(exc).__name__}: {exc}"
    return message, "".join(traceback.format_exception(exc))


class TrainSession(QThread):
    """Builds a trainer with ``factory()`` in the worker thread, then runs it.

    ``paused=True`` parks right after the ``Started`` event (and a first snapshot), e.g. for
    a loaded checkpoint or for Step from idle. Signals are delivered in the UI thread.
    """

    ready = pyqtSignal(object)          # the Trainer, once built
    failed = pyqtSignal(str, str)       # message, details: building or running raised
    command_done = pyqtSignal(str)      # a queued command's result message
    command_failed = pyqtSignal(str, str)

    def __init__(self, factory: Callable[[], object], paused: bool = False, parent=None):
        super().__init__(parent)
        self.factory = factory
        self.buffer = EventBuffer()
        self.trainer = None
        self.error: str | None = None
        self._paused = paused
        self._step_requests = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._commands: queue.SimpleQueue = queue.SimpleQueue()

    # controls (UI thread) ----------------------------------------------------------------
    def pause(self) -> None:
        with self._lock:
            self._paused = True
            if self.trainer is not None:
                self.trainer.pause()
        self._wake.set()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            if self.trainer is not None:
                self.trainer.resume()
        self._wake.set()

    def step(self) -> None:
        """Pause (if running) and let one batch through."""
        with self._lock:
            self._paused = True
            if self.trainer is not None:
                self.trainer.pause()
                self.trainer.request_step()
            else:
                self._step_requests += 1
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            if self.trainer is not None:
                self.trainer.stop()
        self._wake.set()

    def submit(self, command: Callable[[object], str]) -> None:
        """Run ``command(trainer)`` in the worker at the next consistent point."""
        self._commands.put(command)
        self._wake.set()

    @property
    def paused(self) -> bool:
        with self._lock:
            return self._paused

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # the worker thread -------------------------------------------------------------------
    def run(self) -> None:
        lower_thread_priority()
        self._build_and_run()

    def _build_and_run(self) -> None:
        try:
            trainer = self.factory()
        except Exception as exc:
            self._fail(exc)
            return
        trainer.yield_when_paused = True  # park here, never inside the generator
        with self._lock:
            self.trainer = trainer
            if self._paused:
                trainer.pause()
            for _ in range(self._step_requests):
                trainer.request_step()
        if self._stop.is_set():
            trainer.stop()
        self.ready.emit(trainer)
        try:
            self._loop(trainer)
        except Exception as exc:
            self._fail(exc)

    def _loop(self, trainer) -> None:
        gen = trainer.run()
        self.buffer.put(next(gen))  # Started comes before any wait
        shown_step = None
        while True:
            self._run_commands(trainer)
            try:
                event = next(gen)
            except StopIteration:
                return
            if isinstance(event, Paused):
                if shown_step != trainer.step:
                    self.buffer.put(trainer.snapshot())
                    shown_step = trainer.step
                self._park(trainer)
                continue
            self.buffer.put(event)
            if isinstance(event, Snapshot):
                shown_step = event.step
            elif isinstance(event, Halted):  # the trainer paused itself
                with self._lock:
                    self._paused = True
            elif isinstance(event, Stopped):
                self._run_commands(trainer)
                gen.close()
                return

    def _park(self, trainer) -> None:
        """Wait while paused; commands run here, the generator is suspended at a yield."""
        while trainer.paused and not self._stop.is_set():
            self._wake.wait(PARK_POLL)
            self._wake.clear()
            self._run_commands(trainer)

    def _run_commands(self, trainer) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                self.command_done.emit(command(trainer))
            except Exception as exc:
                self.command_failed.emit(*describe(exc))

    def _fail(self, exc: BaseException) -> None:
        message, details = describe(exc)
        self.error = message
        self.failed.emit(message, details)
