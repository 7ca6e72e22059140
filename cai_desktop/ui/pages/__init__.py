"""Screens of the main window. Each is a ``Page``: the window hands it the open project."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from cai_desktop.ui.pages.datakinds import ALL


class Page(QWidget):
    """Base for a screen. ``set_project`` is called on open/close; ``refresh`` when data it shows
    (``data_kinds``) changed: right away if it is the page on screen, else when it is next shown.

    A page talks to the window only through these signals; it never imports the window or calls
    its methods (so each page also runs on its own)."""

    title = "Page"
    #: the data kinds this page shows (see ``pages.datakinds``); the window sets it per page
    data_kinds: frozenset[str] = ALL
    #: ask the main window to launch a job: (kind, params object, display name)
    job_requested = Signal(str, object, str)
    #: tell the user something in the status bar
    status_message = Signal(str)
    #: ask the window to show another page (its key)
    navigate_requested = Signal(str)
    #: this page changed data other pages may show: a set of data kinds
    data_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = None

    def set_project(self, project) -> None:
        self.project = project
        self.refresh()

    def refresh(self) -> None:  # pragma: no cover - overridden
        pass
