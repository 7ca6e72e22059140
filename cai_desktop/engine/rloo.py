"""RL-CAI with RLOO (or GRPO) against the preference model, on TRL's stable trainers.

RLOO samples several answers per prompt and uses the others' mean reward as each answer's
baseline, so it needs no value model; GRPO normalises rewards within the group and clips the
update. Both come from ``trl`` itself (``RLOOTrainer``, ``GRPOTrainer``), not ``trl.experimental``,
so they run on the newest TRL.

One frozen base in memory. The policy is a ``PeftModel`` on the plain base with up to three LoRA
adapters in the same layers:

- ``sft``: the SL-CAI adapter the policy starts from (frozen);
- ``default``: the NEW LoRA, the only trainable part;
- ``reward``: the preference model's LoRA (frozen), whose score head is a small linear layer
  (``engine.reward.SharedClassifier``).

The policy's forward pass uses ``sft`` + ``default``, the reference (the KL anchor, exactly the
starting policy) ``sft`` alone, and the reward ``reward`` alone; the layers switch between them
(``engine.reward.activate_adapters``). TRL's trainers take the reference by calling
``use_adapter`` (disable the adapters, or a copy named ``ref``); this module swaps that one
function for one that selects the starting policy's adapters while it trains.

A preference model on another base (another tokenizer) is loaded whole; rollouts are decoded and
re-tokenised with its tokenizer, so any preference model works. The result is like PPO's: the new
delta in ``output_dir/delta`` and, concatenated with the SL-CAI adapter, one adapter on the plain
base in ``output_dir/adapter``. Cancel stops at the end of a step with a checkpoint; resume
continues from the newest complete checkpoint (the Trainer's own: optimiser, schedule, RNG).
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cai_desktop.core.errors import Cancelled, ModelError, ValidationError
from cai_desktop.core.settings import RLOOSettings
from cai_desktop.engine.policy import (
    finish_adapter,
    peak_rss_mb,
    ppo_tokenizer,
    prepare_policy,
    reward_hacking_warnings,
)

ALGORITHMS = {"rloo": "RLOO", "grpo": "GRPO"}
REWARD_FUNC_NAME = "preference_model"
HISTORY_FILE = "cai_history.json"
SFT_ADAPTER, NEW_ADAPTER = "sft", "default"

# TRL's metric names → the names our runs store (as PPO's, so the dashboard reads them alike)
METRIC_NAMES = {
    f"rewards/{REWARD_FUNC_NAME}/mean": "reward",
    f"rewards/{REWARD_FUNC_NAME}/std": "reward_std",
    "entropy": "entropy",
    "completions/mean_length": "response_length",
    "completions/clipped_ratio": "unfinished_share",
    "clip_ratio/region_mean": "clipfrac",
    "loss": "policy_loss",
    "grad_norm": "grad_norm",
    "learning_rate": "learning_rate",
}


def trainer_classes(algorithm: str) -> tuple[Any, Any, Any]:
    """(config class, trainer class, trainer module) of ``algorithm``."""
    if algorithm == "grpo":
        import trl.trainer.grpo_trainer as module
        from trl import GRPOConfig, GRPOTrainer

        return GRPOConfig, GRPOTrainer, module
    import trl.trainer.rloo_trainer as module
    from trl import RLOOConfig, RLOOTrainer

    return RLOOConfig, RLOOTrainer, module


def _config(config_cls: Any, **kw: Any) -> Any:
    """The trainer config with the options this TRL knows (the rest are left out, not errors)."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(config_cls)}
    return config_cls(**{k: v for k, v in kw.items() if k in known})


@contextmanager
def reference_is(module: Any, policy: Any, ref_adapters: Sequence[str]):
    """While training, TRL's ``use_adapter`` (how it reaches the reference) selects ``ref_adapters``."""
    from cai_desktop.engine.reward import activate_adapters, active_adapters

    if not hasattr(module, "use_adapter"):
        raise ModelError("This TRL reaches the reference policy in a way this app does not know; "
                         "install the TRL version the app lists.")

    @contextmanager
    def use_reference(model: Any, adapter_name: Any = None):
        before = active_adapters(policy)
        activate_adapters(policy, ref_adapters)
        try:
            yield
        finally:
            activate_adapters(policy, before)

    original = module.use_adapter
    module.use_adapter = use_reference
    try:
        yield
    finally:
        module.use_adapter = original


