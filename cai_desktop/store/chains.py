"""Critique → revision chains: saving per batch, paged listing for big tables, reviews, and the
data selections that exports and SFT use.

Round 0 of a chain is the initial answer (its ``revision`` column holds the answer); rounds 1..N
hold a critique and a revision under the principle snapshot drawn for that round.
"""

from __future__ import annotations

import json
import random
from typing import Any

from cai_desktop.core.errors import ProjectError, ValidationError
from cai_desktop.core.prompting import revision_flaw
from cai_desktop.store.project import Project, now

REVIEW_STATES = ("unreviewed", "accepted", "rejected", "edited")


def done_prompt_ids(project: Project, run_id: int) -> set[int]:
    """Prompt ids that already have a (complete) chain in this run: a resumed run skips them."""
    return {r[0] for r in project.db.execute("SELECT prompt_id FROM chains WHERE run_id=?", [run_id])}


def chain_ids_done(project: Project, run_id: int) -> set[int]:
    """Chain ids already committed in this run (chains are committed whole, never partly)."""
    return {r[0] for r in project.db.execute("SELECT id FROM chains WHERE run_id=?", [run_id])}


def find_chain(project: Project, run_id: int, prompt_id: int) -> int | None:
    row = project.db.execute("SELECT id FROM chains WHERE run_id=? AND prompt_id=?", [run_id, prompt_id]).fetchone()
    return row[0] if row else None


def save_chains(project: Project, chains: list[dict[str, Any]]) -> list[int]:
    """Insert finished chains with all their steps in one transaction (one batch)."""
    ids = []
    ts = now()
    with project.db.atomic():
        for c in chains:
            steps = c["steps"]
            row = {k: v for k, v in c.items() if k != "steps"}
            row.setdefault("created_at", ts)
            row["sampling_json"] = json.dumps(row.pop("sampling", {}))
            cid = project.db["chains"].insert(row).last_pk
            project.db["chain_steps"].insert_all([{**s, "chain_id": cid, "created_at": ts} for s in steps])
            ids.append(cid)
    return ids


def _filters(
    principle_key: str | None, review_status: str | None, search: str | None, run_id: int | None,
    prompt_set: str | None = None,
) -> tuple[str, list[Any]]:
    where, params = ["1=1"], []
    if run_id is not None:
        where.append("c.run_id = ?")
        params.append(run_id)
    if review_status:
        where.append("c.review_status = ?")
        params.append(review_status)
    if principle_key:
        where.append(
            "EXISTS (SELECT 1 FROM chain_steps s JOIN principle_snapshots ps ON ps.id = s.principle_snapshot_id "
            "WHERE s.chain_id = c.id AND ps.key = ?)"
        )
        params.append(principle_key)
    if search:
        where.append("(p.text LIKE ? OR c.final_text LIKE ? OR c.initial_text LIKE ?)")
        like = f"%{search}%"
        params += [like, like, like]
    if prompt_set:
        where.append("p.set_id = (SELECT id FROM prompt_sets WHERE name = ?)")
        params.append(prompt_set)
    return " AND ".join(where), params


def list_chains(
    project: Project,
    offset: int = 0,
    limit: int = 200,
    *,
    principle_key: str | None = None,
    review_status: str | None = None,
    search: str | None = None,
    run_id: int | None = None,
    prompt_set: str | None = None,
) -> list[dict[str, Any]]:
    """One page of chains, newest first: id, prompt, final text, review status, rounds."""
    where, params = _filters(principle_key, review_status, search, run_id, prompt_set)
    return project.query(
        f"""SELECT c.id, c.run_id, p.text AS prompt, c.initial_text, c.final_text, c.review_status,
                   c.n_revisions, c.human_revision, c.model_spec, c.created_at
            FROM chains c JOIN prompts p ON p.id = c.prompt_id
            WHERE {where} ORDER BY c.id DESC LIMIT ? OFFSET ?""",
        [*params, int(limit), int(offset)],
    )


