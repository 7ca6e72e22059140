"""The main window's menus and actions, Undo/Redo for the page on screen, and recent projects.

``WindowMenusMixin`` is mixed into ``MainWindow`` (``ui/main_window.py``), so every action stays
an attribute of the window (``window.act_undo``, ``window.recent_menu``). Undo and Redo act on
the undo stack of the page on screen. Recent projects are kept in QSettings (``settings``), as is the
window's geometry, and nothing else: project data lives in the project file.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

MAX_RECENT = 10


def settings() -> QSettings:
    """Window state and recent projects only; project data lives in the project file."""
    return QSettings("CAI Desktop", "CAI Desktop")


class WindowMenusMixin:
    """File, Edit, Go and Help menus, Undo/Redo and recent projects, for ``MainWindow``."""

    # -- menus ---------------------------------------------------------------------------------
    def _build_menu(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        self.act_new = self._action(file_menu, "&New project…", self.new_project_dialog, QKeySequence.StandardKey.New)
        self.act_open = self._action(file_menu, "&Open project…", self.open_project_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.act_sample = self._action(file_menu, "Create &sample project…", self.sample_project_dialog)
        file_menu.addSeparator()
        self.act_close = self._action(file_menu, "&Close project", self.close_project, QKeySequence.StandardKey.Close)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        edit_menu = mb.addMenu("&Edit")
        self.act_undo = self._action(edit_menu, "&Undo", self.undo, QKeySequence.StandardKey.Undo)
        self.act_redo = self._action(edit_menu, "&Redo", self.redo)
        # the platform's Redo key plus Ctrl+Y and Ctrl+Shift+Z, which people bring from elsewhere
        self.act_redo.setShortcuts([*dict.fromkeys(
            [*QKeySequence.keyBindings(QKeySequence.StandardKey.Redo), QKeySequence("Ctrl+Y"),
             QKeySequence("Ctrl+Shift+Z")])])
        edit_menu.aboutToShow.connect(self._watch_undo_stack)

        # the window's page table (imported here: that module imports this one)
        from cai_desktop.ui.main_window import PAGES

        view_menu = mb.addMenu("&Go")
        for i, (key, title, _, _) in enumerate(PAGES):
            act = self._action(view_menu, title, lambda k=key: self.show_page(k))
            act.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))

        help_menu = mb.addMenu("&Help")
        self.act_guide = self._action(help_menu, "&Guide", self.show_guide, QKeySequence.StandardKey.HelpContents)
        if QKeySequence("F1") not in self.act_guide.shortcuts():
            self.act_guide.setShortcuts([*self.act_guide.shortcuts(), QKeySequence("F1")])
        self.act_guide.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        help_menu.addSeparator()
        self._action(help_menu, "&About CAI Desktop", self._about)

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(shortcut)
        act.triggered.connect(lambda *_: slot())
        menu.addAction(act)
        return act

    def show_guide(self):
        """Help → Guide (F1): one non-modal window, raised if it is already open."""
        from cai_desktop.ui.widgets.guide import GuideDialog

        if self.guide is None:
            self.guide = GuideDialog(self)
        self.guide.show()
        self.guide.raise_()
        self.guide.activateWindow()
        return self.guide

    def _about(self) -> None:
        from cai_desktop import __version__

        QMessageBox.about(
            self, "About CAI Desktop",
            f"<b>CAI Desktop {__version__}</b><p>A workbench for Constitutional AI "
            "(Bai et al. 2022): write a constitution, let a model critique and revise its answers, "
            "review them, and train on them (SL-CAI, then RL-CAI from AI feedback).</p>",
        )

    # -- undo and redo for the page on screen -------------------------------------------------
    def _undo_stack(self):
        page = self.current_page()
        stack = getattr(page, "undo_stack", None)
        return stack() if callable(stack) and not hasattr(stack, "undo") else stack

    def _watch_undo_stack(self) -> None:
        """Keep Undo/Redo enabled in step with the current page's undo stack."""
        old = getattr(self, "_watched_stack", None)
        stack = self._undo_stack()
        if old is stack:
            self._update_undo_actions()
            return
        if old is not None:
            for sig in (old.canUndoChanged, old.canRedoChanged):
                try:
                    sig.disconnect(self._update_undo_actions)
                except (RuntimeError, TypeError):
                    pass
        self._watched_stack = stack
        if stack is not None:
            stack.canUndoChanged.connect(self._update_undo_actions)
            stack.canRedoChanged.connect(self._update_undo_actions)
        self._update_undo_actions()

    def _update_undo_actions(self, *_: object) -> None:
        stack = self._undo_stack()
        self.act_undo.setEnabled(bool(stack is not None and stack.canUndo()))
        self.act_redo.setEnabled(bool(stack is not None and stack.canRedo()))

    def undo(self) -> None:
        stack = self._undo_stack()
        if stack is not None and stack.canUndo():
            stack.undo()
        self._update_undo_actions()

    def redo(self) -> None:
        stack = self._undo_stack()
        if stack is not None and stack.canRedo():
            stack.redo()
        self._update_undo_actions()

    # -- recent projects (QSettings) -----------------------------------------------------------
    def recent_projects(self) -> list[str]:
        value = settings().value("recent_projects", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def add_recent(self, path: str) -> None:
        path = str(Path(path).resolve())
        items = [p for p in self.recent_projects() if p != path]
        settings().setValue("recent_projects", [path, *items][:MAX_RECENT])
        self._notify_recent()

    def remove_recent(self, path: str) -> None:
        path = str(Path(path).resolve())
        settings().setValue("recent_projects", [p for p in self.recent_projects() if p != path])
        self._notify_recent()

    def _notify_recent(self) -> None:
        start = self.pages.get("start")
        if start is not None and hasattr(start, "set_recent_projects"):
            start.set_recent_projects(self.recent_projects())

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_projects()
        if not recent:
            act = self.recent_menu.addAction("(none yet)")
            act.setEnabled(False)
            return
        for p in recent:
            act = self.recent_menu.addAction(Path(p).name)
            act.setToolTip(p)
            act.setStatusTip(p)
            act.triggered.connect(lambda *_, p=p: self.open_project(p))
