"""Reading and writing constitutions in the shapes people already use.

- ``native``: our own JSON (or YAML, chosen by the file extension), everything kept.
- ``anthropic``: the paper repository's ``{name: {"prompt": [critique], "edit_request": revision}}``.
- ``hf``: Hugging Face's ``{"constitutions": [{"critic", "revision"}], "system_chat": [[...]]}``.

Our extra fields ride along as extra keys in the foreign shapes, which their readers ignore, so a
round trip through any format loses nothing.

Priorities and free-text sections (issue 13): our JSON and YAML keep ``preamble``, ``rationale``,
``ranked`` and each principle's ``weight`` as fields. Neither foreign shape has a place for them:
their own tools read no preamble, no rationale, no weights and no priority order. We write them as
extra keys (Anthropic: ``weight`` in each principle's object, the rest and the principle ``order``
under ``_cai_desktop``, since an object's key order is not kept by every JSON tool; Hugging Face:
top-level keys and ``weight`` in each ``constitutions`` entry), so a round trip through our own
reader keeps them, while the paper's and Hugging Face's code ignore them.

Reading is strict, the same in every format (a schema per format, checked field by field): texts
must be texts, ``tags`` a list of texts, ``enabled`` true or false (or, as text, exactly one of the
words true/false/yes/no in any case; "maybe", 0/1 or an empty value are refused, never guessed),
``version`` a whole number, Anthropic's ``prompt`` a text or a list of texts. A value of the wrong
type is refused with one ``ValidationError`` naming the principle (its number, or its name in the
Anthropic shape) and the field. Unknown fields are refused in our own shape and ignored in the
foreign ones (their readers ignore ours the same way). Files over ``MAX_BYTES`` and values nested
deeper than ``MAX_DEPTH`` are refused with a sentence before they are read further. Nothing but a
``CaiError`` leaves these functions (tests/core/test_importers_fuzz.py checks that).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from cai_desktop.core.constitution import (
    DEFAULT_WEIGHT,
    Constitution,
    FewShotExample,
    Principle,
    check,
    describe,
    flag_value,
    list_value,
    slugify,
    text_value,
    version_value,
    weight_value,
    words_value,
)
from cai_desktop.core.errors import FormatError, ValidationError

FORMATS = ("native", "anthropic", "hf")
#: what a user may choose when reading a file: ``auto`` detects the shape
READ_FORMATS = ("auto", *FORMATS)
#: how each format is named to people (the GUI's choices; the codes are what the CLI takes)
FORMAT_LABELS = {
    "auto": "Detect automatically",
    "native": "CAI Desktop JSON or YAML",
    "anthropic": "Anthropic paper repository",
    "hf": "Hugging Face open reproduction",
}
NATIVE_TAG = "cai-desktop/constitution"
NATIVE_VERSION = 1
#: the largest constitution file read (real ones are a few KiB)
MAX_BYTES = 20 * 2**20
#: the deepest nesting of lists and objects any importer accepts (real files need 5 or so)
MAX_DEPTH = 50


# -- limits shared by every importer (constitutions, prompt files, demonstrations) ----------------
def check_depth(value: Any, where: str = "The file", limit: int = MAX_DEPTH) -> None:
    """Refuse lists/objects nested deeper than ``limit`` and YAML aliases that contain themselves.

    Shared values (YAML aliases) are measured once, so a "billion laughs" file costs nothing."""
    heights: dict[int, int | None] = {}

    def height(v: Any, depth: int) -> int:
        if not isinstance(v, (dict, list, tuple, set, frozenset)):
            return 0
        if depth > limit:
            raise FormatError(f"{where} is nested deeper than {limit} levels; no importer reads that.")
        known = heights.get(id(v), -1)
        if known is None:
            raise FormatError(f"{where} holds a value that contains itself (a YAML alias inside itself).")
        if known >= 0:
            if depth + known - 1 > limit:
                raise FormatError(f"{where} is nested deeper than {limit} levels; no importer reads that.")
            return known
        heights[id(v)] = None
        children = v.values() if isinstance(v, dict) else v
        h = 1 + max((height(c, depth + 1) for c in children), default=0)
        heights[id(v)] = h
        return h

    height(value, 1)


class _SafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that stops at ``MAX_DEPTH`` levels while composing, with the line,
    instead of recursing until Python's own limit (slow, and a RecursionError)."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise FormatError(
                    f"The YAML is nested deeper than {MAX_DEPTH} levels at line {mark.line + 1}; "
                    "no importer reads that."
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` with the depth limit; fails only with ``FormatError``."""
    try:
        return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or (str(e).splitlines() or [type(e).__name__])[0]
        raise FormatError(f"Not valid YAML{where}: {problem}.") from None
    except RecursionError:
        raise FormatError(f"The YAML is nested deeper than {MAX_DEPTH} levels; no importer reads that.") from None
    except (ValueError, OverflowError) as e:  # a date like 2024-13-45, a number of 5000 digits
        reason = "a number is too long" if "digits" in str(e) else (str(e).splitlines() or ["?"])[0]
        raise FormatError(f"Not valid YAML: a value cannot be read ({reason}).") from None


