"""Constitutions: the live, editable state, an immutable snapshot per saved version, and the
principle snapshots that generated records point at (so editing never rewrites history).

The priorities and free-text sections (``preamble``, ``rationale``, ``ranked``, each principle's
``weight``; issue 13) have no columns in the live tables: they live in the saved version's
document (``constitution_versions.content_json``), which ``save`` writes whenever the content
changes, so the live state read back is the newest version's document's values (no migration)."""

from __future__ import annotations

import json
from typing import Any

from cai_desktop.core.constitution import (
    DEFAULT_WEIGHT,
    Constitution,
    FewShotExample,
    Principle,
    check,
)
from cai_desktop.core.errors import ProjectError
from cai_desktop.store.base import Manager, loads, now


class Constitutions(Manager):
    """``project.constitutions``."""

    def list(self) -> list[dict[str, Any]]:
        """``{id, name, title, version, updated_at, principles, enabled}`` of each, by name."""
        return self.query(
            """SELECT c.id, c.name, c.title, c.version, c.updated_at,
                      (SELECT COUNT(*) FROM principles p WHERE p.constitution_id=c.id) AS principles,
                      (SELECT COUNT(*) FROM principles p WHERE p.constitution_id=c.id AND enabled)
                        AS enabled
               FROM constitutions c ORDER BY c.name"""
        )

    def id(self, name: str) -> int:
        cid = self.scalar("SELECT id FROM constitutions WHERE name=?", [name])
        if cid is None:
            names = ", ".join(c["name"] for c in self.list()) or "none yet"
            raise ProjectError(f"No constitution named {name!r} in this project (have: {names}).")
        return cid

    def save(self, c: Constitution, note: str = "", replace: bool = True) -> int:
        """Store ``c`` as the live state; a new version snapshot is added if the content changed.

        Returns the version number now current. Old versions stay readable for ever.
        """
        check(c)
        ts = now()
        db = self.db
        with db.atomic():
            row = db.execute("SELECT id, version FROM constitutions WHERE name=?", [c.name]).fetchone()
            if row and not replace:
                raise ProjectError(f"A constitution named {c.name!r} already exists.")
            content_hash = c.content_hash()
            if row:
                cid, version = row
                last = self.scalar(
                    "SELECT content_hash FROM constitution_versions WHERE constitution_id=? "
                    "ORDER BY version DESC LIMIT 1",
                    [cid],
                )
                if last == content_hash:
                    return version
                version = max(version + 1, c.version)
                db.execute(
                    "UPDATE constitutions SET title=?, description=?, system_prompt=?, "
                    "few_shot_json=?, version=?, updated_at=? WHERE id=?",
                    [c.title, c.description, c.system_prompt, _few_json(c), version, ts, cid],
                )
                db.execute("DELETE FROM principles WHERE constitution_id=?", [cid])
            else:
                version = c.version
                cid = db["constitutions"].insert(
                    {
                        "name": c.name,
                        "title": c.title,
                        "description": c.description,
                        "system_prompt": c.system_prompt,
                        "few_shot_json": _few_json(c),
                        "version": version,
                        "created_at": ts,
                        "updated_at": ts,
                    }
                ).last_pk
            db["principles"].insert_all(
                [
                    {
                        "constitution_id": cid,
                        "position": i,
                        "key": p.key,
                        "title": p.title,
                        "critique_request": p.critique_request,
                        "revision_request": p.revision_request,
                        "comparison_question": p.comparison_question,
                        "tags_json": json.dumps(p.tags),
                        "enabled": int(p.enabled),
                    }
                    for i, p in enumerate(c.principles)
                ]
            )
            stored = c.copy()
            stored.version = version
            db["constitution_versions"].insert(
                {
                    "constitution_id": cid,
                    "version": version,
                    "content_json": json.dumps(stored.to_dict(), ensure_ascii=False),
                    "content_hash": content_hash,
                    "note": note,
                    "created_at": ts,
                }
            )
        return version

    def get(self, name: str, version: int | None = None) -> Constitution:
        """The live constitution, or the snapshot of an earlier ``version``."""
        cid = self.id(name)
        if version is not None:
            content = self.scalar(
                "SELECT content_json FROM constitution_versions WHERE constitution_id=? AND version=?",
                [cid, version],
            )
            if content is None:
                raise ProjectError(f"Constitution {name!r} has no version {version}.")
            return Constitution.from_dict(json.loads(content))
        c = self.query("SELECT * FROM constitutions WHERE id=?", [cid])[0]
        newest = self.scalar(
            "SELECT content_json FROM constitution_versions WHERE constitution_id=? ORDER BY version DESC LIMIT 1",
            [cid],
        )
        doc = loads(newest, {}) if newest else {}
        weights = {p.get("key"): p.get("weight") for p in doc.get("principles") or [] if isinstance(p, dict)}
        principles = [
            Principle(
                key=r["key"],
                title=r["title"] or "",
                critique_request=r["critique_request"],
                revision_request=r["revision_request"],
                comparison_question=r["comparison_question"] or "",
                tags=loads(r["tags_json"], []),
                enabled=bool(r["enabled"]),
                weight=float(weights.get(r["key"]) or DEFAULT_WEIGHT),
            )
            for r in self.query("SELECT * FROM principles WHERE constitution_id=? ORDER BY position", [cid])
        ]
        return Constitution(
            name=c["name"],
            title=c["title"] or "",
            description=c["description"] or "",
            version=c["version"],
            system_prompt=c["system_prompt"] or "",
            few_shot=[FewShotExample(**f) for f in loads(c["few_shot_json"], [])],
            principles=principles,
            preamble=str(doc.get("preamble") or ""),
            rationale=str(doc.get("rationale") or ""),
            ranked=bool(doc.get("ranked", False)),
        )

    def versions(self, name: str) -> list[dict[str, Any]]:
        """``{version, note, created_at, content_hash}`` of each saved version, oldest first."""
        return self.query(
            "SELECT version, note, created_at, content_hash FROM constitution_versions "
            "WHERE constitution_id=? ORDER BY version",
            [self.id(name)],
        )

    def delete(self, name: str) -> None:
        """Delete a constitution no chain was made with (one that was is kept, for traceability)."""
        cid = self.id(name)
        used = self.scalar("SELECT COUNT(*) FROM chains WHERE constitution_id=?", [cid])
        if used:
            raise ProjectError(
                f"Constitution {name!r} was used by {used} chains; it is kept so they stay traceable."
            )
        with self.db.atomic():
            self.db.execute("DELETE FROM constitutions WHERE id=?", [cid])

    def snapshot(self, p: Principle, constitution_name: str = "") -> int:
        """Id of the immutable snapshot of this principle's exact texts (made once per text)."""
        snap = p.snapshot()
        have = self.scalar("SELECT id FROM principle_snapshots WHERE hash=?", [snap["hash"]])
        if have is not None:
            return have
        with self.db.atomic():  # another writer may add the same text at the same moment: one row
            self.db.execute(
                "INSERT OR IGNORE INTO principle_snapshots (hash, constitution_name, key, title, critique_request, "
                "revision_request, comparison_question, tags_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [snap["hash"], constitution_name, p.key, p.title, p.critique_request, p.revision_request,
                 p.comparison_question, json.dumps(p.tags), now()])
            return self.scalar("SELECT id FROM principle_snapshots WHERE hash=?", [snap["hash"]])


def _few_json(c: Constitution) -> str:
    return json.dumps([f.to_dict() for f in c.few_shot], ensure_ascii=False)
