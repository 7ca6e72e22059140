"""The PPO job (RL-CAI): the SL-CAI policy trained against the preference model.

The policy starts from an adapter row (normally kind 'sft') on its base, or from a base model;
the reward model is a 'reward' adapter row (default: the newest). Prompts come from a prompt set
(default red-team, train split), optionally mixed with helpful prompts. The result is a 'ppo'
adapter row whose lineage names the start, the preference model, the prompts and the settings;
the reward curve stays in the run's metrics (``reward``, ``kl``, ``entropy``, ...).
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from typing import Any

from cai_desktop.core.errors import ProjectError, ValidationError
from cai_desktop.jobs.runs import RunContext, execute
from cai_desktop.store.project import Project
from cai_desktop.store.prompts import prompts_of

KIND = "ppo"
POLICY_ADAPTER_KINDS = ("sft", "dpo", "ppo")


@dataclass
class PPOParams:
    project: str
    base: str | None = None  # policy base spec; default: the policy adapter's base, else the embedded model
    policy_adapter_id: int | None = None  # an 'sft' (or 'dpo'/'ppo') adapter row; None: start from the base
    reward_adapter_id: int | None = None  # a 'reward' row; None: the newest
    prompt_set: str = "red-team"
    split: str | None = "train"
    limit: int | None = None
    helpful_set: str = "helpful"
    helpful_ratio: float = 0.0  # helpful prompts per red-team prompt
    kl_coef: float = 0.05
    cliprange: float = 0.2
    num_ppo_epochs: int = 2
    num_mini_batches: int = 1
    response_length: int = 48
    temperature: float = 0.8
    total_episodes: int = 256
    learning_rate: float = 3e-5
    batch_size: int = 4
    grad_accum: int = 1
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    missing_eos_penalty: float | None = 1.0
    sample_every: int = 5
    save_every: int = 10
    kl_warn: float = 10.0
    seed: int = 0
    resume_run: int | None = None

    def settings(self):
        from cai_desktop.engine.rl import PPOSettings

        return PPOSettings(
            kl_coef=self.kl_coef, cliprange=self.cliprange, num_ppo_epochs=self.num_ppo_epochs,
            num_mini_batches=self.num_mini_batches, response_length=self.response_length,
            temperature=self.temperature, total_episodes=self.total_episodes, learning_rate=self.learning_rate,
            batch_size=self.batch_size, grad_accum=self.grad_accum, lora_rank=self.lora_rank,
            lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
            missing_eos_penalty=self.missing_eos_penalty, sample_every=self.sample_every,
            save_every=self.save_every, kl_warn=self.kl_warn, seed=self.seed,
        )

    def check(self) -> None:
        if self.helpful_ratio < 0:
            raise ValidationError("The helpful mix must be 0 or more helpful prompts per red-team prompt.")
        if self.limit is not None and self.limit < 1:
            raise ValidationError("The prompt limit must be at least 1.")
        self.settings().check()


def adapter_row(project: Project, adapter_id: int, kinds: tuple[str, ...], what: str) -> dict[str, Any]:
    rows = project.query("SELECT * FROM adapters WHERE id=?", [adapter_id])
    if not rows:
        raise ProjectError(f"No adapter {adapter_id} in this project.")
    row = rows[0]
    if row["kind"] not in kinds:
        raise ValidationError(f"Adapter {adapter_id} is a {row['kind']!r} adapter; the {what} must be "
                              f"one of: {', '.join(kinds)}.")
    return row


def policy_start(project: Project, base: str | None, adapter_id: int | None) -> tuple[str, dict[str, Any] | None]:
    """The policy's base spec and its starting adapter row (None: the plain base)."""
    from cai_desktop.engine.models import resolve_spec

    row = adapter_row(project, adapter_id, POLICY_ADAPTER_KINDS, "starting policy") if adapter_id else None
    spec = resolve_spec(base if base is not None else (row["base_model_spec"] if row else None)).to_str()
    if row and resolve_spec(row["base_model_spec"]).to_str() != spec:
        raise ValidationError(f"Adapter {adapter_id} was trained on {row['base_model_spec']}, not {spec}; "
                              "leave the base empty to use the adapter's own.")
    return spec, row


def reward_row(project: Project, reward_adapter_id: int | None) -> dict[str, Any]:
    if reward_adapter_id is not None:
        return adapter_row(project, reward_adapter_id, ("reward",), "reward model")
    rows = project.list_adapters("reward")
    if not rows:
        raise ValidationError("No preference model in this project: train one first (`cai-desktop run reward`).")
    return rows[0]


