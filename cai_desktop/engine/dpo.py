"""DPO on the AI-labelled pairs: TRL's ``DPOTrainer`` with a LoRA on the (merged) starting policy;
checkpoints and resume are the Trainer's own. The lighter alternative to a preference model + PPO."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cai_desktop.core.errors import Cancelled, ModelError, ValidationError
from cai_desktop.core.settings import DPOSettings
from cai_desktop.engine.policy import (
    finish_adapter,
    load_start_policy,
    peak_rss_mb,
    prepare_policy,
)
from cai_desktop.engine.sft import complete_checkpoint, fresh_dir, lora_config, replace_dir


def last_dpo_checkpoint(output_dir: str | Path) -> str | None:
    """The newest complete DPO (Trainer) checkpoint; a half-written one (a kill while saving) is
    skipped and removed, so training continues from the one before or starts fresh."""
    return complete_checkpoint(Path(output_dir) / "checkpoints")


def dpo_checkpoint_step(output_dir: str | Path) -> int:
    """The step of the last complete DPO (Trainer) checkpoint (0: none)."""
    last = last_dpo_checkpoint(output_dir)
    return int(Path(last).name.rsplit("-", 1)[1]) if last else 0


# -- DPO ---------------------------------------------------------------------------------------------
def dpo_records(pairs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Preference pairs as TRL's conversational prompt/chosen/rejected records."""
    out = []
    for p in pairs:
        if not all(isinstance(p.get(k), str) for k in ("prompt", "chosen", "rejected")):
            raise ValidationError("Each DPO pair needs text fields prompt, chosen and rejected.")
        if p["chosen"].strip() == p["rejected"].strip():
            continue
        out.append({"prompt": [{"role": "user", "content": p["prompt"]}],
                    "chosen": [{"role": "assistant", "content": p["chosen"]}],
                    "rejected": [{"role": "assistant", "content": p["rejected"]}]})
    return out


def train_dpo(
    policy_spec: Any,
    policy_adapter: str | Path | None,
    pairs: Sequence[dict[str, Any]],
    settings: DPOSettings,
    output_dir: str | Path,
    *,
    ctx: Any = None,
    resume: bool = False,
) -> dict[str, Any]:
    """DPO of a LoRA on the starting policy (the reference) with TRL's ``DPOTrainer``."""
    import torch
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from cai_desktop.engine.callbacks import JobCallback
    from cai_desktop.engine.models import load_tokenizer

    settings.check()
    records = dpo_records(pairs)
    if not records:
        raise ValidationError("No preference pairs for DPO: label some comparisons first (or lower the margin).")
    output_dir, base_dir = prepare_policy(policy_spec, policy_adapter, output_dir, ctx)
    t_start = time.monotonic()
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    tokenizer = load_tokenizer(base_dir)
    model = load_start_policy(base_dir, policy_adapter)
    args = DPOConfig(
        output_dir=str(output_dir / "checkpoints"),
        beta=settings.beta,
        loss_type=[settings.loss_type],
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps if settings.max_steps > 0 else -1,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        max_length=settings.max_length,
        logging_steps=1,
        save_steps=settings.save_steps,
        save_total_limit=2,
        warmup_steps=settings.warmup_ratio,
        seed=settings.seed,
        report_to=[],
        use_cpu=not cuda,
        bf16=bf16,
        gradient_checkpointing=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    callback = JobCallback(ctx)
    trainer = DPOTrainer(
        model=model, ref_model=None, args=args, train_dataset=Dataset.from_list(records),
        processing_class=tokenizer, callbacks=[callback],
        peft_config=lora_config(settings),
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    kept = len(trainer.train_dataset)
    if kept == 0:
        raise ValidationError(f"Every DPO prompt is longer than the maximum length ({settings.max_length} tokens): "
                              "raise the maximum length.")
    if kept < len(records) and ctx is not None:
        ctx.log(f"{len(records) - kept} pairs dropped: their prompt alone fills {settings.max_length} tokens")
    checkpoint = last_dpo_checkpoint(output_dir) if resume else None
    if ctx is not None:
        ctx.log(f"DPO on {len(records)} pairs (beta {settings.beta})"
                + (f"; resuming from {Path(checkpoint).name}" if checkpoint else ""))
    try:
        out = trainer.train(resume_from_checkpoint=checkpoint)
    except torch.OutOfMemoryError:
        raise ModelError("Out of memory during DPO: lower the batch size or the maximum length.") from None
    logs = trainer.state.log_history
    losses = [h["loss"] for h in logs if "loss" in h]
    accs = [h["rewards/accuracies"] for h in logs if "rewards/accuracies" in h]
    margins = [h["rewards/margins"] for h in logs if "rewards/margins" in h]
    result: dict[str, Any] = {
        "steps": trainer.state.global_step, "max_steps": trainer.state.max_steps,
        "pairs": len(records),
        "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None,
        "accuracy_last": accs[-1] if accs else None, "margin_last": margins[-1] if margins else None,
        "checkpoint": last_dpo_checkpoint(output_dir),
        "peak_rss_mb": peak_rss_mb(), "seconds": time.monotonic() - t_start,
        "train_loss": float(out.training_loss) if out is not None else None,
    }
    if callback.cancelled:
        raise Cancelled(f"cancelled at DPO step {trainer.state.global_step}; checkpoint {result['checkpoint']}")
    delta_dir = output_dir / "delta"
    tmp = fresh_dir(output_dir / "delta.partial")  # renamed in whole: a kill leaves it whole or absent
    trainer.model.save_pretrained(str(tmp))
    replace_dir(tmp, delta_dir)
    result["adapter"] = str(finish_adapter(base_dir, policy_adapter, delta_dir, output_dir, tokenizer))
    result["delta"] = str(delta_dir)
    return result

