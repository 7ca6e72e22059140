"""The main window: pages, projects, recent list, undo routing, errors, closing with a job running."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtWidgets import QMessageBox

from cai_desktop.core.errors import Cancelled
from cai_desktop.store.project import Project
from cai_desktop.ui import main_window as mw
from cai_desktop.ui.jobrunner import running_threads
from cai_desktop.ui.main_window import MainWindow, PlaceholderPage, load_page
from cai_desktop.ui.widgets.errors import close_error_boxes


@pytest.fixture
def window(qtbot):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    yield w
    w._force_close = True
    w.runner.shutdown(10000)
    close_error_boxes()


def looping_job(ctx, params):
    while not ctx.cancelled():
        ctx.progress(1, 100, "looping")
        time.sleep(0.005)
    raise Cancelled("stopped")


def test_window_start_does_not_load_torch():
    code = (
        "import os, sys; os.environ['QT_QPA_PLATFORM']='offscreen';"
        "from PySide6.QtWidgets import QApplication; app=QApplication([]);"
        "from cai_desktop.ui.main_window import MainWindow; w=MainWindow(); w.show(); app.processEvents();"
        "print(sorted(m for m in ('torch','transformers','trl','peft') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_shows_every_page_and_navigates(window):
    keys = [k for k, *_ in mw.PAGES]
    assert list(window.pages) == keys
    assert window.stack.count() == len(keys) == window.nav.count()
    assert window.current_page() is window.pages["start"]
    window.show_page("runs")
    assert window.current_page() is window.pages["runs"]
    assert window.nav.currentRow() == keys.index("runs")


def test_missing_or_broken_page_becomes_placeholder(monkeypatch):
    page = load_page("cai_desktop.ui.pages.does_not_exist", "Nope", "Nope")
    assert isinstance(page, PlaceholderPage)
    assert "not been written" in page.error

    def boom(name):
        raise RuntimeError("widget exploded")

    monkeypatch.setattr(mw.importlib, "import_module", boom)
    page = load_page("cai_desktop.ui.pages.start", "StartPage", "Start")
    assert isinstance(page, PlaceholderPage)
    assert "widget exploded" in page.error


def test_create_sample_project_opens_it_everywhere(window, tmp_path):
    path = tmp_path / "sample.caiproj"
    assert window.create_project(path, sample=True)
    assert window.project is not None and window.project.path == path
    assert "sample.caiproj" in window.windowTitle()
    for page in window.pages.values():
        assert page.project is window.project
    assert window.project.constitutions.list(), "starter constitutions imported"
    start = window.pages["start"]
    assert "sample.caiproj" in start.project_label.text()
    assert str(path.resolve()) == window.recent_projects()[0]
    assert start.recent.item(0).data(mw.Qt.ItemDataRole.UserRole) == str(path.resolve())
    # close, then reopen from the recent list
    window.close_project()
    assert window.project is None
    assert window.open_project(window.recent_projects()[0])
    assert window.project.path == path.resolve()


def test_new_project_name_gets_suffix_and_existing_name_is_refused(window, tmp_path):
    assert window.create_project(tmp_path / "plain")
    assert window.project.path.name == "plain.caiproj"
    assert not window.create_project(tmp_path / "plain.caiproj")
    assert "already exists" in window.last_error_box.text()


def test_bad_project_file_shows_readable_error(window, tmp_path):
    bad = tmp_path / "notes.caiproj"
    bad.write_text("not a database")
    assert not window.open_project(bad)
    box = window.last_error_box
    assert box is not None and "not a CAI Desktop project" in box.text()
    assert window.project is None


def test_undo_redo_routed_to_current_page(window):
    class Cmd(QUndoCommand):
        def __init__(self, log):
            super().__init__("change")
            self.log = log

        def redo(self):
            self.log.append("redo")

        def undo(self):
            self.log.append("undo")

    log: list[str] = []
    page = window.pages["constitution"]
    page.undo_stack = QUndoStack(page)
    page.undo_stack.push(Cmd(log))
    window.show_page("constitution")
    window.act_undo.trigger()
    assert log == ["redo", "undo"]
    window.act_redo.trigger()
    assert log == ["redo", "undo", "redo"]
    window.show_page("start")  # no undo stack there: nothing happens
    window.act_undo.trigger()
    assert log == ["redo", "undo", "redo"]


def test_job_failure_is_shown_with_details(window, qtbot, tmp_path):
    from cai_desktop.jobs.critique import CritiqueParams

    window.create_project(tmp_path / "p.caiproj", sample=True)
    params = CritiqueParams(project=str(window.project.path), constitution="no-such-constitution")
    with qtbot.waitSignal(window.runner.job_ended, timeout=30000):
        window.submit_job("critique", params, "critique")
    box = window.last_error_box
    assert box is not None
    assert "no-such-constitution" in box.text()
    assert "Traceback" in box.detailedText()


def test_close_with_running_job_asks_then_cancels(window, qtbot, monkeypatch, tmp_path):
    window.create_project(tmp_path / "p.caiproj")
    asked = []

    def answer(choice):
        def question(*a, **kw):
            asked.append(a[1] if len(a) > 1 else "")
            return choice

        return question

    with qtbot.waitSignal(window.runner.job_progress, timeout=10000):
        job = window.runner.submit("loop", looping_job, None, "endless job")
    # "No": the window stays open and the job keeps running
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    assert not window.close()
    assert window.isVisible() and window.runner.is_busy()
    # "Yes": the job is cancelled cleanly and the thread stopped before the window closes
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    assert window.close()
    assert len(asked) == 2
    assert window.runner.jobs[job].status == "cancelled"
    assert not window.runner.is_busy()
    assert running_threads() == []


def test_window_state_saved_in_settings(qtbot):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.resize(w.width(), 611)  # (the offscreen screen is narrow: widths get clamped, heights not)
    w.close()
    assert mw.settings().value("window/geometry") is not None
    w2 = MainWindow()
    qtbot.addWidget(w2)
    assert w2.height() == 611


def test_project_data_not_in_settings(window, tmp_path):
    window.create_project(tmp_path / "p.caiproj", sample=True)
    keys = mw.settings().allKeys()
    assert set(keys) <= {"recent_projects", "window/geometry", "window/state"}
    with Project.open(tmp_path / "p.caiproj") as p:
        assert p.constitutions.list()


def test_f1_opens_the_guide_without_blocking(window, qtbot):
    from PySide6.QtCore import Qt

    from cai_desktop.ui.widgets.guide_text import STAGES

    window.activateWindow()
    qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_F1)
    guide = window.guide
    assert guide is not None and guide.isVisible()
    assert not guide.isModal()
    text = guide.text()
    for stage in STAGES:
        assert stage in text, stage
    for term in ("SL-CAI", "RL-CAI", "critique request", "revision request", "soft label",
                 "preference model", "KL penalty", "position bias", "reward hacking", "135M"):
        assert term.lower() in text.lower(), term
    assert "never reopened" in text and "Cancel keeps every finished batch" in text
    # the window stays usable, and F1 again raises the same guide
    window.show_page("runs")
    assert window.current_page() is window.pages["runs"]
    assert window.show_guide() is guide
    guide.close()


def test_finished_job_refreshes_only_pages_whose_data_changed(window, qtbot, tmp_path, monkeypatch):
    from cai_desktop.jobs.registry import JOBS
    from cai_desktop.ui.pages.datakinds import JOB_CHANGES

    assert set(JOBS) <= set(JOB_CHANGES), "every declared job says what it changes"
    window.create_project(tmp_path / "p.caiproj")
    calls: list[str] = []
    for key, page in window.pages.items():
        monkeypatch.setattr(page, "refresh", lambda k=key: calls.append(k))
    window.show_page("comparisons")
    with qtbot.waitSignal(window.runner.job_ended, timeout=10000):
        window.runner.submit("label", lambda ctx, params: {"labelled": 0}, None, "fake AI labels")
    assert "comparisons" in calls  # on screen: refreshed now
    assert "inspector" not in calls
    assert calls.count("runs") == 0 and "runs" in window.stale_pages  # hidden: refreshed when shown
    window.show_page("runs")
    assert calls.count("runs") == 1 and "runs" not in window.stale_pages
    window.show_page("inspector")
    assert "inspector" not in calls
    # a page's own change refreshes the others that show that data, not itself
    calls.clear()
    window.pages["prompts"].data_changed.emit({"prompts"})
    assert calls == ["inspector"]  # on screen; start and comparisons wait until shown
    assert {"start", "comparisons"} <= window.stale_pages and "prompts" not in window.stale_pages


def test_start_page_asks_the_window_by_signal(window, tmp_path):
    path = tmp_path / "p.caiproj"
    Project.create(path).close()
    start = window.pages["start"]
    start.open_project_requested.emit(str(path))
    assert window.project is not None and window.project.path == path
    assert start.recent_paths[0] == str(path.resolve())
    start.guide_requested.emit()  # the start page's link to the guide
    assert window.guide is not None and window.guide.isVisible()
    window.guide.close()


def test_pages_do_not_reach_into_the_window():
    import re
    from pathlib import Path

    import cai_desktop.ui.pages as pages

    bad = re.compile(r"main_window|self\.window\(\)|\.parent\(\)\.\w+\(|set_window|window_ref")
    hits = [f"{p.name}:{i}" for p in Path(pages.__file__).parent.rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if bad.search(line)]
    assert hits == []
