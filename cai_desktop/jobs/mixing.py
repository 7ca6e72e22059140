"""Mixing human and AI data: a weight for the lab's own judgement, and counts per source.

Every training record carries a ``source``: ``human`` (a reviewer's edit, demonstration or
choice), ``ai_revision`` (a model's critique-and-revision chain), ``ai_label`` (an AI feedback
label), ``distilled`` (a teacher's constitution-conditioned answer) or ``helpful``. The paper mixes
human helpfulness preferences with AI harmlessness labels; here the user sets how much a human
record counts: weight 3 puts each human record in the data three times, 0.5 keeps a seeded half.
Each adapter's lineage keeps the counts before and after weighting, and the review policy that
made the human decisions final (``review_lineage``).
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from cai_desktop.core.params import param


def human_weight_param() -> Any:
    return param(1.0, label="Weight of human data", range=(0.0, 20.0),
                 help="How much each human record (a reviewer's edit, demonstration or choice) counts against "
                      "one AI record: 3 = three times, 0.5 = half of them, 0 = leave human data out.")


def weight_human(records: list[dict[str, Any]], weight: float, seed: int = 0) -> list[dict[str, Any]]:
    """``records`` with each human one repeated ``weight`` times (a fraction: a seeded share)."""
    rng = random.Random(seed)
    whole, frac = int(weight), weight - int(weight)
    out = []
    for r in records:
        if r.get("source") != "human":
            out.append(r)
            continue
        out += [r] * whole
        if frac and rng.random() < frac:
            out.append(r)
    return out


def source_counts(records: list[dict[str, Any]]) -> dict[str, int]:
    return dict(sorted(Counter(r.get("source", "unknown") for r in records).items()))


def review_lineage(project: Any) -> dict[str, Any]:
    """How the human decisions in the data were made final (issue 12): the project's review policy
    and how many reviewers' decisions the final ones rest on (``project.reviews.summary()``)."""
    return project.reviews.summary()


def describe_counts(counts: dict[str, int]) -> str:
    names = {"human": "human", "ai_revision": "AI revisions", "ai_label": "AI labels", "distilled": "teacher answers",
             "helpful": "helpful answers"}
    return ", ".join(f"{n} {names.get(k, k)}" for k, n in counts.items()) or "nothing"