def load_json(text: str, where: str = "", *, at_line: bool = True) -> Any:
    """``json.loads`` that fails only with ``FormatError``: bad syntax (with the line when
    ``at_line``), a number too long for Python to read, nesting deeper than ``MAX_DEPTH``.
    ``where`` starts the message ("p.jsonl, line 3"); without it the message starts "Not valid JSON"."""
    prefix = f"{where}: not valid JSON" if where else "Not valid JSON:"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        at = f" at line {e.lineno}, column {e.colno}" if at_line else ""
        detail = f" ({e.msg}{at})." if where else f" {e.msg}{at}."
        raise FormatError(prefix + detail) from None
    except RecursionError:
        raise FormatError(f"{where + ': the JSON' if where else 'The JSON'} is nested deeper than {MAX_DEPTH} "
                          "levels; no importer reads that.") from None
    except ValueError:  # Python refuses to read integers of more than 4300 digits
        raise FormatError(
            f"{where + ': the JSON' if where else 'The JSON'} holds a number longer than "
            f"{sys.get_int_max_str_digits()} digits."
        ) from None
    check_depth(value, f"{where}: the JSON" if where else "The JSON")
    return value


# -- detection and files ---------------------------------------------------------------------
def detect_format(data: Any) -> str:
    if isinstance(data, dict):
        if data.get("format") == NATIVE_TAG or "principles" in data:
            return "native"
        if "constitutions" in data:
            return "hf"
        entries = [v for k, v in data.items() if not str(k).startswith("_")]
        if entries and all(
            isinstance(v, dict) and ("prompt" in v or "edit_request" in v) for v in entries
        ):
            return "anthropic"
    # Place-neutral on purpose: the GUI and the CLI both show this sentence.
    raise FormatError(
        "Cannot tell which constitution format this is: expected CAI Desktop's (with "
        "'principles'), Anthropic's ({name: {prompt, edit_request}}) or Hugging Face's "
        "({constitutions: [...]}); choose the format (native, anthropic or hf)."
    )


def check_format(fmt: str, allowed: tuple[str, ...] = READ_FORMATS) -> None:
    """Refuse an unknown format code before any file is touched, naming the choices."""
    if fmt not in allowed:
        raise FormatError(f"Unknown constitution format {fmt!r}; choose the format ({', '.join(allowed)}).")


def parse_text(text: str, suffix: str = ".json") -> Any:
    """Parse JSON or YAML (by ``suffix``); an empty text says so instead of a parser's offset."""
    if not text.strip():
        raise FormatError("The file is empty: there is no constitution in it.")
    if len(text) > MAX_BYTES:
        raise FormatError(f"The text is larger than {MAX_BYTES // 2**20} MiB; that is no constitution.")
    if suffix.lower() not in (".yaml", ".yml"):
        return load_json(text)
    data = load_yaml(text)
    if data is None:
        raise FormatError("The file is empty: it holds only YAML comments, no constitution.")
    return data


