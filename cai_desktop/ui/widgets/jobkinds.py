"""The jobs the GUI can launch: where each lives, its params class, and help texts for its form.

Nothing here imports a job module at start-up; ``job_function``/``params_class`` import on demand,
so a job module that is missing (not written yet) or broken disables its button instead of
breaking the window.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class JobKind:
    kind: str
    label: str
    module: str
    function: str
    params: str
    description: str
    help: dict[str, str] = field(default_factory=dict)
    #: fields whose choices come from the project: field -> "constitutions" | "prompt_sets" |
    #: "models" | "adapters" | "runs:<kind>" (a list of run ids)
    choices: dict[str, str] = field(default_factory=dict)
    #: fields with a fixed set of choices
    options: dict[str, tuple] = field(default_factory=dict)


COMMON_HELP = {
    "project": "The project file (filled in for you).",
    "model": "Model: empty = the embedded SmolLM2-135M-Instruct; or a folder, a .gguf file or a hub id.",
    "base": "Base model: empty = the embedded SmolLM2-135M-Instruct; or a folder, a .gguf file or a hub id.",
    "adapter": "A LoRA adapter folder to put on top of the model (e.g. from an SFT run), or empty.",
    "seed": "Random seed: the same seed and settings give the same draws and samples.",
    "batch_size": "How many prompts are generated together; lower it if memory runs out.",
    "limit": "Use only the first N prompts (empty = all of them). Handy for a quick try.",
    "split": "Which part of the prompt set: train, test, or empty for both.",
    "temperature": "Sampling temperature; 0 = greedy (always the most likely token).",
    "top_p": "Nucleus sampling: keep the smallest set of tokens with this total probability.",
    "max_new_tokens": "The longest answer, in tokens.",
    "resume_run": "Continue this earlier run instead of starting a new one (empty = new run).",
    "learning_rate": "Step size of the optimiser (LoRA usually 1e-4 to 3e-4).",
    "epochs": "Passes over the data (ignored when max steps is set).",
    "max_steps": "Stop after this many optimiser steps (-1 = use epochs).",
    "grad_accum": "Gradient accumulation steps: effective batch = batch size × this.",
    "max_length": "Longest training example, in tokens (longer ones are cut).",
    "save_steps": "Save a checkpoint every N steps, so a cancelled run resumes from it.",
    "run_ids": "Only data from these runs (comma-separated ids); empty = all.",
    "device": "cpu, cuda, mps, or empty to pick automatically.",
}

KINDS: dict[str, JobKind] = {
    k.kind: k
    for k in (
        JobKind(
            "critique", "Critique & revision", "cai_desktop.jobs.critique", "run_critique", "CritiqueParams",
            "Stage 1: the model answers red-team prompts, then critiques and revises its answer under "
            "randomly drawn principles.",
            help={
                "constitution": "The constitution whose principles are drawn for critiques and revisions.",
                "prompt_set": "The prompts to answer (usually red-team prompts).",
                "revisions": "Critique → revision rounds per prompt (the paper uses 4).",
                "style": "chat: chat-template messages; transcript: a plain-text dialogue for base models.",
                "critique_max_new_tokens": "The longest critique, in tokens.",
                "few_shot": "Few-shot examples shown before each critique/revision (each costs prompt length).",
            },
            choices={"constitution": "constitutions", "prompt_set": "prompt_sets", "model": "models",
                     "adapter": "adapters", "resume_run": "runs:critique"},
            options={"style": ("chat", "transcript"), "split": ("train", "test", None)},
        ),
        JobKind(
            "sft", "Supervised fine-tuning (SL-CAI)", "cai_desktop.jobs.sft", "run_sft", "SFTParams",
            "Stage 1: LoRA fine-tuning of the base model on the revisions, mixed with helpful answers.",
            help={
                "data_mode": "final: train on each chain's last revision; every: on every revision.",
                "include_helpful": "Mix in helpful answers to helpful prompts so helpfulness is kept.",
                "helpful_ratio": "Helpful examples per harmless one (empty = all there are).",
                "only_accepted": "Use only chains a reviewer accepted (or edited).",
                "skip_flawed": "Leave out model revisions that talk about the answer ('The response…') or repeat "
                               "the critique; a chain then uses its latest sound revision. Human edits always count.",
                "rank": "LoRA rank.",
                "alpha": "LoRA alpha (scaling).",
                "dropout": "LoRA dropout.",
                "target_modules": "Which layers get LoRA adapters (all-linear is a good default).",
            },
            choices={"base": "models", "resume_run": "runs:sft", "run_ids": "runs:critique"},
            options={"data_mode": ("final", "every")},
        ),
        JobKind(
            "pairs", "Response pairs", "cai_desktop.jobs.pairs", "run_pairs", "PairsParams",
            "Stage 2: the SL-CAI model samples two answers per prompt for AI feedback to compare.",
            help={
                "prompt_set": "The prompts to answer twice.",
                "system_prompt": "An optional system message for the policy.",
            },
            choices={"prompt_set": "prompt_sets", "model": "models", "adapter": "adapters",
                     "resume_run": "runs:pairs"},
            options={"split": ("train", "test", None)},
        ),
        JobKind(
            "label", "AI feedback labels", "cai_desktop.jobs.label", "run_label", "LabelParams",
            "Stage 2: a feedback model picks (A) or (B) under a drawn comparison principle; the "
            "normalised option probabilities are the soft label.",
            help={
                "source": "pairs: response pairs; chains: original answer vs revision from stage 1.",
                "run_ids": "Which pair/chain runs to label (comma-separated ids; empty = all).",
                "constitution": "The constitution whose comparison questions are drawn.",
                "both_orders": "Ask with (A, B) and (B, A) and average, to cancel position bias.",
                "mode": "direct: read the option probabilities; cot: reason first, then read them.",
                "clamp": "Clamp overconfident labels (e.g. 40-60); empty = 40-60 in cot mode, none otherwise.",
                "few_shot": "Worked comparison examples shown to the feedback model.",
                "max_reasoning_tokens": "Longest chain of thought, in tokens (cot mode).",
                "pair_runs": "Shorthand for source=pairs with these run ids.",
            },
            choices={"constitution": "constitutions", "model": "models", "adapter": "adapters",
                     "resume_run": "runs:label", "run_ids": "runs:pairs"},
            options={"source": ("pairs", "chains"), "mode": ("direct", "cot"),
                     "split": ("train", "test", None)},
        ),
        JobKind(
            "reward", "Preference model", "cai_desktop.jobs.reward", "run_reward", "RewardParams",
            "Stage 2: train a preference model (a scalar head) on the AI soft labels mixed with "
            "helpfulness comparisons.",
            help={
                "label_runs": "Label runs to train on (comma-separated ids; empty = all comparisons).",
                "helpful_mix": "Helpful comparisons per harmless one (empty = all there are).",
                "hard_labels": "Train on 0/1 labels instead of the soft labels.",
                "min_margin": "Skip comparisons whose label is closer than this to 0.5.",
                "eval_fraction": "Held-out share for evaluation when the test split has none.",
                "lora_r": "LoRA rank.", "lora_alpha": "LoRA alpha.", "lora_dropout": "LoRA dropout.",
                "eval_bins": "Calibration bins in the evaluation.",
            },
            choices={"base": "models", "resume_run": "runs:reward", "label_runs": "runs:label"},
        ),
        JobKind(
            "ppo", "PPO (RL-CAI)", "cai_desktop.jobs.ppo", "run_ppo", "PPOParams",
            "Stage 2: train the SL-CAI policy with PPO against the preference model, with a KL "
            "penalty to the SL-CAI policy. Watch reward, KL and entropy for reward hacking.",
            help={"kl_coef": "Weight of the KL penalty to the SL-CAI policy (higher = stay closer)."},
            choices={"prompt_set": "prompt_sets", "constitution": "constitutions", "model": "models",
                     "policy": "models", "adapter": "adapters", "resume_run": "runs:ppo"},
        ),
        JobKind(
            "dpo", "DPO", "cai_desktop.jobs.dpo", "run_dpo", "DPOParams",
            "An alternative to PPO: train the policy directly on the AI-labelled preference pairs.",
            help={"beta": "DPO beta: how far the policy may move from the reference."},
            choices={"model": "models", "base": "models", "adapter": "adapters", "resume_run": "runs:dpo",
                     "label_runs": "runs:label"},
        ),
        JobKind(
            "eval", "Before/after evaluation", "cai_desktop.jobs.evaluate", "run_eval", "EvalParams",
            "Held-out red-team and helpful prompts answered by the base model and by trained adapters, "
            "with refusal rates: up on red-team prompts is more harmless, up on helpful ones is over-refusal.",
            help={
                "adapter_ids": "Adapter ids to evaluate (comma-separated; empty = the newest SFT, PPO and DPO adapter).",
                "include_base": "Answer with the base model too (the 'before').",
                "red_team_set": "Red-team prompts (their test split by default).",
                "helpful_set": "Helpful prompts, to see over-refusal.",
                "limit": "Prompts per set.",
                "examples": "How many prompts of each kind the result shows side by side.",
            },
            choices={"base": "models", "red_team_set": "prompt_sets", "helpful_set": "prompt_sets"},
            options={"split": ("test", "train", None)},
        ),
        JobKind(
            "tryit", "Try it", "cai_desktop.jobs.tryit", "run_tryit", "TryItParams",
            "Answer one prompt with two models side by side.",
        ),
    )
}

#: kinds that get a "New run" button, in workflow order
LAUNCHABLE = ("critique", "sft", "eval", "pairs", "label", "reward", "ppo", "dpo")


def help_for(kind: str, name: str) -> str:
    k = KINDS.get(kind)
    return (k.help.get(name) if k else None) or COMMON_HELP.get(name, "")


def _module(kind: str):
    k = KINDS.get(kind)
    if k is None:
        from cai_desktop.core.errors import ValidationError

        raise ValidationError(f"Unknown job kind {kind!r}.")
    return k, importlib.import_module(k.module)


def job_function(kind: str):
    """The job function ``fn(ctx, params)`` for ``kind`` (imports its module now)."""
    k, mod = _module(kind)
    return getattr(mod, k.function)


def params_class(kind: str):
    k, mod = _module(kind)
    return getattr(mod, k.params)


def availability(kind: str) -> tuple[bool, str]:
    """Whether the job's module can be found (without importing it); and why not."""
    import importlib.util

    k = KINDS.get(kind)
    if k is None:
        return False, f"unknown job kind {kind!r}"
    try:
        spec = importlib.util.find_spec(k.module)
    except (ImportError, ValueError) as e:
        return False, str(e)
    if spec is None:
        return False, f"{k.label} is not available in this version yet."
    return True, ""


def params_from_config(kind: str, config: dict[str, Any], project_path: str, resume_run: int | None = None):
    """Rebuild a params object from a run's stored config (for Resume), for the current project."""
    cls = params_class(kind)
    from dataclasses import fields

    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in (config or {}).items() if k in names}
    values["project"] = project_path
    if "resume_run" in names:
        values["resume_run"] = resume_run
    return cls(**values)
