"""Reading production conversation logs: the prompt → answer turns a deployed model gave.

Two shapes, chosen by the file's extension (or named):

- ``jsonl``: one conversation per line, an object with a ``messages`` list in the common chat
  shape (``[{"role": "system"|"user"|"assistant"|"tool", "content": text}, ...]``; ``content`` may
  also be a list of ``{"type": "text", "text": ...}`` parts, joined). A bare list of messages on a
  line is read the same way. Every user message directly followed by an assistant message is one
  item (earlier turns are not kept as context); system and tool messages are skipped. Optional
  ``id`` and ``timestamp``/``time``/``created_at`` fields ride along.
- ``csv``: a header row with a prompt column (``prompt``, ``user``, ``input``, ``question``) and a
  response column (``response``, ``assistant``, ``output``, ``answer``, ``completion``); optional
  ``id`` and ``timestamp``/``time``/``created_at`` columns.

Reading is strict, like :mod:`core.prompt_files`: a malformed file is refused with one
``FormatError`` naming the file, the line and what is wrong ("logs.jsonl, line 3: message 2 has no
'role'"); nothing else escapes. Blank lines are skipped; a conversation with no answered user turn
adds nothing (and is counted). Files over ``MAX_BYTES`` and CSV fields over ``MAX_FIELD`` are
refused with a sentence.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cai_desktop.core.constitution import describe
from cai_desktop.core.errors import FormatError
from cai_desktop.core.formats import load_json

FORMATS = ("auto", "jsonl", "csv")
ROLES = ("system", "user", "assistant", "tool", "function", "developer")
PROMPT_COLUMNS = ("prompt", "user", "input", "question")
RESPONSE_COLUMNS = ("response", "assistant", "output", "answer", "completion")
TIME_KEYS = ("timestamp", "time", "created_at")
MAX_BYTES = 200 * 2**20
MAX_FIELD = csv.field_size_limit()


@dataclass
class ChatLog:
    """What a log file held: ``items`` ``[{"prompt", "response", "where", "conversation", "turn",
    "time", "source_id"}]`` and how many conversations had no answered user turn."""

    format: str
    items: list[dict[str, Any]] = field(default_factory=list)
    conversations: int = 0
    unanswered: int = 0


def _text(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str):
        raise FormatError(f"{where}: {what} must be text, not {describe(value)}.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise FormatError(f"{where}: {what} holds characters that are not valid Unicode (a lone surrogate).") from None
    return value


def _content(value: Any, where: str) -> str:
    """A message's content: text, or a list of ``{"type": "text", "text"}`` parts (joined)."""
    if isinstance(value, list):
        parts = []
        for k, part in enumerate(value, 1):
            if not isinstance(part, dict) or not isinstance(part.get("text"), str):
                raise FormatError(f"{where}: part {k} of 'content' must be an object with a 'text', "
                                  f"not {describe(part)}.")
            parts.append(_text(part["text"], where, f"part {k} of 'content'"))
        return "\n".join(parts)
    if value is None:
        raise FormatError(f"{where}: 'content' is missing.")
    return _text(value, where, "'content'")


def _optional(record: dict[str, Any], keys: tuple[str, ...], where: str) -> str:
    for k in keys:
        v = record.get(k)
        if v is None or v == "":
            continue
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise FormatError(f"{where}: {k!r} must be text or a number, not {describe(v)}.")
        return _text(str(v), where, repr(k))
    return ""


def turns(messages: Any, where: str) -> list[tuple[str, str]]:
    """The (user, assistant) pairs of one conversation in the chat ``messages`` shape."""
    if not isinstance(messages, list):
        raise FormatError(f"{where}: 'messages' must be a list of {{role, content}} objects, not {describe(messages)}.")
    read: list[tuple[str, str]] = []
    for i, m in enumerate(messages, 1):
        at = f"{where}: message {i}"
        if not isinstance(m, dict):
            raise FormatError(f"{at} must be an object with 'role' and 'content', not {describe(m)}.")
        if "role" not in m:
            raise FormatError(f"{at} has no 'role'.")
        role = m["role"]
        if not isinstance(role, str) or role not in ROLES:
            raise FormatError(f"{at}: 'role' must be one of {', '.join(ROLES)}, not {describe(role)}.")
        read.append((role, _content(m.get("content"), at)))
    return [(u.strip(), a.strip()) for (r1, u), (r2, a) in zip(read, read[1:])
            if r1 == "user" and r2 == "assistant" and u.strip()]


