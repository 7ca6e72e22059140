"""A run has an owner while it runs (pid, host, heartbeat): a run left 'running' by a process that
died is continued by the same command; one running in a live process is refused in one line
(issue 16: after kill -9 an SFT run stayed 'running' forever; two copies of a job collided)."""

import dataclasses
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cai_desktop.core.errors import RunInUse
from cai_desktop.core.params import param
from cai_desktop.jobs.base import Job, JobParams, run_job
from cai_desktop.jobs.context import RecordingContext
from cai_desktop.jobs.runs import RunContext
from cai_desktop.store import runs as store_runs
from cai_desktop.store import schema
from cai_desktop.store.project import Project
from cai_desktop.store.runs import pid_alive, this_host

ROOT = Path(__file__).parents[2]


@dataclasses.dataclass
class CountParams(JobParams):
    n: int = param(3, label="N", range=(1, 99), help="How many numbers the counting job writes to its log.")


def _count(project, ctx, run_id, params, plan):
    done = {line for line in project.runs.logs(run_id) if line.startswith("number ")}
    for i in range(params.n):
        if f"number {i}" not in done:
            ctx.log(f"number {i}")
    return {"n": params.n}


COUNT = Job(kind="count", label="Count", description="Writes numbers; a test job.", params=CountParams, body=_count)


