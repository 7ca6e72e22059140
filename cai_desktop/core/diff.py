"""Word-level differences between two texts, and what changed between two constitutions.

Plain Python: ``difflib.SequenceMatcher`` opcodes over word tokens are computed here and the UI
only renders them (DESIGN convention 7). Tokens keep the whitespace between words, so joining the
``a`` side of ``word_diff(a, b)`` gives back ``a`` exactly and the ``b`` side gives back ``b``.
"""

from __future__ import annotations

import difflib
import html
import json
import re
from typing import Any

#: a word (inner apostrophes kept: "can't"), a run of whitespace, or one punctuation character
_TOKEN = re.compile(r"\s+|\w+(?:['’]\w+)*|[^\w\s]")

OPS = ("equal", "delete", "insert", "replace")

DiffOp = tuple[str, str, str]

#: colours used by the HTML renderers (calm; readable on white)
DELETE_STYLE = "background:#fbe3e4;color:#8a1f24;text-decoration:line-through;"
INSERT_STYLE = "background:#dff3e3;color:#14532d;"


def tokenize(text: str) -> list[str]:
    """Words, whitespace runs and punctuation; ``"".join(tokenize(t)) == t``."""
    return _TOKEN.findall(text or "")


def word_diff(a: str, b: str) -> list[DiffOp]:
    """``[(op, a_text, b_text)]`` with op in equal/delete/insert/replace, adjacent ops merged.

    ``a_text`` is the part of ``a`` the op covers ('' for an insert) and ``b_text`` the part of
    ``b`` ('' for a delete). A change that only touches whitespace between two equal words is
    folded into the surrounding equal run, so re-wrapped text does not light up.
    """
    ta, tb = tokenize(a), tokenize(b)
    sm = difflib.SequenceMatcher(None, ta, tb, autojunk=False)
    out: list[DiffOp] = []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        at, bt = "".join(ta[i1:i2]), "".join(tb[j1:j2])
        if tag != "equal" and not at.strip() and not bt.strip():
            tag = "equal"  # whitespace-only change: show b's spacing on both sides
        _append(out, tag, at, bt)
    return out


def _append(out: list[DiffOp], tag: str, at: str, bt: str) -> None:
    if not at and not bt:
        return
    if out:
        ptag, pa, pb = out[-1]
        if ptag == tag:
            out[-1] = (tag, pa + at, pb + bt)
            return
        # delete+insert (either order) next to each other read as one replace
        if {ptag, tag} <= {"delete", "insert", "replace"} and "equal" not in (ptag, tag):
            out[-1] = ("replace", pa + at, pb + bt)
            return
    out.append((tag, at, bt))


def side_text(ops: list[DiffOp], side: str) -> str:
    """The full text of one side (``"a"`` or ``"b"``) back from the ops."""
    k = 1 if side == "a" else 2
    return "".join(op[k] for op in ops)


def similarity(a: str, b: str) -> float:
    """Share of words two texts have in common (1.0 = same words in the same order)."""
    ta = [t for t in tokenize(a) if t.strip()]
    tb = [t for t in tokenize(b) if t.strip()]
    if not ta and not tb:
        return 1.0
    return difflib.SequenceMatcher(None, ta, tb, autojunk=False).ratio()


def changed_words(ops: list[DiffOp]) -> tuple[int, int]:
    """(words removed from a, words added in b): a quick size of a revision."""
    removed = added = 0
    for op, at, bt in ops:
        if op in ("delete", "replace"):
            removed += len([t for t in tokenize(at) if t.strip()])
        if op in ("insert", "replace"):
            added += len([t for t in tokenize(bt) if t.strip()])
    return removed, added


