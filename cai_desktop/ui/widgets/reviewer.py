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

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QInputDialog, QMenu, QToolButton, QWidget

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