def _dead_pid() -> int:
    """A pid no process has (one that just ended)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not pid_alive(proc.pid)
    return proc.pid


def _left_running(path, pid, host, heartbeat="now"):
    """A count run with two numbers done, left 'running' by ``pid`` on ``host``."""
    with Project.create(path, exist_ok=True) as p:
        run_id = p.runs.create("count", {"n": 3})
        p.runs.add_log(run_id, "number 0")
        p.runs.add_log(run_id, "number 1")
        stamp = store_runs.now() if heartbeat == "now" else heartbeat
        p.db.execute("UPDATE runs SET status='running', owner_pid=?, owner_host=?, heartbeat_at=? WHERE id=?",
                     [pid, host, stamp, run_id])
    return run_id


def test_pid_alive():
    assert pid_alive(os.getpid())
    assert not pid_alive(_dead_pid())
    assert not pid_alive(0) and not pid_alive(-5)


def test_a_run_left_running_by_a_dead_process_is_continued_by_the_same_command(project_path):
    run_id = _left_running(project_path, _dead_pid(), this_host())
    ctx = RecordingContext()
    r = run_job(COUNT, ctx, CountParams(project=str(project_path)))
    assert r["run_id"] == run_id
    assert any(f"run {run_id} was left running by a process that is gone" in line for line in ctx.logs)
    with Project.open(project_path) as p:
        assert p.runs.logs(run_id).count("number 1") == 1 and "number 2" in p.runs.logs(run_id)
        assert p.runs.get(run_id)["status"] == "done" and p.runs.count("count") == 1
        assert p.runs.owner(run_id) is None  # not running any more


def test_a_run_running_in_this_process_on_another_connection_is_refused(project_path):
    with Project.create(project_path) as p:
        run_id = p.runs.create("count", {"n": 3})
    other = Project.open(project_path)
    try:
        other.runs.claim(run_id)
        with pytest.raises(RunInUse, match=rf"^run {run_id} is running in this program \(pid {os.getpid()}\); "
                                           "wait for it or cancel it first") as e:
            run_job(COUNT, RecordingContext(), CountParams(project=str(project_path)))
        assert "\n" not in str(e.value) and e.value.run_id == run_id
        with pytest.raises(RunInUse):  # --resume N too
            run_job(COUNT, RecordingContext(), CountParams(project=str(project_path), resume_run=run_id))
        with Project.open(project_path) as p:
            assert p.runs.get(run_id)["status"] == "running" and p.runs.count("count") == 1
            assert p.runs.logs(run_id) == []
    finally:
        other.runs.release(run_id)
        other.close()
    # once this process no longer runs it (its thread ended without a final status), it continues
    r = run_job(COUNT, RecordingContext(), CountParams(project=str(project_path)))
    assert r["run_id"] == run_id


def test_a_run_running_in_another_live_process_is_refused_naming_it(project_path):
    with Project.create(project_path) as p:
        run_id = p.runs.create("count", {"n": 3})
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from cai_desktop.store.project import Project
            p = Project.open({str(project_path)!r})
            p.runs.claim({run_id})
            print("claimed", flush=True)
            sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "claimed"
        with pytest.raises(RunInUse) as e:
            run_job(COUNT, RecordingContext(), CountParams(project=str(project_path)))
        assert str(e.value).startswith(f"run {run_id} is running in another process (pid {holder.pid} on this "
                                       "machine")
        assert str(e.value).endswith("; wait for it or cancel it there.")
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone (killed): the same command continues the run
    r = run_job(COUNT, RecordingContext(), CountParams(project=str(project_path)))
    assert r["run_id"] == run_id


def test_another_host_counts_by_its_heartbeat(project_path):
    fresh = _left_running(project_path, 4242, "some-other-host")
    with pytest.raises(RunInUse, match=rf"run {fresh} is running in another process \(pid 4242 on some-other-host"):
        run_job(COUNT, RecordingContext(), CountParams(project=str(project_path)))
    with Project.open(project_path) as p:
        p.db.execute("UPDATE runs SET heartbeat_at='2020-01-01T00:00:00+00:00' WHERE id=?", [fresh])
    assert run_job(COUNT, RecordingContext(), CountParams(project=str(project_path)))["run_id"] == fresh


def test_a_run_from_before_owners_were_recorded_is_continued(project_path):
    run_id = _left_running(project_path, None, None, heartbeat=None)
    assert run_job(COUNT, RecordingContext(), CountParams(project=str(project_path)))["run_id"] == run_id


def test_two_launches_at_once_make_one_run(project_path):
    """The choice of run and its claim are one transaction: of two launches with nothing to
    continue, one makes the run and the other is refused (it sees the run, alive)."""
    Project.create(project_path).close()
    a, b = Project.open(project_path), Project.open(project_path)
    try:
        first = a.runs.start("count", {"n": 3}, pick=lambda: None)
        pick = lambda: b.runs.list("count")[0]["id"]  # noqa: E731 - what the resume policy would find
        with pytest.raises(RunInUse):
            b.runs.start("count", {"n": 3}, pick=pick)
        assert b.runs.count("count") == 1 and not first.continued
    finally:
        a.runs.release(first.run_id)
        a.close()
        b.close()


def test_progress_log_and_metric_beat_at_most_every_few_seconds(project_path, monkeypatch):
    with Project.create(project_path) as p:
        run_id = p.runs.start("count", {}).run_id
        p.db.execute("UPDATE runs SET heartbeat_at='2020-01-01T00:00:00+00:00' WHERE id=?", [run_id])
        rctx = RunContext(None, p, run_id)
        rctx.log("soon after the start: no beat yet")
        assert p.runs.get(run_id)["heartbeat_at"].startswith("2020")
        monkeypatch.setattr(store_runs, "BEAT_EVERY", 0.0)
        monkeypatch.setattr("cai_desktop.jobs.runs.BEAT_EVERY", 0.0)
        rctx.progress(1, 2)
        assert not p.runs.get(run_id)["heartbeat_at"].startswith("2020")
        p.runs.release(run_id)


def test_the_heartbeat_thread_beats_while_the_job_is_silent(project_path):
    with Project.create(project_path) as p:
        run_id = p.runs.start("count", {}).run_id
        p.db.execute("UPDATE runs SET heartbeat_at='2020-01-01T00:00:00+00:00' WHERE id=?", [run_id])
        beat = store_runs.Heartbeat(project_path, run_id, every=0.05).start()
        try:
            deadline = time.monotonic() + 10
            while p.runs.get(run_id)["heartbeat_at"].startswith("2020") and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            beat.stop()
        assert not p.runs.get(run_id)["heartbeat_at"].startswith("2020")
        p.runs.release(run_id)


def test_an_old_file_gets_the_owner_columns_after_a_backup(project_path, monkeypatch):
    everything = list(schema.migrations._migrations)
    monkeypatch.setattr(schema.migrations, "_migrations", everything[:1])
    with Project.create(project_path) as p:
        p.runs.create("count", {"n": 3})
    monkeypatch.setattr(schema.migrations, "_migrations", everything)
    with Project.open(project_path) as p:
        assert p.upgrade and p.upgrade["backup"].exists()
        cols = {r["name"] for r in p.query("PRAGMA table_info(runs)")}
        assert {"owner_pid", "owner_host", "heartbeat_at"} <= cols
    con = sqlite3.connect(p.upgrade["backup"])
    assert "owner_pid" not in {r[1] for r in con.execute("PRAGMA table_info(runs)")}
    con.close()


def test_a_step_repeated_after_a_resume_replaces_its_metric(project_path):
    """A trainer killed after its last checkpoint repeats those steps when resumed: one value per
    step, the latest (the fault suite found the preference model's loss doubled at such steps)."""
    with Project.create(project_path) as p:
        run_id = p.runs.create("reward", {})
        for step, value in ((1, 0.9), (2, 0.8), (3, 0.7), (2, 0.75), (3, 0.65)):
            p.runs.add_metric(run_id, "loss", value, step)
        p.runs.add_metric(run_id, "lr", 0.1, 2)
        assert [(m["step"], m["value"]) for m in p.runs.metrics(run_id, "loss")] == [(1, 0.9), (2, 0.75), (3, 0.65)]
        assert len(p.runs.metrics(run_id)) == 4
