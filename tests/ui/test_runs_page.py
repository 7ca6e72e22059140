"""The runs screen (and models screen): launch from dialogs, live charts and log, cancel, resume,
a large project that opens lazily, and a tiny critique job run from the GUI."""

from __future__ import annotations

import time

import pytest

from cai_desktop.core.errors import Cancelled
from cai_desktop.jobs.runs import execute
from cai_desktop.store.project import Project
from cai_desktop.ui.main_window import MainWindow
from cai_desktop.ui.widgets.errors import close_error_boxes
from cai_desktop.ui.widgets.paged import PagedTableModel


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    assert w.create_project(tmp_path / "gui.caiproj", sample=True)
    yield w
    w._force_close = True
    w.runner.shutdown(20000)
    close_error_boxes()


def metric_job(ctx, params):
    """A recorded run that logs metrics and a log line per step (no model)."""

    def body(project, rctx, run_id):
        for step in range(params["steps"]):
            rctx.metric("loss", 2.0 / (step + 1), step)
            rctx.metric("reward", step * 0.1, step)
            rctx.log(f"step {step}")
            rctx.progress(step + 1, params["steps"], f"step {step + 1}")
            if params.get("wait_cancel"):
                while not rctx.cancelled():
                    time.sleep(0.005)
                raise Cancelled("stopped")
        return {"steps": params["steps"]}

    return execute(ctx, params["project"], "fake", {"steps": params["steps"]}, body, name="fake training")


# -- the paged model ------------------------------------------------------------------------------
def test_paged_model_reads_only_the_pages_it_needs():
    data = [{"id": i, "text": f"row {i}\nsecond line"} for i in range(10_000)]
    calls = []

    def fetch(offset, limit):
        calls.append((offset, limit))
        return data[offset: offset + limit]

    model = PagedTableModel([("id", "#"), ("text", "Text")], fetch, lambda: len(data), page_size=50)
    assert model.rowCount() == 10_000 and model.columnCount() == 2
    assert calls == []
    assert model.row_data(1234)["id"] == 1234
    assert model.data(model.index(1234, 1)) == "row 1234…"
    assert model.row_data(1240)["id"] == 1240  # same page: cached
    assert calls == [(1200, 50)]
    assert model.headerData(1, model_orientation()) == "Text"
    data.append({"id": 10_000, "text": "new"})
    model.reload()
    assert model.rowCount() == 10_001 and model.row_data(10_000)["text"] == "new"


def model_orientation():
    from PySide6.QtCore import Qt

    return Qt.Orientation.Horizontal


def test_large_project_opens_without_loading_every_run(qtbot, tmp_path):
    path = tmp_path / "big.caiproj"
    with Project.create(path) as p, p.atomic():
        p.db.conn.executemany(
            "INSERT INTO runs (kind, name, status, config_json, created_at) VALUES (?, ?, 'done', '{}', '2025-01-01')",
            [("critique", f"run {i}") for i in range(20_000)],
        )
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    try:
        assert w.open_project(path)
        page = w.pages["runs"]
        w.show_page("runs")
        qtbot.wait(50)
        assert page.model.rowCount() == 20_000
        assert page.model.rows_fetched <= 3 * page.model.page_size
        page.table.scrollToBottom()
        qtbot.wait(50)
        assert page.model.row_data(19_999)["name"] == "run 0"
        assert page.model.rows_fetched <= 6 * page.model.page_size
    finally:
        w.close()


# -- live charts, log, cancel ---------------------------------------------------------------------
def test_live_metrics_log_and_progress_of_selected_run(window, qtbot):
    page = window.pages["runs"]
    window.show_page("runs")
    with qtbot.waitSignal(window.runner.job_ended, timeout=20000):
        window.runner.submit("fake", metric_job, {"project": str(window.project.path), "steps": 20}, "fake")
    run_id = window.project.runs.list("fake")[0]["id"]
    assert page.selected_run_id == run_id
    assert set(page.charts) == {"loss", "reward"}
    assert page.charts["loss"].point_count() == 20
    assert page.charts["loss"].series["loss"][0] == (0.0, 2.0)
    assert "step 19" in page.log_view.toPlainText()
    assert page.progress.value() == page.progress.maximum() == 20
    assert page.model.row_data(0)["status"] == "done"
    assert '"steps": 20' in page.settings_view.toPlainText()
    # a chart widget paints without error (offscreen grab)
    assert not page.charts["loss"].grab().isNull()


