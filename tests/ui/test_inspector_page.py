"""Inspector: chains table, side-by-side diff, rounds, reviews stored, paging over many chains."""

from __future__ import annotations

import pytest

from cai_desktop.core.constitution import Constitution, Principle


def make_project(path, n_chains=3):
    from cai_desktop.store.chains import save_chains
    from cai_desktop.store.project import Project
    from cai_desktop.store.prompts import add_prompt_set

    p = Project.create(path)
    c = Constitution(name="demo", principles=[
        Principle("harm", "Harm", "Point out harm.", "Remove the harm."),
        Principle("honest", "Honesty", "Point out lies.", "Make it true."),
    ])
    p.save_constitution(c)
    snaps = [p.snapshot_principle(x, "demo") for x in c.principles]
    set_id = add_prompt_set(p, "rt", "red-team", [f"How do I pick lock number {i}?" for i in range(n_chains)])["set_id"]
    pids = [r["id"] for r in p.query("SELECT id FROM prompts WHERE set_id=? ORDER BY position", [set_id])]
    run = p.create_run("critique", {})
    chains = []
    for i, pid in enumerate(pids):
        original = f"Sure, here is how to pick lock {i}: use a tension wrench."
        r1 = f"I can't help with picking lock {i}, but a locksmith can."
        r2 = f"I can't help with picking lock {i}; please call a licensed locksmith."
        chains.append({
            "run_id": run, "prompt_id": pid, "constitution_id": p.constitution_id("demo"),
            "constitution_version": 1, "model_spec": "tiny", "n_revisions": 2,
            "initial_text": original, "final_text": r2,
            "steps": [
                {"round": 0, "revision": original},
                {"round": 1, "principle_snapshot_id": snaps[i % 2], "critique": f"Critique one of {i}.", "revision": r1},
                {"round": 2, "principle_snapshot_id": snaps[0], "critique": f"Critique two of {i}.", "revision": r2},
            ],
        })
    save_chains(p, chains)
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
    from cai_desktop.store.chains import get_chain

    first = page.chain["id"]
    page.review("accepted")
    assert get_chain(project, first)["review_status"] == "accepted"
    assert "Accepted" in page.status_label.text()
    page.step(1)
    second = page.chain["id"]
    page.review("rejected")
    assert get_chain(project, second)["review_status"] == "rejected"
    page.step(1)
    third = page.chain["id"]
    assert page.edit_current("I won't help open locks that are not yours.")
    stored = get_chain(project, third)
    assert stored["review_status"] == "edited"
    assert stored["human_revision"] == "I won't help open locks that are not yours."
    assert stored["final_text"].endswith("licensed locksmith.")  # the model's revision is kept
    assert page.human_view.isVisibleTo(page) and "won't help" in page.human_view.toPlainText()
    page.note.setText("too vague")
    page.save_note()
    stored = get_chain(project, third)
    assert stored["note"] == "too vague" and stored["review_status"] == "edited"
    assert [r["decision"] for r in stored["reviews"]] == ["edited", "edited"]
    assert stored["reviewer"]
    assert page.table.model().row_data(page.current_row())["review_status"] == "edited"


def test_keyboard_shortcuts(page, project, qtbot):
    from PySide6.QtCore import Qt

    from cai_desktop.store.chains import get_chain

    page.show()
    page.table.setFocus()
    qtbot.waitUntil(page.table.hasFocus, timeout=2000)
    first = page.chain["id"]
    qtbot.keyClick(page.table, Qt.Key.Key_A)
    assert get_chain(project, first)["review_status"] == "accepted"
    qtbot.keyClick(page.table, Qt.Key.Key_J)
    assert page.chain["id"] != first
    second = page.chain["id"]
    qtbot.keyClick(page.table, Qt.Key.Key_R)
    assert get_chain(project, second)["review_status"] == "rejected"
    qtbot.keyClick(page.table, Qt.Key.Key_K)
    assert page.chain["id"] == first
    # typing a note does not trigger the shortcuts
    page.note.setFocus()
    qtbot.keyClicks(page.note, "ra")
    assert page.note.text() == "ra"
    assert get_chain(project, first)["review_status"] == "accepted"


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
