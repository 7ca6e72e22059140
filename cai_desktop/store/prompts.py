"""Prompt sets and their prompts (with a stable, seeded train/test split)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from cai_desktop.core.errors import ProjectError, ValidationError
from cai_desktop.core.splits import split_of
from cai_desktop.store.base import Manager, now

KINDS = ("red-team", "helpful", "other")


def _prompt_filters(set_id: int, split: str | None, search: str | None) -> tuple[str, list[Any]]:
    where, params = ["set_id = ?"], [set_id]
    if split:
        where.append("split = ?")
        params.append(split)
    if search:
        where.append("(text LIKE ? OR category LIKE ?)")
        params += [f"%{search}%", f"%{search}%"]
    return " AND ".join(where), params


class Prompts(Manager):
    """``project.prompts``: prompt sets and their prompts."""

    def add_set(
        self,
        name: str,
        kind: str,
        prompts: Iterable[dict[str, Any] | str],
        *,
        source: str = "",
        seed: int = 0,
        test_fraction: float = 0.1,
    ) -> dict[str, int]:
        """Create the set (or add to it); duplicates of a prompt already in the set are skipped.

        Each prompt is ``{"text", "category"?, "meta"?}`` or a plain string. Returns counts.
        """
        if kind not in KINDS:
            raise ValidationError(f"Unknown prompt set kind {kind!r}; choose one of {', '.join(KINDS)}.")
        if not name.strip():
            raise ValidationError("A prompt set needs a name.")
        if not 0.0 <= test_fraction < 1.0:
            raise ValidationError("The test fraction must be between 0 and 1 (e.g. 0.1).")
        db = self.db
        with db.atomic():
            row = db.execute("SELECT id, split_seed, test_fraction FROM prompt_sets WHERE name=?", [name]).fetchone()
            if row:
                set_id, seed, test_fraction = row
            else:
                set_id = db["prompt_sets"].insert(
                    {"name": name, "kind": kind, "source": source, "split_seed": seed,
                     "test_fraction": test_fraction, "created_at": now()}
                ).last_pk
            start = db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM prompts WHERE set_id=?", [set_id]).fetchone()[0]
            added = skipped = 0
            for item in prompts:
                if isinstance(item, str):
                    item = {"text": item}
                text = str(item.get("text", "")).strip()
                if not text:
                    skipped += 1
                    continue
                cur = db.execute(
                    "INSERT OR IGNORE INTO prompts (set_id, position, text, category, split, meta_json) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [set_id, start + added, text, str(item.get("category") or ""),
                     split_of(text, seed, test_fraction), json.dumps(item.get("meta") or {})],
                )
                if cur.rowcount:
                    added += 1
                else:
                    skipped += 1
        return {"set_id": set_id, "added": added, "skipped": skipped}

    def set_id(self, name: str) -> int:
        row = self.db.execute("SELECT id FROM prompt_sets WHERE name=?", [name]).fetchone()
        if not row:
            names = ", ".join(s["name"] for s in self.sets()) or "none yet"
            raise ProjectError(f"No prompt set named {name!r} in this project (have: {names}).")
        return row[0]

    def set_kind(self, name: str) -> str:
        """The kind of a prompt set: red-team, helpful or other."""
        return self.db.execute("SELECT kind FROM prompt_sets WHERE id=?", [self.set_id(name)]).fetchone()[0]

    def sets(self) -> list[dict[str, Any]]:
        """Every set with its size (``n``) and test share (``n_test``), oldest first."""
        return self.query(
            """SELECT s.*, (SELECT COUNT(*) FROM prompts p WHERE p.set_id=s.id) AS n,
                      (SELECT COUNT(*) FROM prompts p WHERE p.set_id=s.id AND split='test') AS n_test
               FROM prompt_sets s ORDER BY s.id"""
        )

    def of(self, set_name: str, split: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Prompts of a set in their stored order: ``[{"id", "text", "category", "split"}]``."""
        set_id = self.set_id(set_name)
        sql = "SELECT id, text, category, split FROM prompts WHERE set_id=?"
        params: list[Any] = [set_id]
        if split:
            sql += " AND split=?"
            params.append(split)
        sql += " ORDER BY position"
        if limit:
            sql += " LIMIT ?"
            params.append(int(limit))
        return self.query(sql, params)

    def resplit(self, set_name: str, seed: int, test_fraction: float) -> None:
        """Draw the set's split again with another seed or fraction."""
        set_id = self.set_id(set_name)
        with self.db.atomic():
            self.db.execute(
                "UPDATE prompt_sets SET split_seed=?, test_fraction=? WHERE id=?", [seed, test_fraction, set_id]
            )
            for pid, text in self.db.execute("SELECT id, text FROM prompts WHERE set_id=?", [set_id]).fetchall():
                self.db.execute("UPDATE prompts SET split=? WHERE id=?", [split_of(text, seed, test_fraction), pid])

    def list(
        self, set_id: int, offset: int = 0, limit: int = 200, *, split: str | None = None,
        search: str | None = None,
    ) -> list[dict[str, Any]]:
        """One page of a set's prompts in their stored order (for a paged table)."""
        where, params = _prompt_filters(set_id, split, search)
        return self.query(
            f"SELECT id, position, text, category, split FROM prompts WHERE {where} ORDER BY position LIMIT ? OFFSET ?",
            [*params, int(limit), int(offset)],
        )

    def count(self, set_id: int, *, split: str | None = None, search: str | None = None) -> int:
        where, params = _prompt_filters(set_id, split, search)
        return int(self.db.execute(f"SELECT COUNT(*) FROM prompts WHERE {where}", params).fetchone()[0])

    def usage(self, name: str) -> dict[str, int]:
        """How much depends on a set: its prompts, and the chains, response pairs and comparisons
        made from them (what a delete would orphan)."""
        set_id = self.set_id(name)
        inner = "SELECT id FROM prompts WHERE set_id = ?"

        def one(sql: str) -> int:
            return int(self.db.execute(sql, [set_id]).fetchone()[0])

        return {
            "prompts": one("SELECT COUNT(*) FROM prompts WHERE set_id = ?"),
            "chains": one(f"SELECT COUNT(*) FROM chains WHERE prompt_id IN ({inner})"),
            "response_pairs": one(f"SELECT COUNT(*) FROM response_pairs WHERE prompt_id IN ({inner})"),
            "comparisons": one(f"SELECT COUNT(*) FROM comparisons WHERE prompt_id IN ({inner})"),
        }

    def rename_set(self, name: str, new_name: str) -> None:
        """Give a set another name. Chains and comparisons point at prompts by id, so they follow;
        past runs keep the name they were launched with in their settings (history is not rewritten),
        so resuming such a run asks for the set by its new name."""
        new_name = new_name.strip()
        if not new_name:
            raise ValidationError("A prompt set needs a name.")
        set_id = self.set_id(name)
        if new_name == name:
            return
        with self.db.atomic():
            if self.db.execute("SELECT 1 FROM prompt_sets WHERE name=?", [new_name]).fetchone():
                raise ValidationError(f"There is already a prompt set named {new_name!r}; choose another name.")
            self.db.execute("UPDATE prompt_sets SET name=? WHERE id=?", [new_name, set_id])

    def delete_set(self, name: str) -> int:
        """Delete a set and its prompts; returns how many prompts went.

        A set whose prompts have chains, response pairs or comparisons is refused, never deleted with
        them: those hold reviewed work and training data (human judgement is data), and runs record
        which prompts they used. Deleting that work must be a separate, deliberate step.
        """
        usage = self.usage(name)
        made = describe_usage(usage)
        if made:
            raise ProjectError(
                f"The prompt set {name!r} is kept: deleting it would lose the work made from its prompts "
                f"({made}). Rename it instead if the name is in the way."
            )
        set_id = self.set_id(name)
        with self.db.atomic():
            self.db.execute("DELETE FROM prompts WHERE set_id=?", [set_id])
            self.db.execute("DELETE FROM prompt_sets WHERE id=?", [set_id])
        return usage["prompts"]


def describe_usage(usage: dict[str, int]) -> str:
    """"3 chains and 1 comparison" (what was made from a set's prompts), or "" when nothing."""
    nouns = (("chains", "chain"), ("response_pairs", "response pair"), ("comparisons", "comparison"))
    parts = [f"{usage[k]:,} {one if usage[k] == 1 else one + 's'}" for k, one in nouns if usage.get(k)]
    return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1] if parts else ""
