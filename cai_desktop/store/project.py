"""The project file: one SQLite database (WAL, foreign keys) plus an artifacts folder beside it.

Open a connection per thread (a job opens its own ``Project`` in its worker thread). Writes are
short transactions; a long job commits each finished batch.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from cai_desktop import __version__
from cai_desktop.core.constitution import Constitution, FewShotExample, Principle, check
from cai_desktop.core.errors import ProjectError, ValidationError
from cai_desktop.store.schema import MIGRATION_SET, migrations

APP_ID = "cai-desktop"
SUFFIX = ".caiproj"
SQLITE_MAGIC = b"SQLite format 3\x00"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    return json.loads(text)


def _check_existing(path: Path) -> None:
    """Refuse, without writing anything, a file that is not a project we can open."""
    if path.is_dir():
        raise ProjectError(f"{path} is a folder, not a project file.")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if path.stat().st_size == 0:
        raise ProjectError(f"{path.name} is empty: it is not a CAI Desktop project.")
    if head != SQLITE_MAGIC:
        raise ProjectError(f"{path.name} is not a CAI Desktop project (not an SQLite file).")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            if con.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise ProjectError(f"{path.name} is damaged (SQLite integrity check failed).")
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "project_meta" not in tables:
                raise ProjectError(
                    f"{path.name} is an SQLite file but not a CAI Desktop project."
                )
            app = con.execute("SELECT value FROM project_meta WHERE key='app'").fetchone()
            if not app or app[0] != APP_ID:
                raise ProjectError(f"{path.name} is not a CAI Desktop project.")
            applied = {
                r[0]
                for r in con.execute(
                    "SELECT name FROM _sqlite_migrations WHERE migration_set=?", [MIGRATION_SET]
                )
            }
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        if "locked" in str(e):
            raise ProjectError(f"{path.name} is locked by another program; close it and retry.") from None
        raise ProjectError(f"{path.name} is damaged or not a project ({e}).") from None
    known = {m.name for m in migrations._migrations}
    newer = sorted(applied - known)
    if newer:
        raise ProjectError(
            f"{path.name} was saved by a newer CAI Desktop (schema {newer[-1]}); "
            f"this is version {__version__}. Update the app to open it."
        )


class Project:
    def __init__(self, path: Path, db: Database):
        self.path = path
        self.db = db

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
        return cls(path, db)

    @classmethod
    def open(cls, path: str | Path) -> Project:
        path = Path(path)
        if not path.exists():
            raise ProjectError(f"No project at {path}; create one with `cai-desktop project init`.")
        _check_existing(path)
        db = cls._connect(path)
        try:
            migrations.apply(db)
        except sqlite3.OperationalError as e:
            db.conn.close()
            if "locked" in str(e):
                raise ProjectError(f"{path.name} is busy in another program; try again.") from None
            raise ProjectError(f"Could not update {path.name}: {e}") from None
        return cls(path, db)

    @staticmethod
    def _connect(path: Path) -> Database:
        conn = sqlite3.connect(str(path), timeout=10, isolation_level=None)
        db = Database(conn)
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

    @property
    def artifacts_dir(self) -> Path:
        d = self.path.with_name(self.path.stem + "_artifacts")
        d.mkdir(exist_ok=True)
        return d

    def atomic(self):
        return self.db.atomic()

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM project_meta WHERE key=?", [key]).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.db["project_meta"].insert({"key": key, "value": value}, replace=True)

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    # -- constitutions -------------------------------------------------------------------------
    def list_constitutions(self) -> list[dict[str, Any]]:
        return self.query(
            """SELECT c.id, c.name, c.title, c.version, c.updated_at,
                      (SELECT COUNT(*) FROM principles p WHERE p.constitution_id=c.id) AS principles,
                      (SELECT COUNT(*) FROM principles p WHERE p.constitution_id=c.id AND enabled)
                        AS enabled
               FROM constitutions c ORDER BY c.name"""
        )

    def constitution_id(self, name: str) -> int:
        row = self.db.execute("SELECT id FROM constitutions WHERE name=?", [name]).fetchone()
        if not row:
            names = ", ".join(c["name"] for c in self.list_constitutions()) or "none yet"
            raise ProjectError(f"No constitution named {name!r} in this project (have: {names}).")
        return row[0]

    def save_constitution(self, c: Constitution, note: str = "", replace: bool = True) -> int:
        """Store ``c`` as the live state; a new version snapshot is added if the content changed.

        Returns the version number now current. Old versions stay readable for ever.
        """
        check(c)
        ts = now()
        with self.db.atomic():
            row = self.db.execute("SELECT id, version FROM constitutions WHERE name=?", [c.name]).fetchone()
            if row and not replace:
                raise ProjectError(f"A constitution named {c.name!r} already exists.")
            content_hash = c.content_hash()
            if row:
                cid, version = row
                last = self.db.execute(
                    "SELECT content_hash FROM constitution_versions WHERE constitution_id=? "
                    "ORDER BY version DESC LIMIT 1",
                    [cid],
                ).fetchone()
                if last and last[0] == content_hash:
                    return version
                version = max(version + 1, c.version)
                self.db.execute(
                    "UPDATE constitutions SET title=?, description=?, system_prompt=?, "
                    "few_shot_json=?, version=?, updated_at=? WHERE id=?",
                    [c.title, c.description, c.system_prompt, _few_json(c), version, ts, cid],
                )
                self.db.execute("DELETE FROM principles WHERE constitution_id=?", [cid])
            else:
                version = c.version
                cid = self.db["constitutions"].insert(
                    {
                        "name": c.name,
                        "title": c.title,
                        "description": c.description,
                        "system_prompt": c.system_prompt,
                        "few_shot_json": _few_json(c),
                        "version": version,
                        "created_at": ts,
                        "updated_at": ts,
                    }
                ).last_pk
            self.db["principles"].insert_all(
                [
                    {
                        "constitution_id": cid,
                        "position": i,
                        "key": p.key,
                        "title": p.title,
                        "critique_request": p.critique_request,
                        "revision_request": p.revision_request,
                        "comparison_question": p.comparison_question,
                        "tags_json": json.dumps(p.tags),
                        "enabled": int(p.enabled),
                    }
                    for i, p in enumerate(c.principles)
                ]
            )
            stored = c.copy()
            stored.version = version
            self.db["constitution_versions"].insert(
                {
                    "constitution_id": cid,
                    "version": version,
                    "content_json": json.dumps(stored.to_dict(), ensure_ascii=False),
                    "content_hash": content_hash,
                    "note": note,
                    "created_at": ts,
                }
            )
        return version

    def get_constitution(self, name: str, version: int | None = None) -> Constitution:
        cid = self.constitution_id(name)
        if version is not None:
            row = self.db.execute(
                "SELECT content_json FROM constitution_versions WHERE constitution_id=? AND version=?",
                [cid, version],
            ).fetchone()
            if not row:
                raise ProjectError(f"Constitution {name!r} has no version {version}.")
            return Constitution.from_dict(json.loads(row[0]))
        c = self.query("SELECT * FROM constitutions WHERE id=?", [cid])[0]
        principles = [
            Principle(
                key=r["key"],
                title=r["title"] or "",
                critique_request=r["critique_request"],
                revision_request=r["revision_request"],
                comparison_question=r["comparison_question"] or "",
                tags=_loads(r["tags_json"], []),
                enabled=bool(r["enabled"]),
            )
            for r in self.query(
                "SELECT * FROM principles WHERE constitution_id=? ORDER BY position", [cid]
            )
        ]
        return Constitution(
            name=c["name"],
            title=c["title"] or "",
            description=c["description"] or "",
            version=c["version"],
            system_prompt=c["system_prompt"] or "",
            few_shot=[FewShotExample(**f) for f in _loads(c["few_shot_json"], [])],
            principles=principles,
        )

    def constitution_versions(self, name: str) -> list[dict[str, Any]]:
        cid = self.constitution_id(name)
        return self.query(
            "SELECT version, note, created_at, content_hash FROM constitution_versions "
            "WHERE constitution_id=? ORDER BY version",
            [cid],
        )

    def delete_constitution(self, name: str) -> None:
        cid = self.constitution_id(name)
        used = self.db.execute("SELECT COUNT(*) FROM chains WHERE constitution_id=?", [cid]).fetchone()[0]
        if used:
            raise ProjectError(
                f"Constitution {name!r} was used by {used} chains; it is kept so they stay traceable."
            )
        with self.db.atomic():
            self.db.execute("DELETE FROM constitutions WHERE id=?", [cid])

    def snapshot_principle(self, p: Principle, constitution_name: str = "") -> int:
        """Id of the immutable snapshot of this principle's exact texts (made once per text)."""
        snap = p.snapshot()
        row = self.db.execute("SELECT id FROM principle_snapshots WHERE hash=?", [snap["hash"]]).fetchone()
        if row:
            return row[0]
        return self.db["principle_snapshots"].insert(
            {
                "hash": snap["hash"],
                "constitution_name": constitution_name,
                "key": p.key,
                "title": p.title,
                "critique_request": p.critique_request,
                "revision_request": p.revision_request,
                "comparison_question": p.comparison_question,
                "tags_json": json.dumps(p.tags),
                "created_at": now(),
            }
        ).last_pk

    # -- models --------------------------------------------------------------------------------
    def record_model(self, spec: str, kind: str, display_name: str = "", info: dict | None = None) -> int:
        row = self.db.execute("SELECT id FROM models WHERE spec=?", [spec]).fetchone()
        if row:
            return row[0]
        return self.db["models"].insert(
            {
                "spec": spec,
                "kind": kind,
                "display_name": display_name or spec,
                "info_json": json.dumps(info or {}),
                "added_at": now(),
            }
        ).last_pk

    def list_models(self) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM models ORDER BY id")

    # -- runs ----------------------------------------------------------------------------------
    def create_run(self, kind: str, config: dict[str, Any], name: str = "", parent: int | None = None) -> int:
        return self.db["runs"].insert(
            {
                "kind": kind,
                "name": name or kind,
                "status": "queued",
                "config_json": json.dumps(config, default=str),
                "parent_run_id": parent,
                "created_at": now(),
            }
        ).last_pk

    def run(self, run_id: int) -> dict[str, Any]:
        rows = self.query("SELECT * FROM runs WHERE id=?", [run_id])
        if not rows:
            raise ProjectError(f"No run {run_id} in this project.")
        r = rows[0]
        r["config"] = _loads(r.pop("config_json"), {})
        r["result"] = _loads(r.pop("result_json"), {})
        r["lineage"] = _loads(r.pop("lineage_json"), {})
        return r

    def list_runs(self, kind: str | None = None) -> list[dict[str, Any]]:
        if kind:
            return self.query("SELECT * FROM runs WHERE kind=? ORDER BY id DESC", [kind])
        return self.query("SELECT * FROM runs ORDER BY id DESC")

    def set_run_status(self, run_id: int, status: str, error: str | None = None) -> None:
        fields: dict[str, Any] = {"status": status}
        if status == "running":
            fields["started_at"] = now()
            fields["error"] = None
        if status in ("done", "failed", "cancelled"):
            fields["finished_at"] = now()
        if error is not None:
            fields["error"] = error
        self.db["runs"].update(run_id, fields)

    def set_run_result(self, run_id: int, result: dict[str, Any], lineage: dict | None = None) -> None:
        fields = {"result_json": json.dumps(result, default=str)}
        if lineage is not None:
            fields["lineage_json"] = json.dumps(lineage, default=str)
        self.db["runs"].update(run_id, fields)

    def set_run_progress(self, run_id: int, done: int, total: int) -> None:
        self.db.execute(
            "UPDATE runs SET progress_done=?, progress_total=? WHERE id=?", [done, total, run_id]
        )

    def add_metric(self, run_id: int, name: str, value: float, step: int) -> None:
        self.db["metrics"].insert(
            {"run_id": run_id, "name": name, "step": int(step), "value": float(value), "created_at": now()}
        )

    def metrics(self, run_id: int, name: str | None = None) -> list[dict[str, Any]]:
        if name:
            return self.query(
                "SELECT name, step, value FROM metrics WHERE run_id=? AND name=? ORDER BY step, id",
                [run_id, name],
            )
        return self.query("SELECT name, step, value FROM metrics WHERE run_id=? ORDER BY step, id", [run_id])

    def add_log(self, run_id: int, text: str) -> None:
        self.db["run_logs"].insert({"run_id": run_id, "text": text, "created_at": now()})

    def logs(self, run_id: int) -> list[str]:
        return [r["text"] for r in self.query("SELECT text FROM run_logs WHERE run_id=? ORDER BY id", [run_id])]

    # -- adapters ------------------------------------------------------------------------------
    def register_adapter(
        self, kind: str, path: str | Path, base_model_spec: str, lineage: dict, run_id: int | None = None, name: str = ""
    ) -> int:
        """A new adapter row; a run that made one already (a finished run continued) refreshes its row."""
        row = {"name": name or Path(path).name, "kind": kind, "run_id": run_id, "path": str(path),
               "base_model_spec": base_model_spec, "lineage_json": json.dumps(lineage, default=str)}
        if run_id is not None:
            have = self.query("SELECT id FROM adapters WHERE run_id=? AND kind=?", [run_id, kind])
            if have:
                self.db["adapters"].update(have[0]["id"], row)
                return have[0]["id"]
        return self.db["adapters"].insert({**row, "created_at": now()}).last_pk

    def adapter(self, adapter_id: int, kinds: tuple[str, ...] | None = None, what: str = "adapter") -> dict[str, Any]:
        """One adapter row; one clear line when it does not exist or is of the wrong kind."""
        rows = self.query("SELECT * FROM adapters WHERE id=?", [adapter_id])
        if not rows:
            raise ProjectError(f"There is no adapter {adapter_id} in this project (the Models page and "
                               "`cai-desktop adapter list` show them).")
        row = rows[0]
        if kinds is not None and row["kind"] not in kinds:
            raise ValidationError(f"Adapter {adapter_id} is a {row['kind']!r} adapter; the {what} must be one of: "
                                  f"{', '.join(kinds)}.")
        return row

    def forget_metrics_after(self, run_id: int, step: int) -> None:
        """Resuming repeats the steps after the last checkpoint: drop their metrics so none doubles."""
        with self.db.atomic():
            self.db.execute("DELETE FROM metrics WHERE run_id=? AND step>?", [run_id, step])

    def list_adapters(self, kind: str | None = None) -> list[dict[str, Any]]:
        if kind:
            return self.query("SELECT * FROM adapters WHERE kind=? ORDER BY id DESC", [kind])
        return self.query("SELECT * FROM adapters ORDER BY id DESC")

    def counts(self) -> dict[str, int]:
        """How many constitutions, prompts, chains and runs the project holds (a one-line summary)."""
        row = self.db.execute(
            "SELECT (SELECT COUNT(*) FROM constitutions), (SELECT COUNT(*) FROM prompts), "
            "(SELECT COUNT(*) FROM chains), (SELECT COUNT(*) FROM runs)"
        ).fetchone()
        return dict(zip(("constitutions", "prompts", "chains", "runs"), (int(x) for x in row), strict=True))

    def log_rows(self, run_id: int, after_id: int = 0) -> list[dict[str, Any]]:
        """A run's log lines (``id``, ``text``) after ``after_id``: a live view reads only what is
        new since it last looked, so a line never shows twice, whatever arrives first (the
        runner's signal or the committed row)."""
        return self.query("SELECT id, text FROM run_logs WHERE run_id=? AND id>? ORDER BY id", [run_id, after_id])

    def remove_model(self, spec: str) -> dict[str, int]:
        """Take an added model off the project's lists; returns how many runs and adapters name it.

        Runs and adapters keep the model's spec string, not a link to this row, so removing it
        changes none of them (and a job that uses the model again lists it again)."""
        with self.db.atomic():
            removed = self.db.execute("DELETE FROM models WHERE spec=?", [spec]).rowcount
        if not removed:
            raise ProjectError(f"{spec} is not in this project's list of models.")
        adapters = self.db.execute("SELECT COUNT(*) FROM adapters WHERE base_model_spec=?", [spec]).fetchone()[0]
        runs = self.db.execute("SELECT COUNT(*) FROM runs WHERE instr(config_json, ?) > 0",
                               [json.dumps(spec)]).fetchone()[0]
        return {"runs": int(runs), "adapters": int(adapters)}


def _few_json(c: Constitution) -> str:
    return json.dumps([f.to_dict() for f in c.few_shot], ensure_ascii=False)
