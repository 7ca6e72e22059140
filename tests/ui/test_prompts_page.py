"""Prompts page: sets, a paged and searchable prompt table, import, train/test split."""

from __future__ import annotations

import pytest


@pytest.fixture
def project(project_path):
    from cai_desktop.store.project import Project
    from cai_desktop.store.prompts import add_prompt_set

    p = Project.create(project_path)
    add_prompt_set(p, "red", "red-team", [f"How do I do bad thing {i}?" for i in range(500)], test_fraction=0.2)
    add_prompt_set(p, "nice", "helpful", ["Write a haiku about tea.", "What is a prime number?"])
    yield p
    p.close()


@pytest.fixture
def page(qtbot, project):
    from cai_desktop.ui.pages.prompts import PromptsPage

    w = PromptsPage()
    qtbot.addWidget(w)
    w.resize(1000, 600)
    w.set_project(project)
    return w


def test_sets_and_paged_prompts(page):
    assert page.set_table.rowCount() == 2
    assert page.current_set() == "red"
    assert page.model.rowCount() == 500
    assert page.model.rows_fetched <= 200  # only the first page is read
    assert page.model.row_data(0)["text"] == "How do I do bad thing 0?"
    page.select_set("nice")
    assert page.model.rowCount() == 2


def test_search_and_split_filter(page, qtbot):
    page.search.setText("thing 42?")
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=2000)
    assert page.model.row_data(0)["text"] == "How do I do bad thing 42?"
    page.search.clear()
    qtbot.waitUntil(lambda: page.model.rowCount() == 500, timeout=2000)
    page.split_filter.setCurrentIndex(2)  # test only
    n_test = page.model.rowCount()
    assert 50 < n_test < 150
    assert all(page.model.row_data(i)["split"] == "test" for i in range(n_test))


def test_resplit_changes_split(page, project):
    before = project.query("SELECT split FROM prompts p JOIN prompt_sets s ON s.id=p.set_id WHERE s.name='red' ORDER BY p.id")
    page.split_seed.setValue(7)
    page.split_fraction.setValue(0.5)
    page.apply_split()
    after = project.query("SELECT split FROM prompts p JOIN prompt_sets s ON s.id=p.set_id WHERE s.name='red' ORDER BY p.id")
    assert before != after
    n_test = sum(r["split"] == "test" for r in after)
    assert 200 < n_test < 300
    row = project.query("SELECT split_seed, test_fraction FROM prompt_sets WHERE name='red'")[0]
    assert row == {"split_seed": 7, "test_fraction": 0.5}
    assert page.set_table.item(0, 3).text() == str(n_test)


def test_import_prompts_file(page, project, tmp_path):
    f = tmp_path / "more.jsonl"
    f.write_text('{"prompt": "Tell me a secret.", "category": "privacy"}\n{"prompt": "Be rude to me."}\n')
    result = page.import_prompts(f, "more", "red-team")
    assert result["added"] == 2
    assert page.current_set() == "more"
    assert page.model.rowCount() == 2
    assert page.model.row_data(0)["category"] == "privacy"
    csv = tmp_path / "q.csv"
    csv.write_text("question,topic\nWhat is 2+2?,math\n")
    assert page.import_prompts(csv, "csvset", "helpful", fmt="csv", column="question")["added"] == 1


def test_import_errors_are_readable(page, tmp_path):
    from cai_desktop.ui.widgets.errors import close_error_boxes, open_error_boxes

    f = tmp_path / "x.csv"
    f.write_text("a,b\n1,2\n")
    assert page.import_prompts(f, "x", "red-team", column="prompt") is None
    assert "no column 'prompt'" in open_error_boxes()[-1].text()
    close_error_boxes()


def test_import_dialog_checks_input(qtbot, tmp_path):
    from cai_desktop.ui.pages.prompts import ImportPromptsDialog

    dlg = ImportPromptsDialog()
    qtbot.addWidget(dlg)
    dlg._check_accept()
    assert "Choose a file" in dlg.error.text()
    dlg.path.setText(str(tmp_path / "missing.txt"))
    dlg._check_accept()
    assert "No such file" in dlg.error.text()
    f = tmp_path / "ok.txt"
    f.write_text("hello\n")
    dlg._set_path(str(f))
    assert dlg.name.text() == "ok"
    dlg._check_accept()
    assert dlg.result() == dlg.DialogCode.Accepted
