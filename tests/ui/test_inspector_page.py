"""Inspector: chains table, side-by-side diff, rounds, reviews stored, paging over many chains."""

from __future__ import annotations

import pytest

from cai_desktop.core.constitution import Constitution, Principle


def make_project(path, n_chains=3):
    from cai_desktop.store.project import Project

    p = Project.create(path)
    c = Constitution(name="demo", principles=[
        Principle("harm", "Harm", "Point out harm.", "Remove the harm."),
        Principle("honest", "Honesty", "Point out lies.", "Make it true."),
    ])
    p.constitutions.save(c)
    snaps = [p.constitutions.snapshot(x, "demo") for x in c.principles]
    set_id = p.prompts.add_set("rt", "red-team", [f"How do I pick lock number {i}?" for i in range(n_chains)])["set_id"]
    pids = [r["id"] for r in p.query("SELECT id FROM prompts WHERE set_id=? ORDER BY position", [set_id])]
    run = p.runs.create("critique", {})
    chains = []
    for i, pid in enumerate(pids):
        original = f"Sure, here is how to pick lock {i}: use a tension wrench."
        r1 = f"I can't help with picking lock {i}, but a locksmith can."
        r2 = f"I can't help with picking lock {i}; please call a licensed locksmith."
        chains.append({
            "run_id": run, "prompt_id": pid, "constitution_id": p.constitutions.id("demo"),
            "constitution_version": 1, "model_spec": "tiny", "n_revisions": 2,
            "initial_text": original, "final_text": r2,
            "steps": [
                {"round": 0, "revision": original},
                {"round": 1, "principle_snapshot_id": snaps[i % 2], "critique": f"Critique one of {i}.", "revision": r1},
                {"round": 2, "principle_snapshot_id": snaps[0], "critique": f"Critique two of {i}.", "revision": r2},
            ],
        })
    p.chains.save(chains)
    return p


@pytest.fixture
def project(project_path):
    p = make_project(project_path)
    yield p
    p.close()


@pytest.fixture
def page(qtbot, project):
    from cai_desktop.ui.pages.inspector import InspectorPage

    w = InspectorPage()
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.advance.setChecked(False)
    w.set_project(project)
    return w


def test_shows_chain_side_by_side_with_rounds(page):
    assert page.model.rowCount() == 3
    assert page.chain is not None and page.chain["id"] == 3  # newest first
    assert "lock number 2" in page.prompt_view.toPlainText()
    assert page.round_slider.maximum() == 2 and page.current_round() == 2
    assert "licensed locksmith" in page.revision_view.toPlainText()
    assert "tension wrench" in page.original_view.toPlainText()
    html_right = page.revision_view.toHtml()
    assert "#dff3e3" in html_right  # inserted words highlighted
    assert "Critique two of 2" in page.critique_view.toPlainText()
    page.round_slider.setValue(1)
    assert "a locksmith can" in page.revision_view.toPlainText()
    assert "Critique two" not in page.critique_view.toPlainText()
    assert "Critique one of 2" in page.critique_view.toPlainText()


def test_accept_reject_edit_note_are_stored(page, project):

    first = page.chain["id"]
    page.review("accepted")
    assert project.chains.get(first)["review_status"] == "accepted"
    assert "Accepted" in page.status_label.text()
    page.step(1)
    second = page.chain["id"]
    page.review("rejected")
    assert project.chains.get(second)["review_status"] == "rejected"
    page.step(1)
    third = page.chain["id"]
    assert page.edit_current("I won't help open locks that are not yours.")
    stored = project.chains.get(third)
    assert stored["review_status"] == "edited"
    assert stored["human_revision"] == "I won't help open locks that are not yours."
    assert stored["final_text"].endswith("licensed locksmith.")  # the model's revision is kept
    assert page.human_view.isVisibleTo(page) and "won't help" in page.human_view.toPlainText()
    page.note.setText("too vague")
    page.save_note()
    stored = project.chains.get(third)
    assert stored["note"] == "too vague" and stored["review_status"] == "edited"
    assert [r["decision"] for r in stored["reviews"]] == ["edited", "edited"]
    assert stored["reviewer"]
    assert page.table.model().row_data(page.current_row())["review_status"] == "edited"


def test_keyboard_shortcuts(page, project, qtbot):
    from PySide6.QtCore import Qt


    page.show()
    page.table.setFocus()
    qtbot.waitUntil(page.table.hasFocus, timeout=2000)
    first = page.chain["id"]
    qtbot.keyClick(page.table, Qt.Key.Key_A)
    assert project.chains.get(first)["review_status"] == "accepted"
    qtbot.keyClick(page.table, Qt.Key.Key_J)
    assert page.chain["id"] != first
    second = page.chain["id"]
    qtbot.keyClick(page.table, Qt.Key.Key_R)
    assert project.chains.get(second)["review_status"] == "rejected"
    qtbot.keyClick(page.table, Qt.Key.Key_K)
    assert page.chain["id"] == first
    # typing a note does not trigger the shortcuts
    page.note.setFocus()
    qtbot.keyClicks(page.note, "ra")
    assert page.note.text() == "ra"
    assert project.chains.get(first)["review_status"] == "accepted"


