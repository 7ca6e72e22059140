"""Review packs: the file format, its reading and its validation (plain Python; the store writes
and merges them: ``store/packs.py``).

A review pack is one self-contained file: gzipped JSON (plain JSON is read too) of

    {"format": "cai-desktop-review-pack", "version": 1,
     "pack_uid": "...", "project_uid": "...", "project_name": "...", "created_at": "...",
     "blind": false, "k": 2, "reviewers": ["ann", "bob"],
     "items": [{"uid", "kind": "chain" | "comparison", "hash", "principle_key", "principle_text",
                "assigned": [reviewer names], "content": {...}, "ai": {...} or null}],
     "decisions": [{"uid", "item_uid", "reviewer", "decision", "edited_text", "note",
                    "created_at", "principle_text"}]}

``content`` is what a reviewer reads (a chain: prompt, initial and final text, its rounds with
the principle texts; a comparison: prompt, the two answers, the principle and its question) and
``hash`` is ``content_hash(kind, content)``: the project checks on import that every item is still
the one it sent. ``ai`` holds the AI label and model names; a blind pack has ``ai: null``.
``decisions`` is empty when the pack goes out and holds the reviewers' decisions when it comes
back. ``read_pack`` refuses, in one line (``ValidationError``), a file that is missing, truncated,
not a pack, of a newer format version, or not what a pack holds (edited by hand into nonsense).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zlib
from pathlib import Path
from typing import Any

from cai_desktop.core.errors import ValidationError

FORMAT = "cai-desktop-review-pack"
VERSION = 1
SUFFIX = ".caipack"
MAX_BYTES = 200 * 1024 * 1024
KINDS = ("chain", "comparison")
DECISIONS = {"chain": ("accepted", "rejected", "edited", "unreviewed"),
             "comparison": ("A", "B", "tie", "both-bad", "unreviewed")}
_UID = re.compile(r"^[0-9a-f]{8,64}$")
#: the text fields of an item's content, per kind (all must be text; steps are checked apart)
CONTENT_FIELDS = {"chain": ("prompt", "initial_text", "final_text"),
                  "comparison": ("prompt", "response_a", "response_b", "principle_key", "comparison_question")}
STEP_FIELDS = ("principle_key", "critique_request", "revision_request", "critique", "revision")


def content_hash(kind: str, content: dict[str, Any]) -> str:
    """sha256 of the item's content as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps({"kind": kind, **content}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dump_pack(pack: dict[str, Any], path: str | Path) -> Path:
    """Write ``pack`` gzipped (plain JSON when ``path`` ends in ``.json``)."""
    path = Path(path)
    data = json.dumps(pack, ensure_ascii=False, indent=None, separators=(",", ":")).encode("utf-8")
    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_bytes(data if path.suffix == ".json" else gzip.compress(data, mtime=0))
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ValidationError(f"Cannot write {path}: {e.strerror or e}.") from None
    return path


