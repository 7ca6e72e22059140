"""Start page: the open project's summary reads right ("1 chain", not "1 chains")."""

from __future__ import annotations


def test_summary_counts(qtbot, project_path):
    from cai_desktop.store.project import Project
    from cai_desktop.ui.pages.start import StartPage

    p = Project.create(project_path)
    p.prompts.add_set("one", "helpful", ["Only prompt."])
    p.runs.create("critique", {})
    w = StartPage()
    qtbot.addWidget(w)
    w.set_project(p)
    assert w.project_label.text().endswith("0 constitutions, 1 prompt, 0 chains, 1 run")
    w.set_project(None)
    assert w.project_label.text() == "No project open."
    p.close()