def count_chains(project: Project, **filters: Any) -> int:
    where, params = _filters(
        filters.get("principle_key"), filters.get("review_status"), filters.get("search"),
        filters.get("run_id"), filters.get("prompt_set"),
    )
    return project.db.execute(
        f"SELECT COUNT(*) FROM chains c JOIN prompts p ON p.id = c.prompt_id WHERE {where}", params
    ).fetchone()[0]


def get_chain(project: Project, chain_id: int) -> dict[str, Any]:
    rows = project.query(
        """SELECT c.*, p.text AS prompt, p.category, p.split, s.name AS prompt_set, s.kind AS set_kind,
                  k.name AS constitution
           FROM chains c JOIN prompts p ON p.id = c.prompt_id JOIN prompt_sets s ON s.id = p.set_id
           LEFT JOIN constitutions k ON k.id = c.constitution_id WHERE c.id = ?""",
        [chain_id],
    )
    if not rows:
        raise ProjectError(f"No chain {chain_id} in this project.")
    chain = rows[0]
    chain["sampling"] = json.loads(chain.pop("sampling_json") or "{}")
    chain["steps"] = project.query(
        """SELECT s.round, s.critique, s.revision, s.raw_revision, s.cleaned, s.seed,
                  ps.key AS principle_key, ps.title AS principle_title,
                  ps.critique_request, ps.revision_request
           FROM chain_steps s LEFT JOIN principle_snapshots ps ON ps.id = s.principle_snapshot_id
           WHERE s.chain_id = ? ORDER BY s.round""",
        [chain_id],
    )
    chain["reviews"] = project.query(
        "SELECT * FROM reviews WHERE target_kind='chain' AND target_id=? ORDER BY id", [chain_id]
    )
    return chain


REVIEW_FIELDS = ("review_status", "human_revision", "reviewer", "reviewed_at", "note")


def review_chain(
    project: Project,
    chain_id: int,
    decision: str,
    reviewer: str = "",
    edited_text: str | None = None,
    note: str | None = None,
) -> int:
    """Record a review; returns its id in the review log (what an undo removes).

    An edit keeps the model's revision and stores the human one beside it.
    """
    if decision not in REVIEW_STATES:
        raise ValidationError(f"Unknown review decision {decision!r}; use one of {', '.join(REVIEW_STATES)}.")
    if decision == "edited" and not (edited_text or "").strip():
        raise ValidationError("An edited revision cannot be empty.")
    ts = now()
    with project.db.atomic():
        _require_chain(project, chain_id)
        fields: dict[str, Any] = {"review_status": decision, "reviewer": reviewer, "reviewed_at": ts}
        if decision == "edited":
            fields["human_revision"] = edited_text
        if note is not None:
            fields["note"] = note
        project.db["chains"].update(chain_id, fields)
        return project.db["reviews"].insert(
            {"target_kind": "chain", "target_id": chain_id, "reviewer": reviewer, "decision": decision,
             "edited_text": edited_text, "note": note, "created_at": ts}
        ).last_pk


def reset_chain_review(project: Project, chain_id: int, reviewer: str = "", note: str | None = None) -> int:
    """Back to unreviewed: the decision and any human revision leave the chain, so training no
    longer uses them; the review log keeps both (the edit stays readable there)."""
    ts = now()
    with project.db.atomic():
        _require_chain(project, chain_id)
        fields: dict[str, Any] = {"review_status": "unreviewed", "human_revision": None, "reviewer": reviewer,
                                  "reviewed_at": ts}
        if note is not None:
            fields["note"] = note
        project.db["chains"].update(chain_id, fields)
        return project.db["reviews"].insert(
            {"target_kind": "chain", "target_id": chain_id, "reviewer": reviewer, "decision": "unreviewed",
             "edited_text": None, "note": note, "created_at": ts}
        ).last_pk


def chain_review_state(project: Project, chain_id: int) -> dict[str, Any]:
    """The chain's review fields now (kept by an undoable review to put them back)."""
    rows = project.query(f"SELECT {', '.join(REVIEW_FIELDS)} FROM chains WHERE id=?", [chain_id])
    if not rows:
        raise ProjectError(f"No chain {chain_id} in this project.")
    return rows[0]


