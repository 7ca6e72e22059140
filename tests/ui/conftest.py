"""pytest-qt fixtures for the GUI tests (offscreen; the top-level conftest sets QT_QPA_PLATFORM)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def no_thread_left_running(qapp):
    """Fail a test that leaves a job QThread running (after a short grace period)."""
    yield
    from cai_desktop.ui.jobrunner import running_threads

    alive = running_threads()
    for t in alive:
        t.wait(5000)
    still = running_threads()
    if still:
        names = ", ".join(t.objectName() or "?" for t in still)
        pytest.fail(f"test left {len(still)} QThread(s) running: {names}")


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """QSettings go to a temporary folder so tests never touch the user's recent projects."""
    from PySide6.QtCore import QSettings

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    monkeypatch.setenv("CAI_DESKTOP_SETTINGS_DIR", str(tmp_path / "settings"))
    yield


@pytest.fixture
def runner(qtbot):
    from cai_desktop.ui.jobrunner import JobRunner

    r = JobRunner()
    yield r
    r.shutdown(10000)
