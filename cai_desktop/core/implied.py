"""The implied constitution: which principles the reviewers' own choices agree with.

Inverse Constitutional AI (Findeis et al., ICLR 2025) reads a constitution *out of* preference
data: a principle belongs to the constitution the annotators implied if a model asked to judge by
that principle alone reproduces their choices. Here the candidates are the project's principles
(and drafts written from reviewers' notes), the preferences are the final human A/B choices on
comparisons, and the judge is the project's feedback model asked each principle's comparison
question (``jobs/implied.py`` collects the votes; this module only scores them, no model, no SQL).

For one principle, each comparison whose final human choice is A or B gives one vote: the
feedback model's p(A) under that principle's question. The vote *agrees* when the side the model
prefers (p(A) > 0.5 → A) is the side the humans chose. A principle's score is its agreement rate
with ``n``, a Wilson 95 % interval and the exact two-sided binomial p-value against 0.5 (a coin):

- **supported**: the interval lies above 0.5 — judging by this principle predicts the reviewers;
- **contradicted**: the interval lies below 0.5 — the reviewers' choices go *against* it (they
  prefer the answer this principle rejects), the signal inverse CAI looks for;
- **unclear**: the interval contains 0.5 (too few votes, or the principle does not matter here).

Ties and both-bad choices say nothing about a side and are not votes; a p(A) of exactly 0.5 is
counted as *undecided* (reported, not a vote). ``mean_p_human`` is the mean probability the model
gave the humans' side, a softer view of the same agreement.

A reviewer's note on a rejected answer can become a draft principle: ``draft_request`` is the
instruction a teacher model continues, ``parse_draft`` reads its answer into the three texts a
principle needs, filling any it failed to write from the note itself (so the person always gets a
complete draft to edit, and ``filled`` says which texts were not the model's).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cai_desktop.core.stats import Z95, binomial_two_sided, wilson

#: the human choices that name a side (ties and both-bad are not votes)
SIDES = ("A", "B")
VERDICTS = ("supported", "contradicted", "unclear", "no votes")


@dataclass(frozen=True)
class PrincipleScore:
    """How well one principle's comparison question predicts the final human choices."""

    key: str
    title: str
    n: int  # votes: comparisons with a human A/B choice and a decided model vote
    agreed: int
    agreement: float | None  # agreed / n (None without votes)
    low: float  # Wilson 95 % interval of the agreement
    high: float
    p_value: float  # exact two-sided binomial test of agreement = 0.5
    mean_p_human: float | None  # mean probability the model gave the humans' side
    undecided: int = 0  # votes with p(A) exactly 0.5
    verdict: str = "no votes"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PrincipleScore:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def verdict_of(n: int, low: float, high: float) -> str:
    if n == 0:
        return "no votes"
    if low > 0.5:
        return "supported"
    if high < 0.5:
        return "contradicted"
    return "unclear"


def score_principle(
    key: str, votes: Iterable[tuple[float, str]], title: str = "", z: float = Z95,
) -> PrincipleScore:
    """Score one principle from its votes ``(p_a, human_choice)``; choices other than A/B are skipped."""
    n = agreed = undecided = 0
    p_human: list[float] = []
    for p_a, human in votes:
        if human not in SIDES or p_a is None:
            continue
        p_a = float(p_a)
        if not 0.0 <= p_a <= 1.0:
            raise ValueError(f"p(A) must lie in [0, 1], got {p_a}")
        p_human.append(p_a if human == "A" else 1.0 - p_a)
        if p_a == 0.5:
            undecided += 1
            continue
        n += 1
        agreed += int((p_a > 0.5) == (human == "A"))
    low, high = wilson(agreed, n, z)
    return PrincipleScore(
        key=key, title=title, n=n, agreed=agreed, agreement=agreed / n if n else None, low=low, high=high,
        p_value=binomial_two_sided(agreed, n), mean_p_human=sum(p_human) / len(p_human) if p_human else None,
        undecided=undecided, verdict=verdict_of(n, low, high),
    )


def implied_constitution(
    votes: Mapping[str, Sequence[tuple[float, str]]], titles: Mapping[str, str] | None = None,
) -> list[PrincipleScore]:
    """Every principle's score, best first (agreement, then n); principles without votes last."""
    titles = titles or {}
    scores = [score_principle(k, v, titles.get(k, "")) for k, v in votes.items()]
    return sorted(scores, key=lambda s: (s.agreement is None, -(s.agreement or 0.0), -s.n, s.key))


