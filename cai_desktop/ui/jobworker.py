"""Running one function on a QThread: the worker object, the ctx it hands the job, and light
background calls.

``QtJobContext`` adapts the ctx calls made in the worker thread to the worker's Qt signals,
throttled to about 20 per second (``EMIT_INTERVAL_S``); ``core.context.EtaClock`` turns the job's own reports
into progress to show and seconds left. ``JobWorker`` runs the function and sends every outcome,
exception included, as a signal. ``BackgroundCall`` is one light call beside the queue (a model
check). The queue that decides which job runs when is ``jobrunner.JobRunner``; full garbage
collections are kept short while it runs jobs (``defer_full_gc``), and a job's first torch import
is prepared here (``_preload_native``), since both are about the GIL during a job's start.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from cai_desktop.core.context import EtaClock
from cai_desktop.core.errors import CaiError, Cancelled
from cai_desktop.ui.jobthreads import _threads, emit

EMIT_INTERVAL_S = 0.05  # at most ~20 signal bursts per second
#: While jobs run, full (generation 2) garbage collections are kept short (see
#: ``defer_full_gc``): one full pass over the millions of objects that torch,
#: transformers and trl create takes 200-600 ms with the GIL held, which freezes the window.
GC_DEFER_THRESHOLD2 = 1000

_saved_gc: tuple[int, int, int] | None = None  # Python's thresholds while full collections are deferred


def defer_full_gc() -> None:
    """Keep full collections short while jobs run.

    Everything alive when the queue starts (the GUI, the modules already imported) is frozen,
    so neither an automatic full collection nor the explicit ``gc.collect()`` that
    transformers/accelerate call walks it again with the GIL held; automatic full
    collections are also made rarer. Objects the job creates are collected as usual. When the
    queue is empty everything is unfrozen and Python's thresholds come back, so nothing leaks.
    """
    global _saved_gc
    if _saved_gc is None:
        _saved_gc = gc.get_threshold()
        g0, g1, _ = _saved_gc
        gc.set_threshold(g0, g1, GC_DEFER_THRESHOLD2)
        gc.freeze()


def restore_gc() -> None:
    """Unfreeze everything and give Python its thresholds back (the queue is empty)."""
    global _saved_gc
    if _saved_gc is not None:
        gc.unfreeze()
        gc.set_threshold(*_saved_gc)
        _saved_gc = None


class QtJobContext:
    """The ctx a job sees when it runs under the GUI.

    Called from the worker thread; it only touches the worker's signals (queued to the GUI
    thread) and a thread-safe cancel flag. Progress is coalesced: the latest value is sent at most
    every ``EMIT_INTERVAL_S`` (and always at the end); logs and metrics are buffered and sent
    with the same cadence, so their order is kept. What the throttle holds back is sent by
    ``flush_if_due``, which the runner's GUI-thread timer calls, so nothing waits for the job's
    next call. Sending is serialised by a lock (the worker and the timer may both send).
    """

    def __init__(self, worker: JobWorker) -> None:
        self._worker = worker
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._emit_lock = threading.RLock()
        self._last_emit = 0.0
        self._started = time.monotonic()
        self._eta_clock = EtaClock()
        self._pending_progress: tuple[int, int, str, float] | None = None
        self._pending_logs: list[str] = []
        self._pending_metrics: list[tuple[str, float, int]] = []
        self.run_id: int | None = None

    # -- ctx protocol --------------------------------------------------------------------------
    def progress(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        with self._lock:
            shown, eta = self._eta_clock.update(int(done), int(total), now)
            self._pending_progress = (shown, int(total), str(message), eta)
        self._maybe_flush(now, force=int(total) > 0 and shown >= int(total))

    def log(self, text: str) -> None:
        with self._lock:
            self._pending_logs.append(str(text))
        self._maybe_flush(time.monotonic())

    def metric(self, name: str, value: float, step: int) -> None:
        with self._lock:
            self._pending_metrics.append((str(name), float(value), int(step)))
        self._maybe_flush(time.monotonic())

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self.cancelled():
            raise Cancelled("cancelled by the user")

    def run_started(self, run_id: int) -> None:
        """Called once the run row exists; what was logged before it is sent first."""
        self.run_id = int(run_id)
        with self._emit_lock:
            self._send()
            emit(self._worker.run_started, self._worker.job_id, int(run_id))

    # -- runner side ---------------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()

    def _maybe_flush(self, now: float, force: bool = False) -> None:
        if force or now - self._last_emit >= EMIT_INTERVAL_S:
            self.flush()

    def has_pending(self) -> bool:
        with self._lock:
            return bool(self._pending_progress is not None or self._pending_logs or self._pending_metrics)

    def flush_if_due(self) -> None:
        """Send what the throttle held back once the interval has passed (the GUI timer's call)."""
        if self.has_pending() and time.monotonic() - self._last_emit >= EMIT_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        with self._emit_lock:
            self._send()

    def _send(self) -> None:
        with self._lock:
            progress, self._pending_progress = self._pending_progress, None
            logs, self._pending_logs = self._pending_logs, []
            metrics, self._pending_metrics = self._pending_metrics, []
            self._last_emit = time.monotonic()
        w = self._worker
        if logs:
            emit(w.log, w.job_id, "\n".join(logs))
        for name, value, step in metrics:
            emit(w.metric, w.job_id, name, value, step)
        if progress is not None:
            emit(w.progress, w.job_id, *progress)


def _preload_native() -> None:
    """Before a job's first ``import torch``: map torch's libraries without holding the GIL
    (``engine.models.preload_native_libraries``), import torch and transformers, and freeze what
    they built. Every GUI job uses them; frozen, the hundreds of thousands of objects they create
    are not walked again by the full ``gc.collect()`` that accelerate and transformers call while a
    job starts (300 ms with the GIL held here). Only import-time objects are frozen, before the
    job makes any data; ``restore_gc`` unfreezes everything when the queue is empty."""
    if "torch" in sys.modules:
        return
    try:
        from cai_desktop.engine.models import preload_native_libraries

        preload_native_libraries()
        import torch  # noqa: F401
        import transformers.modeling_utils  # noqa: F401
    except Exception:  # noqa: BLE001 - an optimisation only: the job imports what it needs itself
        return
    if _saved_gc is not None:  # only while the runner keeps full collections short
        gc.freeze()



class JobWorker(QObject):
    """Runs one job in its QThread; every exception is caught here and sent as a signal."""

    run_started = Signal(int, int)  # job, run id
    progress = Signal(int, int, int, str, float)  # job, done, total, message, eta_s
    log = Signal(int, str)
    metric = Signal(int, str, float, int)
    finished = Signal(int, object)  # job, result
    failed = Signal(int, str, str)  # job, message, details
    cancelled = Signal(int)
    done = Signal()  # always last: the thread may quit

    def __init__(self, job_id: int, fn: Callable[[Any, Any], Any], params: Any, preload: bool = False) -> None:
        super().__init__()
        self.job_id = job_id
        self.fn = fn
        self.params = params
        self.preload = preload
        self.ctx = QtJobContext(self)

    @Slot()
    def run(self) -> None:
        try:
            if self.preload:
                _preload_native()
            result = self.fn(self.ctx, self.params)
        except Cancelled:
            self.ctx.flush()
            emit(self.cancelled, self.job_id)
        except CaiError as e:
            self.ctx.flush()
            emit(self.failed, self.job_id, str(e), traceback.format_exc())
        except BaseException as e:  # noqa: BLE001 - a job must never take the GUI down
            self.ctx.flush()
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            what = f"{type(e).__name__}: {msg}" if msg else type(e).__name__
            emit(self.failed, self.job_id, what, traceback.format_exc())
        else:
            self.ctx.flush()
            if self.ctx.cancelled() and result is None:
                emit(self.cancelled, self.job_id)
            else:
                emit(self.finished, self.job_id, result if result is not None else {})
        finally:
            emit(self.done)



class BackgroundCall(QObject):
    """One light call on its own QThread (see ``JobRunner.call_in_background``); the standard
    teardown, every exception sent as ``failed``, never terminated."""

    finished = Signal(object)  # result
    failed = Signal(str, str)  # message, details
    ended = Signal()  # last, once the thread has stopped

    def __init__(self, call_id: int, fn: Callable[[Any, Any], Any], params: Any, name: str,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.id = call_id
        self.name = name
        self.result: Any = None
        self.error = ""
        self._thread = QThread()
        self._thread.setObjectName(f"background-{call_id}-{name}")
        self._worker = JobWorker(call_id, fn, params)
        self._worker.moveToThread(self._thread)
        queued = Qt.ConnectionType.QueuedConnection
        self._thread.started.connect(self._worker.run)
        self._worker.finished.connect(self._on_finished, queued)
        self._worker.failed.connect(self._on_failed, queued)
        self._worker.cancelled.connect(self._on_cancelled, queued)
        self._worker.done.connect(self._thread.quit)
        self._thread.finished.connect(self._worker.deleteLater)
        self._thread.finished.connect(self._on_thread_finished)

    def start(self) -> None:
        _threads.append(self._thread)
        self._thread.start()

    def cancel(self) -> None:
        self._worker.ctx.cancel()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    @Slot(int, object)
    def _on_finished(self, _id: int, result: object) -> None:
        self.result = result
        emit(self.finished, result)

    @Slot(int, str, str)
    def _on_failed(self, _id: int, message: str, details: str) -> None:
        self.error = message
        emit(self.failed, message, details)

    @Slot(int)
    def _on_cancelled(self, _id: int) -> None:
        self.error = "cancelled"
        emit(self.failed, "cancelled", "")

    @Slot()
    def _on_thread_finished(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.wait()
            thread.deleteLater()
        emit(self.ended)
