"""Constitution editor: edits are undoable commands, validation is live, save makes a version."""

from __future__ import annotations

import json

import pytest

from cai_desktop.core.constitution import Constitution, Principle


@pytest.fixture
def project(project_path):
    from cai_desktop.store.project import Project

    p = Project.create(project_path)
    p.save_constitution(
        Constitution(
            name="demo",
            title="Demo",
            principles=[
                Principle("harm", "Harm", "Point out anything harmful.", "Remove the harm.", "Which is less harmful?"),
                Principle("honest", "Honesty", "Point out anything untrue.", "Make it true."),
                Principle("kind", "Kindness", "Point out rudeness.", "Make it kind.", tags=["tone"]),
            ],
        )
    )
    yield p
    p.close()


@pytest.fixture
def page(qtbot, project):
    from cai_desktop.ui.pages.constitution import ConstitutionPage

    w = ConstitutionPage()
    qtbot.addWidget(w)
    w.set_project(project)
    return w


def keys(page):
    return [p.key for p in page.constitution.principles]


def test_opens_the_project_constitution(page):
    assert page.picker.currentData() == "demo"
    assert page.principle_list.count() == 3
    assert page.principle_list.item(0).text() == "1. Harm"
    assert page.f_critique.toPlainText() == "Point out anything harmful."
    assert "no problems" in page.validation.text()
    assert page.dirty_label.text() == "Saved"


def test_edit_principle_then_undo_and_redo(page, qtbot):
    page.principle_list.setCurrentRow(1)
    page.f_title.setFocus()
    page.f_title.selectAll()
    qtbot.keyClicks(page.f_title, "Truthfulness")
    assert page.constitution.principles[1].title == "Truthfulness"
    assert page.principle_list.item(1).text() == "2. Truthfulness"
    assert page.dirty_label.text().endswith("Unsaved changes")
    # typing merged into one command
    assert page.undo_stack.count() == 1
    page.undo_stack.undo()
    assert page.constitution.principles[1].title == "Honesty"
    assert page.f_title.text() == "Honesty"
    assert page.principle_list.item(1).text() == "2. Honesty"
    assert page.dirty_label.text() == "Saved"
    page.undo_stack.redo()
    assert page.f_title.text() == "Truthfulness"


def test_undo_goes_back_to_the_edited_principle(page):
    page.principle_list.setCurrentRow(2)
    page.f_revision.setPlainText("Rewrite it kindly.")
    page.principle_list.setCurrentRow(0)
    page.undo_stack.undo()
    assert page.principle_list.currentRow() == 2
    assert page.f_revision.toPlainText() == "Make it kind."


def test_empty_critique_request_shows_validation_message(page):
    page.principle_list.setCurrentRow(0)
    page.f_critique.setPlainText("")
    assert "critique request is empty" in page.validation.text()
    assert "critique request is empty" in page.principle_problems.text()
    page.undo_stack.undo()
    assert "no problems" in page.validation.text()


def test_tags_and_enable_checkbox(page):
    page.principle_list.setCurrentRow(0)
    page.f_tags.setText("harm, safety")
    page.f_tags.textEdited.emit("harm, safety")
    assert page.constitution.principles[0].tags == ["harm", "safety"]
    from PySide6.QtCore import Qt

    page.principle_list.item(1).setCheckState(Qt.CheckState.Unchecked)
    assert page.constitution.principles[1].enabled is False
    assert "2 of 3 enabled" in page.list_title.text()
    page.undo_stack.undo()
    assert page.constitution.principles[1].enabled is True
    assert page.principle_list.item(1).checkState() == Qt.CheckState.Checked


def test_reorder_add_remove_with_undo(page):
    page.move_principle(0, 2)
    assert keys(page) == ["honest", "kind", "harm"]
    assert page.principle_list.currentRow() == 2
    assert page.principle_list.item(2).text() == "3. Harm"
    page.principle_list.setCurrentRow(2)
    page.btn_up.click()
    assert keys(page) == ["honest", "harm", "kind"]
    page.undo_stack.undo()
    page.undo_stack.undo()
    assert keys(page) == ["harm", "honest", "kind"]
    page.principle_list.setCurrentRow(0)
    page.add_principle()
    assert len(keys(page)) == 4 and page.principle_list.currentRow() == 1
    assert "critique request is empty" in page.validation.text()
    page.remove_principle()
    assert keys(page) == ["harm", "honest", "kind"]
    page.undo_stack.undo()
    page.undo_stack.undo()
    assert keys(page) == ["harm", "honest", "kind"]
    assert page.undo_stack.isClean()


def test_find_move_detects_a_drag():
    from cai_desktop.ui.pages.constitution import find_move

    assert find_move(["a", "b", "c"], ["b", "c", "a"]) == (0, 2)
    assert find_move(["a", "b", "c"], ["c", "a", "b"]) == (2, 0)
    assert find_move(["a", "b"], ["a", "b"]) is None
    assert find_move(["a", "b"], ["a", "x"]) is None


def test_save_creates_a_version_and_diff_shows_it(page, project):
    assert [v["version"] for v in project.constitution_versions("demo")] == [1]
    page.principle_list.setCurrentRow(0)
    page.f_critique.setPlainText("Point out anything harmful or dangerous.")
    page.save_note.setText("sharper harm critique")
    assert page.save() == 2
    versions = project.constitution_versions("demo")
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[-1]["note"] == "sharper harm critique"
    stored = project.get_constitution("demo")
    assert stored.principles[0].critique_request == "Point out anything harmful or dangerous."
    assert page.dirty_label.text() == "Saved"
    assert page.v_from.currentData() == 1 and page.v_to.currentData() == 2
    diff = page.show_version_diff()
    assert "dangerous" in diff and "harm" in diff


