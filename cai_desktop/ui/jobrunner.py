"""The one Qt job runner: a queue of jobs, each run by a worker object on its own QThread.

A job is a plain function ``fn(ctx, params) -> dict`` (see ``jobs/``). ``QtJobContext`` adapts the
ctx calls made in the worker thread to Qt signals, throttled to about 20 per second so a chatty
job never floods the GUI thread. Cancel is cooperative: ``cancel()`` sets a flag the job checks
between batches (and a TrainerCallback checks between steps); the thread is never terminated.
The GPU is one resource, so jobs run one at a time, in submission order.

Testable without a window: create a ``JobRunner``, ``submit`` a function, wait on its signals.
"""

from __future__ import annotations

import gc
import itertools
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, QThread, QTimer, Signal, Slot

from cai_desktop.core.errors import CaiError, Cancelled

EMIT_INTERVAL_S = 0.05  # at most ~20 signal bursts per second
#: While jobs run, full (generation 2) garbage collections are kept short (see
#: ``JobRunner._defer_full_gc``): one full pass over the millions of objects that torch,
#: transformers and trl create takes 200-600 ms with the GIL held, which freezes the window.
GC_DEFER_THRESHOLD2 = 1000

_threads: list[QThread] = []  # every job thread started, so tests can assert none is left running


def running_threads() -> list[QThread]:
    """Job threads still running (a test fixture fails a test that leaves one behind)."""
    alive = []
    for t in list(_threads):
        try:
            if t.isRunning():
                alive.append(t)
            else:
                _threads.remove(t)
        except RuntimeError:  # the C++ object is already deleted
            _threads.remove(t)
    return alive


