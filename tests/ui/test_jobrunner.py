"""The Qt job runner, without a window: fake jobs (no model) exercise every path."""

from __future__ import annotations

import time

import pytest

from cai_desktop.core.errors import Cancelled, ValidationError
from cai_desktop.ui.jobrunner import QtJobContext, running_threads


def counting_job(ctx, params):
    n = params["n"]
    for i in range(n):
        ctx.metric("loss", 1.0 / (i + 1), i)
        ctx.progress(i + 1, n, f"step {i + 1}")
    ctx.log("all done")
    return {"steps": n}


def looping_job(ctx, params):
    i = 0
    while True:
        i += 1
        ctx.progress(i, 1_000_000, "looping")
        if ctx.cancelled():
            raise Cancelled("stopped")
        time.sleep(0.005)


def test_delivers_progress_metrics_log_and_result(qtbot, runner):
    metrics, logs, progress = [], [], []
    runner.job_metric.connect(lambda j, n, v, s: metrics.append((n, v, s)))
    runner.job_log.connect(lambda j, t: logs.append(t))
    runner.job_progress.connect(lambda j, d, t, m, e: progress.append((d, t)))
    with qtbot.waitSignal(runner.job_finished, timeout=10000) as blocker:
        job = runner.submit("fake", counting_job, {"n": 50}, "fake job")
    assert blocker.args[0] == job
    assert blocker.args[1] == {"steps": 50}
    runner.wait_idle(5000)
    # metrics are never dropped, only batched
    assert [s for _, _, s in metrics] == list(range(50))
    assert metrics[0] == ("loss", 1.0, 0)
    assert "all done" in "\n".join(logs)
    # progress is throttled but the final value always arrives
    assert progress and progress[-1] == (50, 50)
    assert runner.jobs[job].status == "done"
    assert not runner.is_busy()


def test_progress_is_throttled():
    class FakeSignal:
        def __init__(self):
            self.calls = []

        def emit(self, *a):
            self.calls.append(a)

    class FakeWorker:
        job_id = 1

        def __init__(self):
            self.progress, self.log, self.metric, self.run_started = (FakeSignal() for _ in range(4))

    w = FakeWorker()
    ctx = QtJobContext(w)  # type: ignore[arg-type]
    for i in range(1000):
        ctx.progress(i + 1, 1000)
    # 1000 calls within a few ms: only a handful of emissions, and the last one is 1000/1000
    assert len(w.progress.calls) < 50
    assert w.progress.calls[-1][1:3] == (1000, 1000)


def test_failure_becomes_failed_signal_with_details(qtbot, runner):
    def bad(ctx, params):
        raise ValidationError("revisions must be between 1 and 16")

    def crash(ctx, params):
        return 1 / 0

    with qtbot.waitSignal(runner.job_failed, timeout=10000) as blocker:
        runner.submit("bad", bad, None)
    assert blocker.args[1] == "revisions must be between 1 and 16"
    assert "ValidationError" in blocker.args[2]
    with qtbot.waitSignal(runner.job_failed, timeout=10000) as blocker:
        runner.submit("crash", crash, None)
    assert blocker.args[1].startswith("ZeroDivisionError")
    assert "Traceback" in blocker.args[2]
    assert runner.wait_idle(5000)


def test_cancel_running_job_stops_thread(qtbot, runner):
    with qtbot.waitSignal(runner.job_progress, timeout=10000):
        job = runner.submit("loop", looping_job, None)
    assert runner.is_busy()
    with qtbot.waitSignal(runner.job_cancelled, timeout=10000) as blocker:
        runner.cancel(job)
    assert blocker.args == [job]
    assert runner.wait_idle(10000)
    assert runner.jobs[job].status == "cancelled"
    assert running_threads() == []


def test_queue_runs_one_at_a_time_in_order(qtbot, runner):
    state = {"active": 0, "max_active": 0, "order": []}

    def job(ctx, params):
        state["active"] += 1
        state["max_active"] = max(state["max_active"], state["active"])
        state["order"].append(params)
        time.sleep(0.05)
        state["active"] -= 1
        return {"i": params}

    ids = [runner.submit("q", job, i) for i in range(3)]
    assert len(runner.queued_jobs()) + (runner.current_job() is not None) == 3
    assert runner.wait_idle(15000)
    assert state["order"] == [0, 1, 2]
    assert state["max_active"] == 1
    assert [runner.jobs[i].status for i in ids] == ["done"] * 3


