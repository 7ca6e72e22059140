"""Export an adapter (merged into its base) or a model as GGUF files for llama.cpp and Ollama.

A file export, not data: no run row is recorded (as with exporting SFT data). The Models page
runs it on the job queue (``ui/pages/models.py``); ``cai-desktop adapter export --format gguf``
runs it headless. The conversion itself is ``engine.gguf_export``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cai_desktop.core.errors import ValidationError

KIND = "gguf-export"
TYPES = ("f16", "q8_0")


@dataclass
class GgufExportParams:
    project: str = ""
    adapter_id: int | None = None
    out_dir: str = ""
    types: tuple[str, ...] = TYPES

    def check(self) -> None:
        if self.adapter_id is None:
            raise ValidationError("Choose an adapter to export.")
        if not self.out_dir:
            raise ValidationError("Choose a folder for the GGUF files.")
        bad = [t for t in self.types if t not in TYPES]
        if bad or not self.types:
            raise ValidationError(f"GGUF types: choose among {', '.join(TYPES)}.")
        out = Path(self.out_dir).expanduser()
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ValidationError(f"{out} already exists and is not empty; choose a new folder.")


def run_gguf_export(ctx: Any, params: GgufExportParams) -> dict[str, Any]:
    """Merge the adapter into its base model and write ``{name}-{type}.gguf`` + ``Modelfile``."""
    from cai_desktop.engine.gguf_export import export_gguf
    from cai_desktop.jobs.ppo import POLICY_ADAPTER_KINDS
    from cai_desktop.store.project import Project

    params.check()
    with Project.open(params.project) as project:
        adapter = project.adapters.get(int(params.adapter_id), POLICY_ADAPTER_KINDS, "adapter to export")
    name = adapter["name"] or f"adapter-{adapter['id']}"
    ctx.log(f"exporting adapter {adapter['id']} ({name}) on {adapter['base_model_spec'] or 'default'} as GGUF")
    result = export_gguf(adapter["base_model_spec"] or "default", adapter["path"], params.out_dir, name,
                         tuple(params.types), ctx)
    for kind, path in result["files"].items():
        ctx.log(f"{kind}: {path}")
    ctx.log(f"Ollama: cd {result['folder']} && ollama create {Path(result['folder']).name} -f Modelfile")
    return result