def _jsonl(path: Path) -> ChatLog:
    log = ChatLog("jsonl")
    text = path.read_text(encoding="utf-8-sig")
    for n, line in enumerate(text.split("\n"), 1):  # newlines only (JSON may hold U+2028 as is)
        if not line.strip():
            continue
        where = f"{path.name}, line {n}"
        record = load_json(line, where, at_line=False)
        if isinstance(record, list):
            record = {"messages": record}
        if not isinstance(record, dict):
            raise FormatError(f"{where}: each line must be an object with a 'messages' list, not {describe(record)}.")
        if "messages" not in record:
            keys = ", ".join(repr(k) for k in list(record)[:8]) or "none"
            raise FormatError(f"{where}: no 'messages' list (the line has: {keys}).")
        pairs = turns(record["messages"], where)
        log.conversations += 1
        if not pairs:
            log.unanswered += 1
        source_id = _optional(record, ("id", "conversation_id"), where)
        time = _optional(record, TIME_KEYS, where)
        for t, (user, answer) in enumerate(pairs):
            log.items.append({"prompt": user, "response": answer, "where": where, "conversation": n, "turn": t,
                              "time": time, "source_id": source_id})
    return log


def _column(columns: list[str], names: tuple[str, ...], what: str, where: str) -> str:
    lowered = {c.strip().lower(): c for c in columns if isinstance(c, str)}
    for name in names:
        if name in lowered:
            return lowered[name]
    shown = ", ".join(repr(c) for c in columns[:20]) or "none"
    raise FormatError(f"{where} has no {what} column (one of {', '.join(names)}); its columns are: {shown}.")


def _csv(path: Path) -> ChatLog:
    log = ChatLog("csv")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
        reader = csv.DictReader(fh, dialect=dialect)
        try:
            columns = list(reader.fieldnames or [])
            prompt_col = _column(columns, PROMPT_COLUMNS, "prompt", path.name)
            response_col = _column(columns, RESPONSE_COLUMNS, "response", path.name)
            for row in reader:
                where = f"{path.name}, line {reader.line_num}"
                if None in row:
                    raise FormatError(f"{where}: more fields than the header has columns ({len(columns)}).")
                values = [v for v in row.values() if v is not None]
                if not any(v.strip() for v in values):
                    continue
                prompt = _text(row.get(prompt_col) or "", where, f"{prompt_col!r}").strip()
                response = _text(row.get(response_col) or "", where, f"{response_col!r}").strip()
                if not prompt:
                    raise FormatError(f"{where}: the {prompt_col!r} field is empty.")
                if not response:
                    raise FormatError(f"{where}: the {response_col!r} field is empty (no answer to check).")
                log.conversations += 1
                log.items.append({"prompt": prompt, "response": response, "where": where,
                                  "conversation": reader.line_num, "turn": 0,
                                  "time": _optional(row, TIME_KEYS, where), "source_id": _optional(row, ("id",), where)})
        except csv.Error as e:
            line = reader.reader.line_num
            if "field larger than field limit" in str(e):
                raise FormatError(f"{path.name}, line {line}: a field is longer than {MAX_FIELD // 1024} KiB "
                                  "(a quote left open, or not a CSV file?).") from None
            raise FormatError(f"{path.name}, line {line}: not valid CSV ({e}).") from None
    return log


def detect(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    raise FormatError(f"Cannot tell what kind of log {path.name} is from its name; a log is a .jsonl file "
                      "(chat messages) or a .csv file (prompt and response columns).")


def read_chatlog(path: str | Path, fmt: str = "auto") -> ChatLog:
    """Read a production log; raises ``FormatError`` (one line) for anything malformed."""
    path = Path(path)
    if fmt not in FORMATS:
        raise FormatError(f"Unknown log format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    if not path.is_file():
        raise FormatError(f"No such file: {path}")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise FormatError(f"{path.name} is larger than {MAX_BYTES // 2**20} MiB; split it into smaller files.")
        fmt = detect(path) if fmt == "auto" else fmt
        log = _jsonl(path) if fmt == "jsonl" else _csv(path)
    except UnicodeDecodeError:
        raise FormatError(f"{path.name} is not UTF-8 text.") from None
    except OSError as e:
        raise FormatError(f"Cannot read {path.name}: {e.strerror or e}.") from None
    if not log.items:
        what = (f"{log.conversations} conversation(s) but no user turn with an assistant answer"
                if log.conversations else "no conversations")
        raise FormatError(f"{path.name} holds {what}; nothing to check.")
    return log
