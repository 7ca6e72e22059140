"""Running a page, or one widget of the constitution editor, alone in a window (development)."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMainWindow, QWidget

from cai_desktop.ui.commands import redo_shortcuts


def _app(argv: list[str]) -> QApplication:
    from cai_desktop.ui.app import apply_style

    app = QApplication.instance() or QApplication(argv[:1])
    apply_style(app)
    return app  # type: ignore[return-value]


def _open_project(path: Path):
    from cai_desktop.ui.app import import_store_lightly

    import_store_lightly()
    from cai_desktop.store.project import Project

    project = Project.open(path) if path.exists() else Project.create(path)
    if not project.constitutions.list() and not project.prompts.sets():
        from cai_desktop.jobs.sample import add_starter_content

        add_starter_content(project)
    return project


def _window(widget: QWidget, title: str, stack) -> QMainWindow:
    window = QMainWindow()
    window.setWindowTitle(f"CAI Desktop — {title}")
    window.setCentralWidget(widget)
    window.resize(1200, 800)
    if stack is not None:
        undo = QAction("Undo", window, shortcut=QKeySequence.StandardKey.Undo, triggered=stack.undo)
        redo = QAction("Redo", window, triggered=stack.redo)
        redo.setShortcuts(redo_shortcuts())
        window.addAction(undo)
        window.addAction(redo)
    return window


def run_standalone(page_cls: type, argv: list[str] | None = None) -> int:
    """Open one page on a project (``argv[1]``, created with starter content if new), alone in a
    window."""
    argv = sys.argv if argv is None else argv
    app = _app(argv)
    page = page_cls()
    window = _window(page, page.title, getattr(page, "undo_stack", None))
    page.status_message.connect(lambda m: window.statusBar().showMessage(m, 8000))
    if len(argv) > 1:
        page.set_project(_open_project(Path(argv[1])))
    window.show()
    return app.exec()


def show_alone(widget_cls: type, setup: Callable | None = None, argv: list[str] | None = None) -> int:
    """Show one widget of the editor on a document holding a constitution: the first of the
    project in ``argv[1]``, else the first starter constitution. ``setup(widget)`` or
    ``setup(widget, project)`` runs before the window shows."""
    from cai_desktop.core import formats
    from cai_desktop.resources import starter_constitutions
    from cai_desktop.ui.commands import ConstitutionDocument

    argv = sys.argv if argv is None else argv
    app = _app(argv)
    project = _open_project(Path(argv[1])) if len(argv) > 1 else None
    if project is not None and project.constitutions.list():
        c = project.constitutions.get(project.constitutions.list()[0]["name"])
    else:
        c = formats.load_file(starter_constitutions()[0])
    doc = ConstitutionDocument(c)
    widget = widget_cls(doc)
    doc.reset(c)
    if setup is not None:
        n = len(inspect.signature(setup).parameters)
        setup(*(widget, project)[:n])
    window = _window(widget, getattr(widget, "title", widget_cls.__name__), doc.undo_stack)
    window.show()
    return app.exec()