def undo_chain_review(project: Project, chain_id: int, review_id: int, before: dict[str, Any]) -> None:
    """Take back review ``review_id``: remove it from the log and restore the fields ``before`` it.

    Only the latest review of the chain can be taken back, so an undo never erases a decision
    someone (or another window) made since.
    """
    with project.db.atomic():
        _require_chain(project, chain_id)
        latest = project.db.execute(
            "SELECT id, reviewer FROM reviews WHERE target_kind='chain' AND target_id=? ORDER BY id DESC LIMIT 1",
            [chain_id],
        ).fetchone()
        if latest is None or latest[0] != review_id:
            by = f" by {latest[1]}" if latest and latest[1] else ""
            raise ProjectError(f"Chain #{chain_id} was reviewed again since{by}; that later review is kept.")
        project.db.execute("DELETE FROM reviews WHERE id=?", [review_id])
        project.db["chains"].update(chain_id, {k: before.get(k) for k in REVIEW_FIELDS})


def _require_chain(project: Project, chain_id: int) -> None:
    if not project.db.execute("SELECT 1 FROM chains WHERE id=?", [chain_id]).fetchone():
        raise ProjectError(f"No chain {chain_id} in this project.")


def principle_keys(project: Project) -> list[dict[str, Any]]:
    """``{"key", "title"}`` of every principle ever drawn (for a filter): snapshots, not the live
    constitution, so principles since renamed or deleted still filter their chains."""
    return project.query("SELECT key, MAX(title) AS title FROM principle_snapshots GROUP BY key ORDER BY key")


def chain_runs(project: Project) -> list[dict[str, Any]]:
    """Runs that made chains, newest first: ``{"id", "name", "n"}`` (for the inspector's run filter)."""
    return project.query(
        """SELECT r.id, r.name, x.n FROM (SELECT run_id, COUNT(*) AS n FROM chains GROUP BY run_id) x
           JOIN runs r ON r.id = x.run_id ORDER BY r.id DESC"""
    )


def chain_prompt_sets(project: Project) -> list[str]:
    """Names of the prompt sets that have chains (for the inspector's prompt-set filter)."""
    return [r[0] for r in project.db.execute(
        """SELECT s.name FROM prompt_sets s
           WHERE s.id IN (SELECT DISTINCT p.set_id FROM chains c JOIN prompts p ON p.id = c.prompt_id)
           ORDER BY s.name"""
    )]


def principle_stats(project: Project, constitution_name: str | None = None) -> list[dict[str, Any]]:
    """Per principle key: times drawn and how often its revision changed the answer."""
    params: list[Any] = []
    where = ""
    if constitution_name:
        where = "WHERE c.constitution_id = (SELECT id FROM constitutions WHERE name = ?)"
        params.append(constitution_name)
    return project.query(
        f"""WITH ordered AS (
                SELECT s.chain_id, s.round, s.revision, s.principle_snapshot_id,
                       LAG(s.revision) OVER (PARTITION BY s.chain_id ORDER BY s.round) AS before
                FROM chain_steps s JOIN chains c ON c.id = s.chain_id {where})
            SELECT ps.key, COUNT(*) AS drawn,
                   SUM(CASE WHEN TRIM(o.revision) != TRIM(COALESCE(o.before, '')) THEN 1 ELSE 0 END) AS changed
            FROM ordered o JOIN principle_snapshots ps ON ps.id = o.principle_snapshot_id
            WHERE o.round > 0 GROUP BY ps.key ORDER BY drawn DESC""",
        params,
    )


# -- data selections -------------------------------------------------------------------------------
def _selected_chains(
    project: Project, kind: str, split: str | None, only_accepted: bool, run_ids: list[int] | None
) -> list[dict[str, Any]]:
    where = ["s.kind = ?", "c.review_status != 'rejected'"]
    params: list[Any] = [kind]
    if split:
        where.append("p.split = ?")
        params.append(split)
    if only_accepted:
        where.append("c.review_status IN ('accepted', 'edited')")
    if run_ids:
        where.append(f"c.run_id IN ({','.join('?' * len(run_ids))})")
        params += list(run_ids)
    return project.query(
        f"""SELECT c.id, p.text AS prompt, c.initial_text, c.final_text, c.human_revision, c.n_revisions
            FROM chains c JOIN prompts p ON p.id = c.prompt_id JOIN prompt_sets s ON s.id = p.set_id
            WHERE {' AND '.join(where)} ORDER BY c.id""",
        params,
    )


