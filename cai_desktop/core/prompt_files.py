"""Reading prompt sets from the files people have: JSONL, CSV, plain text, Human:/Assistant:
transcripts, and a Hugging Face ``datasets`` folder saved with ``save_to_disk``.

Every reader returns ``[{"text", "category"}]`` and raises ``FormatError`` with one line. The
messages name no command-line option or widget: the CLI and the import dialog both show them.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from cai_desktop.core.errors import FormatError

FORMATS = ("auto", "jsonl", "csv", "txt", "transcripts", "hf-disk")
TEXT_KEYS = ("prompt", "text", "question", "instruction", "input", "query", "chosen")
CATEGORY_KEYS = ("category", "tag", "label", "topic")
_HUMAN = re.compile(r"(?:^|\n)\s*Human:\s*(.*?)(?=\n\s*(?:Assistant|Human):|\Z)", re.DOTALL)


def first_human_turn(transcript: str) -> str:
    m = _HUMAN.search(transcript)
    return m.group(1).strip() if m else ""


def _pick_column(columns: list[str], column: str | None, where: str) -> str:
    if column:
        if column not in columns:
            raise FormatError(f"{where} has no column {column!r}; it has: {', '.join(columns) or 'none'}.")
        return column
    for key in TEXT_KEYS:
        if key in columns:
            return key
    raise FormatError(
        f"{where}: cannot tell which column holds the prompt; choose the column that holds it "
        f"(columns: {', '.join(columns) or 'none'})."
    )


def _row(record: dict[str, Any], column: str) -> dict[str, str]:
    value = record.get(column)
    if isinstance(value, list):  # a messages list: take the first user turn
        value = next((m.get("content", "") for m in value if isinstance(m, dict) and m.get("role") == "user"), "")
    text = str(value or "").strip()
    if "Human:" in text and "Assistant:" in text:
        text = first_human_turn(text)
    category = next((str(record[k]) for k in CATEGORY_KEYS if record.get(k) not in (None, "")), "")
    return {"text": text, "category": category}


def detect(path: Path) -> str:
    if path.is_dir():
        return "hf-disk"
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    head = path.read_text(encoding="utf-8", errors="replace")[:4000]
    if re.search(r"(^|\n)\s*Human:", head) and "Assistant:" in head:
        return "transcripts"
    return "txt"


def read_prompts(path: str | Path, fmt: str = "auto", column: str | None = None) -> list[dict[str, str]]:
    path = Path(path)
    if not path.exists():
        raise FormatError(f"No such file or folder: {path}")
    if fmt not in FORMATS:
        raise FormatError(f"Unknown prompt file format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    if path.is_file() and _is_empty(path):
        raise FormatError(f"{path.name} is empty.")
    if fmt == "auto":
        fmt = detect(path)
    try:
        rows = {"jsonl": _jsonl, "csv": _csv, "txt": _txt, "transcripts": _transcripts, "hf-disk": _hf_disk}[fmt](path, column)
    except UnicodeDecodeError:
        raise FormatError(f"{path.name} is not UTF-8 text.") from None
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
    text = path.read_text(encoding="utf-8")
    records: list[Any]
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as e:
            raise FormatError(f"{path.name}: not valid JSON ({e.msg}, line {e.lineno}).") from None
    else:
        records = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise FormatError(f"{path.name}, line {n}: not valid JSON ({e.msg}).") from None
    if records and all(isinstance(r, str) for r in records):
        return [{"text": r.strip(), "category": ""} for r in records]
    if not all(isinstance(r, dict) for r in records):
        raise FormatError(f"{path.name}: each line must be a JSON object (or a string).")
    columns = list(dict.fromkeys(k for r in records for k in r))
    col = _pick_column(columns, column, path.name)
    return [_row(r, col) for r in records]


def _csv(path: Path, column: str | None) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
        reader = csv.DictReader(fh, dialect=dialect)
        columns = list(reader.fieldnames or [])
        col = _pick_column(columns, column, path.name)
        rows = [_row(r, col) for r in reader]
    if not rows:
        raise FormatError(f"{path.name} has a header row ({', '.join(columns)}) but no prompts under it.")
    return rows


def _txt(path: Path, column: str | None) -> list[dict[str, str]]:
    return [{"text": line.strip(), "category": ""} for line in path.read_text(encoding="utf-8").splitlines()]


def _transcripts(path: Path, column: str | None) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8")
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
    return [_row(r, col) for r in ds]
