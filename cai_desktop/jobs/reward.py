"""The preference-model job (stage 2): train on AI-labelled comparisons, report held-out figures.

Training data are the labelled comparisons (human reviews override AI labels), harmlessness
comparisons mixed with helpfulness comparisons at a chosen ratio. Comparisons whose prompt is in
the test split are held out (or a seeded share when the test split has none). The result is
registered as an adapter row of kind ``reward`` whose path is the merged model folder, so PPO can
load it as its reward model and as its value model's starting point.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

from cai_desktop.core.errors import ValidationError
from cai_desktop.core.params import param
from cai_desktop.core.settings import RewardSettings
from cai_desktop.jobs.base import Job, JobParams, run_job
from cai_desktop.jobs.fields import model_param
from cai_desktop.jobs.mixing import human_weight_param, review_lineage, source_counts, weight_human
from cai_desktop.jobs.runs import RunContext
from cai_desktop.jobs.sft import device_lineage, student_device
from cai_desktop.store.project import Project

KIND = "reward"


@dataclass
class RewardParams(JobParams, RewardSettings):
    base: str | None = model_param("Base")
    label_runs: list[int] = param([], label="Label runs", source="runs:label", empty="all comparisons",
                                  flags=("--runs",),
                                  help="Label runs to train on; empty = every labelled comparison.")
    helpful_mix: float | None = param(None, label="Helpful per harmless", range=(0.0, 100.0), empty="all there are",
                                      help="Helpfulness comparisons per harmlessness one; empty = all there are.")
    min_margin: float = param(0.0, label="Minimum margin", range=(0.0, 0.49),
                              help="Leave out comparisons whose label is closer than this to 0.5 (undecided ones).")
    human_weight: float = human_weight_param()
    eval_fraction: float = param(0.2, label="Held-out share", range=(0.0, 0.9),
                                 help="Share of comparisons held out for evaluation when the test split has none.")


def _held_out(record: dict[str, Any], seed: int, fraction: float) -> bool:
    digest = hashlib.sha256(f"{seed}:heldout:{record['comparison_id']}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def select_data(
    project: Project, params: RewardParams, log: Any = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Train and held-out preference records, with the helpful mix applied to the training side."""
    records = project.comparisons.preference_pairs(run_ids=params.label_runs or None, min_margin=params.min_margin)
    if not records:
        raise ValidationError("No labelled comparisons to train on: run the label job first.")
    test = [r for r in records if r["split"] == "test"]
    if test:
        train = [r for r in records if r["split"] != "test"]
        how = "the test split"
    else:
        test = [r for r in records if _held_out(r, params.seed, params.eval_fraction)]
        train = [r for r in records if not _held_out(r, params.seed, params.eval_fraction)]
        how = f"a seeded {100 * params.eval_fraction:.0f}% share"
    if not train:
        train, test = test, []
        how = "none (too few comparisons)"
    helpful = [r for r in train if r["kind"] == "helpful"]
    harmless = [r for r in train if r["kind"] != "helpful"]
    if params.helpful_mix is not None:
        cap = int(round(params.helpful_mix * len(harmless)))
        random.Random(params.seed).shuffle(helpful)
        if log and params.helpful_mix > 0 and len(helpful) < cap:
            log(f"asked for {cap} helpful comparisons, only {len(helpful)} are labelled (label pairs of a helpful set)")
        helpful = helpful[:cap]
    train = weight_human(harmless + helpful, params.human_weight, params.seed)
    info = {"sources": source_counts(train), "human_weight": params.human_weight, "review": review_lineage(project),"n_train": len(train), "n_eval": len(test), "n_harmless": len(harmless), "n_helpful": len(helpful),
            "held_out": how}
    return train, test, info


def _prepare(project: Project, params: RewardParams) -> dict[str, Any]:
    for rid in params.label_runs:
        project.runs.get(rid)
    # the job's device setting, else the student role's: one line before anything loads when this
    # machine lacks it
    return {"device": student_device(project, params.device)}


def run_reward(ctx: Any, params: RewardParams) -> dict[str, Any]:
    return run_job(JOB, ctx, params)


