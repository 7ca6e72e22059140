"""Critique → revision chains: saving per batch, paged listing for big tables, reviews, and the
data selections that exports, SFT and labelling use.

Round 0 of a chain is the initial answer (its ``revision`` column holds the answer); rounds 1..N
hold a critique and a revision under the principle snapshot drawn for that round.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from cai_desktop.core.errors import ProjectError, ValidationError
from cai_desktop.core.prompting import revision_flaw
from cai_desktop.store.base import Manager, now

REVIEW_STATES = ("unreviewed", "accepted", "rejected", "edited")
REVIEW_FIELDS = ("review_status", "human_revision", "reviewer", "reviewed_at", "note")


def kind_of_set(set_kind: str | None) -> str:
    """Comparison kind from the prompt set's kind: red-team → harmless, helpful → helpful."""
    return {"red-team": "harmless", "helpful": "helpful"}.get(set_kind or "", "other")


def _training_selection(split: str | None, only_accepted: bool,
                        run_ids: list[int] | None) -> tuple[list[str], list[Any]]:
    """The WHERE terms (and their parameters) of the chains training may use: not rejected, in
    ``split``, reviewed when ``only_accepted``, from ``run_ids`` when given."""
    where, params = ["c.review_status != 'rejected'"], []
    if split:
        where.append("p.split = ?")
        params.append(split)
    if only_accepted:
        where.append("c.review_status IN ('accepted', 'edited')")
    if run_ids:
        where.append(f"c.run_id IN ({','.join('?' * len(run_ids))})")
        params += list(run_ids)
    return where, params


def _swap(seed: int, chain_id: int) -> bool:
    return hashlib.sha256(f"{seed}:chain:{chain_id}".encode()).digest()[0] & 1 == 1


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