class QtJobContext:
    """The ctx a job sees when it runs under the GUI.

    Called from the worker thread; it only touches the worker's signals (queued to the GUI
    thread) and a thread-safe cancel flag. Progress is coalesced: the latest value is sent at most
    every ``EMIT_INTERVAL_S`` (and always at the end). Logs and metrics are buffered and flushed
    with the same cadence, so their order is kept.
    """

    def __init__(self, worker: JobWorker) -> None:
        self._worker = worker
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._last_emit = 0.0
        self._started = time.monotonic()
        self._first_progress: tuple[float, int] | None = None
        self._pending_progress: tuple[int, int, str, float] | None = None
        self._pending_logs: list[str] = []
        self._pending_metrics: list[tuple[str, float, int]] = []
        self.run_id: int | None = None

    # -- ctx protocol --------------------------------------------------------------------------
    def progress(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        done, total = int(done), int(total)
        if self._first_progress is None or done < self._first_progress[1]:
            self._first_progress = (now, done)
        eta = self._eta(now, done, total)
        with self._lock:
            self._pending_progress = (done, total, str(message), eta)
        self._maybe_flush(now, force=total > 0 and done >= total)

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
        """Called by ``jobs.runs.execute`` once the run row exists."""
        self.run_id = int(run_id)
        self._worker.run_started.emit(self._worker.job_id, int(run_id))

    # -- runner side ---------------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()

    def _eta(self, now: float, done: int, total: int) -> float:
        """Seconds left from the rate since the first progress call; -1 when not known yet."""
        if self._first_progress is None or total <= 0 or done >= total:
            return 0.0 if total > 0 and done >= total else -1.0
        t0, d0 = self._first_progress
        if done <= d0 or now <= t0:
            return -1.0
        rate = (done - d0) / (now - t0)
        return (total - done) / rate if rate > 0 else -1.0

    def _maybe_flush(self, now: float, force: bool = False) -> None:
        if force or now - self._last_emit >= EMIT_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            progress, self._pending_progress = self._pending_progress, None
            logs, self._pending_logs = self._pending_logs, []
            metrics, self._pending_metrics = self._pending_metrics, []
            self._last_emit = time.monotonic()
        w = self._worker
        if logs:
            w.log.emit(w.job_id, "\n".join(logs))
        for name, value, step in metrics:
            w.metric.emit(w.job_id, name, value, step)
        if progress is not None:
            w.progress.emit(w.job_id, *progress)


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

    def __init__(self, job_id: int, fn: Callable[[Any, Any], Any], params: Any) -> None:
        super().__init__()
        self.job_id = job_id
        self.fn = fn
        self.params = params
        self.ctx = QtJobContext(self)

    @Slot()
    def run(self) -> None:
        try:
            result = self.fn(self.ctx, self.params)
        except Cancelled:
            self.ctx.flush()
            self.cancelled.emit(self.job_id)
        except CaiError as e:
            self.ctx.flush()
            self.failed.emit(self.job_id, str(e), traceback.format_exc())
        except BaseException as e:  # noqa: BLE001 - a job must never take the GUI down
            self.ctx.flush()
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            self.failed.emit(
                self.job_id, f"{type(e).__name__}: {msg}" if msg else type(e).__name__, traceback.format_exc()
            )
        else:
            self.ctx.flush()
            if self.ctx.cancelled() and result is None:
                self.cancelled.emit(self.job_id)
            else:
                self.finished.emit(self.job_id, result if result is not None else {})
        finally:
            self.done.emit()


@dataclass
class Job:
    """A submitted job, as the UI sees it."""

    id: int
    kind: str
    name: str
    fn: Callable[[Any, Any], Any]
    params: Any
    status: str = "queued"  # queued, running, done, failed, cancelled
    run_id: int | None = None
    submitted_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    finished_at: float | None = None
    done: int = 0
    total: int = 0
    message: str = ""
    eta_s: float = -1.0
    result: Any = None
    error: str = ""
    details: str = ""
    cancel_requested: bool = False

    @property
    def params_dict(self) -> dict[str, Any]:
        from dataclasses import asdict, is_dataclass

        return asdict(self.params) if is_dataclass(self.params) else dict(self.params or {})


class JobRunner(QObject):
    """A queue of jobs; one runs at a time on a fresh QThread."""

    job_started = Signal(int)
    job_run_started = Signal(int, int)  # job, run id (once the run row exists)
    job_progress = Signal(int, int, int, str, float)  # job, done, total, message, eta_s
    job_log = Signal(int, str)
    job_metric = Signal(int, str, float, int)  # job, name, value, step
    job_finished = Signal(int, object)  # job, result dict
    job_failed = Signal(int, str, str)  # job, message, details
    job_cancelled = Signal(int)
    job_ended = Signal(int)  # after finished/failed/cancelled, once the thread has stopped
    queue_changed = Signal()

    _ids = itertools.count(1)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs: dict[int, Job] = {}
        self._queue: deque[int] = deque()
        self._current: int | None = None
        self._thread: QThread | None = None
        self._worker: JobWorker | None = None

    # -- public API ----------------------------------------------------------------------------
    def submit(self, kind: str, fn: Callable[[Any, Any], Any], params: Any, name: str = "") -> int:
        """Queue ``fn(ctx, params)``; returns the job id. Starts at once if nothing is running."""
        job = Job(id=next(self._ids), kind=kind, name=name or kind, fn=fn, params=params)
        self.jobs[job.id] = job
        self._queue.append(job.id)
        self.queue_changed.emit()
        QTimer.singleShot(0, self._start_next)
        return job.id

    def cancel(self, job_id: int) -> None:
        """Cancel a queued job at once, or ask a running one to stop at its next check."""
        job = self.jobs.get(job_id)
        if job is None or job.status not in ("queued", "running"):
            return
        if job.status == "queued":
            try:
                self._queue.remove(job_id)
            except ValueError:
                pass
            job.status = "cancelled"
            job.finished_at = time.monotonic()
            self.job_cancelled.emit(job_id)
            self.job_ended.emit(job_id)
            self.queue_changed.emit()
            return
        job.cancel_requested = True
        if self._worker is not None and self._current == job_id:
            self._worker.ctx.cancel()
        self.queue_changed.emit()

    def cancel_all(self) -> None:
        for job_id in list(self._queue):
            self.cancel(job_id)
        if self._current is not None:
            self.cancel(self._current)

    def is_busy(self) -> bool:
        return self._current is not None or bool(self._queue)

    def current_job(self) -> Job | None:
        return self.jobs.get(self._current) if self._current is not None else None

    def queued_jobs(self) -> list[Job]:
        return [self.jobs[i] for i in self._queue]

    def job_for_run(self, run_id: int) -> Job | None:
        for job in self.jobs.values():
            if job.run_id == run_id and job.status in ("queued", "running"):
                return job
        return None

    def wait_idle(self, ms: int = 30000) -> bool:
        """Process events until no job is queued or running (or ``ms`` passed); True if idle."""
        deadline = time.monotonic() + ms / 1000.0
        app = QCoreApplication.instance()
        while self.is_busy() or self._thread is not None:
            if time.monotonic() > deadline:
                return False
            if app is not None:
                app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.002)
        return True

    def shutdown(self, ms: int = 30000) -> bool:
        """Cancel everything and wait for the thread to stop (window close, app quit)."""
        self.cancel_all()
        ok = self.wait_idle(ms)
        if self._thread is not None:
            ok = self._thread.wait(max(1, ms)) and ok
        return ok

    # -- garbage collection while a job runs ---------------------------------------------------
    _saved_gc: tuple[int, int, int] | None = None

    def _defer_full_gc(self) -> None:
        """Keep full collections short while jobs run.

        Everything alive when the queue starts (the GUI, the modules already imported) is frozen,
        so neither an automatic full collection nor the explicit ``gc.collect()`` that
        transformers/accelerate call walks it again with the GIL held; automatic full
        collections are also made rarer. Objects the job creates are collected as usual. When the
        queue is empty everything is unfrozen and Python's thresholds come back, so nothing leaks.
        """
        if JobRunner._saved_gc is None:
            JobRunner._saved_gc = gc.get_threshold()
            g0, g1, _ = JobRunner._saved_gc
            gc.set_threshold(g0, g1, GC_DEFER_THRESHOLD2)
            gc.freeze()

    def _restore_gc(self) -> None:
        if JobRunner._saved_gc is not None:
            gc.unfreeze()
            gc.set_threshold(*JobRunner._saved_gc)
            JobRunner._saved_gc = None

    # -- internals -----------------------------------------------------------------------------
    @Slot()
    def _start_next(self) -> None:
        if self._current is not None or self._thread is not None or not self._queue:
            return
        job_id = self._queue.popleft()
        job = self.jobs[job_id]
        job.status = "running"
        job.started_at = time.monotonic()
        self._current = job_id

        thread = QThread()
        thread.setObjectName(f"job-{job_id}-{job.kind}")
        worker = JobWorker(job_id, job.fn, job.params)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.run_started.connect(self._on_run_started)
        worker.progress.connect(self._on_progress)
        worker.log.connect(self._on_log)
        worker.metric.connect(self._on_metric)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        worker.done.connect(thread.quit)
        thread.finished.connect(worker.deleteLater)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        _threads.append(thread)
        self._defer_full_gc()
        self.job_started.emit(job_id)
        self.queue_changed.emit()
        thread.start()

    @Slot(int, int)
    def _on_run_started(self, job_id: int, run_id: int) -> None:
        job = self.jobs.get(job_id)
        if job is not None:
            job.run_id = run_id
        self.job_run_started.emit(job_id, run_id)

    @Slot(int, int, int, str, float)
    def _on_progress(self, job_id: int, done: int, total: int, message: str, eta: float) -> None:
        job = self.jobs.get(job_id)
        if job is not None:
            job.done, job.total, job.message, job.eta_s = done, total, message, eta
        self.job_progress.emit(job_id, done, total, message, eta)

    @Slot(int, str)
    def _on_log(self, job_id: int, text: str) -> None:
        self.job_log.emit(job_id, text)

    @Slot(int, str, float, int)
    def _on_metric(self, job_id: int, name: str, value: float, step: int) -> None:
        self.job_metric.emit(job_id, name, value, step)

    def _end(self, job_id: int, status: str) -> Job | None:
        job = self.jobs.get(job_id)
        if job is not None:
            job.status = status
            job.finished_at = time.monotonic()
        return job

    @Slot(int, object)
    def _on_finished(self, job_id: int, result: object) -> None:
        job = self._end(job_id, "done")
        if job is not None:
            job.result = result
            if isinstance(result, dict) and result.get("run_id") and job.run_id is None:
                job.run_id = int(result["run_id"])
        self.job_finished.emit(job_id, result)

    @Slot(int, str, str)
    def _on_failed(self, job_id: int, message: str, details: str) -> None:
        job = self._end(job_id, "failed")
        if job is not None:
            job.error, job.details = message, details
        self.job_failed.emit(job_id, message, details)

    @Slot(int)
    def _on_cancelled(self, job_id: int) -> None:
        self._end(job_id, "cancelled")
        self.job_cancelled.emit(job_id)

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self._thread
        job_id = self._current
        self._thread, self._worker, self._current = None, None, None
        if thread is not None:
            thread.wait()
            thread.deleteLater()
        if not self._queue:
            self._restore_gc()
        if job_id is not None:
            job = self.jobs.get(job_id)
            if job is not None and job.status == "running":  # the worker died without a word
                job.status = "failed"
                job.error = "the job stopped unexpectedly"
                self.job_failed.emit(job_id, job.error, "")
            self.job_ended.emit(job_id)
        self.queue_changed.emit()
        QTimer.singleShot(0, self._start_next)
