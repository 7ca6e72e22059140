"""Quitting while a job runs: the window says what it waits for, asks the runner to cancel, closes
as soon as the job stops, and after a while offers to wait on or quit anyway."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox

from cai_desktop.core.errors import Cancelled
from cai_desktop.ui.jobrunner import running_threads
from cai_desktop.ui.main_window import MainWindow
from cai_desktop.ui.widgets.errors import close_error_boxes


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    assert w.create_project(tmp_path / "quit.caiproj")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    yield w
    w._force_close = True
    w.runner.shutdown(20000)
    close_error_boxes()


def step_job(step_s: float, release: threading.Event | None = None):
    """A job whose step takes ``step_s`` (or until ``release``); it checks cancel between steps."""

    def job(ctx, params):
        while True:
            ctx.progress(1, 10, "a long step")
            if release is not None:
                release.wait(20)
            else:
                time.sleep(step_s)
            if ctx.cancelled():
                raise Cancelled("stopped")

    return job


def _watch(window, seen):
    """Read what the window shows while closeEvent waits (timers run: the window is responsive)."""

    def look():
        box = getattr(window, "stop_box", None)
        seen.append((box.labelText() if box is not None else None, window.job_label.text()))

    QTimer.singleShot(150, look)


def test_quit_says_what_it_waits_for_and_closes_once_the_job_stops(window, qtbot):
    with qtbot.waitSignal(window.runner.job_progress, timeout=10000):
        job = window.runner.submit("critique", step_job(0.6), None, "critique (chains)")
    assert window.device_label.text().endswith("(in use by critique (chains))")
    seen = []
    _watch(window, seen)
    asked = []
    window._ask_keep_waiting = lambda name: asked.append(name) or True
    assert window.close()
    assert seen and seen[0][0] == "Stopping critique (chains): waiting for the current step to finish…"
    assert "waiting for the current step to finish" in seen[0][1]
    assert window.runner.jobs[job].cancel_requested
    assert window.runner.jobs[job].status == "cancelled"
    assert asked == []  # it stopped within the wait: nothing to ask
    assert running_threads() == []


def test_a_job_that_does_not_stop_in_time_offers_to_wait_on(window, qtbot, monkeypatch):
    monkeypatch.setattr(MainWindow, "STOP_WAIT_S", 0.3)
    release = threading.Event()
    with qtbot.waitSignal(window.runner.job_progress, timeout=10000):
        job = window.runner.submit("sft", step_job(0, release), None, "SFT")
    asked = []

    def keep_waiting(name):
        asked.append(name)
        release.set()  # the step ends while the user waits on
        return True

    window._ask_keep_waiting = keep_waiting
    window._quit_anyway = lambda: pytest.fail("quit anyway was not chosen")
    assert window.close()
    assert asked == ["SFT"]
    assert window.runner.jobs[job].status == "cancelled"


def test_quit_anyway_leaves_without_terminating_the_thread(window, qtbot, monkeypatch):
    monkeypatch.setattr(MainWindow, "STOP_WAIT_S", 0.3)
    release = threading.Event()
    with qtbot.waitSignal(window.runner.job_progress, timeout=10000):
        window.runner.submit("sft", step_job(0, release), None, "SFT")
    left = []

    def quit_anyway():  # os._exit(0) in the app; here the test lets its thread end
        left.append(window.runner.current_job().name)
        release.set()

    window._ask_keep_waiting = lambda name: False
    window._quit_anyway = quit_anyway
    window.close()
    assert left == ["SFT"]
    assert window.runner.wait_idle(10000)


def test_device_label_while_idle_and_while_a_job_runs(window, qtbot):
    assert "in use" not in window.device_label.text()
    release = threading.Event()
    with qtbot.waitSignal(window.runner.job_progress, timeout=10000):
        job = window.runner.submit("pairs", step_job(0, release), None, "Response pairs")
    assert "(in use by Response pairs)" in window.device_label.text()
    window.runner.cancel(job)
    release.set()
    assert window.runner.wait_idle(10000)
    assert "in use" not in window.device_label.text()
