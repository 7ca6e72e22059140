"""The constitution: ordered principles, few-shot examples, validation and seeded sampling.

Plain Python (no Qt, no torch, no SQL). A ``Principle`` holds the three texts the method needs:
the critique request and revision request (stage 1) and the comparison question (stage 2).

Priorities and free-text sections (issue 13):
- ``Principle.weight`` (a positive number, default 1): how often the principle is drawn for a
  critique or a comparison, relative to the others (:class:`PrincipleSampler` draws in proportion
  to the weights; with all weights equal the draws are the paper's uniform ones, the very same
  stream as before weights existed).
- ``Constitution.ranked`` (default false): the list order is a priority order. When principles
  conflict, the earlier (higher) one wins; the comparison question shown to the feedback model
  says so (``core.prompting.prioritised``) and the teacher's constitution context numbers them.
- ``Constitution.preamble`` and ``Constitution.rationale``: free text for people (what the
  constitution is for, why its principles are what they are); the preamble is also put before
  the principles in the teacher's context.
Fields at their defaults are left out of ``to_dict`` so a constitution without them keeps the
content hash (and saved version) it had before they existed.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from cai_desktop.core.errors import ValidationError

KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def slugify(text: str, fallback: str = "principle") -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:60] or fallback


@dataclass
class Principle:
    key: str
    title: str = ""
    critique_request: str = ""
    revision_request: str = ""
    comparison_question: str = ""
    tags: list[str] = field(default_factory=list)
    enabled: bool = True
    #: relative draw weight (see the module's note); 1 for every principle = uniform draws
    weight: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["weight"] == DEFAULT_WEIGHT:
            del d["weight"]  # unchanged content hash for principles without one
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "principle") -> Principle:
        """Read a principle strictly (see ``text_value``/``flag_value``/``words_value``)."""
        _check_fields(cls, data, where)
        return cls(
            key=text_value(data.get("key"), where, "key"),
            title=text_value(data.get("title"), where, "title"),
            critique_request=text_value(data.get("critique_request"), where, "critique_request"),
            revision_request=text_value(data.get("revision_request"), where, "revision_request"),
            comparison_question=text_value(data.get("comparison_question"), where, "comparison_question"),
            tags=words_value(data.get("tags"), where, "tags"),
            enabled=flag_value(data.get("enabled", True), where, "enabled"),
            weight=weight_value(data.get("weight"), where),
        )

    def snapshot(self) -> dict[str, Any]:
        """The exact texts a generated record was made with (stored beside the record)."""
        d = self.to_dict()
        d["hash"] = principle_hash(self)
        return d


def principle_hash(p: Principle) -> str:
    payload = json.dumps(
        [p.key, p.critique_request, p.revision_request, p.comparison_question], ensure_ascii=False
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class FewShotExample:
    prompt: str = ""
    response: str = ""
    critique_request: str = ""
    critique: str = ""
    revision_request: str = ""
    revision: str = ""
    principle: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "few-shot example") -> FewShotExample:
        _check_fields(cls, data, where)
        return cls(**{f.name: text_value(data.get(f.name), where, f.name) for f in fields(cls)})


@dataclass
class Constitution:
    name: str
    title: str = ""
    description: str = ""
    version: int = 1
    system_prompt: str = ""
    few_shot: list[FewShotExample] = field(default_factory=list)
    principles: list[Principle] = field(default_factory=list)
    #: free text before the principles: what the constitution is for (people and the teacher read it)
    preamble: str = ""
    #: free text: why the principles are what they are, and how conflicts were weighed
    rationale: str = ""
    #: the list order is a priority order: when principles conflict, the earlier one wins
    ranked: bool = False

    # -- conversion -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "version": self.version,
            "system_prompt": self.system_prompt,
        }
        d.update(self.sections())  # only those set: older constitutions keep their content hash
        d["few_shot"] = [f.to_dict() for f in self.few_shot]
        d["principles"] = [p.to_dict() for p in self.principles]
        return d

    def sections(self) -> dict[str, Any]:
        """The free-text sections and the ranking that are set (not at their defaults)."""
        out: dict[str, Any] = {}
        if self.preamble:
            out["preamble"] = self.preamble
        if self.rationale:
            out["rationale"] = self.rationale
        if self.ranked:
            out["ranked"] = True
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Constitution:
        """Read our own shape strictly: one ``ValidationError`` naming the field and the item."""
        if not isinstance(data, dict):
            raise ValidationError("A constitution must be an object with a name and principles.")
        _check_fields(cls, data, "constitution")
        principles = list_value(data.get("principles"), "constitution", "principles")
        few = list_value(data.get("few_shot"), "constitution", "few_shot")
        for i, p in enumerate(principles):
            if not isinstance(p, dict):
                raise ValidationError(f"Principle {i + 1} must be an object, not {describe(p)}.")
        for i, f in enumerate(few):
            if not isinstance(f, dict):
                raise ValidationError(f"Few-shot example {i + 1} must be an object, not {describe(f)}.")
        return cls(
            name=text_value(data.get("name"), "constitution", "name"),
            title=text_value(data.get("title"), "constitution", "title"),
            description=text_value(data.get("description"), "constitution", "description"),
            version=version_value(data.get("version", 1), "constitution"),
            system_prompt=text_value(data.get("system_prompt"), "constitution", "system_prompt"),
            few_shot=[
                FewShotExample.from_dict(f, f"few-shot example {i + 1}") for i, f in enumerate(few)
            ],
            principles=[
                Principle.from_dict(p, f"principle {i + 1}") for i, p in enumerate(principles)
            ],
            preamble=text_value(data.get("preamble"), "constitution", "preamble"),
            rationale=text_value(data.get("rationale"), "constitution", "rationale"),
            ranked=flag_value(data.get("ranked", False), "constitution", "ranked"),
        )

    def copy(self) -> Constitution:
        return Constitution.from_dict(json.loads(json.dumps(self.to_dict())))

    # -- queries ----------------------------------------------------------------------------
    @property
    def enabled_principles(self) -> list[Principle]:
        return [p for p in self.principles if p.enabled]

    def principle(self, key: str) -> Principle:
        for p in self.principles:
            if p.key == key:
                return p
        raise KeyError(key)

    def content_hash(self) -> str:
        d = self.to_dict()
        d.pop("version")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    # -- edits (pure: each returns a new constitution; the UI wraps them as undo commands) -----
    def with_principle(self, index: int, principle: Principle) -> Constitution:
        c = self.copy()
        c.principles[index] = replace(principle, tags=list(principle.tags))
        return c

    def with_inserted(self, index: int, principle: Principle) -> Constitution:
        c = self.copy()
        c.principles.insert(index, replace(principle, tags=list(principle.tags)))
        return c

    def without(self, index: int) -> Constitution:
        c = self.copy()
        del c.principles[index]
        return c

    def moved(self, src: int, dst: int) -> Constitution:
        c = self.copy()
        p = c.principles.pop(src)
        c.principles.insert(dst, p)
        return c

    def new_key(self, base: str = "principle") -> str:
        return _unique(slugify(base), {p.key for p in self.principles})

    def key_for_title(self, index: int, title: str) -> str:
        """The key principle ``index`` gets from ``title``: its slug, unique among the others."""
        others = {p.key for j, p in enumerate(self.principles) if j != index}
        return _unique(slugify(title, NEW_KEY), others)

    def key_follows_title(self, index: int, saved_keys: frozenset[str] | set[str] = frozenset()) -> bool:
        """Whether principle ``index`` still has the key its title gave it (so a new title should
        give it a new key). A key typed by hand, or one already saved (records are stored under
        it), stays put."""
        p = self.principles[index]
        if p.key in saved_keys:
            return False
        base = re.escape(slugify(p.title, NEW_KEY))
        return re.fullmatch(rf"{base}(-[0-9]+)?", p.key) is not None

    def with_title(self, index: int, title: str, follow_key: bool = False) -> Constitution:
        """Retitle principle ``index``; with ``follow_key`` its key becomes the title's slug."""
        p = self.principles[index]
        key = self.key_for_title(index, title) if follow_key else p.key
        return self.with_principle(index, replace(p, title=title, key=key))