def test_save_refused_while_invalid(page, project):
    from cai_desktop.ui.widgets.errors import close_error_boxes, open_error_boxes

    page.principle_list.setCurrentRow(0)
    page.f_revision.setPlainText("  ")
    assert page.save() is None
    assert [v["version"] for v in project.constitution_versions("demo")] == [1]
    boxes = open_error_boxes()
    assert boxes and "revision request is empty" in boxes[-1].text()
    close_error_boxes()


def test_few_shot_editor_is_undoable(page):
    page.tabs.setCurrentIndex(2)
    page.add_few_shot()
    assert len(page.constitution.few_shot) == 1
    page.few_widgets["prompt"].setPlainText("How do I pick a lock?")
    page.few_widgets["response"].setPlainText("Here is how…")
    assert page.constitution.few_shot[0].prompt == "How do I pick a lock?"
    assert page.few_list.item(0).text().startswith("1. How do I pick")
    page.undo_stack.undo()
    assert page.constitution.few_shot[0].response == ""
    assert page.few_widgets["response"].toPlainText() == ""


def test_import_export_every_format(page, project, tmp_path):
    from cai_desktop.core import formats

    for fmt, suffix in [("native", ".json"), ("native", ".yaml"), ("anthropic", ".json"), ("hf", ".json")]:
        out = tmp_path / f"demo-{fmt}{suffix}"
        assert page.export_file(out, fmt)
        back = formats.load_file(out, fmt)
        assert [p.key for p in back.principles] == ["harm", "honest", "kind"]
    # import a new constitution: stored and shown
    data = formats.write_native(Constitution(name="other", principles=[Principle("x", "X", "Crit.", "Rev.")]))
    src = tmp_path / "other.json"
    src.write_text(json.dumps(data))
    assert page.import_file(src)
    assert page.constitution.name == "other"
    assert "other" in [c["name"] for c in project.list_constitutions()]
    assert page.picker.currentData() == "other"


def test_import_bad_file_gives_a_readable_error(page, tmp_path):
    from cai_desktop.ui.widgets.errors import close_error_boxes, open_error_boxes

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert not page.import_file(bad)
    assert "Not valid JSON" in open_error_boxes()[-1].text()
    close_error_boxes()


def test_import_into_the_shown_constitution_is_undoable(page, tmp_path):
    from cai_desktop.core import formats

    c = page.constitution.copy()
    c.principles[0].title = "Harmlessness"
    src = tmp_path / "demo.json"
    formats.dump_file(c, src, "native")
    assert page.import_file(src)
    assert page.constitution.principles[0].title == "Harmlessness"
    assert page.doc.dirty
    page.undo_stack.undo()
    assert page.constitution.principles[0].title == "Harm"


def test_new_constitution_then_save(page, project):
    page.new_constitution("My rules")
    assert page.constitution.name == "my-rules"
    assert "problem" in page.validation.text()
    page.f_critique.setPlainText("Critique it.")
    page.f_revision.setPlainText("Revise it.")
    assert page.save() == 1
    assert "my-rules" in [c["name"] for c in project.list_constitutions()]


def test_statistics_from_chains_and_comparisons(page, project):
    from cai_desktop.store.chains import save_chains
    from cai_desktop.store.comparisons import save_comparisons
    from cai_desktop.store.prompts import add_prompt_set

    set_id = add_prompt_set(project, "rt", "red-team", ["p1", "p2"])["set_id"]
    pids = [r["id"] for r in project.query("SELECT id FROM prompts WHERE set_id=?", [set_id])]
    c = project.get_constitution("demo")
    snap = project.snapshot_principle(c.principles[0], "demo")
    run = project.create_run("critique", {})
    cid = project.constitution_id("demo")
    save_chains(project, [
        {"run_id": run, "prompt_id": pid, "constitution_id": cid, "n_revisions": 1,
         "initial_text": "bad", "final_text": "good" if i == 0 else "bad",
         "steps": [{"round": 0, "revision": "bad"},
                   {"round": 1, "principle_snapshot_id": snap, "critique": "c",
                    "revision": "good" if i == 0 else "bad"}]}
        for i, pid in enumerate(pids)
    ])
    save_comparisons(project, [{"run_id": run, "source_id": 1, "prompt_text": "p", "response_a": "a",
                                "response_b": "b", "principle_snapshot_id": snap, "label": 0.8}])
    page.refresh()
    stats = {r["key"]: r for r in page.principle_statistics()}
    assert stats["harm"]["drawn"] == 2 and stats["harm"]["changed"] == 1 and stats["harm"]["labels"] == 1
    assert stats["honest"]["drawn"] == 0
    assert page.stats.item(0, 1).text() == "2"
    assert "50%" in page.stats.item(0, 2).text()


def test_ctrl_z_in_a_text_field_undoes_the_command(qtbot, page):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QAction, QKeySequence
    from PySide6.QtWidgets import QMainWindow

    win = QMainWindow()
    qtbot.addWidget(win)
    win.setCentralWidget(page)
    win.addAction(QAction("Undo", win, shortcut=QKeySequence.StandardKey.Undo, triggered=page.undo_stack.undo))
    win.show()
    qtbot.waitExposed(win)
    page.principle_list.setCurrentRow(0)
    page.f_title.setFocus()
    qtbot.keyClicks(page.f_title, " X")
    assert page.constitution.principles[0].title == "Harm X"
    qtbot.keyClick(page.f_title, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.constitution.principles[0].title == "Harm"
    assert page.f_title.text() == "Harm"
    win.takeCentralWidget()  # the page fixture closes the page itself
