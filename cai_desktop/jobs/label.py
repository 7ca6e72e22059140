"""The AI feedback job (stage 2): soft labels for response pairs or stage-1 chains.

For each source item a comparison principle is drawn at random (seeded by the item, so a resumed
run draws the same one) and the feedback model's soft label is stored with the exact principle
text (a snapshot), the model spec, the mode, the clamp and the seed. Each finished batch is
committed; running the same job again continues the matching earlier run without duplicates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cai_desktop.core.constitution import Constitution, PrincipleSampler
from cai_desktop.core.errors import ValidationError
from cai_desktop.core.feedback import CLAMPS, MODES, default_clamp
from cai_desktop.jobs.runs import RunContext, execute, find_matching_run
from cai_desktop.store.comparisons import (
    chains_for_labelling,
    labelled_source_ids,
    pairs_for_labelling,
    save_comparisons,
    source_run_ids,
)
from cai_desktop.store.project import Project

KIND = "label"
_NOT_IDENTITY = {"project", "limit", "batch_size", "resume_run"}


@dataclass
class LabelParams:
    project: str
    source: str = "pairs"  # "pairs" (response pairs) or "chains" (stage 1: original vs revision)
    run_ids: list[int] = field(default_factory=list)  # empty = every run of that source
    constitution: str = "general"
    model: str | None = None  # the feedback model (default: the embedded model)
    adapter: str | None = None
    both_orders: bool = True
    mode: str = "direct"
    clamp: str | None = None  # None = 40-60 in cot mode, none otherwise
    few_shot: int = 2
    seed: int = 0
    limit: int | None = None
    split: str | None = None
    batch_size: int = 8
    max_reasoning_tokens: int = 96
    resume_run: int | None = None
    pair_runs: list[int] | None = None  # shorthand: source="pairs" with these run ids

    def __post_init__(self) -> None:
        if self.pair_runs:
            self.source, self.run_ids = "pairs", list(self.pair_runs)
        self.pair_runs = None
        self.run_ids = list(self.run_ids or [])

    def check(self) -> None:
        if self.source not in ("pairs", "chains"):
            raise ValidationError(f"Unknown label source {self.source!r}; choose pairs or chains.")
        if self.mode not in MODES:
            raise ValidationError(f"Unknown feedback mode {self.mode!r}; choose direct or cot.")
        if self.clamp is not None and self.clamp not in CLAMPS:
            raise ValidationError(f"Unknown clamp {self.clamp!r}; choose none, 20-80 or 40-60.")
        if self.few_shot < 0:
            raise ValidationError("The number of few-shot comparisons cannot be negative.")
        if self.batch_size < 1:
            raise ValidationError("The batch size must be at least 1.")
        if self.limit is not None and self.limit < 1:
            raise ValidationError("The limit must be at least 1 (or leave it empty for all items).")
        if self.max_reasoning_tokens < 1:
            raise ValidationError("The reasoning length must be at least 1 token.")

    @property
    def effective_clamp(self) -> str:
        return self.clamp or default_clamp(self.mode)


def _config(params: LabelParams) -> dict[str, Any]:
    return {**asdict(params), "clamp": params.effective_clamp}


def find_resumable_run(project: Project, params: LabelParams) -> int | None:
    return find_matching_run(project, KIND, _config(params), _NOT_IDENTITY)


def comparison_constitution(c: Constitution) -> Constitution:
    """The enabled principles that have a comparison question (all enabled ones if none has)."""
    with_q = [p for p in c.enabled_principles if p.comparison_question.strip()]
    if not with_q:
        return c
    d = c.copy()
    d.principles = with_q
    return d


def run_label(ctx: Any, params: LabelParams) -> dict[str, Any]:
    params.check()
    with Project.open(params.project) as project:
        project.get_constitution(params.constitution)  # fail early with a clear message
        table = "response_pairs" if params.source == "pairs" else "chains"
        if not source_run_ids(project, table):
            what = "response pairs (run pairs first)" if params.source == "pairs" else "chains (run critique first)"
            raise ValidationError(f"Nothing to label: this project has no {what}.")
        for rid in params.run_ids:
            project.run(rid)
        resume = params.resume_run if params.resume_run is not None else find_resumable_run(project, params)
    return execute(
        ctx, params.project, KIND, _config(params), lambda p, rc, rid: _body(p, rc, rid, params),
        resume_run=resume, name=f"label {params.source} {params.mode}",
    )


def _body(project: Project, ctx: RunContext, run_id: int, params: LabelParams) -> dict[str, Any]:
    from cai_desktop.engine.feedback import CancelOnly, label_pairs
    from cai_desktop.engine.models import load_model

    source = "pair" if params.source == "pairs" else "chain"
    if source == "pair":
        items = pairs_for_labelling(project, params.run_ids, params.split)
    else:
        items = chains_for_labelling(project, params.run_ids, params.split, params.seed)
    if params.limit:
        items = items[: params.limit]
    done = labelled_source_ids(project, run_id, source)
    todo = [it for it in items if it["source_id"] not in done]
    if not todo:
        ctx.log(f"nothing to do: all {len(items)} items already labelled in run {run_id}")
        return {"labelled": 0, "skipped": len(done)}
    constitution = comparison_constitution(project.get_constitution(params.constitution))
    sampler = PrincipleSampler(constitution, params.seed)
    snapshots = {p.key: project.snapshot_principle(p, constitution.name) for p in constitution.enabled_principles}
    clamp = params.effective_clamp
    ctx.log(f"{len(todo)} comparisons to label ({len(done)} already done), mode {params.mode}, clamp {clamp}, "
            f"{'both orders' if params.both_orders else 'one order'}")
    lm = load_model(params.model, adapter=params.adapter, ctx=ctx)
    spec = lm.spec.to_str()
    project.record_model(spec, lm.spec.kind, lm.spec.display_name)
    feedback_model = spec + (f" + {params.adapter}" if params.adapter else "")

    total, made = len(todo), 0
    shifts: list[float] = []
    masses: list[float] = []
    revision_wins: list[float] = []
    ctx.progress(0, total, "starting")
    for start in range(0, total, params.batch_size):
        ctx.check_cancelled()
        batch = todo[start: start + params.batch_size]
        principles = [sampler.draw(f"{source}:{it['source_id']}", 1)[0] for it in batch]
        engine_items = [
            {"prompt": it["prompt"], "response_a": it["response_a"] or " ", "response_b": it["response_b"] or " ",
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
        made += save_comparisons(project, rows)
        ctx.progress(made, total, f"{made}/{total} labelled")
    result: dict[str, Any] = {"labelled": made, "comparisons": made, "skipped": len(done), "feedback_model": feedback_model,
                              "mode": params.mode, "clamp": clamp}
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