def _revisions_of(project: Project, chain_id: int) -> list[tuple[str, str | None]]:
    """``(revision, critique)`` of each round, in order."""
    return [(r[0], r[1]) for r in project.db.execute(
        "SELECT revision, critique FROM chain_steps WHERE chain_id=? AND round>0 ORDER BY round", [chain_id]
    )]


def sft_records(
    project: Project,
    mode: str = "final",
    include_helpful: bool = True,
    helpful_ratio: float | None = None,
    split: str | None = "train",
    only_accepted: bool = False,
    run_ids: list[int] | None = None,
    seed: int = 0,
    skip_flawed: bool = False,
    stats: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """``{"messages": [user, assistant]}`` records: revisions (human edits win) + helpful answers.

    ``mode='every'`` yields one record per revision round. ``helpful_ratio`` caps helpful
    examples at that many per harmlessness example (None = all of them). ``skip_flawed`` leaves
    out model revisions that ``core.prompting.revision_flaw`` rejects (they talk about the answer or
    repeat the critique); in 'final' mode the chain then falls back to its latest sound revision.
    ``stats`` (if given) receives ``flawed_skipped`` and ``fell_back`` counts.
    """
    if mode not in ("final", "every"):
        raise ValidationError("The SFT data mode must be 'final' or 'every'.")
    counts = {"flawed_skipped": 0, "fell_back": 0}
    records = []
    for c in _selected_chains(project, "red-team", split, only_accepted, run_ids):
        if c["n_revisions"] == 0:
            continue
        if c["human_revision"]:
            texts = [c["human_revision"]]
        elif not skip_flawed:
            texts = [r for r, _ in _revisions_of(project, c["id"])] if mode == "every" else [c["final_text"]]
        else:
            rounds = _revisions_of(project, c["id"])
            sound = [i for i, (r, crit) in enumerate(rounds) if revision_flaw(r, crit) is None]
            if mode == "every":
                texts = [rounds[i][0] for i in sound]
                counts["flawed_skipped"] += len(rounds) - len(sound)
            else:
                texts = [rounds[sound[-1]][0]] if sound else []
                counts["flawed_skipped"] += int(not sound)
                counts["fell_back"] += int(bool(sound) and sound[-1] != len(rounds) - 1)
        for t in texts:
            if t and t.strip():
                records.append({"messages": [{"role": "user", "content": c["prompt"]},
                                             {"role": "assistant", "content": t}]})
    if include_helpful:
        helpful = [
            {"messages": [{"role": "user", "content": c["prompt"]},
                          {"role": "assistant", "content": c["human_revision"] or c["final_text"] or c["initial_text"]}]}
            for c in _selected_chains(project, "helpful", split, only_accepted, run_ids)
            if (c["human_revision"] or c["final_text"] or c["initial_text"] or "").strip()
        ]
        if helpful_ratio is not None:
            cap = int(round(helpful_ratio * len(records)))
            random.Random(seed).shuffle(helpful)
            helpful = helpful[:cap]
        records += helpful
    if stats is not None:
        stats.update(counts)
    return records


def preference_records(
    project: Project,
    split: str | None = "train",
    only_accepted: bool = False,
    run_ids: list[int] | None = None,
) -> list[dict[str, str]]:
    """``{"prompt", "chosen", "rejected"}``: the (final or human-edited) revision over the original."""
    out = []
    for c in _selected_chains(project, "red-team", split, only_accepted, run_ids):
        chosen = c["human_revision"] or c["final_text"]
        if c["n_revisions"] and chosen and chosen.strip() != (c["initial_text"] or "").strip():
            out.append({"prompt": c["prompt"], "chosen": chosen, "rejected": c["initial_text"]})
    return out