def test_cancel_selected_run_from_runs_page(window, qtbot):
    page = window.pages["runs"]
    with qtbot.waitSignal(window.runner.job_run_started, timeout=20000):
        job = window.runner.submit(
            "fake", metric_job, {"project": str(window.project.path), "steps": 5, "wait_cancel": True}, "fake")
    qtbot.waitUntil(lambda: page.btn_cancel.isEnabled(), timeout=10000)
    with qtbot.waitSignal(window.runner.job_ended, timeout=20000):
        page.btn_cancel.click()
    assert window.runner.jobs[job].status == "cancelled"
    run = window.project.runs.get(page.selected_run_id)
    assert run["status"] == "cancelled"
    assert window.project.runs.metrics(run["id"], "loss"), "committed work kept"


# -- dialogs ------------------------------------------------------------------------------------
def test_new_run_dialog_is_built_from_params_and_checks_input(window):
    page = window.pages["runs"]
    dlg = page.open_new_run_dialog("critique")
    form = dlg.form
    assert "project" not in form.widgets
    assert {"constitution", "prompt_set", "revisions", "model", "seed"} <= set(form.widgets)
    assert form.widgets["revisions"].toolTip().startswith("Critique")
    names = [form.widgets["constitution"].itemData(i) for i in range(form.widgets["constitution"].count())]
    assert names == [c["name"] for c in window.project.constitutions.list()]
    ok = dlg.buttons.buttons()[0]
    assert dlg.message.text() == ""
    form.set_value("revisions", "many")
    assert "whole number" in dlg.message.text() and not ok.isEnabled()
    form.set_value("revisions", 40)
    assert "between 0 and 16" in dlg.message.text()
    form.set_value("temperature", "3")
    form.set_value("revisions", 2)
    assert "Temperature" in dlg.message.text()
    form.set_value("temperature", "0")
    form.set_value("limit", "3")
    assert dlg.message.text() == "" and ok.isEnabled()
    params = dlg.params()
    assert (params.revisions, params.limit, params.temperature) == (2, 3, 0.0)
    assert params.project == str(window.project.path)
    dlg.reject()


def tiny_critique_dialog(page, model_dir, **extra):
    dlg = page.open_new_run_dialog("critique")
    values = dict(model=str(model_dir), limit=2, revisions=1, max_new_tokens=8, critique_max_new_tokens=8,
                  batch_size=2, split=None, few_shot=0, **extra)
    for k, v in values.items():
        dlg.form.set_value(k, v)
    assert dlg.message.text() == ""
    return dlg


def test_tiny_critique_job_from_the_gui_shows_its_chains(window, qtbot, tiny_model_dir):
    page = window.pages["runs"]
    window.show_page("runs")
    dlg = tiny_critique_dialog(page, tiny_model_dir)
    with qtbot.waitSignal(window.runner.job_ended, timeout=120000):
        dlg.accept()
    job = list(window.runner.jobs.values())[-1]
    assert job.status == "done", job.error
    run_id = job.run_id
    n = window.project.db.execute("SELECT COUNT(*) FROM chains WHERE run_id=?", [run_id]).fetchone()[0]
    assert n == 2
    assert page.selected_run_id == run_id
    assert page.model.row_data(0)["id"] == run_id and page.model.row_data(0)["status"] == "done"
    assert page.log_view.toPlainText().strip()
    assert window.device_label.text().startswith("Device: CPU")


