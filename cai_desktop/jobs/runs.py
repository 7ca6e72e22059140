"""Run bookkeeping shared by every job: a run row, its status, metrics and log in the project.

A job body is ``body(project, rctx, run_id) -> dict``. ``execute`` records the run in the project
that ``jobs.base.run_job`` opened in the calling thread, and passes
a ``RunContext`` that stores metrics/logs in the project and forwards them to the outer context
(terminal or GUI). A cancelled run is marked ``cancelled`` (its committed work stays) and the
``Cancelled`` error propagates so the caller can say so; the resume policy is ``jobs.base``'s.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

from cai_desktop.core.context import check_cancelled
from cai_desktop.core.errors import Cancelled
from cai_desktop.store.project import Project


class RunContext:
    """Forwards to the outer ctx and records metrics/log/progress into the run."""

    def __init__(self, outer: Any, project: Project, run_id: int):
        self.outer = outer
        self.project = project
        self.run_id = run_id
        self._last_progress = 0.0

    def progress(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        if now - self._last_progress > 1.0 or done >= total:
            self._last_progress = now
            self.project.runs.set_progress(self.run_id, done, total)
        if self.outer is not None:
            self.outer.progress(done, total, message)

    def log(self, text: str) -> None:
        self.project.runs.add_log(self.run_id, text)
        if self.outer is not None:
            self.outer.log(text)

    def metric(self, name: str, value: float, step: int) -> None:
        self.project.runs.add_metric(self.run_id, name, value, step)
        if self.outer is not None:
            self.outer.metric(name, value, step)

    def cancelled(self) -> bool:
        return bool(self.outer is not None and self.outer.cancelled())

    def check_cancelled(self) -> None:
        check_cancelled(self)


def execute(
    ctx: Any,
    project: Project | str,
    kind: str,
    config: dict[str, Any],
    body: Callable[[Project, RunContext, int], dict[str, Any]],
    *,
    resume_run: int | None = None,
    name: str = "",
) -> dict[str, Any]:
    """Run ``body`` as a recorded run of ``kind`` in the open ``project``; returns its result
    dict (with ``run_id``). A cancel (or Ctrl+C) marks the run cancelled; its committed work stays.
    ``project`` may be a path: it is then opened (and closed) here, in the calling thread."""
    if not isinstance(project, Project):
        with Project.open(project) as opened:
            return execute(ctx, opened, kind, config, body, resume_run=resume_run, name=name)
    if resume_run is not None:
        run_id = resume_run
        project.runs.get(run_id)  # raises a clear error if it does not exist
    else:
        run_id = project.runs.create(kind, config, name=name)
    if ctx is not None and hasattr(ctx, "run_started"):
        ctx.run_started(run_id)
    project.runs.set_status(run_id, "running")
    rctx = RunContext(ctx, project, run_id)
    try:
        result = body(project, rctx, run_id) or {}
    except (Cancelled, KeyboardInterrupt):
        project.runs.set_status(run_id, "cancelled")
        rctx.log("cancelled: finished work is saved; start the same job again (or Resume) to continue")
        raise
    except BaseException as e:
        project.runs.set_status(run_id, "failed", error=f"{type(e).__name__}: {e}")
        project.runs.add_log(run_id, traceback.format_exc())
        raise
    result = {"run_id": run_id, **result}
    project.runs.set_result(run_id, result, lineage=result.get("lineage"))
    project.runs.set_status(run_id, "done")
    return result
