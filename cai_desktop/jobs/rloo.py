"""The RLOO job (RL-CAI, recommended): the SL-CAI policy trained against the preference model with
RLOO (or GRPO) on TRL's stable trainers, a KL penalty to the SL-CAI policy and no value model.

Same inputs as the PPO job (a starting adapter row, a preference model row, a prompt set with an
optional helpful mix); the result is an 'rloo' adapter row whose lineage names the start, the
preference model, the prompts, the algorithm and the settings. When the preference model was
trained on the policy's base, it runs on the policy's own frozen base (one base in memory).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cai_desktop.core.params import param
from cai_desktop.core.settings import RLOOSettings
from cai_desktop.jobs.base import Job, JobParams, run_job
from cai_desktop.jobs.fields import limit_param, split_param
from cai_desktop.jobs.ppo import base_param, rl_plan
from cai_desktop.jobs.runs import RunContext
from cai_desktop.jobs.sft import device_lineage
from cai_desktop.store.project import Project

KIND = "rloo"


@dataclass
class RLOOParams(JobParams, RLOOSettings):
    base: str | None = base_param()
    policy_adapter_id: int | None = param(None, label="Start from adapter", source="adapter_ids:sft,dpo,ppo,rloo",
                                          empty="the plain base", flags=("--adapter",),
                                          help="The adapter the policy starts from, normally the SL-CAI (SFT) one; "
                                               "empty = the plain base.")
    reward_adapter_id: int | None = param(None, label="Preference model", source="adapter_ids:reward",
                                          empty="the newest", flags=("--reward",),
                                          help="The preference model whose score is the reward; empty = the newest.")
    prompt_set: str = param("red-team", label="Prompt set", source="prompt_sets", flags=("--set",),
                            help="The prompts the policy answers during training.")
    split: str | None = split_param("train")
    limit: int | None = limit_param(None)
    helpful_set: str = param("helpful", label="Helpful prompt set", source="prompt_sets",
                             help="Helpful prompts mixed in (with the ratio below) so the policy stays helpful.")
    helpful_ratio: float = param(0.0, label="Helpful per red-team prompt", range=(0.0, 100.0),
                                 help="Helpful prompts mixed in per red-team prompt (0 = none).")


def _prepare(project: Project, params: RLOOParams) -> dict[str, Any]:
    return rl_plan(project, params)


def run_rloo(ctx: Any, params: RLOOParams) -> dict[str, Any]:
    return run_job(JOB, ctx, params)


def _body(project: Project, ctx: RunContext, run_id: int, params: RLOOParams, plan: dict[str, Any]) -> dict[str, Any]:
    from cai_desktop.engine.models import resolve_spec
    from cai_desktop.engine.rloo import ALGORITHMS, rl_checkpoint_step, train_rloo

    spec, start, rm = plan["spec"], plan["start"], plan["reward"]
    prompts, n_helpful = plan["prompts"], plan["n_helpful"]
    ms = resolve_spec(spec)
    # under ``accelerate launch`` only the main process writes (model row, metrics, adapter row)
    main = getattr(ctx, "main_process", True)
    if main:
        project.models.record(ms.to_str(), ms.kind, ms.display_name)
    name = ALGORITHMS[params.algorithm]
    ctx.log(f"{name} policy: {ms.display_name}" + (f" + adapter {start['id']} ({start['name']})" if start else "")
            + f"; preference model: adapter {rm['id']} ({rm['name']}); {len(prompts)} prompts ({n_helpful} helpful)")
    out = project.artifacts_dir / f"rloo-{run_id}"
    if params.resume_run is not None and main:
        project.runs.forget_metrics_after(run_id, rl_checkpoint_step(out))
    same_base = resolve_spec(rm["base_model_spec"]).to_str() == spec
    result = train_rloo(spec, start["path"] if start else None, rm["path"], prompts, params, out, ctx=ctx,
                        resume=params.resume_run is not None, share_base=same_base,
                        device=plan["device"]["device"])
    if not main:
        return result
    lineage = {
        "kind": KIND, "algorithm": params.algorithm,
        "base_model": spec, "roles": {"student": spec}, "device": device_lineage(plan["device"], result),
        "policy_start": {"adapter_id": start["id"], "kind": start["kind"], "path": start["path"],
                         "lineage": json.loads(start["lineage_json"] or "{}")} if start else None,
        "reward_model": {"adapter_id": rm["id"], "path": rm["path"], "base": rm["base_model_spec"],
                         "shared_base": result["shared_base"]},
        "prompts": {"set": params.prompt_set, "split": params.split, "limit": params.limit, "n": len(prompts),
                    "helpful_set": params.helpful_set, "helpful_ratio": params.helpful_ratio,
                    "n_helpful": n_helpful},
        "settings": params.values(RLOOSettings),
        "steps": result["steps"], "reward_first": result["reward_first"], "reward_last": result["reward_last"],
        "kl_last": result["kl_last"], "run_id": run_id,
    }
    adapter_id = project.adapters.register(KIND, result["adapter"], spec, lineage, run_id=run_id,
                                          name=f"{params.algorithm}-run-{run_id}")
    if result["reward_first"] is not None:
        ctx.log(f"{name} reward {result['reward_first']:+.3f} → {result['reward_last']:+.3f}, "
                f"KL {result['kl_last'] or 0:.3f}; {result['seconds_per_step'] or 0:.1f} s/step, "
                f"peak memory {result['peak_rss_mb']:.0f} MiB")
    ctx.log(f"RL-CAI adapter at {result['adapter']}")
    return {**result, "adapter_id": adapter_id, "lineage": lineage}


def _summary(r: dict[str, Any]) -> list[str]:
    name = {"rloo": "RLOO", "grpo": "GRPO"}.get(r.get("algorithm", "rloo"), "RLOO")
    lines = [f"run {r['run_id']}: {r['steps']} {name} steps, {r['episodes']} answers"]
    if r.get("reward_first") is not None:
        lines.append(f"reward {r['reward_first']:+.3f} → {r['reward_last']:+.3f}; KL {r['kl_last'] or 0:.3f}; "
                     f"{r['seconds_per_step'] or 0:.1f} s/step; peak memory {r['peak_rss_mb']:.0f} MiB")
    lines += list(r.get("warnings") or [])
    lines.append(f"adapter {r['adapter_id']}: {r['adapter']}")
    return lines


JOB = Job(
    kind=KIND, label="RLOO (recommended)", params=RLOOParams, prepare=_prepare, body=_body,
    run_name=lambda p: ALGORITHM_NAMES.get(p.algorithm, "RLOO"),
    description="Stage 2, recommended: train the SL-CAI policy with RLOO (or GRPO) against the preference model, "
                "with a KL penalty to the SL-CAI policy and no value model; light enough for one GPU or a CPU. "
                "Watch reward, KL and entropy for reward hacking.",
    summary=_summary, cli_help="RLOO (or GRPO) of the policy against the preference model (RL-CAI, recommended)",
)
ALGORITHM_NAMES = {"rloo": "RLOO", "grpo": "GRPO"}
