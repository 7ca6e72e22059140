"""Stage 2 records: response pairs, AI comparisons (soft labels) and their human reviews, and the
preference selections that the preference model and DPO train on.

A comparison's ``label`` is the probability that its stored ``response_a`` is the better answer
(clamped in chain-of-thought mode; ``raw_label`` keeps the unclamped value). A human review
(A, B, tie, both-bad) is kept beside the AI label and overrides it in the selections.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cai_desktop.core.errors import ProjectError, ValidationError
from cai_desktop.store.project import Project, now

REVIEW_CHOICES = ("A", "B", "tie", "both-bad")
SOURCES = ("pair", "chain")


def kind_of_set(set_kind: str | None) -> str:
    """Comparison kind from the prompt set's kind: red-team → harmless, helpful → helpful."""
    return {"red-team": "harmless", "helpful": "helpful"}.get(set_kind or "", "other")


# -- response pairs --------------------------------------------------------------------------------
def done_pair_prompt_ids(project: Project, run_id: int) -> set[int]:
    return {r[0] for r in project.db.execute("SELECT prompt_id FROM response_pairs WHERE run_id=?", [run_id])}


def save_pairs(project: Project, rows: list[dict[str, Any]]) -> int:
    """Insert one batch of pairs in one transaction; a pair already there is left alone."""
    ts = now()
    n = 0
    with project.db.atomic():
        for r in rows:
            cur = project.db.execute(
                "INSERT OR IGNORE INTO response_pairs (run_id, prompt_id, policy_spec, response_a, response_b, "
                "seed, sampling_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [r["run_id"], r["prompt_id"], r.get("policy_spec"), r["response_a"], r["response_b"],
                 r.get("seed"), json.dumps(r.get("sampling") or {}), ts],
            )
            n += cur.rowcount
    return n


def pairs_for_labelling(project: Project, run_ids: list[int] | None = None, split: str | None = None) -> list[dict[str, Any]]:
    """Response pairs as comparison sources: ``{source_id, prompt_id, prompt, response_a, response_b, kind, split}``."""
    where, params = ["1=1"], []
    if run_ids:
        where.append(f"r.run_id IN ({','.join('?' * len(run_ids))})")
        params += list(run_ids)
    if split:
        where.append("p.split = ?")
        params.append(split)
    rows = project.query(
        f"""SELECT r.id AS source_id, r.prompt_id, p.text AS prompt, r.response_a, r.response_b,
                   s.kind AS set_kind, p.split
            FROM response_pairs r JOIN prompts p ON p.id = r.prompt_id JOIN prompt_sets s ON s.id = p.set_id
            WHERE {' AND '.join(where)} ORDER BY r.id""",
        params,
    )
    for r in rows:
        r["kind"] = kind_of_set(r.pop("set_kind"))
    return rows


def _swap(seed: int, chain_id: int) -> bool:
    return hashlib.sha256(f"{seed}:chain:{chain_id}".encode()).digest()[0] & 1 == 1


