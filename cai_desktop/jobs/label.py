"""The AI feedback job (stage 2): soft labels for response pairs or stage-1 chains.

For each source item a comparison principle is drawn at random (seeded by the item, so a resumed
run draws the same one) and the feedback model's soft label is stored with the exact principle
text (a snapshot), the model spec, the mode, the clamp and the seed. Each finished batch is
committed; running the same job again continues the matching earlier run without duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cai_desktop.core.constitution import Constitution, PrincipleSampler
from cai_desktop.core.context import CancelOnly, check_cancelled
from cai_desktop.core.errors import ValidationError
from cai_desktop.core.feedback import CLAMPS, MODES, default_clamp
from cai_desktop.core.params import param
from cai_desktop.core.prompting import prioritised
from cai_desktop.jobs.base import Job, JobParams, run_job
from cai_desktop.jobs.fields import (
    adapter_param,
    batch_param,
    limit_param,
    model_param,
    seed_param,
    split_param,
)
from cai_desktop.jobs.roles import load_role_model, role_model, role_record
from cai_desktop.jobs.runs import RunContext
from cai_desktop.store.project import Project

KIND = "label"


@dataclass
class LabelParams(JobParams):
    source: str = param("pairs", label="Compare", choices=("pairs", "chains"),
                        help="pairs: the two answers of each response pair; chains: each stage-1 chain's original "
                             "answer against its final revision.")
    run_ids: list[int] = param([], label="Source runs", source="runs:pairs,critique", empty="all", flags=("--runs",),
                               help="Which pair (or critique) runs to label; empty = every run of that source.")
    constitution: str = param("general", label="Constitution", source="constitutions",
                              help="The constitution whose comparison questions are drawn, one per comparison.")
    model: str | None = model_param("Feedback", project_role="feedback model")
    adapter: str | None = adapter_param("the feedback model")
    both_orders: bool = param(True, label="Ask in both orders",
                              help="Ask with (A, B) and with (B, A) and average, which cancels the position bias of "
                                   "small models (it costs twice the time).")
    mode: str = param("direct", label="Mode", choices=MODES,
                      help="direct: read the probabilities of the option tokens; cot (chain of thought): reason "
                           "step by step first, then read them (the paper's variant).")
    clamp: str | None = param(None, label="Clamp", choices=(None, *CLAMPS), empty="40-60 when reasoning first, else none",
                              help="Clamp overconfident labels into this range of percentages; empty = 40-60 in cot "
                                   "mode (as in the paper) and none in direct mode.")
    few_shot: int = param(2, label="Few-shot examples", range=(0, 16),
                          help="Worked comparison examples shown to the feedback model before each question.")
    seed: int = seed_param("principle draws")
    limit: int | None = limit_param(None)
    split: str | None = split_param(None, "comparisons")
    batch_size: int = batch_param(8)
    max_reasoning_tokens: int = param(96, label="Longest reasoning (tokens)", range=(1, 8192),
                                      help="The longest chain of thought, in tokens (cot mode only).")

    @property
    def effective_clamp(self) -> str:
        return self.clamp or default_clamp(self.mode)


def comparison_constitution(c: Constitution) -> Constitution:
    """The enabled principles that have a comparison question (all enabled ones if none has)."""
    with_q = [p for p in c.enabled_principles if p.comparison_question.strip()]
    if not with_q:
        return c
    d = c.copy()
    d.principles = with_q
    return d


def _prepare(project: Project, params: LabelParams) -> None:
    project.constitutions.get(params.constitution)  # fail early with a clear message
    have = project.pairs.run_ids() if params.source == "pairs" else project.chains.runs()
    if not have:
        what = "response pairs (make pairs first)" if params.source == "pairs" else "chains (run critique first)"
        raise ValidationError(f"Nothing to label: this project has no {what}.")
    for rid in params.run_ids:
        project.runs.get(rid)


def run_label(ctx: Any, params: LabelParams) -> dict[str, Any]:
    return run_job(JOB, ctx, params)


def _body(project: Project, ctx: RunContext, run_id: int, params: LabelParams, plan: None) -> dict[str, Any]:
    from cai_desktop.engine.feedback import label_pairs

    source = "pair" if params.source == "pairs" else "chain"
    if source == "pair":
        items = project.pairs.for_labelling(params.run_ids, params.split)
    else:
        items = project.chains.for_labelling(params.run_ids, params.split, params.seed)
    if params.limit:
        items = items[: params.limit]
    done = project.comparisons.labelled_source_ids(run_id, source)
    # an empty answer cannot be judged (and a placeholder would be judged as if it were one)
    blank = [it for it in items if not (it["response_a"] or "").strip() or not (it["response_b"] or "").strip()]
    if blank:
        ctx.log(f"skipped {len(blank)} item{'s' if len(blank) != 1 else ''} with an empty answer")
    blank_ids = {it["source_id"] for it in blank}
    todo = [it for it in items if it["source_id"] not in done and it["source_id"] not in blank_ids]
    if not todo:
        ctx.log(f"nothing to do: all {len(items)} items already labelled in run {run_id}")
        return {"labelled": 0, "skipped": len(done), "blank": len(blank)}
    constitution = prioritised(comparison_constitution(project.constitutions.get(params.constitution)))
    sampler = PrincipleSampler(constitution, params.seed)
    snapshots = {p.key: project.constitutions.snapshot(p, constitution.name) for p in constitution.enabled_principles}
    clamp = params.effective_clamp
    ctx.log(f"{len(todo)} comparisons to label ({len(done)} already done), mode {params.mode}, clamp {clamp}, "
            f"{'both orders' if params.both_orders else 'one order'}")
    chosen = role_model(project, "feedback", params.model)
    ctx.log(f"feedback model: {chosen['spec'] or 'the embedded model'} ({chosen['source']})")
    lm = load_role_model(chosen, params.adapter, ctx)
    spec = lm.spec.to_str()
    project.models.record(spec, lm.spec.kind, lm.spec.display_name)
    feedback_model = spec + (f" + {params.adapter}" if params.adapter else "")

    total, made = len(todo), 0
    shifts: list[float] = []
    masses: list[float] = []
    revision_wins: list[float] = []
    base = len(done)
    ctx.progress(base, base + total, "starting")
    for start in range(0, total, params.batch_size):
        check_cancelled(ctx)
        batch = todo[start: start + params.batch_size]
        principles = [sampler.draw(f"{source}:{it['source_id']}", 1)[0] for it in batch]
        engine_items = [
            {"prompt": it["prompt"], "response_a": it["response_a"], "response_b": it["response_b"],
             "principle": p, "key": f"{source}:{it['source_id']}"}
            for it, p in zip(batch, principles)
        ]
        labels = label_pairs(
            lm, engine_items, both_orders=params.both_orders, mode=params.mode, clamp=clamp,
            few_shot=params.few_shot, ctx=CancelOnly(ctx), seed=params.seed, batch_size=params.batch_size,
            max_reasoning_tokens=params.max_reasoning_tokens,
        )
        rows = []
        for it, p, lab in zip(batch, principles, labels):
            rows.append({
                "run_id": run_id, "source": source, "source_id": it["source_id"], "prompt_id": it["prompt_id"],
                "prompt_text": it["prompt"], "response_a": it["response_a"], "response_b": it["response_b"],
                "principle_snapshot_id": snapshots[p.key], "feedback_model": feedback_model, "mode": params.mode,
                "clamp": clamp, "p_a": lab["p_a"], "p_b": lab["p_b"], "raw_label": lab["raw_label"],
                "label": lab["label"], "order_shift": lab["order_shift"], "reasoning": lab["reasoning"],
                "seed": params.seed, "kind": it["kind"],
            })
            if lab["order_shift"] is not None:
                shifts.append(lab["order_shift"])
            masses.append(lab["option_mass"])
            if "revision_is" in it:
                revision_wins.append(lab["label"] if it["revision_is"] == "A" else 1.0 - lab["label"])
        made += project.comparisons.save(rows)
        ctx.progress(base + made, base + total, f"{made}/{total} labelled")
    result: dict[str, Any] = {"labelled": made, "skipped": len(done), "blank": len(blank), "feedback_model": feedback_model,
                              "mode": params.mode, "clamp": clamp,
                              "roles": {"feedback": role_record(chosen, spec, params.adapter)}}
    if shifts:
        result["mean_order_shift"] = sum(shifts) / len(shifts)
        ctx.metric("mean_order_shift", result["mean_order_shift"], 0)
        ctx.log(f"position bias: the answer order moved the label by {100 * result['mean_order_shift']:.1f} "
                "points on average (averaging both orders removes it)")
    if masses:
        result["mean_option_mass"] = sum(masses) / len(masses)
        ctx.metric("mean_option_mass", result["mean_option_mass"], 0)
        if result["mean_option_mass"] < 0.2:
            ctx.log(f"warning: the tokens A and B hold only {100 * result['mean_option_mass']:.0f}% of the feedback "
                    "model's next-token probability; its labels may be weak (try few-shot or a larger model)")
    if revision_wins:
        result["revision_preferred"] = sum(revision_wins) / len(revision_wins)
        ctx.log(f"the revision was preferred with mean probability {result['revision_preferred']:.2f}")
    ctx.log(f"labelled {made} comparisons")
    return result


def _summary(r: dict[str, Any]) -> list[str]:
    lines = [f"run {r['run_id']}: {r['labelled']} new comparisons, {r['skipped']} already there"
             + (f" (mode {r['mode']}, clamp {r['clamp']})" if r.get("mode") else "")]
    if r.get("blank"):
        lines.append(f"skipped {r['blank']} with an empty answer")
    if r.get("mean_order_shift") is not None:
        lines.append(f"mean order shift (position bias): {100 * r['mean_order_shift']:.1f} points")
    return lines


JOB = Job(
    kind=KIND, label="AI feedback labels", params=LabelParams, prepare=_prepare, body=_body,
    description="Stage 2: a feedback model picks (A) or (B) under a drawn comparison principle; the normalised "
                "option probabilities are the soft label.",
    run_name=lambda p: f"label {p.source} {p.mode}", summary=_summary,
    cli_help="AI feedback: soft labels for response pairs or stage-1 chains",
)
