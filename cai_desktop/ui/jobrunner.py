"""The one Qt job runner: a queue of jobs, each run by a worker object on its own QThread.

A job is a plain function ``fn(ctx, params) -> dict`` (see ``jobs/``). ``QtJobContext`` adapts the
ctx calls made in the worker thread to Qt signals, throttled to about 20 per second so a chatty
job never floods the GUI thread; a GUI-thread timer delivers whatever the throttle held back
within ~100 ms, so the last line of a burst never waits for the job's next call. Cancel is
cooperative: ``cancel()`` sets a flag the job checks between batches, the engine between
decoding steps and a TrainerCallback between optimiser steps; the thread is never terminated.
The GPU is one resource, so jobs run one at a time, in submission order. Light work that never
touches the GPU (checking a model id) runs at once beside the queue: ``call_in_background``.

Testable without a window: create a ``JobRunner``, ``submit`` a function, wait on its signals.
"""

from __future__ import annotations

import ctypes
import gc
import itertools
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Qt, QThread, QTimer, Signal, Slot

from cai_desktop.core.errors import CaiError, Cancelled

EMIT_INTERVAL_S = 0.05  # at most ~20 signal bursts per second
FLUSH_TIMER_MS = 40  # how often the GUI thread delivers what the throttle held back
#: While jobs run, full (generation 2) garbage collections are kept short (see
#: ``JobRunner._defer_full_gc``): one full pass over the millions of objects that torch,
#: transformers and trl create takes 200-600 ms with the GIL held, which freezes the window.
GC_DEFER_THRESHOLD2 = 1000

_threads: list[QThread] = []  # every job thread started, so tests can assert none is left running


def _emit_leaks_bools() -> bool:
    """Whether ``SignalInstance.emit`` returns True/False without a reference (PySide6 6.12 on
    Python < 3.12, where bools are not immortal): each emit then takes one reference from the
    interpreter's ``True``, and after some thousands of progress signals ``True`` is freed and the
    process aborts ("Fatal Python error: bool_dealloc"), mid-run or at exit."""
    if sys.version_info >= (3, 12):
        return False

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(16):
        probe.ping.emit()
    leaked = sys.getrefcount(True) < before - 8
    if leaked:
        for _ in range(16):
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
    return leaked


_LEAKY_EMIT = _emit_leaks_bools()


def emit(signal: Any, *args: Any) -> None:
    """``signal.emit(*args)``, giving back the reference a leaky PySide6 emit takes (see above).
    Every signal this module sends goes through here: a long job sends tens of thousands."""
    result = signal.emit(*args)
    if _LEAKY_EMIT and isinstance(result, bool):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(result))


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


class EtaClock:
    """Shown progress and seconds left for one job, from the job's own reports.

    The rate counts from the job's first report (so an estimate shows at the second report, as
    soon as one is possible) and, once there is one, from its first report with work done beyond
    that (so a slow start, a model load after "0/4 starting", stops weighing on it). Work already
    done when a run resumes (a first report of 8/12) is never counted as speed. Within one count
    (the same total) the shown value never goes back; a new total starts a new count.
    """

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self._first: tuple[float, int] | None = None  # the count's first report
        self._moved: tuple[float, int] | None = None  # its first report with done above that

    def update(self, done: int, total: int, now: float) -> tuple[int, float]:
        """Returns ``(done to show, eta seconds)``; the eta is -1 while not known yet."""
        if self._first is None or total != self.total:
            self.total, self.done = total, done
            self._first, self._moved = (now, done), None
        else:
            done = max(done, self.done)
            if done > self._first[1] and self._moved is None:
                self._moved = (now, done)
            self.done = done
        if total <= 0:
            return done, -1.0
        if done >= total:
            return done, 0.0
        base = self._moved if self._moved is not None and done > self._moved[1] else self._first
        t0, d0 = base
        if done <= d0 or now <= t0:
            return done, -1.0
        rate = (done - d0) / (now - t0)
        return done, (total - done) / rate


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
    job makes any data; ``JobRunner._restore_gc`` unfreezes everything when the queue is empty."""
    if "torch" in sys.modules:
        return
    try:
        from cai_desktop.engine.models import preload_native_libraries

        preload_native_libraries()
        import torch  # noqa: F401
        import transformers.modeling_utils  # noqa: F401
    except Exception:  # noqa: BLE001 - an optimisation only: the job imports what it needs itself
        return
    if JobRunner._saved_gc is not None:  # only while the runner keeps full collections short
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
