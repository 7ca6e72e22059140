"""The DPO job: the lighter alternative to a preference model + PPO.

Trains a LoRA on the AI-labelled comparisons directly: chosen/rejected follow the soft label (a
human review overrides it), and pairs whose label is within ``min_margin`` of 50 % are dropped.
The result is a 'dpo' adapter row with its lineage.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from cai_desktop.core.errors import ValidationError
from cai_desktop.jobs.ppo import forget_after_checkpoint, policy_start
from cai_desktop.jobs.runs import RunContext, execute
from cai_desktop.store.comparisons import preference_pairs
from cai_desktop.store.project import Project

KIND = "dpo"


@dataclass
class DPOParams:
    project: str
    base: str | None = None
    policy_adapter_id: int | None = None  # the SL-CAI adapter row to start from; None: the base
    label_runs: list[int] = field(default_factory=list)  # comparison (label) runs; empty: all
    min_margin: float = 0.1  # drop pairs with |label - 0.5| below this
    split: str | None = "train"
    kind: str | None = None  # harmless / helpful / None: both
    beta: float = 0.1
    learning_rate: float = 5e-5
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 512
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    loss_type: str = "sigmoid"
    save_steps: int = 20
    seed: int = 0
    resume_run: int | None = None

    def settings(self):
        from cai_desktop.engine.rl import DPOSettings

        return DPOSettings(
            beta=self.beta, learning_rate=self.learning_rate, epochs=self.epochs, max_steps=self.max_steps,
            batch_size=self.batch_size, grad_accum=self.grad_accum, max_length=self.max_length,
            lora_rank=self.lora_rank, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
            loss_type=self.loss_type, save_steps=self.save_steps, seed=self.seed,
        )

    def check(self) -> None:
        if not 0 <= self.min_margin < 0.5:
            raise ValidationError("The minimum margin must be between 0 and 0.5 (0.1 drops pairs labelled 40–60 %).")
        self.settings().check()


def select_pairs(project: Project, params: DPOParams) -> list[dict[str, Any]]:
    for rid in params.label_runs:
        project.run(rid)
    pairs = preference_pairs(project, run_ids=params.label_runs or None, min_margin=params.min_margin,
                             split=params.split, kind=params.kind)
    if not pairs:
        raise ValidationError("No labelled comparisons to train on: run `cai-desktop run label` first, "
                              "or lower --min-margin.")
    return pairs


def run_dpo(ctx: Any, params: DPOParams) -> dict[str, Any]:
    params.check()
    with Project.open(params.project) as project:
        policy_start(project, params.base, params.policy_adapter_id)
        select_pairs(project, params)
    return execute(ctx, params.project, KIND, asdict(params), lambda p, rc, rid: _body(p, rc, rid, params),
                   resume_run=params.resume_run, name="DPO")


def _body(project: Project, ctx: RunContext, run_id: int, params: DPOParams) -> dict[str, Any]:
    from cai_desktop.engine.models import resolve_spec
    from cai_desktop.engine.rl import dpo_checkpoint_step, train_dpo

    spec, start = policy_start(project, params.base, params.policy_adapter_id)
    pairs = select_pairs(project, params)
    ms = resolve_spec(spec)
    project.record_model(ms.to_str(), ms.kind, ms.display_name)
    n_helpful = sum(1 for p in pairs if p.get("kind") == "helpful")
    ctx.log(f"DPO on {len(pairs)} pairs ({n_helpful} helpful), margin ≥ {params.min_margin}; policy "
            f"{ms.display_name}" + (f" + adapter {start['id']} ({start['name']})" if start else ""))
    settings = params.settings()
    out = project.artifacts_dir / f"dpo-{run_id}"
    if params.resume_run is not None:
        forget_after_checkpoint(project, run_id, dpo_checkpoint_step(out))
    result = train_dpo(spec, start["path"] if start else None, pairs, settings, out, ctx=ctx,
                       resume=params.resume_run is not None)
    lineage = {
        "kind": KIND,
        "base_model": spec,
        "policy_start": {"adapter_id": start["id"], "kind": start["kind"], "path": start["path"],
                         "lineage": json.loads(start["lineage_json"] or "{}")} if start else None,
        "data": {"label_runs": params.label_runs or "all", "min_margin": params.min_margin, "split": params.split,
                 "kind": params.kind, "pairs": len(pairs), "helpful_pairs": n_helpful,
                 "comparison_ids": [p["comparison_id"] for p in pairs]},
        "settings": settings.to_dict(),
        "steps": result["steps"], "loss_first": result["loss_first"], "loss_last": result["loss_last"],
        "run_id": run_id,
    }
    adapter_id = project.register_adapter(KIND, result["adapter"], spec, lineage, run_id=run_id,
                                          name=f"dpo-run-{run_id}")
    if result["loss_first"] is not None:
        ctx.log(f"DPO loss {result['loss_first']:.3f} → {result['loss_last']:.3f}; adapter at {result['adapter']}")
    return {**result, "adapter_id": adapter_id, "lineage": lineage}
