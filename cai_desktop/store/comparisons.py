"""Stage 2 records: AI comparisons (soft labels) and their human reviews, and the preference
selections that the preference model and DPO train on (response pairs: ``store.pairs``).

A comparison's ``label`` is the probability that its stored ``response_a`` is the better answer
(clamped in chain-of-thought mode; ``raw_label`` keeps the unclamped value). A human review
(A, B, tie, both-bad) is kept beside the AI label and overrides it in the selections.
"""

from __future__ import annotations

from typing import Any

from cai_desktop.core.errors import ProjectError, ValidationError
from cai_desktop.store.base import Manager, now

REVIEW_CHOICES = ("A", "B", "tie", "both-bad")
REVIEW_FIELDS = ("human_choice", "reviewer", "reviewed_at")
SOURCES = ("pair", "chain", "distill", "matchup")
#: held-out head-to-head comparisons of policies (jobs/compare.py): judged, never trained on
EVALUATION_SOURCES = ("matchup",)
COMPARISON_FIELDS = (
    "run_id", "source", "source_id", "prompt_id", "prompt_text", "response_a", "response_b",
    "principle_snapshot_id", "feedback_model", "mode", "clamp", "p_a", "p_b", "raw_label", "label",
    "order_shift", "reasoning", "seed", "kind",
)


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


