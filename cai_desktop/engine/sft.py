"""LoRA SFT on the revisions (stage 1, SL-CAI) with TRL's SFTTrainer, and adapter merging.

Records are ``{"messages": [..., user, assistant]}``; they are trained as conversational
prompt/completion pairs so, by default, the loss falls on the assistant's answer only (the
prompt is context, not something to imitate). Checkpoints go to ``output_dir/checkpoints`` every
``save_steps``; the final adapter (PEFT format, with the tokenizer) to ``output_dir/adapter``.
Cancel saves a checkpoint and stops (``Cancelled`` is raised once the checkpoint is on disk);
``resume=True`` continues from the last checkpoint with its step count, optimiser and scheduler.

The base is always loaded fresh from its local folder (never the cached inference model), and
everything goes through the HF ``Trainer``, so the same function runs under ``accelerate launch``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from cai_desktop.core.errors import Cancelled, ModelError, ValidationError
from cai_desktop.core.settings import SFTSettings, target_list

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

ROLES = ("system", "user", "assistant")


def lora_config(settings: Any, task_type: str = "CAUSAL_LM"):
    """PEFT's LoraConfig for any settings object with the shared ``lora_*`` fields."""
    from peft import LoraConfig

    return LoraConfig(r=settings.lora_rank, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                      target_modules=target_list(settings.target_modules), task_type=task_type)


def training_device(device: str | None, who: str = "the student role") -> str | None:
    """The device a trainer runs on, from a role's device setting (the student role's for every
    training job); checked before anything loads, a device this machine lacks refused in one line.

    - None / "auto": automatic (returns None): this process's GPU when there is one, else the CPU.
    - "cpu": the CPU even on a machine with a GPU (``use_cpu`` in the training arguments).
    - "cuda": the first visible GPU (the Trainer's own choice; "cuda:0").
    - "cuda:N": GPU N alone. The Trainer always trains on the first visible GPU, so
      ``CUDA_VISIBLE_DEVICES`` is narrowed to GPU N before CUDA starts in this process (for the rest
      of the process); when CUDA has already started here, only GPU 0 can be chosen.
    - "mps": Apple's GPU.

    Under ``accelerate launch`` the launcher's configuration decides (each process its own GPU):
    the role's device is not applied (None)."""
    import torch

    from cai_desktop.engine.distributed import distributed

    if device in (None, "", "auto") or distributed():
        return None
    if device == "cpu":
        return "cpu"
    if device == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise ModelError(f"The device of {who} is mps, but Apple's GPU is not available here: set it to cpu or "
                             "automatic.")
        return "mps"
    m = re.fullmatch(r"cuda(?::(\d+))?", device)
    if m is None:
        raise ModelError(f"The device of {who} is {device!r}, which is not cpu, cuda, cuda:N, mps or automatic.")
    if not torch.cuda.is_available():
        raise ModelError(f"The device of {who} is {device}, but this machine has no CUDA GPU: set it to cpu or "
                         "automatic.")
    index = int(m.group(1) or 0)
    if index == 0:
        return "cuda"
    if index >= torch.cuda.device_count():
        raise ModelError(f"The device of {who} is {device}, but this machine has {torch.cuda.device_count()} "
                         "CUDA GPU(s) (cuda:0 is the first).")
    if torch.cuda.is_initialized():
        raise ModelError(f"The device of {who} is {device}, but this process already uses the first GPU: start "
                         "the app again (or run the job on its own) to train on another GPU.")
    visible = [v for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    os.environ["CUDA_VISIBLE_DEVICES"] = visible[index] if index < len(visible) else str(index)
    return "cuda"


def uses_cpu(device: str | None) -> bool:
    """Whether a trainer for ``device`` (from ``training_device``) runs on the CPU."""
    import torch

    return device == "cpu" or (device != "mps" and not torch.cuda.is_available())


def training_kwargs(settings: SFTSettings, output_dir: Path, device: str | None = None) -> dict[str, Any]:
    """TrainingArguments shared with the other trainers (CPU/GPU, checkpoints, quiet logs);
    ``device`` from ``training_device`` (None: automatic)."""
    import torch

    cpu = uses_cpu(device)
    cuda = not cpu and device != "mps"
    return dict(
        output_dir=str(Path(output_dir) / "checkpoints"),
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps if settings.max_steps > 0 else -1,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        logging_steps=settings.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=3,
        warmup_steps=settings.warmup_ratio,  # a float < 1 is a fraction of the total steps
        seed=settings.seed,
        data_seed=settings.seed,
        report_to=[],
        use_cpu=cpu,
        bf16=cuda and torch.cuda.is_bf16_supported(),
        dataloader_num_workers=0,
        disable_tqdm=True,
        include_num_input_tokens_seen=True,
        remove_unused_columns=True,
        activation_checkpointing=settings.activation_checkpointing,
        ddp_find_unused_parameters=False,  # under accelerate (DDP): LoRA uses every trainable weight
    )


# -- helpers -----------------------------------------------------------------------------------------
#: any one of these in a checkpoint folder holds its weights (a LoRA adapter or a whole model)
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "pytorch_model.bin",
                "model.safetensors.index.json", "pytorch_model.bin.index.json")
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_complete(folder: str | Path) -> bool:
    """Whether a Trainer checkpoint folder was written to the end: its weights are there and its
    ``trainer_state.json`` (which the Trainer writes last, after the optimiser, scheduler and RNG
    states) reads as JSON. A process killed while saving leaves a folder that fails this."""
    folder = Path(folder)
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        return False
    try:
        state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(state, dict) and "global_step" in state


