"""Before/after evaluation: held-out prompts answered by the base model and by trained adapters.

Every policy (the base, then each chosen adapter) answers the same held-out (test split) red-team
and helpful prompts greedily, so the comparison is repeatable. The answers go to
``<artifacts>/run-N/answers.jsonl`` and the run's result holds, per policy and prompt kind, the
refusal rate of ``core.evaluation`` (higher on red-team prompts: more harmless; higher on helpful
prompts: over-refusal), the mean answer length and a few side-by-side examples.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from cai_desktop.core.errors import ValidationError
from cai_desktop.core.evaluation import is_refusal, rates
from cai_desktop.jobs.runs import RunContext, execute
from cai_desktop.store.project import Project
from cai_desktop.store.prompts import list_prompt_sets, prompts_of

KIND = "eval"
TRAINED_KINDS = ("sft", "ppo", "dpo")


@dataclass
class EvalParams:
    project: str
    adapter_ids: list[int] = field(default_factory=list)  # empty: the newest sft, ppo and dpo adapter
    include_base: bool = True
    base: str | None = None  # the "before" model; default: the adapters' base, else the embedded model
    red_team_set: str = "red-team"
    helpful_set: str = "helpful"
    split: str | None = "test"
    limit: int | None = 16  # prompts per set
    max_new_tokens: int = 128
    batch_size: int = 16
    examples: int = 3

    def check(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValidationError("The limit must be at least 1 (or leave it empty for all prompts).")
        if self.max_new_tokens < 1:
            raise ValidationError("Max new tokens must be at least 1.")
        if self.batch_size < 1:
            raise ValidationError("The batch size must be at least 1.")


def policies_for(project: Project, params: EvalParams) -> list[dict[str, Any]]:
    """``[{"label", "model", "adapter", "adapter_id"}]``: the base first, then the adapters."""
    if params.adapter_ids:
        adapters = []
        for aid in params.adapter_ids:
            rows = project.query("SELECT * FROM adapters WHERE id=?", [aid])
            if not rows:
                raise ValidationError(f"There is no adapter {aid} in this project (see `cai-desktop adapter list`).")
            adapters.append(rows[0])
    else:
        adapters = [a[0] for a in (project.list_adapters(k) for k in TRAINED_KINDS) if a]
    base = params.base or next((a["base_model_spec"] for a in adapters if a.get("base_model_spec")), None)
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


def run_eval(ctx: Any, params: EvalParams) -> dict[str, Any]:
    params.check()
    with Project.open(params.project) as project:
        policies_for(project, params)  # clear errors before a run row exists
        sets = {s["name"] for s in list_prompt_sets(project)}
        if params.red_team_set not in sets and params.helpful_set not in sets:
            raise ValidationError(
                f"Neither prompt set {params.red_team_set!r} nor {params.helpful_set!r} is in this project; "
                "import prompts first (or create the project with the starter content).")
    return execute(ctx, params.project, KIND, asdict(params), lambda p, rc, rid: _body(p, rc, rid, params),
                   name="before/after evaluation")


def _body(project: Project, ctx: RunContext, run_id: int, params: EvalParams) -> dict[str, Any]:
    from cai_desktop.engine.generation import GenerationRequest, SamplingSettings, generate
    from cai_desktop.engine.models import load_model

    sets = {s["name"] for s in list_prompt_sets(project)}
    prompts = []
    for kind, name in (("red-team", params.red_team_set), ("helpful", params.helpful_set)):
        if name in sets:
            prompts += [{**p, "kind": kind} for p in prompts_of(project, name, split=params.split, limit=params.limit)]
    if not prompts:
        raise ValidationError(f"The prompt sets have no {params.split or ''} prompts to evaluate on.")
    policies = policies_for(project, params)
    ctx.log(f"{len(policies)} policies × {len(prompts)} held-out prompts ({params.split or 'all'} split)")
    sampling = SamplingSettings(temperature=0.0, top_p=1.0, max_new_tokens=params.max_new_tokens, seed=0)
    total, done = len(policies) * len(prompts), 0
    answers: list[dict[str, Any]] = []
    ctx.progress(0, total, "starting")
    for pol in policies:
        lm = load_model(pol["model"], adapter=pol["adapter"], ctx=ctx)
        for start in range(0, len(prompts), params.batch_size):
            ctx.check_cancelled()
            batch = prompts[start:start + params.batch_size]
            reqs = [GenerationRequest(messages=[{"role": "user", "content": p["text"]}], sampling=sampling)
                    for p in batch]
            for p, r in zip(batch, generate(lm, reqs, batch_size=len(reqs))):
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
            project.add_metric(run_id, f"refusal_rate/{kind}", s["refusal_rate"], i)
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