def test_resume_a_cancelled_critique_run(window, qtbot, tiny_model_dir):
    from cai_desktop.jobs.context import RecordingContext
    from cai_desktop.jobs.critique import CritiqueParams, run_critique

    params = CritiqueParams(project=str(window.project.path), model=str(tiny_model_dir), limit=4, revisions=1,
                            max_new_tokens=8, critique_max_new_tokens=8, batch_size=2, split=None, few_shot=0)
    with pytest.raises(Cancelled):
        run_critique(RecordingContext(cancel_after_progress=1), params)
    run_id = window.project.runs.list("critique")[0]["id"]
    page = window.pages["runs"]
    page.refresh()
    page.select_run(run_id)
    assert window.project.runs.get(run_id)["status"] == "cancelled"
    assert page.btn_resume.isEnabled()
    with qtbot.waitSignal(window.runner.job_ended, timeout=120000):
        page.btn_resume.click()
    job = list(window.runner.jobs.values())[-1]
    assert job.status == "done", job.error
    assert job.params.resume_run == run_id
    assert window.project.runs.get(run_id)["status"] == "done"
    n = window.project.db.execute("SELECT COUNT(*) FROM chains WHERE run_id=?", [run_id]).fetchone()[0]
    assert n == 4


def test_try_it_answers_with_two_models(window, qtbot, tiny_model_dir):
    page = window.pages["models"]
    with qtbot.waitSignal(page.model_added, timeout=10000):  # checked off the GUI thread
        assert page.add_model(str(tiny_model_dir))
    specs = [page.combo_a.itemData(i)[0] for i in range(page.combo_a.count())]
    assert str(tiny_model_dir.resolve()) in specs
    i = specs.index(str(tiny_model_dir.resolve()))
    page.combo_a.setCurrentIndex(i)
    page.combo_b.setCurrentIndex(i)
    page.max_tokens.setValue(6)
    page.prompt.setPlainText("Say hello.")
    with qtbot.waitSignal(window.runner.job_ended, timeout=120000):
        page.btn_answer.click()
    assert page.last_result is not None
    assert page.last_result["a"]["text"] == page.last_result["b"]["text"]  # greedy: same model, same answer
    assert page.btn_answer.isEnabled()
    assert page.out_a.toPlainText()


def test_adding_a_non_model_is_refused(window, qtbot, tmp_path):
    page = window.pages["models"]
    (tmp_path / "empty").mkdir()
    with qtbot.waitSignal(page.model_refused, timeout=10000):
        page.add_model(str(tmp_path / "empty"))
    assert not [m for m in window.project.models.list() if "empty" in m["spec"]]


def test_every_launchable_job_has_a_dialog_and_eval_takes_adapter_ids(window):
    from cai_desktop.jobs.registry import LAUNCHABLE

    page = window.pages["runs"]
    for kind in LAUNCHABLE:
        assert page.new_buttons[kind].isEnabled(), kind
        dlg = page.open_new_run_dialog(kind)
        assert dlg is not None and "project" not in dlg.form.widgets, kind
        dlg.reject()
    dlg = page.open_new_run_dialog("eval")
    assert dlg.message.text() == ""
    dlg.form.set_value("adapter_ids", "3, 5")
    dlg.form.set_value("limit", "4")
    params = dlg.params()
    assert params.adapter_ids == [3, 5] and params.limit == 4 and params.split == "test"
    dlg.reject()


def test_eval_run_result_shows_the_rate_table(window):
    from cai_desktop.store.project import Project

    result = {"policies": [{"label": "base (default)", "rates": {"red-team": {"n": 4, "refusal_rate": 0.25,
                                                                             "mean_chars": 100.0}}}],
              "examples": [{"kind": "red-team", "prompt": "p?", "answers": {"base (default)": "I can't."}}],
              "answers": "/x/answers.jsonl"}
    with Project.open(window.project.path) as p:
        rid = p.runs.create("eval", {}, name="before/after evaluation")
        p.runs.set_result(rid, result)
        p.runs.set_status(rid, "done")
    page = window.pages["runs"]
    page.refresh()
    page.select_run(rid)
    text = page.result_view.toPlainText()
    assert text.startswith("policy") and "25% of 4" in text and "I can't." in text
