"""Monitoring: imported production logs, their items, the flags monitor runs gave them, the review
queue, and confirmed failures turned into prompts for the next iteration (``project.monitoring``).

An *import* is one log file read once (its name, path, SHA-256 and time); the same file again is
refused, naming the earlier import. Each user → assistant turn is an *item*. A monitor run stores
*flags* per item: one per principle from the feedback model (``source='feedback'``, ``score`` =
the probability it read a violation) and one from the rule-based judge (``source='judge'``). An
item's ``status`` is ``unchecked``, ``clear`` or ``flagged`` (from the newest run that checked it)
until a reviewer decides: ``confirmed`` (a real failure) or ``dismissed``; every decision is kept
in ``monitor_reviews`` with its reviewer, time and note (the newest one sets the status).

Confirmed failures become prompts (:meth:`Monitoring.add_to_prompts`): to a held-out set (every
prompt in the test split, never trained on) and, optionally, to a training set. A prompt never
goes to both: with a training set chosen, each item goes to exactly one of them by the seeded
split of its text (``core.splits.split_of``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cai_desktop.core.chatlogs import ChatLog
from cai_desktop.core.errors import ProjectError, ValidationError
from cai_desktop.core.splits import split_of
from cai_desktop.core.stats import wilson
from cai_desktop.store.base import Manager, loads, now

STATUSES = ("unchecked", "clear", "flagged", "confirmed", "dismissed")
DECISIONS = ("confirmed", "dismissed")
#: the statuses a monitor run may change (a reviewer's decision is never overwritten by a run)
_RUN_STATUSES = ("unchecked", "clear", "flagged")


def file_hash(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _rate(k: int, n: int) -> dict[str, Any]:
    low, high = wilson(k, n)
    return {"k": k, "n": n, "rate": k / n if n else None, "low": low, "high": high}


class Monitoring(Manager):
    """``project.monitoring``."""

    # -- imports ------------------------------------------------------------------------------
    def add_import(self, path: str | Path, log: ChatLog, note: str = "") -> dict[str, Any]:
        """Store a read log (``core.chatlogs.read_chatlog``) as one import; returns
        ``{"import_id", "items"}``. The same file (by content) twice is refused."""
        path = Path(path)
        digest = file_hash(path)
        have = self.query("SELECT id, name, imported_at FROM monitor_imports WHERE file_hash=?", [digest])
        if have:
            h = have[0]
            raise ProjectError(f"{path.name} was already imported (import {h['id']}, {h['name']}, "
                               f"{h['imported_at']}); nothing was added.")
        with self.db.atomic():
            iid = self.db["monitor_imports"].insert({
                "name": path.name, "path": str(path), "format": log.format, "file_hash": digest,
                "n_items": len(log.items), "n_conversations": log.conversations, "n_unanswered": log.unanswered,
                "note": note, "imported_at": now()}).last_pk
            self.db["monitor_items"].insert_all([
                {"import_id": iid, "position": i, "prompt": it["prompt"], "response": it["response"],
                 "source_where": it.get("where") or "", "source_time": it.get("time") or "",
                 "source_id": it.get("source_id") or ""} for i, it in enumerate(log.items)])
        return {"import_id": iid, "items": len(log.items)}

    def imports(self) -> list[dict[str, Any]]:
        """Every import, oldest first, with its item counts per status."""
        rows = self.query("SELECT * FROM monitor_imports ORDER BY id")
        counts = self.query("SELECT import_id, status, COUNT(*) AS n FROM monitor_items GROUP BY import_id, status")
        for r in rows:
            r["status"] = {s: 0 for s in STATUSES}
            for c in counts:
                if c["import_id"] == r["id"]:
                    r["status"][c["status"]] = c["n"]
        return rows

    def import_ids(self) -> list[int]:
        return [r["id"] for r in self.query("SELECT id FROM monitor_imports ORDER BY id")]

    # -- items and flags ----------------------------------------------------------------------
    def items_to_check(self, run_id: int, import_ids: Sequence[int] = (), limit: int | None = None) -> list[dict[str, Any]]:
        """Items of the chosen imports (all by default) that run ``run_id`` has not flagged yet."""
        sql = ("SELECT i.id, i.import_id, i.prompt, i.response FROM monitor_items i WHERE NOT EXISTS "
               "(SELECT 1 FROM monitor_flags f WHERE f.item_id=i.id AND f.run_id=?)")
        params: list[Any] = [run_id]
        if import_ids:
            for iid in import_ids:
                if self.scalar("SELECT 1 FROM monitor_imports WHERE id=?", [iid]) is None:
                    raise ProjectError(f"There is no log import {iid} in this project.")
            sql += f" AND i.import_id IN ({','.join('?' * len(import_ids))})"
            params += list(import_ids)
        sql += " ORDER BY i.import_id, i.position"
        if limit:
            sql += " LIMIT ?"
            params.append(int(limit))
        return self.query(sql, params)

    def save_flags(self, run_id: int, rows: Iterable[dict[str, Any]]) -> int:
        """Store one batch of flags ``{"item_id", "source", "principle_key", "principle_snapshot_id"?,
        "score", "flagged", "detail"}`` and update the items' status (``flagged`` when any flag of
        this run is set, else ``clear``; reviewed items keep their decision). Returns items touched."""
        rows = list(rows)
        ts = now()
        items = sorted({r["item_id"] for r in rows})
        with self.db.atomic():
            for r in rows:
                self.db.execute(
                    "INSERT OR REPLACE INTO monitor_flags (run_id, item_id, source, principle_key, principle_snapshot_id, "
                    "score, flagged, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, r["item_id"], r["source"], r.get("principle_key") or "", r.get("principle_snapshot_id"),
                     r.get("score"), int(bool(r["flagged"])), r.get("detail") or "", ts])
            for iid in items:
                flagged = self.scalar("SELECT MAX(flagged) FROM monitor_flags WHERE item_id=? AND run_id=?", [iid, run_id])
                self.db.execute(
                    f"UPDATE monitor_items SET status=? WHERE id=? AND status IN ({','.join('?' * len(_RUN_STATUSES))})",
                    ["flagged" if flagged else "clear", iid, *_RUN_STATUSES])
        return len(items)

    def flags(self, item_id: int) -> list[dict[str, Any]]:
        """The newest run's flags of an item, flagged ones first."""
        return self.query(
            """SELECT f.*, ps.title AS principle_title FROM monitor_flags f
               LEFT JOIN principle_snapshots ps ON ps.id = f.principle_snapshot_id
               WHERE f.item_id=? AND f.run_id=(SELECT MAX(run_id) FROM monitor_flags WHERE item_id=?)
               ORDER BY f.flagged DESC, f.score DESC""", [item_id, item_id])

    def queue(self, status: str | None = "flagged", import_id: int | None = None, offset: int = 0,
              limit: int = 500) -> list[dict[str, Any]]:
        """Items (by default the flagged ones awaiting review) with their import's name and the
        principles they were flagged under (``principles``: text, comma-separated)."""
        if status is not None and status not in STATUSES:
            raise ValidationError(f"Unknown status {status!r}; choose one of {', '.join(STATUSES)}.")
        where, params = ["1=1"], []
        if status:
            where.append("i.status=?")
            params.append(status)
        if import_id is not None:
            where.append("i.import_id=?")
            params.append(import_id)
        return self.query(
            f"""SELECT i.*, m.name AS import_name, m.imported_at,
                   (SELECT group_concat(CASE WHEN f.source='judge' THEN 'judge: ' || REPLACE(f.detail, '_', '-') ELSE f.principle_key END, ', ')
                      FROM monitor_flags f WHERE f.item_id=i.id AND f.flagged
                      AND f.run_id=(SELECT MAX(run_id) FROM monitor_flags WHERE item_id=i.id)) AS principles,
                   (SELECT MAX(f.score) FROM monitor_flags f WHERE f.item_id=i.id AND f.source='feedback'
                      AND f.run_id=(SELECT MAX(run_id) FROM monitor_flags WHERE item_id=i.id)) AS top_score
                FROM monitor_items i JOIN monitor_imports m ON m.id=i.import_id
                WHERE {' AND '.join(where)} ORDER BY i.import_id, i.position LIMIT ? OFFSET ?""",
            [*params, int(limit), int(offset)])

    def item(self, item_id: int) -> dict[str, Any]:
        rows = self.query("SELECT * FROM monitor_items WHERE id=?", [item_id])
        if not rows:
            raise ProjectError(f"There is no monitored item {item_id} in this project.")
        row = rows[0]
        row["added"] = loads(row.pop("added_json", None), {})
        return row

    # -- review ---------------------------------------------------------------------------------
    def review(self, item_id: int, decision: str, reviewer: str = "", note: str = "") -> None:
        """A reviewer's decision on an item: ``confirmed`` (a real failure) or ``dismissed``."""
        if decision not in DECISIONS:
            raise ValidationError(f"A decision is confirmed or dismissed, not {decision!r}.")
        self.item(item_id)
        with self.db.atomic():
            self.db["monitor_reviews"].insert({"item_id": item_id, "reviewer": reviewer, "decision": decision,
                                               "note": note, "created_at": now()})
            self.db.execute("UPDATE monitor_items SET status=? WHERE id=?", [decision, item_id])

    def reviews(self, item_id: int) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM monitor_reviews WHERE item_id=? ORDER BY id", [item_id])

    # -- the next iteration -------------------------------------------------------------------------
    def add_to_prompts(self, item_ids: Sequence[int] | None = None, test_set: str = "monitoring-heldout",
                       train_set: str | None = None, *, seed: int = 0, test_fraction: float = 0.5) -> dict[str, Any]:
        """Confirmed failures (``item_ids``, default: every confirmed one) as prompts.

        Without ``train_set`` every prompt goes to ``test_set``, a held-out set (all in the test
        split, never trained on; made if missing). With one, each goes to exactly one of the two by
        the seeded split of its text (``test_fraction`` of them held out). Returns
        ``{"test": added, "train": added, "skipped": already there or not confirmed}``."""
        if train_set is not None and train_set == test_set:
            raise ValidationError("The held-out set and the training set must be different sets.")
        if not 0.0 < test_fraction <= 1.0:
            raise ValidationError("The held-out share must be above 0 and at most 1.")
        ids = list(item_ids) if item_ids is not None else [
            r["id"] for r in self.query("SELECT id FROM monitor_items WHERE status='confirmed' ORDER BY id")]
        items = [self.item(i) for i in ids]
        todo = [it for it in items if it["status"] == "confirmed"]
        skipped = len(items) - len(todo)
        prompts = self.project.prompts
        sets = {s["name"]: s for s in prompts.sets()}
        held = sets.get(test_set)
        if held is not None and held["n"] and held["n_test"] != held["n"]:
            raise ValidationError(f"Prompt set {test_set!r} is not held out (only {held['n_test']} of its {held['n']} "
                                  "prompts are in the test split); choose another name for the held-out set.")
        if train_set is not None and train_set in sets and sets[train_set]["n_test"] == sets[train_set]["n"] \
                and sets[train_set]["n"]:
            raise ValidationError(f"Prompt set {train_set!r} is a held-out set; failures added for training cannot go there.")
        to_test, to_train = [], []
        for it in todo:
            goes_test = train_set is None or split_of(it["prompt"], seed, test_fraction) == "test"
            (to_test if goes_test else to_train).append(it)
        out = {"test": 0, "train": 0, "skipped": skipped}
        with self.db.atomic():
            if to_test or held is None:
                row = self._add(test_set, to_test, held_out=True)
                out["test"] = row["added"]
                out["skipped"] += row["skipped"]
            if train_set is not None and to_train:
                row = self._add(train_set, to_train, held_out=False)
                out["train"] = row["added"]
                out["skipped"] += row["skipped"]
            for it, name in [(i, test_set) for i in to_test] + [(i, train_set) for i in to_train]:
                added = {**it["added"], "set": name, "at": now()}
                self.db.execute("UPDATE monitor_items SET added_json=? WHERE id=?", [json.dumps(added), it["id"]])
        return out

    def _add(self, name: str, items: list[dict[str, Any]], held_out: bool) -> dict[str, int]:
        prompts = self.project.prompts
        rows = [{"text": it["prompt"], "category": "monitoring",
                 "meta": {"monitor_item": it["id"], "import_id": it["import_id"]}} for it in items]
        new = name not in {s["name"] for s in prompts.sets()}
        # a held-out set: made with every prompt in the test split; later prompts follow its fraction
        res = prompts.add_set(name, "red-team", rows, source="monitoring", test_fraction=0.0 if not held_out else 0.5)
        if held_out and new:
            prompts.resplit(name, seed=0, test_fraction=1.0)
        return res

    # -- rates ------------------------------------------------------------------------------------
    def rates(self, run_id: int | None = None) -> dict[str, Any]:
        """Flag rates of run ``run_id``, or by default of each item's newest check (so every import
        shows the run that checked it last): ``{"run_id", "imports": [{"id", "name", "imported_at",
        "flagged": rate, "principles": {key: rate}, "judge": {label: rate}}], "principles": {key: rate}}``;
        each rate ``{"k", "n", "rate", "low", "high"}`` (Wilson 95 %). ``run_id`` in the result is the
        run asked for, or the newest run with flags."""
        if run_id is None:
            which = "f.run_id = (SELECT MAX(g.run_id) FROM monitor_flags g WHERE g.item_id = f.item_id)"
            params: list[Any] = []
            shown = self.scalar("SELECT MAX(run_id) FROM monitor_flags")
        else:
            which, params, shown = "f.run_id = ?", [run_id], run_id
        out: dict[str, Any] = {"run_id": shown, "imports": [], "principles": {}}
        if shown is None:
            return out
        per_item = self.query(
            f"""SELECT i.import_id, f.item_id, MAX(f.flagged) AS any_flag FROM monitor_flags f
                JOIN monitor_items i ON i.id=f.item_id WHERE {which} GROUP BY f.item_id""", params)
        per_principle = self.query(
            f"""SELECT i.import_id, f.principle_key, SUM(f.flagged) AS k, COUNT(*) AS n FROM monitor_flags f
                JOIN monitor_items i ON i.id=f.item_id WHERE {which} AND f.source='feedback'
                GROUP BY i.import_id, f.principle_key""", params)
        judge = self.query(
            f"""SELECT i.import_id, f.detail AS label, COUNT(*) AS n FROM monitor_flags f
                JOIN monitor_items i ON i.id=f.item_id WHERE {which} AND f.source='judge'
                GROUP BY i.import_id, f.detail""", params)
        totals: dict[str, list[int]] = {}
        for imp in self.query("SELECT id, name, imported_at FROM monitor_imports ORDER BY id"):
            mine = [r for r in per_item if r["import_id"] == imp["id"]]
            if not mine:
                continue
            n = len(mine)
            entry = {**imp, "flagged": _rate(sum(1 for r in mine if r["any_flag"]), n), "principles": {}, "judge": {}}
            for r in per_principle:
                if r["import_id"] == imp["id"]:
                    entry["principles"][r["principle_key"]] = _rate(int(r["k"] or 0), int(r["n"]))
                    t = totals.setdefault(r["principle_key"], [0, 0])
                    t[0] += int(r["k"] or 0)
                    t[1] += int(r["n"])
            judged = [r for r in judge if r["import_id"] == imp["id"]]
            m = sum(r["n"] for r in judged)
            entry["judge"] = {r["label"]: _rate(r["n"], m) for r in judged}
            out["imports"].append(entry)
        out["principles"] = {k: _rate(*v) for k, v in totals.items()}
        return out