# -- the reward -------------------------------------------------------------------------------------
class PreferenceReward:
    """TRL reward function: the preference model's score of each (prompt, answer), with the penalty
    for unfinished answers; the texts are re-tokenised with the preference model's tokenizer."""

    __name__ = REWARD_FUNC_NAME

    def __init__(self, model: Any, tokenizer: Any, eos_ids: set[int], *, max_length: int, penalty: float | None,
                 batch_size: int = 8):
        self.model, self.tokenizer, self.eos_ids = model, tokenizer, eos_ids
        self.max_length, self.penalty, self.batch_size = max_length, penalty, batch_size
        self.last: list[tuple[str, str, float]] = []

    def __call__(self, prompts: list[Any], completions: list[Any], completion_ids: list[list[int]] | None = None,
                 question: list[str] | None = None, **_: Any) -> list[float]:
        from cai_desktop.engine.reward import _rewards, encode

        questions = list(question) if question else [_text(p) for p in prompts]
        answers = [_text(c) for c in completions]
        seqs = [encode(self.tokenizer, q, a, self.max_length) for q, a in zip(questions, answers)]
        device = str(_device_of(self.model))
        scores = _rewards(self.model, self.tokenizer, seqs, self.batch_size, device)
        if self.penalty and completion_ids is not None:
            scores = [s - self.penalty if not (set(ids) & self.eos_ids) else s for s, ids in zip(scores, completion_ids)]
        self.last = list(zip(questions, answers, scores))
        return scores


def _text(x: Any) -> str:
    if isinstance(x, str):
        return x
    if isinstance(x, list) and x and isinstance(x[-1], dict):
        return str(x[-1].get("content", ""))
    return str(x)


def _device_of(model: Any) -> Any:
    from cai_desktop.engine.reward import SharedClassifier

    if isinstance(model, SharedClassifier):
        return next(model._body.parameters()).device
    return next(model.parameters()).device


def load_reward(policy: Any, reward_model_dir: str | Path, share_base: bool | None, base_dir: Path,
                policy_tokenizer: Any) -> tuple[Any, Any, bool]:
    """(model, tokenizer, shared): the preference model on the policy's base when it was trained on
    that base and saved with its adapter; otherwise loaded whole (its own tokenizer)."""
    from cai_desktop.engine.models import load_tokenizer
    from cai_desktop.engine.reward import (
        attach_reward_adapter,
        load_classifier,
        reward_adapter_dir,
        trained_on,
    )

    path = Path(reward_model_dir)
    adapter = reward_adapter_dir(path)
    if share_base is None and adapter is not None:
        share_base = trained_on(adapter, base_dir)
    tok_dir = path if (path / "tokenizer_config.json").is_file() else (path.parent / "model")
    if share_base and adapter is not None:
        tok = load_tokenizer(tok_dir) if (tok_dir / "tokenizer_config.json").is_file() else policy_tokenizer
        tok.padding_side = "right"
        clf = attach_reward_adapter(policy, adapter)
        if clf.config.pad_token_id is None:
            clf.config.pad_token_id = tok.pad_token_id
        return clf, tok, True
    if not (path / "config.json").is_file():
        raise ModelError(f"{path} is not a preference model folder (no config.json).")
    tok = load_tokenizer(path)
    tok.padding_side = "right"
    model = load_classifier(path)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    model.eval().requires_grad_(False)
    return model, tok, False


