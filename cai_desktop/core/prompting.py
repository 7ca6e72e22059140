"""Model inputs for the critique → revision chain, in two styles, and cleaning of model habits.

- ``chat``: the model's chat template; the constitution's few-shot examples are earlier turns.
- ``transcript``: the paper's plain-text form (Human/Assistant/CritiqueRequest/Critique/
  RevisionRequest/Revision), for base models without a chat template.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace

from cai_desktop.core.constitution import Constitution, FewShotExample, Principle
from cai_desktop.core.feedback import DEFAULT_QUESTION

STYLES = ("chat", "transcript")
TRANSCRIPT_STOPS = ("\n\nHuman:", "\n\nCritiqueRequest:", "\n\nRevisionRequest:", "\n\nCritique:", "\n\nRevision:", "\n\nAssistant:")


@dataclass
class Turn:
    """One finished round of a chain: the critique request/critique and revision request/revision."""

    principle: Principle
    critique: str
    revision: str | None = None


def _examples(c: Constitution, few_shot: int | bool) -> list[FewShotExample]:
    """``True`` = all examples, ``False``/0 = none, ``n`` = the first n (each costs prompt length)."""
    if few_shot is True:
        return list(c.few_shot)
    return list(c.few_shot[: int(few_shot)])


def _few_shot_messages(few: list[FewShotExample]) -> list[dict[str, str]]:
    msgs: list[dict[str, str]] = []
    for f in few:
        msgs += [{"role": "user", "content": f.prompt}, {"role": "assistant", "content": f.response}]
        if f.critique_request and f.critique:
            msgs += [{"role": "user", "content": f.critique_request}, {"role": "assistant", "content": f.critique}]
            if f.revision_request and f.revision:
                msgs += [{"role": "user", "content": f.revision_request}, {"role": "assistant", "content": f.revision}]
    return msgs


def answer_messages(c: Constitution | None, prompt: str, *, include_system: bool = True) -> list[dict[str, str]]:
    """The initial answer: just the conversation (no few-shot: the helpful model answers as it would)."""
    msgs = []
    if include_system and c is not None and c.system_prompt:
        msgs.append({"role": "system", "content": c.system_prompt})
    msgs.append({"role": "user", "content": prompt})
    return msgs


def constitution_messages(c: Constitution, prompt: str, *, few_shot: int = 2) -> list[dict[str, str]]:
    """The teacher's context for context distillation: the constitution in the system message
    (its system prompt and every enabled principle, in words a model can follow), then up to
    ``few_shot`` of its examples as earlier turns (prompt → the revised answer), then the prompt."""
    lines = [c.system_prompt.strip()] if c.system_prompt.strip() else []
    if c.preamble.strip():
        lines.append(c.preamble.strip())
    if c.ranked:
        lines.append("Follow these principles in every answer. They are in order of priority: when two "
                     "conflict, the earlier one wins.")
    else:
        lines.append("Follow these principles in every answer:")
    for i, p in enumerate(c.enabled_principles, 1):
        rule = (p.revision_request or p.critique_request or p.title).strip()
        mark = f"{i}." if c.ranked else "-"
        lines.append(f"{mark} {p.title}: {rule}" if p.title and p.title not in rule else f"{mark} {rule}")
    lines.append("Decline harmful requests briefly, say why, and offer a safe alternative; answer harmless "
                 "requests fully.")
    msgs = [{"role": "system", "content": "\n".join(lines)}]
    for ex in c.few_shot[: max(0, few_shot)]:
        if ex.prompt and ex.revision:
            msgs += [{"role": "user", "content": ex.prompt}, {"role": "assistant", "content": ex.revision}]
    msgs.append({"role": "user", "content": prompt})
    return msgs


def chain_messages(
    c: Constitution,
    prompt: str,
    answer: str,
    turns: list[Turn],
    next_principle: Principle,
    stage: str,
    *,
    few_shot: int | bool = True,
) -> list[dict[str, str]]:
    """Messages asking for the next critique (``stage='critique'``) or revision (``'revision'``).

    ``turns`` are the rounds already finished; in the revision stage the last turn holds the
    critique just written (its revision is None) and ``next_principle`` is that turn's principle.
    """
    msgs: list[dict[str, str]] = []
    if c.system_prompt:
        msgs.append({"role": "system", "content": c.system_prompt})
    msgs += _few_shot_messages(_examples(c, few_shot))
    msgs += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
    for t in turns:
        msgs += [{"role": "user", "content": t.principle.critique_request}, {"role": "assistant", "content": t.critique}]
        if t.revision is not None:
            msgs += [{"role": "user", "content": t.principle.revision_request}, {"role": "assistant", "content": t.revision}]
    if stage == "critique":
        msgs.append({"role": "user", "content": next_principle.critique_request})
    elif stage == "revision":
        if not turns or turns[-1].revision is not None:
            raise ValueError("the revision stage needs the critique of this round as the last turn")
        msgs.append({"role": "user", "content": next_principle.revision_request})
    else:
        raise ValueError(f"unknown stage {stage!r}")
    return msgs


def _few_shot_transcript(few: list[FewShotExample]) -> str:
    parts = []
    for f in few:
        block = f"Human: {f.prompt}\n\nAssistant: {f.response}"
        if f.critique_request and f.critique:
            block += f"\n\nCritiqueRequest: {f.critique_request}\n\nCritique: {f.critique}"
            if f.revision_request and f.revision:
                block += f"\n\nRevisionRequest: {f.revision_request}\n\nRevision: {f.revision}"
        parts.append(block)
    return "\n\n-----\n\n".join(parts)


def answer_transcript(prompt: str) -> str:
    return f"Human: {prompt}\n\nAssistant:"


def chain_transcript(
    c: Constitution,
    prompt: str,
    answer: str,
    turns: list[Turn],
    next_principle: Principle,
    stage: str,
    *,
    few_shot: int | bool = True,
) -> str:
    """The paper's text form; the model continues after 'Critique:' or 'Revision:'."""
    text = ""
    examples = _examples(c, few_shot)
    if examples:
        text = _few_shot_transcript(examples) + "\n\n-----\n\n"
    text += f"Human: {prompt}\n\nAssistant: {answer}"
    for t in turns:
        text += f"\n\nCritiqueRequest: {t.principle.critique_request}\n\nCritique: {t.critique}"
        if t.revision is not None:
            text += f"\n\nRevisionRequest: {t.principle.revision_request}\n\nRevision: {t.revision}"
    if stage == "critique":
        text += f"\n\nCritiqueRequest: {next_principle.critique_request}\n\nCritique:"
    elif stage == "revision":
        text += f"\n\nRevisionRequest: {next_principle.revision_request}\n\nRevision:"
    else:
        raise ValueError(f"unknown stage {stage!r}")
    return text


