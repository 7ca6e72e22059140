"""The selected run on the Runs screen: its log shows each line once, its state is the runner's,
and a metric that never changes is a number, not a chart."""

from __future__ import annotations

import threading
import time

import pytest

from cai_desktop.store.project import Project
from cai_desktop.ui.main_window import MainWindow
from cai_desktop.ui.widgets.errors import close_error_boxes


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    assert w.create_project(tmp_path / "runs.caiproj", sample=True)
    w.show_page("runs")
    yield w
    w._force_close = True
    w.runner.shutdown(20000)
    close_error_boxes()


class Recorded:
    """A job body that records like a run does: each line is committed, then sent to the ctx."""

    def __init__(self, path, kind="fake"):
        self.path = str(path)
        self.kind = kind
        self.shown = threading.Event()  # the test showed the run (read its committed lines)
        self.checked = threading.Event()  # the test looked at the live view
        self.run_id = None

    def __call__(self, ctx, params):
        with Project.open(self.path) as p:
            run_id = self.run_id or p.runs.create(self.kind, {"steps": 5}, name="fake run")
            ctx.run_started(run_id)
            p.runs.set_status(run_id, "running")
            for i in range(3):  # committed before the GUI shows the run, signalled after
                p.runs.add_log(run_id, f"line {i}")
            self.shown.wait(10)
            for i in range(3):
                ctx.log(f"line {i}")
            for i in range(3, 5):
                p.runs.add_log(run_id, f"line {i}")
                ctx.log(f"line {i}")
                time.sleep(0.06)
            for step in range(5):
                p.runs.add_metric(run_id, "loss", 2.0 / (step + 1), step)
                ctx.metric("loss", 2.0 / (step + 1), step)
                p.runs.add_metric(run_id, "examples", 24, step)
                ctx.metric("examples", 24, step)
            self.checked.wait(10)
            p.runs.set_status(run_id, "done")
        return {"run_id": run_id}


def test_live_log_shows_each_line_once(window, qtbot):
    page = window.pages["runs"]
    job = Recorded(window.project.path)
    with qtbot.waitSignal(window.runner.job_run_started, timeout=10000) as started:
        window.runner.submit("fake", job, None, "fake")
    run_id = started.args[1]
    page.select_run(run_id)  # shows the three committed lines before their signals arrive
    job.shown.set()
    try:
        qtbot.waitUntil(lambda: "line 4" in page.log_view.toPlainText(), timeout=10000)
        qtbot.waitUntil(lambda: page.charts.get("loss") is not None and page.charts["loss"].point_count() == 5,
                        timeout=10000)
        assert page.log_view.toPlainText().splitlines() == [f"line {i}" for i in range(5)]
        # the same holds for metrics: each point once, and the constant one as a number
        assert set(page.charts) == {"loss"}
        assert "examples = 24" in page.constants_label.text() and page.constants_label.isVisible()
    finally:
        job.checked.set()
    assert window.runner.wait_idle(10000)
    assert page.log_view.toPlainText().splitlines() == [f"line {i}" for i in range(5)]


def test_header_table_and_queue_show_the_runners_state(window, qtbot):
    import tests.ui.test_jobrunner as jr

    page = window.pages["runs"]
    p = window.project
    run_id = p.runs.create("fake", {"steps": 5}, name="stopped earlier")
    p.runs.set_status(run_id, "cancelled")
    page.refresh()
    page.select_run(run_id)
    assert "<i>cancelled</i>" in page.run_title.text()

    class Resume:
        resume_run = run_id

    with qtbot.waitSignal(window.runner.job_progress, timeout=10000):
        busy = window.runner.submit("loop", jr.looping_job, None, "endless")
    job = Recorded(p.path)
    job.run_id = run_id
    job.shown.set()
    job.checked.set()
    resume = window.runner.submit("fake", job, Resume(), "fake (resume)")
    # queued behind another job: the header and the table say so, not "cancelled"
    assert "<i>queued to resume</i>" in page.run_title.text()
    row = next(r for r in range(page.model.rowCount()) if page.model.row_data(r)["id"] == run_id)
    assert page.model.data(page.model.index(row, 3)) == "queued to resume"
    assert page.queue_list.item(1).text() == f"fake (resume)  ·  queued to resume  ·  run #{run_id}"
    assert page.queue_list.item(0).text().startswith("endless  ·  running")
    window.runner.cancel(busy)
    qtbot.waitUntil(lambda: window.runner.jobs[resume].status != "queued", timeout=10000)
    assert window.runner.wait_idle(10000)
    assert window.runner.jobs[resume].status == "done"
    assert "<i>done</i>" in page.run_title.text()


def test_header_says_running_while_the_stored_row_still_says_queued(window, qtbot):
    page = window.pages["runs"]
    release = threading.Event()

    def job(ctx, params):
        with Project.open(window.project.path) as p:
            run_id = p.runs.create("fake", {}, name="just started")  # stored status: queued
            ctx.run_started(run_id)
            release.wait(10)
        return {"run_id": run_id}

    with qtbot.waitSignal(window.runner.job_run_started, timeout=10000) as started:
        job_id = window.runner.submit("fake", job, None, "fake")
    try:
        assert page.selected_run_id == started.args[1]
        assert window.project.runs.get(started.args[1])["status"] == "queued"
        assert "<i>running</i>" in page.run_title.text()
        page.btn_cancel.click()
        assert "<i>stopping</i>" in page.run_title.text()
        assert "waiting for the current step to finish" in page.message_label.text()
        assert window.runner.jobs[job_id].cancel_requested
    finally:
        release.set()
    assert window.runner.wait_idle(10000)


def test_a_finished_run_with_a_constant_metric_shows_it_as_a_number(window):
    page = window.pages["runs"]
    p = window.project
    run_id = p.runs.create("sft", {}, name="sft")
    for step in range(6):
        p.runs.add_metric(run_id, "loss", 1.0 / (step + 1), step)
        p.runs.add_metric(run_id, "examples", 12, step)
        p.runs.add_metric(run_id, "entropy", 2.4101 + step * 1e-4, step)
    p.runs.set_status(run_id, "done")
    page.refresh()
    page.select_run(run_id)
    assert set(page.charts) == {"loss", "entropy"}
    assert page.constants_label.text() == "Constant: examples = 12"
    only_constant = p.runs.create("sft", {}, name="flat")
    p.runs.add_metric(only_constant, "examples", 12, 0)
    page.refresh()
    page.select_run(only_constant)
    assert page.charts == {} and "examples = 12" in page.constants_label.text()
