"""LoRA SFT on the revisions (stage 1, SL-CAI) with TRL's SFTTrainer, and adapter merging.

Records are ``{"messages": [user, assistant]}``; they are trained as conversational
prompt/completion pairs so the loss falls on the assistant's answer only. Checkpoints go to
``output_dir/checkpoints``; the final adapter (PEFT format, with the tokenizer) to
``output_dir/adapter``. Cancel saves a checkpoint and stops; resume continues its step count.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cai_desktop.core.errors import Cancelled, ValidationError

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


@dataclass
class LoraSettings:
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str = "all-linear"

    def check(self) -> None:
        if self.rank < 1:
            raise ValidationError("The LoRA rank must be at least 1 (8–64 is usual).")
        if self.alpha < 1:
            raise ValidationError("The LoRA alpha must be at least 1 (often twice the rank).")
        if not 0 <= self.dropout < 1:
            raise ValidationError("The LoRA dropout must be between 0 and 1.")

    def peft_config(self, task_type: str = "CAUSAL_LM", modules_to_save: list[str] | None = None):
        from peft import LoraConfig

        targets: Any = self.target_modules
        if targets != "all-linear":
            targets = [t.strip() for t in str(targets).split(",") if t.strip()]
        return LoraConfig(r=self.rank, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=targets, task_type=task_type, modules_to_save=modules_to_save)


@dataclass
class TrainSettings:
    learning_rate: float = 2e-4
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 512
    save_steps: int = 20
    logging_steps: int = 1
    warmup_ratio: float = 0.05
    seed: int = 0

    def check(self) -> None:
        if self.learning_rate <= 0 or self.learning_rate > 1:
            raise ValidationError("The learning rate must be between 0 and 1 (2e-4 is a good LoRA default).")
        if self.batch_size < 1 or self.grad_accum < 1:
            raise ValidationError("Batch size and gradient accumulation must be at least 1.")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise ValidationError("Set a positive number of epochs or steps.")
        if self.max_length < 16:
            raise ValidationError("The maximum length must be at least 16 tokens.")
        if self.save_steps < 1:
            raise ValidationError("Save a checkpoint at least every few steps (save_steps ≥ 1).")


@dataclass
class SFTSettings:
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainSettings = field(default_factory=TrainSettings)

    def check(self) -> None:
        self.lora.check()
        self.train.check()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def training_args_kwargs(t: TrainSettings, output_dir: Path) -> dict[str, Any]:
    """The TrainingArguments every trainer here shares (CPU/GPU, checkpoints, quiet logging)."""
    import torch

    cuda = torch.cuda.is_available()
    return dict(
        output_dir=str(output_dir / "checkpoints"),
        learning_rate=t.learning_rate,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps if t.max_steps > 0 else -1,
        per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        logging_steps=t.logging_steps,
        save_steps=t.save_steps,
        save_total_limit=3,
        warmup_steps=t.warmup_ratio,  # a float < 1 is a fraction of the total steps
        seed=t.seed,
        report_to=[],
        use_cpu=not cuda,
        bf16=cuda and torch.cuda.is_bf16_supported(),
        dataloader_num_workers=0,
        disable_tqdm=True,
        include_num_input_tokens_seen=True,
        remove_unused_columns=True,
    )


def last_checkpoint(output_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    d = output_dir / "checkpoints"
    return get_last_checkpoint(str(d)) if d.is_dir() else None


def to_prompt_completion(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in records:
        msgs = r["messages"]
        if not msgs or msgs[-1]["role"] != "assistant":
            raise ValidationError("Each SFT record must end with the assistant's answer.")
        out.append({"prompt": msgs[:-1], "completion": [msgs[-1]]})
    return out


def train_sft(
    base_dir: str | Path,
    records: list[dict[str, Any]],
    settings: SFTSettings,
    output_dir: str | Path,
    *,
    ctx: Any = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Train a LoRA adapter on ``records``; returns steps, losses and the adapter path."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from cai_desktop.engine.callbacks import JobCallback
    from cai_desktop.engine.models import load_tokenizer

    settings.check()
    if not records:
        raise ValidationError("No training data: generate chains first (or relax the data selection).")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(Path(base_dir))
    tokenizer.padding_side = "right"
    dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=dtype)
    dataset = Dataset.from_list(to_prompt_completion(records))
    args = SFTConfig(**training_args_kwargs(settings.train, output_dir), max_length=settings.train.max_length,
                     completion_only_loss=True, packing=False)
    callback = JobCallback(ctx)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=settings.lora.peft_config(), callbacks=[callback])
    checkpoint = last_checkpoint(output_dir) if resume else None
    if ctx is not None and checkpoint:
        ctx.log(f"resuming from {Path(checkpoint).name}")
    trainer.train(resume_from_checkpoint=checkpoint)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    result = {
        "steps": trainer.state.global_step,
        "max_steps": trainer.state.max_steps,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "examples": len(records),
        "checkpoint": last_checkpoint(output_dir),
    }
    if callback.cancelled:
        raise Cancelled(f"cancelled at step {trainer.state.global_step}; checkpoint {result['checkpoint']}")
    adapter_dir = output_dir / "adapter"
    trainer.model.save_pretrained(str(adapter_dir))
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(str(adapter_dir))
    result["adapter"] = str(adapter_dir)
    return result


def merge_adapter(base_dir: str | Path, adapter_dir: str | Path, out_dir: str | Path, ctx: Any = None) -> Path:
    """Merge a LoRA adapter into its base: a full model folder any tool can load."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from cai_desktop.engine.models import load_tokenizer

    out_dir = Path(out_dir)
    if ctx is not None:
        ctx.progress(0, 2, "merging")
    model = AutoModelForCausalLM.from_pretrained(str(base_dir))
    model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    model.save_pretrained(str(out_dir), safe_serialization=True)
    load_tokenizer(Path(base_dir)).save_pretrained(str(out_dir))
    if ctx is not None:
        ctx.progress(2, 2, "merged")
    return out_dir
