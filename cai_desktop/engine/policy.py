"""The policy side shared by PPO and DPO: the starting policy (SL-CAI adapter merged into its
base), prompt encoding, adapter concatenation, and the reward-hacking watch.

Both trainers write ``output_dir/adapter``: a PEFT LoRA adapter that applies to the plain BASE
model. When training started from an SL-CAI adapter, the SFT delta and the new delta are
concatenated into one adapter (PEFT ``cat``, exact), so the result loads like any other adapter;
the new delta alone is kept in ``output_dir/delta``.
"""

from __future__ import annotations

import os
import resource
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cai_desktop.core.errors import ModelError, ValidationError

PAD_CANDIDATES = ("<|endoftext|>", "<pad>", "<|pad|>", "[PAD]", "<|finetune_right_pad_id|>", "<unk>")


# -- helpers shared by PPO and DPO ------------------------------------------------------------------
def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0


def _check_adapter(adapter: str | Path | None) -> None:
    if adapter and not (Path(adapter) / "adapter_config.json").is_file():
        raise ModelError(f"{adapter} is not a LoRA adapter folder (no adapter_config.json).")


def prepare_policy(policy_spec: Any, policy_adapter: str | Path | None, output_dir: str | Path, ctx: Any) -> tuple[Path, Path]:
    """Checks shared by PPO and DPO: the start adapter is real; the output folder exists; the base
    model is a local folder (converted/cached if it is a GGUF file or the embedded model)."""
    from cai_desktop.engine.models import local_model_dir, resolve_spec

    _check_adapter(policy_adapter)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    base_dir = Path(policy_spec) if isinstance(policy_spec, Path) else local_model_dir(resolve_spec(policy_spec), ctx)
    return output_dir, base_dir


def load_start_policy(base_dir: str | Path, adapter: str | Path | None = None, dtype: Any = None):
    """The starting policy: the base with the SL-CAI adapter (if any) merged in."""
    import torch
    from transformers import AutoModelForCausalLM

    _check_adapter(adapter)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=dtype or torch.float32)
    except OSError as e:
        raise ModelError(f"Could not load the policy model at {base_dir}: {e}") from None
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    return model


def combine_adapters(base_dir: str | Path, adapters: Sequence[str | Path], out_dir: str | Path) -> Path:
    """One LoRA adapter on the plain base equal to applying ``adapters`` one after another.

    LoRA deltas add up per linear layer, so concatenating their ranks (PEFT ``cat``) is exact.
    """
    from peft import PeftModel

    out_dir = Path(out_dir)
    adapters = [str(a) for a in adapters]
    if len(adapters) == 1:
        if out_dir.exists():
            shutil.rmtree(out_dir)
        shutil.copytree(adapters[0], out_dir)
        return out_dir
    model = load_start_policy(base_dir)
    names = [f"part{i}" for i in range(len(adapters))]
    model = PeftModel.from_pretrained(model, adapters[0], adapter_name=names[0])
    for name, path in zip(names[1:], adapters[1:]):
        model.load_adapter(path, adapter_name=name)
    model.add_weighted_adapter(names, [1.0] * len(names), adapter_name="default", combination_type="cat")
    model.set_adapter("default")
    for name in names:
        model.delete_adapter(name)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(str(tmp))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir


def finish_adapter(base_dir: Path, start_adapter: str | Path | None, delta_dir: Path, output_dir: Path,
                    tokenizer: Any) -> Path:
    adapter_dir = combine_adapters(base_dir, [start_adapter, delta_dir] if start_adapter else [delta_dir],
                                   output_dir / "adapter")
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(str(adapter_dir))
    return adapter_dir


def _as_messages(prompt: str | list[dict[str, str]]) -> list[dict[str, str]]:
    if isinstance(prompt, str):
        if not prompt.strip():
            raise ValidationError("A PPO prompt is empty.")
        return [{"role": "user", "content": prompt}]
    if not prompt or not all(isinstance(m, dict) and "role" in m and "content" in m for m in prompt):
        raise ValidationError("A PPO prompt must be text or a list of {role, content} messages.")
    return list(prompt)


def ppo_tokenizer(model_dir: str | Path):
    """The policy tokenizer, padding left with a pad token that is not the end-of-turn token.

    TRL's PPO treats every pad id as padding (masked out of attention, the end of a response), so
    a pad that equals EOS (SmolLM2's ``<|im_end|>``, also inside every chat turn) would hide the
    prompt's turn ends. An unused special token of the vocabulary becomes the pad.
    """
    from cai_desktop.engine.models import load_tokenizer

    tok = load_tokenizer(Path(model_dir))
    tok.padding_side = "left"
    if tok.pad_token_id is None or tok.pad_token_id == tok.eos_token_id:
        vocab = tok.get_vocab()
        for cand in PAD_CANDIDATES:
            if cand in vocab and vocab[cand] != tok.eos_token_id:
                tok.pad_token = cand
                break
        else:
            raise ModelError(
                "PPO needs a padding token distinct from the end-of-turn token, and this tokenizer has none."
            )
    return tok


def encode_prompts(tokenizer: Any, prompts: Sequence[str | list[dict[str, str]]], max_length: int) -> list[list[int]]:
    """Chat-formatted prompts with the assistant turn opened, keeping their end when too long."""
    out = []
    chat = bool(getattr(tokenizer, "chat_template", None))
    for p in prompts:
        msgs = _as_messages(p)
        if chat:
            text = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        else:
            text = "".join(f"{m['role'].capitalize()}: {m['content']}\n\n" for m in msgs) + "Assistant:"
        ids = tokenizer(text, add_special_tokens=not chat)["input_ids"]
        out.append(ids[-max_length:])
    return out


# -- reward-hacking watch -------------------------------------------------------------------------
def reward_hacking_warnings(history: Sequence[dict[str, float]], kl_warn: float = 10.0, window: int = 5) -> list[str]:
    """Warnings for the newest step of ``history`` (dicts with step, reward, kl, entropy).

    - KL above ``kl_warn`` nats: the policy has drifted far from where it started.
    - Over the last ``window`` steps reward rose while KL at least doubled (and passed 1 nat):
      the classic reward-hacking shape.
    - Entropy fell below 30 % of its start: diversity is collapsing.
    """
    if not history:
        return []
    now = history[-1]
    out = []
    kl = now.get("kl")
    if kl is not None and kl > kl_warn:
        out.append(f"WARNING: KL to the starting policy is {kl:.1f} nats (above {kl_warn:g}) at step "
                   f"{int(now['step'])}: the policy is drifting; raise the KL coefficient or stop early.")
    if len(history) > window:
        then = history[-1 - window]
        k0, k1 = then.get("kl"), kl
        r0, r1 = then.get("reward"), now.get("reward")
        if None not in (k0, k1, r0, r1) and k1 > 1.0 and k1 >= 2 * max(k0, 1e-6) and r1 > r0:
            out.append(f"WARNING: possible reward hacking at step {int(now['step'])}: reward {r0:.2f} → {r1:.2f} "
                       f"while KL {k0:.2f} → {k1:.2f} over {window} steps; read the sample rollouts.")
    e0 = next((h.get("entropy") for h in history if h.get("entropy") is not None), None)
    e1 = now.get("entropy")
    if e0 and e1 is not None and e0 > 0 and e1 < 0.3 * e0 and len(history) > 1:
        out.append(f"WARNING: response entropy fell from {e0:.1f} to {e1:.1f} at step {int(now['step'])}: "
                   "the answers are losing diversity (possible collapse).")
    return out


