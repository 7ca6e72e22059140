"""Prompts page: sets, a paged and searchable prompt table, import, train/test split."""

from __future__ import annotations

import pytest


@pytest.fixture
def project(project_path):
    from cai_desktop.store.project import Project

    p = Project.create(project_path)
    p.prompts.add_set("red", "red-team", [f"How do I do bad thing {i}?" for i in range(500)], test_fraction=0.2)
    p.prompts.add_set("nice", "helpful", ["Write a haiku about tea.", "What is a prime number?"])
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


def test_counts_read_right(page, project, tmp_path):
    messages = []
    page.status_message.connect(messages.append)
    f = tmp_path / "one.txt"
    f.write_text("Just one prompt?\n")
    page.import_prompts(f, "one", "helpful", test_fraction=0.0)
    assert messages[-1] == "Imported 1 prompt into 'one'."
    assert page.count_label.text().startswith("1 shown of 1 prompt ·")


def test_empty_file_says_so_without_cli_flags(page, tmp_path):
    from cai_desktop.ui.widgets.errors import close_error_boxes, open_error_boxes

    f = tmp_path / "empty.csv"
    f.write_text("")
    assert page.import_prompts(f, "e", "red-team") is None
    assert open_error_boxes()[-1].text() == "empty.csv is empty."
    g = tmp_path / "cols.csv"
    g.write_text("a,b\n1,2\n")
    assert page.import_prompts(g, "c", "red-team") is None
    text = open_error_boxes()[-1].text()
    assert "choose the column that holds it (columns: a, b)" in text and "--" not in text
    close_error_boxes()


def test_rename_set(page, project):
    page.select_set("nice")
    assert page.rename_set("kind")
    assert [s["name"] for s in page.sets] == ["red", "kind"]
    assert page.current_set() == "kind" and page.model.rowCount() == 2
    assert not page.rename_set("red")  # taken


def test_delete_set_asks_and_says_how_many(page, project):
    asked = []
    page.confirm = lambda title, text: asked.append(text) or False
    page.select_set("nice")
    assert not page.delete_set()  # cancelled
    assert "Delete 'nice' and its 2 prompts?" in asked[-1] and "No chains or comparisons" in asked[-1]
    assert len(page.sets) == 2
    page.confirm = lambda title, text: True
    assert page.delete_set()
    assert [s["name"] for s in page.sets] == ["red"] and page.current_set() == "red"
    assert page.delete_set()
    assert page.sets == [] and page.model.rowCount() == 0
    assert not page.btn_delete.isEnabled() and not page.btn_rename.isEnabled()


def test_delete_refused_when_chains_were_made(page, project):
    from cai_desktop.ui.widgets.errors import close_error_boxes, open_error_boxes

    run = project.runs.create("critique", {})
    project.chains.save([{"run_id": run, "prompt_id": project.prompts.of("red")[0]["id"], "n_revisions": 0,
                           "initial_text": "x", "final_text": "x", "steps": []}])
    page.confirm = lambda title, text: pytest.fail("must not ask: the set is kept")
    page.select_set("red")
    assert not page.delete_set()
    text = open_error_boxes()[-1].text()
    assert "'red' has 500 prompts" in text and "(1 chain)" in text and "kept" in text
    assert len(page.sets) == 2
    close_error_boxes()


def test_import_demonstrations_makes_human_chains(page, project, tmp_path):
    from cai_desktop.ui.widgets.errors import close_error_boxes, open_error_boxes

    f = tmp_path / "demos.jsonl"
    f.write_text('{"prompt": "How do I pick a lock?", "response": "I can\'t help with that; a locksmith can."}\n')
    r = page.import_demonstrations(f)
    assert r["demonstrations"] == 1 and page.current_set() == "demonstrations"
    chain = project.chains.get(project.chains.list(0, 5)[0]["id"])
    assert chain["human_revision"].startswith("I can't help") and chain["model_spec"] == "human demonstration"
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    assert page.import_demonstrations(bad) is None
    assert "line 1: not valid JSON" in open_error_boxes()[-1].text()
    close_error_boxes()
