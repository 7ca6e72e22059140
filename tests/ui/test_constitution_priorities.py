"""Constitution editor, Priorities tab: ranking, weights and sections are undoable edits that
save with the constitution; the preview shows the question the feedback model will read."""

from __future__ import annotations

import pytest

from cai_desktop.core.constitution import Constitution, Principle
from cai_desktop.core.prompting import FIRST_PRIORITY_NOTE


@pytest.fixture
def project(project_path):
    from cai_desktop.store.project import Project

    p = Project.create(project_path)
    p.constitutions.save(Constitution(name="demo", title="Demo", principles=[
        Principle("harm", "Harm", "Point out anything harmful.", "Remove the harm.", "Which is less harmful?"),
        Principle("honest", "Honesty", "Point out anything untrue.", "Make it true.", "Which is more honest?"),
    ]))
    yield p
    p.close()


@pytest.fixture
def page(qtbot, project):
    from cai_desktop.ui.pages.constitution import ConstitutionPage

    w = ConstitutionPage()
    qtbot.addWidget(w)
    w.set_project(project)
    return w


def test_priorities_tab_edits_undo_and_save(page, project):
    tab = page.priorities_tab
    assert page.tabs.indexOf(tab) >= 0 and tab.table.rowCount() == 2
    assert tab.table.item(0, 3).text() == "50 %"
    tab.ranked.setChecked(True)
    assert page.constitution.ranked and tab.table.item(1, 0).text() == "2"
    tab.table.selectRow(0)
    assert tab.preview.text() == f"Which is less harmful? {FIRST_PRIORITY_NOTE}"
    tab.table.selectRow(1)
    assert tab.preview.text().endswith("highest first: 1. Harm.")
    tab.spins[0].setValue(3.0)
    assert page.constitution.principles[0].weight == 3.0
    assert tab.table.item(0, 3).text() == "75 %" and tab.table.item(1, 3).text() == "25 %"
    tab.preamble.setPlainText("For hard cases.")
    tab.rationale.setPlainText("Harm first.")
    assert page.constitution.preamble == "For hard cases." and page.constitution.rationale == "Harm first."
    # undo goes back step by step (the rationale, the preamble, the weight, the ranking)
    stack = page.doc.undo_stack
    while stack.canUndo():
        stack.undo()
    c = page.constitution
    assert not c.ranked and c.principles[0].weight == 1.0 and c.preamble == "" and c.rationale == ""
    assert not tab.ranked.isChecked() and tab.spins[0].value() == 1.0 and tab.preamble.toPlainText() == ""
    while stack.canRedo():
        stack.redo()
    assert page.save() == 2
    stored = project.constitutions.get("demo")
    assert stored.ranked and stored.principles[0].weight == 3.0 and stored.preamble == "For hard cases."