def test_advance_after_review_and_status_filter(page, project):
    page.advance.setChecked(True)
    page.status_filter.setCurrentIndex(page.status_filter.findData("unreviewed"))
    assert page.model.rowCount() == 3
    first = page.chain["id"]
    page.review("accepted")
    assert page.model.rowCount() == 2  # the accepted chain left the filtered list
    assert page.chain["id"] != first
    page.status_filter.setCurrentIndex(page.status_filter.findData("accepted"))
    assert page.model.rowCount() == 1 and page.chain["id"] == first


def test_principle_and_search_filters(page, qtbot):
    page.principle_filter.setCurrentIndex(page.principle_filter.findData("honest"))
    assert page.model.rowCount() == 1  # only chain 1 (index 1) drew honesty
    page.principle_filter.setCurrentIndex(0)
    page.search.setText("lock number 0")
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=2000)
    assert "lock number 0" in page.prompt_view.toPlainText()


def test_many_chains_are_paged(qtbot, tmp_path):
    from cai_desktop.ui.pages.inspector import InspectorPage

    p = make_project(tmp_path / "big.caiproj", n_chains=1)
    n = 20_000
    set_id = p.query("SELECT id FROM prompt_sets")[0]["id"]
    run = p.query("SELECT id FROM runs")[0]["id"]
    with p.db.atomic():
        p.db.conn.executemany(
            "INSERT INTO prompts (set_id, position, text, split) VALUES (?, ?, ?, 'train')",
            [(set_id, 10 + i, f"synthetic prompt {i}") for i in range(n)],
        )
        p.db.execute(
            "INSERT INTO chains (run_id, prompt_id, n_revisions, initial_text, final_text, review_status) "
            "SELECT ?, id, 1, 'answer ' || id, 'revision ' || id, 'unreviewed' FROM prompts WHERE text LIKE 'synthetic%'",
            [run],
        )
    w = InspectorPage()
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    w.set_project(p)
    qtbot.wait(50)
    assert w.model.rowCount() == n + 1
    assert w.model.rows_fetched <= 2 * w.model.page_size
    w.table.scrollToBottom()
    qtbot.wait(50)
    w.select_row(n)
    assert w.chain is not None
    assert w.model.rows_fetched <= 6 * w.model.page_size
    p.close()


def add_second_run_and_set(p):
    """One more prompt set ("more") with one chain, made by a second run."""

    set_id = p.prompts.add_set("more", "red-team", ["How do I hotwire a car?"])["set_id"]
    pid = p.query("SELECT id FROM prompts WHERE set_id=?", [set_id])[0]["id"]
    run = p.runs.create("critique", {}, name="second")
    p.chains.save([{"run_id": run, "prompt_id": pid, "n_revisions": 1, "initial_text": "Sure.",
                     "final_text": "I can't help with that.",
                     "steps": [{"round": 0, "revision": "Sure."}, {"round": 1, "revision": "I can't help with that."}]}])
    return run


