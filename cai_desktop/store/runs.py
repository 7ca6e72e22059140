"""Runs (one per job launch): their settings, status, progress, result, metrics and log."""

from __future__ import annotations

import json
from typing import Any

from cai_desktop.core.errors import ProjectError
from cai_desktop.store.base import Manager, loads, now

#: the columns a runs table shows (no settings or results: those are read per run)
SUMMARY = ("id, kind, name, status, progress_done, progress_total, created_at, started_at, finished_at, "
           "error")


class Runs(Manager):
    """``project.runs``."""

    def create(self, kind: str, config: dict[str, Any], name: str = "", parent: int | None = None) -> int:
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

    def get(self, run_id: int) -> dict[str, Any]:
        """The run row with ``config``, ``result`` and ``lineage`` decoded; one clear line if none."""
        rows = self.query("SELECT * FROM runs WHERE id=?", [run_id])
        if not rows:
            raise ProjectError(f"No run {run_id} in this project.")
        r = rows[0]
        r["config"] = loads(r.pop("config_json"), {})
        r["result"] = loads(r.pop("result_json"), {})
        r["lineage"] = loads(r.pop("lineage_json"), {})
        return r

    def list(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every run (of ``kind``), newest first, as stored (``config_json`` undecoded)."""
        if kind:
            return self.query("SELECT * FROM runs WHERE kind=? ORDER BY id DESC", [kind])
        return self.query("SELECT * FROM runs ORDER BY id DESC")

    def page(self, offset: int = 0, limit: int = 200, kind: str | None = None) -> list[dict[str, Any]]:
        """One page of run summaries (``SUMMARY`` columns), newest first, for a paged table."""
        where, params = ("WHERE kind=?", [kind]) if kind else ("", [])
        return self.query(f"SELECT {SUMMARY} FROM runs {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                          [*params, int(limit), int(offset)])

    def count(self, kind: str | None = None) -> int:
        if kind:
            return int(self.scalar("SELECT COUNT(*) FROM runs WHERE kind=?", [kind]))
        return int(self.scalar("SELECT COUNT(*) FROM runs"))

    def set_status(self, run_id: int, status: str, error: str | None = None) -> None:
        fields: dict[str, Any] = {"status": status}
        if status == "running":
            fields["started_at"] = now()
            fields["error"] = None
        if status in ("done", "failed", "cancelled"):
            fields["finished_at"] = now()
        if error is not None:
            fields["error"] = error
        self.db["runs"].update(run_id, fields)

    def set_result(self, run_id: int, result: dict[str, Any], lineage: dict | None = None) -> None:
        fields = {"result_json": json.dumps(result, default=str)}
        if lineage is not None:
            fields["lineage_json"] = json.dumps(lineage, default=str)
        self.db["runs"].update(run_id, fields)

    def set_progress(self, run_id: int, done: int, total: int) -> None:
        self.db.execute("UPDATE runs SET progress_done=?, progress_total=? WHERE id=?", [done, total, run_id])

    # -- metrics ------------------------------------------------------------------------------------
    def add_metric(self, run_id: int, name: str, value: float, step: int) -> None:
        self.db["metrics"].insert(
            {"run_id": run_id, "name": name, "step": int(step), "value": float(value), "created_at": now()}
        )

    def metrics(self, run_id: int, name: str | None = None) -> list[dict[str, Any]]:
        """``{name, step, value}`` of a run (one metric when ``name``), by step."""
        if name:
            return self.query(
                "SELECT name, step, value FROM metrics WHERE run_id=? AND name=? ORDER BY step, id",
                [run_id, name],
            )
        return self.query("SELECT name, step, value FROM metrics WHERE run_id=? ORDER BY step, id", [run_id])

    def forget_metrics_after(self, run_id: int, step: int) -> None:
        """Resuming repeats the steps after the last checkpoint: drop their metrics so none doubles."""
        with self.db.atomic():
            self.db.execute("DELETE FROM metrics WHERE run_id=? AND step>?", [run_id, step])

    # -- log ----------------------------------------------------------------------------------------
    def add_log(self, run_id: int, text: str) -> None:
        self.db["run_logs"].insert({"run_id": run_id, "text": text, "created_at": now()})

    def logs(self, run_id: int) -> list[str]:
        return [r["text"] for r in self.query("SELECT text FROM run_logs WHERE run_id=? ORDER BY id", [run_id])]

    def log_rows(self, run_id: int, after_id: int = 0) -> list[dict[str, Any]]:
        """A run's log lines (``id``, ``text``) after ``after_id``: a live view reads only what is
        new since it last looked, so a line never shows twice, whatever arrives first (the
        runner's signal or the committed row)."""
        return self.query("SELECT id, text FROM run_logs WHERE run_id=? AND id>? ORDER BY id", [run_id, after_id])
