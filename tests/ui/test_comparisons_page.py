"""Comparisons page: answers side by side, soft label bar, reviews stored, blind mode, agreement."""

from __future__ import annotations

import pytest

from cai_desktop.core.constitution import Principle


@pytest.fixture
def project(project_path):
    from cai_desktop.store.project import Project

    p = Project.create(project_path)
    snap = p.constitutions.snapshot(
        Principle("harm", "Harmlessness", "c", "r", "Which answer is less harmful?"), "demo"
    )
    run = p.runs.create("label", {})
    rows = []
    for i, label in enumerate([0.8, 0.3, 0.6]):
        rows.append({
            "run_id": run, "source": "pair", "source_id": i + 1, "prompt_text": f"Prompt number {i}",
            "response_a": f"Answer A{i}: I can't help with that.", "response_b": f"Answer B{i}: Sure, do this.",
            "principle_snapshot_id": snap, "feedback_model": "tiny", "mode": "cot" if i == 2 else "direct",
            "clamp": "0.4-0.6" if i == 2 else "none", "p_a": label, "p_b": 1 - label,
            "raw_label": 0.9 if i == 2 else label, "label": label, "order_shift": 0.05 * i,
            "reasoning": "A refuses politely." if i == 2 else None, "kind": "harmless",
        })
    p.comparisons.save(rows)
    yield p
    p.close()


@pytest.fixture
def page(qtbot, project):
    from cai_desktop.ui.pages.comparisons import ComparisonsPage

    w = ComparisonsPage()
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    w.set_project(project)
    return w


def test_shows_both_answers_and_label(page):
    assert page.model.rowCount() == 3
    c = page.comparison
    assert c["id"] == 3  # newest first
    assert page.a_view.toPlainText().startswith("Answer A2")
    assert page.b_view.toPlainText().startswith("Answer B2")
    assert "Which answer is less harmful?" in page.prompt_view.toPlainText()
    assert page.label_bar.isVisible() and page.label_bar.label == pytest.approx(0.6)
    assert "clamped" in page.label_info.text() and "order shift +0.10" in page.label_info.text()
    assert page.reasoning_view.isVisible() and "refuses politely" in page.reasoning_view.toPlainText()
    assert page.model.data(page.model.index(0, 4)) == "0.60"


def test_review_choice_is_stored_and_agreement_shown(page, project):

    page.advance.setChecked(True)
    assert page.choose("A")  # AI said 0.6 → agrees
    assert project.comparisons.get(3)["human_choice"] == "A"
    assert page.comparison["id"] == 2  # moved on
    assert page.choose("A")  # AI said 0.3 → disagrees
    assert page.choose("tie")
    stored = {r["id"]: r["human_choice"] for r in project.query("SELECT id, human_choice FROM comparisons")}
    assert stored == {1: "tie", 2: "A", 3: "A"}
    a = page.agreement()
    assert (a["reviewed"], a["agree"], a["any_review"]) == (2, 1, 3)
    assert "50%" in page.agreement_label.text()
    assert page.choice_buttons["tie"].isChecked()


def test_shortcuts_choose_and_move(page, project, qtbot):
    from PySide6.QtCore import Qt

    page.advance.setChecked(False)
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_X)
    assert project.query("SELECT human_choice FROM comparisons WHERE id=3")[0]["human_choice"] == "both-bad"
    qtbot.keyClick(page.table, Qt.Key.Key_J)
    assert page.comparison["id"] == 2
    qtbot.keyClick(page.table, Qt.Key.Key_2)
    assert project.query("SELECT human_choice FROM comparisons WHERE id=2")[0]["human_choice"] == "B"


def test_blind_mode_hides_label_until_choice(page, project):
    page.advance.setChecked(False)
    page.blind.setChecked(True)
    assert not page.label_bar.isVisible()
    assert page.hidden_note.isVisible()
    assert not page.reasoning_view.isVisible()
    assert page.model.data(page.model.index(0, 4)) == "hidden"
    page.choose("B")
    assert page.comparison["id"] == 3  # stays to reveal the label
    assert page.label_bar.isVisible() and not page.hidden_note.isVisible()
    assert page.model.data(page.model.index(0, 4)) == "0.60"
    page.step(1)
    assert not page.label_bar.isVisible()
    page.blind.setChecked(False)
    assert page.label_bar.isVisible()


