"""The one Qt job runner: a queue of jobs, each run by a worker object on its own QThread.

A job is a plain function ``fn(ctx, params) -> dict`` (see ``jobs/``). ``QtJobContext`` adapts the
ctx calls made in the worker thread to Qt signals, throttled to about 20 per second so a chatty
job never floods the GUI thread; a GUI-thread timer delivers whatever the throttle held back
within ~100 ms, so the last line of a burst never waits for the job's next call. Cancel is
cooperative: ``cancel()`` sets a flag the job checks between batches, the engine between
decoding steps and a TrainerCallback between optimiser steps; the thread is never terminated.
The GPU is one resource, so jobs run one at a time, in submission order. Light work that never
touches the GPU (checking a model id) runs at once beside the queue: ``call_in_background``.

The worker, its ctx and background calls live in ``jobworker``; the safe ``emit`` and the
thread registry in ``jobthreads``; both are importable from here as before.

Testable without a window: create a ``JobRunner``, ``submit`` a function, wait on its signals.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Qt, QThread, QTimer, Signal, Slot

from cai_desktop.ui.jobthreads import _threads, emit, running_threads
from cai_desktop.ui.jobworker import (
    EMIT_INTERVAL_S,
    GC_DEFER_THRESHOLD2,
    BackgroundCall,
    EtaClock,
    JobWorker,
    QtJobContext,
    defer_full_gc,
    restore_gc,
)

__all__ = [
    "EMIT_INTERVAL_S",
    "FLUSH_TIMER_MS",
    "GC_DEFER_THRESHOLD2",
    "BackgroundCall",
    "EtaClock",
    "Job",
    "JobRunner",
    "JobWorker",
    "QtJobContext",
    "emit",
    "running_threads",
]

FLUSH_TIMER_MS = 40  # how often the GUI thread delivers what the throttle held back


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
    def state(self) -> str:
        """The job's state in words; the one source every view shows (queue, run header, status bar)."""
        if self.status == "running" and self.cancel_requested:
            return "stopping"
        if self.status == "queued" and self.run_id is not None:
            return "queued to resume"
        return self.status

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
        self._background: list[BackgroundCall] = []
        # delivers what the progress throttle held back (the worker has no event loop of its own)
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_TIMER_MS)
        self._flush_timer.timeout.connect(self._flush_worker)

    # -- public API ----------------------------------------------------------------------------
    def submit(self, kind: str, fn: Callable[[Any, Any], Any], params: Any, name: str = "") -> int:
        """Queue ``fn(ctx, params)``; returns the job id. Starts at once if nothing is running.

        A job that resumes a run (``params.resume_run``) belongs to that run from the start, so the
        run's header shows it queued, not the state the run was left in.
        """
        job = Job(id=next(self._ids), kind=kind, name=name or kind, fn=fn, params=params)
        resume = params.get("resume_run") if isinstance(params, dict) else getattr(params, "resume_run", None)
        if isinstance(resume, int) and not isinstance(resume, bool):
            job.run_id = resume
        self.jobs[job.id] = job
        self._queue.append(job.id)
        emit(self.queue_changed)
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
            emit(self.job_cancelled, job_id)
            emit(self.job_ended, job_id)
            emit(self.queue_changed)
            return
        job.cancel_requested = True
        if self._worker is not None and self._current == job_id:
            self._worker.ctx.cancel()
        emit(self.queue_changed)

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

    def wait_idle(self, ms: int = 30000, background: bool = False) -> bool:
        """Process events until no job is queued or running (or ``ms`` passed); True if idle.

        With ``background`` also until every ``call_in_background`` call has ended.
        """
        deadline = time.monotonic() + ms / 1000.0
        app = QCoreApplication.instance()
        while self.is_busy() or self._thread is not None or (background and self._background):
            if time.monotonic() > deadline:
                return False
            if app is not None:
                app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.002)
        return True

    def shutdown(self, ms: int = 30000) -> bool:
        """Cancel everything and wait for the threads to stop (window close, app quit)."""
        self.cancel_all()
        ok = self.wait_idle(ms, background=True)
        if self._thread is not None:
            ok = self._thread.wait(max(1, ms)) and ok
        return ok

    def call_in_background(self, fn: Callable[[Any, Any], Any], params: Any = None, name: str = "") -> BackgroundCall:
        """Run ``fn(ctx, params)`` at once on its own QThread, beside the queue (not after the
        running job): for light work that may wait on disk or network but never uses the GPU,
        such as checking a model id, so the GUI thread never does it. Connect to the returned
        object's ``finished(result)`` / ``failed(message, details)``; ``ended`` comes last."""
        call = BackgroundCall(next(self._ids), fn, params, name or getattr(fn, "__name__", "call"), self)
        self._background.append(call)
        call.ended.connect(lambda c=call: self._background.remove(c) if c in self._background else None)
        call.start()
        return call

    # -- garbage collection while a job runs ---------------------------------------------------
    def _defer_full_gc(self) -> None:
        """Keep full collections short while jobs run (``jobworker.defer_full_gc``)."""
        defer_full_gc()

    def _restore_gc(self) -> None:
        restore_gc()

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
        worker = JobWorker(job_id, job.fn, job.params, preload=True)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # queued even when the flush timer sends from the GUI thread, so everything arrives in order
        queued = Qt.ConnectionType.QueuedConnection
        worker.run_started.connect(self._on_run_started, queued)
        worker.progress.connect(self._on_progress, queued)
        worker.log.connect(self._on_log, queued)
        worker.metric.connect(self._on_metric, queued)
        worker.finished.connect(self._on_finished, queued)
        worker.failed.connect(self._on_failed, queued)
        worker.cancelled.connect(self._on_cancelled, queued)
        worker.done.connect(thread.quit)
        thread.finished.connect(worker.deleteLater)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        _threads.append(thread)
        self._defer_full_gc()
        emit(self.job_started, job_id)
        emit(self.queue_changed)
        thread.start()
        self._flush_timer.start()

    @Slot()
    def _flush_worker(self) -> None:
        worker = self._worker
        if worker is None:
            self._flush_timer.stop()
            return
        try:
            worker.ctx.flush_if_due()
        except RuntimeError:  # the worker is being torn down
            pass

    @Slot(int, int)
    def _on_run_started(self, job_id: int, run_id: int) -> None:
        job = self.jobs.get(job_id)
        if job is not None:
            job.run_id = run_id
        emit(self.job_run_started, job_id, run_id)
        emit(self.queue_changed)

    @Slot(int, int, int, str, float)
    def _on_progress(self, job_id: int, done: int, total: int, message: str, eta: float) -> None:
        job = self.jobs.get(job_id)
        if job is not None:
            job.done, job.total, job.message, job.eta_s = done, total, message, eta
        emit(self.job_progress, job_id, done, total, message, eta)

    @Slot(int, str)
    def _on_log(self, job_id: int, text: str) -> None:
        emit(self.job_log, job_id, text)

    @Slot(int, str, float, int)
    def _on_metric(self, job_id: int, name: str, value: float, step: int) -> None:
        emit(self.job_metric, job_id, name, value, step)

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
        emit(self.job_finished, job_id, result)

    @Slot(int, str, str)
    def _on_failed(self, job_id: int, message: str, details: str) -> None:
        job = self._end(job_id, "failed")
        if job is not None:
            job.error, job.details = message, details
        emit(self.job_failed, job_id, message, details)

    @Slot(int)
    def _on_cancelled(self, job_id: int) -> None:
        self._end(job_id, "cancelled")
        emit(self.job_cancelled, job_id)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._flush_timer.stop()
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
                emit(self.job_failed, job_id, job.error, "")
            emit(self.job_ended, job_id)
        emit(self.queue_changed)
        QTimer.singleShot(0, self._start_next)
