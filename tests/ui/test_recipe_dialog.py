"""The "Run the whole method…" dialog: a plan for the open project, recomputed per size; Start
queues the steps in order (one job each) through the page's job_requested signal."""

from __future__ import annotations

import pytest


@pytest.fixture
def starter(project_path):
    from cai_desktop.jobs.sample import add_starter_content
    from cai_desktop.store.project import Project

    p = Project.create(project_path)
    add_starter_content(p)
    yield p
    p.close()


def _size_index(dlg, size):
    return next(i for i in range(dlg.size.count()) if dlg.size.itemData(i) == size)


def test_dialog_shows_the_plan_and_start_queues_the_steps_in_order(qtbot, starter):
    from cai_desktop.ui.pages.start import StartPage

    page = StartPage()
    qtbot.addWidget(page)
    assert not page.btn_recipe.isEnabled()
    page.set_project(starter)
    assert page.btn_recipe.isEnabled()
    queued = []
    page.job_requested.connect(lambda kind, params, name: queued.append((kind, params, name)))

    page.btn_recipe.click()
    dlg = page.recipe_dialog
    assert dlg is not None and dlg.isVisible() and not dlg.isModal()
    assert dlg.current_size() == "standard"
    text = dlg.text.toPlainText()
    assert "The whole method, standard size: 4 jobs" in text
    for words in ("Critique → revision chains", "Helpful answers", "LoRA SFT", "Before/after evaluation",
                  "Estimated time"):
        assert words in text, words
    assert "about" in dlg.estimate.text()

    dlg.size.setCurrentIndex(_size_index(dlg, "quick"))  # recomputed when the size changes
    quick = dlg.text.toPlainText()
    assert "quick size" in quick and quick != text
    assert dlg.plan.size == "quick"

    dlg.btn_start.click()
    assert [k for k, _, _ in queued] == ["critique", "critique", "sft", "eval"]
    assert [p.prompt_set for k, p, _ in queued if k == "critique"] == ["red-team", "helpful"]
    assert all(p.project == str(starter.path) for _, p, _ in queued)
    assert all("whole method" in name for _, _, name in queued)
    assert not dlg.isVisible()
    dlg.deleteLater()


def test_window_queues_one_job_per_step(qtbot, starter, monkeypatch):
    """Through the real window: each step reaches the runner's queue (a fake submit), in order."""
    from cai_desktop.ui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    submitted = []
    monkeypatch.setattr(w.runner, "submit", lambda kind, fn, params, name="": submitted.append(kind) or len(submitted))
    w._set_project(starter)
    starter.roles.set("teacher", "/models/teacher")  # a different teacher: the distill step joins
    page = w.pages["start"]
    page.btn_recipe.click()
    dlg = page.recipe_dialog
    assert "Teacher answers" in dlg.text.toPlainText()
    dlg.btn_start.click()
    assert submitted == ["critique", "critique", "distill", "sft", "eval"]
    w.project = None  # the fixture closes the project
    dlg.deleteLater()


def test_dialog_says_why_when_there_is_nothing_to_plan(qtbot, project_path):
    from cai_desktop.store.project import Project
    from cai_desktop.ui.widgets.recipe_dialog import RecipeDialog

    with Project.create(project_path) as p:
        dlg = RecipeDialog(p)
        qtbot.addWidget(dlg)
        assert "cannot run the recipe yet" in dlg.text.toPlainText()
        assert not dlg.btn_start.isEnabled()
        dlg.set_project(None)
        assert "Open a project first" in dlg.text.toPlainText()
