"""DPO on the AI-labelled pairs: TRL's ``DPOTrainer`` with a LoRA on the (merged) starting policy;
checkpoints and resume are the Trainer's own. The lighter alternative to a preference model + PPO."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cai_desktop.core.errors import Cancelled, ValidationError
from cai_desktop.core.settings import DPOSettings
from cai_desktop.engine.policy import (
    finish_adapter,
    peak_rss_mb,
    prepare_policy,
)
from cai_desktop.engine.sft import complete_checkpoint, fresh_dir, lora_config, replace_dir


def last_dpo_checkpoint(output_dir: str | Path, remove_broken: bool = True) -> str | None:
    """The newest complete DPO (Trainer) checkpoint; a half-written one (a kill while saving) is
    skipped and removed, so training continues from the one before or starts fresh."""
    return complete_checkpoint(Path(output_dir) / "checkpoints", remove_broken=remove_broken)


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


def _load_policy(base_dir: Path, adapter: str | Path | None, settings: DPOSettings,
                 device: str | None = None) -> tuple[Any, Any]:
    """``(model, peft_config)`` for ``DPOTrainer``.

    In full or half precision the SL-CAI adapter (if any) is merged into the base and a new LoRA is
    trained on top (the reference: the merged policy with that LoRA off); its delta is concatenated
    onto the SL-CAI adapter at the end. A 4-bit base cannot take a merge, so there the SL-CAI
    adapter itself is trained further and TRL keeps a frozen copy of it as the reference (its
    ``ref`` adapter): the result is again one adapter on the plain base."""
    from cai_desktop.engine.models import load_for_training

    four_bit = bool(getattr(settings, "load_in_4bit", False))
    if device in ("cpu", "mps"):  # the student role says so, even on a machine with a GPU: float32
        import torch

        from cai_desktop.engine.sft import _load_base

        model = _load_base(base_dir, torch.float32)
    else:
        model = load_for_training(base_dir, load_in_4bit=four_bit, what="policy model")
    if not adapter:
        return model, lora_config(settings)
    from peft import PeftModel

    if four_bit:
        return PeftModel.from_pretrained(model, str(adapter), is_trainable=True), None
    return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload(), lora_config(settings)


def train_dpo(
    policy_spec: Any,
    policy_adapter: str | Path | None,
    pairs: Sequence[dict[str, Any]],
    settings: DPOSettings,
    output_dir: str | Path,
    *,
    ctx: Any = None,
    resume: bool = False,
    device: str | None = None,
) -> dict[str, Any]:
    """DPO of a LoRA on the starting policy (the reference) with TRL's ``DPOTrainer``; ``device``:
    the student role's (``engine.sft.training_device``; None: automatic).

    bfloat16 on a CUDA GPU, float32 on a CPU, a 4-bit base on request; a GPU out-of-memory error
    halves the batch (``settings.adapt_batch``). Under ``accelerate launch`` every process trains
    and only the main one writes the delta and the final adapter."""
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback
    from trl import DPOConfig, DPOTrainer

    from cai_desktop.engine.callbacks import JobCallback
    from cai_desktop.engine.distributed import barrier, is_main_process
    from cai_desktop.engine.models import (
        halving_batches,
        load_tokenizer,
        training_dtype,
    )
    from cai_desktop.engine.sft import check_4bit_device, training_device, uses_cpu

    settings.check()
    device = training_device(device)
    check_4bit_device(settings, device)
    records = dpo_records(pairs)
    if not records:
        raise ValidationError("No preference pairs for DPO: label some comparisons first (or lower the margin).")
    output_dir, base_dir = prepare_policy(policy_spec, policy_adapter, output_dir, ctx)
    t_start = time.monotonic()
    _, bf16 = training_dtype()
    cpu = uses_cpu(device)
    bf16 = bf16 and not cpu and device != "mps"
    tokenizer = load_tokenizer(base_dir)
    checkpoint = last_dpo_checkpoint(output_dir) if resume else None
    if ctx is not None:
        ctx.log(f"DPO on {len(records)} pairs (beta {settings.beta})"
                + (f"; resuming from {Path(checkpoint).name}" if checkpoint else ""))
    callback = JobCallback(ctx)
    attempts: list[int] = []

    def attempt(used: DPOSettings):
        ckpt = last_dpo_checkpoint(output_dir) if attempts else checkpoint
        attempts.append(used.batch_size)
        model, peft_config = _load_policy(base_dir, policy_adapter, used, device)
        args = DPOConfig(
            output_dir=str(output_dir / "checkpoints"),
            beta=used.beta,
            loss_type=[used.loss_type],
            learning_rate=used.learning_rate,
            num_train_epochs=used.epochs,
            max_steps=used.max_steps if used.max_steps > 0 else -1,
            per_device_train_batch_size=used.batch_size,
            gradient_accumulation_steps=used.grad_accum,
            max_length=used.max_length,
            logging_steps=1,
            save_steps=used.save_steps,
            save_total_limit=2,
            warmup_steps=used.warmup_ratio,
            seed=used.seed,
            report_to=[],
            use_cpu=cpu,
            bf16=bf16,
            activation_checkpointing=bool(getattr(used, "activation_checkpointing", False)),
            dataloader_num_workers=0,
            disable_tqdm=True,
            ddp_find_unused_parameters=False,  # under accelerate (DDP): LoRA uses every trainable weight
        )
        trainer = DPOTrainer(
            model=model, ref_model=None, args=args, train_dataset=Dataset.from_list(records),
            processing_class=tokenizer, callbacks=[callback], peft_config=peft_config,
        )
        trainer.remove_callback(PrinterCallback)
        kept = len(trainer.train_dataset)
        if kept == 0:
            raise ValidationError(f"Every DPO prompt is longer than the maximum length ({used.max_length} tokens): "
                                  "raise the maximum length.")
        if kept < len(records) and ctx is not None and len(attempts) == 1:
            ctx.log(f"{len(records) - kept} pairs dropped: their prompt alone fills {used.max_length} tokens")
        out = trainer.train(resume_from_checkpoint=ckpt)
        return trainer, out, used

    trainer, out, used = halving_batches(settings, attempt, ctx=ctx)
    logs = trainer.state.log_history
    losses = [h["loss"] for h in logs if "loss" in h]
    accs = [h["rewards/accuracies"] for h in logs if "rewards/accuracies" in h]
    margins = [h["rewards/margins"] for h in logs if "rewards/margins" in h]
    result: dict[str, Any] = {
        "steps": trainer.state.global_step, "max_steps": trainer.state.max_steps,
        "pairs": len(records),
        "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None,
        "accuracy_last": accs[-1] if accs else None, "margin_last": margins[-1] if margins else None,
        "checkpoint": last_dpo_checkpoint(output_dir, remove_broken=is_main_process()),
        "peak_rss_mb": peak_rss_mb(), "seconds": time.monotonic() - t_start,
        "train_loss": float(out.training_loss) if out is not None else None,
        "batch_size": used.batch_size, "grad_accum": used.grad_accum,
        "load_in_4bit": bool(getattr(used, "load_in_4bit", False)), "processes": trainer.args.world_size,
        "device": str(trainer.args.device),
    }
    if callback.cancelled:
        raise Cancelled(f"cancelled at DPO step {trainer.state.global_step}; checkpoint {result['checkpoint']}")
    delta_dir = output_dir / "delta"
    adapter_dir = output_dir / "adapter"
    continued = bool(policy_adapter) and result["load_in_4bit"]  # the SL-CAI adapter itself was trained
    if is_main_process():
        tmp = fresh_dir(output_dir / "delta.partial")  # renamed in whole: a kill leaves it whole or absent
        trainer.model.save_pretrained(str(tmp), selected_adapters=["default"])
        replace_dir(tmp, delta_dir)
        if continued:
            tmp = fresh_dir(output_dir / "adapter.partial")
            trainer.model.save_pretrained(str(tmp), selected_adapters=["default"])
            tokenizer.padding_side = "left"
            tokenizer.save_pretrained(str(tmp))
            replace_dir(tmp, adapter_dir)
        else:
            finish_adapter(base_dir, policy_adapter, delta_dir, output_dir, tokenizer)
    barrier()  # the other processes return once the adapter is on disk
    result["adapter"] = str(adapter_dir)
    result["delta"] = str(delta_dir)
    return result


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
