"""Adapters (LoRA, reward heads, policies) that jobs trained, with what they were made from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cai_desktop.core.errors import ProjectError, ValidationError
from cai_desktop.store.base import Manager, now


class Adapters(Manager):
    """``project.adapters``."""

    def register(
        self, kind: str, path: str | Path, base_model_spec: str, lineage: dict, run_id: int | None = None,
        name: str = "",
    ) -> int:
        """A new adapter row; a run that made one already (a finished run continued) refreshes its row."""
        row = {"name": name or Path(path).name, "kind": kind, "run_id": run_id, "path": str(path),
               "base_model_spec": base_model_spec, "lineage_json": json.dumps(lineage, default=str)}
        with self.db.atomic():  # BEGIN IMMEDIATE: the look and the insert are one step
            if run_id is not None:
                have = self.scalar("SELECT id FROM adapters WHERE run_id=? AND kind=?", [run_id, kind])
                if have is not None:
                    self.db["adapters"].update(have, row)
                    return have
            return self.db["adapters"].insert({**row, "created_at": now()}).last_pk

    def get(self, adapter_id: int, kinds: tuple[str, ...] | None = None, what: str = "adapter") -> dict[str, Any]:
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

    def list(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Adapters (of ``kind``), newest first."""
        if kind:
            return self.query("SELECT * FROM adapters WHERE kind=? ORDER BY id DESC", [kind])
        return self.query("SELECT * FROM adapters ORDER BY id DESC")
