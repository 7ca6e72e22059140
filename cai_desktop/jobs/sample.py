"""The sample project: starter constitutions and prompt sets, ready to run."""

from __future__ import annotations

import json

from cai_desktop.core import formats
from cai_desktop.resources import resources_dir, starter_constitutions
from cai_desktop.store.project import Project

#: (name, file, kind, held out): a held-out set goes whole into the test split, for evaluation only
#: (the eval job's defaults); the training jobs default to "red-team" and "helpful" and their train split
STARTER_SETS = (
    ("red-team", "red_team.jsonl", "red-team", False),
    ("helpful", "helpful.jsonl", "helpful", False),
    ("heldout-harmful", "heldout_harmful.jsonl", "red-team", True),
    ("heldout-benign", "heldout_benign.jsonl", "helpful", True),
    ("dilemmas", "dilemmas.jsonl", "other", False),
)


def read_starter_prompts(filename: str) -> list[dict]:
    path = resources_dir() / "prompts" / filename
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            category = d.get("category", "")
            if d.get("looks_risky"):  # the category carries it (core.evaluation.looks_risky reads it back)
                category = f"looks-risky/{category}" if category else "looks-risky"
            rows.append({"text": d["prompt"], "category": category,
                         "meta": {"looks_risky": bool(d["looks_risky"])} if "looks_risky" in d else {}})
    return rows


def add_starter_content(project: Project) -> dict[str, int]:
    """Import every starter constitution and the starter prompt sets (idempotent)."""
    have = {c["name"] for c in project.constitutions.list()}
    n_const = 0
    for path in starter_constitutions():
        c = formats.load_file(path)
        if c.name not in have:
            project.constitutions.save(c, note="starter")
            n_const += 1
    sets = {s["name"] for s in project.prompts.sets()}
    n_prompts = 0
    for name, filename, kind, held_out in STARTER_SETS:
        if name not in sets:
            n_prompts += project.prompts.add_set(name, kind, read_starter_prompts(filename), source=f"starter:{filename}"
            )["added"]
            if held_out:  # every prompt held out (add_set takes a fraction below 1; resplit takes 1.0)
                project.prompts.resplit(name, seed=0, test_fraction=1.0)
    return {"constitutions": n_const, "prompts": n_prompts}
