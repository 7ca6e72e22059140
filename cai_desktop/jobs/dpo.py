"""The DPO job: the lighter alternative to a preference model + PPO.

Trains a LoRA on the AI-labelled comparisons directly: chosen/rejected follow the soft label (a
human review overrides it), and pairs whose label is within ``min_margin`` of 50 % are dropped.
The result is a 'dpo' adapter row with its lineage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cai_desktop.core.errors import ValidationError
from cai_desktop.core.params import param
from cai_desktop.core.settings import DPOSettings
from cai_desktop.jobs.base import Job, JobParams, run_job
from cai_desktop.jobs.fields import split_param
from cai_desktop.jobs.mixing import (
    describe_counts,
    human_weight_param,
    review_lineage,
    source_counts,
    weight_human,
)
from cai_desktop.jobs.ppo import base_param, policy_adapter_param, policy_start
from cai_desktop.jobs.runs import RunContext
from cai_desktop.jobs.sft import device_lineage, student_device
from cai_desktop.store.project import Project

KIND = "dpo"


@dataclass
class DPOParams(JobParams, DPOSettings):
    base: str | None = base_param()
    policy_adapter_id: int | None = policy_adapter_param()
    label_runs: list[int] = param([], label="Label runs", source="runs:label", empty="all comparisons",
                                  flags=("--runs",), help="Label runs to train on; empty = every labelled comparison.")
    min_margin: float = param(0.1, label="Minimum margin", range=(0.0, 0.49),
                              help="Leave out pairs whose label is closer than this to 0.5 (0.1 drops pairs labelled "
                                   "40–60 %).")
    split: str | None = split_param("train", "comparisons")
    kind: str | None = param(None, label="Comparisons", choices=(None, "harmless", "helpful"), empty="both",
                             help="Train on harmlessness comparisons, helpfulness ones, or both.")
    use_ai_labels: bool = param(True, label="Use AI-labelled pairs",
                                help="Response pairs with AI feedback soft labels (and the human choices that "
                                     "override them).")
    use_distilled: bool = param(True, label="Use teacher answers",
                                help="Teacher-with-constitution over student answers (context distillation runs).")
    use_chains: bool = param(False, label="Use revision over original",
                             help="Each stage-1 chain's final (sound) revision as chosen and its original answer as "
                                  "rejected, the Hugging Face CAI reproduction's DPO data; revisions that talk "
                                  "about the answer are left out, as in SFT.")
    human_weight: float = human_weight_param()


def select_pairs(project: Project, params: DPOParams) -> list[dict[str, Any]]:
    for rid in params.label_runs:
        project.runs.get(rid)
    sources = (("pair", "chain") if params.use_ai_labels else ()) + (("distill",) if params.use_distilled else ())
    pairs = project.comparisons.preference_pairs(run_ids=params.label_runs or None, min_margin=params.min_margin,
                                                 split=params.split, kind=params.kind,
                                                 sources=sources) if sources else []
    if params.use_chains and params.kind in (None, "harmless"):
        pairs += [{**r, "label": 1.0, "kind": "harmless", "comparison_id": None}
                  for r in project.chains.preference_records(split=params.split, skip_flawed=True)]
    if not pairs:
        raise ValidationError("No preference pairs to train on: label response pairs, make teacher answers or "
                              "critique chains first, or lower the minimum margin.")
    return weight_human(pairs, params.human_weight, params.seed)


def _prepare(project: Project, params: DPOParams) -> dict[str, Any]:
    device = student_device(project)  # one line before anything loads when this machine lacks it
    spec, start = policy_start(project, params.base, params.policy_adapter_id)
    return {"spec": spec, "start": start, "pairs": select_pairs(project, params), "device": device}


def run_dpo(ctx: Any, params: DPOParams) -> dict[str, Any]:
    return run_job(JOB, ctx, params)


def _body(project: Project, ctx: RunContext, run_id: int, params: DPOParams, plan: dict[str, Any]) -> dict[str, Any]:
    from cai_desktop.engine.distributed import share
    from cai_desktop.engine.dpo import dpo_checkpoint_step, train_dpo
    from cai_desktop.engine.models import resolve_spec

    # under ``accelerate launch`` only the main process writes; the others train on its pairs
    main = getattr(ctx, "main_process", True)
    spec, start, pairs = share((plan["spec"], plan["start"], plan["pairs"]))
    ms = resolve_spec(spec)
    if main:
        project.models.record(ms.to_str(), ms.kind, ms.display_name)
    n_helpful = sum(1 for p in pairs if p.get("kind") == "helpful")
    ctx.log(f"DPO on {len(pairs)} pairs ({describe_counts(source_counts(pairs))}; {n_helpful} helpful), "
            f"margin ≥ {params.min_margin}; policy "
            f"{ms.display_name}" + (f" + adapter {start['id']} ({start['name']})" if start else ""))
    out = project.artifacts_dir / f"dpo-{run_id}"
    if params.resume_run is not None and main:
        project.runs.forget_metrics_after(run_id, dpo_checkpoint_step(out))
    result = train_dpo(spec, start["path"] if start else None, pairs, params, out, ctx=ctx,
                       resume=params.resume_run is not None, device=plan["device"]["device"])
    if not main:
        return result
    lineage = {
        "kind": KIND,
        "base_model": spec, "roles": {"student": spec},
        "device": device_lineage(plan["device"], result),
        "review": review_lineage(project),
        "policy_start": {"adapter_id": start["id"], "kind": start["kind"], "path": start["path"],
                         "lineage": json.loads(start["lineage_json"] or "{}")} if start else None,
        "data": {"label_runs": params.label_runs or "all", "min_margin": params.min_margin, "split": params.split,
                 "kind": params.kind, "pairs": len(pairs), "helpful_pairs": n_helpful,
                 "sources": source_counts(pairs), "human_weight": params.human_weight,
                 "comparison_ids": [p["comparison_id"] for p in pairs if p.get("comparison_id") is not None]},
        "settings": params.values(DPOSettings),
        "steps": result["steps"], "loss_first": result["loss_first"], "loss_last": result["loss_last"],
        "run_id": run_id,
    }
    adapter_id = project.adapters.register(KIND, result["adapter"], spec, lineage, run_id=run_id,
                                          name=f"dpo-run-{run_id}")
    if result["loss_first"] is not None:
        ctx.log(f"DPO loss {result['loss_first']:.3f} → {result['loss_last']:.3f}; adapter at {result['adapter']}")
    return {**result, "adapter_id": adapter_id, "lineage": lineage}


def _summary(r: dict[str, Any]) -> list[str]:
    loss = (f", loss {r['loss_first']:.3f} → {r['loss_last']:.3f}" if r.get("loss_first") is not None else "")
    return [f"run {r['run_id']}: {r['steps']} DPO steps on {r['pairs']} pairs{loss}",
            f"adapter {r['adapter_id']}: {r['adapter']}"]


JOB = Job(
    kind=KIND, label="DPO", params=DPOParams, prepare=_prepare, body=_body, run_name=lambda p: "DPO",
    description="An alternative to PPO: train the policy directly on the AI-labelled preference pairs.",
    summary=_summary, cli_help="DPO of the policy on the AI-labelled comparisons (lighter than PPO)",
)
