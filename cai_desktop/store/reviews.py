"""``project.reviews``: team review — every decision kept per reviewer, a final decision per item
under the project's review policy, progress, disagreements, agreement figures and the decision log.

The data
  The ``reviews`` table is the log: one row per decision (``target_kind`` ``chain`` or
  ``comparison``, ``target_id``, ``reviewer``, ``decision``, ``edited_text``, ``note``,
  ``created_at``, ``uid``, ``item_uid``, ``principle_text`` — the principle text the reviewer was
  shown — and ``pack_uid`` when it came back in a review pack). Rows are only ever added (an undo of
  one's own latest decision removes it). Chain decisions are ``accepted``, ``rejected``, ``edited``
  (with ``edited_text``); comparison decisions ``A``, ``B``, ``tie``, ``both-bad``; ``unreviewed``
  withdraws the reviewer's decision. A reviewer's *current* decision on an item is their latest row
  (by ``created_at``, then id), so changing one's mind supersedes one's own earlier decision and
  never another reviewer's.

The final decision (what training uses)
  ``policy()`` / ``set_policy(policy, adjudicator)``, stored in the project:
  - ``single``: the latest decision of anyone (the behaviour before team review; the log replayed
    in order, so an accept after an edit keeps the edit, as before);
  - ``majority``: the decision most reviewers' current decisions agree on; a tie is unresolved
    (the item counts as unreviewed); ``edited`` is its own vote (the latest edited text wins);
  - ``adjudicator``: the adjudicator's current decision if they made one, else the majority.
  The final decision is written into the item's own columns (chains ``review_status``,
  ``human_revision``, ``reviewer``, ``reviewed_at``, ``note``; comparisons ``human_choice``,
  ``reviewer``, ``reviewed_at``) every time a decision is added, undone, imported or the policy
  changes, so every selection (SFT records, preference pairs, the pages) reads the final decision.

Methods
  ``add(kind, id, decision, reviewer, edited_text, note)`` (what ``chains.review`` and
  ``comparisons.review`` call), ``decisions(kind, id)`` (current decision per reviewer),
  ``final(kind, id)``, ``final_decisions(kind)`` (``[{target_id, decision, ...}]``),
  ``recompute(kind=None)``, ``ratings(kind)`` (item → reviewer → decision, for agreement),
  ``agreement(kind=None, seed=0)`` (Cohen's κ per pair, Fleiss' κ, Krippendorff's α, human vs AI
  per principle, each ``{value, n, low, high}``), ``progress()`` (``[{reviewer, assigned, done,
  decided}]``), ``disagreements()`` (reviewers disagree, or the AI's side and the final human
  choice do; everyone's decision and note side by side), ``log()`` / ``export_log(path)`` (CSV or
  JSONL by the suffix: who, when, the principle text shown, decision, note), ``summary()`` (the
  policy and how many decisions the final decisions rest on, for a training run's lineage).
  Review packs (export, import, the reviewer's side) live in ``store/packs.py``; ``export_pack``
  and ``import_pack`` here call it.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

from cai_desktop.core.errors import ProjectError, ValidationError
from cai_desktop.store.base import Manager, now

KINDS = ("chain", "comparison")
POLICIES = ("single", "majority", "adjudicator")
CHAIN_DECISIONS = ("accepted", "rejected", "edited")
COMPARISON_DECISIONS = ("A", "B", "tie", "both-bad")
WITHDRAWN = "unreviewed"
LOG_FIELDS = ("uid", "created_at", "reviewer", "target_kind", "target_id", "item_uid", "decision", "edited_text",
              "note", "principle_text", "pack_uid")


def decisions_for(kind: str) -> tuple[str, ...]:
    if kind == "chain":
        return CHAIN_DECISIONS
    if kind == "comparison":
        return COMPARISON_DECISIONS
    raise ValidationError(f"Unknown kind of item {kind!r}; use chain or comparison.")


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in KINDS:
        raise ValidationError(f"Unknown kind of item {kind!r}; use chain or comparison.")


def _order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r.get("created_at") or "", r["id"]))


def current_by_reviewer(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """reviewer → their latest log row, leaving out reviewers whose latest row withdraws."""
    latest: dict[str, dict[str, Any]] = {}
    for r in _order(rows):
        latest[r.get("reviewer") or ""] = r
    return {k: v for k, v in latest.items() if v.get("decision") != WITHDRAWN}


def final_of(rows: list[dict[str, Any]], policy: str, adjudicator: str = "") -> dict[str, Any]:
    """The final decision of one item from its log rows: ``{decision (None: undecided),
    edited_text, reviewer, reviewed_at, note, resolved (False: a tie), votes}``."""
    rows = _order(rows)
    note = next((r["note"] for r in reversed(rows) if r.get("note") is not None), None)
    current = current_by_reviewer(rows)
    votes = dict(Counter(r["decision"] for r in current.values()))
    out: dict[str, Any] = {"decision": None, "edited_text": None, "reviewer": None, "reviewed_at": None,
                           "note": note, "resolved": True, "votes": votes, "n_decisions": len(current)}
    if policy == "single":
        edited = None
        for r in rows:  # replayed as the single-reviewer store always did
            if r["decision"] == WITHDRAWN:
                edited = None
            elif r["decision"] == "edited":
                edited = r.get("edited_text")
        if rows:
            last = rows[-1]
            out.update(decision=None if last["decision"] == WITHDRAWN else last["decision"], edited_text=edited,
                       reviewer=last.get("reviewer"), reviewed_at=last.get("created_at"))
        return out
    if adjudicator and adjudicator in current and policy == "adjudicator":
        r = current[adjudicator]
        out.update(decision=r["decision"], edited_text=r.get("edited_text") if r["decision"] == "edited" else None,
                   reviewer=adjudicator, reviewed_at=r.get("created_at"))
        return out
    if not votes:
        if rows:
            out.update(reviewer=rows[-1].get("reviewer"), reviewed_at=rows[-1].get("created_at"))
        return out
    top = max(votes.values())
    winners = [d for d, n in votes.items() if n == top]
    if len(winners) > 1:
        out.update(resolved=False, reviewer=rows[-1].get("reviewer"), reviewed_at=rows[-1].get("created_at"))
        return out
    decision = winners[0]
    backing = _order([r for r in current.values() if r["decision"] == decision])
    out.update(decision=decision, reviewer=", ".join(sorted(r.get("reviewer") or "" for r in backing)),
               reviewed_at=backing[-1].get("created_at"),
               edited_text=backing[-1].get("edited_text") if decision == "edited" else None)
    return out


def ai_side(label: float | None) -> str | None:
    if label is None or label == 0.5:
        return None
    return "A" if label > 0.5 else "B"


class Reviews(Manager):
    """``project.reviews``."""

    # -- the policy ----------------------------------------------------------------------------------
    def policy(self) -> dict[str, str]:
        """``{"policy": single|majority|adjudicator, "adjudicator": name or ""}``."""
        return {"policy": self.project.meta("review_policy", "single") or "single",
                "adjudicator": self.project.meta("review_adjudicator", "") or ""}

    def set_policy(self, policy: str, adjudicator: str | None = None) -> dict[str, int]:
        """Set how the final decision is made and recompute every item's final decision. Returns
        ``{"changed": items whose final decision changed}``."""
        if policy not in POLICIES:
            raise ValidationError(f"Unknown review policy {policy!r}; use one of {', '.join(POLICIES)}.")
        adjudicator = (adjudicator or "").strip()
        if policy == "adjudicator" and not adjudicator:
            raise ValidationError("The adjudicator policy needs the adjudicator's name.")
        with self.project.atomic():
            self.project.set_meta("review_policy", policy)
            self.project.set_meta("review_adjudicator", adjudicator if policy == "adjudicator" else "")
            return {"changed": self.recompute()}

    # -- adding decisions ------------------------------------------------------------------------------
    def principle_text(self, kind: str, target_id: int) -> str:
        """The principle text a reviewer of this item is shown: a comparison's question; a chain's
        critique request of each round (one line per principle)."""
        if kind == "comparison":
            return self.scalar(
                """SELECT ps.key || ': ' || COALESCE(NULLIF(ps.comparison_question, ''), ps.critique_request, '')
                   FROM comparisons c JOIN principle_snapshots ps ON ps.id = c.principle_snapshot_id
                   WHERE c.id = ?""", [target_id]) or ""
        lines: list[str] = []
        for (line,) in self.db.execute(
            """SELECT ps.key || ': ' || COALESCE(ps.critique_request, '') FROM chain_steps s
               JOIN principle_snapshots ps ON ps.id = s.principle_snapshot_id WHERE s.chain_id = ? ORDER BY s.round""",
            [target_id],
        ):
            if line not in lines:
                lines.append(line)
        return "\n".join(lines)

    def add(self, kind: str, target_id: int, decision: str, reviewer: str = "", edited_text: str | None = None,
            note: str | None = None, *, created_at: str | None = None, uid: str | None = None,
            pack_uid: str | None = None, principle_text: str | None = None) -> int | None:
        """Add one reviewer's decision (``unreviewed`` withdraws theirs) and update the item's final
        decision. Never changes another reviewer's decision. Returns the log id (None when a
        decision with this ``uid`` is in the log already: an import adds it once)."""
        _check_kind(kind)
        if decision != WITHDRAWN and decision not in decisions_for(kind):
            raise ValidationError(f"Unknown decision {decision!r} for a {kind}; "
                                  f"use one of {', '.join(decisions_for(kind))}.")
        if decision == "edited" and not (edited_text or "").strip():
            raise ValidationError("An edited revision cannot be empty.")
        with self.project.atomic():
            self._require(kind, target_id)
            if uid and self.db.execute("SELECT 1 FROM reviews WHERE uid=?", [uid]).fetchone():
                return None
            cur = self.db.execute(
                """INSERT INTO reviews (target_kind, target_id, reviewer, decision, edited_text, note, created_at,
                                        uid, pack_uid, principle_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [kind, target_id, reviewer or "", decision, edited_text if decision == "edited" else None, note,
                 created_at or now(), uid, pack_uid,
                 principle_text if principle_text is not None else self.principle_text(kind, target_id)],
            )
            rid = cur.lastrowid
            self.materialize(kind, target_id)
            return rid

    def _require(self, kind: str, target_id: int) -> None:
        table = "chains" if kind == "chain" else "comparisons"
        if not self.db.execute(f"SELECT 1 FROM {table} WHERE id=?", [target_id]).fetchone():
            raise ProjectError(f"No {kind} {target_id} in this project.")

    # -- reading ---------------------------------------------------------------------------------------
    def log(self, kind: str | None = None, target_id: int | None = None,
            reviewer: str | None = None) -> list[dict[str, Any]]:
        """Log rows, oldest first (every decision ever made, superseded ones included)."""
        _check_kind(kind)
        where, params = ["1=1"], []
        if kind:
            where.append("target_kind = ?")
            params.append(kind)
        if target_id is not None:
            where.append("target_id = ?")
            params.append(int(target_id))
        if reviewer is not None:
            where.append("COALESCE(reviewer, '') = ?")
            params.append(reviewer)
        return self.query(f"SELECT * FROM reviews WHERE {' AND '.join(where)} ORDER BY created_at, id", params)

    def _rows_by_item(self, kind: str | None = None) -> dict[tuple[str, int], list[dict[str, Any]]]:
        by: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for r in self.log(kind):
            if r["target_kind"] in KINDS:
                by.setdefault((r["target_kind"], r["target_id"]), []).append(r)
        return by

    def decisions(self, kind: str, target_id: int) -> dict[str, dict[str, Any]]:
        """reviewer → their current decision row on this item (withdrawn ones left out)."""
        return current_by_reviewer(self.log(kind, target_id))

    def final(self, kind: str, target_id: int) -> dict[str, Any]:
        """The item's final decision under the project's policy (see ``final_of``)."""
        pol = self.policy()
        return final_of(self.log(kind, target_id), pol["policy"], pol["adjudicator"])

    def final_decisions(self, kind: str) -> list[dict[str, Any]]:
        """``[{"target_id", "decision", "edited_text", "reviewer", "resolved", "votes", ...}]`` for every
        item of ``kind`` with a decision in the log (``decision`` None: undecided or a tie)."""
        _check_kind(kind)
        pol = self.policy()
        return [{"target_kind": k, "target_id": i, **final_of(rows, pol["policy"], pol["adjudicator"])}
                for (k, i), rows in sorted(self._rows_by_item(kind).items())]

    def ratings(self, kind: str) -> dict[int, dict[str, str]]:
        """item id → reviewer → current decision (what the agreement figures are computed on)."""
        return {i: {who: r["decision"] for who, r in current_by_reviewer(rows).items()}
                for (_k, i), rows in sorted(self._rows_by_item(kind).items())}

    def reviewers(self) -> list[str]:
        """Everyone who made a decision or has items assigned, by name."""
        names = {r[0] or "" for r in self.db.execute("SELECT DISTINCT reviewer FROM reviews")}
        names |= {r[0] for r in self.db.execute("SELECT DISTINCT reviewer FROM review_assignments")}
        return sorted(names)

    # -- the final decision in the items' columns --------------------------------------------------------
    def materialize(self, kind: str, target_id: int, rows: list[dict[str, Any]] | None = None) -> bool:
        """Write the item's final decision into its columns; True when they changed."""
        pol = self.policy()
        rows = self.log(kind, target_id) if rows is None else rows
        f = final_of(rows, pol["policy"], pol["adjudicator"])
        if kind == "chain":
            fields = {"review_status": f["decision"] or "unreviewed", "human_revision": f["edited_text"],
                      "reviewer": f["reviewer"], "reviewed_at": f["reviewed_at"]}
            if f["note"] is not None:
                fields["note"] = f["note"]
            table = "chains"
        else:
            fields = {"human_choice": f["decision"], "reviewer": f["reviewer"], "reviewed_at": f["reviewed_at"]}
            table = "comparisons"
        old = self.db.execute(f"SELECT {', '.join(fields)} FROM {table} WHERE id=?", [target_id]).fetchone()
        if old is None or tuple(old) == tuple(fields.values()):
            return False
        self.db[table].update(target_id, fields)
        return True

    def recompute(self, kind: str | None = None) -> int:
        """Every reviewed item's final decision written again (after a policy change or an import);
        returns how many items changed."""
        _check_kind(kind)
        changed = 0
        with self.project.atomic():
            for (k, i), rows in self._rows_by_item(kind).items():
                changed += int(self.materialize(k, i, rows))
        return changed

    # -- team figures ------------------------------------------------------------------------------------
    def progress(self) -> list[dict[str, Any]]:
        """Per reviewer: ``assigned`` (items assigned in review packs), ``done`` (of those, with a
        current decision), ``decided`` (items with a current decision, assigned or not)."""
        current: dict[str, set[tuple[str, int]]] = {}
        for (k, i), rows in self._rows_by_item().items():
            for who in current_by_reviewer(rows):
                current.setdefault(who, set()).add((k, i))
        assigned: dict[str, set[tuple[str, int]]] = {}
        for r in self.db.execute("SELECT DISTINCT reviewer, target_kind, target_id FROM review_assignments"):
            assigned.setdefault(r[0], set()).add((r[1], r[2]))
        out = []
        for who in sorted(set(current) | set(assigned)):
            mine, done = assigned.get(who, set()), current.get(who, set())
            out.append({"reviewer": who, "assigned": len(mine), "done": len(mine & done), "decided": len(done)})
        return out

    def _item_info(self, kind: str, ids: list[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        if kind == "comparison":
            rows = self.query(
                f"""SELECT c.id, c.prompt_text AS prompt, c.label, ps.key AS principle_key FROM comparisons c
                    LEFT JOIN principle_snapshots ps ON ps.id = c.principle_snapshot_id WHERE c.id IN ({marks})""", ids)
        else:
            rows = self.query(
                f"""SELECT c.id, p.text AS prompt, NULL AS label,
                           (SELECT ps.key FROM chain_steps s JOIN principle_snapshots ps ON ps.id = s.principle_snapshot_id
                            WHERE s.chain_id = c.id ORDER BY s.round LIMIT 1) AS principle_key
                    FROM chains c JOIN prompts p ON p.id = c.prompt_id WHERE c.id IN ({marks})""", ids)
        return {r["id"]: r for r in rows}

    def disagreements(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Items for an adjudicator: reviewers' current decisions differ, or (comparisons) the AI
        label's side and the final human A/B choice differ (adjudicated items stay listed; the page
        decides whether to show them). Each: ``{target_kind, target_id,
        prompt, reason, final, ai_side, decisions: [{reviewer, decision, note, edited_text,
        created_at}]}`` with every reviewer's latest decision and the notes of all their rows."""
        _check_kind(kind)
        pol = self.policy()
        out = []
        by = self._rows_by_item(kind)
        for k in (kind,) if kind else KINDS:
            items = {i: rows for (kk, i), rows in by.items() if kk == k}
            info = self._item_info(k, list(items))
            for i, rows in sorted(items.items()):
                cur = current_by_reviewer(rows)
                final = final_of(rows, pol["policy"], pol["adjudicator"])
                reasons = []
                if len({r["decision"] for r in cur.values()}) > 1:
                    reasons.append("the reviewers disagree" + ("" if final["resolved"] else " (a tie)"))
                ai = ai_side(info.get(i, {}).get("label")) if k == "comparison" else None
                if ai and final["decision"] in ("A", "B") and final["decision"] != ai:
                    reasons.append("the AI and the reviewers disagree")
                if not reasons:
                    continue
                out.append({
                    "target_kind": k, "target_id": i, "prompt": info.get(i, {}).get("prompt") or "",
                    "principle_key": info.get(i, {}).get("principle_key"), "reason": "; ".join(reasons),
                    "final": final["decision"], "ai_side": ai,
                    "decisions": [{"reviewer": who, "decision": r["decision"], "edited_text": r.get("edited_text"),
                                   "note": "\n".join(x["note"] for x in _order(rows)
                                                     if (x.get("reviewer") or "") == who and (x.get("note") or "").strip()),
                                   "created_at": r.get("created_at")} for who, r in sorted(cur.items())],
                })
        return out

    def agreement(self, kind: str | None = None, seed: int = 0, n_boot: int = 1000) -> dict[str, Any]:
        """Agreement figures (``core.agreement``), each ``{value, n, low, high}``: ``pairs`` (Cohen's
        κ for every two reviewers on the items both decided, per kind), ``fleiss`` and
        ``krippendorff`` (over every reviewer; Fleiss' κ on items with the most common number of
        raters), and ``human_ai`` per principle (how often the AI label's side is the final human
        A/B choice; ``correlation``: Pearson r of p(A) with the share of A votes)."""
        from cai_desktop.core import agreement as ag

        _check_kind(kind)
        out: dict[str, Any] = {"pairs": [], "fleiss": None, "krippendorff": None, "human_ai": []}
        units: list[dict[str, str]] = []
        for k in (kind,) if kind else KINDS:
            r = self.ratings(k)
            units += [{who: f"{k}:{d}" for who, d in v.items()} for v in r.values()]
        names = sorted({w for u in units for w in u})
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                both = [(u[a], u[b]) for u in units if a in u and b in u]
                if len(both) >= 2:
                    st = ag.cohen_kappa([x for x, _ in both], [y for _, y in both], seed=seed, n_boot=n_boot)
                    out["pairs"].append({"a": a, "b": b, **st.as_dict()})
        multi = [u for u in units if len(u) >= 2]
        if multi:
            out["krippendorff"] = ag.krippendorff_alpha([list(u.values()) for u in multi], seed=seed,
                                                        n_boot=n_boot).as_dict()
            m = Counter(len(u) for u in multi).most_common(1)[0][0]
            same = [list(u.values()) for u in multi if len(u) == m]
            if len(same) >= 2:
                out["fleiss"] = ag.fleiss_kappa(same, seed=seed, n_boot=n_boot).as_dict()
        if kind in (None, "comparison"):
            out["human_ai"] = self._human_ai(seed, n_boot)
        return out

    def _human_ai(self, seed: int, n_boot: int) -> list[dict[str, Any]]:
        from cai_desktop.core import agreement as ag

        finals = {f["target_id"]: f for f in self.final_decisions("comparison")}
        info = self._item_info("comparison", list(finals))
        by: dict[str, list[tuple[float, str, float]]] = {}
        for i, f in finals.items():
            label = info.get(i, {}).get("label")
            if label is None or f["decision"] not in ("A", "B"):
                continue
            votes = f["votes"]
            ab = votes.get("A", 0) + votes.get("B", 0)
            share = votes.get("A", 0) / ab if ab else (1.0 if f["decision"] == "A" else 0.0)
            by.setdefault(info[i].get("principle_key") or "(none)", []).append((label, f["decision"], share))
        out = []
        for key, rows in sorted(by.items()):
            st = ag.human_ai_agreement([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                                       seed=seed, n_boot=n_boot)
            out.append({"principle": key, **st})
        return out

    def summary(self) -> dict[str, Any]:
        """What the final decisions rest on, for a training run's lineage: ``{policy, adjudicator,
        decisions (current per-reviewer decisions), log_entries, reviewers, final: {kind: decided
        items}, unresolved (ties)}``."""
        pol = self.policy()
        out: dict[str, Any] = {**pol, "decisions": 0, "log_entries": 0, "reviewers": 0, "final": {}, "unresolved": 0}
        for k in KINDS:
            decided = 0
            for f in self.final_decisions(k):
                out["decisions"] += f["n_decisions"]
                decided += int(f["decision"] is not None)
                out["unresolved"] += int(not f["resolved"])
            out["final"][k] = decided
        for r in self.db.execute("SELECT COUNT(*), COUNT(DISTINCT COALESCE(reviewer, '')) FROM reviews"):
            out["log_entries"], out["reviewers"] = r[0], r[1]
        return out

    # -- the log as a file -------------------------------------------------------------------------------
    def export_log(self, path: str | Path, fmt: str | None = None) -> int:
        """Write every decision (who, when, the principle text shown, decision, edit, note) as CSV or
        JSONL (``fmt``, else from the suffix: ``.csv`` or ``.jsonl``). Returns the number of rows."""
        path = Path(path)
        fmt = (fmt or path.suffix.lstrip(".")).lower()
        if fmt not in ("csv", "jsonl"):
            raise ValidationError(f"The decision log is written as CSV or JSONL; {path.name} is neither "
                                  "(name it .csv or .jsonl).")
        rows = [{f: r.get(f) for f in LOG_FIELDS} for r in self.log()]
        try:
            with open(path, "w", encoding="utf-8", newline="") as fh:
                if fmt == "csv":
                    w = csv.DictWriter(fh, fieldnames=list(LOG_FIELDS))
                    w.writeheader()
                    w.writerows(rows)
                else:
                    for r in rows:
                        fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        except OSError as e:
            raise ValidationError(f"Cannot write {path}: {e.strerror or e}.") from None
        return len(rows)

    # -- review packs (store/packs.py) -----------------------------------------------------------------
    def export_pack(self, path: str | Path, **kw: Any) -> dict[str, Any]:
        """Write a review pack (see ``store.packs.export_pack``)."""
        from cai_desktop.store import packs

        return packs.export_pack(self.project, path, **kw)

    def import_pack(self, path: str | Path) -> dict[str, Any]:
        """Merge a returned review pack (see ``store.packs.import_pack``)."""
        from cai_desktop.store import packs

        return packs.import_pack(self.project, path)