# -- cleaning the model's habits -------------------------------------------------------------------
_PREAMBLE = re.compile(
    r"^\s*(?:(?:sure|okay|ok|certainly|of course|absolutely)[,!.]?\s*)?"
    r"(?:(?:here(?:'s| is)|below is|this is)\s+(?:a|an|the|my)?\s*"
    r"(?:revised|rewritten|updated|improved|new|edited)?\s*(?:version(?: of the)?\s*)?"
    r"(?:response|reply|answer|revision|version)?"
    r"(?:\s+(?:that|which)[^:\n]{0,80})?\s*[:.\-]\s*"
    r"|(?:revised|rewritten|updated|improved|new)\s+(?:response|reply|answer|version)\s*[:\-]\s*"
    r"|(?:revision|response|answer|assistant)\s*:\s*)",
    re.IGNORECASE,
)
_CRITIQUE_PREAMBLE = re.compile(r"^\s*(?:critique\s*:\s*)", re.IGNORECASE)
_QUOTES = [('"', '"'), ("\u201c", "\u201d"), ("'", "'")]


def clean_revision(text: str) -> tuple[str, bool]:
    """Strip habitual preambles ("Sure, here is a revised response:") and wrapping quotes.

    Returns the cleaned text and whether anything was removed. Text that is only a preamble is
    left alone (better a visible oddity than an empty revision).
    """
    original = text.strip()
    out = original
    for _ in range(3):
        m = _PREAMBLE.match(out)
        if not m or not out[m.end():].strip():
            break
        out = out[m.end():].strip()
    for lq, rq in _QUOTES:
        if len(out) > 2 and out.startswith(lq) and out.endswith(rq) and out.count(lq if lq == rq else rq) <= 2:
            out = out[1:-1].strip()
    return out, out != original


