"""Reading prompt sets from the files people have: JSONL, CSV, plain text, Human:/Assistant:
transcripts, and a Hugging Face ``datasets`` folder saved with ``save_to_disk``.

Every reader returns ``[{"text", "category"}]`` and raises ``FormatError`` with one line. The
messages name no command-line option or widget: the CLI and the import dialog both show them.

Values are read strictly: the prompt column holds text (or a messages list whose first user turn
is text); an object, a number or true/false there is refused with the line (JSONL, CSV) or the
item/row number, never printed into a prompt. A category is text or a number (dataset labels).
Files over ``MAX_BYTES``, JSON nested deeper than ``formats.MAX_DEPTH`` and CSV fields over
``MAX_FIELD`` characters are refused with a sentence.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from cai_desktop.core.constitution import describe
from cai_desktop.core.errors import FormatError
from cai_desktop.core.formats import load_json

FORMATS = ("auto", "jsonl", "csv", "txt", "transcripts", "hf-disk")
TEXT_KEYS = ("prompt", "text", "question", "instruction", "input", "query", "chosen")
CATEGORY_KEYS = ("category", "tag", "label", "topic")
#: the largest prompt file read (a set of a million prompts is well under it)
MAX_BYTES = 200 * 2**20
#: the longest CSV field read: Python's csv module's own limit (128 KiB); no prompt is longer
MAX_FIELD = csv.field_size_limit()
_HUMAN = re.compile(r"(?:^|\n)\s*Human:\s*(.*?)(?=\n\s*(?:Assistant|Human):|\Z)", re.DOTALL)


def first_human_turn(transcript: str) -> str:
    m = _HUMAN.search(transcript)
    return m.group(1).strip() if m else ""


def _names(columns: list[str]) -> str:
    """Column names for a message: odd ones (empty, spaces, line breaks) quoted; at most 20."""
    shown = [c if c and c.isprintable() and c.strip() == c else repr(c) for c in columns[:20]]
    more = f" and {len(columns) - 20} more" if len(columns) > 20 else ""
    return (", ".join(shown) or "none") + more


def _pick_column(columns: list[str], column: str | None, where: str) -> str:
    if column:
        if column not in columns:
            raise FormatError(f"{where} has no column {column!r}; it has: {_names(columns)}.")
        return column
    for key in TEXT_KEYS:
        if key in columns:
            return key
    raise FormatError(
        f"{where}: cannot tell which column holds the prompt; choose the column that holds it "
        f"(columns: {_names(columns)})."
    )


def _row(record: dict[str, Any], column: str, where: str) -> dict[str, str]:
    """One prompt from one record; ``where`` names it in a message ("p.jsonl, line 3")."""
    value = record.get(column)
    if isinstance(value, list):  # a messages list: take the first user turn
        turn = next((m for m in value if isinstance(m, dict) and m.get("role") == "user"), None)
        if turn is None and value and not all(isinstance(m, dict) for m in value):
            raise FormatError(f"{where}: {column!r} must be text or a list of messages, not a list of "
                              f"{describe(next(m for m in value if not isinstance(m, dict)))}.")
        value = None if turn is None else turn.get("content")
        if value is not None and not isinstance(value, str):
            raise FormatError(f"{where}: the user turn's 'content' must be text, not {describe(value)}.")
    elif value is not None and not isinstance(value, str):
        raise FormatError(f"{where}: {column!r} must be text, not {describe(value)}.")
    text = _checked((value or "").strip(), where)
    if "Human:" in text and "Assistant:" in text:
        text = first_human_turn(text)
    return {"text": text, "category": _category(record, where)}


def _category(record: dict[str, Any], where: str) -> str:
    for k in CATEGORY_KEYS:
        v = record.get(k)
        if v is None or v == "":
            continue
        if isinstance(v, str):
            return _checked(v, where)
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) < 10**18:
            return str(v)
        raise FormatError(f"{where}: {k!r} must be text or a whole number, not {describe(v)}.")
    return ""


def _checked(text: str, where: str) -> str:
    """Text the project file can store: JSON may escape half a surrogate pair ("\\ud800")."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise FormatError(f"{where}: the text holds characters that are not valid Unicode (a lone surrogate).") from None
    return text


def detect(path: Path) -> str:
    if path.is_dir():
        return "hf-disk"
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    with open(path, "rb") as fh:
        head = fh.read(4000).decode("utf-8", errors="replace")
    if re.search(r"(^|\n)\s*Human:", head) and "Assistant:" in head:
        return "transcripts"
    return "txt"


