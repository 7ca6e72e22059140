"""Before/after evaluation: held-out prompts answered by the base model and by trained adapters.

Every policy (the base, then each chosen adapter) answers the same held-out (test split) red-team
and helpful prompts greedily, so the comparison is repeatable. The answers go to
``<artifacts>/run-N/answers.jsonl`` and the run's result holds, per policy and prompt kind, the
refusal rate of ``core.evaluation`` (higher on red-team prompts: more harmless; higher on helpful
prompts: over-refusal), the mean answer length and a few side-by-side examples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cai_desktop.core.context import CancelOnly, check_cancelled
from cai_desktop.core.errors import ValidationError
from cai_desktop.core.evaluation import is_refusal, rates
from cai_desktop.core.params import param
from cai_desktop.jobs.base import Job, JobParams, run_job
from cai_desktop.jobs.fields import batch_param, limit_param, split_param
from cai_desktop.jobs.runs import RunContext
from cai_desktop.store.project import Project

KIND = "eval"
TRAINED_KINDS = ("sft", "ppo", "dpo")


@dataclass
class EvalParams(JobParams):
    adapter_ids: list[int] = param([], label="Adapters", source="adapter_ids:sft,ppo,dpo",
                                   empty="the newest SFT, PPO and DPO adapter", flags=("--adapter",),
                                   help="The trained adapters to evaluate; empty = the newest SFT, PPO and DPO one.")
    include_base: bool = param(True, label="Include the base model",
                               help="Answer with the base model too (the 'before').")
    base: str | None = param(None, label="Base model", source="models", empty="the adapters' base",
                             help="The 'before' model; empty = the base the adapters were trained on.")
    red_team_set: str = param("red-team", label="Red-team prompts", source="prompt_sets",
                              help="Harmful prompts: more refusals here is more harmless.")
    helpful_set: str = param("helpful", label="Helpful prompts", source="prompt_sets",
                             help="Ordinary prompts: refusals here are over-refusal.")
    split: str | None = split_param("test", "prompts (test = held out, never trained on)")
    limit: int | None = limit_param(16)
    max_new_tokens: int = param(128, label="Longest answer (tokens)", range=(1, 8192),
                                help="The longest answer, in tokens (answers are greedy, so repeatable).")
    batch_size: int = batch_param(16)
    examples: int = param(3, label="Examples shown", range=(0, 100), identity=False,
                          help="How many prompts of each kind the result shows side by side.")


def policies_for(project: Project, params: EvalParams) -> list[dict[str, Any]]:
    """``[{"label", "model", "adapter", "adapter_id"}]``: the base first, then the adapters."""
    if params.adapter_ids:
        adapters = [project.adapters.get(aid) for aid in params.adapter_ids]
    else:
        adapters = [a[0] for a in (project.adapters.list(k) for k in TRAINED_KINDS) if a]
    base = params.base or next((a["base_model_spec"] for a in adapters if a.get("base_model_spec")),
                               project.roles.get("student")["spec"])
    out = []
    if params.include_base:
        out.append({"label": f"base ({base or 'default'})", "model": base, "adapter": None, "adapter_id": None})
    for a in adapters:
        if a["kind"] == "reward":
            raise ValidationError(f"Adapter {a['id']} is a preference model, not a policy; choose an sft, ppo or dpo adapter.")
        out.append({"label": f"{a['kind']} #{a['id']} ({a['name'] or 'adapter'})", "model": a.get("base_model_spec"),
                    "adapter": a["path"], "adapter_id": a["id"]})
    if not out:
        raise ValidationError("Nothing to evaluate: include the base model or choose an adapter.")
    return out


def _prepare(project: Project, params: EvalParams) -> list[dict[str, Any]]:
    policies = policies_for(project, params)  # clear errors before a run row exists
    sets = {s["name"] for s in project.prompts.sets()}
    if params.red_team_set not in sets and params.helpful_set not in sets:
        raise ValidationError(
            f"Neither prompt set {params.red_team_set!r} nor {params.helpful_set!r} is in this project; "
            "import prompts first (or create the project with the starter content).")
    return policies


def run_eval(ctx: Any, params: EvalParams) -> dict[str, Any]:
    return run_job(JOB, ctx, params)


def _body(project: Project, ctx: RunContext, run_id: int, params: EvalParams,
          policies: list[dict[str, Any]]) -> dict[str, Any]:
    from cai_desktop.engine.generation import GenerationRequest, SamplingSettings, generate
    from cai_desktop.engine.models import load_model

    sets = {s["name"] for s in project.prompts.sets()}
    prompts = []
    for kind, name in (("red-team", params.red_team_set), ("helpful", params.helpful_set)):
        if name in sets:
            prompts += [{**p, "kind": kind} for p in project.prompts.of(name, split=params.split, limit=params.limit)]
    if not prompts:
        raise ValidationError(f"The prompt sets have no {params.split or ''} prompts to evaluate on.")
    ctx.log(f"{len(policies)} policies × {len(prompts)} held-out prompts ({params.split or 'all'} split)")
    sampling = SamplingSettings(temperature=0.0, top_p=1.0, max_new_tokens=params.max_new_tokens, seed=0)
    total, done = len(policies) * len(prompts), 0
    answers: list[dict[str, Any]] = []
    ctx.progress(0, total, "starting")
    for pol in policies:
        lm = load_model(pol["model"], adapter=pol["adapter"], ctx=ctx)
        for start in range(0, len(prompts), params.batch_size):
            check_cancelled(ctx)
            batch = prompts[start:start + params.batch_size]
            reqs = [GenerationRequest(messages=[{"role": "user", "content": p["text"]}], sampling=sampling)
                    for p in batch]
            for p, r in zip(batch, generate(lm, reqs, ctx=CancelOnly(ctx), batch_size=len(reqs))):
                answers.append({"policy": pol["label"], "prompt_id": p["id"], "kind": p["kind"],
                                "prompt": p["text"], "text": r.text, "refusal": is_refusal(r.text)})
            done += len(batch)
            ctx.progress(done, total, f"{pol['label']}: {done}/{total}")
    out_dir = project.artifacts_dir / f"run-{run_id}"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "answers.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for a in answers:
            f.write(json.dumps(a, ensure_ascii=False) + "\n")
    summary = []
    for i, pol in enumerate(policies):
        r = rates(a for a in answers if a["policy"] == pol["label"])
        summary.append({**pol, "rates": r})
        for kind, s in r.items():
            ctx.metric(f"refusal_rate/{kind}", s["refusal_rate"], i)
            ctx.log(f"{pol['label']}: {kind} refusal rate {100 * s['refusal_rate']:.0f}% "
                    f"(n={s['n']}), mean length {s['mean_chars']:.0f} chars")
    return {"policies": summary, "answers": str(path), "examples": _examples(answers, policies, params.examples)}


def _examples(answers: list[dict[str, Any]], policies: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The first ``n`` prompts of each kind with every policy's answer side by side."""
    by_prompt: dict[int, dict[str, Any]] = {}
    for a in answers:
        e = by_prompt.setdefault(a["prompt_id"], {"kind": a["kind"], "prompt": a["prompt"], "answers": {}})
        e["answers"][a["policy"]] = a["text"]
    out = []
    for kind in ("red-team", "helpful"):
        out += [e for e in by_prompt.values() if e["kind"] == kind][:n]
    return out


def _summary(r: dict[str, Any]) -> list[str]:
    from cai_desktop.core.evaluation import format_eval

    return [f"run {r['run_id']}: refusal rate = share of answers whose first 300 characters decline "
            "(phrase list in cai_desktop/core/evaluation.py)", format_eval(r)]


JOB = Job(
    kind=KIND, label="Before/after evaluation", params=EvalParams, prepare=_prepare, body=_body,
    description="Held-out red-team and helpful prompts answered by the base model and by trained adapters, with "
                "refusal rates: up on red-team prompts is more harmless, up on helpful ones is over-refusal.",
    run_name=lambda p: "before/after evaluation", summary=_summary,
    cli_help="answer held-out red-team and helpful prompts with the base and trained adapters",
)
