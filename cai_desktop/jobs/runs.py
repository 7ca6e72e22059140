"""Run bookkeeping shared by every job: a run row, its status, metrics and log in the project.

A job body is ``body(project, rctx, run_id) -> dict``. ``execute`` records the run in the project
that ``jobs.base.run_job`` opened in the calling thread, and passes
a ``RunContext`` that stores metrics/logs in the project and forwards them to the outer context
(terminal or GUI). A cancelled run is marked ``cancelled`` (its committed work stays) and the
``Cancelled`` error propagates so the caller can say so; the resume policy is ``jobs.base``'s.

While it runs, the run is owned by this process (``project.runs.start``: pid, host, heartbeat),
so a second launch of the same run elsewhere is refused with one line, and a run left 'running'
by a process that was killed is continued by the next launch.

Under ``accelerate launch`` every process runs the job, but only the main one (rank 0) writes to
the project: it claims the run and shares the run id with the others (``follow``), which run the
body with a ``FollowerContext`` that records nothing, and return the main process's result.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

from cai_desktop.core.context import check_cancelled
from cai_desktop.core.errors import CaiError, Cancelled, ProjectError
from cai_desktop.engine.distributed import distributed, is_main_process, share
from cai_desktop.store.project import Project
from cai_desktop.store.runs import BEAT_EVERY, Heartbeat


class RunContext:
    """Forwards to the outer ctx and records metrics/log/progress into the run."""

    #: the process that writes to the project (a body checks this before its own writes)
    main_process = True

    def __init__(self, outer: Any, project: Project, run_id: int):
        self.outer = outer
        self.project = project
        self.run_id = run_id
        self._last_progress = 0.0
        self._last_beat = time.monotonic()

    def _beat(self) -> None:
        """The owner's heartbeat, at most every ``BEAT_EVERY`` seconds (best effort)."""
        now = time.monotonic()
        if now - self._last_beat < BEAT_EVERY:
            return
        self._last_beat = now
        try:
            self.project.runs.beat(self.run_id)
        except ProjectError:
            pass  # busy for a moment: the next call (or the heartbeat thread) beats

    def progress(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        if now - self._last_progress > 1.0 or done >= total:
            self._last_progress = now
            self.project.runs.set_progress(self.run_id, done, total)
        self._beat()
        if self.outer is not None:
            self.outer.progress(done, total, message)

    def log(self, text: str) -> None:
        self.project.runs.add_log(self.run_id, text)
        self._beat()
        if self.outer is not None:
            self.outer.log(text)

    def metric(self, name: str, value: float, step: int) -> None:
        self.project.runs.add_metric(self.run_id, name, value, step)
        self._beat()
        if self.outer is not None:
            self.outer.metric(name, value, step)

    def cancelled(self) -> bool:
        return bool(self.outer is not None and self.outer.cancelled())

    def check_cancelled(self) -> None:
        check_cancelled(self)


class FollowerContext:
    """The run context of a process other than the main one under ``accelerate launch``: the same
    run id and cancel flag, nothing written to the project (the main process records the run)."""

    main_process = False

    def __init__(self, outer: Any, project: Project, run_id: int):
        self.outer = outer
        self.project = project
        self.run_id = run_id

    def progress(self, done: int, total: int, message: str = "") -> None:
        pass

    def log(self, text: str) -> None:
        pass

    def metric(self, name: str, value: float, step: int) -> None:
        pass

    def cancelled(self) -> bool:
        return bool(self.outer is not None and self.outer.cancelled())

    def check_cancelled(self) -> None:
        check_cancelled(self)


def _follow(ctx: Any, project: Project, body: Callable[[Project, Any, int], dict[str, Any]],
            follow: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
    """A process other than the main one: wait for the run the main process claimed, run the body
    with it (training takes part; nothing is written), then take the main process's result."""
    claimed = share(None)
    if claimed.get("error"):
        raise CaiError(claimed["error"])
    if follow is not None:
        follow(claimed)
    try:
        body(project, FollowerContext(ctx, project, claimed["run_id"]), claimed["run_id"])
    except Cancelled:
        pass  # the main process says how the run ended
    ended = share(None)
    if ended.get("error"):
        raise (Cancelled if ended.get("cancelled") else CaiError)(ended["error"])
    return ended["result"]


def _record_end(project: Project, run_id: int, status: str, error: str | None = None,
                trace: str | None = None) -> None:
    """The run's final status, best effort: a file that became busy or read-only must not hide
    the error that ended the run."""
    try:
        project.runs.set_status(run_id, status, error=error)
        if trace:
            project.runs.add_log(run_id, trace)
    except ProjectError:
        pass


def execute(
    ctx: Any,
    project: Project | str,
    kind: str,
    config: dict[str, Any],
    body: Callable[[Project, RunContext, int], dict[str, Any]],
    *,
    resume_run: int | None = None,
    name: str = "",
    pick: Callable[[], int | None] | None = None,
    claimed: Callable[[int], dict[str, Any]] | None = None,
    follow: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run ``body`` as a recorded run of ``kind`` in the open ``project``; returns its result
    dict (with ``run_id``). A cancel (or Ctrl+C) marks the run cancelled; its committed work stays.
    ``project`` may be a path: it is then opened (and closed) here, in the calling thread.

    The run is ``resume_run``, else the run ``pick()`` finds (the resume policy), else a new one;
    it is chosen and claimed in one transaction. A run that a live process runs is refused
    (``RunInUse``); one left 'running' by a dead process is taken over.

    Several processes (``accelerate launch``): the main one shares ``{"run_id", **claimed(run_id)}``
    once the run is claimed, and the others get it in ``follow`` before they run the body."""
    if not isinstance(project, Project):
        with Project.open(project) as opened:
            return execute(ctx, opened, kind, config, body, resume_run=resume_run, name=name, pick=pick,
                           claimed=claimed, follow=follow)
    if distributed() and not is_main_process():
        return _follow(ctx, project, body, follow)
    try:
        started = project.runs.start(kind, config, name=name, resume_run=resume_run, pick=pick)
    except BaseException as e:
        if distributed():
            share({"error": str(e) or type(e).__name__})
        raise
    run_id = started.run_id
    if distributed():
        share({"run_id": run_id, **(claimed(run_id) if claimed else {})})
    try:
        return _run_claimed(ctx, project, body, started, run_id, resume_run)
    except BaseException as e:
        if distributed():
            share({"error": str(e) or type(e).__name__, "cancelled": isinstance(e, Cancelled | KeyboardInterrupt)})
        raise


def _run_claimed(ctx: Any, project: Project, body: Callable[[Project, RunContext, int], dict[str, Any]],
                 started: Any, run_id: int, resume_run: int | None) -> dict[str, Any]:
    heartbeat = Heartbeat(project.path, run_id).start()
    try:
        if ctx is not None and hasattr(ctx, "run_started"):
            ctx.run_started(run_id)
        rctx = RunContext(ctx, project, run_id)
        if started.took_over is not None:
            rctx.log(f"run {run_id} was left running by a process that is gone "
                     f"(pid {started.took_over.pid} on {started.took_over.host}); continuing it, its finished "
                     "work is kept")
        elif started.continued and resume_run is None:
            rctx.log(f"continuing unfinished run {run_id} (same settings); its finished work is kept")
        try:
            result = body(project, rctx, run_id) or {}
        except (Cancelled, KeyboardInterrupt):
            _record_end(project, run_id, "cancelled")
            try:
                rctx.log("cancelled: finished work is saved; start the same job again (or Resume) to continue")
            except ProjectError:
                pass
            raise
        except BaseException as e:
            _record_end(project, run_id, "failed", error=f"{type(e).__name__}: {e}", trace=traceback.format_exc())
            raise
        result = {"run_id": run_id, **result}
        project.runs.set_result(run_id, result, lineage=result.get("lineage"))
        project.runs.set_status(run_id, "done")
        if distributed():
            share({"result": result})
        return result
    finally:
        heartbeat.stop()
        project.runs.release(run_id)