# -- rendering ---------------------------------------------------------------------------------
def _html_text(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def render_html(ops: list[DiffOp], side: str) -> str:
    """One side as HTML: on ``"a"`` deleted words are red and struck through; on ``"b"`` inserted
    words are green. Equal text is escaped, newlines become ``<br>``."""
    if side not in ("a", "b"):
        raise ValueError("side must be 'a' or 'b'")
    parts = []
    for op, at, bt in ops:
        text = at if side == "a" else bt
        if not text:
            continue
        if op == "equal":
            parts.append(_html_text(text))
        elif side == "a":
            parts.append(f'<span style="{DELETE_STYLE}">{_html_text(text)}</span>')
        else:
            parts.append(f'<span style="{INSERT_STYLE}">{_html_text(text)}</span>')
    return "".join(parts)


def html_pair(a: str, b: str) -> tuple[str, str]:
    """``(left_html, right_html)`` for showing ``a`` and ``b`` side by side."""
    ops = word_diff(a, b)
    return render_html(ops, "a"), render_html(ops, "b")


def render_inline_html(ops: list[DiffOp]) -> str:
    """Both sides in one flow: deletions struck through in red, insertions in green."""
    parts = []
    for op, at, bt in ops:
        if op == "equal":
            parts.append(_html_text(bt))
            continue
        if at:
            parts.append(f'<span style="{DELETE_STYLE}">{_html_text(at)}</span>')
        if bt:
            parts.append(f'<span style="{INSERT_STYLE}">{_html_text(bt)}</span>')
    return "".join(parts)


# -- constitutions -----------------------------------------------------------------------------
PRINCIPLE_FIELDS = (
    "title", "critique_request", "revision_request", "comparison_question", "tags", "enabled", "weight",
)
CONSTITUTION_FIELDS = ("title", "description", "system_prompt", "preamble", "rationale", "ranked")


def _field_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "enabled" if value else "disabled"
    return "" if value is None else str(value)


def constitution_changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """What changed from ``old`` to ``new`` (two ``Constitution.to_dict()`` dicts).

    A list of ``{"what", "key", "change", "fields": [(field, old_text, new_text)]}`` where
    ``what`` is ``constitution``/``principle``/``few_shot`` and ``change`` is ``added``,
    ``removed``, ``changed`` or ``moved``. Principles are matched by key.
    """
    out: list[dict[str, Any]] = []
    fields = [
        (f, _field_text(old.get(f)), _field_text(new.get(f)))
        for f in CONSTITUTION_FIELDS
        if _field_text(old.get(f)) != _field_text(new.get(f))
    ]
    if fields:
        out.append({"what": "constitution", "key": new.get("name", ""), "change": "changed", "fields": fields})
    old_p = {p["key"]: p for p in old.get("principles") or []}
    new_p = {p["key"]: p for p in new.get("principles") or []}
    old_order = [k for k in old_p if k in new_p]
    new_order = [k for k in new_p if k in old_p]
    for key, p in new_p.items():
        if key not in old_p:
            out.append({"what": "principle", "key": key, "change": "added",
                        "fields": [(f, "", _field_text(p.get(f))) for f in PRINCIPLE_FIELDS
                                   if _field_text(p.get(f)) and f != "enabled"]})
            continue
        q = old_p[key]
        fields = [
            (f, _field_text(q.get(f)), _field_text(p.get(f)))
            for f in PRINCIPLE_FIELDS
            if _field_text(q.get(f)) != _field_text(p.get(f))
        ]
        if fields:
            out.append({"what": "principle", "key": key, "change": "changed", "fields": fields})
    for key, q in old_p.items():
        if key not in new_p:
            out.append({"what": "principle", "key": key, "change": "removed",
                        "fields": [(f, _field_text(q.get(f)), "") for f in PRINCIPLE_FIELDS
                                   if _field_text(q.get(f)) and f != "enabled"]})
    if old_order != new_order:
        out.append({"what": "principle", "key": "", "change": "moved",
                    "fields": [("order", ", ".join(old_order), ", ".join(new_order))]})
    old_f = [json.dumps(f, sort_keys=True) for f in old.get("few_shot") or []]
    new_f = [json.dumps(f, sort_keys=True) for f in new.get("few_shot") or []]
    if old_f != new_f:
        sm = difflib.SequenceMatcher(None, old_f, new_f, autojunk=False)
        for tag, i1, i2, j1, j2 in sm.get_opcodes():
            if tag == "equal":
                continue
            for i in range(i1, i2):
                f = json.loads(old_f[i])
                out.append({"what": "few_shot", "key": f"example {i + 1}", "change": "removed",
                            "fields": [("prompt", f.get("prompt", ""), "")]})
            for j in range(j1, j2):
                f = json.loads(new_f[j])
                out.append({"what": "few_shot", "key": f"example {j + 1}", "change": "added",
                            "fields": [("prompt", "", f.get("prompt", ""))]})
    return out


def changes_html(changes: list[dict[str, Any]], old_label: str = "old", new_label: str = "new") -> str:
    """The changes of ``constitution_changes`` as an HTML report with word-level highlights."""
    if not changes:
        return f"<p>No differences between {html.escape(old_label)} and {html.escape(new_label)}.</p>"
    colour = {"added": "#14532d", "removed": "#8a1f24", "changed": "#1f4e79", "moved": "#6b4e16"}
    parts = [f"<p style='color:#4a5361'>From <b>{html.escape(old_label)}</b> to "
             f"<b>{html.escape(new_label)}</b>: {len(changes)} change(s).</p>"]
    for ch in changes:
        name = {"constitution": "Constitution", "principle": "Principle", "few_shot": "Few-shot"}[ch["what"]]
        key = f" <code>{html.escape(ch['key'])}</code>" if ch["key"] else ""
        parts.append(
            f"<h4 style='margin:10px 0 4px 0'>{name}{key} "
            f"<span style='color:{colour[ch['change']]};font-weight:normal'>{ch['change']}</span></h4>"
        )
        rows = []
        for field, a, b in ch["fields"]:
            if ch["change"] == "added":
                body = f'<span style="{INSERT_STYLE}">{_html_text(b)}</span>'
            elif ch["change"] == "removed":
                body = f'<span style="{DELETE_STYLE}">{_html_text(a)}</span>'
            else:
                body = render_inline_html(word_diff(a, b))
            rows.append(
                f"<tr><td style='color:#4a5361;padding:2px 10px 2px 0;vertical-align:top;white-space:nowrap'>"
                f"{html.escape(field.replace('_', ' '))}</td><td style='padding:2px 0'>{body}</td></tr>"
            )
        parts.append("<table cellspacing='0'>" + "".join(rows) + "</table>")
    return "".join(parts)