def load_file(path: str | Path, fmt: str = "auto", name: str | None = None) -> Constitution:
    """Read and validate a constitution file. Raises FormatError/ValidationError with one line."""
    check_format(fmt, READ_FORMATS)
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"No such file: {path}")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise FormatError(
                f"{path.name} is larger than {MAX_BYTES // 2**20} MiB; a constitution is a few KiB."
            )
        text = path.read_text(encoding="utf-8-sig")  # -sig: a byte-order mark (Windows) is no error
    except UnicodeDecodeError:
        raise FormatError(f"{path.name} is not a UTF-8 text file.") from None
    except OSError as e:
        raise FormatError(f"Cannot read {path.name}: {e.strerror or e}.") from None
    if not text.strip():
        raise FormatError(f"The file {path.name} is empty: there is no constitution in it.")
    data = parse_text(text, path.suffix)
    default_name = slugify(path.stem, "constitution")
    return from_data(data, fmt, name=name, default_name=default_name)


def from_data(
    data: Any, fmt: str = "auto", name: str | None = None, default_name: str = "constitution"
) -> Constitution:
    check_format(fmt, READ_FORMATS)
    check_depth(data, "The constitution")
    if fmt == "auto":
        fmt = detect_format(data)
    reader = {"native": read_native, "anthropic": read_anthropic, "hf": read_hf}[fmt]
    c = reader(data, default_name)
    if name:
        c.name = name
    return check(c)


def dump_file(c: Constitution, path: str | Path, fmt: str = "native") -> None:
    path = Path(path)
    if fmt == "auto":
        fmt = "native"
    check_format(fmt, FORMATS)
    data = {"native": write_native, "anthropic": write_anthropic, "hf": write_hf}[fmt](c)
    path.write_text(dump_text(data, path.suffix), encoding="utf-8")


def dump_text(data: Any, suffix: str = ".json") -> str:
    if suffix.lower() in (".yaml", ".yml"):
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# -- native ------------------------------------------------------------------------------------
def write_native(c: Constitution) -> dict[str, Any]:
    return {"format": NATIVE_TAG, "format_version": NATIVE_VERSION, **c.to_dict()}


def read_native(data: Any, default_name: str = "constitution") -> Constitution:
    if not isinstance(data, dict):
        raise FormatError(f"A constitution file must hold an object at the top level, not {describe(data)}.")
    d = dict(data)
    tag = d.pop("format", NATIVE_TAG)
    if not isinstance(tag, str) or tag != NATIVE_TAG:
        raise FormatError(
            f"The file's 'format' is {describe(tag)}, not {NATIVE_TAG!r}: it is not a CAI Desktop "
            "constitution; choose the format (anthropic or hf) if it is one of theirs."
        )
    fv = version_value(d.pop("format_version", NATIVE_VERSION), "constitution", "format_version")
    if fv > NATIVE_VERSION:
        raise FormatError(
            f"This constitution was written by a newer CAI Desktop (format {fv}); update the app."
        )
    if d.get("name") is None:
        d["name"] = default_name
    return Constitution.from_dict(d)


# -- Anthropic's paper repository --------------------------------------------------------------
_EXTRA = ("title", "comparison_question", "tags", "enabled")


def _read_extras(p: Principle, entry: dict[Any, Any], where: str) -> None:
    """Our extra fields in a foreign shape, with the same types as in our own."""
    for f in ("title", "comparison_question"):
        if f in entry:
            setattr(p, f, text_value(entry[f], where, f))
    if "tags" in entry:
        p.tags = words_value(entry["tags"], where, "tags")
    if "enabled" in entry:
        p.enabled = flag_value(entry["enabled"], where, "enabled")
    if "weight" in entry:
        p.weight = weight_value(entry["weight"], where)