def _body(project: Project, ctx: RunContext, run_id: int, params: RewardParams, plan: dict[str, Any]) -> dict[str, Any]:
    from cai_desktop.engine.distributed import share
    from cai_desktop.engine.models import local_model_dir, resolve_spec
    from cai_desktop.engine.reward import train_reward_model

    # under ``accelerate launch`` only the main process writes (model row, metrics, adapter row);
    # the others train on the comparisons it selected and shares
    main = getattr(ctx, "main_process", True)
    train, test, info = share(select_data(project, params, ctx.log) if main else None)
    ctx.log(f"training on {info['n_train']} comparisons ({info['n_harmless']} harmless, {info['n_helpful']} helpful); "
            f"{info['n_eval']} held out ({info['held_out']})")
    spec = resolve_spec(params.base or project.roles.get("student")["spec"])
    if main:
        project.models.record(spec.to_str(), spec.kind, spec.display_name)
    base_dir = local_model_dir(spec, ctx)
    out_dir = project.artifacts_dir / f"reward-{run_id}"
    result = train_reward_model(
        base_dir, train, test, out_dir, params, ctx=ctx, resume=params.resume_run is not None, base_spec=spec.to_str(),
        device=plan["device"]["device"] or "auto",
    )
    if not main:
        return result
    ev = result["eval"]
    steps = result["steps"]
    if ev["accuracy"] is not None:
        ctx.metric("heldout_accuracy", ev["accuracy"], steps)
        ctx.log(f"held-out accuracy {100 * ev['accuracy']:.1f}% on {ev['n_scored']} pairs")
    if ev["ece"] is not None:
        ctx.metric("heldout_ece", ev["ece"], steps)
    for i, b in enumerate(ev["calibration"]):
        if b["n"]:
            ctx.metric("calibration_pred", b["mean_pred"], i)
            ctx.metric("calibration_label", b["mean_label"], i)
    if result["train_eval"]["accuracy"] is not None:
        ctx.metric("train_accuracy", result["train_eval"]["accuracy"], steps)
    lineage = {
        "kind": "reward", "base": spec.to_str(), "label_runs": params.label_runs or "all",
        "hard_labels": params.hard_labels, "helpful_mix": params.helpful_mix, "min_margin": params.min_margin,
        **info, "settings": params.values(RewardSettings), "adapter_dir": result["adapter_dir"],
        "device": device_lineage(plan["device"], result),
        "heldout_accuracy": ev["accuracy"], "run_id": run_id,
    }
    adapter_id = project.adapters.register(
        "reward", result["model_dir"], spec.to_str(), lineage, run_id=run_id, name=f"preference model (run {run_id})"
    )
    return {
        "model_dir": result["model_dir"], "adapter_id": adapter_id, "steps": steps,
        "train_loss": result["train_loss"], "heldout_accuracy": ev["accuracy"], "heldout_ece": ev["ece"],
        "calibration": ev["calibration"], "train_accuracy": result["train_eval"]["accuracy"], **info,
        "lineage": lineage, "eval_scored": ev["n_scored"], "processes": result.get("processes", 1),
    }


def _summary(r: dict[str, Any]) -> list[str]:
    acc = r.get("heldout_accuracy")
    lines = [f"run {r['run_id']}: preference model at {r['model_dir']} ({r['steps']} steps, "
             f"{r['n_train']} train / {r['n_eval']} held-out comparisons)",
             "held-out accuracy: " + (f"{100 * acc:.1f}% on {r['eval_scored']} pairs" if acc is not None
                                      else "n/a (no held-out comparisons)")]
    if r.get("heldout_ece") is not None:
        lines.append(f"calibration error (ECE): {r['heldout_ece']:.3f}")
        for b in r["calibration"]:
            if b["n"]:
                lines.append(f"  predicted {b['lo']:.1f}-{b['hi']:.1f}: mean prediction {b['mean_pred']:.2f}, "
                             f"mean label {b['mean_label']:.2f} (n={b['n']})")
    return lines


JOB = Job(
    kind=KIND, label="Preference model", params=RewardParams, prepare=_prepare, body=_body,
    description="Stage 2: train a preference model (a scalar head) on the AI soft labels mixed with helpfulness "
                "comparisons.",
    run_name=lambda p: "preference model", summary=_summary,
    cli_help="train the preference model on labelled comparisons",
)
