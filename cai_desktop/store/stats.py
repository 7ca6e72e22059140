"""Statistics over the project: counts, reviewer agreement, what each principle did."""

from __future__ import annotations

from typing import Any

from cai_desktop.store.base import Manager


class Stats(Manager):
    """``project.stats``."""

    def counts(self) -> dict[str, int]:
        """How many constitutions, prompts, chains and runs the project holds (a one-line summary)."""
        row = self.db.execute(
            "SELECT (SELECT COUNT(*) FROM constitutions), (SELECT COUNT(*) FROM prompts), "
            "(SELECT COUNT(*) FROM chains), (SELECT COUNT(*) FROM runs)"
        ).fetchone()
        return dict(zip(("constitutions", "prompts", "chains", "runs"), (int(x) for x in row), strict=True))

    def chain_changes(self, run_id: int) -> dict[str, Any]:
        """A critique run's chains: how many, and the share whose final text differs from the
        initial answer (``None`` when it made none)."""
        n, changed = self.db.execute(
            "SELECT COUNT(*), AVG(final_text != initial_text) FROM chains WHERE run_id=?", [run_id]
        ).fetchone()
        return {"chains": int(n), "changed": changed}

    def principles(self, constitution_name: str | None = None) -> list[dict[str, Any]]:
        """Per principle key: times drawn and how often its revision changed the answer."""
        params: list[Any] = []
        where = ""
        if constitution_name:
            where = "WHERE c.constitution_id = (SELECT id FROM constitutions WHERE name = ?)"
            params.append(constitution_name)
        return self.query(
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

    def agreement(self) -> dict[str, Any]:
        """How often reviewers agreed with the AI label, among A/B choices on decided AI labels
        (ties and both-bad say nothing about which side the AI should have picked)."""
        r = self.query(
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

    def principle_labels(self, run_id: int | None = None) -> list[dict[str, Any]]:
        """Per comparison principle: how often it decided a label, how decisive it was (mean
        |label - 0.5|), how often it picked A, the mean order shift, and agreement with humans."""
        where, params = "", []
        if run_id is not None:
            where = "WHERE c.run_id = ?"
            params.append(run_id)
        return self.query(
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