def read_prompts(path: str | Path, fmt: str = "auto", column: str | None = None) -> list[dict[str, str]]:
    path = Path(path)
    if not path.exists():
        raise FormatError(f"No such file or folder: {path}")
    if fmt not in FORMATS:
        raise FormatError(f"Unknown prompt file format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    try:
        if path.is_file() and path.stat().st_size > MAX_BYTES:
            raise FormatError(f"{path.name} is larger than {MAX_BYTES // 2**20} MiB; split it into smaller files.")
        if path.is_file() and _is_empty(path):
            raise FormatError(f"{path.name} is empty.")
        if fmt == "auto":
            fmt = detect(path)
        if fmt != "hf-disk" and not path.is_file():
            raise FormatError(f"{path.name} is a folder; only a datasets folder is read as a folder.")
        rows = {"jsonl": _jsonl, "csv": _csv, "txt": _txt, "transcripts": _transcripts, "hf-disk": _hf_disk}[fmt](path, column)
    except UnicodeDecodeError:
        raise FormatError(f"{path.name} is not UTF-8 text.") from None
    except OSError as e:
        raise FormatError(f"Cannot read {path.name}: {e.strerror or e}.") from None
    rows = [r for r in rows if r["text"]]
    if not rows:
        raise FormatError(f"No prompts found in {path.name}.")
    return rows


def _is_empty(path: Path) -> bool:
    """Nothing but white space (read no more than 64 KiB: a big file is never empty)."""
    with open(path, "rb") as fh:
        head = fh.read(65536)
    return not head.strip() and path.stat().st_size <= len(head)


def _jsonl(path: Path, column: str | None) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8-sig")
    records: list[tuple[str, Any]]  # (where, record)
    stripped = text.lstrip()
    if stripped.startswith("["):
        value = load_json(text, path.name)
        records = [(f"{path.name}, item {i}", r) for i, r in enumerate(value, 1)]
    else:
        records = []
        # split on newlines only: str.splitlines() also splits on U+2028 and friends, which JSON
        # strings may hold as they are
        for n, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            where = f"{path.name}, line {n}"
            records.append((where, load_json(line, where, at_line=False)))
    if records and all(isinstance(r, str) for _, r in records):
        return [{"text": _checked(r.strip(), where), "category": ""} for where, r in records]
    for where, r in records:
        if not isinstance(r, dict):
            raise FormatError(f"{where}: each line must be a JSON object (or a string), not {describe(r)}.")
    columns = list(dict.fromkeys(k for _, r in records for k in r))
    col = _pick_column(columns, column, path.name)
    return [_row(r, col, where) for where, r in records]


def _csv(path: Path, column: str | None) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        fallback = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = fallback
        reader = csv.DictReader(fh, dialect=dialect)
        try:
            columns = list(reader.fieldnames or [])
            col = _pick_column(columns, column, path.name)
            rows = [_row(r, col, f"{path.name}, line {reader.line_num}") for r in reader]
        except csv.Error as e:
            line = reader.reader.line_num  # DictReader's own count lags a line behind on an error
            if "field larger than field limit" in str(e):
                raise FormatError(
                    f"{path.name}, line {line}: a field is longer than {MAX_FIELD // 1024} KiB "
                    "(a quote left open, or not a CSV file?)."
                ) from None
            raise FormatError(f"{path.name}, line {line}: not valid CSV ({e}).") from None
    if not rows:
        raise FormatError(f"{path.name} has a header row ({_names(columns)}) but no prompts under it.")
    return rows


def _txt(path: Path, column: str | None) -> list[dict[str, str]]:
    return [{"text": line.strip(), "category": ""} for line in path.read_text(encoding="utf-8-sig").splitlines()]


def _transcripts(path: Path, column: str | None) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8-sig")
    blocks = re.split(r"\n\s*\n(?=\s*Human:)", "\n" + text)
    return [{"text": first_human_turn(b), "category": ""} for b in blocks if "Human:" in b]


def _hf_disk(path: Path, column: str | None) -> list[dict[str, str]]:
    try:
        from datasets import DatasetDict, load_from_disk
    except ImportError:  # pragma: no cover - datasets is a dependency
        raise FormatError("Reading a datasets folder needs the 'datasets' package.") from None
    try:
        ds = load_from_disk(str(path))
    except Exception as e:
        raise FormatError(f"{path.name} is not a dataset saved with save_to_disk ({type(e).__name__}).") from None
    if isinstance(ds, DatasetDict):
        split = "train" if "train" in ds else next(iter(ds))
        ds = ds[split]
    col = _pick_column(list(ds.column_names), column, path.name)
    return [_row(r, col, f"{path.name}, row {i}") for i, r in enumerate(ds, 1)]