def test_cancel_queued_job_never_runs(qtbot, runner):
    ran = []
    with qtbot.waitSignal(runner.job_progress, timeout=10000):
        first = runner.submit("loop", looping_job, None)
    second = runner.submit("never", lambda ctx, p: ran.append(1), None)
    runner.cancel(second)
    assert runner.jobs[second].status == "cancelled"
    runner.cancel(first)
    assert runner.wait_idle(10000)
    assert ran == []


def test_run_started_hook_records_run_id(qtbot, runner, project_path):
    from cai_desktop.jobs.runs import execute
    from cai_desktop.store.project import Project

    Project.create(project_path).close()

    def job(ctx, params):
        def body(project, rctx, run_id):
            rctx.metric("loss", 0.5, 1)
            rctx.log("hello")
            return {"ok": True}

        return execute(ctx, str(project_path), "fake", {"a": 1}, body)

    with qtbot.waitSignal(runner.job_run_started, timeout=10000) as started:
        job_id = runner.submit("fake", job, None)
    assert runner.wait_idle(10000)
    run_id = started.args[1]
    assert runner.jobs[job_id].run_id == run_id
    with Project.open(project_path) as p:
        assert p.runs.get(run_id)["status"] == "done"
        assert p.runs.metrics(run_id)[0]["value"] == pytest.approx(0.5)


def test_full_gc_is_kept_short_while_jobs_run_and_restored_after(qtbot, runner):
    import gc

    before = gc.get_threshold()
    seen = {}

    def job(ctx, params):
        seen["frozen"] = gc.get_freeze_count()
        seen["threshold"] = gc.get_threshold()
        return {}

    runner.submit("gc", job, None)
    assert runner.wait_idle(10000)
    assert seen["frozen"] > 0  # the GUI and loaded modules are not re-walked by full collections
    assert seen["threshold"][2] > before[2]
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0  # nothing stays frozen: no garbage can leak


# -- every line once, nothing held back ------------------------------------------------------------
def test_each_log_line_arrives_exactly_once(qtbot, runner):
    lines = []
    runner.job_log.connect(lambda j, t: lines.extend(t.splitlines()))

    def job(ctx, params):
        for i in range(5):
            ctx.log(f"line {i}")
            if i % 2:
                time.sleep(0.07)  # some lines in a burst, some after the throttle interval
        ctx.progress(1, 1, "done")
        return {}

    runner.submit("logs", job, None)
    assert runner.wait_idle(10000)
    assert lines == [f"line {i}" for i in range(5)]


def test_throttled_progress_and_log_arrive_while_the_job_is_busy(qtbot, runner):
    import threading

    release = threading.Event()
    progress, lines = [], []
    runner.job_progress.connect(lambda j, d, t, m, e: progress.append((d, t, m)))
    runner.job_log.connect(lambda j, t: lines.extend(t.splitlines()))

    def job(ctx, params):
        ctx.progress(1, 10, "first")
        ctx.log("first line")
        ctx.progress(2, 10, "second")  # held back by the throttle...
        ctx.log("last line before a long step")
        release.wait(10)  # ...while the job is busy and calls nothing
        return {}

    runner.submit("slow", job, None)
    try:
        # the timer delivers them: within ~100 ms (the bound here is generous for a loaded machine)
        qtbot.waitUntil(lambda: bool(progress) and progress[-1] == (2, 10, "second"), timeout=2000)
        qtbot.waitUntil(lambda: bool(lines) and lines[-1] == "last line before a long step", timeout=2000)
        assert lines == ["first line", "last line before a long step"]
    finally:
        release.set()
    assert runner.wait_idle(10000)


