"""Screens of the main window. Each is a ``Page``: the window hands it the open project."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget


class Page(QWidget):
    """Base for a screen. ``set_project`` is called on open/close; ``refresh`` after a run ends."""

    title = "Page"
    #: ask the main window to launch a job: (kind, params object, display name)
    job_requested = Signal(str, object, str)
    #: tell the user something in the status bar
    status_message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = None

    def set_project(self, project) -> None:
        self.project = project
        self.refresh()

    def refresh(self) -> None:  # pragma: no cover - overridden
        pass
