"""What every store module shares: timestamps, JSON columns, and the sub-manager base class.

A sub-manager (``project.chains``, ``project.runs``, ...) is a small object holding the project;
it is where that part of the schema's SQL lives (Anki's ``col.decks``, ``col.models`` style).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite_utils import Database

    from cai_desktop.store.project import Project


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    return json.loads(text)


class Manager:
    """One part of the project file, reached as an attribute of the open ``Project``."""

    def __init__(self, project: Project):
        self.project = project

    @property
    def db(self) -> Database:
        return self.project.db

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return self.project.query(sql, params)

    def scalar(self, sql: str, params: Any = ()) -> Any:
        """The first column of the first row (``None`` when no row)."""
        row = self.db.execute(sql, params).fetchone()
        return row[0] if row else None
