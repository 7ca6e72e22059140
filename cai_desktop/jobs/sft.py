"""The LoRA SFT job: revisions (+ helpful answers) → an SL-CAI adapter with its lineage."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cai_desktop.jobs.runs import RunContext, execute
from cai_desktop.store.chains import sft_records
from cai_desktop.store.project import Project

KIND = "sft"


@dataclass
class SFTParams:
    project: str
    base: str | None = None
    data_mode: str = "final"
    include_helpful: bool = True
    helpful_ratio: float | None = None
    only_accepted: bool = False
    run_ids: list[int] | None = None
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str = "all-linear"
    learning_rate: float = 2e-4
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 512
    save_steps: int = 20
    seed: int = 0
    resume_run: int | None = None

    def settings(self):
        from cai_desktop.engine.sft import LoraSettings, SFTSettings, TrainSettings

        return SFTSettings(
            LoraSettings(self.rank, self.alpha, self.dropout, self.target_modules),
            TrainSettings(self.learning_rate, self.epochs, self.max_steps, self.batch_size, self.grad_accum,
                          self.max_length, self.save_steps, 1, 0.05, self.seed),
        )


def run_sft(ctx: Any, params: SFTParams) -> dict[str, Any]:
    params.settings().check()
    return execute(ctx, params.project, KIND, asdict(params), lambda p, rc, rid: _body(p, rc, rid, params),
                   resume_run=params.resume_run, name="LoRA SFT")


def _lineage_constitutions(project: Project, run_ids: list[int] | None) -> list[dict[str, Any]]:
    sql = ("SELECT DISTINCT k.name, c.constitution_version AS version FROM chains c "
           "JOIN constitutions k ON k.id = c.constitution_id")
    if run_ids:
        sql += f" WHERE c.run_id IN ({','.join('?' * len(run_ids))})"
    return project.query(sql, run_ids or [])


def _body(project: Project, ctx: RunContext, run_id: int, params: SFTParams) -> dict[str, Any]:
    from cai_desktop.engine.models import local_model_dir, resolve_spec
    from cai_desktop.engine.sft import train_sft

    records = sft_records(project, mode=params.data_mode, include_helpful=params.include_helpful,
                          helpful_ratio=params.helpful_ratio, only_accepted=params.only_accepted,
                          run_ids=params.run_ids, seed=params.seed)
    n_helpful = sum(1 for _ in records) - len(sft_records(project, mode=params.data_mode, include_helpful=False,
                                                          only_accepted=params.only_accepted, run_ids=params.run_ids))
    ctx.log(f"training on {len(records)} examples ({n_helpful} helpful)")
    spec = resolve_spec(params.base)
    project.record_model(spec.to_str(), spec.kind, spec.display_name)
    base_dir = local_model_dir(spec, ctx)
    out = project.artifacts_dir / f"run-{run_id}"
    result = train_sft(base_dir, records, params.settings(), out, ctx=ctx, resume=params.resume_run is not None)
    lineage = {
        "base_model": spec.to_str(),
        "constitutions": _lineage_constitutions(project, params.run_ids),
        "data": {"mode": params.data_mode, "include_helpful": params.include_helpful,
                 "helpful_ratio": params.helpful_ratio, "only_accepted": params.only_accepted,
                 "run_ids": params.run_ids, "examples": len(records), "helpful_examples": n_helpful},
        "settings": params.settings().to_dict(),
    }
    adapter_id = project.register_adapter("sft", result["adapter"], spec.to_str(), lineage, run_id=run_id,
                                          name=f"sft-run-{run_id}")
    ctx.log(f"loss {result['loss_first']:.3f} → {result['loss_last']:.3f}; adapter at {result['adapter']}")
    return {**result, "adapter_id": adapter_id, "lineage": lineage}


@dataclass
class MergeParams:
    project: str
    adapter_id: int
    out_dir: str


def run_merge(ctx: Any, params: MergeParams) -> dict[str, Any]:
    from cai_desktop.core.errors import ProjectError
    from cai_desktop.engine.models import local_model_dir, resolve_spec
    from cai_desktop.engine.sft import merge_adapter

    with Project.open(params.project) as project:
        rows = project.query("SELECT * FROM adapters WHERE id=?", [params.adapter_id])
        if not rows:
            raise ProjectError(f"No adapter {params.adapter_id} in this project.")
        a = rows[0]
        out = merge_adapter(local_model_dir(resolve_spec(a["base_model_spec"]), ctx), a["path"], params.out_dir, ctx)
        project.record_model(str(out.resolve()), "folder", f"{a['name']} (merged)",
                             {"merged_from_adapter": a["id"], "base": a["base_model_spec"]})
    return {"model": str(out)}
