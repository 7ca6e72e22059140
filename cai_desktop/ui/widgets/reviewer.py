"""The reviewer profile: who makes the decisions recorded from this window.

A name chosen once (asked on the first review; QSettings ``reviewer``, the key the review pages
always used) and remembered; switchable from the window's Review menu or the reviewer button on
the Inspector and Comparisons pages (several people on one machine, or one person acting as
adjudicator). Every decision the pages record carries it (``reviewer=``), so two reviewers never
overwrite each other. Recently used names are offered when switching.

``decision_reviewer(parent)`` is what a page calls before recording a decision: the saved name,
else the person is asked (their OS user name prefilled); cancelling records nothing. Without a
screen to ask on (the offscreen platform of tests and scripts) the OS user name is used unsaved.
"""

from __future__ import annotations

import getpass
from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QInputDialog, QLabel, QMenu, QToolButton, QWidget

KEY = "reviewer"
RECENT_KEY = "reviewers/recent"
MAX_RECENT = 8


def _settings() -> QSettings:
    return QSettings("CAI Desktop", "CAI Desktop")


def os_user() -> str:
    try:
        return getpass.getuser() or "reviewer"
    except Exception:  # noqa: BLE001 - no user name on some systems
        return "reviewer"


def saved_reviewer() -> str:
    """The chosen name, or "" while none has been chosen."""
    return str(_settings().value(KEY, "") or "").strip()


def current_reviewer() -> str:
    """The chosen name, else the OS user name (what a decision records when none was chosen)."""
    return saved_reviewer() or os_user()


def recent_reviewers() -> list[str]:
    value = _settings().value(RECENT_KEY, [])
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in (value or []) if str(v).strip()]


class _Notifier(QObject):
    changed = Signal(str)


_notifier: _Notifier | None = None


def notifier() -> _Notifier:
    """One object whose ``changed(name)`` every reviewer button and page listens to."""
    global _notifier
    if _notifier is None:
        _notifier = _Notifier()
    return _notifier


def set_reviewer(name: str) -> str:
    """Save ``name`` (trimmed) as the reviewer and tell every listener; returns it."""
    name = " ".join((name or "").split())
    if not name:
        return saved_reviewer()
    s = _settings()
    s.setValue(KEY, name)
    s.setValue(RECENT_KEY, [name, *[n for n in recent_reviewers() if n != name]][:MAX_RECENT])
    s.sync()
    notifier().changed.emit(name)
    return name


def _can_ask() -> bool:
    return QGuiApplication.platformName() not in ("offscreen", "minimal")


def ask_name(parent: QWidget | None, title: str = "Who is reviewing?") -> str | None:
    """Ask for a reviewer name (None: cancelled). Tests replace this function."""
    names = recent_reviewers()
    default = saved_reviewer() or os_user()
    if default not in names:
        names = [default, *names]
    name, ok = QInputDialog.getItem(
        parent, title,
        "Your name is recorded with every decision you make (several reviewers never overwrite each other).\n"
        "Reviewer:", names, 0, True)
    name = " ".join((name or "").split())
    return name if ok and name else None


def decision_reviewer(parent: QWidget | None = None) -> str | None:
    """The reviewer for a decision about to be recorded: the saved name, else asked once (None:
    the person cancelled, record nothing)."""
    saved = saved_reviewer()
    if saved:
        return saved
    if not _can_ask() and ask_name is _default_ask:
        return os_user()
    name = ask_name(parent)
    return set_reviewer(name) if name else None


_default_ask = ask_name


def switch_reviewer(parent: QWidget | None = None) -> str | None:
    """Ask for another reviewer name and switch to it (None: cancelled)."""
    name = ask_name(parent, "Switch reviewer")
    return set_reviewer(name) if name else None


