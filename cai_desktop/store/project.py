"""The project file: one SQLite database (WAL, foreign keys) plus an artifacts folder beside it.

Open a connection per thread (a job opens its own ``Project`` in its worker thread). Writes are
short transactions; a long job commits each finished batch.

``Project`` itself only opens, checks, upgrades and closes the file; each part of the data has
its sub-manager, Anki style: ``project.constitutions``, ``project.prompts``, ``project.chains``,
``project.pairs``, ``project.comparisons``, ``project.runs``, ``project.adapters``,
``project.models``, ``project.stats`` and ``project.reviews``. Nothing outside ``store`` writes SQL.

Opening is cheap (the header, the app id and the schema version; never a scan of the whole
file), so a job may open the project as often as it likes. The full integrity check runs on
demand (``check_integrity``, ``check_file``, ``cai-desktop project check``) and always before a
schema upgrade, which first backs the file up beside itself (``name.caiproj.bak-v1-<date>``).

Two programs may write the same file: every write transaction starts with ``BEGIN IMMEDIATE``
(``project.atomic()``, and sqlite-utils' own ``db.atomic()``, which this connection overrides), so
the second writer waits for the first (up to ``BUSY_TIMEOUT`` seconds) instead of failing with
"database is locked". A file that cannot be written opens read-only (reading works; a write says
"p.caiproj is read-only: ..." in one line), and a file busy past the timeout says so in one line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from cai_desktop import __version__
from cai_desktop.core.errors import ProjectError
from cai_desktop.store.adapters import Adapters
from cai_desktop.store.base import as_project_error, friendly_error, now
from cai_desktop.store.chains import Chains
from cai_desktop.store.comparisons import Comparisons
from cai_desktop.store.constitutions import Constitutions
from cai_desktop.store.models import Models
from cai_desktop.store.monitoring import Monitoring
from cai_desktop.store.pairs import Pairs
from cai_desktop.store.prompts import Prompts
from cai_desktop.store.reviews import Reviews
from cai_desktop.store.roles import Roles
from cai_desktop.store.runs import Runs
from cai_desktop.store.schema import MIGRATION_SET, migrations
from cai_desktop.store.stats import Stats

APP_ID = "cai-desktop"
SUFFIX = ".caiproj"
SQLITE_MAGIC = b"SQLite format 3\x00"
#: seconds a write waits for another program's write to finish before "busy; try again"
BUSY_TIMEOUT = 10.0

log = logging.getLogger("cai_desktop.store")


def _check_header(path: Path) -> None:
    """Refuse a folder, an empty file or a file that is not SQLite (reads 16 bytes)."""
    if path.is_dir():
        raise ProjectError(f"{path} is a folder, not a project file.")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if path.stat().st_size == 0:
        raise ProjectError(f"{path.name} is empty: it is not a CAI Desktop project.")
    if head != SQLITE_MAGIC:
        raise ProjectError(f"{path.name} is not a CAI Desktop project (not an SQLite file).")


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)


def _database_error(path: Path, e: sqlite3.DatabaseError) -> ProjectError:
    mine = friendly_error(path, e)
    if mine is not None and "damaged" not in str(mine):
        return mine
    return ProjectError(f"{path.name} is damaged or not a project ({e}).")


def why_read_only(path: Path) -> str | None:
    """Why this file cannot be written (``None``: it can). SQLite in WAL mode also writes two files
    beside it (``-wal``, ``-shm``), so the folder must be writable too."""
    if not os.access(path, os.W_OK):
        return "the file is not writable (its permissions or a read-only disk)"
    if not os.access(path.parent, os.W_OK):
        return (f"its folder {path.parent} is not writable, and SQLite keeps its journal beside the file")
    return None


class _Database(Database):
    """sqlite-utils' ``Database`` whose write transactions begin with ``BEGIN IMMEDIATE``.

    A plain ``BEGIN`` reads first and asks for the write lock later; if another connection wrote in
    between, SQLite fails at once with "database is locked" (the busy timeout cannot help a
    transaction that already read an old snapshot). ``BEGIN IMMEDIATE`` takes the write lock
    first, so a second writer waits its turn. Nested blocks use savepoints, as before."""

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Database]:
        if self.conn.in_transaction:
            savepoint = f"cai_{secrets.token_hex(8)}"
            self.conn.execute(f"SAVEPOINT {savepoint}")
            try:
                yield self
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
                    self.conn.execute(f"RELEASE SAVEPOINT {savepoint}")
                raise
            else:
                self.conn.execute(f"RELEASE SAVEPOINT {savepoint}")
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                self.rollback()
                raise


def _applied(path: Path, con: sqlite3.Connection) -> set[str]:
    """The migrations this file has had, after checking it is ours and not from a newer version.

    A few small reads (the schema, the app id, the migrations table): never the whole file."""
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "project_meta" not in tables:
        raise ProjectError(f"{path.name} is an SQLite file but not a CAI Desktop project.")
    app = con.execute("SELECT value FROM project_meta WHERE key='app'").fetchone()
    if not app or app[0] != APP_ID:
        raise ProjectError(f"{path.name} is not a CAI Desktop project.")
    applied = {
        r[0]
        for r in con.execute("SELECT name FROM _sqlite_migrations WHERE migration_set=?", [MIGRATION_SET])
    }
    newer = sorted(applied - _known())
    if newer:
        raise ProjectError(
            f"{path.name} was saved by a newer CAI Desktop (schema {newer[-1]}); "
            f"this is version {__version__}. Update the app to open it."
        )
    return applied


def _known() -> set[str]:
    return {m.name for m in migrations._migrations}


def _pending(applied: set[str]) -> list[str]:
    return [m.name for m in migrations._migrations if m.name not in applied]


def _integrity_problems(con: sqlite3.Connection) -> list[str]:
    """What SQLite's full integrity check finds (reads every page); empty when the file is sound."""
    try:
        rows = [r[0] for r in con.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as e:
        return [str(e)]
    return [] if rows == ["ok"] else rows


def _damaged(path: Path, problems: list[str], what: str = "") -> ProjectError:
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return ProjectError(f"{path.name} is damaged: SQLite's integrity check failed ({problems[0]}{more})"
                        f"{what}. Open a backup copy instead.")


def backup_name(path: Path, schema_version: int) -> Path:
    """``name.caiproj.bak-v<schema>-<date>`` beside the file (a number added if one exists)."""
    stem = f"{path.name}.bak-v{schema_version}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    dest, n = path.with_name(stem), 1
    while dest.exists():
        n += 1
        dest = path.with_name(f"{stem}-{n}")
    return dest


def _backup(con: sqlite3.Connection, dest: Path) -> None:
    """A consistent copy through SQLite's backup API (never a file copy of a live WAL database)."""
    out = sqlite3.connect(str(dest))
    try:
        con.backup(out)
        out.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file
    finally:
        out.close()


def check_file(path: str | Path) -> dict[str, Any]:
    """Check a project file without changing it: that it is ours, and SQLite's full integrity
    check. Returns ``{"schema": n, "pending": [migration names an open would apply]}``; raises
    ``ProjectError`` (one line) when the file is damaged or not a project."""
    path = Path(path)
    if not path.exists():
        raise ProjectError(f"No project at {path}.")
    _check_header(path)
    try:
        con = _read_only(path)
        try:
            applied = _applied(path, con)
            problems = _integrity_problems(con)
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        raise _database_error(path, e) from None
    if problems:
        raise _damaged(path, problems)
    return {"schema": len(applied), "pending": _pending(applied)}


class Project:
    def __init__(self, path: Path, db: Database):
        self.path = path
        self.db = db
        #: why the file opened read-only (reads work, writes say so in one line); None if writable
        self.read_only: str | None = None
        #: ``{"from", "to", "backup"}`` when opening upgraded the file's schema, else None
        self.upgrade: dict[str, Any] | None = None
        self.constitutions = Constitutions(self)
        self.prompts = Prompts(self)
        self.chains = Chains(self)
        self.pairs = Pairs(self)
        self.comparisons = Comparisons(self)
        self.runs = Runs(self)
        self.adapters = Adapters(self)
        self.models = Models(self)
        self.roles = Roles(self)
        self.stats = Stats(self)
        self.reviews = Reviews(self)
        self.monitoring = Monitoring(self)

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, exist_ok: bool = False) -> Project:
        path = Path(path)
        if path.exists():
            if exist_ok:
                return cls.open(path)
            raise ProjectError(f"{path} already exists; open it or choose another name.")
        if not path.parent.exists():
            raise ProjectError(f"The folder {path.parent} does not exist.")
        if not os.access(path.parent, os.W_OK):
            raise ProjectError(f"The folder {path.parent} is read-only: choose another place for the project.")
        try:
            db = cls._connect(path)
            migrations.apply(db)
            with db.atomic():
                db["project_meta"].insert_all(
                    [
                        {"key": "app", "value": APP_ID},
                        {"key": "created_with", "value": __version__},
                        {"key": "created_at", "value": now()},
                    ],
                    replace=True,
                )
        except sqlite3.DatabaseError as e:
            mine = friendly_error(path, e)
            if mine is None:
                raise
            raise mine from None
        return cls(path, db)

    @classmethod
    def open(cls, path: str | Path) -> Project:
        """Open an existing project: a cheap check that it is ours (never a full scan); a file
        from an older version is checked in full, backed up and then upgraded."""
        path = Path(path)
        if not path.exists():
            raise ProjectError(f"No project at {path}; create one with `cai-desktop project init`.")
        _check_header(path)
        try:
            con = _read_only(path)
            try:
                applied = _applied(path, con)
                upgrade = cls._prepare_upgrade(path, con, applied) if _pending(applied) else None
            finally:
                con.close()
        except sqlite3.DatabaseError as e:
            raise _database_error(path, e) from None
        read_only = why_read_only(path)
        if read_only and _pending(applied):
            raise ProjectError(f"{path.name} is read-only: {read_only}; it was made by an older CAI Desktop and "
                               "must be upgraded once, which needs to write it. Make it writable and open it again.")
        try:
            db = cls._connect(path, read_only=bool(read_only))
        except sqlite3.DatabaseError as e:
            raise _database_error(path, e) from None
        try:
            if not read_only:
                migrations.apply(db)
        except sqlite3.DatabaseError as e:
            # another program opening the same old file at the same moment may have upgraded it first
            done = not isinstance(e, sqlite3.IntegrityError) and not cls._still_pending(db)
            if not done:
                db.conn.close()
                mine = friendly_error(path, e)
                raise (mine or ProjectError(f"Could not update {path.name}: {e}")) from None
        project = cls(path, db)
        project.read_only = read_only
        if upgrade:
            project.upgrade = upgrade
            log.info("upgraded %s from schema v%s to v%s (the old file is kept as %s)",
                     path.name, upgrade["from"], upgrade["to"], upgrade["backup"].name)
        return project

    @staticmethod
    def _prepare_upgrade(path: Path, con: sqlite3.Connection, applied: set[str]) -> dict[str, Any]:
        """Before any schema upgrade: the full integrity check (a damaged file is refused and left
        as it is), then a consistent backup beside the file."""
        problems = _integrity_problems(con)
        if problems:
            raise _damaged(path, problems, "; it was not upgraded")
        old, new = len(applied), len(applied) + len(_pending(applied))
        dest = backup_name(path, old)
        _backup(con, dest)
        log.info("backed up %s to %s before upgrading its schema (v%s → v%s)", path.name, dest.name, old, new)
        return {"from": old, "to": new, "backup": dest}

    @staticmethod
    def _still_pending(db: Database) -> bool:
        try:
            return bool(migrations.pending(db))
        except sqlite3.DatabaseError:
            return True

    @staticmethod
    def _connect(path: Path, read_only: bool = False) -> Database:
        if read_only:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)
        else:
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT, isolation_level=None)
        db = _Database(conn)
        if not read_only:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        return db

    def reopen(self) -> Project:
        """A new connection to the same file (for another thread)."""
        return Project.open(self.path)

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def check_integrity(self) -> None:
        """SQLite's full integrity check of this file (reads every page: slow on a big project,
        so it runs on demand, never on open). Raises ``ProjectError`` (one line) if damaged."""
        problems = _integrity_problems(self.db.conn)
        if problems:
            raise _damaged(self.path, problems)

    def backup(self, dest: str | Path) -> Path:
        """A consistent copy of the file at ``dest`` (SQLite's backup API: safe while open, WAL
        included); the artifacts folder is not copied."""
        dest = Path(dest)
        if dest.exists():
            raise ProjectError(f"{dest} already exists; choose another name for the copy.")
        _backup(self.db.conn, dest)
        return dest

    @property
    def artifacts_dir(self) -> Path:
        d = self.path.with_name(self.path.stem + "_artifacts")
        d.mkdir(exist_ok=True)
        return d

    @contextlib.contextmanager
    def errors_as_project_errors(self) -> Iterator[None]:
        """Inside: a read-only, busy, full or damaged file raises one ``ProjectError`` line."""
        try:
            yield
        except sqlite3.DatabaseError as e:
            mine = as_project_error(self, e)
            if mine is None:
                raise
            raise mine from None

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Database]:
        """One write transaction (``BEGIN IMMEDIATE``; nested: a savepoint)."""
        with self.errors_as_project_errors(), self.db.atomic() as db:
            yield db

    def meta(self, key: str, default: str | None = None) -> str | None:
        with self.errors_as_project_errors():
            row = self.db.execute("SELECT value FROM project_meta WHERE key=?", [key]).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.errors_as_project_errors():
            self.db["project_meta"].insert({"key": key, "value": value}, replace=True)

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        """Rows as dicts: for the store's sub-managers (and tests); ui/jobs/cli use the managers."""
        with self.errors_as_project_errors():
            return list(self.db.query(sql, params))

