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
from dataclasses import asdict, dataclass, field
from typing import Any

from cai_desktop.core.errors import ValidationError
from cai_desktop.jobs.runs import RunContext, execute, find_matching_run
from cai_desktop.store.comparisons import preference_pairs
from cai_desktop.store.project import Project

KIND = "reward"
_NOT_IDENTITY = {"project", "resume_run", "device"}


@dataclass
class RewardParams:
    project: str
    base: str | None = None  # model spec of the preference model's base (default: the embedded model)
    label_runs: list[int] = field(default_factory=list)  # label runs to train on; empty = all comparisons
    helpful_mix: float | None = None  # helpful comparisons per harmless one; None = all there are
    hard_labels: bool = False
    min_margin: float = 0.0
    eval_fraction: float = 0.2  # held-out share when the test split has no comparisons
    learning_rate: float = 1e-4
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 512
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_layers: int | None = None  # LoRA on the top N layers only (faster on a CPU)
    save_steps: int = 50
    seed: int = 0
    eval_bins: int = 5
    device: str | None = None
    resume_run: int | None = None

    def check(self) -> None:
        if self.helpful_mix is not None and self.helpful_mix < 0:
            raise ValidationError("The helpful mix ratio cannot be negative.")
        if not 0 <= self.min_margin < 0.5:
            raise ValidationError("The minimum margin must be in [0, 0.5).")
        if not 0 <= self.eval_fraction < 1:
            raise ValidationError("The held-out fraction must be in [0, 1).")
        self.settings().check()

    def settings(self):
        from cai_desktop.engine.reward import RewardSettings  # lazy: torch

        return RewardSettings(
            learning_rate=self.learning_rate, epochs=self.epochs, max_steps=self.max_steps,
            batch_size=self.batch_size, grad_accum=self.grad_accum, max_length=self.max_length,
            lora_r=self.lora_r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
            lora_layers=self.lora_layers, hard_labels=self.hard_labels, save_steps=self.save_steps, seed=self.seed, eval_bins=self.eval_bins,
            device=self.device,
        )


def find_resumable_run(project: Project, params: RewardParams) -> int | None:
    """The latest unfinished (cancelled, failed or killed) reward run with the same settings."""
    return find_matching_run(project, KIND, asdict(params), _NOT_IDENTITY, ("cancelled", "failed", "running"))


def _held_out(record: dict[str, Any], seed: int, fraction: float) -> bool:
    digest = hashlib.sha256(f"{seed}:heldout:{record['comparison_id']}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def select_data(
    project: Project, params: RewardParams, log: Any = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Train and held-out preference records, with the helpful mix applied to the training side."""
    records = preference_pairs(project, run_ids=params.label_runs or None, min_margin=params.min_margin)
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
    train = harmless + helpful
    info = {"n_train": len(train), "n_eval": len(test), "n_harmless": len(harmless), "n_helpful": len(helpful),
            "held_out": how}
    return train, test, info


def run_reward(ctx: Any, params: RewardParams) -> dict[str, Any]:
    params.check()
    with Project.open(params.project) as project:
        for rid in params.label_runs:
            project.run(rid)
        resume = params.resume_run if params.resume_run is not None else find_resumable_run(project, params)
    return execute(
        ctx, params.project, KIND, asdict(params), lambda p, rc, rid: _body(p, rc, rid, params, resume is not None),
        resume_run=resume, name="preference model",
    )


def _body(project: Project, ctx: RunContext, run_id: int, params: RewardParams, resuming: bool) -> dict[str, Any]:
    from cai_desktop.engine.models import local_model_dir, resolve_spec
    from cai_desktop.engine.reward import train_reward_model

    train, test, info = select_data(project, params, ctx.log)
    ctx.log(f"training on {info['n_train']} comparisons ({info['n_harmless']} harmless, {info['n_helpful']} helpful); "
            f"{info['n_eval']} held out ({info['held_out']})")
    spec = resolve_spec(params.base)
    project.record_model(spec.to_str(), spec.kind, spec.display_name)
    base_dir = local_model_dir(spec, ctx)
    out_dir = project.artifacts_dir / f"reward-{run_id}"
    result = train_reward_model(
        base_dir, train, test, out_dir, params.settings(), ctx=ctx, resume=resuming, base_spec=spec.to_str()
    )
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
        **info, "settings": params.settings().to_dict(), "adapter_dir": result["adapter_dir"],
        "heldout_accuracy": ev["accuracy"], "run_id": run_id,
    }
    adapter_id = project.register_adapter(
        "reward", result["model_dir"], spec.to_str(), lineage, run_id=run_id, name=f"preference model (run {run_id})"
    )
    return {
        "model_dir": result["model_dir"], "adapter_id": adapter_id, "steps": steps,
        "train_loss": result["train_loss"], "heldout_accuracy": ev["accuracy"], "heldout_ece": ev["ece"],
        "calibration": ev["calibration"], "train_accuracy": result["train_eval"]["accuracy"], **info,
        "lineage": lineage, "accuracy": ev["accuracy"], "eval_n": info["n_eval"], "eval_scored": ev["n_scored"],
    }