class ReviewerButton(QToolButton):
    """"Reviewer: Ann ▾": shows who decides now; its menu switches to a recent name or a new one."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reviewerButton")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setToolTip("Who is reviewing: recorded with every decision. Choose another name to review as someone "
                        "else (e.g. as the adjudicator).")
        self.menu_ = QMenu(self)
        self.menu_.aboutToShow.connect(self._fill)
        self.setMenu(self.menu_)
        notifier().changed.connect(self._show)
        self._show()

    def _show(self, *_: object) -> None:
        name = saved_reviewer()
        self.setText(f"Reviewer: {name}" if name else "Reviewer: (not chosen)")

    def _fill(self) -> None:
        self.menu_.clear()
        current = saved_reviewer()
        for n in recent_reviewers():
            act = self.menu_.addAction(n)
            act.setCheckable(True)
            act.setChecked(n == current)
            act.triggered.connect(lambda *_, n=n: set_reviewer(n))
        if recent_reviewers():
            self.menu_.addSeparator()
        self.menu_.addAction("Another reviewer…").triggered.connect(lambda *_: switch_reviewer(self))


# -- the window's side of team review --------------------------------------------------------------
#: the pages a reviewer-only window shows (a colleague's review pack: no models, no training)
REVIEW_PAGES = ("inspector", "comparisons", "demonstrations")


class TeamReview(QObject):
    """The main window's team-review glue: the Review menu (switch reviewer, open a review pack,
    return it), reviewer-only mode, and draft principles from notes (``PrincipleDrafts``).

    Reviewer-only mode hides every page but the review pages (``REVIEW_PAGES``) from the
    navigation and the Go menu; it is on while a review pack is open and off again when a project
    is opened. Packs are read and written by the store's review-pack API (``project.reviews``)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.reviewer_only = False
        self.pack_path: str | None = None
        from cai_desktop.ui.pages.constitution.drafts import PrincipleDrafts

        self.drafts = PrincipleDrafts(window)
        self._build_menu()
        window.project_changed.connect(self._project_changed)

    # -- menu ---------------------------------------------------------------------------------------
    def _build_menu(self) -> None:
        w = self.window
        bar = w.menuBar()
        help_action = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
        menu = QMenu("&Review", w)
        if help_action is not None:
            bar.insertMenu(help_action, menu)
        else:
            bar.addMenu(menu)
        self.menu = menu
        self.act_switch = menu.addAction("Switch &reviewer…")
        self.act_switch.triggered.connect(lambda *_: switch_reviewer(w))
        menu.addSeparator()
        self.act_open_pack = menu.addAction("&Open review pack…")
        self.act_open_pack.triggered.connect(lambda *_: self.open_pack_dialog())
        self.act_return_pack = menu.addAction("Re&turn pack…")
        self.act_return_pack.triggered.connect(lambda *_: self.return_pack_dialog())
        self.act_return_pack.setEnabled(False)
        self.reviewer_label = QLabel("")
        self.reviewer_label.setObjectName("reviewerStatus")
        w.statusBar().addPermanentWidget(self.reviewer_label)
        notifier().changed.connect(self._show_reviewer)
        self._show_reviewer()

    def _show_reviewer(self, *_: object) -> None:
        name = saved_reviewer()
        self.reviewer_label.setText(f"Reviewer: {name}" if name else "")

    # -- reviewer-only mode -------------------------------------------------------------------------
    def set_reviewer_only(self, on: bool, title: str = "") -> None:
        from cai_desktop.ui.main_window import PAGES

        w = self.window
        self.reviewer_only = on
        for i, (key, *_rest) in enumerate(PAGES):
            item = w.nav.item(i)
            if item is not None:
                item.setHidden(on and key not in REVIEW_PAGES)
        go = next((a.menu() for a in w.menuBar().actions() if a.text().replace("&", "") == "Go"), None)
        if go is not None:
            titles = {t for k, t, *_ in PAGES if k not in REVIEW_PAGES}
            for act in go.actions():
                if act.text() in titles:
                    act.setVisible(not on)
        for name in ("act_new", "act_sample"):
            act = getattr(w, name, None)
            if act is not None:
                act.setEnabled(not on)
        self.act_return_pack.setEnabled(on)
        if on:
            w.show_page("comparisons" if self._has_comparisons() else "inspector")
            w.setWindowTitle(f"CAI Desktop — reviewing {title}" if title else "CAI Desktop — reviewing")
            w.statusBar().showMessage("Reviewer-only mode: review the items, then Review → Return pack…", 10000)

    def visible_pages(self) -> list[str]:
        from cai_desktop.ui.main_window import PAGES

        return [k for i, (k, *_r) in enumerate(PAGES) if not self.window.nav.item(i).isHidden()]

    def _has_comparisons(self) -> bool:
        p = self.window.project
        try:
            return p is not None and p.comparisons.count() > 0
        except Exception:  # noqa: BLE001 - only picks the first page
            return False

    def _project_changed(self, project: Any) -> None:
        """A review pack's workspace (opened from the Review menu, File → Open or the recent list) turns
        reviewer-only mode on; any other project turns it off."""
        info = pack_info(project) if project is not None else None
        if info is not None:
            self.set_reviewer_only(True, info.get("name") or info.get("project_name") or project.path.name)
            reviewers = info.get("reviewers") or []
            if reviewers and saved_reviewer() not in reviewers:
                self.window.statusBar().showMessage(
                    f"This pack is for {', '.join(reviewers)}: choose your name with Review → Switch reviewer.", 15000)
        elif self.reviewer_only:
            self.pack_path = None
            self.set_reviewer_only(False)

    # -- packs ----------------------------------------------------------------------------------------
    def open_pack(self, path: str) -> bool:
        """Open a colleague's review pack in reviewer-only mode (no model needed)."""
        from pathlib import Path

        from cai_desktop.core.errors import CaiError
        from cai_desktop.ui.widgets.errors import show_error

        w = self.window
        try:
            project = open_pack_project(path)
        except CaiError as e:
            w.last_error_box = show_error(w, "Cannot open the review pack", str(e))
            return False
        self.pack_path = str(path)
        w._set_project(project)  # project_changed turns reviewer-only mode on
        if not self.reviewer_only:
            self.set_reviewer_only(True, Path(path).name)
        return True

    def open_pack_dialog(self) -> bool:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self.window, "Open review pack", "",
                                              "Review packs (*.caipack *.caipack.gz *.json *.json.gz);;All files (*)")
        return bool(path) and self.open_pack(path)

    def return_pack(self, path: str) -> bool:
        """Write the answered pack (this reviewer's decisions, edits and notes) to ``path``."""
        from cai_desktop.core.errors import CaiError
        from cai_desktop.ui.widgets.errors import show_error

        w = self.window
        if w.project is None:
            return False
        try:
            n = write_answered_pack(w.project, path, self.pack_path)
        except CaiError as e:
            w.last_error_box = show_error(w, "Cannot return the pack", str(e))
            return False
        w.statusBar().showMessage(f"Pack written to {path}" + (f" ({n} decisions)" if isinstance(n, int) else "")
                                  + ": send it back to the project's owner.", 10000)
        return True

    def return_pack_dialog(self) -> bool:
        from pathlib import Path

        from PySide6.QtWidgets import QFileDialog

        base = Path(self.pack_path or "pack.caipack")
        default = str(base.with_name(base.name.split(".")[0] + f"-{current_reviewer()}.answered.caipack"))
        path, _ = QFileDialog.getSaveFileName(self.window, "Return pack", default,
                                              "Review packs (*.caipack);;All files (*)")
        return bool(path) and self.return_pack(path)


def open_pack_project(path: str) -> Any:
    """A review pack opened as a small workspace project beside it (``store.packs.open_pack``)."""
    from cai_desktop.ui.app import import_store_lightly

    import_store_lightly()
    from cai_desktop.store import packs

    return packs.open_pack(path)


def write_answered_pack(project: Any, path: str, pack_path: str | None = None) -> int:
    """The opened pack written again with this workspace's decisions (``store.packs.return_pack``)."""
    from cai_desktop.store import packs

    return packs.return_pack(project, path)


def pack_info(project: Any) -> dict[str, Any] | None:
    """The opened pack's header when ``project`` is a review pack's workspace, else None."""
    from cai_desktop.store import packs

    try:
        return packs.pack_info(project) if packs.is_pack(project) else None
    except Exception:  # noqa: BLE001 - an unreadable header: an ordinary project for the window
        return None
