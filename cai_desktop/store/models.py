"""The models a project has used or added (base models, folders, merged adapters)."""

from __future__ import annotations

import json
from typing import Any

from cai_desktop.core.errors import ProjectError
from cai_desktop.store.base import Manager, now


class Models(Manager):
    """``project.models``."""

    def record(self, spec: str, kind: str, display_name: str = "", info: dict | None = None) -> int:
        """The model's id, adding it to the project's list the first time it is used."""
        have = self.scalar("SELECT id FROM models WHERE spec=?", [spec])
        if have is not None:
            return have
        with self.db.atomic():  # two jobs naming a new model at once: one row
            self.db.execute(
                "INSERT OR IGNORE INTO models (spec, kind, display_name, info_json, added_at) VALUES (?, ?, ?, ?, ?)",
                [spec, kind, display_name or spec, json.dumps(info or {}), now()])
            return self.scalar("SELECT id FROM models WHERE spec=?", [spec])

    def list(self) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM models ORDER BY id")

    def remove(self, spec: str) -> dict[str, int]:
        """Take an added model off the project's lists; returns how many runs and adapters name it.

        Runs and adapters keep the model's spec string, not a link to this row, so removing it
        changes none of them (and a job that uses the model again lists it again)."""
        with self.db.atomic():
            removed = self.db.execute("DELETE FROM models WHERE spec=?", [spec]).rowcount
        if not removed:
            raise ProjectError(f"{spec} is not in this project's list of models.")
        adapters = self.scalar("SELECT COUNT(*) FROM adapters WHERE base_model_spec=?", [spec])
        runs = self.scalar("SELECT COUNT(*) FROM runs WHERE instr(config_json, ?) > 0", [json.dumps(spec)])
        return {"runs": int(runs), "adapters": int(adapters)}