def contradicted(scores: Iterable[PrincipleScore]) -> list[PrincipleScore]:
    """The principles the reviewers' choices go against (agreement significantly below 0.5)."""
    return [s for s in scores if s.verdict == "contradicted"]


def human_side(choice: str | None) -> str | None:
    """"A"/"B" for a choice that names a side, else None (tie, both-bad, no choice)."""
    return choice if choice in SIDES else None


# -- a draft principle from a reviewer's note ----------------------------------------------------------
DRAFT_FIELDS = ("title", "critique_request", "revision_request", "comparison_question")
_LABELS = {
    "title": "Title",
    "critique_request": "Critique request",
    "revision_request": "Revision request",
    "comparison_question": "Comparison question",
}


def draft_request(note: str, prompt: str = "", answer: str = "") -> str:
    """The instruction the teacher model answers: a principle from a reviewer's note on an answer."""
    note = (note or "").strip()
    if not note:
        raise ValueError("A draft principle needs the reviewer's note.")
    parts = [
        "A reviewer rejected an AI assistant's answer and wrote a note saying why. Turn the note into a "
        "general principle for a constitution that other answers can be checked against.",
    ]
    if prompt.strip():
        parts.append(f"The user asked:\n{prompt.strip()}")
    if answer.strip():
        parts.append(f"The rejected answer:\n{answer.strip()}")
    parts.append(f"The reviewer's note:\n{note}")
    parts.append(
        "Write exactly four lines, in this form and nothing else:\n"
        "Title: a few words naming the principle\n"
        "Critique request: an instruction asking to identify where an answer breaks the principle\n"
        "Revision request: an instruction asking to rewrite the answer so it follows the principle\n"
        "Comparison question: a question asking which of two answers follows the principle better"
    )
    return "\n\n".join(parts)


_LINE = re.compile(r"^\s*[*#>\-\d.\s]*\**\s*(title|critique request|revision request|comparison question)\s*\**\s*[:：]\s*(.*)$",
                   re.IGNORECASE)


def fallback_draft(note: str) -> dict[str, str]:
    """Texts made from the note alone (for whatever the model did not write)."""
    n = " ".join((note or "").split()).rstrip(".")
    short = n if len(n) <= 60 else n[:57].rstrip() + "…"
    return {
        "title": short[:1].upper() + short[1:] if short else "New principle",
        "critique_request": f"Identify specific ways in which the assistant's last answer goes against this: {n}.",
        "revision_request": f"Rewrite the assistant's answer so that it respects this: {n}.",
        "comparison_question": f"Which of these answers better respects this: {n}?",
    }


def parse_draft(text: str, note: str) -> dict[str, Any]:
    """The teacher's answer read into ``{title, critique_request, revision_request,
    comparison_question, filled}``; ``filled`` lists the texts taken from ``fallback_draft``."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    for line in (text or "").splitlines():
        m = _LINE.match(line)
        if m:
            current = m.group(1).lower().replace(" ", "_")
            if current in found:  # a second block (a model that goes on): keep the first
                current = None
                continue
            found[current] = [m.group(2).strip()]
        elif current is not None and line.strip():
            found[current].append(line.strip())
        elif not line.strip():
            current = None
    fallback = fallback_draft(note)
    out: dict[str, Any] = {}
    filled: list[str] = []
    for f in DRAFT_FIELDS:
        value = " ".join(found.get(f, [])).strip().strip("*").strip()
        if not value:
            value = fallback[f]
            filled.append(f)
        out[f] = value
    out["filled"] = filled
    return out


def draft_key(title: str, existing: Iterable[str]) -> str:
    """A principle key from a title, unique among ``existing`` (``no_flattery``, ``no_flattery_2``)."""
    base = re.sub(r"[^a-z0-9]+", "_", (title or "").lower()).strip("_")[:40].strip("_") or "draft"
    taken = set(existing)
    key, i = base, 2
    while key in taken:
        key, i = f"{base}_{i}", i + 1
    return key


@dataclass
class DraftPrinciple:
    """A draft principle as the teacher (or the note) wrote it, before the person edits it."""

    key: str
    title: str
    critique_request: str
    revision_request: str
    comparison_question: str
    note: str = ""
    filled: list[str] = field(default_factory=list)
    raw: str = ""

    def principle_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "critique_request": self.critique_request,
                "revision_request": self.revision_request, "comparison_question": self.comparison_question,
                "tags": ["draft", "from-review"], "enabled": True}