class Chains(Manager):
    """``project.chains``."""

    def done_prompt_ids(self, run_id: int) -> set[int]:
        """Prompt ids that already have a (complete) chain in this run: a resumed run skips them."""
        return {r[0] for r in self.db.execute("SELECT prompt_id FROM chains WHERE run_id=?", [run_id])}

    def ids_in_run(self, run_id: int) -> set[int]:
        """Chain ids already committed in this run (chains are committed whole, never partly)."""
        return {r[0] for r in self.db.execute("SELECT id FROM chains WHERE run_id=?", [run_id])}

    def find(self, run_id: int, prompt_id: int) -> int | None:
        row = self.db.execute("SELECT id FROM chains WHERE run_id=? AND prompt_id=?", [run_id, prompt_id]).fetchone()
        return row[0] if row else None

    def _insert_chain(self, row: dict[str, Any]) -> int | None:
        """``INSERT OR IGNORE`` one chain row: its id, or None when the run has one for that
        prompt already (two copies of a job racing keep the first, whole)."""
        cols = list(row)
        cur = self.db.execute(
            f"INSERT OR IGNORE INTO chains ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [row[c] for c in cols])
        return cur.lastrowid if cur.rowcount == 1 else None

    def save(self, chains: list[dict[str, Any]]) -> list[int]:
        """Insert finished chains with all their steps in one transaction (one batch). A chain the
        run already has for that prompt is kept as it is (its id is returned)."""
        ids = []
        ts = now()
        with self.db.atomic():
            for c in chains:
                steps = c["steps"]
                row = {k: v for k, v in c.items() if k != "steps"}
                row.setdefault("created_at", ts)
                row["sampling_json"] = json.dumps(row.pop("sampling", {}))
                cid = self._insert_chain(row)
                if cid is None:
                    ids.append(self.find(row["run_id"], row["prompt_id"]))
                    continue
                self.db["chain_steps"].insert_all([{**s, "chain_id": cid, "created_at": ts} for s in steps])
                ids.append(cid)
        return ids

    def list(
        self,
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
        return self.query(
            f"""SELECT c.id, c.run_id, p.text AS prompt, c.initial_text, c.final_text, c.review_status,
                       c.n_revisions, c.human_revision, c.model_spec, c.created_at
                FROM chains c JOIN prompts p ON p.id = c.prompt_id
                WHERE {where} ORDER BY c.id DESC LIMIT ? OFFSET ?""",
            [*params, int(limit), int(offset)],
        )

    def count(self, **filters: Any) -> int:
        where, params = _filters(
            filters.get("principle_key"), filters.get("review_status"), filters.get("search"),
            filters.get("run_id"), filters.get("prompt_set"),
        )
        return self.db.execute(
            f"SELECT COUNT(*) FROM chains c JOIN prompts p ON p.id = c.prompt_id WHERE {where}", params
        ).fetchone()[0]

    def get(self, chain_id: int) -> dict[str, Any]:
        rows = self.query(
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
        chain["steps"] = self.query(
            """SELECT s.round, s.critique, s.revision, s.raw_revision, s.cleaned, s.seed,
                      ps.key AS principle_key, ps.title AS principle_title,
                      ps.critique_request, ps.revision_request
               FROM chain_steps s LEFT JOIN principle_snapshots ps ON ps.id = s.principle_snapshot_id
               WHERE s.chain_id = ? ORDER BY s.round""",
            [chain_id],
        )
        chain["reviews"] = self.query(
            "SELECT * FROM reviews WHERE target_kind='chain' AND target_id=? ORDER BY id", [chain_id]
        )
        return chain

    def review(
        self,
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
        # one reviewer's decision in the log; the chain's columns then hold the final decision under
        # the project's review policy (``project.reviews``), so another reviewer's is never overwritten
        return self.project.reviews.add("chain", chain_id, decision, reviewer, edited_text, note)

    def reset_review(self, chain_id: int, reviewer: str = "", note: str | None = None) -> int:
        """Withdraw this reviewer's decision (back to unreviewed under the single-reviewer policy): the
        decision and any human revision leave the chain, so training no longer uses them; the review
        log keeps both (the edit stays readable there)."""
        return self.project.reviews.add("chain", chain_id, "unreviewed", reviewer, None, note)

    def review_state(self, chain_id: int) -> dict[str, Any]:
        """The chain's review fields now (kept by an undoable review to put them back)."""
        rows = self.query(f"SELECT {', '.join(REVIEW_FIELDS)} FROM chains WHERE id=?", [chain_id])
        if not rows:
            raise ProjectError(f"No chain {chain_id} in this project.")
        return rows[0]

    def undo_review(self, chain_id: int, review_id: int, before: dict[str, Any]) -> None:
        """Take back review ``review_id``: remove it from the log and restore the fields ``before`` it.

        Only the latest review of the chain can be taken back, so an undo never erases a decision
        someone (or another window) made since.
        """
        with self.db.atomic():
            self._require(chain_id)
            latest = self.db.execute(
                "SELECT id, reviewer FROM reviews WHERE target_kind='chain' AND target_id=? ORDER BY id DESC LIMIT 1",
                [chain_id],
            ).fetchone()
            if latest is None or latest[0] != review_id:
                by = f" by {latest[1]}" if latest and latest[1] else ""
                raise ProjectError(f"Chain #{chain_id} was reviewed again since{by}; that later review is kept.")
            self.db.execute("DELETE FROM reviews WHERE id=?", [review_id])
            self.db["chains"].update(chain_id, {k: before.get(k) for k in REVIEW_FIELDS})
            if self.project.reviews.policy()["policy"] != "single":
                self.project.reviews.materialize("chain", chain_id)

    def _require(self, chain_id: int) -> None:
        if not self.db.execute("SELECT 1 FROM chains WHERE id=?", [chain_id]).fetchone():
            raise ProjectError(f"No chain {chain_id} in this project.")

    def principle_keys(self) -> list[dict[str, Any]]:
        """``{"key", "title"}`` of every principle ever drawn (for a filter): snapshots, not the live
        constitution, so principles since renamed or deleted still filter their chains."""
        return self.query("SELECT key, MAX(title) AS title FROM principle_snapshots GROUP BY key ORDER BY key")

    def runs(self) -> list[dict[str, Any]]:
        """Runs that made chains, newest first: ``{"id", "name", "n"}`` (for the inspector's run filter)."""
        return self.query(
            """SELECT r.id, r.name, x.n FROM (SELECT run_id, COUNT(*) AS n FROM chains GROUP BY run_id) x
               JOIN runs r ON r.id = x.run_id ORDER BY r.id DESC"""
        )

    def prompt_sets(self) -> list[str]:
        """Names of the prompt sets that have chains (for the inspector's prompt-set filter)."""
        return [r[0] for r in self.db.execute(
            """SELECT s.name FROM prompt_sets s
               WHERE s.id IN (SELECT DISTINCT p.set_id FROM chains c JOIN prompts p ON p.id = c.prompt_id)
               ORDER BY s.name"""
        )]

    # -- data selections ---------------------------------------------------------------------------
    def _selected(
        self, kind: str, split: str | None, only_accepted: bool, run_ids: list[int] | None
    ) -> list[dict[str, Any]]:
        where, params = _training_selection(split, only_accepted, run_ids)
        where, params = ["s.kind = ?", *where], [kind, *params]
        return self.query(
            f"""SELECT c.id, p.text AS prompt, c.initial_text, c.final_text, c.human_revision, c.n_revisions
                FROM chains c JOIN prompts p ON p.id = c.prompt_id JOIN prompt_sets s ON s.id = p.set_id
                WHERE {' AND '.join(where)} ORDER BY c.id""",
            params,
        )

    def _revisions_of(self, chain_id: int) -> list[tuple[str, str | None]]:
        """``(revision, critique)`` of each round, in order."""
        return [(r[0], r[1]) for r in self.db.execute(
            "SELECT revision, critique FROM chain_steps WHERE chain_id=? AND round>0 ORDER BY round", [chain_id]
        )]

    def sft_records(
        self,
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
        for c in self._selected("red-team", split, only_accepted, run_ids):
            if c["n_revisions"] == 0 and not c["human_revision"]:
                continue  # an answer without revisions (a human demonstration has its own text)
            if c["human_revision"]:
                texts = [c["human_revision"]]
            elif not skip_flawed:
                texts = [r for r, _ in self._revisions_of(c["id"])] if mode == "every" else [c["final_text"]]
            else:
                rounds = self._revisions_of(c["id"])
                sound = [i for i, (r, crit) in enumerate(rounds) if revision_flaw(r, crit) is None]
                if mode == "every":
                    texts = [rounds[i][0] for i in sound]
                    counts["flawed_skipped"] += len(rounds) - len(sound)
                else:
                    texts = [rounds[sound[-1]][0]] if sound else []
                    counts["flawed_skipped"] += int(not sound)
                    counts["fell_back"] += int(bool(sound) and sound[-1] != len(rounds) - 1)
            source = "human" if c["human_revision"] else "ai_revision"
            for t in texts:
                if t and t.strip():
                    records.append({"messages": [{"role": "user", "content": c["prompt"]},
                                                 {"role": "assistant", "content": t}], "source": source})
        if include_helpful:
            helpful = [
                {"messages": [{"role": "user", "content": c["prompt"]},
                              {"role": "assistant", "content": c["human_revision"] or c["final_text"] or c["initial_text"]}],
                 "source": "helpful"}
                for c in self._selected("helpful", split, only_accepted, run_ids)
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
        self,
        split: str | None = "train",
        only_accepted: bool = False,
        run_ids: list[int] | None = None,
        skip_flawed: bool = False,
    ) -> list[dict[str, str]]:
        """``{"prompt", "chosen", "rejected", "source"}``: the (final or human-edited) revision over
        the original answer (the Hugging Face CAI reproduction's DPO data). ``skip_flawed`` applies
        the SFT filter: a model revision that talks about the answer is replaced by the chain's latest
        sound one, and a chain with none is left out."""
        out = []
        for c in self._selected("red-team", split, only_accepted, run_ids):
            if not c["n_revisions"] or not (c["initial_text"] or "").strip():
                continue  # no model answer to reject (a human demonstration)
            chosen = c["human_revision"] or c["final_text"]
            if skip_flawed and not c["human_revision"]:
                sound = [r for r, crit in self._revisions_of(c["id"]) if revision_flaw(r, crit) is None]
                chosen = sound[-1] if sound else None
            if chosen and chosen.strip() != (c["initial_text"] or "").strip():
                out.append({"prompt": c["prompt"], "chosen": chosen, "rejected": c["initial_text"],
                            "source": "human" if c["human_revision"] else "ai_revision"})
        return out

    def add_demonstrations(self, run_id: int, rows: list[dict[str, Any]], reviewer: str = "") -> int:
        """Human demonstrations (the answer a reviewer wants for a prompt) as chains with no model
        text: ``rows`` are ``{"prompt_id", "text"}``. They count as human data in SFT."""
        ts = now()
        n = 0
        with self.db.atomic():
            for r in rows:
                text = (r.get("text") or "").strip()
                if not text:
                    continue
                cid = self._insert_chain({
                    "run_id": run_id, "prompt_id": r["prompt_id"], "model_spec": "human demonstration",
                    "style": "chat", "n_revisions": 0, "seed": 0, "sampling_json": json.dumps({"role": "human"}),
                    "initial_text": "", "final_text": text, "human_revision": text, "review_status": "edited",
                    "reviewer": reviewer or None, "reviewed_at": ts, "created_at": ts,
                })
                if cid is None:
                    continue  # that prompt has its demonstration in this run already
                self.db["chain_steps"].insert({"chain_id": cid, "round": 0, "revision": text, "raw_revision": text,
                                               "cleaned": 0, "seed": 0, "created_at": ts})
                self.db.execute(  # a demonstration is a decision in the log too (who wrote it, when)
                    "INSERT INTO reviews (target_kind, target_id, reviewer, decision, edited_text, created_at, "
                    "principle_text) VALUES ('chain', ?, ?, 'edited', ?, ?, '')", [cid, reviewer or "", text, ts])
                n += 1
        return n

    def for_labelling(
        self, run_ids: list[int] | None = None, split: str | None = None, seed: int = 0
    ) -> list[dict[str, Any]]:
        """Chains as comparisons to label: the original answer vs the final (or human) revision.

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
        rows = self.query(
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

    def lineage(
        self, split: str | None = "train", only_accepted: bool = False, run_ids: list[int] | None = None
    ) -> dict[str, Any]:
        """Constitution versions and critique runs of the red-team chains that SFT data comes from:
        ``{"constitutions": [{"name", "version", "chains"}], "critique_runs": [run ids]}``."""
        where, args = _training_selection(split, only_accepted, run_ids)
        where = ["s.kind = 'red-team'", "c.n_revisions > 0", *where]
        rows = self.query(
            f"""SELECT k.name AS name, c.constitution_version AS version, c.run_id AS run_id, COUNT(*) AS chains
                FROM chains c JOIN prompts p ON p.id = c.prompt_id JOIN prompt_sets s ON s.id = p.set_id
                LEFT JOIN constitutions k ON k.id = c.constitution_id
                WHERE {' AND '.join(where)} GROUP BY k.name, c.constitution_version, c.run_id
                ORDER BY c.run_id""",
            args,
        )
        constitutions: dict[tuple, int] = {}
        for r in rows:
            constitutions[(r["name"], r["version"])] = constitutions.get((r["name"], r["version"]), 0) + r["chains"]
        return {
            "constitutions": [{"name": n, "version": v, "chains": k} for (n, v), k in constitutions.items()],
            "critique_runs": sorted({r["run_id"] for r in rows}),
        }
