"""RL-CAI with PPO against the preference model: the one module that imports ``trl.experimental.ppo``.

TRL deleted PPO upstream (PR #7020, 2026-09; it lived in ``trl.experimental`` since 1.0), so this
is the version boundary: nothing else imports it.

The policy starts from the SL-CAI adapter merged into its base in memory; a NEW LoRA goes on top
and is the only trainable part of the policy, so the reference (the KL anchor) is that same model
with the adapter disabled: exactly the starting policy. The reward model is the preference model;
when it was trained on the policy's base and saved with its adapter, it and the value model are two
LoRA adapters with their score heads on ONE frozen copy of the base (``engine.reward.
SharedClassifier``): the value model starts as the preference model and trains its LoRA and head
only. An older preference model (a merged folder only) is loaded whole, with a full value model
trained in full, as before. TRL's
loop neither honours ``should_training_stop`` nor resumes from a checkpoint, so this module saves
its own checkpoints (the LoRA delta, the value model and a small state file), stops on cancel by
raising from a callback, and resumes by loading the last checkpoint and running the remaining
episodes with the step counter offset (the linear learning-rate decay continues where it stopped;
the optimiser moments start afresh). DPO lives in ``engine.dpo``; what both share in
``engine.policy``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cai_desktop.core.errors import Cancelled, ModelError, ValidationError
from cai_desktop.core.settings import PPOSettings
from cai_desktop.engine.policy import (
    encode_prompts,
    finish_adapter,
    load_start_policy,
    peak_rss_mb,
    ppo_tokenizer,
    prepare_policy,
    reward_hacking_warnings,
)
from cai_desktop.engine.sft import lora_config

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

PPO_MODULE = "trl.experimental.ppo"


def _trl_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trl")
    except PackageNotFoundError:
        return None


def ppo_unavailable() -> str | None:
    """Why PPO cannot run with the installed TRL (None: it can), in words for the GUI and the CLI.

    Cheap (no torch, no TRL import): TRL's package folder is looked up, not imported, so the GUI can
    ask while it draws its buttons. A module already known to fail (``sys.modules`` holds None for
    it, as after a failed import) counts as missing."""
    import importlib.util
    import sys

    version = _trl_version()
    why = (f"PPO (as in the paper) needs a TRL that still has it (1.12 or older); this installation has "
           f"{'TRL ' + version if version else 'no TRL'}. Use RLOO (recommended) instead.")
    if PPO_MODULE in sys.modules:
        return why if sys.modules[PPO_MODULE] is None else None
    try:
        spec = importlib.util.find_spec("trl")
    except (ImportError, ValueError):
        return why
    if spec is None or not spec.submodule_search_locations:
        return why
    root = Path(next(iter(spec.submodule_search_locations)))
    return None if (root / "experimental" / "ppo" / "__init__.py").is_file() else why

# TRL's PPO metric names → the names our runs store (the rest keep TRL's name).
PPO_METRIC_NAMES = {
    "objective/scores": "reward",
    "objective/kl": "kl",
    "objective/entropy": "entropy",
    "objective/rlhf_reward": "rlhf_reward",
    "objective/non_score_reward": "kl_penalty",
    "loss/policy_avg": "policy_loss",
    "loss/value_avg": "value_loss",
    "policy/clipfrac_avg": "clipfrac",
    "policy/approxkl_avg": "approx_kl",
    "policy/entropy_avg": "policy_entropy",
    "val/clipfrac_avg": "value_clipfrac",
    "val/num_eos_tokens": "eos_count",
    "val/ratio": "ratio",
    "val/ratio_var": "ratio_var",
    "eps": "episodes_per_s",
}
STATE_FILE = "state.json"
VALUE_FILE = "value_lora_and_head.safetensors"


# -- PPO ---------------------------------------------------------------------------------------------
class _StopTraining(Exception):
    """Raised from the callback to leave TRL's PPO loop (which ignores should_training_stop)."""


class _RolloutProbe:
    """Wraps TRL's ``get_reward`` to see what the reward model scored: lengths and sample texts."""

    def __init__(self, reward_model: Any):
        self.reward_model = reward_model
        self.batches: list[tuple[Any, int, Any, Any]] = []

    @contextmanager
    def installed(self):
        import trl.experimental.ppo.ppo_trainer as ppo_module

        original = ppo_module.get_reward

        def probed(model, query_responses, pad_token_id, context_length):
            out = original(model, query_responses, pad_token_id, context_length)
            if model is self.reward_model:
                self.batches.append((query_responses.detach().cpu(), int(context_length),
                                     out[1].detach().float().cpu(), (out[2] - context_length + 1).detach().cpu()))
            return out

        ppo_module.get_reward = probed
        try:
            yield self
        finally:
            ppo_module.get_reward = original

    def take(self) -> list[tuple[Any, int, Any, Any]]:
        b, self.batches = self.batches, []
        return b


