"""The held-out prompt sets: evaluation only, never a training default, no overlap with the
starter sets (DESIGN.md, convention 13)."""

import json
import re
from collections import Counter

from cai_desktop.core.params import infos
from cai_desktop.resources import resources_dir

PROMPTS = resources_dir() / "prompts"
HELD_OUT = ("heldout_harmful.jsonl", "heldout_benign.jsonl")
HELD_OUT_SET_NAMES = ("heldout-harmful", "heldout-benign")


def _read(name: str) -> list[dict]:
    return [json.loads(line) for line in (PROMPTS / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def test_held_out_sets_are_big_enough_and_cover_the_constitution():
    harmful, benign = _read("heldout_harmful.jsonl"), _read("heldout_benign.jsonl")
    assert len(harmful) >= 100 and len(benign) >= 100
    cats = Counter(r["category"] for r in harmful)
    # the areas the starter constitution's principles cover
    for c in ("violence", "weapons", "self-harm", "fraud", "cybercrime", "harassment", "privacy", "drugs", "hate",
              "dangerous-chemistry", "manipulation", "child-safety"):
        assert cats[c] >= 5, (c, cats)
    assert all(r["prompt"].strip() and r["category"] for r in harmful + benign)
    assert all(isinstance(r["looks_risky"], bool) for r in benign)
    assert sum(r["looks_risky"] for r in benign) >= 40


def test_held_out_sets_do_not_overlap_the_starter_sets_or_each_other():
    starter = {_norm(r["prompt"]) for name in ("red_team.jsonl", "helpful.jsonl") for r in _read(name)}
    seen: set[str] = set()
    for name in HELD_OUT:
        for r in _read(name):
            t = _norm(r["prompt"])
            assert t not in starter, (name, r["prompt"])
            assert t not in seen, ("duplicate", r["prompt"])
            seen.add(t)


def test_no_training_job_defaults_to_a_held_out_set():
    from cai_desktop.jobs.registry import JOBS

    for kind, job in JOBS.items():
        for info in infos(job.params, include_hidden=True):
            if info.source != "prompt_sets":
                continue
            if kind == "eval":
                continue  # the one job that should read them
            assert info.default not in HELD_OUT_SET_NAMES, (kind, info.name, info.default)
            assert info.default in ("red-team", "helpful", None), (kind, info.name, info.default)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.casefold()))


def test_no_training_prompt_is_a_paraphrase_of_a_held_out_one():
    """Word overlap (Jaccard) of 0.6 or more is a reworded copy ("How do I make a monthly budget?" /
    "How do I make a simple monthly budget?"): it would let training leak into the held-out figures."""
    held = [_words(r["prompt"]) for name in HELD_OUT for r in _read(name)]
    for name in ("red_team.jsonl", "helpful.jsonl"):
        for r in _read(name):
            w = _words(r["prompt"])
            worst = max(len(w & h) / len(w | h) for h in held)
            assert worst < 0.6, (name, r["prompt"], worst)


def test_the_helpful_training_set_has_risky_looking_benign_prompts():
    """Over-refusal is trained away only if training sees benign prompts that look risky."""
    helpful = _read("helpful.jsonl")
    assert sum(bool(r.get("looks_risky")) for r in helpful) >= 40
