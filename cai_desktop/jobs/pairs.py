"""The response-pairs job (stage 2): two sampled answers per prompt from the chosen policy.

The policy is a base model or a base plus the SL-CAI adapter. Each answer has its own seed
(derived from the run seed, the prompt and the side), sampled at temperature 1 by default so the
two answers differ. Each finished batch is committed; running the same job again continues the
matching earlier run and skips prompts that already have a pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cai_desktop.core.context import CancelOnly, check_cancelled
from cai_desktop.core.params import param
from cai_desktop.jobs.base import Job, JobParams, run_job
from cai_desktop.jobs.critique import step_seed
from cai_desktop.jobs.fields import (
    adapter_param,
    batch_param,
    limit_param,
    max_tokens_param,
    model_param,
    seed_param,
    split_param,
    top_p_param,
)
from cai_desktop.jobs.roles import load_role_model, role_model, role_record
from cai_desktop.jobs.runs import RunContext
from cai_desktop.store.project import Project

KIND = "pairs"


@dataclass
class PairsParams(JobParams):
    prompt_set: str = param("red-team", label="Prompt set", source="prompt_sets", flags=("--set",),
                            help="The prompts to answer twice.")
    model: str | None = model_param("Policy")
    adapter: str | None = adapter_param("the policy (normally the SL-CAI adapter)")
    temperature: float = param(1.0, label="Temperature", range=(0.01, 2.0),
                               help="Sampling temperature, above 0 so the two answers differ (two equal answers "
                                    "teach nothing).")
    top_p: float = top_p_param(1.0)
    max_new_tokens: int = max_tokens_param(128)
    limit: int | None = limit_param(32)
    split: str | None = split_param("train")
    seed: int = seed_param("answers (each answer's seed comes from it, the prompt and the side)")
    batch_size: int = batch_param(8)
    system_prompt: str = param("", label="System prompt",
                               help="An optional system message for the policy (empty = none).")


def _prepare(project: Project, params: PairsParams) -> None:
    project.prompts.of(params.prompt_set, limit=1)  # a clear error for an unknown set


def run_pairs(ctx: Any, params: PairsParams) -> dict[str, Any]:
    return run_job(JOB, ctx, params)


def _body(project: Project, ctx: RunContext, run_id: int, params: PairsParams, plan: None) -> dict[str, Any]:
    from cai_desktop.engine.generation import GenerationRequest, SamplingSettings, generate

    prompts = project.prompts.of(params.prompt_set, split=params.split, limit=params.limit)
    done = project.pairs.done_prompt_ids(run_id)
    todo = [p for p in prompts if p["id"] not in done]
    if not todo:
        ctx.log(f"nothing to do: all {len(prompts)} prompts already have a pair in run {run_id}")
        return {"pairs": 0, "skipped": len(done), "identical": 0}
    ctx.log(f"{len(todo)} prompts to answer twice ({len(done)} already done)")
    chosen = role_model(project, "student", params.model)
    lm = load_role_model(chosen, params.adapter, ctx)
    spec = lm.spec.to_str()
    project.models.record(spec, lm.spec.kind, lm.spec.display_name)
    policy = spec + (f" + {params.adapter}" if params.adapter else "")
    sampling = {"temperature": params.temperature, "top_p": params.top_p,
                "max_new_tokens": params.max_new_tokens, "adapter": params.adapter}

    def messages(text: str) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": params.system_prompt}] if params.system_prompt else []
        return msgs + [{"role": "user", "content": text}]

    made = identical = 0
    total = len(todo)
    base = len(done & {p["id"] for p in prompts})  # pairs made before a resume count as done
    ctx.progress(base, base + total, "starting")
    for start in range(0, total, params.batch_size):
        check_cancelled(ctx)
        batch = todo[start: start + params.batch_size]
        reqs = []
        for p in batch:
            for side in ("a", "b"):
                seed = step_seed(params.seed, p["id"], 0, f"pair-{side}")
                reqs.append(GenerationRequest(
                    messages=messages(p["text"]),
                    sampling=SamplingSettings(params.temperature, params.top_p, params.max_new_tokens, (), seed),
                ))
        results = generate(lm, reqs, ctx=CancelOnly(ctx), batch_size=len(reqs))
        rows = []
        for i, p in enumerate(batch):
            a, b = results[2 * i].text, results[2 * i + 1].text
            identical += int(a.strip() == b.strip())
            rows.append({"run_id": run_id, "prompt_id": p["id"], "policy_spec": policy, "response_a": a,
                         "response_b": b, "seed": params.seed, "sampling": sampling})
        made += project.pairs.save(rows)
        ctx.progress(base + made, base + total, f"{made}/{total} pairs")
    if identical:
        ctx.log(f"{identical} of {made} pairs have two identical answers (raise the temperature for more variety)")
    ctx.log(f"made {made} response pairs")
    return {"pairs": made, "skipped": len(done), "identical": identical, "policy": policy,
            "roles": {"student": role_record(chosen, spec, params.adapter)}}


JOB = Job(
    kind=KIND, label="Response pairs", params=PairsParams, prepare=_prepare, body=_body,
    description="Stage 2: the SL-CAI model samples two answers per prompt for AI feedback to compare.",
    run_name=lambda p: f"pairs {p.prompt_set}",
    summary=lambda r: [f"run {r['run_id']}: {r['pairs']} new response pairs, {r['skipped']} already there"],
    cli_help="sample two answers per prompt from a policy (stage 2 data)",
)
