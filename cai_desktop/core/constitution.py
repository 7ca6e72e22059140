"""The constitution: ordered principles, few-shot examples, validation and seeded sampling.

Plain Python (no Qt, no torch, no SQL). A ``Principle`` holds the three texts the method needs:
the critique request and revision request (stage 1) and the comparison question (stage 2).
"""

from __future__ import annotations

import hashlib
import json
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "principle") -> Principle:
        _check_fields(cls, data, where)
        d = dict(data)
        d["tags"] = list(d.get("tags") or [])
        d["enabled"] = bool(d.get("enabled", True))
        return cls(**d)

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
    prompt: str
    response: str
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
        return cls(**data)


@dataclass
class Constitution:
    name: str
    title: str = ""
    description: str = ""
    version: int = 1
    system_prompt: str = ""
    few_shot: list[FewShotExample] = field(default_factory=list)
    principles: list[Principle] = field(default_factory=list)

    # -- conversion -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "version": self.version,
            "system_prompt": self.system_prompt,
            "few_shot": [f.to_dict() for f in self.few_shot],
            "principles": [p.to_dict() for p in self.principles],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Constitution:
        if not isinstance(data, dict):
            raise ValidationError("A constitution must be an object with a name and principles.")
        _check_fields(cls, data, "constitution")
        principles = data.get("principles") or []
        few = data.get("few_shot") or []
        if not isinstance(principles, list) or not isinstance(few, list):
            raise ValidationError("'principles' and 'few_shot' must be lists.")
        for i, p in enumerate(principles):
            if not isinstance(p, dict):
                raise ValidationError(f"Principle {i + 1} must be an object, not {type(p).__name__}.")
        try:
            version = int(data.get("version", 1) or 1)
        except (TypeError, ValueError):
            raise ValidationError(f"'version' must be a whole number, not {data.get('version')!r}.") from None
        return cls(
            name=str(data.get("name") or ""),
            title=str(data.get("title") or ""),
            description=str(data.get("description") or ""),
            version=version,
            system_prompt=str(data.get("system_prompt") or ""),
            few_shot=[
                FewShotExample.from_dict(f, f"few-shot example {i + 1}") for i, f in enumerate(few)
            ],
            principles=[
                Principle.from_dict(p, f"principle {i + 1}") for i, p in enumerate(principles)
            ],
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
        raise ValidationError(f"The {where} must be an object.")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValidationError(
            f"The {where} has unknown field(s) {', '.join(map(repr, unknown))}; "
            f"allowed are: {', '.join(sorted(known))}."
        )


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
    principles for the same prompt whatever order the prompts are processed in.
    """

    def __init__(self, constitution: Constitution, seed: int = 0):
        self.principles = constitution.enabled_principles
        if not self.principles:
            raise ValidationError("Enable at least one principle: every principle is disabled.")
        self.seed = seed

    def rng_for(self, item: str | int) -> random.Random:
        digest = hashlib.sha256(f"{self.seed}:{item}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def draw(self, item: str | int, n: int) -> list[Principle]:
        rng = self.rng_for(item)
        return [rng.choice(self.principles) for _ in range(n)]