#: the key of a principle that has no title yet (``Principle`` added in the editor)
NEW_KEY = "new-principle"


def _unique(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _check_fields(cls: type, data: dict[str, Any], where: str) -> None:
    if not isinstance(data, dict):
        raise ValidationError(f"The {where} must be an object, not {describe(data)}.")
    known = {f.name for f in fields(cls)}
    unknown = sorted((k for k in data if not (isinstance(k, str) and k in known)), key=repr)
    if unknown:
        raise ValidationError(
            f"The {where} has unknown field(s) {', '.join(_short(k) for k in unknown[:5])}"
            f"{' …' if len(unknown) > 5 else ''}; allowed are: {', '.join(sorted(known))}."
        )


# -- strict field types (every importer reads its fields through these) ----------------------
#: the words a true/false field also takes, as text (any case, spaces around ignored); any other
#: text, a number or an empty value is refused, never guessed ("false" must not mean enabled)
FLAG_WORDS = {"true": True, "yes": True, "false": False, "no": False}
#: the largest version number a constitution may carry (it is stored as an SQLite integer)
MAX_VERSION = 10**9


def _short(value: Any, limit: int = 40) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        return "a very long number"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(value: Any) -> str:
    """What a value is, in words, for the end of a sentence ("not 'maybe'", "not a list")."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {_short(value)}"
    if isinstance(value, str):
        return _short(value)
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (set, frozenset)):
        return "a set"
    if isinstance(value, (bytes, bytearray)):
        return "binary data"
    if hasattr(value, "isoformat"):  # YAML reads 2024-01-01 as a date
        return "a date (put it in quotes to keep it as text)"
    return f"a {type(value).__name__}"


def _at(where: str) -> str:
    return where[:1].upper() + where[1:]


def text_value(value: Any, where: str, name: str) -> str:
    """Text, or empty for a missing/null value; a number, list or object is refused."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"{_at(where)}: '{name}' must be text, not {describe(value)}.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            f"{_at(where)}: '{name}' holds characters that are not valid Unicode (a lone surrogate)."
        ) from None
    return value