# -- the job callback ---------------------------------------------------------------------------
def _make_callback(ctx: Any, settings: RLOOSettings, reward: PreferenceReward, policy: Any,
                   policy_adapters: list[str], history: list[dict[str, float]], name: str):
    from cai_desktop.engine.callbacks import JobCallback
    from cai_desktop.engine.reward import activate_adapters

    class RLCallback(JobCallback):
        def __init__(self):
            super().__init__(ctx)
            self.warnings: list[str] = []
            self._last_warned: dict[str, int] = {}
            self.step_seconds: list[float] = []
            self._t_step = time.monotonic()

        def on_train_begin(self, args, state, control, **kw):
            super().on_train_begin(args, state, control, **kw)
            activate_adapters(policy, policy_adapters)  # after a resume loaded its adapter
            self._t_step = time.monotonic()

        def on_step_begin(self, args, state, control, **kw):
            activate_adapters(policy, policy_adapters)

        def on_log(self, args, state, control, logs=None, **kw):
            if not logs or "loss" not in logs and f"rewards/{REWARD_FUNC_NAME}/mean" not in logs:
                return super().on_log(args, state, control, logs=logs, **kw)
            mapped = {METRIC_NAMES.get(k, k): v for k, v in logs.items() if k not in ("reward", "kl")}
            length = logs.get("completions/mean_length")
            if logs.get("kl") is not None:
                mapped["kl_per_token"] = logs["kl"]
                # per answer, like PPO's: the per-token mean times the mean answer length
                mapped["kl"] = logs["kl"] * (length if length else 1.0)
            if settings.algorithm == "rloo" and logs.get("reward") is not None:
                mapped["rlhf_reward"] = logs["reward"]  # the score minus the KL penalty
            history[:] = [h for h in history if h["step"] < state.global_step]
            history.append({"step": state.global_step, "reward": mapped.get("reward"), "kl": mapped.get("kl"),
                            "entropy": mapped.get("entropy")})
            super().on_log(args, state, control, logs=mapped, **kw)
            self._watch(state.global_step)

        def on_step_end(self, args, state, control, **kw):
            now = time.monotonic()
            self.step_seconds.append(now - self._t_step)
            self._t_step = now
            step = state.global_step
            if settings.sample_every and step % settings.sample_every == 0:
                self._log_samples(step)
            if ctx is not None:
                ctx.progress(step, state.max_steps or settings.max_steps, f"{name} step {step}/{state.max_steps}")
                if ctx.cancelled():
                    self.cancelled = True
                    control.should_save = True
                    control.should_training_stop = True
            return control

        def on_save(self, args, state, control, **kw):
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ckpt.is_dir():
                (ckpt / HISTORY_FILE).write_text(json.dumps([h for h in history if h["step"] <= state.global_step]))
                if ctx is not None:
                    ctx.log(f"checkpoint {ckpt.name} saved")

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
            if ctx is None:
                return
            for q, a, s in reward.last[: settings.n_samples]:
                ctx.log(f"sample step {step} · reward {s:+.3f} · {q[-120:]!r} → {a[:300]!r}")

    return RLCallback()


# -- training -----------------------------------------------------------------------------------
def last_rl_checkpoint(output_dir: str | Path) -> str | None:
    from cai_desktop.engine.distributed import is_main_process
    from cai_desktop.engine.sft import complete_checkpoint

    return complete_checkpoint(Path(output_dir) / "checkpoints", remove_broken=is_main_process())


def rl_checkpoint_step(output_dir: str | Path) -> int:
    """The step of the newest complete checkpoint (0: none); a resumed run continues after it."""
    ckpt = last_rl_checkpoint(output_dir)
    if not ckpt:
        return 0
    return int(json.loads((Path(ckpt) / "trainer_state.json").read_text())["global_step"])


def _prompt_rows(tokenizer: Any, prompts: Sequence[str | list[dict[str, str]]], max_length: int) -> list[dict]:
    """One row per prompt: the conversation TRL formats (cut from the left to ``max_length``
    tokens) and the user's text the preference model sees."""
    from cai_desktop.engine.policy import _as_messages

    chat = bool(getattr(tokenizer, "chat_template", None))
    rows = []
    for p in prompts:
        msgs = _as_messages(p)
        text = msgs[-1]["content"]
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) > max_length:
            text = tokenizer.decode(ids[-max_length:])
            msgs = [*msgs[:-1], {"role": msgs[-1]["role"], "content": text}]
        if chat:
            rows.append({"prompt": msgs, "question": text})
        else:
            prefix = "".join(f"{m['role'].capitalize()}: {m['content']}\n\n" for m in msgs)
            rows.append({"prompt": prefix + "Assistant:", "question": text})
    return rows