def _make_ppo_callback(ctx, settings, probe, tokenizer, save_checkpoint, step_offset, total_steps, history):
    """The job callback for PPO (built lazily: TrainerCallback needs transformers): mapped metrics,
    the reward-hacking watch, sample rollouts, checkpoints and cancel."""
    from cai_desktop.engine.callbacks import JobCallback

    class PPOCallback(JobCallback):
        def __init__(self):
            super().__init__(ctx, step_offset=step_offset)
            self.warnings: list[str] = []
            self._last_warned: dict[str, int] = {}
            self.last_batch: list[tuple[Any, int, Any, Any]] = []
            self.step_seconds: list[float] = []
            self._t_step = time.monotonic()

        def on_train_begin(self, args, state, control, **kw):
            super().on_train_begin(args, state, control, **kw)
            self._t_step = time.monotonic()

        def on_log(self, args, state, control, logs=None, **kw):
            if not logs:
                return
            self.last_batch = probe.take()
            mapped = {PPO_METRIC_NAMES.get(k, k): v for k, v in logs.items()}
            lengths = [float(b[3].float().mean()) for b in self.last_batch]
            if lengths:
                mapped["response_length"] = sum(lengths) / len(lengths)
            step = state.global_step + step_offset
            history.append({"step": step, "reward": mapped.get("reward"), "kl": mapped.get("kl"),
                            "entropy": mapped.get("entropy")})
            super().on_log(args, state, control, logs=mapped, **kw)

        def on_step_end(self, args, state, control, **kw):
            now = time.monotonic()
            self.step_seconds.append(now - self._t_step)
            self._t_step = now
            step = state.global_step + step_offset
            self._watch(step)
            if settings.sample_every and step % settings.sample_every == 0:
                self._log_samples(step)
            cancelled = ctx is not None and ctx.cancelled()
            if ctx is not None:
                ctx.progress(step, total_steps, f"PPO step {step}/{total_steps}")
                cancelled = cancelled or ctx.cancelled()
            if cancelled:
                self.cancelled = True
                save_checkpoint(step, state.episode)
                raise _StopTraining()
            if step % settings.save_every == 0 and step < total_steps:
                save_checkpoint(step, state.episode)
            return control

        def _watch(self, step: int) -> None:
            for w in reward_hacking_warnings(history, settings.kl_warn, settings.watch_window):
                key = w.split(" ")[1] + w.split(" ")[2]
                if step - self._last_warned.get(key, -10**9) < settings.watch_window:
                    continue
                self._last_warned[key] = step
                self.warnings.append(w)
                if ctx is not None:
                    ctx.log(w)

        def _log_samples(self, step: int) -> None:
            if ctx is None or not self.last_batch:
                return
            qr, context_length, scores, lengths = self.last_batch[0]
            for i in range(min(settings.n_samples, qr.shape[0])):
                query = tokenizer.decode(qr[i, :context_length], skip_special_tokens=True).strip()
                resp = tokenizer.decode(qr[i, context_length: context_length + int(lengths[i])],
                                        skip_special_tokens=True).strip()
                ctx.log(f"sample step {step} · reward {float(scores[i]):+.3f} · {query[-120:]!r} → {resp[:300]!r}")

    return PPOCallback()