def test_filter_unreviewed(page):
    page.reviewed_filter.setCurrentIndex(page.reviewed_filter.findData(False))
    assert page.model.rowCount() == 3
    page.choose("A")
    assert page.model.rowCount() == 2
    page.reviewed_filter.setCurrentIndex(page.reviewed_filter.findData(True))
    assert page.model.rowCount() == 1


def test_empty_project(qtbot, project_path):
    from cai_desktop.store.project import Project
    from cai_desktop.ui.pages.comparisons import ComparisonsPage

    p = Project.create(project_path.with_name("empty.caiproj"))
    w = ComparisonsPage()
    qtbot.addWidget(w)
    w.set_project(p)
    assert w.model.rowCount() == 0 and w.comparison is None
    assert not w.choose("A")
    w.set_project(None)
    p.close()


def test_blind_mode_next_after_choosing_moves_on(page, project):
    messages = []
    page.status_message.connect(messages.append)
    page.blind.setChecked(True)
    page.advance.setChecked(True)
    assert page.comparison["id"] == 3
    assert page.choose("A")
    assert page.comparison["id"] == 2  # the next comparison is selected
    assert not page.label_bar.isVisible()  # and its label is hidden: not answered yet
    assert "the AI gave A 60%: you agree" in messages[-1]  # the answered one's label is told
    assert page.model.data(page.model.index(0, 4)) == "0.60"  # and shown in its row
    assert page.model.data(page.model.index(1, 4)) == "hidden"


def test_choices_undo_redo_and_clear(page, project, qtbot):
    from PySide6.QtCore import Qt


    page.advance.setChecked(False)
    qtbot.waitUntil(page.table.hasFocus, timeout=2000)  # the list has the keys on arrival
    qtbot.keyClick(page.table, Qt.Key.Key_A)
    qtbot.keyClick(page.table, Qt.Key.Key_T)
    assert project.comparisons.get(3)["human_choice"] == "tie"
    page.undo_stack.undo()
    assert project.comparisons.get(3)["human_choice"] == "A"
    assert page.choice_buttons["A"].isChecked()
    page.undo_stack.undo()
    c = project.comparisons.get(3)
    assert c["human_choice"] is None and c["reviewer"] is None and c["reviews"] == []
    page.undo_stack.redo()
    assert project.comparisons.get(3)["human_choice"] == "A"
    qtbot.keyClick(page.table, Qt.Key.Key_U)  # clear the choice
    c = project.comparisons.get(3)
    assert c["human_choice"] is None and [r["decision"] for r in c["reviews"]] == ["A", "unreviewed"]
    assert "Not reviewed yet" in page.choice_label.text()
    page.undo_stack.undo()
    assert project.comparisons.get(3)["human_choice"] == "A"
    assert page.undo_stack.undoText() == "Choose A on comparison #3"


def test_undo_after_moving_on_goes_back(page, project):

    page.advance.setChecked(True)
    page.reviewed_filter.setCurrentIndex(page.reviewed_filter.findData(False))
    page.choose("B")
    assert page.comparison["id"] == 2 and page.model.rowCount() == 2
    page.undo_stack.undo()
    assert project.comparisons.get(3)["human_choice"] is None
    assert page.comparison["id"] == 3 and page.model.rowCount() == 3


def test_counts_read_right(page, project):
    assert page.count_label.text() == "3 comparisons"
    assert page.agreement_label.text().startswith("0 of 3 comparisons reviewed")
    page.advance.setChecked(False)
    page.choose("A")
    assert "(1 of 1 A/B choice)" in page.agreement_label.text()
    page.reviewed_filter.setCurrentIndex(page.reviewed_filter.findData(True))
    assert page.count_label.text() == "1 comparison"
