"""A job is one declared object: kind, params class, pre-flight, body, resume policy.

``Job`` ties together what the GUI dialog, the CLI and the runners need:
- ``params``: a dataclass of :func:`cai_desktop.core.params.param` fields (help, range, choices,
  where choices come from). The dialog and the CLI options are generated from it.
- ``prepare(project, params) -> plan``: the pre-flight, run once before a run row exists, so a
  bad setting gives one clear line and no empty run. Its plan is handed to the body.
- ``body(project, ctx, run_id, params, plan) -> result``: the work, batch by batch, committing
  each finished batch.
- the resume policy, the same for every job: with an explicit run to resume, that run continues
  with the settings it was started with (only the settings that do not change what it makes,
  such as the batch size, come from the new request); otherwise the newest *unfinished* run of
  the same kind whose identity settings match continues; a finished run is never reopened
  silently, so the same command twice after success makes a new run. A run that is 'running'
  in a live process (another window, a terminal, a double click) is not started twice: the
  launch is refused with one line naming the owner; one left 'running' by a process that died
  (kill -9, a crash, a power cut) is continued like any unfinished run.

``run_job(job, ctx, params)`` opens the project once, in the calling thread (a QThread worker
gets its own SQLite connection). Under ``accelerate launch`` every process calls it; only the main
one claims and records the run (``jobs.runs.execute``), the others follow it: the same run id, the
same resume decision, and a body whose ``ctx.main_process`` is False, so it writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cai_desktop.core.errors import CaiError, ProjectError
from cai_desktop.core.params import Params, infos, param
from cai_desktop.jobs.runs import RunContext, execute
from cai_desktop.store.project import Project

#: a run in one of these states is continued by the same job started again
UNFINISHED = ("queued", "running", "cancelled", "failed")


@dataclass
class JobParams(Params):
    """Fields every job has: the project file and the run to resume (the Resume button, ``--resume``)."""

    project: str = param("", hidden=True, help="The project file.")
    resume_run: int | None = param(None, hidden=True, identity=False, flags=("--resume",),
                                   help="Continue this earlier run (its id) instead of starting a new one.")


def _no_plan(project: Project, params: Any) -> Any:
    return None


@dataclass(frozen=True)
class Job:
    kind: str
    label: str
    description: str
    params: type
    body: Callable[[Project, RunContext, int, Any, Any], dict[str, Any]]
    prepare: Callable[[Project, Any], Any] = _no_plan
    #: the run's name in the runs table
    run_name: Callable[[Any], str] | None = None
    #: what the CLI prints when the job ends (lines), from the result
    summary: Callable[[dict[str, Any]], list[str]] | None = None
    #: one line for the CLI's ``run`` listing
    cli_help: str = ""

    def name_for(self, params: Any) -> str:
        return self.run_name(params) if self.run_name else self.label


def _normal(value: Any) -> Any:
    """JSON round trip, so a stored config and fresh params compare equal."""
    return json.loads(json.dumps(value, default=str))


def config_of(params: Params) -> dict[str, Any]:
    """What a run row stores: every declared setting but the project path and the run to resume."""
    return {i.name: getattr(params, i.name) for i in infos(type(params), include_hidden=True)
            if i.name not in ("project", "resume_run")}


def find_unfinished_run(project: Project, kind: str, params: Params) -> int | None:
    """The newest unfinished run of ``kind`` made with the same identity settings."""
    want = _normal(params.identity())
    for run in project.runs.list(kind):
        if run["status"] not in UNFINISHED:
            continue
        try:
            stored = type(params).from_config(json.loads(run.get("config_json") or "{}"))
        except (ValueError, TypeError, CaiError):
            continue  # a run stored by a version whose settings no longer convert: never matched
        have = _normal(stored.identity())
        if have == want:
            return run["id"]
    return None


def resumed_params(project: Project, job: Job, params: Params) -> Params:
    """The params a run continues with: its stored settings; the non-identity ones (limit, batch
    size, device) from ``params``."""
    run = project.runs.get(params.resume_run)
    if run["kind"] != job.kind:
        raise ProjectError(f"Run {params.resume_run} is a {run['kind']} run, not a {job.label} run.")
    cls = type(params)
    loose = {i.name: getattr(params, i.name) for i in infos(cls, include_hidden=True) if not i.identity}
    return cls.from_config(run.get("config") or {}, **{**loose, "project": params.project,
                                                       "resume_run": params.resume_run})


def run_job(job: Job, ctx: Any, params: Params) -> dict[str, Any]:
    """Check, prepare, pick the run (resume policy) and execute ``job``; returns its result."""
    params.check()
    with Project.open(params.project) as project:
        if params.resume_run is not None:
            params = resumed_params(project, job, params)
            params.check()
        plan = job.prepare(project, params)

        def pick() -> int | None:  # inside the transaction that claims the run (jobs.runs.execute)
            found = find_unfinished_run(project, job.kind, params)
            if found is not None:
                params.resume_run = found
            return found

        def follow(claimed: dict[str, Any]) -> None:  # another process of ``accelerate launch``
            params.resume_run = claimed.get("resume_run")

        return execute(ctx, project, job.kind, config_of(params),
                       lambda p, rc, rid: job.body(p, rc, rid, params, plan),
                       resume_run=params.resume_run, name=job.name_for(params), pick=pick,
                       claimed=lambda rid: {"resume_run": params.resume_run}, follow=follow)