def test_arrival_puts_the_keys_on_the_list(qtbot, project):
    """Coming to the page from another one, pressing A accepts (it does not type in the search box)."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication, QLineEdit, QStackedWidget

    from cai_desktop.ui.pages.inspector import InspectorPage

    stack = QStackedWidget()
    qtbot.addWidget(stack)
    other = QLineEdit()
    page = InspectorPage()
    stack.addWidget(other)
    stack.addWidget(page)
    page.set_project(project)
    stack.resize(1200, 800)
    stack.show()
    qtbot.waitExposed(stack)
    other.setFocus()
    qtbot.waitUntil(other.hasFocus, timeout=2000)
    stack.setCurrentWidget(page)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is page.table, timeout=2000)
    first = page.chain["id"]
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_A)
    assert page.search.text() == ""
    assert project.chains.get(first)["review_status"] == "accepted"


def test_reviews_undo_and_redo(page, project):

    first = page.chain["id"]
    assert page.review("accepted")
    assert page.review("rejected")
    assert page.edit_current("My own answer.")
    assert page.undo_stack.count() == 3
    assert page.undo_stack.undoText() == f"Edit chain #{first}"
    page.undo_stack.undo()
    c = project.chains.get(first)
    assert c["review_status"] == "rejected" and c["human_revision"] is None
    page.undo_stack.undo()
    assert project.chains.get(first)["review_status"] == "accepted"
    page.undo_stack.undo()
    c = project.chains.get(first)
    assert c["review_status"] == "unreviewed" and c["reviews"] == []  # nothing left in the log
    assert page.chain["id"] == first and "Unreviewed" in page.status_label.text()
    page.undo_stack.redo()
    page.undo_stack.redo()
    page.undo_stack.redo()
    c = project.chains.get(first)
    assert c["review_status"] == "edited" and c["human_revision"] == "My own answer."
    assert [r["decision"] for r in c["reviews"]] == ["accepted", "rejected", "edited"]


def test_undo_takes_back_a_review_after_moving_on(page, project):
    """With "Next after review" on, Ctrl+Z goes back to the chain it changes."""

    page.advance.setChecked(True)
    page.status_filter.setCurrentIndex(page.status_filter.findData("unreviewed"))
    first = page.chain["id"]
    page.review("accepted")
    assert page.chain["id"] != first and page.model.rowCount() == 2
    page.undo_stack.undo()
    assert project.chains.get(first)["review_status"] == "unreviewed"
    assert page.model.rowCount() == 3 and page.chain["id"] == first


def test_ctrl_z_in_a_window_undoes_a_review(qtbot, page, project):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QAction, QKeySequence
    from PySide6.QtWidgets import QMainWindow


    win = QMainWindow()
    qtbot.addWidget(win)
    win.setCentralWidget(page)
    win.addAction(QAction("Undo", win, shortcut=QKeySequence.StandardKey.Undo, triggered=page.undo_stack.undo))
    win.addAction(QAction("Redo", win, shortcut=QKeySequence("Ctrl+Shift+Z"), triggered=page.undo_stack.redo))
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(page.table.hasFocus, timeout=2000)
    first = page.chain["id"]
    qtbot.keyClick(page.table, Qt.Key.Key_R)
    assert project.chains.get(first)["review_status"] == "rejected"
    qtbot.keyClick(page.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert project.chains.get(first)["review_status"] == "unreviewed"
    qtbot.keyClick(page.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert project.chains.get(first)["review_status"] == "rejected"
    win.takeCentralWidget()  # the page fixture closes the page itself


def test_reset_to_unreviewed(page, project, qtbot):
    from PySide6.QtCore import Qt


    page.show()
    qtbot.waitUntil(page.table.hasFocus, timeout=2000)  # the list has the keys on arrival
    first = page.chain["id"]
    page.edit_current("Mine.")
    qtbot.keyClick(page.table, Qt.Key.Key_U)
    c = project.chains.get(first)
    assert c["review_status"] == "unreviewed" and c["human_revision"] is None
    assert [r["decision"] for r in c["reviews"]] == ["edited", "unreviewed"]
    assert c["reviews"][0]["edited_text"] == "Mine."  # the edit stays readable in the log
    assert not page.human_view.isVisibleTo(page)
    page.undo_stack.undo()
    assert project.chains.get(first)["human_revision"] == "Mine."


def test_undo_refused_when_reviewed_again_elsewhere(page, project):
    from cai_desktop.ui.widgets.errors import close_error_boxes, open_error_boxes

    first = page.chain["id"]
    page.review("accepted")
    project.chains.review(first, "rejected", reviewer="someone else")
    page.undo_stack.undo()
    assert project.chains.get(first)["review_status"] == "rejected"
    assert "reviewed again since by someone else" in open_error_boxes()[-1].text()
    assert page.undo_stack.count() == 0  # the refused step left the stack
    close_error_boxes()


def test_run_and_prompt_set_filters(page, project):
    run2 = add_second_run_and_set(project)
    page.refresh()
    assert page.model.rowCount() == 4
    assert page.run_filter.count() == 3 and page.set_filter.count() == 3  # "any" + two each
    assert "second (1 chain)" in page.run_filter.itemText(page.run_filter.findData(run2))
    page.run_filter.setCurrentIndex(page.run_filter.findData(run2))
    assert page.model.rowCount() == 1 and "hotwire" in page.prompt_view.toPlainText()
    assert page.count_label.text() == "1 chain"
    page.run_filter.setCurrentIndex(0)
    page.set_filter.setCurrentIndex(page.set_filter.findData("rt"))
    assert page.model.rowCount() == 3 and page.count_label.text() == "3 chains"
    page.set_filter.setCurrentIndex(page.set_filter.findData("more"))
    page.run_filter.setCurrentIndex(page.run_filter.findData(run2))
    assert page.model.rowCount() == 1
    page.refresh()  # refilling keeps the chosen filters
    assert page.run_filter.currentData() == run2 and page.set_filter.currentData() == "more"
