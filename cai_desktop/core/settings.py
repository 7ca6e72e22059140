"""Trainer settings, declared once with their help, ranges and defaults (no torch here).

The engine's trainers take these objects; a job's params class inherits the settings class of
its trainer and adds the data selection, so one field is one declaration: the dialog, the CLI
option, the stored run config and the engine all read the same name. LoRA fields are named
``lora_rank``/``lora_alpha``/``lora_dropout``/``target_modules`` in every trainer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cai_desktop.core.errors import ValidationError
from cai_desktop.core.params import Params, param


# -- shared field declarations (one help text each) ----------------------------------------------
def lora_rank(default: int = 16) -> Any:
    return param(default, label="LoRA rank", range=(1, 1024),
                 help="Rank of the LoRA matrices: more capacity and memory as it grows (8–64 is usual).")


def lora_alpha(default: int = 32) -> Any:
    return param(default, label="LoRA alpha", range=(1, 4096),
                 help="LoRA scaling; the update is scaled by alpha / rank (often twice the rank).")


def lora_dropout(default: float = 0.05) -> Any:
    return param(default, label="LoRA dropout", range=(0.0, 0.9),
                 help="Dropout on the LoRA input during training (0 to 0.1 is usual).")


def target_modules() -> Any:
    return param("all-linear", label="LoRA layers",
                 help="Which layers get LoRA: all-linear (a good default) or comma-separated names such as "
                      "q_proj,v_proj.")


def learning_rate(default: float) -> Any:
    return param(default, label="Learning rate", range=(1e-9, 1.0), flags=("--lr",),
                 help="Step size of the optimiser (LoRA: 1e-4 to 3e-4 for SFT, lower for DPO and PPO).")


def epochs() -> Any:
    return param(1.0, label="Epochs", range=(0.0, 1000.0),
                 help="Passes over the training data (used when max steps is 0).")


def max_steps() -> Any:
    return param(0, label="Max steps (0 = by epochs)", range=(0, 10_000_000),
                 help="Stop after this many optimiser steps; 0 trains for the number of epochs instead.")


def batch_size(default: int = 4) -> Any:
    return param(default, label="Batch size", range=(1, 4096),
                 help="Examples per optimiser step on each device; lower it if memory runs out.")


def grad_accum() -> Any:
    return param(1, label="Gradient accumulation", range=(1, 1024),
                 help="Steps whose gradients are summed before an update: effective batch = batch size × this.")


def max_length(default: int = 512) -> Any:
    return param(default, label="Max length (tokens)", range=(16, 131072),
                 help="Longest training example in tokens; longer ones are cut.")


def save_steps(default: int) -> Any:
    return param(default, label="Checkpoint every (steps)", range=(1, 1_000_000),
                 help="Save a checkpoint every N steps, so a cancelled or killed run resumes from it.")


def seed() -> Any:
    return param(0, label="Seed", range=(0, 2**31 - 1),
                 help="Random seed: the same seed and settings give the same draws, samples and training.")


def warmup_ratio() -> Any:
    return param(0.05, label="Warm-up share", range=(0.0, 0.99),
                 help="Share of the training steps over which the learning rate ramps up from 0.")


def load_in_4bit() -> Any:
    return param(False, label="4-bit base (QLoRA)",
                 help="Keep the frozen base in 4-bit (bitsandbytes NF4) and train the LoRA in bfloat16: a 7–8B base "
                      "then fits a 24 GB GPU. Needs a CUDA GPU and the bitsandbytes package.")


def activation_checkpointing() -> Any:
    return param(False, label="Activation checkpointing",
                 help="Recompute activations in the backward pass: less memory, ~30% more compute. Off suits small "
                      "models; turn it on for a big base on a small GPU.")


# -- rollout fields shared by PPO and RLOO ---------------------------------------------------------
def response_length() -> Any:
    return param(48, label="Answer length (tokens)", range=(1, 8192),
                 help="Longest sampled answer per rollout, in tokens.")


def rollout_temperature() -> Any:
    return param(0.8, label="Sampling temperature", range=(0.01, 2.0),
                 help="Temperature of the rollouts (0.7–1.0 is usual; must be above 0).")


def max_prompt_length() -> Any:
    return param(256, label="Max prompt length (tokens)", range=(8, 131072),
                 help="Prompts longer than this are cut from the left.")


def missing_eos_penalty() -> Any:
    return param(1.0, label="Penalty for unfinished answers", range=(0.0, 100.0), empty="no penalty",
                 help="Subtracted from the reward of answers cut off before their end; empty = no penalty.")


def sample_every() -> Any:
    return param(5, label="Show sample answers every (steps)", range=(0, 1_000_000),
                 help="Log sample rollouts with their rewards every N steps (0 = never).")


def n_samples() -> Any:
    return param(2, label="Sample answers shown", range=(0, 64), help="How many rollouts each sample log shows.")


def save_every() -> Any:
    return param(10, label="Checkpoint every (steps)", range=(1, 1_000_000),
                 help="Save a checkpoint every N steps (and always on cancel and at the end).")


def kl_warn(per: str = "") -> Any:
    return param(10.0, label="Warn when KL passes", range=(0.0, 1e6),
                 help=f"Warn when the KL to the starting policy passes this many nats{per} (a sign of reward "
                      "hacking).")


def watch_window() -> Any:
    return param(5, label="Warning window (steps)", range=(1, 1000),
                 help="Steps over which rising reward with rising KL or falling entropy is watched.")


def adapt_batch() -> Any:
    return param(True, label="Halve the batch when GPU memory runs out", identity=False,
                 help="On a GPU out-of-memory error, halve the batch size and double the gradient accumulation "
                      "(the same effective batch), then go on from the last checkpoint.")


def target_list(targets: str) -> str | list[str]:
    """``all-linear`` or the list of layer names in a comma-separated ``target_modules``."""
    t = str(targets).strip()
    if t == "all-linear":
        return t
    return [x.strip() for x in t.split(",") if x.strip()]


def _check_training(s: Any) -> None:
    if s.max_steps <= 0 and s.epochs <= 0:
        raise ValidationError("Set a positive number of epochs, or of max steps.")
    if not target_list(s.target_modules):
        raise ValidationError("LoRA layers: name at least one layer, or use all-linear.")


# -- the trainers' settings -------------------------------------------------------------------------
@dataclass
class SFTSettings(Params):
    """LoRA SFT; the defaults suit a ~135M model on a CPU."""

    lora_rank: int = lora_rank(16)
    lora_alpha: int = lora_alpha(32)
    lora_dropout: float = lora_dropout(0.05)
    target_modules: str = target_modules()
    learning_rate: float = learning_rate(2e-4)
    epochs: float = epochs()
    max_steps: int = max_steps()
    batch_size: int = batch_size(4)
    grad_accum: int = grad_accum()
    max_length: int = max_length(512)
    save_steps: int = save_steps(20)
    warmup_ratio: float = warmup_ratio()
    seed: int = seed()
    loss_on: str = param("completion", label="Loss on", choices=("completion", "all"),
                         help="completion: learn the answer only (the prompt is context); all: prompt and answer.")
    activation_checkpointing: bool = activation_checkpointing()
    load_in_4bit: bool = load_in_4bit()
    adapt_batch: bool = adapt_batch()
    logging_steps: int = param(1, hidden=True, help="Log the loss every N steps.")

    def validate(self) -> None:
        _check_training(self)

    def target_list(self) -> str | list[str]:
        return target_list(self.target_modules)


@dataclass
class RewardSettings(Params):
    """The preference model: a one-output sequence classifier with a LoRA and a trained score head."""

    learning_rate: float = learning_rate(1e-4)
    epochs: float = epochs()
    max_steps: int = max_steps()
    batch_size: int = batch_size(4)
    grad_accum: int = grad_accum()
    max_length: int = max_length(512)
    lora_rank: int = lora_rank(8)
    lora_alpha: int = lora_alpha(16)
    lora_dropout: float = lora_dropout(0.0)
    target_modules: str = target_modules()
    lora_layers: int | None = param(
        None, label="LoRA on the top N layers", range=(1, 1000), empty="every layer",
        help="Put LoRA on the top N transformer layers only: the backward pass stops there (faster on a CPU).")
    hard_labels: bool = param(False, label="Hard labels",
                              help="Train on 0/1 labels instead of the soft labels (the paper used soft ones).")
    save_steps: int = save_steps(50)
    seed: int = seed()
    eval_bins: int = param(5, label="Calibration bins", range=(1, 50),
                           help="Bins of the calibration table in the held-out evaluation.")
    device: str | None = param(None, label="Device", choices=(None, "cpu", "cuda", "mps"), empty="automatic",
                               identity=False, help="Where to train: automatic picks the GPU when there is one.")
    activation_checkpointing: bool = activation_checkpointing()
    load_in_4bit: bool = load_in_4bit()
    adapt_batch: bool = adapt_batch()
    center_rewards_coefficient: float | None = param(None, hidden=True, help="TRL's reward centring.")
    logging_steps: int = param(1, hidden=True, help="Log the loss every N steps.")
    save_total_limit: int = param(2, hidden=True, help="Checkpoints kept.")
    dtype: str | None = param(None, hidden=True, help="Training precision (automatic).")

    def validate(self) -> None:
        _check_training(self)


@dataclass
class PPOSettings(Params):
    """PPO as in the paper: a new LoRA on the SL-CAI policy, KL penalty to it, a value model."""

    kl_coef: float = param(0.05, label="KL penalty", range=(0.0, 10.0),
                           help="Weight of the KL penalty to the starting (SL-CAI) policy: higher stays closer "
                                "and guards against reward hacking.")
    cliprange: float = param(0.2, label="Policy clip range", range=(0.01, 0.99),
                             help="How far one PPO update may move the probability ratio (0.2 is usual).")
    cliprange_value: float = param(0.2, label="Value clip range", range=(0.01, 10.0),
                                   help="How far one update may move the value estimate (0.2 is usual).")
    vf_coef: float = param(0.1, label="Value loss weight", range=(0.0, 10.0),
                           help="Weight of the value model's loss in the PPO objective.")
    num_ppo_epochs: int = param(2, label="PPO epochs per batch", range=(1, 100), flags=("--ppo-epochs",),
                                help="Optimisation passes over each batch of rollouts.")
    num_mini_batches: int = param(1, label="Mini-batches", range=(1, 1024), flags=("--mini-batches",),
                                  help="Each rollout batch is split into this many mini-batches per pass.")
    response_length: int = response_length()
    temperature: float = rollout_temperature()
    total_episodes: int = param(256, label="Episodes", range=(1, 10_000_000), flags=("--episodes",),
                                help="Prompts answered in total; steps = episodes / (batch size × accumulation).")
    learning_rate: float = learning_rate(3e-5)
    batch_size: int = param(4, label="Prompts per rollout", range=(1, 4096),
                            help="Prompts answered per rollout per accumulation step; lower it if memory runs out.")
    grad_accum: int = grad_accum()
    max_prompt_length: int = max_prompt_length()
    lora_rank: int = lora_rank(16)
    lora_alpha: int = lora_alpha(32)
    lora_dropout: float = lora_dropout(0.0)
    target_modules: str = target_modules()
    missing_eos_penalty: float | None = missing_eos_penalty()
    sample_every: int = sample_every()
    n_samples: int = n_samples()
    save_every: int = save_every()
    kl_warn: float = kl_warn()
    watch_window: int = watch_window()
    seed: int = seed()
    activation_checkpointing: bool = activation_checkpointing()

    def validate(self) -> None:
        if (self.batch_size * self.grad_accum) % self.num_mini_batches:
            raise ValidationError(
                f"The rollout batch ({self.batch_size * self.grad_accum}) must divide into {self.num_mini_batches} "
                "mini-batches.")
        if not target_list(self.target_modules):
            raise ValidationError("LoRA layers: name at least one layer, or use all-linear.")

    @property
    def rollout_batch(self) -> int:
        return self.batch_size * self.grad_accum

    @property
    def total_steps(self) -> int:
        return math.ceil(self.total_episodes / self.rollout_batch)


@dataclass
class RLOOSettings(Params):
    """RLOO (or GRPO) against the preference model: a new LoRA on the SL-CAI policy, KL penalty to
    it, several answers per prompt as each other's baseline, no value model."""

    algorithm: str = param("rloo", label="Algorithm", choices=("rloo", "grpo"),
                           help="rloo: REINFORCE leave-one-out (recommended); grpo: group-normalised advantages "
                                "with a clipped objective.")
    beta: float = param(0.05, label="KL penalty", range=(0.0, 10.0),
                        help="Weight of the KL penalty to the starting (SL-CAI) policy: higher stays closer and "
                             "guards against reward hacking (0 turns it off, which invites it).")
    num_generations: int = param(4, label="Answers per prompt", range=(2, 256),
                                 help="Answers sampled per prompt; each is judged against the others (4–8 is usual).")
    prompts_per_step: int = param(2, label="Prompts per step", range=(1, 4096),
                                  help="Prompts answered per optimiser step; lower it if memory runs out.")
    max_steps: int = param(20, label="Steps", range=(1, 10_000_000),
                           help="Optimiser steps; each answers the prompts per step that many times over.")
    response_length: int = response_length()
    temperature: float = rollout_temperature()
    learning_rate: float = learning_rate(3e-5)
    max_prompt_length: int = max_prompt_length()
    lora_rank: int = lora_rank(16)
    lora_alpha: int = lora_alpha(32)
    lora_dropout: float = lora_dropout(0.0)
    target_modules: str = target_modules()
    missing_eos_penalty: float | None = missing_eos_penalty()
    sample_every: int = sample_every()
    n_samples: int = n_samples()
    save_every: int = save_every()
    kl_warn: float = kl_warn(" per answer")
    watch_window: int = watch_window()
    seed: int = seed()
    activation_checkpointing: bool = activation_checkpointing()
    load_in_4bit: bool = load_in_4bit()

    def validate(self) -> None:
        if not target_list(self.target_modules):
            raise ValidationError("LoRA layers: name at least one layer, or use all-linear.")

    @property
    def rollout_batch(self) -> int:
        """Answers per step: prompts per step × answers per prompt."""
        return self.prompts_per_step * self.num_generations


@dataclass
class DPOSettings(Params):
    """DPO on the labelled pairs, a LoRA on the (merged) starting policy."""

    beta: float = param(0.1, label="DPO beta", range=(1e-6, 100.0),
                        help="How strongly the policy is held to the reference: lower moves further (0.1 is usual).")
    learning_rate: float = learning_rate(5e-5)
    epochs: float = epochs()
    max_steps: int = max_steps()
    batch_size: int = batch_size(4)
    grad_accum: int = grad_accum()
    max_length: int = max_length(512)
    lora_rank: int = lora_rank(16)
    lora_alpha: int = lora_alpha(32)
    lora_dropout: float = lora_dropout(0.05)
    target_modules: str = target_modules()
    loss_type: str = param("sigmoid", label="DPO loss", choices=("sigmoid", "ipo", "hinge", "robust"),
                           flags=("--loss",), help="sigmoid: the DPO paper's loss; ipo, hinge, robust: variants.")
    save_steps: int = save_steps(20)
    warmup_ratio: float = warmup_ratio()
    seed: int = seed()
    activation_checkpointing: bool = activation_checkpointing()
    load_in_4bit: bool = load_in_4bit()
    adapt_batch: bool = adapt_batch()

    def validate(self) -> None:
        _check_training(self)
