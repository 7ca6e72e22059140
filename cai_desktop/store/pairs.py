"""Response pairs: two answers of the policy to one prompt, the sources AI feedback labels."""

from __future__ import annotations

import json
from typing import Any

from cai_desktop.store.base import Manager, now
from cai_desktop.store.chains import kind_of_set


class Pairs(Manager):
    """``project.pairs``."""

    def done_prompt_ids(self, run_id: int) -> set[int]:
        """Prompt ids that already have a pair in this run: a resumed run skips them."""
        return {r[0] for r in self.db.execute("SELECT prompt_id FROM response_pairs WHERE run_id=?", [run_id])}

    def save(self, rows: list[dict[str, Any]]) -> int:
        """Insert one batch of pairs in one transaction; a pair already there is left alone."""
        ts = now()
        n = 0
        with self.db.atomic():
            for r in rows:
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO response_pairs (run_id, prompt_id, policy_spec, response_a, response_b, "
                    "seed, sampling_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [r["run_id"], r["prompt_id"], r.get("policy_spec"), r["response_a"], r["response_b"],
                     r.get("seed"), json.dumps(r.get("sampling") or {}), ts],
                )
                n += cur.rowcount
        return n

    def ids_for(self, run_id: int, prompt_ids: list[int]) -> dict[int, int]:
        """``{prompt_id: pair id}`` of a run's pairs for these prompts."""
        if not prompt_ids:
            return {}
        rows = self.db.execute(
            f"SELECT prompt_id, id FROM response_pairs WHERE run_id=? AND prompt_id IN ({','.join('?' * len(prompt_ids))})",
            [run_id, *prompt_ids])
        return {r[0]: r[1] for r in rows}

    def for_labelling(self, run_ids: list[int] | None = None, split: str | None = None) -> list[dict[str, Any]]:
        """Response pairs as comparison sources:
        ``{source_id, prompt_id, prompt, response_a, response_b, kind, split}``."""
        where, params = ["1=1"], []
        if run_ids:
            where.append(f"r.run_id IN ({','.join('?' * len(run_ids))})")
            params += list(run_ids)
        else:  # teacher-student pairs are labelled already (the teacher's side is the chosen one)
            where.append("r.run_id NOT IN (SELECT id FROM runs WHERE kind = 'distill')")
        if split:
            where.append("p.split = ?")
            params.append(split)
        rows = self.query(
            f"""SELECT r.id AS source_id, r.prompt_id, p.text AS prompt, r.response_a, r.response_b,
                       s.kind AS set_kind, p.split
                FROM response_pairs r JOIN prompts p ON p.id = r.prompt_id JOIN prompt_sets s ON s.id = p.set_id
                WHERE {' AND '.join(where)} ORDER BY r.id""",
            params,
        )
        for r in rows:
            r["kind"] = kind_of_set(r.pop("set_kind"))
        return rows

    def run_ids(self) -> list[int]:
        """Runs that made response pairs (newest first)."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT run_id FROM response_pairs ORDER BY run_id DESC")]
