"""The main window: navigation on the left, one page per screen, the job runner, the status bar.

Start-up stays light: no job module, torch or transformers is imported here. Pages written by
other modules are imported defensively: a page that fails to import becomes a placeholder that
shows the error, so the rest of the app still works.

The window is put together from two mixins: its menus, Undo/Redo and recent projects
(``window_menus``), and its side of jobs: the status bar, queueing, failures and stopping jobs on
quit (``window_jobs``). This module keeps the pages, navigation, projects and window state.
"""

from __future__ import annotations

import importlib
import traceback
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.errors import CaiError
from cai_desktop.ui.app import import_store_lightly
from cai_desktop.ui.jobrunner import JobRunner
from cai_desktop.ui.pages import Page
from cai_desktop.ui.pages.datakinds import ALL, page_data
from cai_desktop.ui.widgets.errors import show_error
from cai_desktop.ui.widgets.eta import format_eta
from cai_desktop.ui.window_jobs import WindowJobsMixin
from cai_desktop.ui.window_menus import MAX_RECENT, WindowMenusMixin, settings

#: (key, navigation label, module, class)
PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("start", "Start", "cai_desktop.ui.pages.start", "StartPage"),
    ("constitution", "Constitution", "cai_desktop.ui.pages.constitution", "ConstitutionPage"),
    ("prompts", "Prompts", "cai_desktop.ui.pages.prompts", "PromptsPage"),
    ("inspector", "Inspector", "cai_desktop.ui.pages.inspector", "InspectorPage"),
    ("comparisons", "Comparisons", "cai_desktop.ui.pages.comparisons", "ComparisonsPage"),
    ("runs", "Runs", "cai_desktop.ui.pages.runs", "RunsPage"),
    ("models", "Models", "cai_desktop.ui.pages.models", "ModelsPage"),
    ("monitoring", "Monitoring", "cai_desktop.ui.pages.monitoring", "MonitoringPage"),
    ("agreement", "Agreement", "cai_desktop.ui.pages.agreement", "AgreementPage"),
)


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


class MainWindow(WindowMenusMixin, WindowJobsMixin, QMainWindow):
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
        # team review (issue 12): the Review menu, reviewer-only mode for review packs, drafts from notes
        from cai_desktop.ui.widgets.reviewer import TeamReview

        self.team = TeamReview(self)
        # the lead's side of review packs: Review → Export review pack / Import returned pack / Export decision log
        from cai_desktop.ui.widgets.review_packs import LeadPacks

        self.packs = LeadPacks(self)
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


__all__ = ["MAX_RECENT", "PAGES", "MainWindow", "PlaceholderPage", "format_eta", "import_store_lightly", "load_page",
           "settings"]