def flag_value(value: Any, where: str, name: str) -> bool:
    """true/false, or the words true/false/yes/no as text (``FLAG_WORDS``); nothing else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in FLAG_WORDS:
        return FLAG_WORDS[value.strip().lower()]
    raise ValidationError(f"{_at(where)}: '{name}' must be true or false, not {describe(value)}.")


def words_value(value: Any, where: str, name: str) -> list[str]:
    """A list of texts (``tags``); a single text is refused rather than split into letters."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError(f"{_at(where)}: '{name}' must be a list of words, not {describe(value)}.")
    for i, v in enumerate(value, 1):
        if not isinstance(v, str):
            raise ValidationError(f"{_at(where)}: '{name}' item {i} must be text, not {describe(v)}.")
        text_value(v, where, name)
    return list(value)


def list_value(value: Any, where: str, name: str) -> list[Any]:
    """A list, or empty for a missing/null value."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError(f"{_at(where)}: '{name}' must be a list, not {describe(value)}.")
    return value


#: a principle's draw weight when none is given; the largest one accepted
DEFAULT_WEIGHT = 1.0
MAX_WEIGHT = 1000.0


def weight_value(value: Any, where: str, name: str = "weight") -> float:
    """A draw weight: a number above 0 and at most ``MAX_WEIGHT`` (missing = 1); true/false,
    texts, 0, negative, infinite and NaN values are refused."""
    if value is None:
        return DEFAULT_WEIGHT
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{_at(where)}: '{name}' must be a number above 0, not {describe(value)}.")
    try:
        w = float(value)
    except OverflowError:
        raise ValidationError(f"{_at(where)}: '{name}' is too large (at most {MAX_WEIGHT:g}).") from None
    if not math.isfinite(w) or w <= 0:
        raise ValidationError(f"{_at(where)}: '{name}' must be a number above 0, not {describe(value)}.")
    if w > MAX_WEIGHT:
        raise ValidationError(f"{_at(where)}: '{name}' is too large (at most {MAX_WEIGHT:g}).")
    return w


def version_value(value: Any, where: str, name: str = "version") -> int:
    """A whole number (not a text of digits, not 2.0) no larger than ``MAX_VERSION``."""
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{_at(where)}: '{name}' must be a whole number, not {describe(value)}.")
    if value > MAX_VERSION:
        raise ValidationError(f"{_at(where)}: '{name}' is too large (at most {MAX_VERSION}).")
    return value


def validate(c: Constitution) -> list[str]:
    """All problems with a constitution, as sentences a user can act on (empty list = valid)."""
    problems: list[str] = []
    if not c.name.strip():
        problems.append("The constitution needs a name.")
    elif not KEY_RE.match(c.name):
        problems.append(
            f"The name {c.name!r} may only use lowercase letters, digits, '-' and '_' "
            f"(try {slugify(c.name, 'constitution')!r})."
        )
    if c.version < 1:
        problems.append("The version must be 1 or more.")
    if not c.principles:
        problems.append("Add at least one principle.")
    elif not c.enabled_principles:
        problems.append("Enable at least one principle: every principle is disabled.")
    seen: dict[str, int] = {}
    for i, p in enumerate(c.principles, 1):
        label = f"Principle {i} ({p.key or 'no key'})"
        if not p.key.strip():
            problems.append(f"Principle {i} needs a key.")
        elif not KEY_RE.match(p.key):
            problems.append(
                f"{label}: the key may only use lowercase letters, digits, '-' and '_'."
            )
        elif p.key in seen:
            problems.append(f"{label}: the key is already used by principle {seen[p.key]}.")
        else:
            seen[p.key] = i
        if not p.critique_request.strip():
            problems.append(f"{label}: the critique request is empty.")
        if not p.revision_request.strip():
            problems.append(f"{label}: the revision request is empty.")
        if any(not isinstance(t, str) or not t.strip() for t in p.tags):
            problems.append(f"{label}: tags must be non-empty words.")
        if not (isinstance(p.weight, (int, float)) and math.isfinite(p.weight) and 0 < p.weight <= MAX_WEIGHT):
            problems.append(f"{label}: the weight must be a number above 0 and at most {MAX_WEIGHT:g}.")
    for i, f in enumerate(c.few_shot, 1):
        if not f.prompt.strip() or not f.response.strip():
            problems.append(f"Few-shot example {i} needs a prompt and a response.")
        if f.critique.strip() and not f.revision.strip():
            problems.append(f"Few-shot example {i} has a critique but no revision.")
    return problems


def check(c: Constitution) -> Constitution:
    """Raise ``ValidationError`` listing every problem, or return the constitution."""
    problems = validate(c)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ValidationError(problems[0] + more, problems)
    return c


class PrincipleSampler:
    """Seeded draws of enabled principles, with replacement (the paper's scheme).

    The stream for an item depends only on (seed, item key), so a resumed job draws the same
    principles for the same prompt whatever order the prompts are processed in. Each principle
    is drawn with probability weight / total weight (:meth:`probabilities`); when every weight is
    the same the draw is ``rng.choice``, exactly as before weights existed.
    """

    def __init__(self, constitution: Constitution, seed: int = 0):
        self.principles = constitution.enabled_principles
        if not self.principles:
            raise ValidationError("Enable at least one principle: every principle is disabled.")
        self.seed = seed
        self.weights = [float(p.weight) for p in self.principles]
        self.uniform = len(set(self.weights)) == 1

    def probabilities(self) -> dict[str, float]:
        """``{key: probability of being drawn}`` for each enabled principle."""
        total = sum(self.weights)
        return {p.key: w / total for p, w in zip(self.principles, self.weights)}

    def rng_for(self, item: str | int) -> random.Random:
        digest = hashlib.sha256(f"{self.seed}:{item}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def draw(self, item: str | int, n: int) -> list[Principle]:
        rng = self.rng_for(item)
        if self.uniform:
            return [rng.choice(self.principles) for _ in range(n)]
        return rng.choices(self.principles, weights=self.weights, k=n)