def train_rloo(
    policy_spec: Any,
    policy_adapter: str | Path | None,
    reward_model_dir: str | Path,
    prompts: Sequence[str | list[dict[str, str]]],
    settings: RLOOSettings,
    output_dir: str | Path,
    *,
    ctx: Any = None,
    resume: bool = False,
    share_base: bool | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """RLOO/GRPO of a new LoRA on the starting policy against the preference model (module docstring).

    ``share_base``: the preference model was trained on the policy's base (None: decide from its
    adapter's recorded base). Returns the adapter path, steps, the reward/KL curve, seconds per step,
    peak memory and the reward-hacking warnings. ``device``: the student role's (see
    ``engine.sft.training_device``): "cpu" trains on the CPU even with a GPU; None: the GPU when
    there is one (RLOO trains on a CUDA GPU or the CPU)."""
    import torch
    from datasets import Dataset
    from peft import PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from cai_desktop.engine.reward import activate_adapters
    from cai_desktop.engine.sft import check_4bit_device, lora_config, training_device

    settings.check()
    device = training_device(device)
    check_4bit_device(settings, device)  # one line before anything loads
    if not prompts:
        raise ValidationError("No prompts for RL: choose a prompt set with prompts in this split.")
    name = ALGORITHMS[settings.algorithm]
    config_cls, trainer_cls, trainer_module = trainer_classes(settings.algorithm)
    output_dir, base_dir = prepare_policy(policy_spec, policy_adapter, output_dir, ctx)
    t_start = time.monotonic()
    cuda = torch.cuda.is_available() and device != "cpu"
    bf16 = cuda and torch.cuda.is_bf16_supported()
    tokenizer = ppo_tokenizer(base_dir)
    ckpt_dir = output_dir / "checkpoints"
    resume_from = last_rl_checkpoint(output_dir) if resume else None

    # one base: the policy's adapters and the preference model's sit in its layers; bfloat16 on a
    # CUDA GPU (4-bit NF4 on request), float32 on a CPU
    if cuda:
        from cai_desktop.engine.models import load_for_training

        base = load_for_training(base_dir, load_in_4bit=bool(settings.load_in_4bit), what="policy model")
    else:
        try:
            base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
        except OSError as e:
            raise ModelError(f"Could not load the policy model at {base_dir}: {e}") from None
    base.generation_config.pad_token_id = tokenizer.pad_token_id
    base.requires_grad_(False)
    if policy_adapter:
        policy = PeftModel.from_pretrained(base, str(policy_adapter), adapter_name=SFT_ADAPTER)
        policy.add_adapter(NEW_ADAPTER, lora_config(settings))
        ref_adapters = [SFT_ADAPTER]
    else:
        policy = get_peft_model(base, lora_config(settings))
        ref_adapters = []
    policy_adapters = [*ref_adapters, NEW_ADAPTER]
    reward_model, reward_tok, shared = load_reward(policy, reward_model_dir, share_base, base_dir, tokenizer)
    policy.set_adapter(NEW_ADAPTER)
    for pname, p in policy.named_parameters():
        p.requires_grad_(f".{NEW_ADAPTER}." in pname)
    activate_adapters(policy, policy_adapters)

    meta = Path(reward_model_dir) / "cai_reward.json"
    rm_max = json.loads(meta.read_text()).get("max_length", 512) if meta.is_file() else 512
    reward = PreferenceReward(reward_model, reward_tok, {tokenizer.eos_token_id} - {None}, max_length=rm_max,
                              penalty=settings.missing_eos_penalty)
    history: list[dict[str, float]] = []
    if resume_from and (Path(resume_from) / HISTORY_FILE).is_file():
        history = json.loads((Path(resume_from) / HISTORY_FILE).read_text())
    callback = _make_callback(ctx, settings, reward, policy, policy_adapters, history, name)

    rows = _prompt_rows(tokenizer, prompts, settings.max_prompt_length)
    while len(rows) < settings.prompts_per_step:
        rows = rows + rows
    dataset = Dataset.from_list(rows)
    micro = settings.num_generations if cuda else 2 if settings.num_generations % 2 == 0 else 1
    common = dict(
        output_dir=str(ckpt_dir), learning_rate=settings.learning_rate,
        # answers per forward/backward pass: a prompt's answers on a GPU, two on a CPU (memory, not
        # speed, is the limit there), the rest of the step accumulated: the logits (vocabulary ×
        # tokens × answers) and activations are the largest tensors, so this bounds the peak
        per_device_train_batch_size=micro, gradient_accumulation_steps=settings.rollout_batch // micro,
        num_generations=settings.num_generations, max_completion_length=settings.response_length,
        temperature=settings.temperature, top_p=1.0, top_k=0, beta=settings.beta, max_steps=settings.max_steps,
        logging_steps=1, save_strategy="steps", save_steps=settings.save_every, save_total_limit=2,
        report_to=[], seed=settings.seed, use_cpu=not cuda, bf16=bf16, fp16=False,
        activation_checkpointing=bool(settings.activation_checkpointing), disable_tqdm=True, dataloader_num_workers=0, weight_decay=0.0,
        disable_dropout=True, log_completions=False, remove_unused_columns=False, shuffle_dataset=True,
    )
    if settings.algorithm == "grpo":
        common.update(loss_type="dapo", scale_rewards="group")
    args = _config(config_cls, **common)
    trainer = trainer_cls(model=policy, reward_funcs=[reward], args=args, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[callback])
    for noisy in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(noisy)
    if "ref" in policy.peft_config:  # TRL's copy of the new (zero) adapter: our reference is the start adapters
        policy.delete_adapter("ref")
    policy.set_adapter(NEW_ADAPTER)
    for pname, p in policy.named_parameters():
        p.requires_grad_(f".{NEW_ADAPTER}." in pname)
    activate_adapters(policy, policy_adapters)
    if ctx is not None:
        n_train = sum(p.numel() for p in policy.parameters() if p.requires_grad)
        ctx.log(f"{name}: {len(prompts)} prompts, {settings.max_steps} steps of {settings.prompts_per_step} prompts × "
                f"{settings.num_generations} answers; KL penalty {settings.beta}, answers ≤ {settings.response_length} "
                f"tokens; {n_train:,} trainable parameters; preference model "
                + ("on the policy's base (one base in memory)" if shared else "loaded whole (its own tokenizer)")
                + (f"; resuming from {Path(resume_from).name}" if resume_from else ""))
    try:
        with reference_is(trainer_module, policy, ref_adapters):
            out = trainer.train(resume_from_checkpoint=resume_from)
    except torch.OutOfMemoryError:
        raise ModelError(f"Out of memory during {name}: lower the prompts per step, the answers per prompt or "
                         "the answer length.") from None
    steps = int(out.global_step)
    ckpt = last_rl_checkpoint(output_dir)
    result: dict[str, Any] = {
        "algorithm": settings.algorithm, "steps": steps, "total_steps": settings.max_steps,
        "episodes": steps * settings.rollout_batch,
        "rewards": [h["reward"] for h in history if h.get("reward") is not None],
        "kls": [h["kl"] for h in history if h.get("kl") is not None],
        "reward_first": next((h["reward"] for h in history if h.get("reward") is not None), None),
        "reward_last": next((h["reward"] for h in reversed(history) if h.get("reward") is not None), None),
        "kl_last": next((h["kl"] for h in reversed(history) if h.get("kl") is not None), None),
        "seconds_per_step": (sum(callback.step_seconds) / len(callback.step_seconds)) if callback.step_seconds else None,
        "warnings": callback.warnings, "checkpoint": ckpt, "prompts": len(prompts), "shared_base": shared,
        "device": str(trainer.args.device), "processes": int(trainer.args.world_size),
    }
    if callback.cancelled:
        result["peak_rss_mb"] = peak_rss_mb()
        raise Cancelled(f"cancelled at {name} step {steps}; checkpoint {ckpt}")
    from cai_desktop.engine.distributed import barrier, is_main_process
    from cai_desktop.engine.sft import _remove_dir

    delta_dir = output_dir / "delta"
    main = is_main_process()  # under ``accelerate launch`` only the main process writes the adapters
    if main:
        policy.save_pretrained(str(delta_dir), selected_adapters=[NEW_ADAPTER])
    # free the training models before the adapters are concatenated (that loads the base once more)
    del trainer, policy, base, reward_model, reward
    gc.collect()
    result["peak_rss_mb"] = peak_rss_mb()
    if main:
        result["adapter"] = str(finish_adapter(base_dir, policy_adapter, delta_dir, output_dir, tokenizer))
        if ckpt_dir.exists():
            _remove_dir(ckpt_dir)
    barrier()  # the other processes return once the adapter is on disk
    result.setdefault("adapter", str(output_dir / "adapter"))
    result["delta"] = str(delta_dir)
    result["checkpoint"] = None
    result["seconds"] = time.monotonic() - t_start
    return result