def _weight(p: Principle) -> dict[str, Any]:
    return {} if p.weight == DEFAULT_WEIGHT else {"weight": p.weight}


def _read_sections(c: Constitution, meta: dict[Any, Any], where: str) -> Constitution:
    """Our preamble, rationale and ranking from a foreign shape's extra keys."""
    c.preamble = text_value(meta.get("preamble"), where, "preamble")
    c.rationale = text_value(meta.get("rationale"), where, "rationale")
    c.ranked = flag_value(meta.get("ranked", False), where, "ranked")
    return c


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    try:
        return str(key)
    except ValueError:  # an int too long to print
        return "principle"


def read_anthropic(data: Any, default_name: str = "constitution") -> Constitution:
    if not isinstance(data, dict) or not data:
        raise FormatError("Anthropic-format constitutions are an object of named principles.")
    meta = data.get("_cai_desktop")
    if meta is None:
        meta = {}
    elif not isinstance(meta, dict):
        raise ValidationError(f"'_cai_desktop' must be an object, not {describe(meta)}.")
    principles = []
    for key, entry in data.items():
        if key == "_cai_desktop":
            continue
        label = _key_text(key)
        where = f"principle {label!r}"
        if not isinstance(entry, dict):
            raise FormatError(f"Principle {label!r} must be an object with 'prompt' and 'edit_request', "
                              f"not {describe(entry)}.")
        prompt = entry.get("prompt")
        if prompt is None:
            critiques: list[Any] = []
        elif isinstance(prompt, str):
            critiques = [prompt]
        elif isinstance(prompt, list):
            critiques = prompt
        else:
            raise ValidationError(
                f"Principle {label!r}: 'prompt' must be a list holding the critique request, "
                f"not {describe(prompt)}."
            )
        if len(critiques) > 1:
            raise ValidationError(
                f"Principle {label!r} has {len(critiques)} critique prompts; CAI Desktop keeps one "
                "per principle. Split it into separate principles."
            )
        if critiques and not isinstance(critiques[0], str):
            raise ValidationError(
                f"Principle {label!r}: the critique request in 'prompt' must be text, not {describe(critiques[0])}."
            )
        p = Principle(
            key=slugify(label),
            critique_request=text_value(critiques[0] if critiques else None, where, "prompt"),
            revision_request=text_value(entry.get("edit_request"), where, "edit_request"),
        )
        _read_extras(p, entry, where)
        principles.append(p)
    order = words_value(meta.get("order"), "'_cai_desktop'", "order")
    if order:  # the priority order, kept apart from the object's key order
        rank = {k: i for i, k in enumerate(order)}
        principles.sort(key=lambda p: rank.get(p.key, len(rank)))
    few = list_value(meta.get("few_shot"), "'_cai_desktop'", "few_shot")
    for i, f in enumerate(few, 1):
        if not isinstance(f, dict):
            raise ValidationError(f"Few-shot example {i} must be an object, not {describe(f)}.")
    return _read_sections(Constitution(
        name=text_value(meta.get("name"), "'_cai_desktop'", "name") or default_name,
        title=text_value(meta.get("title"), "'_cai_desktop'", "title"),
        description=text_value(meta.get("description"), "'_cai_desktop'", "description"),
        version=version_value(meta.get("version"), "'_cai_desktop'"),
        system_prompt=text_value(meta.get("system_prompt"), "'_cai_desktop'", "system_prompt"),
        few_shot=[FewShotExample.from_dict(f, f"few-shot example {i}") for i, f in enumerate(few, 1)],
        principles=principles,
    ), meta, "'_cai_desktop'")


