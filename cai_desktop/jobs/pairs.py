"""The response-pairs job (stage 2): two sampled answers per prompt from the chosen policy.

The policy is a base model or a base plus the SL-CAI adapter. Each answer has its own seed
(derived from the run seed, the prompt and the side), sampled at temperature 1 by default so the
two answers differ. Each finished batch is committed; running the same job again continues the
matching earlier run and skips prompts that already have a pair.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cai_desktop.core.errors import ValidationError
from cai_desktop.jobs.critique import step_seed
from cai_desktop.jobs.runs import RunContext, execute, find_matching_run
from cai_desktop.store.comparisons import done_pair_prompt_ids, save_pairs
from cai_desktop.store.project import Project
from cai_desktop.store.prompts import prompts_of

KIND = "pairs"
_NOT_IDENTITY = {"project", "limit", "batch_size", "resume_run"}


@dataclass
class PairsParams:
    project: str
    prompt_set: str = "red-team"
    model: str | None = None
    adapter: str | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 128
    limit: int | None = None
    split: str | None = "train"
    seed: int = 0
    batch_size: int = 16
    system_prompt: str = ""
    resume_run: int | None = None

    def check(self) -> None:
        if not 0 < self.temperature <= 2:
            raise ValidationError("The temperature must be above 0 and at most 2 (two equal answers teach nothing).")
        if not 0 < self.top_p <= 1:
            raise ValidationError("top-p must be in (0, 1].")
        if self.max_new_tokens < 1:
            raise ValidationError("max-new-tokens must be at least 1.")
        if self.batch_size < 1:
            raise ValidationError("The batch size must be at least 1.")
        if self.limit is not None and self.limit < 1:
            raise ValidationError("The limit must be at least 1 (or leave it empty for all prompts).")


def find_resumable_run(project: Project, params: PairsParams) -> int | None:
    return find_matching_run(project, KIND, asdict(params), _NOT_IDENTITY)


def run_pairs(ctx: Any, params: PairsParams) -> dict[str, Any]:
    params.check()
    resume = params.resume_run
    if resume is None:
        with Project.open(params.project) as project:
            prompts_of(project, params.prompt_set, limit=1)  # a clear error for an unknown set
            resume = find_resumable_run(project, params)
    return execute(
        ctx, params.project, KIND, asdict(params), lambda p, rc, rid: _body(p, rc, rid, params),
        resume_run=resume, name=f"pairs {params.prompt_set}",
    )


def _body(project: Project, ctx: RunContext, run_id: int, params: PairsParams) -> dict[str, Any]:
    from cai_desktop.engine.generation import GenerationRequest, SamplingSettings, generate
    from cai_desktop.engine.models import load_model

    prompts = prompts_of(project, params.prompt_set, split=params.split, limit=params.limit)
    done = done_pair_prompt_ids(project, run_id)
    todo = [p for p in prompts if p["id"] not in done]
    if not todo:
        ctx.log(f"nothing to do: all {len(prompts)} prompts already have a pair in run {run_id}")
        return {"pairs": 0, "skipped": len(done), "identical": 0}
    ctx.log(f"{len(todo)} prompts to answer twice ({len(done)} already done)")
    lm = load_model(params.model, adapter=params.adapter, ctx=ctx)
    spec = lm.spec.to_str()
    project.record_model(spec, lm.spec.kind, lm.spec.display_name)
    policy = spec + (f" + {params.adapter}" if params.adapter else "")
    sampling = {"temperature": params.temperature, "top_p": params.top_p,
                "max_new_tokens": params.max_new_tokens, "adapter": params.adapter}

    def messages(text: str) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": params.system_prompt}] if params.system_prompt else []
        return msgs + [{"role": "user", "content": text}]

    made = identical = 0
    total = len(todo)
    ctx.progress(0, total, "starting")
    for start in range(0, total, params.batch_size):
        ctx.check_cancelled()
        batch = todo[start: start + params.batch_size]
        reqs = []
        for p in batch:
            for side in ("a", "b"):
                seed = step_seed(params.seed, p["id"], 0, f"pair-{side}")
                reqs.append(GenerationRequest(
                    messages=messages(p["text"]),
                    sampling=SamplingSettings(params.temperature, params.top_p, params.max_new_tokens, (), seed),
                ))
        results = generate(lm, reqs, batch_size=len(reqs))
        rows = []
        for i, p in enumerate(batch):
            a, b = results[2 * i].text, results[2 * i + 1].text
            identical += int(a.strip() == b.strip())
            rows.append({"run_id": run_id, "prompt_id": p["id"], "policy_spec": policy, "response_a": a,
                         "response_b": b, "seed": params.seed, "sampling": sampling})
        made += save_pairs(project, rows)
        ctx.progress(made, total, f"{made}/{total} pairs")
    if identical:
        ctx.log(f"{identical} of {made} pairs have two identical answers (raise the temperature for more variety)")
    ctx.log(f"made {made} response pairs")
    return {"pairs": made, "skipped": len(done), "identical": identical, "policy": policy}