def select_prompts(project: Project, params: PPOParams) -> tuple[list[str], int]:
    """The red-team prompts (plus a seeded sample of helpful ones); returns (texts, n_helpful)."""
    texts = [p["text"] for p in prompts_of(project, params.prompt_set, params.split, params.limit)]
    if not texts:
        raise ValidationError(f"The prompt set {params.prompt_set!r} has no prompts in the {params.split} split.")
    n_helpful = 0
    if params.helpful_ratio > 0:
        helpful = [p["text"] for p in prompts_of(project, params.helpful_set, params.split)]
        n = min(len(helpful), round(params.helpful_ratio * len(texts)))
        extra = random.Random(params.seed).sample(helpful, n)
        n_helpful = len(extra)
        texts = texts + extra
        random.Random(params.seed + 1).shuffle(texts)
    return texts, n_helpful


def forget_after_checkpoint(project: Project, run_id: int, step: int) -> None:
    """Resuming repeats the steps after the last checkpoint: drop their metrics so none doubles."""
    with project.db.atomic():
        project.db.execute("DELETE FROM metrics WHERE run_id=? AND step>?", [run_id, step])


def run_ppo(ctx: Any, params: PPOParams) -> dict[str, Any]:
    params.check()
    with Project.open(params.project) as project:
        policy_start(project, params.base, params.policy_adapter_id)
        reward_row(project, params.reward_adapter_id)
        select_prompts(project, params)
    return execute(ctx, params.project, KIND, asdict(params), lambda p, rc, rid: _body(p, rc, rid, params),
                   resume_run=params.resume_run, name="PPO")


def _body(project: Project, ctx: RunContext, run_id: int, params: PPOParams) -> dict[str, Any]:
    from cai_desktop.engine.models import resolve_spec
    from cai_desktop.engine.rl import ppo_checkpoint_step, train_ppo

    spec, start = policy_start(project, params.base, params.policy_adapter_id)
    rm = reward_row(project, params.reward_adapter_id)
    prompts, n_helpful = select_prompts(project, params)
    ms = resolve_spec(spec)
    project.record_model(ms.to_str(), ms.kind, ms.display_name)
    ctx.log(f"policy: {ms.display_name}" + (f" + adapter {start['id']} ({start['name']})" if start else "")
            + f"; preference model: adapter {rm['id']} ({rm['name']}); {len(prompts)} prompts ({n_helpful} helpful)")
    settings = params.settings()
    out = project.artifacts_dir / f"ppo-{run_id}"
    if params.resume_run is not None:
        forget_after_checkpoint(project, run_id, ppo_checkpoint_step(out))
    result = train_ppo(spec, start["path"] if start else None, rm["path"], prompts, settings, out, ctx=ctx,
                       resume=params.resume_run is not None)
    lineage = {
        "kind": KIND,
        "base_model": spec,
        "policy_start": {"adapter_id": start["id"], "kind": start["kind"], "path": start["path"],
                         "lineage": json.loads(start["lineage_json"] or "{}")} if start else None,
        "reward_model": {"adapter_id": rm["id"], "path": rm["path"], "base": rm["base_model_spec"]},
        "prompts": {"set": params.prompt_set, "split": params.split, "limit": params.limit, "n": len(prompts),
                    "helpful_set": params.helpful_set, "helpful_ratio": params.helpful_ratio,
                    "n_helpful": n_helpful},
        "settings": settings.to_dict(),
        "steps": result["steps"], "reward_first": result["reward_first"], "reward_last": result["reward_last"],
        "kl_last": result["kl_last"], "run_id": run_id,
    }
    adapter_id = project.register_adapter(KIND, result["adapter"], spec, lineage, run_id=run_id,
                                          name=f"ppo-run-{run_id}")
    if result["reward_first"] is not None:
        ctx.log(f"PPO reward {result['reward_first']:+.3f} → {result['reward_last']:+.3f}, KL {result['kl_last']:.3f}; "
                f"{result['seconds_per_step'] or 0:.1f} s/step, peak memory {result['peak_rss_mb']:.0f} MiB")
    ctx.log(f"RL-CAI adapter at {result['adapter']}")
    return {**result, "adapter_id": adapter_id, "lineage": lineage}
