"""The sample project: starter constitutions and prompt sets, ready to run."""

from __future__ import annotations

import json

from cai_desktop.core import formats
from cai_desktop.resources import resources_dir, starter_constitutions
from cai_desktop.store.project import Project

STARTER_SETS = (("red-team", "red_team.jsonl", "red-team"), ("helpful", "helpful.jsonl", "helpful"))


def read_starter_prompts(filename: str) -> list[dict]:
    path = resources_dir() / "prompts" / filename
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            rows.append({"text": d["prompt"], "category": d.get("category", "")})
    return rows


def add_starter_content(project: Project) -> dict[str, int]:
    """Import every starter constitution and both starter prompt sets (idempotent)."""
    have = {c["name"] for c in project.constitutions.list()}
    n_const = 0
    for path in starter_constitutions():
        c = formats.load_file(path)
        if c.name not in have:
            project.constitutions.save(c, note="starter")
            n_const += 1
    sets = {s["name"] for s in project.prompts.sets()}
    n_prompts = 0
    for name, filename, kind in STARTER_SETS:
        if name not in sets:
            n_prompts += project.prompts.add_set(name, kind, read_starter_prompts(filename), source=f"starter:{filename}"
            )["added"]
    return {"constitutions": n_const, "prompts": n_prompts}
