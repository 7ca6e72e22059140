"""Prompt sets and their prompts (with a stable, seeded train/test split)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from cai_desktop.core.errors import ProjectError, ValidationError
from cai_desktop.core.splits import split_of
from cai_desktop.store.project import Project, now

KINDS = ("red-team", "helpful", "other")


def add_prompt_set(
    project: Project,
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
    db = project.db
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


def prompt_set_id(project: Project, name: str) -> int:
    row = project.db.execute("SELECT id FROM prompt_sets WHERE name=?", [name]).fetchone()
    if not row:
        names = ", ".join(s["name"] for s in list_prompt_sets(project)) or "none yet"
        raise ProjectError(f"No prompt set named {name!r} in this project (have: {names}).")
    return row[0]


def list_prompt_sets(project: Project) -> list[dict[str, Any]]:
    return project.query(
        """SELECT s.*, (SELECT COUNT(*) FROM prompts p WHERE p.set_id=s.id) AS n,
                  (SELECT COUNT(*) FROM prompts p WHERE p.set_id=s.id AND split='test') AS n_test
           FROM prompt_sets s ORDER BY s.id"""
    )


def prompts_of(
    project: Project, set_name: str, split: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Prompts of a set in their stored order: ``[{"id", "text", "category", "split"}]``."""
    set_id = prompt_set_id(project, set_name)
    sql = "SELECT id, text, category, split FROM prompts WHERE set_id=?"
    params: list[Any] = [set_id]
    if split:
        sql += " AND split=?"
        params.append(split)
    sql += " ORDER BY position"
    if limit:
        sql += " LIMIT ?"
        params.append(int(limit))
    return project.query(sql, params)


def resplit(project: Project, set_name: str, seed: int, test_fraction: float) -> None:
    """Draw the set's split again with another seed or fraction."""
    set_id = prompt_set_id(project, set_name)
    with project.db.atomic():
        project.db.execute(
            "UPDATE prompt_sets SET split_seed=?, test_fraction=? WHERE id=?", [seed, test_fraction, set_id]
        )
        for pid, text in project.db.execute("SELECT id, text FROM prompts WHERE set_id=?", [set_id]).fetchall():
            project.db.execute("UPDATE prompts SET split=? WHERE id=?", [split_of(text, seed, test_fraction), pid])
