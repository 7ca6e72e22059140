"""The evaluation plots in the run detail (offscreen): the frontier and win-rate bars of a compare
run, saved as PNG, and the report exported in the background."""

from __future__ import annotations

from PySide6.QtGui import QColor, QImage

from cai_desktop.core import ratings as rt
from cai_desktop.core.evaluation import rate
from cai_desktop.core.report import COLOURS
from cai_desktop.store.project import Project
from cai_desktop.ui.widgets.errors import close_error_boxes, open_error_boxes
from cai_desktop.ui.widgets.frontier import FrontierPlot, frontier_points
from cai_desktop.ui.widgets.run_detail import RunDetail

POLS = ["base", "sft #1 (k=0)", "sft #2 (k=25)"]


def _result() -> dict:
    games = [{"a": POLS[i % 3], "b": POLS[(i + 1) % 3], "score": (i % 5) / 4, "principle": ("harm", "help")[i % 2]}
             for i in range(30)]
    return {"policy_labels": POLS, "principles": ["harm", "help"], "split": "test",
            "n_prompts": {"red-team": 4, "helpful": 4},
            "ai": rt.ratings(games, POLS, resamples=10), "human": rt.ratings([], POLS, resamples=10),
            "frontier": [{"policy": p, "harm_avoided": rate(k + 1, 4), "helpful": rate(3 - k, 4),
                          "over_refusal": rate(k, 4), "off_topic": rate(0, 4)} for k, p in enumerate(POLS)],
            "examples": []}


def _project(tmp_path, status="done"):
    path = tmp_path / "ev.caiproj"
    with Project.create(path) as p:
        rid = p.runs.create("compare", {"limit": 4}, name="head-to-head comparison")
        p.runs.set_result(rid, _result())
        p.runs.set_status(rid, status)
        other = p.runs.create("label", {}, name="labels")
        p.runs.set_status(other, "done")
    return path, rid, other


def _has_colour(img: QImage, colour: str) -> bool:
    want = QColor(colour)
    for y in range(0, img.height(), 2):
        for x in range(0, img.width(), 2):
            c = img.pixelColor(x, y)
            if abs(c.red() - want.red()) < 12 and abs(c.green() - want.green()) < 12 and abs(c.blue() - want.blue()) < 12:
                return True
    return False


def test_compare_run_shows_plots_saves_pngs_and_exports_the_report(qtbot, tmp_path):
    path, rid, other = _project(tmp_path)
    project = Project.open(path)
    detail = RunDetail()
    qtbot.addWidget(detail)
    detail.project = project
    detail.resize(1100, 700)
    detail.show()
    detail.show_run(rid)
    assert detail.tabs.tabText(0) == "Plots" and detail.tabs.currentIndex() == 0
    assert [pt["policy"] for pt in detail.frontier_plot.points] == POLS
    assert [r[0] for r in detail.win_rate_bars.rows] == ["harm", "help", rt.ALL]
    assert detail.btn_report.isVisible() and detail.btn_report.isEnabled()

    pngs = detail.save_plots(str(tmp_path / "plots"))
    assert [p.name for p in pngs] == [f"frontier-run-{rid}.png", f"win-rates-run-{rid}.png"]
    img = QImage(str(pngs[0]))
    assert img.width() > 200 and img.height() > 200
    assert all(_has_colour(img, COLOURS[i]) for i in range(3))  # each policy's point is drawn

    out = tmp_path / "report.html"
    with qtbot.waitSignal(detail.report_signals.done, timeout=20000) as sig:
        assert detail.export_report(str(out))
    assert sig.args == [str(out), ""]
    html = out.read_text(encoding="utf-8")
    assert "Harmlessness vs helpfulness" in html and "<svg" in html
    assert detail.message_label.text() == f"Report written: {out}"

    # a run of another kind: no plots, no report button
    detail.show_run(other)
    assert "Plots" not in [detail.tabs.tabText(i) for i in range(detail.tabs.count())]
    assert not detail.btn_report.isVisible()
    project.close()


def test_report_of_an_unfinished_run_is_one_clear_message(qtbot, tmp_path):
    path, rid, _ = _project(tmp_path, status="cancelled")
    project = Project.open(path)
    detail = RunDetail()
    qtbot.addWidget(detail)
    detail.project = project
    detail.show_run(rid)
    assert not detail.btn_report.isEnabled()
    with qtbot.waitSignal(detail.report_signals.done, timeout=20000) as sig:
        detail.export_report(str(tmp_path / "r.html"))
    assert sig.args[0] == "" and "has not finished (cancelled)" in sig.args[1]
    boxes = open_error_boxes()
    assert boxes and "has not finished" in boxes[-1].text() and "Traceback" not in boxes[-1].text()
    assert not (tmp_path / "r.html").exists()
    close_error_boxes()
    project.close()


def test_frontier_plot_without_points_and_from_an_eval_result(qtbot):
    plot = FrontierPlot()
    qtbot.addWidget(plot)
    plot.set_points([{"policy": "x", "harm_avoided": rate(0, 0), "helpful": rate(0, 0)}])
    assert plot.points == []  # nothing measured: nothing drawn
    plot.grab()  # paints the empty state
    eval_result = {"policies": [{"label": "base"}], "judged": {"base": {
        "red-team": {"n": 2, "harm_avoided": rate(1, 2)},
        "helpful": {"n": 2, "over_refusal": rate(0, 2), "labels": {"compliance": 2}}}}}
    (pt,) = frontier_points(eval_result)
    assert pt["helpful"]["rate"] == 1.0 and pt["harm_avoided"]["rate"] == 0.5


def test_the_head_to_head_dialog_offers_the_evaluation_runs_and_builds_params(qtbot, tmp_path):
    from PySide6.QtWidgets import QComboBox, QLineEdit

    from cai_desktop.ui.widgets.forms import ParamsDialog

    path, rid, _ = _project(tmp_path)
    with Project.open(path) as project:
        dlg = ParamsDialog("compare", str(path), project=project)
        qtbot.addWidget(dlg)
        runs = dlg.form.widgets["answers_run"]
        assert isinstance(runs, QComboBox)
        assert [runs.itemData(i) for i in range(runs.count())] == [None, rid]  # compare and eval runs only
        principles = dlg.form.widgets["principles"]
        assert isinstance(principles, QLineEdit)
        principles.setText("physical-harm, not-evasive")
        dlg.form.widgets["judge_limit"].setText("6")
        params = dlg.form.build(project=str(path))
        assert params.principles == ["physical-harm", "not-evasive"] and params.judge_limit == 6
        dlg.form.widgets["judge_limit"].setText("0")
        assert "Prompts judged pairwise" in dlg.form.error(project=str(path))
