"""Human demonstrations: the answers a lab's reviewers want, imported from a file.

A file of ``{"prompt": ..., "response": ...}`` lines (or ``{"messages": [user, assistant]}``, the
Hugging Face SFT shape) becomes prompts of a prompt set (train split) and, for each, a chain
holding the human answer only (no model text), made by a run of kind ``demonstrations``. SFT
counts them as human data (its "weight of human data" applies); the inspector shows and edits
them like any chain. Writing a demonstration in the inspector (editing a revision) is the same
data entered by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cai_desktop.core.errors import FormatError, ValidationError
from cai_desktop.core.formats import load_json
from cai_desktop.store.project import Project

KIND = "demonstrations"
MAX_BYTES = 50 * 1024 * 1024


def read_demonstrations(path: str | Path) -> list[dict[str, str]]:
    """``[{"prompt", "response"}]`` from a JSONL file; one clear line naming the bad line.

    Only ``ValidationError`` leaves it: bad JSON, JSON nested too deeply, a number too long to read,
    a prompt or response that is not text (an object is never printed into one) all name the line."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"No file at {path}.")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValidationError(f"{path.name} is larger than {MAX_BYTES // 2**20} MiB; split it into smaller files.")
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as e:
        raise ValidationError(f"Cannot read {path.name}: {e.strerror or e}.") from None
    out = []
    # newlines only: str.splitlines() would also split inside JSON strings holding U+2028 and kin
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{path.name}, line {n}"
        try:
            d = load_json(line, where, at_line=False)
        except FormatError as e:
            raise ValidationError(str(e)) from None
        if isinstance(d, dict) and isinstance(d.get("messages"), list):
            msgs = [m for m in d["messages"] if isinstance(m, dict)]
            users = [m.get("content") for m in msgs if m.get("role") == "user"]
            answers = [m.get("content") for m in msgs if m.get("role") == "assistant"]
            prompt, response = (users[-1] if users else None), (answers[-1] if answers else None)
        elif isinstance(d, dict):
            prompt = d.get("prompt")
            response = d.get("response", d.get("answer", d.get("completion")))
        else:
            prompt = response = None
        if not isinstance(prompt, str) or not isinstance(response, str) or not prompt.strip() or not response.strip():
            raise ValidationError(f"{where}: needs a text \"prompt\" and a text \"response\" "
                                  "(or a \"messages\" list with a user and an assistant turn).")
        for text_ in (prompt, response):
            try:
                text_.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationError(f"{where}: the text holds characters that are not valid Unicode "
                                      "(a lone surrogate).") from None
        out.append({"prompt": prompt.strip(), "response": response.strip()})
    if not out:
        raise ValidationError(f"{path.name} is empty.")
    return out


def add_demonstrations(project: Project, rows: list[dict[str, str]], *, prompt_set: str = "demonstrations",
                       reviewer: str = "", source: str = "") -> dict[str, Any]:
    """Store ``rows`` as human demonstrations; returns the run id and counts."""
    project.prompts.add_set(prompt_set, "red-team", [r["prompt"] for r in rows], source=source, test_fraction=0.0)
    ids = {p["text"]: p["id"] for p in project.prompts.of(prompt_set)}
    run_id = project.runs.create(KIND, {"prompt_set": prompt_set, "reviewer": reviewer, "source": source},
                                 name=f"demonstrations ({len(rows)})")
    n = project.chains.add_demonstrations(run_id, [{"prompt_id": ids[r["prompt"]], "text": r["response"]}
                                                   for r in rows], reviewer=reviewer)
    project.runs.set_status(run_id, "done")
    project.runs.set_result(run_id, {"run_id": run_id, "demonstrations": n})
    return {"run_id": run_id, "demonstrations": n, "prompt_set": prompt_set}


def import_demonstrations(project_path: str | Path, path: str | Path, **kw: Any) -> dict[str, Any]:
    rows = read_demonstrations(path)
    with Project.open(project_path) as project:
        return add_demonstrations(project, rows, source=str(path), **kw)
