"""What every store module shares: timestamps, JSON columns, the sub-manager base class, and the
one place where SQLite's own errors become one line for the user.

A sub-manager (``project.chains``, ``project.runs``, ...) is a small object holding the project;
it is where that part of the schema's SQL lives (Anki's ``col.decks``, ``col.models`` style).
Every public method of a sub-manager turns a read-only, busy, full or damaged file into a
``ProjectError`` ("p.caiproj is read-only: ...", "p.caiproj is busy in another program; try
again."), never a raw ``sqlite3`` traceback.
"""

from __future__ import annotations

import functools
import inspect
import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from cai_desktop.core.errors import ProjectError

if TYPE_CHECKING:
    from sqlite_utils import Database

    from cai_desktop.store.project import Project

F = TypeVar("F", bound=Callable[..., Any])


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    return json.loads(text)


def _code(e: sqlite3.Error) -> str:
    name = getattr(e, "sqlite_errorname", "") or ""
    if name:
        return name
    text = str(e).lower()  # Python < 3.11 has no error names: the message says the same
    for word, code in (("readonly", "SQLITE_READONLY"), ("read-only", "SQLITE_READONLY"),
                       ("locked", "SQLITE_BUSY"), ("busy", "SQLITE_BUSY"), ("disk is full", "SQLITE_FULL"),
                       ("disk i/o", "SQLITE_IOERR"), ("unable to open", "SQLITE_CANTOPEN"),
                       ("malformed", "SQLITE_CORRUPT"), ("not a database", "SQLITE_NOTADB")):
        if word in text:
            return code
    return ""


def friendly_error(path: Path | str, e: sqlite3.Error, read_only: str | None = None) -> ProjectError | None:
    """One line for what SQLite said about the file (``None``: a programming error, not the file's).

    ``read_only`` is why the store opened the file read-only, if it did."""
    name = Path(path).name
    code = _code(e)
    if code.startswith("SQLITE_READONLY"):
        why = read_only or "the file, its folder or the disk cannot be written"
        return ProjectError(f"{name} is read-only: {why}. Nothing was changed; make it writable "
                            "(or save a copy somewhere you can write) and try again.")
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return ProjectError(f"{name} is busy in another program; try again.")
    if code.startswith("SQLITE_FULL"):
        return ProjectError(f"{name} could not be written: the disk is full. Free some space and try again.")
    if code.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")):
        return ProjectError(f"{name} could not be read or written (a disk or network error: {e}).")
    if code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or type(e) is sqlite3.DatabaseError:
        return ProjectError(f"{name} is damaged ({e}). Open a backup copy instead.")
    return None


def as_project_error(project: Project, e: sqlite3.Error) -> ProjectError | None:
    """``friendly_error`` for an open project; ``None`` for a programming error (a wrong column,
    a broken constraint), which stays as it is."""
    if isinstance(e, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)):
        return None
    return friendly_error(project.path, e, getattr(project, "read_only", None))


def translate_errors(fn: F) -> F:
    """A sub-manager method with SQLite's file errors (read-only, busy, full, damaged) raised as
    one-line ``ProjectError``s."""

    @functools.wraps(fn)
    def wrapper(self: Manager, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except sqlite3.DatabaseError as e:
            mine = as_project_error(self.project, e)
            if mine is None:
                raise
            raise mine from None

    wrapper.__wrapped_errors__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


class Manager:
    """One part of the project file, reached as an attribute of the open ``Project``."""

    def __init__(self, project: Project):
        self.project = project

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        for name, member in list(vars(cls).items()):
            if not name.startswith("_") and inspect.isfunction(member) and not hasattr(member, "__wrapped_errors__"):
                setattr(cls, name, translate_errors(member))

    @property
    def db(self) -> Database:
        return self.project.db

    @translate_errors
    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return self.project.query(sql, params)

    @translate_errors
    def scalar(self, sql: str, params: Any = ()) -> Any:
        """The first column of the first row (``None`` when no row)."""
        row = self.db.execute(sql, params).fetchone()
        return row[0] if row else None