def write_anthropic(c: Constitution) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in c.principles:
        out[p.key] = {
            "prompt": [p.critique_request],
            "edit_request": p.revision_request,
            **{f: getattr(p, f) for f in _EXTRA},
            **_weight(p),
        }
    out["_cai_desktop"] = {
        "name": c.name,
        "title": c.title,
        "description": c.description,
        "version": c.version,
        "system_prompt": c.system_prompt,
        "few_shot": [f.to_dict() for f in c.few_shot],
        **c.sections(),
    }
    if c.ranked:
        out["_cai_desktop"]["order"] = [p.key for p in c.principles]
    return out


# -- Hugging Face's open reproduction ----------------------------------------------------------
def read_hf(data: Any, default_name: str = "constitution") -> Constitution:
    if not isinstance(data, dict) or not isinstance(data.get("constitutions"), list):
        raise FormatError("Hugging Face-format constitutions need a 'constitutions' list.")
    principles = []
    for i, entry in enumerate(data["constitutions"], 1):
        if not isinstance(entry, dict) or "critic" not in entry:
            raise FormatError(f"Entry {i} of 'constitutions' needs 'critic' and 'revision'.")
        where = f"entry {i} of 'constitutions'"
        p = Principle(
            key=text_value(entry.get("key"), where, "key") or f"principle-{i}",
            critique_request=text_value(entry.get("critic"), where, "critic"),
            revision_request=text_value(entry.get("revision"), where, "revision"),
        )
        _read_extras(p, entry, where)
        principles.append(p)
    few = []
    keys = list_value(data.get("system_chat_principles"), "constitution", "system_chat_principles")
    for j, chat in enumerate(list_value(data.get("system_chat"), "constitution", "system_chat"), 1):
        f = _few_shot_from_chat(chat, j)
        if j <= len(keys):
            f.principle = text_value(keys[j - 1], f"'system_chat_principles' item {j}", "principle")
        few.append(f)
    return _read_sections(Constitution(
        name=text_value(data.get("name"), "constitution", "name") or default_name,
        title=text_value(data.get("title"), "constitution", "title"),
        description=text_value(data.get("description"), "constitution", "description"),
        version=version_value(data.get("version"), "constitution"),
        system_prompt=text_value(data.get("system_prompt"), "constitution", "system_prompt"),
        few_shot=few,
        principles=principles,
    ), data, "constitution")


_FEW_ORDER = ("prompt", "response", "critique_request", "critique", "revision_request", "revision")


def _few_shot_from_chat(chat: Any, j: int) -> FewShotExample:
    if not isinstance(chat, list) or not all(isinstance(m, dict) for m in chat):
        raise FormatError(f"system_chat entry {j} must be a list of {{role, content}} messages.")
    values = [
        text_value(m.get("content"), f"'system_chat' entry {j}, message {k}", "content")
        for k, m in enumerate(chat, 1)
        if isinstance(m.get("role"), str) and m["role"] in ("user", "assistant")
    ]
    if len(values) < 2:
        raise FormatError(f"system_chat entry {j} needs at least a user and an assistant turn.")
    return FewShotExample(**dict(zip(_FEW_ORDER, values)))


def write_hf(c: Constitution) -> dict[str, Any]:
    chats = []
    for f in c.few_shot:
        # the turns are positional: write up to the last one that has text, empty ones between
        # included (a revision without a critique must not be dropped)
        used = [i for i, fname in enumerate(_FEW_ORDER) if getattr(f, fname)]
        turns = _FEW_ORDER[: max(2, used[-1] + 1 if used else 0)]
        chats.append([{"role": "user" if i % 2 == 0 else "assistant", "content": getattr(f, fname)}
                      for i, fname in enumerate(turns)])
    return {
        "name": c.name,
        "title": c.title,
        "description": c.description,
        "version": c.version,
        "system_prompt": c.system_prompt,
        **c.sections(),
        "constitutions": [
            {
                "critic": p.critique_request,
                "revision": p.revision_request,
                "key": p.key,
                **{f: getattr(p, f) for f in _EXTRA},
                **_weight(p),
            }
            for p in c.principles
        ],
        "system_chat": chats,
        "system_chat_principles": [f.principle for f in c.few_shot],
    }