def read_pack(path: str | Path) -> dict[str, Any]:
    """The pack in ``path``, checked (``validate_pack``); one ``ValidationError`` line otherwise."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ValidationError(f"No review pack at {path}.")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValidationError(f"{name} is larger than {MAX_BYTES // 2**20} MiB: it is not a review pack.")
        raw = path.read_bytes()
    except OSError as e:
        raise ValidationError(f"Cannot read {name}: {e.strerror or e}.") from None
    if not raw.strip():
        raise ValidationError(f"{name} is empty: it is not a review pack.")
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error):
            raise ValidationError(f"{name} is truncated or damaged (its compressed data ends early); "
                                  "ask for the pack again.") from None
        if len(raw) > MAX_BYTES:
            raise ValidationError(f"{name} unpacks to more than {MAX_BYTES // 2**20} MiB: it is not a review pack.")
    try:
        pack = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ValidationError(f"{name} is not a review pack (not text, nor gzipped text).") from None
    except RecursionError:
        raise ValidationError(f"{name} is not a valid review pack (nested too deeply).") from None
    except json.JSONDecodeError as e:
        if e.pos >= len(raw.strip()) - 1 or not raw.rstrip().endswith(b"}"):
            raise ValidationError(f"{name} is truncated (its JSON ends early); ask for the pack again.") from None
        raise ValidationError(f"{name} is not a valid review pack (bad JSON at line {e.lineno}: {e.msg}).") from None
    except ValueError as e:  # a number too long to read
        raise ValidationError(f"{name} is not a valid review pack ({e}).") from None
    validate_pack(pack, name)
    return pack


def _text(v: Any, optional: bool = False) -> bool:
    return isinstance(v, str) or (optional and v is None)


def validate_pack(pack: Any, name: str = "the pack") -> None:
    """Check the shape of a parsed pack: format, version, uids, every item and decision. Raises one
    ``ValidationError`` naming the first problem."""
    if not isinstance(pack, dict) or pack.get("format") != FORMAT:
        raise ValidationError(f"{name} is not a CAI Desktop review pack.")
    version = pack.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValidationError(f"{name} is not a valid review pack (its format version is not a whole number).")
    if version > VERSION:
        raise ValidationError(f"{name} was made by a newer CAI Desktop (pack format {version}; this version reads "
                              f"format {VERSION}). Update the app to open it.")

    def bad(what: str) -> ValidationError:
        return ValidationError(f"{name} is not a valid review pack: {what}.")

    for key in ("pack_uid", "project_uid"):
        if not isinstance(pack.get(key), str) or not _UID.match(pack[key]):
            raise bad(f"\"{key}\" is missing or not a uid")
    if not isinstance(pack.get("blind", False), bool):
        raise bad("\"blind\" is not true or false")
    reviewers = pack.get("reviewers", [])
    if not isinstance(reviewers, list) or not all(isinstance(r, str) for r in reviewers):
        raise bad("\"reviewers\" is not a list of names")
    items, decisions = pack.get("items"), pack.get("decisions", [])
    if not isinstance(items, list) or not items:
        raise bad("it holds no items")
    if not isinstance(decisions, list):
        raise bad("\"decisions\" is not a list")
    kinds: dict[str, str] = {}
    for n, it in enumerate(items, 1):
        if not isinstance(it, dict):
            raise bad(f"item {n} is not an object")
        uid, kind = it.get("uid"), it.get("kind")
        if not isinstance(uid, str) or not _UID.match(uid):
            raise bad(f"item {n} has no uid")
        if uid in kinds:
            raise bad(f"item {n} repeats the uid of an earlier item")
        if kind not in KINDS:
            raise bad(f"item {n} is neither a chain nor a comparison")
        content = it.get("content")
        if not isinstance(content, dict) or not all(_text(content.get(f), optional=True) for f in CONTENT_FIELDS[kind]):
            raise bad(f"item {n} has no readable content")
        if kind == "chain":
            steps = content.get("steps")
            if not isinstance(steps, list) or not all(
                    isinstance(s, dict) and isinstance(s.get("round"), int)
                    and all(_text(s.get(f), optional=True) for f in STEP_FIELDS) for s in steps):
                raise bad(f"item {n} has unreadable rounds")
        if it.get("hash") != content_hash(kind, content):
            raise bad(f"item {n} was changed after the pack was made (its content does not match its hash)")
        assigned = it.get("assigned", [])
        if not isinstance(assigned, list) or not all(isinstance(r, str) for r in assigned):
            raise bad(f"item {n}'s \"assigned\" is not a list of names")
        if not _text(it.get("principle_text", ""), optional=True) or not (
                it.get("ai") is None or isinstance(it.get("ai"), dict)):
            raise bad(f"item {n} has an unreadable principle text or AI label")
        kinds[uid] = kind
    seen: set[str] = set()
    for n, d in enumerate(decisions, 1):
        if not isinstance(d, dict):
            raise bad(f"decision {n} is not an object")
        uid = d.get("uid")
        if not isinstance(uid, str) or not _UID.match(uid) or uid in seen:
            raise bad(f"decision {n} has no uid of its own")
        seen.add(uid)
        kind = kinds.get(d.get("item_uid"))  # type: ignore[arg-type]
        if kind is None:
            raise bad(f"decision {n} is about an item the pack does not hold")
        if d.get("decision") not in DECISIONS[kind]:
            raise bad(f"decision {n} is {d.get('decision')!r}, not a decision on a {kind}")
        if not isinstance(d.get("reviewer"), str) or not d["reviewer"].strip():
            raise bad(f"decision {n} has no reviewer")
        if not isinstance(d.get("created_at"), str) or not d["created_at"]:
            raise bad(f"decision {n} has no time")
        for f in ("edited_text", "note", "principle_text"):
            if not _text(d.get(f), optional=True):
                raise bad(f"decision {n}'s {f.replace('_', ' ')} is not text")
        if d["decision"] == "edited" and not (d.get("edited_text") or "").strip():
            raise bad(f"decision {n} is an edit without the edited text")


def new_uid() -> str:
    import secrets

    return secrets.token_hex(16)