class Comparisons(Manager):
    """``project.comparisons``."""

    def labelled_source_ids(self, run_id: int, source: str) -> set[int]:
        return {r[0] for r in self.db.execute(
            "SELECT source_id FROM comparisons WHERE run_id=? AND source=?", [run_id, source]
        )}

    def save(self, rows: list[dict[str, Any]]) -> int:
        """Insert one batch of comparisons in one transaction (a duplicate source is skipped)."""
        ts = now()
        n = 0
        cols = ", ".join(COMPARISON_FIELDS) + ", created_at"
        marks = ", ".join("?" * (len(COMPARISON_FIELDS) + 1))
        with self.db.atomic():
            for r in rows:
                if r.get("source", "pair") not in SOURCES:
                    raise ValidationError(f"Unknown comparison source {r.get('source')!r}.")
                cur = self.db.execute(
                    f"INSERT OR IGNORE INTO comparisons ({cols}) VALUES ({marks})",
                    [r.get(f, "pair" if f == "source" else None) for f in COMPARISON_FIELDS] + [ts],
                )
                n += cur.rowcount
        return n

    def list(
        self,
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
        return self.query(
            f"""SELECT c.id, c.run_id, c.source, c.source_id, c.prompt_text AS prompt, c.response_a, c.response_b,
                       c.p_a, c.p_b, c.raw_label, c.label, c.order_shift, c.mode, c.clamp, c.kind,
                       c.feedback_model, c.human_choice, ps.key AS principle_key, c.created_at
                FROM comparisons c LEFT JOIN principle_snapshots ps ON ps.id = c.principle_snapshot_id
                WHERE {where} ORDER BY c.id DESC LIMIT ? OFFSET ?""",
            [*params, int(limit), int(offset)],
        )

    def count(self, **filters: Any) -> int:
        where, params = _filters(
            filters.get("run_id"), filters.get("principle_key"), filters.get("kind"), filters.get("search"),
            filters.get("reviewed"), filters.get("min_margin"),
        )
        return self.db.execute(
            f"""SELECT COUNT(*) FROM comparisons c LEFT JOIN principle_snapshots ps ON ps.id = c.principle_snapshot_id
                WHERE {where}""",
            params,
        ).fetchone()[0]

    def get(self, comparison_id: int) -> dict[str, Any]:
        rows = self.query(
            """SELECT c.*, ps.key AS principle_key, ps.title AS principle_title,
                      ps.comparison_question, ps.constitution_name
               FROM comparisons c LEFT JOIN principle_snapshots ps ON ps.id = c.principle_snapshot_id
               WHERE c.id = ?""",
            [comparison_id],
        )
        if not rows:
            raise ProjectError(f"No comparison {comparison_id} in this project.")
        c = rows[0]
        c["reviews"] = self.query(
            "SELECT * FROM reviews WHERE target_kind='comparison' AND target_id=? ORDER BY id", [comparison_id]
        )
        return c

    def review(self, comparison_id: int, choice: str, reviewer: str = "", note: str | None = None) -> int:
        """Record a human judgement (A, B, tie or both-bad) beside the AI label; returns the id of
        its entry in the review log (what an undo removes)."""
        if choice not in REVIEW_CHOICES:
            raise ValidationError(f"Unknown choice {choice!r}; use one of {', '.join(REVIEW_CHOICES)}.")
        return self._record(comparison_id, choice, reviewer, note)

    def reset_review(self, comparison_id: int, reviewer: str = "", note: str | None = None) -> int:
        """Clear the human choice (the AI label counts again); the log keeps the earlier choice."""
        return self._record(comparison_id, None, reviewer, note)

    def _record(self, comparison_id: int, choice: str | None, reviewer: str, note: str | None) -> int:
        # one reviewer's decision in the log; the comparison's columns then hold the final decision
        # under the project's review policy (``project.reviews``)
        return self.project.reviews.add("comparison", comparison_id, choice or "unreviewed", reviewer, None, note)

    def review_state(self, comparison_id: int) -> dict[str, Any]:
        """The comparison's review fields now (kept by an undoable choice to put them back)."""
        rows = self.query(f"SELECT {', '.join(REVIEW_FIELDS)} FROM comparisons WHERE id=?", [comparison_id])
        if not rows:
            raise ProjectError(f"No comparison {comparison_id} in this project.")
        return rows[0]

    def undo_review(self, comparison_id: int, review_id: int, before: dict[str, Any]) -> None:
        """Take back review ``review_id``: remove it from the log and restore the fields ``before`` it.

        Only the latest review can be taken back, so an undo never erases a later decision.
        """
        with self.db.atomic():
            self._require(comparison_id)
            latest = self.db.execute(
                "SELECT id, reviewer FROM reviews WHERE target_kind='comparison' AND target_id=? ORDER BY id DESC LIMIT 1",
                [comparison_id],
            ).fetchone()
            if latest is None or latest[0] != review_id:
                by = f" by {latest[1]}" if latest and latest[1] else ""
                raise ProjectError(f"Comparison #{comparison_id} was reviewed again since{by}; that later review is kept.")
            self.db.execute("DELETE FROM reviews WHERE id=?", [review_id])
            self.db["comparisons"].update(comparison_id, {k: before.get(k) for k in REVIEW_FIELDS})
            if self.project.reviews.policy()["policy"] != "single":
                self.project.reviews.materialize("comparison", comparison_id)

    def _require(self, comparison_id: int) -> None:
        if not self.db.execute("SELECT 1 FROM comparisons WHERE id=?", [comparison_id]).fetchone():
            raise ProjectError(f"No comparison {comparison_id} in this project.")

    def principle_keys(self) -> list[str]:
        """Keys of the principles that decided some comparison (for a filter)."""
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT ps.key FROM comparisons c JOIN principle_snapshots ps "
            "ON ps.id = c.principle_snapshot_id ORDER BY ps.key"
        )]

    def preference_pairs(
        self,
        run_ids: list[int] | None = None,
        min_margin: float = 0.0,
        split: str | None = None,
        kind: str | None = None,
        use_human: bool = True,
        sources: tuple[str, ...] | None = None,
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
        if sources is not None:
            where.append(f"c.source IN ({','.join('?' * len(sources))})")
            params += list(sources)
        else:  # evaluation matchups answer held-out prompts: never preference data
            where.append(f"c.source NOT IN ({','.join('?' * len(EVALUATION_SOURCES))})")
            params += list(EVALUATION_SOURCES)
        rows = self.query(
            f"""SELECT c.id, c.prompt_text, c.response_a, c.response_b, c.label, c.human_choice, c.kind, c.source,
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
                "source": "human" if use_human and r["human_choice"] else
                          ("distilled" if r["source"] == "distill" else "ai_label"),
            })
        return out
