"""Constitution editor: edits are undoable commands, validation is live, save makes a version."""

from __future__ import annotations

import json

import pytest

from cai_desktop.core.constitution import Constitution, Principle


@pytest.fixture
def project(project_path):
    from cai_desktop.store.project import Project

    p = Project.create(project_path)
    p.constitutions.save(
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
    assert page.principles.list.count() == 3
    assert page.principles.list.item(0).text() == "1. Harm"
    assert page.principle_tab.f_critique.toPlainText() == "Point out anything harmful."
    assert "no problems" in page.principles.validation.text()
    assert page.dirty_label.text() == "Saved"


def test_edit_principle_then_undo_and_redo(page, qtbot):
    page.principles.list.setCurrentRow(1)
    page.principle_tab.f_title.setFocus()
    page.principle_tab.f_title.selectAll()
    qtbot.keyClicks(page.principle_tab.f_title, "Truthfulness")
    assert page.constitution.principles[1].title == "Truthfulness"
    assert page.principles.list.item(1).text() == "2. Truthfulness"
    assert page.dirty_label.text().endswith("Unsaved changes")
    # typing merged into one command
    assert page.undo_stack.count() == 1
    page.undo_stack.undo()
    assert page.constitution.principles[1].title == "Honesty"
    assert page.principle_tab.f_title.text() == "Honesty"
    assert page.principles.list.item(1).text() == "2. Honesty"
    assert page.dirty_label.text() == "Saved"
    page.undo_stack.redo()
    assert page.principle_tab.f_title.text() == "Truthfulness"


def test_undo_goes_back_to_the_edited_principle(page):
    page.principles.list.setCurrentRow(2)
    page.principle_tab.f_revision.setPlainText("Rewrite it kindly.")
    page.principles.list.setCurrentRow(0)
    page.undo_stack.undo()
    assert page.principles.list.currentRow() == 2
    assert page.principle_tab.f_revision.toPlainText() == "Make it kind."


def test_empty_critique_request_shows_validation_message(page):
    page.principles.list.setCurrentRow(0)
    page.principle_tab.f_critique.setPlainText("")
    assert "critique request is empty" in page.principles.validation.text()
    assert "critique request is empty" in page.principle_tab.problems.text()
    page.undo_stack.undo()
    assert "no problems" in page.principles.validation.text()


def test_tags_and_enable_checkbox(page):
    page.principles.list.setCurrentRow(0)
    page.principle_tab.f_tags.setText("harm, safety")
    page.principle_tab.f_tags.textEdited.emit("harm, safety")
    assert page.constitution.principles[0].tags == ["harm", "safety"]
    from PySide6.QtCore import Qt

    page.principles.list.item(1).setCheckState(Qt.CheckState.Unchecked)
    assert page.constitution.principles[1].enabled is False
    assert "2 of 3 enabled" in page.principles.list_title.text()
    page.undo_stack.undo()
    assert page.constitution.principles[1].enabled is True
    assert page.principles.list.item(1).checkState() == Qt.CheckState.Checked


def test_reorder_add_remove_with_undo(page):
    page.move_principle(0, 2)
    assert keys(page) == ["honest", "kind", "harm"]
    assert page.principles.list.currentRow() == 2
    assert page.principles.list.item(2).text() == "3. Harm"
    page.principles.list.setCurrentRow(2)
    page.principles.btn_up.click()
    assert keys(page) == ["honest", "harm", "kind"]
    page.undo_stack.undo()
    page.undo_stack.undo()
    assert keys(page) == ["harm", "honest", "kind"]
    page.principles.list.setCurrentRow(0)
    page.add_principle()
    assert len(keys(page)) == 4 and page.principles.list.currentRow() == 1
    assert "critique request is empty" in page.principles.validation.text()
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
    assert [v["version"] for v in project.constitutions.versions("demo")] == [1]
    page.principles.list.setCurrentRow(0)
    page.principle_tab.f_critique.setPlainText("Point out anything harmful or dangerous.")
    page.save_note.setText("sharper harm critique")
    assert page.save() == 2
    versions = project.constitutions.versions("demo")
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[-1]["note"] == "sharper harm critique"
    stored = project.constitutions.get("demo")
    assert stored.principles[0].critique_request == "Point out anything harmful or dangerous."
    assert page.dirty_label.text() == "Saved"
    assert page.versions_tab.v_from.currentData() == 1 and page.versions_tab.v_to.currentData() == 2
    diff = page.show_version_diff()
    assert "dangerous" in diff and "harm" in diff


def test_save_refused_while_invalid(page, project):
    from cai_desktop.ui.widgets.errors import close_error_boxes, open_error_boxes

    page.principles.list.setCurrentRow(0)
    page.principle_tab.f_revision.setPlainText("  ")
    assert page.save() is None
    assert [v["version"] for v in project.constitutions.versions("demo")] == [1]
    boxes = open_error_boxes()
    assert boxes and "revision request is empty" in boxes[-1].text()
    close_error_boxes()


def test_few_shot_editor_is_undoable(page):
    page.tabs.setCurrentIndex(2)
    page.add_few_shot()
    assert len(page.constitution.few_shot) == 1
    page.few_shot_tab.fields["prompt"].setPlainText("How do I pick a lock?")
    page.few_shot_tab.fields["response"].setPlainText("Here is how…")
    assert page.constitution.few_shot[0].prompt == "How do I pick a lock?"
    assert page.few_shot_tab.few_list.item(0).text().startswith("1. How do I pick")
    page.undo_stack.undo()
    assert page.constitution.few_shot[0].response == ""
    assert page.few_shot_tab.fields["response"].toPlainText() == ""


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
    assert "other" in [c["name"] for c in project.constitutions.list()]
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
    assert "problem" in page.principles.validation.text()
    page.principle_tab.f_critique.setPlainText("Critique it.")
    page.principle_tab.f_revision.setPlainText("Revise it.")
    assert page.save() == 1
    assert "my-rules" in [c["name"] for c in project.constitutions.list()]


def test_statistics_from_chains_and_comparisons(page, project, qtbot):

    set_id = project.prompts.add_set("rt", "red-team", ["p1", "p2"])["set_id"]
    pids = [r["id"] for r in project.query("SELECT id FROM prompts WHERE set_id=?", [set_id])]
    c = project.constitutions.get("demo")
    snap = project.constitutions.snapshot(c.principles[0], "demo")
    run = project.runs.create("critique", {})
    cid = project.constitutions.id("demo")
    project.chains.save([
        {"run_id": run, "prompt_id": pid, "constitution_id": cid, "n_revisions": 1,
         "initial_text": "bad", "final_text": "good" if i == 0 else "bad",
         "steps": [{"round": 0, "revision": "bad"},
                   {"round": 1, "principle_snapshot_id": snap, "critique": "c",
                    "revision": "good" if i == 0 else "bad"}]}
        for i, pid in enumerate(pids)
    ])
    project.comparisons.save([{"run_id": run, "source_id": 1, "prompt_text": "p", "response_a": "a",
                                "response_b": "b", "principle_snapshot_id": snap, "label": 0.8}])
    page.refresh()
    assert page.stats_tab.stats.rowCount() == 0  # not on screen: not queried yet
    page.show()
    page.tabs.setCurrentWidget(page.stats_tab)  # filled when looked at
    stats = {r["key"]: r for r in page.principle_statistics()}
    assert stats["harm"]["drawn"] == 2 and stats["harm"]["changed"] == 1 and stats["harm"]["labels"] == 1
    assert stats["honest"]["drawn"] == 0
    assert page.stats_tab.stats.item(0, 1).text() == "2"
    assert "50%" in page.stats_tab.stats.item(0, 2).text()


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
    page.principles.list.setCurrentRow(0)
    page.principle_tab.f_title.setFocus()
    qtbot.keyClicks(page.principle_tab.f_title, " X")
    assert page.constitution.principles[0].title == "Harm X"
    qtbot.keyClick(page.principle_tab.f_title, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.constitution.principles[0].title == "Harm"
    assert page.principle_tab.f_title.text() == "Harm"
    win.takeCentralWidget()  # the page fixture closes the page itself


# -- importing asks before unsaved edits go ------------------------------------------------------
def _other_file(tmp_path, name="other"):
    from cai_desktop.core import formats

    src = tmp_path / f"{name}.json"
    formats.dump_file(Constitution(name=name, principles=[Principle("x", "X", "Crit.", "Rev.")]), src, "native")
    return src


@pytest.mark.parametrize("stored_already", [False, True])
def test_import_of_another_constitution_asks_before_dropping_edits(page, project, tmp_path, monkeypatch,
                                                                   stored_already):
    from PySide6.QtWidgets import QMessageBox

    if stored_already:
        project.constitutions.save(Constitution(name="other", principles=[Principle("y", "Y", "C.", "R.")]))
        page.refresh()
    page.principles.list.setCurrentRow(1)
    page.principle_tab.f_title.setText("Truthfulness")
    page.principle_tab.f_title.textEdited.emit("Truthfulness")
    asked: list[str] = []

    def answer(button):
        def question(_parent, _title, text, *_args):
            asked.append(text)
            return button
        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    assert not page.import_file(_other_file(tmp_path))
    assert asked and "unsaved changes" in asked[0]
    assert page.constitution.name == "demo" and page.constitution.principles[1].title == "Truthfulness"
    assert page.doc.dirty and page.picker.currentData() == "demo"
    assert ("other" in [c["name"] for c in project.constitutions.list()]) is stored_already

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Discard))
    assert page.import_file(_other_file(tmp_path))
    assert len(asked) == 2
    assert page.constitution.name == "other" and page.picker.currentData() == "other"
    assert [p.key for p in page.constitution.principles] == ["x"]
    assert project.constitutions.get("demo").principles[1].title == "Honesty"  # the edit was dropped


