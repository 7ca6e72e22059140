"""The main window: navigation on the left, one page per screen, the job runner, the status bar.

Start-up stays light: no job module, torch or transformers is imported here. Pages written by
other modules are imported defensively: a page that fails to import becomes a placeholder that
shows the error, so the rest of the app still works.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.errors import CaiError
from cai_desktop.ui.app import import_store_lightly
from cai_desktop.ui.jobrunner import JobRunner
from cai_desktop.ui.pages import Page
from cai_desktop.ui.pages.datakinds import ALL, job_changes, page_data
from cai_desktop.ui.widgets.errors import show_error
from cai_desktop.ui.widgets.eta import format_eta

MAX_RECENT = 10

#: (key, navigation label, module, class)
PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("start", "Start", "cai_desktop.ui.pages.start", "StartPage"),
    ("constitution", "Constitution", "cai_desktop.ui.pages.constitution", "ConstitutionPage"),
    ("prompts", "Prompts", "cai_desktop.ui.pages.prompts", "PromptsPage"),
    ("inspector", "Inspector", "cai_desktop.ui.pages.inspector", "InspectorPage"),
    ("comparisons", "Comparisons", "cai_desktop.ui.pages.comparisons", "ComparisonsPage"),
    ("runs", "Runs", "cai_desktop.ui.pages.runs", "RunsPage"),
    ("models", "Models", "cai_desktop.ui.pages.models", "ModelsPage"),
)


def settings() -> QSettings:
    """Window state and recent projects only; project data lives in the project file."""
    return QSettings("CAI Desktop", "CAI Desktop")


class PlaceholderPage(Page):
    """Stands in for a page whose module is missing or broken; says why."""

    def __init__(self, title: str, error: str, details: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.error = error
        layout = QVBoxLayout(self)
        head = QLabel(f"<h2>{title}</h2><p>This screen is not available in this build: {error}</p>")
        head.setWordWrap(True)
        layout.addWidget(head)
        if details:
            box = QPlainTextEdit(details)
            box.setReadOnly(True)
            layout.addWidget(box, 1)
        else:
            layout.addStretch(1)


def load_page(module: str, cls: str, title: str) -> Page:
    try:
        mod = importlib.import_module(module)
        page = getattr(mod, cls)()
    except ModuleNotFoundError as e:
        if e.name and module.startswith(e.name):
            return PlaceholderPage(title, "the screen has not been written yet.")
        return PlaceholderPage(title, f"{type(e).__name__}: {e}", traceback.format_exc())
    except Exception as e:  # noqa: BLE001 - keep the app usable
        return PlaceholderPage(title, f"{type(e).__name__}: {e}", traceback.format_exc())
    if not getattr(page, "title", None) or page.title == "Page":
        page.title = title
    return page


class MainWindow(QMainWindow):
    project_changed = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("CAI Desktop")
        self.resize(1280, 820)
        self.project = None
        self.runner = JobRunner(self)
        self.last_error_box: QMessageBox | None = None
        self._device_text = "CPU"
        self._force_close = False
        self.guide = None
        #: keys of pages whose data changed while they were hidden: refreshed when next shown
        self.stale_pages: set[str] = set()

        self.pages: dict[str, Page] = {}
        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setFixedWidth(170)
        self.stack = QStackedWidget()
        for key, title, module, cls in PAGES:
            page = load_page(module, cls, title)
            page.setObjectName(f"page_{key}")
            page.data_kinds = page_data(key)
            self.pages[key] = page
            self.stack.addWidget(page)
            item = QListWidgetItem(title)
            item.setData(Qt.ItemDataRole.UserRole, key)
            self.nav.addItem(item)
            self._connect_page(page)
        self.nav.currentRowChanged.connect(self._on_nav)

        central = QWidget()
        lay = QHBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.nav)
        lay.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self._build_menu()
        self._build_status_bar()
        self.runner.job_started.connect(self._on_job_started)
        self.runner.job_progress.connect(self._on_job_progress)
        self.runner.job_failed.connect(self._on_job_failed)
        self.runner.job_ended.connect(self._on_job_ended)
        self.runner.queue_changed.connect(self._update_job_status)

        self._restore_state()
        self._update_enabled()
        self._notify_recent()
        self.show_page("start")

    def _connect_page(self, page: Page) -> None:
        """Pages talk to the window through signals only (they never import it)."""
        page.job_requested.connect(self.submit_job)
        page.status_message.connect(self._status)
        for name, slot in (
            ("navigate_requested", self.show_page),
            ("data_changed", lambda kinds, p=page: self.refresh_pages(kinds, source=p)),
            ("new_project_requested", self.new_project_dialog),
            ("guide_requested", self.show_guide),
            ("open_project_requested", lambda path: self.open_project(path) if path else self.open_project_dialog()),
        ):
            signal = getattr(page, name, None)
            if signal is not None:
                signal.connect(slot)
        if hasattr(page, "set_runner"):
            page.set_runner(self.runner)

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

    # -- status bar ----------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.job_label = QLabel("")
        self.job_label.setObjectName("jobLabel")
        self.job_bar = QProgressBar()
        self.job_bar.setMaximumWidth(160)
        self.job_bar.setMaximumHeight(14)
        self.job_bar.setTextVisible(False)
        self.job_bar.hide()
        self.device_label = QLabel("Device: CPU (not loaded yet)")
        self.device_label.setObjectName("deviceLabel")
        self.device_label.setToolTip("The compute device; the model is loaded when a job first needs it.")
        sb.addPermanentWidget(self.job_label)
        sb.addPermanentWidget(self.job_bar)
        sb.addPermanentWidget(self.device_label)

    def _status(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def update_device(self) -> None:
        """Refresh the device label; reads torch only once a job has imported it completely
        (asking while a job is still importing it would wait for that import here)."""
        torch = sys.modules.get("torch")
        if torch is None or getattr(getattr(torch, "__spec__", None), "_initializing", False):
            return
        try:
            from cai_desktop.jobs.tryit import device_summary

            text = device_summary()
        except Exception:  # noqa: BLE001
            text = ""
        if text:
            self._device_text = text
            self._device_known = True
        self._show_device()

    def _show_device(self) -> None:
        """"Device: X", "(in use by <job>)" while a job runs, "(not loaded yet)" before any did."""
        job = self.runner.current_job()
        if job is not None:
            self.device_label.setText(f"Device: {self._device_text} (in use by {job.name})")
        elif getattr(self, "_device_known", False):
            self.device_label.setText(f"Device: {self._device_text}")
        else:
            self.device_label.setText(f"Device: {self._device_text} (not loaded yet)")

    def _update_job_status(self) -> None:
        job = self.runner.current_job()
        queued = len(self.runner.queued_jobs())
        self._show_device()
        if job is None:
            self.job_label.setText(f"{queued} queued" if queued else "")
            self.job_bar.hide()
            return
        extra = f" (+{queued} queued)" if queued else ""
        if job.cancel_requested:
            self.job_label.setText(f"Stopping {job.name}: waiting for the current step to finish…{extra}")
        else:
            self.job_label.setText(f"Running: {job.name}{extra}")
        self.job_bar.show()

    def _on_job_started(self, job_id: int) -> None:
        self.job_bar.setRange(0, 0)
        self._update_job_status()

    def _on_job_progress(self, job_id: int, done: int, total: int, message: str, eta: float) -> None:
        if not getattr(self, "_device_known", False):
            self.update_device()  # the job has loaded torch by now: say which device it uses
        if total > 0:
            self.job_bar.setRange(0, total)
            self.job_bar.setValue(min(done, total))
        job = self.runner.jobs.get(job_id)
        if job is not None:
            eta_txt = f", {format_eta(eta)} left" if eta >= 0 and done < total else ""
            self.job_bar.setToolTip(f"{job.name}: {done}/{total}{eta_txt} {message}")

    def _on_job_failed(self, job_id: int, message: str, details: str) -> None:
        job = self.runner.jobs.get(job_id)
        name = job.name if job else "job"
        self.last_error_box = show_error(self, f"{name} failed", message, details)

    def _on_job_ended(self, job_id: int) -> None:
        self._update_job_status()
        self.update_device()
        job = self.runner.jobs.get(job_id)
        if job is not None:
            self._status(f"{job.name}: {job.status}")
        self.refresh_pages(job_changes(job.kind) if job is not None else ALL)

    # -- jobs ----------------------------------------------------------------------------------
    def submit_job(self, kind: str, params: Any, name: str = "") -> int | None:
        """Queue a declared job of ``kind`` with ``params``."""
        from functools import partial

        from cai_desktop.core.errors import CaiError
        from cai_desktop.jobs.base import run_job
        from cai_desktop.jobs.registry import job

        try:
            fn = partial(run_job, job(kind))
        except CaiError as e:
            self.last_error_box = show_error(self, "Cannot start the job", str(e))
            return None
        job_id = self.runner.submit(kind, fn, params, name or kind)
        self._status(f"Queued: {name or kind}")
        return job_id

    def refresh_pages(self, kinds=None, source: Page | None = None) -> None:
        """Refresh the pages that show any of the data ``kinds`` (None: every page), except
        ``source`` (the page that made the change): the page on screen now, the hidden ones when
        they are next shown."""
        kinds = ALL if kinds is None else frozenset(kinds)
        current = self.current_page()
        for key, page in self.pages.items():
            if page is source or not (page.data_kinds & kinds):
                continue
            if page is current:
                self._refresh_page(key)
            else:
                self.stale_pages.add(key)

    def _refresh_page(self, key: str) -> None:
        self.stale_pages.discard(key)
        page = self.pages[key]
        try:
            page.refresh()
        except Exception as e:  # noqa: BLE001 - one broken page must not hide the others
            self._status(f"{page.title}: could not refresh ({e})")

    # -- pages ---------------------------------------------------------------------------------
    def show_page(self, key: str) -> None:
        keys = [k for k, *_ in PAGES]
        if key in keys:
            self.nav.setCurrentRow(keys.index(key))

    def current_page(self) -> Page:
        return self.stack.currentWidget()  # type: ignore[return-value]

    def _on_nav(self, row: int) -> None:
        if 0 <= row < self.stack.count():
            key = PAGES[row][0]
            if key in self.stale_pages:
                self._refresh_page(key)
            self.stack.setCurrentIndex(row)
            self._watch_undo_stack()

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

    def _update_enabled(self) -> None:
        has = self.project is not None
        self.act_close.setEnabled(has)
        for i, (key, *_rest) in enumerate(PAGES):
            item = self.nav.item(i)
            if key not in ("start", "models"):
                flags = item.flags()
                item.setFlags(flags | Qt.ItemFlag.ItemIsEnabled if has else flags & ~Qt.ItemFlag.ItemIsEnabled)

    # -- projects ------------------------------------------------------------------------------
    def open_project(self, path: str | Path) -> bool:
        """Open ``path`` and hand it to every page; False (with a message) if it cannot be."""
        import_store_lightly()
        from cai_desktop.store.project import Project

        try:
            project = Project.open(path)
        except CaiError as e:
            self.last_error_box = show_error(self, "Cannot open project", str(e))
            if not Path(path).exists():
                self.remove_recent(str(path))
            return False
        self._set_project(project)
        return True

    def create_project(self, path: str | Path, sample: bool = False) -> bool:
        """Create a new project file (with the starter content if ``sample``) and open it."""
        import_store_lightly()
        from cai_desktop.store.project import SUFFIX, Project

        path = Path(path)
        if path.suffix != SUFFIX:
            path = path.with_name(path.name + SUFFIX)
        try:
            project = Project.create(path)
            if sample:
                from cai_desktop.jobs.sample import add_starter_content

                add_starter_content(project)
        except CaiError as e:
            self.last_error_box = show_error(self, "Cannot create project", str(e))
            return False
        except Exception as e:  # noqa: BLE001
            self.last_error_box = show_error(self, "Cannot create project", f"{type(e).__name__}: {e}",
                                             traceback.format_exc())
            return False
        self._set_project(project)
        if sample:
            self._status("Sample project created: starter constitutions and prompt sets are ready.")
        return True

    def _set_project(self, project) -> None:
        if self.project is not None:
            old = self.project
            self.project = None
            try:
                old.close()
            except Exception:  # noqa: BLE001
                pass
        self.project = project
        if project is not None:
            self.setWindowTitle(f"CAI Desktop — {project.path.name}")
            self.add_recent(str(project.path))
        else:
            self.setWindowTitle("CAI Desktop")
        self.stale_pages.clear()
        for page in self.pages.values():
            try:
                page.set_project(project)
            except Exception as e:  # noqa: BLE001
                self._status(f"{page.title}: {e}")
        self._update_enabled()
        self.project_changed.emit(project)

    def close_project(self) -> None:
        if self.project is None:
            return
        if self.runner.is_busy() and not self._confirm_cancel_jobs("Close the project"):
            return
        self.runner.shutdown()
        self._set_project(None)
        self.show_page("start")

    def project_path(self) -> str:
        return str(self.project.path) if self.project is not None else ""

    def _dialog_dir(self) -> str:
        recent = self.recent_projects()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def new_project_dialog(self, sample: bool = False) -> bool:
        title = "Create sample project" if sample else "New project"
        default = str(Path(self._dialog_dir()) / ("sample.caiproj" if sample else "untitled.caiproj"))
        path, _ = QFileDialog.getSaveFileName(self, title, default, "CAI Desktop projects (*.caiproj)")
        if not path:
            return False
        if Path(path).exists():
            self.last_error_box = show_error(
                self, title, f"{Path(path).name} already exists; open it, or choose another name.")
            return False
        return self.create_project(path, sample=sample)

    def sample_project_dialog(self) -> bool:
        return self.new_project_dialog(sample=True)

    def open_project_dialog(self) -> bool:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open project", self._dialog_dir(), "CAI Desktop projects (*.caiproj);;All files (*)")
        return bool(path) and self.open_project(path)

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

    # -- window state and closing --------------------------------------------------------------
    def _restore_state(self) -> None:
        s = settings()
        geom = s.value("window/geometry")
        if isinstance(geom, QByteArray | bytes) and geom:
            self.restoreGeometry(geom)
        state = s.value("window/state")
        if isinstance(state, QByteArray | bytes) and state:
            self.restoreState(state)

    def _save_state(self) -> None:
        s = settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.sync()

    def _stop_jobs_for_quit(self) -> None:
        """Cancel every job and wait, saying for what, while the window keeps painting.

        The job stops at its next check (between decoding or training steps), usually within a
        few seconds; the thread is never terminated. After ``STOP_WAIT_S`` the user may wait on
        or quit anyway: finished work is already committed to the project.
        """
        from PySide6.QtWidgets import QProgressDialog

        job = self.runner.current_job()
        name = job.name if job is not None else "the job"
        text = f"Stopping {name}: waiting for the current step to finish…"
        self.runner.cancel_all()
        self.job_label.setText(text)
        box = QProgressDialog(text, "", 0, 0, self)
        box.setWindowTitle("Quitting")
        box.setCancelButton(None)
        box.setMinimumDuration(0)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.show()
        self.stop_box = box
        self._stopping = True
        try:
            while not self.runner.wait_idle(int(self.STOP_WAIT_S * 1000), background=True):
                if not self._ask_keep_waiting(name):
                    self._quit_anyway()
                    return
        finally:
            self._stopping = False
            self.stop_box = None
            box.close()
            box.deleteLater()

    def _ask_keep_waiting(self, name: str) -> bool:
        """True to keep waiting for the job, False to quit anyway."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("The job is still stopping")
        box.setText(f"{name} has not stopped after {self.STOP_WAIT_S:.0f} s: it is still finishing its "
                    "current step.")
        box.setInformativeText("Finished work is already saved in the project, and the run can be resumed "
                               "later. Quitting now loses only the step in progress.")
        wait = box.addButton("Keep waiting", QMessageBox.ButtonRole.RejectRole)
        box.addButton("Quit anyway", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(wait)
        box.exec()
        return box.clickedButton() is wait

    def _quit_anyway(self) -> None:
        """Leave at once while the job thread still runs (it cannot be stopped from outside, and
        Qt aborts when a running QThread is destroyed). Every finished batch is committed and
        SQLite rolls back the one in progress, so the project stays whole."""
        import os

        self._save_state()
        if self.project is not None:
            try:
                self.project.close()
            except Exception:  # noqa: BLE001 - leaving anyway
                pass
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def _confirm_cancel_jobs(self, what: str) -> bool:
        job = self.runner.current_job()
        name = job.name if job else "a job"
        answer = QMessageBox.question(
            self, "A job is running",
            f"{what} while {name} is running?\n\nThe job will be cancelled; its finished work is "
            "saved and the run can be resumed later.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    #: seconds to wait for a cancelled job before offering to quit anyway
    STOP_WAIT_S = 10.0

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if getattr(self, "_stopping", False):  # closed again while we wait for the job
            event.ignore()
            return
        if self.runner.is_busy() and not self._force_close:
            if not self._confirm_cancel_jobs("Quit"):
                event.ignore()
                return
            self._stop_jobs_for_quit()
        self.runner.shutdown(5000)
        self._save_state()
        if self.project is not None:
            self.project.close()
            self.project = None
        super().closeEvent(event)


__all__ = ["PAGES", "MainWindow", "PlaceholderPage", "format_eta", "import_store_lightly", "load_page"]