def chains_for_labelling(
    project: Project, run_ids: list[int] | None = None, split: str | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """Stage-1 chains as comparisons: the original answer vs the final (or human) revision.

    Which one is shown as A is decided per chain by a seeded coin, so a position bias of the
    feedback model does not line up with "revised"; ``revision_is`` says where the revision went.
    Chains whose revision equals the original are skipped (nothing to compare).
    """
    where, params = ["c.n_revisions > 0", "c.review_status != 'rejected'"], []
    if run_ids:
        where.append(f"c.run_id IN ({','.join('?' * len(run_ids))})")
        params += list(run_ids)
    if split:
        where.append("p.split = ?")
        params.append(split)
    rows = project.query(
        f"""SELECT c.id AS source_id, c.prompt_id, p.text AS prompt, c.initial_text,
                   COALESCE(c.human_revision, c.final_text) AS revision, s.kind AS set_kind, p.split
            FROM chains c JOIN prompts p ON p.id = c.prompt_id JOIN prompt_sets s ON s.id = p.set_id
            WHERE {' AND '.join(where)} ORDER BY c.id""",
        params,
    )
    out = []
    for r in rows:
        original, revision = (r["initial_text"] or "").strip(), (r["revision"] or "").strip()
        if not original or not revision or original == revision:
            continue
        swap = _swap(seed, r["source_id"])
        out.append({
            "source_id": r["source_id"], "prompt_id": r["prompt_id"], "prompt": r["prompt"],
            "response_a": revision if swap else original, "response_b": original if swap else revision,
            "revision_is": "A" if swap else "B", "kind": kind_of_set(r["set_kind"]), "split": r["split"],
        })
    return out


def source_run_ids(project: Project, table: str) -> list[int]:
    """Runs that have rows in ``response_pairs`` or ``chains`` (newest first)."""
    if table not in ("response_pairs", "chains"):
        raise ValueError(table)
    return [r[0] for r in project.db.execute(f"SELECT DISTINCT run_id FROM {table} ORDER BY run_id DESC")]


# -- comparisons -----------------------------------------------------------------------------------
def labelled_source_ids(project: Project, run_id: int, source: str) -> set[int]:
    return {r[0] for r in project.db.execute(
        "SELECT source_id FROM comparisons WHERE run_id=? AND source=?", [run_id, source]
    )}


COMPARISON_FIELDS = (
    "run_id", "source", "source_id", "prompt_id", "prompt_text", "response_a", "response_b",
    "principle_snapshot_id", "feedback_model", "mode", "clamp", "p_a", "p_b", "raw_label", "label",
    "order_shift", "reasoning", "seed", "kind",
)


def save_comparisons(project: Project, rows: list[dict[str, Any]]) -> int:
    """Insert one batch of comparisons in one transaction (a duplicate source is skipped)."""
    ts = now()
    n = 0
    cols = ", ".join(COMPARISON_FIELDS) + ", created_at"
    marks = ", ".join("?" * (len(COMPARISON_FIELDS) + 1))
    with project.db.atomic():
        for r in rows:
            if r.get("source", "pair") not in SOURCES:
                raise ValidationError(f"Unknown comparison source {r.get('source')!r}.")
            cur = project.db.execute(
                f"INSERT OR IGNORE INTO comparisons ({cols}) VALUES ({marks})",
                [r.get(f, "pair" if f == "source" else None) for f in COMPARISON_FIELDS] + [ts],
            )
            n += cur.rowcount
    return n


def _filters(
    run_id: int | None, principle_key: str | None, kind: str | None, search: str | None,
    reviewed: bool | None, min_margin: float | None,
) -> tuple[str, list[Any]]:
    where, params = ["1=1"], []
    if run_id is not None:
        where.append("c.run_id = ?")
        params.append(run_id)
    if principle_key:
        where.append("ps.key = ?")
        params.append(principle_key)
    if kind:
        where.append("c.kind = ?")
        params.append(kind)
    if search:
        where.append("(c.prompt_text LIKE ? OR c.response_a LIKE ? OR c.response_b LIKE ?)")
        like = f"%{search}%"
        params += [like, like, like]
    if reviewed is True:
        where.append("c.human_choice IS NOT NULL")
    elif reviewed is False:
        where.append("c.human_choice IS NULL")
    if min_margin:
        where.append("ABS(c.label - 0.5) >= ?")
        params.append(float(min_margin))
    return " AND ".join(where), params


def list_comparisons(
    project: Project,
    offset: int = 0,
    limit: int = 200,
    *,
    run_id: int | None = None,
    principle_key: str | None = None,
    kind: str | None = None,
    search: str | None = None,
    reviewed: bool | None = None,
    min_margin: float | None = None,
) -> list[dict[str, Any]]:
    """One page of comparisons, newest first (for the table view)."""
    where, params = _filters(run_id, principle_key, kind, search, reviewed, min_margin)
    return project.query(
        f"""SELECT c.id, c.run_id, c.source, c.source_id, c.prompt_text AS prompt, c.response_a, c.response_b,
                   c.p_a, c.p_b, c.raw_label, c.label, c.order_shift, c.mode, c.clamp, c.kind,
                   c.feedback_model, c.human_choice, ps.key AS principle_key, c.created_at
            FROM comparisons c LEFT JOIN principle_snapshots ps ON ps.id = c.principle_snapshot_id
            WHERE {where} ORDER BY c.id DESC LIMIT ? OFFSET ?""",
        [*params, int(limit), int(offset)],
    )


def count_comparisons(project: Project, **filters: Any) -> int:
    where, params = _filters(
        filters.get("run_id"), filters.get("principle_key"), filters.get("kind"), filters.get("search"),
        filters.get("reviewed"), filters.get("min_margin"),
    )
    return project.db.execute(
        f"""SELECT COUNT(*) FROM comparisons c LEFT JOIN principle_snapshots ps ON ps.id = c.principle_snapshot_id
            WHERE {where}""",
        params,
    ).fetchone()[0]


def get_comparison(project: Project, comparison_id: int) -> dict[str, Any]:
    rows = project.query(
        """SELECT c.*, ps.key AS principle_key, ps.title AS principle_title,
                  ps.comparison_question, ps.constitution_name
           FROM comparisons c LEFT JOIN principle_snapshots ps ON ps.id = c.principle_snapshot_id
           WHERE c.id = ?""",
        [comparison_id],
    )
    if not rows:
        raise ProjectError(f"No comparison {comparison_id} in this project.")
    c = rows[0]
    c["reviews"] = project.query(
        "SELECT * FROM reviews WHERE target_kind='comparison' AND target_id=? ORDER BY id", [comparison_id]
    )
    return c


REVIEW_FIELDS = ("human_choice", "reviewer", "reviewed_at")


def review_comparison(
    project: Project, comparison_id: int, choice: str, reviewer: str = "", note: str | None = None
) -> int:
    """Record a human judgement (A, B, tie or both-bad) beside the AI label; returns the id of
    its entry in the review log (what an undo removes)."""
    if choice not in REVIEW_CHOICES:
        raise ValidationError(f"Unknown choice {choice!r}; use one of {', '.join(REVIEW_CHOICES)}.")
    return _record(project, comparison_id, choice, reviewer, note)


def reset_comparison_review(project: Project, comparison_id: int, reviewer: str = "", note: str | None = None) -> int:
    """Clear the human choice (the AI label counts again); the log keeps the earlier choice."""
    return _record(project, comparison_id, None, reviewer, note)


def _record(project: Project, comparison_id: int, choice: str | None, reviewer: str, note: str | None) -> int:
    ts = now()
    with project.db.atomic():
        _require_comparison(project, comparison_id)
        project.db["comparisons"].update(
            comparison_id, {"human_choice": choice, "reviewer": reviewer, "reviewed_at": ts}
        )
        return project.db["reviews"].insert(
            {"target_kind": "comparison", "target_id": comparison_id, "reviewer": reviewer,
             "decision": choice or "unreviewed", "edited_text": None, "note": note, "created_at": ts}
        ).last_pk


def comparison_review_state(project: Project, comparison_id: int) -> dict[str, Any]:
    """The comparison's review fields now (kept by an undoable choice to put them back)."""
    rows = project.query(f"SELECT {', '.join(REVIEW_FIELDS)} FROM comparisons WHERE id=?", [comparison_id])
    if not rows:
        raise ProjectError(f"No comparison {comparison_id} in this project.")
    return rows[0]


def undo_comparison_review(project: Project, comparison_id: int, review_id: int, before: dict[str, Any]) -> None:
    """Take back review ``review_id``: remove it from the log and restore the fields ``before`` it.

    Only the latest review can be taken back, so an undo never erases a later decision.
    """
    with project.db.atomic():
        _require_comparison(project, comparison_id)
        latest = project.db.execute(
            "SELECT id, reviewer FROM reviews WHERE target_kind='comparison' AND target_id=? ORDER BY id DESC LIMIT 1",
            [comparison_id],
        ).fetchone()
        if latest is None or latest[0] != review_id:
            by = f" by {latest[1]}" if latest and latest[1] else ""
            raise ProjectError(f"Comparison #{comparison_id} was reviewed again since{by}; that later review is kept.")
        project.db.execute("DELETE FROM reviews WHERE id=?", [review_id])
        project.db["comparisons"].update(comparison_id, {k: before.get(k) for k in REVIEW_FIELDS})


def _require_comparison(project: Project, comparison_id: int) -> None:
    if not project.db.execute("SELECT 1 FROM comparisons WHERE id=?", [comparison_id]).fetchone():
        raise ProjectError(f"No comparison {comparison_id} in this project.")


def comparison_principle_keys(project: Project) -> list[str]:
    """Keys of the principles that decided some comparison (for a filter)."""
    return [r[0] for r in project.db.execute(
        "SELECT DISTINCT ps.key FROM comparisons c JOIN principle_snapshots ps "
        "ON ps.id = c.principle_snapshot_id ORDER BY ps.key"
    )]


def agreement(project: Project) -> dict[str, Any]:
    """How often reviewers agreed with the AI label, among A/B choices on decided AI labels
    (ties and both-bad say nothing about which side the AI should have picked)."""
    r = project.query(
        """SELECT COUNT(*) AS total,
                  SUM(CASE WHEN human_choice IS NOT NULL THEN 1 ELSE 0 END) AS any_review,
                  SUM(CASE WHEN human_choice IN ('A', 'B') AND label IS NOT NULL AND label != 0.5
                           THEN 1 ELSE 0 END) AS reviewed,
                  SUM(CASE WHEN (human_choice = 'A' AND label > 0.5) OR (human_choice = 'B' AND label < 0.5)
                           THEN 1 ELSE 0 END) AS agree
           FROM comparisons"""
    )[0]
    reviewed, agree = int(r["reviewed"] or 0), int(r["agree"] or 0)
    return {"total": int(r["total"] or 0), "any_review": int(r["any_review"] or 0), "reviewed": reviewed,
            "agree": agree, "rate": agree / reviewed if reviewed else None}


def _effective_label(label: float | None, human: str | None) -> float | None:
    """A human choice wins over the AI label; both-bad drops the pair (None)."""
    if human == "A":
        return 1.0
    if human == "B":
        return 0.0
    if human == "tie":
        return 0.5
    if human == "both-bad":
        return None
    return label


def preference_pairs(
    project: Project,
    run_ids: list[int] | None = None,
    min_margin: float = 0.0,
    split: str | None = None,
    kind: str | None = None,
    use_human: bool = True,
) -> list[dict[str, Any]]:
    """Labelled comparisons as ``{"prompt", "chosen", "rejected", "label", "kind", "split", "comparison_id"}``.

    ``chosen`` is the side the (human-overridden) soft label prefers and ``label`` the
    probability that it is better (>= 0.5). Pairs with ``|label - 0.5| < min_margin`` are
    dropped, and so are pairs a reviewer marked both-bad. ``split`` is the prompt's split.
    """
    where, params = ["c.label IS NOT NULL"], []
    if run_ids:
        where.append(f"c.run_id IN ({','.join('?' * len(run_ids))})")
        params += list(run_ids)
    if split:
        where.append("COALESCE(p.split, 'train') = ?")
        params.append(split)
    if kind:
        where.append("c.kind = ?")
        params.append(kind)
    rows = project.query(
        f"""SELECT c.id, c.prompt_text, c.response_a, c.response_b, c.label, c.human_choice, c.kind,
                   COALESCE(p.split, 'train') AS split
            FROM comparisons c LEFT JOIN prompts p ON p.id = c.prompt_id
            WHERE {' AND '.join(where)} ORDER BY c.id""",
        params,
    )
    out = []
    for r in rows:
        label = _effective_label(r["label"], r["human_choice"] if use_human else None)
        if label is None or abs(label - 0.5) < min_margin:
            continue
        a_wins = label >= 0.5
        out.append({
            "prompt": r["prompt_text"],
            "chosen": r["response_a"] if a_wins else r["response_b"],
            "rejected": r["response_b"] if a_wins else r["response_a"],
            "label": label if a_wins else 1.0 - label,
            "kind": r["kind"], "split": r["split"], "comparison_id": r["id"],
        })
    return out


def principle_label_stats(project: Project, run_id: int | None = None) -> list[dict[str, Any]]:
    """Per comparison principle: how often it decided a label, how decisive it was (mean
    |label - 0.5|), how often it picked A, the mean order shift, and agreement with humans."""
    where, params = "", []
    if run_id is not None:
        where = "WHERE c.run_id = ?"
        params.append(run_id)
    return project.query(
        f"""SELECT COALESCE(ps.key, '(none)') AS principle_key, COUNT(*) AS n,
                   AVG(ABS(c.label - 0.5)) AS mean_margin,
                   AVG(CASE WHEN c.label > 0.5 THEN 1.0 ELSE 0.0 END) AS share_a,
                   AVG(c.order_shift) AS mean_order_shift,
                   SUM(CASE WHEN c.human_choice IN ('A', 'B') THEN 1 ELSE 0 END) AS n_reviewed,
                   SUM(CASE WHEN (c.human_choice = 'A' AND c.label > 0.5) OR (c.human_choice = 'B' AND c.label < 0.5)
                            THEN 1 ELSE 0 END) AS n_agree
            FROM comparisons c LEFT JOIN principle_snapshots ps ON ps.id = c.principle_snapshot_id
            {where} GROUP BY ps.key ORDER BY n DESC""",
        params,
    )