def complete_checkpoint(folder: str | Path, remove_broken: bool = True) -> str | None:
    """The newest complete ``checkpoint-N`` directly under ``folder`` (None: none, a fresh start).

    Half-written ones (see ``checkpoint_complete``) are skipped and, with ``remove_broken``,
    deleted, so the Trainer neither resumes from one nor counts one when it rotates old
    checkpoints. Every trainer's checkpoint finder is this one."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = sorted(((int(m.group(1)), p) for p in folder.iterdir()
                    if p.is_dir() and (m := _CHECKPOINT.match(p.name))), reverse=True)
    for _, path in found:
        if checkpoint_complete(path):
            return str(path)
        if remove_broken:
            _remove_dir(path)
    return None


def _remove_dir(path: Path) -> None:
    """Delete a folder; renamed first, so a kill halfway never leaves something that looks whole."""
    doomed = path.with_name(f".{path.name}.deleting-{os.getpid()}")
    try:
        os.replace(path, doomed)
    except OSError:
        doomed = path
    shutil.rmtree(doomed, ignore_errors=True)


def replace_dir(tmp: str | Path, final: str | Path) -> Path:
    """Put a fully written folder ``tmp`` in place of ``final`` (renames: ``final`` is either the
    old folder or the new one, never half of one)."""
    tmp, final = Path(tmp), Path(final)
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    return final


def fresh_dir(path: str | Path) -> Path:
    """An empty folder to write into before ``replace_dir`` (a leftover from a kill is removed)."""
    path = Path(path)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def last_checkpoint(output_dir: str | Path, remove_broken: bool | None = None) -> str | None:
    """The newest complete ``checkpoint-N`` under ``output_dir/checkpoints`` (None if none).
    Half-written ones are removed by the main process only (``remove_broken=None``)."""
    if remove_broken is None:
        from cai_desktop.engine.distributed import is_main_process

        remove_broken = is_main_process()
    return complete_checkpoint(Path(output_dir) / "checkpoints", remove_broken=remove_broken)


def checkpoint_step(path: str | Path | None) -> int:
    return int(Path(path).name.rsplit("-", 1)[-1]) if path else 0


def to_prompt_completion(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` records → conversational prompt/completion rows; bad records raise one clear line."""
    out = []
    for i, r in enumerate(records):
        msgs = r.get("messages") if isinstance(r, dict) else None
        if not isinstance(msgs, list) or len(msgs) < 2:
            raise ValidationError(f"SFT record {i + 1} needs a 'messages' list with a prompt and an answer.")
        for m in msgs:
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise ValidationError(f"SFT record {i + 1} has a message without a valid role and text content.")
        if msgs[-1]["role"] != "assistant" or not msgs[-1]["content"].strip():
            raise ValidationError(f"SFT record {i + 1} must end with a non-empty assistant answer.")
        out.append({"prompt": [dict(m) for m in msgs[:-1]], "completion": [dict(msgs[-1])]})
    return out


def resolve_base_dir(base: Any, ctx: Any = None) -> tuple[Path, str]:
    """A local folder for a spec string, ``ModelSpec`` or path; returns (folder, spec string)."""
    from cai_desktop.engine.models import local_model_dir, resolve_spec

    spec = resolve_spec(str(base) if isinstance(base, Path) else base)
    return Path(local_model_dir(spec, ctx)), spec.to_str()


def _check_targets(model: Any, settings: SFTSettings) -> None:
    import torch

    targets = target_list(settings.target_modules)
    if targets == "all-linear":
        return
    linear = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    missing = [t for t in targets if t not in linear]
    if missing:
        raise ValidationError(
            f"Target module(s) {', '.join(missing)} are not in this model; it has: {', '.join(sorted(linear))}."
        )