# -- ETA ---------------------------------------------------------------------------------------------
def test_eta_shows_from_the_first_report_with_work_done():
    from cai_desktop.ui.jobrunner import EtaClock

    clock = EtaClock()
    assert clock.update(0, 4, 100.0) == (0, -1.0)  # "0/4 starting": nothing to go by yet
    done, eta = clock.update(1, 4, 110.0)  # the first step: an estimate at once
    assert done == 1 and eta == pytest.approx(30.0)
    # from then on the rate counts from that first step, not from the slow start
    assert clock.update(2, 4, 112.0) == (2, pytest.approx(4.0))
    assert clock.update(4, 4, 114.0) == (4, 0.0)


def test_eta_of_a_resumed_run_counts_only_its_own_work_and_never_goes_back():
    from cai_desktop.ui.jobrunner import EtaClock

    clock = EtaClock()
    assert clock.update(8, 12, 0.0) == (8, -1.0)  # 8 done earlier: not speed
    assert clock.update(9, 12, 5.0) == (9, pytest.approx(15.0))
    assert clock.update(3, 12, 6.0)[0] == 9  # a lower report in the same count: the bar stays
    assert clock.update(10, 12, 7.0) == (10, pytest.approx(4.0))
    # a new total is a new count (a second phase): it starts again
    assert clock.update(0, 3, 8.0) == (0, -1.0)


def test_runner_sends_the_eta_and_a_progress_that_never_jumps_back(qtbot, runner):
    got = []
    runner.job_progress.connect(lambda j, d, t, m, e: got.append((d, t, e)))

    def resumed(ctx, params):
        for done in (8, 9, 5, 10, 11, 12):
            ctx.progress(done, 12, "chains")
            time.sleep(0.06)
        return {}

    job = runner.submit("resume", resumed, None)
    assert runner.wait_idle(10000)
    shown = [d for d, _, _ in got]
    assert shown == sorted(shown) and shown[-1] == 12
    assert got[0][2] == -1.0  # no estimate from work done before the resume
    assert any(e > 0 for d, _, e in got if d < 12)
    assert runner.jobs[job].done == 12


# -- one source of truth for a job's state ---------------------------------------------------------
def test_a_resume_job_belongs_to_its_run_while_queued(qtbot, runner):
    from dataclasses import dataclass

    @dataclass
    class Params:
        resume_run: int | None = None

    with qtbot.waitSignal(runner.job_progress, timeout=10000):
        first = runner.submit("loop", looping_job, None, "endless")
    second = runner.submit("resume", lambda ctx, p: {}, Params(resume_run=7), "resume #7")
    assert runner.job_for_run(7).id == second
    assert runner.jobs[second].state == "queued to resume"
    assert runner.jobs[first].state == "running"
    runner.cancel(first)
    assert runner.jobs[first].state == "stopping"
    assert runner.wait_idle(10000)
    assert runner.jobs[first].state == "cancelled" and runner.jobs[second].state == "done"


# -- light calls beside the queue ------------------------------------------------------------------
def test_background_call_runs_beside_a_running_job(qtbot, runner):
    with qtbot.waitSignal(runner.job_progress, timeout=10000):
        job = runner.submit("loop", looping_job, None)
    call = runner.call_in_background(lambda ctx, p: {"checked": p}, "org/name", "check")
    with qtbot.waitSignal(call.ended, timeout=10000):
        pass
    assert call.result == {"checked": "org/name"}
    assert runner.jobs[job].status == "running"  # it did not wait for the queue
    bad = runner.call_in_background(lambda ctx, p: 1 / 0, None, "bad")
    with qtbot.waitSignal(bad.failed, timeout=10000) as blocker:
        pass
    assert blocker.args[0].startswith("ZeroDivisionError")
    runner.cancel(job)
    assert runner.wait_idle(10000, background=True)
    assert running_threads() == []


def test_sending_many_signals_keeps_the_interpreters_bools_alive():
    """A leaky PySide6 emit took a reference to True per signal; a long job then aborted the app."""
    import sys

    from PySide6.QtCore import QObject, Signal

    from cai_desktop.ui.jobrunner import emit

    class Sender(QObject):
        value = Signal(int)

    sender = Sender()
    sender.value.connect(lambda v: None)
    before = sys.getrefcount(True)
    for i in range(5000):
        emit(sender.value, i)
    assert abs(sys.getrefcount(True) - before) < 50
