"""Field declarations several jobs share (one help text each): models, adapters, splits, limits."""

from __future__ import annotations

from typing import Any

from cai_desktop.core.params import param

SPLITS = ("train", "test", None)


def split_param(default: str | None, what: str = "prompts") -> Any:
    return param(default, label="Split", choices=SPLITS, empty="all",
                 help=f"Which {what} of the prompt set: train (the default for training data), test (held out, "
                      "for evaluation only), or all.")


def model_param(role: str, flags: tuple[str, ...] = ("--model",), project_role: str = "student") -> Any:
    return param(None, label=f"{role} model", source="models", empty=f"the project's {project_role}",
                 flags=flags, help=f"The {role.lower()} model: empty = the project's {project_role} (set on the Models "
                                   "page; by default the embedded SmolLM2-135M-Instruct); or a local "
                                   "folder, a .gguf file or a hub id.")


def adapter_param(what: str = "the model") -> Any:
    return param(None, label="LoRA adapter", source="adapters", empty="none",
                 help=f"A LoRA adapter to put on {what} (e.g. the SL-CAI adapter of an SFT run), or none.")


def limit_param(default: int | None) -> Any:
    return param(default, label="Prompts (limit)", range=(1, 10_000_000), empty="all prompts", identity=False,
                 help="Use only the first N prompts of the set; empty = all of them. Running again with a larger "
                      "limit continues the same run.")


def batch_param(default: int) -> Any:
    return param(default, label="Batch size", range=(1, 4096), identity=False,
                 help="Prompts generated together: faster on a GPU, more memory; a cancel waits for at most "
                      "one generation step.")


def seed_param(what: str = "the samples") -> Any:
    return param(0, label="Seed", range=(0, 2**31 - 1),
                 help=f"Random seed: the same seed and settings give the same {what}.")


def top_p_param(default: float) -> Any:
    return param(default, label="Top-p", range=(0.01, 1.0),
                 help="Nucleus sampling: keep the smallest set of tokens with this total probability.")


def max_tokens_param(default: int, help: str = "The longest answer, in tokens.") -> Any:
    return param(default, label="Longest answer (tokens)", range=(1, 8192), help=help)
