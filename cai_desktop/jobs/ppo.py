"""The PPO job (RL-CAI): the SL-CAI policy trained against the preference model.

The policy starts from an adapter row (normally kind 'sft') on its base, or from a base model;
the reward model is a 'reward' adapter row (default: the newest). Prompts come from a prompt set
(default red-team, train split), optionally mixed with helpful prompts. The result is a 'ppo'
adapter row whose lineage names the start, the preference model, the prompts and the settings;
the reward curve stays in the run's metrics (``reward``, ``kl``, ``entropy``, ...).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from cai_desktop.core.errors import ValidationError
from cai_desktop.core.params import param
from cai_desktop.core.settings import PPOSettings
from cai_desktop.jobs.base import Job, JobParams, run_job
from cai_desktop.jobs.fields import limit_param, split_param
from cai_desktop.jobs.runs import RunContext
from cai_desktop.jobs.sft import device_lineage, student_device
from cai_desktop.store.project import Project

KIND = "ppo"
POLICY_ADAPTER_KINDS = ("sft", "dpo", "ppo", "rloo")


def unavailable() -> str | None:
    """Why PPO is not offered with this installation (TRL without ``trl.experimental.ppo``), or None."""
    from cai_desktop.engine.rl import ppo_unavailable

    return ppo_unavailable()


def base_param() -> Any:
    return param(None, label="Policy base model", source="models", empty="the starting adapter's base",
                 help="The policy's base model; empty = the base the starting adapter was trained on (or the embedded "
                      "model when starting from no adapter).")


def policy_adapter_param() -> Any:
    return param(None, label="Start from adapter", source="adapter_ids:sft,dpo,ppo,rloo", empty="the plain base",
                 flags=("--adapter",),
                 help="The adapter the policy starts from, normally the SL-CAI (SFT) one; empty = the plain base.")


@dataclass
class PPOParams(JobParams, PPOSettings):
    base: str | None = base_param()
    policy_adapter_id: int | None = policy_adapter_param()
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


def policy_start(project: Project, base: str | None, adapter_id: int | None,
                 kinds: tuple[str, ...] = POLICY_ADAPTER_KINDS) -> tuple[str, dict[str, Any] | None]:
    """The policy's base spec and its starting adapter row (None: the plain base)."""
    from cai_desktop.engine.models import resolve_spec

    row = project.adapters.get(adapter_id, kinds, "starting policy") if adapter_id else None
    fallback = row["base_model_spec"] if row else project.roles.get("student")["spec"]
    spec = resolve_spec(base if base is not None else fallback).to_str()
    if row and resolve_spec(row["base_model_spec"]).to_str() != spec:
        raise ValidationError(f"Adapter {adapter_id} was trained on {row['base_model_spec']}, not {spec}; "
                              "leave the base empty to use the adapter's own.")
    return spec, row


def reward_row(project: Project, reward_adapter_id: int | None) -> dict[str, Any]:
    """The preference model row (the newest when none is chosen)."""
    if reward_adapter_id is not None:
        return project.adapters.get(reward_adapter_id, ("reward",), "reward model")
    rows = project.adapters.list("reward")
    if not rows:
        raise ValidationError("No preference model in this project: train one first.")
    return rows[0]


def select_prompts(project: Project, params: PPOParams) -> tuple[list[str], int]:
    """The red-team prompts (plus a seeded sample of helpful ones); returns (texts, n_helpful)."""
    texts = [p["text"] for p in project.prompts.of(params.prompt_set, params.split, params.limit)]
    if not texts:
        raise ValidationError(f"The prompt set {params.prompt_set!r} has no prompts in the {params.split} split.")
    n_helpful = 0
    if params.helpful_ratio > 0:
        helpful = [p["text"] for p in project.prompts.of(params.helpful_set, params.split)]
        n = min(len(helpful), round(params.helpful_ratio * len(texts)))
        extra = random.Random(params.seed).sample(helpful, n)
        n_helpful = len(extra)
        texts = texts + extra
        random.Random(params.seed + 1).shuffle(texts)
    return texts, n_helpful


MULTI_PROCESS = ("PPO runs in one process only; run it without accelerate launch, or use RLOO, which trains on "
                 "several processes.")


def _prepare(project: Project, params: PPOParams) -> dict[str, Any]:
    from cai_desktop.engine.distributed import distributed

    if distributed():
        raise ValidationError(MULTI_PROCESS)
    why = unavailable()
    if why:
        raise ValidationError(why)
    return rl_plan(project, params)