def _load_base(base_dir: Path, dtype: Any):
    """The base in ``dtype`` (merging: float32 on the CPU)."""
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=dtype)
    except (OSError, ValueError) as e:
        raise ModelError(f"Could not load the base model from {base_dir}: {e}") from None


def _load_training_base(base_dir: Path, settings: Any, device: str | None = None):
    """The base a trainer puts its LoRA on: bfloat16 on CUDA, float32 on a CPU (also when the
    student role says cpu on a machine with a GPU), 4-bit on request."""
    import torch

    from cai_desktop.engine.models import load_for_training

    if device in ("cpu", "mps"):
        return _load_base(base_dir, torch.float32)
    return load_for_training(base_dir, load_in_4bit=bool(getattr(settings, "load_in_4bit", False)))


def check_4bit_device(settings: Any, device: str | None) -> None:
    """A 4-bit base trains on a CUDA GPU only: one line before any loading."""
    if not getattr(settings, "load_in_4bit", False):
        return
    from cai_desktop.engine.models import FOUR_BIT_LABEL, check_4bit

    if device in ("cpu", "mps"):
        raise ModelError(f"A {FOUR_BIT_LABEL} needs a CUDA GPU, and this run trains on the {device}: turn off "
                         f"'{FOUR_BIT_LABEL}' or train on cuda (or automatic).")
    check_4bit()


