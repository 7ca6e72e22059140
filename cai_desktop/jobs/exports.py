"""Exports for the wider ecosystem: SFT ``messages`` JSONL and preference ``prompt/chosen/rejected``
JSONL, both readable by ``datasets.load_dataset("json", ...)`` and TRL as they are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cai_desktop.core.errors import ProjectError
from cai_desktop.store.project import Project


def _write_jsonl(records: list[dict[str, Any]], out: str | Path) -> int:
    out = Path(out)
    if not out.parent.exists():
        raise ProjectError(f"The folder {out.parent} does not exist.")
    tmp = out.with_name(out.name + ".part")
    with open(tmp, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(out)
    return len(records)


def export_sft(project_path: str | Path, out: str | Path, *, mode: str = "final", include_helpful: bool = True,
               split: str | None = "train", only_accepted: bool = False) -> int:
    with Project.open(project_path) as project:
        records = project.chains.sft_records(mode=mode, include_helpful=include_helpful, split=split,
                              only_accepted=only_accepted)
    return _write_jsonl([{"messages": r["messages"]} for r in records], out)  # the published shape only


def export_prefs(project_path: str | Path, out: str | Path, *, split: str | None = "train",
                 only_accepted: bool = False, source: str = "chains") -> int:
    with Project.open(project_path) as project:
        if source == "labels":
            records = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in project.comparisons.preference_pairs()]
        else:
            records = [{k: r[k] for k in ("prompt", "chosen", "rejected")}
                       for r in project.chains.preference_records(split=split, only_accepted=only_accepted)]
    return _write_jsonl(records, out)