def _checkpoints(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("step-*") if (p / STATE_FILE).is_file() and p.name[5:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def last_ppo_checkpoint(output_dir: str | Path) -> Path | None:
    found = _checkpoints(Path(output_dir) / "checkpoints")
    return found[-1] if found else None


def _load_classifier(path: str | Path, dtype: Any, what: str):
    from transformers import AutoModelForSequenceClassification

    if not (Path(path) / "config.json").is_file():
        raise ModelError(f"{path} is not a {what} folder (no config.json).")
    try:
        return AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=1, dtype=dtype)
    except (OSError, ValueError) as e:
        raise ModelError(f"Could not load {path} as a {what}: {e}") from None


def train_ppo(
    policy_spec: Any,
    policy_adapter: str | Path | None,
    reward_model_dir: str | Path,
    prompts: Sequence[str | list[dict[str, str]]],
    settings: PPOSettings,
    output_dir: str | Path,
    *,
    ctx: Any = None,
    resume: bool = False,
    share_base: bool | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """PPO of a LoRA on the starting policy against the preference model; see the module docstring.

    ``policy_spec`` is a model spec (or a model folder); ``policy_adapter`` the SL-CAI adapter the
    policy starts from (None: the base). Returns the adapter path, steps, the reward/KL curve,
    seconds per step, peak memory and the reward-hacking warnings.
    """
    import torch
    from datasets import Dataset
    from peft import PeftModel, get_peft_model
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from cai_desktop.engine.reward import (
        attach_reward_adapter,
        load_shared_reward_model,
        reward_adapter_dir,
        trained_on,
    )

    why = ppo_unavailable()
    if why:
        raise ModelError(why)
    try:
        from trl.experimental.ppo import PPOConfig, PPOTrainer
    except ImportError:
        raise ModelError(why or "PPO (as in the paper) does not load with this TRL. Use RLOO (recommended) "
                         "instead.") from None

    from cai_desktop.engine.models import training_dtype
    from cai_desktop.engine.sft import training_device

    settings.check()
    device = training_device(device)  # the student role's: "cpu" trains on the CPU even with a GPU
    if not prompts:
        raise ValidationError("No prompts for PPO: choose a prompt set with prompts in this split.")
    output_dir, base_dir = prepare_policy(policy_spec, policy_adapter, output_dir, ctx)
    t_start = time.monotonic()
    cuda = torch.cuda.is_available() and device != "cpu"
    bf16 = cuda and torch.cuda.is_bf16_supported()

    tokenizer = ppo_tokenizer(base_dir)
    checkpoint = last_ppo_checkpoint(output_dir) if resume else None
    adapter = reward_adapter_dir(reward_model_dir)
    if share_base is None and adapter is not None:
        share_base = trained_on(adapter, base_dir)
    old_value = checkpoint is not None and (checkpoint / "value" / "config.json").is_file()
    shared = bool(share_base and adapter is not None and not old_value)
    if shared:
        # the preference model and the value model: two adapters (+ heads) on ONE frozen base; the
        # value model starts as the preference model and trains its LoRA and head only
        reward_model, critic = load_shared_reward_model(base_dir, adapter)
        value_model = attach_reward_adapter(critic, adapter, adapter_name="value", trainable=True)
        value_model.expose_trainable()
        if checkpoint:
            value_model.load_trainable_state(checkpoint / "value" / VALUE_FILE)
        critic.to("cuda" if cuda else "cpu")
    else:
        reward_model = _load_classifier(reward_model_dir, torch.float32, "preference model")
    n_vocab = len(tokenizer)
    if reward_model.config.vocab_size < n_vocab or reward_model.config.vocab_size > n_vocab + 1024:
        raise ValidationError(
            f"The preference model's vocabulary ({reward_model.config.vocab_size}) does not match the policy's "
            f"({n_vocab}): train the preference model on the same base model as the policy."
        )

    state = json.loads((checkpoint / STATE_FILE).read_text()) if checkpoint else {}
    done_steps, done_episodes = int(state.get("step", 0)), int(state.get("episode", 0))
    history: list[dict[str, float]] = list(state.get("history", []))
    total_steps = settings.total_steps
    remaining = settings.total_episodes - done_episodes
    if ctx is not None and checkpoint:
        ctx.log(f"resuming from {checkpoint.name}: {done_steps} steps, {done_episodes} episodes done")

    # the policy: bfloat16 on a CUDA GPU that has it (float32 otherwise and on a CPU)
    base = load_start_policy(base_dir, policy_adapter, dtype=training_dtype()[0] if cuda else torch.float32)
    base.generation_config.pad_token_id = tokenizer.pad_token_id
    if checkpoint:
        policy = PeftModel.from_pretrained(base, str(checkpoint / "adapter"), is_trainable=True)
        if not shared:
            value_model = _load_classifier(checkpoint / "value", torch.float32, "value model")
    else:
        policy = get_peft_model(base, lora_config(settings))
        if not shared:
            value_model = _load_classifier(reward_model_dir, torch.float32, "preference model")
    ckpt_root = output_dir / "checkpoints"

    def save_checkpoint(step: int, episode: int) -> Path:
        final = ckpt_root / f"step-{step}"
        tmp = ckpt_root / f"step-{step}.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        policy.save_pretrained(str(tmp / "adapter"))
        if shared:
            from safetensors.torch import save_file

            (tmp / "value").mkdir()
            save_file(value_model.trainable_state(), str(tmp / "value" / VALUE_FILE))
        else:
            value_model.save_pretrained(str(tmp / "value"))
            tokenizer.save_pretrained(str(tmp / "value"))
        (tmp / STATE_FILE).write_text(json.dumps({
            "step": step, "episode": done_episodes + episode, "total_episodes": settings.total_episodes,
            "history": history, "settings": settings.values(PPOSettings),
        }))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in _checkpoints(ckpt_root)[:-1]:  # the new one is complete before the old one goes
            shutil.rmtree(old, ignore_errors=True)
        if ctx is not None:
            ctx.log(f"checkpoint {final.name} saved")
        return final

    probe = _RolloutProbe(reward_model)
    callback = _make_ppo_callback(ctx, settings, probe, tokenizer, save_checkpoint, done_steps, total_steps, history)
    seconds: list[float] = []
    if remaining > 0:
        ids = encode_prompts(tokenizer, prompts, settings.max_prompt_length)
        while len(ids) < settings.rollout_batch:  # the rollout loader drops a short last batch
            ids = ids + ids
        dataset = Dataset.from_dict({"input_ids": ids})
        # A linear decay over the whole run: a resumed run starts where the schedule stopped.
        lr = settings.learning_rate * (remaining / settings.total_episodes)
        args = PPOConfig(
            output_dir=str(output_dir / "trl"),
            learning_rate=lr,
            per_device_train_batch_size=settings.batch_size,
            gradient_accumulation_steps=settings.grad_accum,
            per_device_eval_batch_size=1,
            num_mini_batches=settings.num_mini_batches,
            num_ppo_epochs=settings.num_ppo_epochs,
            total_episodes=remaining,
            local_rollout_forward_batch_size=max(settings.rollout_batch, 1),
            response_length=settings.response_length,
            temperature=settings.temperature,
            kl_coef=settings.kl_coef,
            cliprange=settings.cliprange,
            cliprange_value=settings.cliprange_value,
            vf_coef=settings.vf_coef,
            missing_eos_penalty=settings.missing_eos_penalty,
            stop_token="eos",
            num_sample_generations=0,
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            seed=settings.seed + done_steps,
            use_cpu=not cuda,
            bf16=bf16,
            fp16=False,
            activation_checkpointing=bool(settings.activation_checkpointing),
            disable_tqdm=True,
            dataloader_num_workers=0,
        )
        trainer = PPOTrainer(
            args=args, processing_class=tokenizer, model=policy, ref_model=None, reward_model=reward_model,
            train_dataset=dataset, value_model=value_model, eval_dataset=dataset.select(range(1)),
            callbacks=[callback],
        )
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        if ctx is not None:
            ctx.log(f"PPO: {len(prompts)} prompts, {remaining} episodes in "
                    f"{math.ceil(remaining / settings.rollout_batch)} steps of {settings.rollout_batch}; "
                    f"KL coefficient {settings.kl_coef}, response ≤ {settings.response_length} tokens")
        try:
            with probe.installed():
                trainer.train()
        except _StopTraining:
            pass
        except torch.OutOfMemoryError:
            raise ModelError("Out of memory during PPO: lower the batch size or the response length.") from None
        seconds = callback.step_seconds
        done_now = trainer.state.global_step
    else:
        done_now = 0
    steps = done_steps + done_now
    ckpt = last_ppo_checkpoint(output_dir)
    result: dict[str, Any] = {
        "steps": steps, "total_steps": total_steps, "device": "cuda:0" if cuda else "cpu",
        "episodes": min(settings.total_episodes, done_episodes + done_now * settings.rollout_batch),
        "rewards": [h["reward"] for h in history if h.get("reward") is not None],
        "kls": [h["kl"] for h in history if h.get("kl") is not None],
        "reward_first": next((h["reward"] for h in history if h.get("reward") is not None), None),
        "reward_last": next((h["reward"] for h in reversed(history) if h.get("reward") is not None), None),
        "kl_last": next((h["kl"] for h in reversed(history) if h.get("kl") is not None), None),
        "seconds_per_step": (sum(seconds) / len(seconds)) if seconds else None,
        "peak_rss_mb": peak_rss_mb(),
        "warnings": callback.warnings,
        "checkpoint": str(ckpt) if ckpt else None,
        "prompts": len(prompts),
        "seconds": time.monotonic() - t_start,
    }
    if callback.cancelled:
        raise Cancelled(f"cancelled at PPO step {steps}; checkpoint {result['checkpoint']}")
    delta_dir = output_dir / "delta"
    if done_now > 0 or not ckpt:
        policy.save_pretrained(str(delta_dir))
    else:  # resumed after the last step: the checkpoint holds the finished delta
        if delta_dir.exists():
            shutil.rmtree(delta_dir)
        shutil.copytree(ckpt / "adapter", delta_dir)
    result["adapter"] = str(finish_adapter(base_dir, policy_adapter, delta_dir, output_dir, tokenizer))
    result["delta"] = str(delta_dir)
    # Finished: the checkpoints (a full value model each) are no longer needed.
    shutil.rmtree(ckpt_root, ignore_errors=True)
    result["checkpoint"] = None
    return result


def ppo_checkpoint_step(output_dir: str | Path) -> int:
    """The step of the last PPO checkpoint (0: none); a resumed run continues after it."""
    ckpt = last_ppo_checkpoint(output_dir)
    return int(json.loads((ckpt / STATE_FILE).read_text())["step"]) if ckpt else 0