def clean_critique(text: str) -> str:
    return _CRITIQUE_PREAMBLE.sub("", text.strip(), count=1).strip()


_META_START = re.compile(
    r"^\W*(?:the|this|that|my|your)\s+(?:(?:revised|original|previous|last|first|above|assistant(?:'|’)?s?)\s+)*"
    r"(?:response|assistant|critique|revision)\b",
    re.IGNORECASE,
)


def echoes_critique(revision: str, critique: str) -> bool:
    """A weak model often 'revises' by repeating its critique; count that, not as a real revision."""
    a, b = revision.strip()[:300].lower(), (critique or "").strip()[:300].lower()
    return bool(a and b) and difflib.SequenceMatcher(None, a, b).ratio() > 0.8


def revision_flaw(revision: str, critique: str | None = None) -> str | None:
    """Why a model's revision is not usable as training data, or None when it looks like an answer.

    Small models often write about the answer instead of rewriting it ("The response cuts the
    filler…") or repeat their critique; training on those teaches the model to talk about answers.
    """
    if not (revision or "").strip():
        return "empty"
    if critique and echoes_critique(revision, critique):
        return "repeats the critique"
    if _META_START.match(revision):
        return "talks about the response instead of answering"
    return None


# -- priorities (issue 13) ----------------------------------------------------------------------
#: what a ranked constitution's comparison question adds, for the principle ranked first
FIRST_PRIORITY_NOTE = ("This principle has the highest priority: if it conflicts with any other consideration, "
                       "it wins.")
#: ... and for a lower one; ``{higher}`` lists the principles above it, highest first
PRIORITY_NOTE = ("When principles conflict, the higher-priority one wins. These come before this one, highest "
                 "first: {higher}.")


def _name(p: Principle) -> str:
    return (p.title or p.key).strip()


def priority_question(c: Constitution, p: Principle) -> str:
    """``p``'s comparison question (the generic one when it has none) with, when ``c`` is ranked,
    the sentence that says which principles outrank it (``FIRST_PRIORITY_NOTE``/``PRIORITY_NOTE``)."""
    question = (p.comparison_question or "").strip() or DEFAULT_QUESTION
    if not c.ranked:
        return question
    order = [q.key for q in c.enabled_principles]
    rank = order.index(p.key) if p.key in order else len(order)
    if rank == 0:
        return f"{question} {FIRST_PRIORITY_NOTE}"
    higher = "; ".join(f"{i}. {_name(q)}" for i, q in enumerate(c.enabled_principles[:rank], 1))
    return f"{question} {PRIORITY_NOTE.format(higher=higher)}"


def prioritised(c: Constitution) -> Constitution:
    """The constitution the feedback model is asked with: for a ranked one, each enabled
    principle's comparison question states its priority (:func:`priority_question`); an unranked
    one is returned as it is. Records made with it keep these exact texts in their snapshots."""
    if not c.ranked:
        return c
    d = c.copy()
    d.principles = [replace(p, comparison_question=priority_question(c, p), tags=list(p.tags)) if p.enabled else p
                    for p in c.principles]
    return d
