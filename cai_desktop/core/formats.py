"""Reading and writing constitutions in the shapes people already use.

- ``native``: our own JSON (or YAML, chosen by the file extension), everything kept.
- ``anthropic``: the paper repository's ``{name: {"prompt": [critique], "edit_request": revision}}``.
- ``hf``: Hugging Face's ``{"constitutions": [{"critic", "revision"}], "system_chat": [[...]]}``.

Our extra fields ride along as extra keys in the foreign shapes, which their readers ignore, so a
round trip through any format loses nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from cai_desktop.core.constitution import Constitution, FewShotExample, Principle, check, slugify
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
    try:
        if suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text)
            if data is None:
                raise FormatError("The file is empty: it holds only YAML comments, no constitution.")
            return data
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise FormatError(f"Not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}.") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise FormatError(f"Not valid YAML{where}: {getattr(e, 'problem', e)}.") from None


def load_file(path: str | Path, fmt: str = "auto", name: str | None = None) -> Constitution:
    """Read and validate a constitution file. Raises FormatError/ValidationError with one line."""
    check_format(fmt, READ_FORMATS)
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"No such file: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"{path.name} is not a UTF-8 text file.") from None
    if not text.strip():
        raise FormatError(f"The file {path.name} is empty: there is no constitution in it.")
    data = parse_text(text, path.suffix)
    default_name = slugify(path.stem, "constitution")
    return from_data(data, fmt, name=name, default_name=default_name)


def from_data(
    data: Any, fmt: str = "auto", name: str | None = None, default_name: str = "constitution"
) -> Constitution:
    check_format(fmt, READ_FORMATS)
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
        raise FormatError("A constitution file must hold an object at the top level.")
    d = dict(data)
    fv = d.pop("format_version", NATIVE_VERSION)
    d.pop("format", None)
    if isinstance(fv, int) and fv > NATIVE_VERSION:
        raise FormatError(
            f"This constitution was written by a newer CAI Desktop (format {fv}); update the app."
        )
    d.setdefault("name", default_name)
    return Constitution.from_dict(d)


# -- Anthropic's paper repository --------------------------------------------------------------
_EXTRA = ("title", "comparison_question", "tags", "enabled")


def read_anthropic(data: Any, default_name: str = "constitution") -> Constitution:
    if not isinstance(data, dict) or not data:
        raise FormatError("Anthropic-format constitutions are an object of named principles.")
    meta = data.get("_cai_desktop", {}) if isinstance(data.get("_cai_desktop"), dict) else {}
    principles = []
    for key, entry in data.items():
        if key == "_cai_desktop":
            continue
        if not isinstance(entry, dict):
            raise FormatError(f"Principle {key!r} must be an object with 'prompt' and 'edit_request'.")
        prompt = entry.get("prompt", [])
        critiques = [prompt] if isinstance(prompt, str) else list(prompt or [])
        if len(critiques) > 1:
            raise ValidationError(
                f"Principle {key!r} has {len(critiques)} critique prompts; CAI Desktop keeps one "
                "per principle. Split it into separate principles."
            )
        p = Principle(
            key=slugify(str(key)),
            critique_request=str(critiques[0]) if critiques else "",
            revision_request=str(entry.get("edit_request") or ""),
        )
        for f in _EXTRA:
            if f in entry:
                setattr(p, f, entry[f])
        p.tags = list(p.tags)
        principles.append(p)
    return Constitution(
        name=meta.get("name", default_name),
        title=meta.get("title", ""),
        description=meta.get("description", ""),
        version=int(meta.get("version", 1)),
        system_prompt=meta.get("system_prompt", ""),
        few_shot=[FewShotExample(**f) for f in meta.get("few_shot", [])],
        principles=principles,
    )


def write_anthropic(c: Constitution) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in c.principles:
        out[p.key] = {
            "prompt": [p.critique_request],
            "edit_request": p.revision_request,
            **{f: getattr(p, f) for f in _EXTRA},
        }
    out["_cai_desktop"] = {
        "name": c.name,
        "title": c.title,
        "description": c.description,
        "version": c.version,
        "system_prompt": c.system_prompt,
        "few_shot": [f.to_dict() for f in c.few_shot],
    }
    return out


# -- Hugging Face's open reproduction ----------------------------------------------------------
def read_hf(data: Any, default_name: str = "constitution") -> Constitution:
    if not isinstance(data, dict) or not isinstance(data.get("constitutions"), list):
        raise FormatError("Hugging Face-format constitutions need a 'constitutions' list.")
    principles = []
    for i, entry in enumerate(data["constitutions"], 1):
        if not isinstance(entry, dict) or "critic" not in entry:
            raise FormatError(f"Entry {i} of 'constitutions' needs 'critic' and 'revision'.")
        p = Principle(
            key=str(entry.get("key") or f"principle-{i}"),
            critique_request=str(entry.get("critic") or ""),
            revision_request=str(entry.get("revision") or ""),
        )
        for f in _EXTRA:
            if f in entry:
                setattr(p, f, entry[f])
        p.tags = list(p.tags)
        principles.append(p)
    few = []
    system_prompt = str(data.get("system_prompt", ""))
    keys = data.get("system_chat_principles") or []
    for j, chat in enumerate(data.get("system_chat") or [], 1):
        f = _few_shot_from_chat(chat, j)
        if j <= len(keys):
            f.principle = str(keys[j - 1] or "")
        few.append(f)
    return Constitution(
        name=str(data.get("name") or default_name),
        title=str(data.get("title", "")),
        description=str(data.get("description", "")),
        version=int(data.get("version", 1)),
        system_prompt=system_prompt,
        few_shot=few,
        principles=principles,
    )


_FEW_ORDER = ("prompt", "response", "critique_request", "critique", "revision_request", "revision")


def _few_shot_from_chat(chat: Any, j: int) -> FewShotExample:
    if not isinstance(chat, list) or not all(isinstance(m, dict) for m in chat):
        raise FormatError(f"system_chat entry {j} must be a list of {{role, content}} messages.")
    turns = [m for m in chat if m.get("role") in ("user", "assistant")]
    values = [str(m.get("content", "")) for m in turns]
    if len(values) < 2:
        raise FormatError(f"system_chat entry {j} needs at least a user and an assistant turn.")
    return FewShotExample(**dict(zip(_FEW_ORDER, values)))


def write_hf(c: Constitution) -> dict[str, Any]:
    chats = []
    for f in c.few_shot:
        chat = []
        for i, fname in enumerate(_FEW_ORDER):
            value = getattr(f, fname)
            if i >= 2 and not value:
                break
            chat.append({"role": "user" if i % 2 == 0 else "assistant", "content": value})
        chats.append(chat)
    return {
        "name": c.name,
        "title": c.title,
        "description": c.description,
        "version": c.version,
        "system_prompt": c.system_prompt,
        "constitutions": [
            {
                "critic": p.critique_request,
                "revision": p.revision_request,
                "key": p.key,
                **{f: getattr(p, f) for f in _EXTRA},
            }
            for p in c.principles
        ],
        "system_chat": chats,
        "system_chat_principles": [f.principle for f in c.few_shot],
    }
