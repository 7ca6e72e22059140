"""core.packs: the pack format is read back as written, and every kind of bad file is refused in
one line (missing, empty, truncated gzip, truncated JSON, not a pack, newer version, nonsense)."""

from __future__ import annotations

import gzip
import json

import pytest

from cai_desktop.core import packs
from cai_desktop.core.errors import ValidationError


def _pack():
    content = {"prompt": "q", "response_a": "a", "response_b": "b", "principle_key": "p0",
               "comparison_question": "Which is better?"}
    item = {"uid": "ab" * 16, "kind": "comparison", "hash": packs.content_hash("comparison", content),
            "principle_key": "p0", "principle_text": "p0: Which is better?", "assigned": ["ann"],
            "content": content, "ai": None}
    return {"format": packs.FORMAT, "version": packs.VERSION, "pack_uid": "cd" * 16, "project_uid": "ef" * 16,
            "blind": True, "k": 1, "reviewers": ["ann"], "items": [item],
            "decisions": [{"uid": "12" * 16, "item_uid": item["uid"], "reviewer": "ann", "decision": "A",
                           "edited_text": None, "note": "fine", "created_at": "2026-12-01T00:00:00+00:00",
                           "principle_text": "p0: Which is better?"}]}


def test_round_trip_gzip_and_plain(tmp_path):
    for name in ("p.caipack", "p.json"):
        packs.dump_pack(_pack(), tmp_path / name)
        assert packs.read_pack(tmp_path / name) == _pack()
    assert (tmp_path / "p.caipack").read_bytes()[:2] == b"\x1f\x8b"


def _write(tmp_path, pack):
    path = tmp_path / "bad.caipack"
    path.write_bytes(gzip.compress(json.dumps(pack).encode()))
    return path


@pytest.mark.parametrize("edit, words", [
    (lambda p: p.update(version=2), "newer CAI Desktop"),
    (lambda p: p.update(version="one"), "not a whole number"),
    (lambda p: p.update(format="zip"), "not a CAI Desktop review pack"),
    (lambda p: p.update(items=[]), "holds no items"),
    (lambda p: p["items"][0].update(kind="video"), "neither a chain nor a comparison"),
    (lambda p: p["items"][0]["content"].update(prompt="changed"), "changed after the pack was made"),
    (lambda p: p["items"][0]["content"].update(prompt={"x": 1}), "no readable content"),
    (lambda p: p["decisions"][0].update(decision="C"), "not a decision on a comparison"),
    (lambda p: p["decisions"][0].update(item_uid="99" * 16), "an item the pack does not hold"),
    (lambda p: p["decisions"][0].update(reviewer=""), "has no reviewer"),
    (lambda p: p["decisions"].append(dict(p["decisions"][0])), "no uid of its own"),
    (lambda p: p.update(project_uid="not hex!"), "not a uid"),
])
def test_hand_edited_nonsense_is_refused(tmp_path, edit, words):
    pack = _pack()
    edit(pack)
    with pytest.raises(ValidationError, match=words) as e:
        packs.read_pack(_write(tmp_path, pack))
    assert "\n" not in str(e.value)


def test_broken_files_are_refused(tmp_path):
    packs.dump_pack(_pack(), tmp_path / "good.caipack")
    data = (tmp_path / "good.caipack").read_bytes()
    cases = {"cut.caipack": (data[:20], "truncated"), "empty.caipack": (b"", "empty"),
             "cut.json": (json.dumps(_pack()).encode()[:-30], "truncated"),
             "list.json": (b"[1, 2]", "not a CAI Desktop review pack"),
             "binary.caipack": (b"\xff\xfe\x00\x01" * 10, "not a review pack"),
             "deep.json": (b"[" * 100000 + b"]" * 100000, "review pack")}
    for name, (raw, words) in cases.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(ValidationError, match=words):
            packs.read_pack(tmp_path / name)
    with pytest.raises(ValidationError, match="No review pack"):
        packs.read_pack(tmp_path / "missing.caipack")