def rl_plan(project: Project, params: Any) -> dict[str, Any]:
    """The pre-flight plan of an RL job (PPO, RLOO): the student's device, the starting policy, the
    preference model and the prompts; each problem is one line before anything loads."""
    device = student_device(project)
    spec, start = policy_start(project, params.base, params.policy_adapter_id)
    prompts, n_helpful = select_prompts(project, params)
    return {"spec": spec, "start": start, "reward": reward_row(project, params.reward_adapter_id),
            "prompts": prompts, "n_helpful": n_helpful, "device": device}


def run_ppo(ctx: Any, params: PPOParams) -> dict[str, Any]:
    return run_job(JOB, ctx, params)


def _body(project: Project, ctx: RunContext, run_id: int, params: PPOParams, plan: dict[str, Any]) -> dict[str, Any]:
    from cai_desktop.engine.models import resolve_spec
    from cai_desktop.engine.rl import ppo_checkpoint_step, train_ppo

    spec, start, rm = plan["spec"], plan["start"], plan["reward"]
    prompts, n_helpful = plan["prompts"], plan["n_helpful"]
    ms = resolve_spec(spec)
    project.models.record(ms.to_str(), ms.kind, ms.display_name)
    ctx.log(f"policy: {ms.display_name}" + (f" + adapter {start['id']} ({start['name']})" if start else "")
            + f"; preference model: adapter {rm['id']} ({rm['name']}); {len(prompts)} prompts ({n_helpful} helpful)")
    out = project.artifacts_dir / f"ppo-{run_id}"
    if params.resume_run is not None:
        project.runs.forget_metrics_after(run_id, ppo_checkpoint_step(out))
    result = train_ppo(spec, start["path"] if start else None, rm["path"], prompts, params, out, ctx=ctx,
                       resume=params.resume_run is not None,
                       share_base=resolve_spec(rm["base_model_spec"]).to_str() == spec,
                       device=plan["device"]["device"])
    lineage = {
        "kind": KIND,
        "base_model": spec, "roles": {"student": spec}, "device": device_lineage(plan["device"], result),
        "policy_start": {"adapter_id": start["id"], "kind": start["kind"], "path": start["path"],
                         "lineage": json.loads(start["lineage_json"] or "{}")} if start else None,
        "reward_model": {"adapter_id": rm["id"], "path": rm["path"], "base": rm["base_model_spec"]},
        "prompts": {"set": params.prompt_set, "split": params.split, "limit": params.limit, "n": len(prompts),
                    "helpful_set": params.helpful_set, "helpful_ratio": params.helpful_ratio,
                    "n_helpful": n_helpful},
        "settings": params.values(PPOSettings),
        "steps": result["steps"], "reward_first": result["reward_first"], "reward_last": result["reward_last"],
        "kl_last": result["kl_last"], "run_id": run_id,
    }
    adapter_id = project.adapters.register(KIND, result["adapter"], spec, lineage, run_id=run_id,
                                          name=f"ppo-run-{run_id}")
    if result["reward_first"] is not None:
        ctx.log(f"PPO reward {result['reward_first']:+.3f} → {result['reward_last']:+.3f}, KL {result['kl_last']:.3f}; "
                f"{result['seconds_per_step'] or 0:.1f} s/step, peak memory {result['peak_rss_mb']:.0f} MiB")
    ctx.log(f"RL-CAI adapter at {result['adapter']}")
    return {**result, "adapter_id": adapter_id, "lineage": lineage}


def _summary(r: dict[str, Any]) -> list[str]:
    lines = [f"run {r['run_id']}: {r['steps']} PPO steps, {r['episodes']} episodes"]
    if r.get("reward_first") is not None:
        lines.append(f"reward {r['reward_first']:+.3f} → {r['reward_last']:+.3f}; KL {r['kl_last']:.3f}; "
                     f"{r['seconds_per_step'] or 0:.1f} s/step; peak memory {r['peak_rss_mb']:.0f} MiB")
    lines += list(r.get("warnings") or [])
    lines.append(f"adapter {r['adapter_id']}: {r['adapter']}")
    return lines


JOB = Job(
    kind=KIND, label="PPO (as in the paper)", params=PPOParams, prepare=_prepare, body=_body, run_name=lambda p: "PPO",
    description="Stage 2, as in the paper: train the SL-CAI policy with PPO against the preference model, with a KL "
                "penalty to the SL-CAI policy and a value model. Needs a TRL that still has PPO (1.12 or older); "
                "RLOO is lighter and recommended. Watch reward, KL and entropy for reward hacking.",
    summary=_summary, cli_help="PPO of the policy against the preference model (RL-CAI as in the paper; TRL ≤ 1.12)",
)