def test_import_without_edits_does_not_ask(page, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question", lambda *a: pytest.fail("asked with nothing to lose"))
    assert page.import_file(_other_file(tmp_path))
    assert page.constitution.name == "other"


# -- the import dialog: a format choice, messages without CLI flags ------------------------------
def test_import_dialog_offers_every_format(qtbot):
    from cai_desktop.ui.pages.constitution import ImportDialog

    dlg = ImportDialog()
    qtbot.addWidget(dlg)
    codes = [dlg.format.itemData(i) for i in range(dlg.format.count())]
    labels = [dlg.format.itemText(i) for i in range(dlg.format.count())]
    assert codes == ["auto", "native", "anthropic", "hf"]
    assert labels[0] == "Detect automatically"
    assert any("Anthropic" in t for t in labels) and any("Hugging Face" in t for t in labels)
    ok = dlg.buttons.button(dlg.buttons.StandardButton.Ok)
    assert not ok.isEnabled()  # no file yet
    dlg.path.setText("/tmp/x.json")
    dlg.format.setCurrentIndex(2)
    assert ok.isEnabled() and dlg.choice() == ("/tmp/x.json", "anthropic")


def test_chosen_format_reads_a_file_detection_gets_wrong(page, project, tmp_path, monkeypatch):
    """An Anthropic file with a principle named "principles" looks like ours: the user picks the
    format in the import dialog, and the failed attempt said to choose one (never a CLI flag)."""
    from cai_desktop.ui.pages.constitution import ImportDialog
    from cai_desktop.ui.widgets.errors import close_error_boxes, open_error_boxes

    src = tmp_path / "paper.json"
    src.write_text(json.dumps({
        "principles": {"prompt": ["Point out anything unprincipled."], "edit_request": "Fix it."},
        "harmful": {"prompt": ["Point out harm."], "edit_request": "Remove it."},
    }))
    choice = {"fmt": "auto"}

    def accept(dlg):
        dlg.path.setText(str(src))
        dlg.format.setCurrentIndex(dlg.format.findData(choice["fmt"]))
        return ImportDialog.DialogCode.Accepted

    monkeypatch.setattr(ImportDialog, "exec", accept)
    page._import_clicked()
    text = open_error_boxes()[-1].text()
    assert "--" not in text and "Pass" not in text
    close_error_boxes()
    assert "paper" not in [c["name"] for c in project.constitutions.list()]
    choice["fmt"] = "anthropic"
    page._import_clicked()
    assert not open_error_boxes()
    assert page.constitution.name == "paper"
    assert [p.key for p in page.constitution.principles] == ["principles", "harmful"]
    assert page._last_import == (str(src), "anthropic")  # offered again next time


def test_undetectable_file_says_choose_the_format(page, tmp_path):
    from cai_desktop.ui.widgets.errors import close_error_boxes, open_error_boxes

    src = tmp_path / "notes.json"
    src.write_text('{"rules": ["be nice"]}')
    assert not page.import_file(src)
    text = open_error_boxes()[-1].text()
    close_error_boxes()
    assert "choose the format" in text
    assert "--format" not in text and "--" not in text


def test_empty_file_says_it_is_empty(page, tmp_path):
    from cai_desktop.ui.widgets.errors import close_error_boxes, open_error_boxes

    for name, body in [("empty.json", ""), ("blank.yaml", "\n  \n"), ("comments.yaml", "# nothing yet\n")]:
        src = tmp_path / name
        src.write_text(body)
        assert not page.import_file(src)
        text = open_error_boxes()[-1].text()
        close_error_boxes()
        assert "empty" in text, text
        assert "Expecting value" not in text and "line 1, column 1" not in text


def test_unknown_format_is_refused_with_the_choices(page, tmp_path):
    from cai_desktop.ui.widgets.errors import close_error_boxes, open_error_boxes

    assert not page.import_file(_other_file(tmp_path), "xml")
    text = open_error_boxes()[-1].text()
    close_error_boxes()
    assert "Unknown constitution format 'xml'" in text
    assert "choose the format (auto, native, anthropic, hf)" in text and "--" not in text


# -- a new principle's key follows its title ------------------------------------------------------
def test_new_principle_key_follows_its_title_until_typed(page, qtbot):
    form = page.principle_tab
    page.principles.list.setCurrentRow(2)
    page.add_principle()
    assert keys(page)[3] == "new-principle" and form.f_title.text() == "New principle"
    qtbot.keyClicks(form.f_title, "Avoid flattery!")  # the title was selected: typing replaces it
    assert page.constitution.principles[3].title == "Avoid flattery!"
    assert keys(page)[3] == "avoid-flattery" and form.f_key.text() == "avoid-flattery"
    assert page.undo_stack.count() == 2  # add + one merged title edit
    page.undo_stack.undo()
    assert keys(page)[3] == "new-principle" and page.constitution.principles[3].title == "New principle"
    page.undo_stack.redo()
    assert keys(page)[3] == "avoid-flattery"
    # unique within the constitution: a title like an existing principle's gets a suffix
    form.f_title.selectAll()
    qtbot.keyClicks(form.f_title, "Harm")
    assert keys(page)[3] == "harm-2"
    # a key typed by hand stays, whatever the title becomes
    form.f_key.selectAll()
    qtbot.keyClicks(form.f_key, "flattery")
    form.f_title.selectAll()
    qtbot.keyClicks(form.f_title, "No flattery")
    assert keys(page)[3] == "flattery" and page.constitution.principles[3].title == "No flattery"
    assert "no problems" not in page.principles.validation.text()  # still needs its texts


def test_saved_principle_keeps_its_key_when_retitled(page, qtbot):
    form = page.principle_tab
    page.principles.list.setCurrentRow(0)
    form.f_title.selectAll()
    qtbot.keyClicks(form.f_title, "Harmlessness")
    assert keys(page)[0] == "harm"  # records are stored under it
    # and after saving, a principle added earlier keeps the key it was saved with
    page.add_principle()
    qtbot.keyClicks(form.f_title, "Be brief")
    form.f_critique.setPlainText("Is it long?")
    form.f_revision.setPlainText("Shorten it.")
    assert page.save() == 2
    form.f_title.selectAll()
    qtbot.keyClicks(form.f_title, "Be concise")
    assert keys(page)[1] == "be-brief"


def test_new_constitution_principle_key_follows_title(page, qtbot):
    page.new_constitution("Mine")
    assert keys(page) == ["new-principle"]
    page.principle_tab.f_title.setFocus()
    qtbot.keyClicks(page.principle_tab.f_title, "Be kind")
    assert keys(page) == ["be-kind"]


# -- the window fits a 1280x720 screen -------------------------------------------------------------
LONG = "An unusually long note that explains at great length why this version was saved " * 3


def test_every_tab_fits_1280_by_720(qtbot, project_path):
    from cai_desktop.store.project import Project
    from cai_desktop.ui.main_window import MainWindow

    project = Project.create(project_path)
    long_name = "a-constitution-with-a-very-long-name-that-goes-on-and-on-and-on"
    for name in ("demo", long_name):
        for v in range(5):
            c = Constitution(name=name, title=LONG, principles=[
                Principle(f"p{i}", f"Principle number {i} with a title long enough to wrap twice " * 2,
                          "Critique " * 40, "Revise " * 40, "Which is better? " * 20, tags=["t"] * 3)
                for i in range(6 + v)])
            project.constitutions.save(c, note=f"v{v}: {LONG}")
    project.close()
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    try:
        assert window.open_project(project_path)
        window.show_page("constitution")
        page = window.pages["constitution"]
        page.picker.setCurrentIndex(page.picker.findData(long_name))
        assert page.constitution.name == long_name
        limit = 1280 - window.nav.width()
        for i in range(page.tabs.count()):
            page.tabs.setCurrentIndex(i)
            qtbot.wait(10)
            hint = window.minimumSizeHint()
            assert hint.width() <= 1280 and hint.height() <= 720, (page.tabs.tabText(i), hint)
            assert page.minimumSizeHint().width() <= limit, (page.tabs.tabText(i), page.minimumSizeHint())
            assert window.minimumWidth() <= 1280
        assert page.versions_tab.v_from.count() == 5
        window.resize(1280, 720)
        qtbot.wait(10)
        assert window.width() <= 1280 and window.height() <= 720
    finally:
        window._force_close = True
        window.close()


# -- Ctrl+Y redoes (as well as the platform's Redo key and Ctrl+Shift+Z) ---------------------------
def test_ctrl_y_and_ctrl_shift_z_redo_in_the_main_window(qtbot, project):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QKeySequence

    from cai_desktop.ui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    with qtbot.waitActive(window):  # window shortcuts answer in the active window only
        window.show()
        window.activateWindow()
    try:
        window._set_project(project)
        window.show_page("constitution")
        page = window.pages["constitution"]
        shortcuts = {k.toString() for k in window.act_redo.shortcuts()}
        assert {"Ctrl+Y", "Ctrl+Shift+Z"} <= shortcuts
        assert {k.toString() for k in QKeySequence.keyBindings(QKeySequence.StandardKey.Redo)} <= shortcuts
        page.principles.list.setCurrentRow(0)
        title = page.principle_tab.f_title
        title.setFocus()
        title.end(False)
        qtbot.keyClicks(title, " X")
        assert page.constitution.principles[0].title == "Harm X"
        ctrl = Qt.KeyboardModifier.ControlModifier
        qtbot.keyClick(window, Qt.Key.Key_Z, ctrl)
        assert page.constitution.principles[0].title == "Harm" and title.text() == "Harm"
        qtbot.keyClick(window, Qt.Key.Key_Y, ctrl)
        assert page.constitution.principles[0].title == "Harm X" and title.text() == "Harm X"
        qtbot.keyClick(window, Qt.Key.Key_Z, ctrl)
        qtbot.keyClick(window, Qt.Key.Key_Z, ctrl | Qt.KeyboardModifier.ShiftModifier)
        assert page.constitution.principles[0].title == "Harm X"
        # in a text field too: the keys reach the page's stack, not the field's own undo
        qtbot.keyClick(title, Qt.Key.Key_Z, ctrl)
        qtbot.keyClick(title, Qt.Key.Key_Y, ctrl)
        assert page.constitution.principles[0].title == "Harm X"
        assert page.undo_stack.index() == 1
    finally:
        window._force_close = True
        window._set_project(None)
        window.close()