# -- training ----------------------------------------------------------------------------------------
def train_sft(
    base: Any,
    records: list[dict[str, Any]],
    settings: SFTSettings,
    output_dir: str | Path,
    *,
    ctx: Any = None,
    resume: bool = False,
    device: str | None = None,
) -> dict[str, Any]:
    """Train a LoRA adapter on ``records``; returns steps, losses, throughput and the adapter path.

    ``base`` is a model spec (None/"default" = the embedded model, a folder, a .gguf, a hub id);
    ``device`` the student role's device (see ``training_device``; None: automatic).
    Raises ``Cancelled`` (after a checkpoint is on disk) when ``ctx.cancelled()`` turns true.
    """
    import datasets
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    from cai_desktop.engine.callbacks import JobCallback
    from cai_desktop.engine.distributed import barrier
    from cai_desktop.engine.models import halving_batches, load_tokenizer

    settings.check()
    device = training_device(device)
    check_4bit_device(settings, device)
    if not records:
        raise ValidationError("No training data: generate chains first (or relax the data selection).")
    rows = to_prompt_completion(records)
    if ctx is not None and ctx.cancelled():
        raise Cancelled("cancelled before training started")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    base_dir, base_spec = resolve_base_dir(base, ctx)

    checkpoint = last_checkpoint(output_dir) if resume else None
    if ctx is not None and resume:
        ctx.log(f"resuming from {Path(checkpoint).name}" if checkpoint else "no checkpoint yet: starting from step 0")

    tokenizer = load_tokenizer(base_dir)
    tokenizer.padding_side = "right"  # training pads right; generation (left) is set again on save
    callback = JobCallback(ctx)
    attempts: list[int] = []

    def attempt(used: SFTSettings):
        # a retry after an out-of-memory error goes on from the newest checkpoint of this run
        ckpt = last_checkpoint(output_dir) if attempts else checkpoint
        attempts.append(used.batch_size)
        model = _load_training_base(base_dir, used, device)
        _check_targets(model, used)
        args = SFTConfig(**training_kwargs(used, output_dir, device), max_length=used.max_length,
                         completion_only_loss=used.loss_on == "completion", packing=False)
        bars = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()  # dataset preparation bars would garble the job's own progress
        try:
            trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                 processing_class=tokenizer, peft_config=lora_config(used), callbacks=[callback])
        finally:
            if bars:
                datasets.enable_progress_bars()
        kept = len(trainer.train_dataset)
        if kept == 0:
            raise ValidationError(
                f"No example has any answer left within max_length={used.max_length} tokens; raise max_length."
            )
        if kept < len(rows) and ctx is not None and len(attempts) == 1:
            ctx.log(f"{len(rows) - kept} examples had no answer left within {used.max_length} tokens; skipped")
        trainer.remove_callback(PrinterCallback)  # metrics go to the job context, not stdout
        trainer.train(resume_from_checkpoint=ckpt)
        return trainer, used

    trainer, used = halving_batches(settings, attempt, ctx=ctx)
    start_step = checkpoint_step(checkpoint)
    state = trainer.state
    logs = [h for h in state.log_history if "loss" in h]
    losses = [h["loss"] for h in logs]
    summary = next((h for h in reversed(state.log_history) if "train_runtime" in h), {})
    steps_run = state.global_step - start_step
    runtime = summary.get("train_runtime")
    result: dict[str, Any] = {
        "base_model": base_spec,
        "steps": state.global_step,
        "max_steps": state.max_steps,
        "resumed_from_step": start_step if checkpoint else None,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "train_loss": summary.get("train_loss"),
        "examples": len(records),
        "seconds_per_step": runtime / steps_run if runtime and steps_run > 0 else None,
        "tokens_seen": getattr(state, "num_input_tokens_seen", None),
        "batch_size": used.batch_size,
        "grad_accum": used.grad_accum,
        "load_in_4bit": bool(getattr(used, "load_in_4bit", False)),
        "processes": trainer.args.world_size,
        "device": str(trainer.args.device),
    }

    if callback.cancelled and state.global_step < state.max_steps:
        ckpt = last_checkpoint(output_dir)
        if checkpoint_step(ckpt) != state.global_step:
            # The callback asks the Trainer to save on cancel; make sure it happened.
            trainer._save_checkpoint(trainer.model, trial=None)
            ckpt = last_checkpoint(output_dir)
        if not ckpt:
            raise Cancelled(f"cancelled at step {state.global_step}, but no checkpoint could be saved")
        raise Cancelled(f"cancelled at step {state.global_step}; checkpoint {Path(ckpt).name} keeps the work")

    adapter_dir = output_dir / "adapter"
    # written beside and renamed into place: a kill while saving leaves the old adapter or none
    tmp_dir = output_dir / "adapter.partial"
    if trainer.is_world_process_zero():
        shutil.rmtree(tmp_dir, ignore_errors=True)
    trainer.save_model(str(tmp_dir))  # PEFT format (adapter only), main process only
    if trainer.is_world_process_zero():
        tokenizer.padding_side = "left"
        tokenizer.save_pretrained(str(tmp_dir))
        info = {"base_model": base_spec, "settings": used.values(SFTSettings), "examples": len(records),
                "steps": state.global_step, "loss_first": result["loss_first"], "loss_last": result["loss_last"]}
        (tmp_dir / "cai_adapter.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
        replace_dir(tmp_dir, adapter_dir)
    barrier()  # under accelerate the other processes return once the adapter is on disk
    result["checkpoint"] = last_checkpoint(output_dir)
    result["adapter"] = str(adapter_dir)
    return result


# -- merging -----------------------------------------------------------------------------------------
def merge_adapter(base: Any, adapter_dir: str | Path, out_dir: str | Path, ctx: Any = None) -> Path:
    """Merge a LoRA adapter into its base: a full model folder (+ tokenizer) any tool can load.

    ``base`` is the adapter's base model spec (None = the one recorded in the adapter folder).
    The folder is written under a temporary name and renamed, so a failure leaves nothing half-made.
    """
    import torch
    from peft import PeftModel

    from cai_desktop.engine.models import load_tokenizer

    adapter_dir = Path(adapter_dir)
    out_dir = Path(out_dir).expanduser()
    if not (adapter_dir / "adapter_config.json").exists():
        raise ModelError(f"{adapter_dir} is not a LoRA adapter folder (no adapter_config.json).")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ValidationError(f"{out_dir} already exists and is not empty; choose a new folder.")
    if not out_dir.parent.exists():
        raise ValidationError(f"The folder {out_dir.parent} does not exist.")
    if base is None:
        info = adapter_dir / "cai_adapter.json"
        if info.exists():
            base = json.loads(info.read_text(encoding="utf-8")).get("base_model")
        else:
            base = json.loads((adapter_dir / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if ctx is not None:
        ctx.progress(0, 3, "loading the base model")
    base_dir, base_spec = resolve_base_dir(base, ctx)
    model = _load_base(base_dir, torch.float32)  # merge in full precision
    if ctx is not None:
        ctx.progress(1, 3, "merging the adapter")
    try:
        model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    except (ValueError, RuntimeError, KeyError) as e:
        raise ModelError(f"The adapter in {adapter_dir.name} does not fit the base model {base_spec}: {e}") from None
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(str(tmp))
        tok_src = adapter_dir if (adapter_dir / "tokenizer_config.json").exists() else base_dir
        tokenizer = load_tokenizer(tok_src)
        tokenizer.padding_side = "left"
        tokenizer.save_pretrained(str(tmp))
        (tmp / "cai_merge.json").write_text(
            json.dumps({"base_model": base_spec, "adapter": str(adapter_dir.resolve())}, indent=2), encoding="utf-8"
        )
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if ctx is not None:
        ctx.progress(3, 3, "merged")
    return out_dir
