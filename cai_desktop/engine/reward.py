"""The preference model: a sequence classifier with a scalar head, trained on soft AI labels.

A chosen base model gets a one-output classification head (``score``) and LoRA on its linear
layers; the head is trained in full (``modules_to_save``). Training uses TRL's ``RewardTrainer``,
extended for soft labels: the loss is the binary cross-entropy of sigma(r_chosen - r_rejected)
against the label (the probability that "chosen" is better). With hard labels (target 1) this is
the standard -log sigma(r_chosen - r_rejected).

The result is saved twice: the LoRA adapter with its score head (``adapter/``; the head is in
``modules_to_save``, so a reload gives the same rewards) and a merged, self-contained
sequence-classification model with its tokenizer (``model/``) that loads with
``AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)``.

RL loads the adapter onto the policy's own frozen base (``SharedClassifier``): one base in memory
serves the policy, the reference and the preference model. A preference model on another base (or
one saved without its adapter) is loaded whole from ``model/`` instead.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from trl import RewardConfig, RewardTrainer
from trl.trainer.reward_trainer import DataCollatorForPreference

from cai_desktop.core.errors import Cancelled, ModelError, ValidationError
from cai_desktop.core.feedback import calibration_bins, expected_calibration_error
from cai_desktop.core.settings import RewardSettings
from cai_desktop.engine.callbacks import JobCallback

META_FILE = "cai_reward.json"


# -- the loss ----------------------------------------------------------------------------------------
def soft_preference_loss(
    r_chosen: torch.Tensor, r_rejected: torch.Tensor, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean BCE of sigma(r_chosen - r_rejected) against ``labels`` (None = hard labels, all 1)."""
    diff = r_chosen - r_rejected
    if labels is None:
        return -nn.functional.logsigmoid(diff).mean()
    return nn.functional.binary_cross_entropy_with_logits(diff, labels.to(diff.dtype))


@dataclass
class SoftPreferenceCollator(DataCollatorForPreference):
    """TRL's preference collator, plus the soft label of each pair."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        out = super().torch_call(examples)
        out["soft_label"] = torch.tensor([float(e["soft_label"]) for e in examples], dtype=torch.float)
        return out


class SoftRewardTrainer(RewardTrainer):
    """``RewardTrainer`` whose loss uses the soft labels (or hard ones when ``hard_labels``)."""

    def __init__(self, *args: Any, hard_labels: bool = False, **kwargs: Any):
        self.hard_labels = hard_labels
        super().__init__(*args, **kwargs)

    def _set_signature_columns_if_needed(self):
        if self._signature_columns is None:
            self._signature_columns = ["chosen_ids", "rejected_ids", "soft_label"]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        labels = inputs.pop("soft_label", None)
        inputs.pop("margin", None)
        inputs["use_cache"] = False
        outputs = model(**inputs)
        rewards_chosen, rewards_rejected = torch.chunk(outputs.logits.squeeze(-1), chunks=2)
        loss = soft_preference_loss(rewards_chosen, rewards_rejected, None if self.hard_labels else labels)
        if self.args.center_rewards_coefficient is not None:
            loss = loss + self.args.center_rewards_coefficient * torch.mean((rewards_chosen + rewards_rejected) ** 2)
        if mode == "train":
            self._total_train_tokens += int(inputs["attention_mask"].sum().item())
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        with torch.no_grad():
            rewards = outputs.logits.detach()
            self._metrics[mode]["mean_reward"].append(rewards.mean().item())
            self._metrics[mode]["accuracy"].append((rewards_chosen > rewards_rejected).float().mean().item())
            self._metrics[mode]["margin"].append((rewards_chosen - rewards_rejected).mean().item())
        return (loss, outputs) if return_outputs else loss


# -- texts and tokens --------------------------------------------------------------------------------
def format_text(tokenizer: Any, prompt: str, response: str) -> str:
    """The text a preference model scores: the conversation in the tokenizer's chat format."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}], tokenize=False
        )
    return f"Human: {prompt}\n\nAssistant: {response}"


def encode(tokenizer: Any, prompt: str, response: str, max_length: int) -> list[int]:
    chat = bool(getattr(tokenizer, "chat_template", None))
    ids = tokenizer(format_text(tokenizer, prompt, response), add_special_tokens=not chat)["input_ids"]
    return ids[-max_length:]


def _rewards(model: Any, tokenizer: Any, seqs: Sequence[list[int]], batch_size: int, device: str) -> list[float]:
    out: list[float] = []
    pad = tokenizer.pad_token_id
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(seqs), batch_size):
            chunk = seqs[start: start + batch_size]
            width = max(len(s) for s in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for i, s in enumerate(chunk):
                ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
                mask[i, : len(s)] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            out += [float(x) for x in logits[:, 0].float().cpu()]
    if was_training:
        model.train()
    return out


def evaluate_preferences(
    model: Any, tokenizer: Any, records: Sequence[dict[str, Any]], *, max_length: int = 512,
    batch_size: int = 8, bins: int = 5, device: str = "cpu",
) -> dict[str, Any]:
    """Held-out accuracy and calibration of a preference model on ``{"prompt","chosen","rejected","label"}``.

    Accuracy: the share of pairs where the model prefers the side the label prefers (labels of
    exactly 0.5 are ties and left out). Calibration: predicted p = sigma(r_chosen - r_rejected)
    against the label, in bins; both orientations of each pair are counted so the table is
    symmetric around 0.5.
    """
    if not records:
        return {"n": 0, "accuracy": None, "calibration": [], "ece": None, "mean_margin": None}
    seqs_c = [encode(tokenizer, r["prompt"], r["chosen"], max_length) for r in records]
    seqs_r = [encode(tokenizer, r["prompt"], r["rejected"], max_length) for r in records]
    rc = _rewards(model, tokenizer, seqs_c, batch_size, device)
    rr = _rewards(model, tokenizer, seqs_r, batch_size, device)
    hits = n = 0
    preds, labels = [], []
    for r, a, b in zip(records, rc, rr):
        label = float(r.get("label", 1.0))
        p = 1.0 / (1.0 + math.exp(-(a - b)))
        preds += [p, 1.0 - p]
        labels += [label, 1.0 - label]
        if label != 0.5 and a != b:
            n += 1
            hits += int((a > b) == (label > 0.5))
    table = calibration_bins(preds, labels, bins)
    return {
        "n": len(records), "n_scored": n, "accuracy": hits / n if n else None,
        "calibration": table, "ece": expected_calibration_error(table),
        "mean_margin": sum(a - b for a, b in zip(rc, rr)) / len(records),
    }


# -- training ----------------------------------------------------------------------------------------
def _dataset(tokenizer: Any, records: Sequence[dict[str, Any]], max_length: int):
    from datasets import Dataset

    rows = []
    for r in records:
        label = float(r.get("label", 1.0))
        if not 0.0 <= label <= 1.0:
            raise ValidationError(f"A preference label must be between 0 and 1, not {label}.")
        rows.append({
            "chosen_ids": encode(tokenizer, r["prompt"], r["chosen"], max_length),
            "rejected_ids": encode(tokenizer, r["prompt"], r["rejected"], max_length),
            "soft_label": label,
        })
    return Dataset.from_list(rows)


def load_classifier(path: str | Path, dtype: Any = None):
    """A one-output sequence classifier on a causal-LM folder (the new head starts random)."""
    from transformers import AutoModelForSequenceClassification

    try:
        from trl.trainer.reward_trainer import suppress_seqcls_warning
    except ImportError:  # pragma: no cover - older TRL
        from contextlib import nullcontext as suppress_seqcls_warning
    try:
        with suppress_seqcls_warning():
            return AutoModelForSequenceClassification.from_pretrained(
                str(path), num_labels=1, dtype=dtype or torch.float32
            )
    except (OSError, ValueError) as e:
        raise ModelError(f"Could not load {path} as a preference model: {e}") from None


def _load_reward_base(base_dir: str | Path, settings: RewardSettings, device: str) -> Any:
    """The classifier the preference model trains: float32 on a CPU, bfloat16 on CUDA (through
    ``load_for_training``), 4-bit NF4 on request."""
    if not device.startswith("cuda"):
        return load_classifier(base_dir)
    from transformers import AutoModelForSequenceClassification

    from cai_desktop.engine.models import load_for_training

    return load_for_training(base_dir, load_in_4bit=settings.load_in_4bit, cls=AutoModelForSequenceClassification,
                             what="preference model", num_labels=1)


def score_head_name(model: Any) -> str:
    """The name of a sequence classifier's output layer (``score`` for Llama, Qwen, Gemma, GPT-2 ...;
    ``classifier`` for a few others): the module LoRA must save whole (``modules_to_save``)."""
    n_labels = getattr(model.config, "num_labels", 1)
    for name in ("score", "classifier"):
        if isinstance(getattr(model, name, None), nn.Linear):
            return name
    for name, module in model.named_children():
        if isinstance(module, nn.Linear) and module.out_features == n_labels:
            return name
    raise ModelError(f"{type(model).__name__} has no classification head this app knows.")


def _linear_leaf_names(model: Any) -> list[str]:
    """Names of the linear layers inside the transformer blocks (q_proj, up_proj, ...)."""
    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and any(part.isdigit() for part in name.split("."))
    }
    return sorted(names - {"score", "lm_head"})


def last_checkpoint(folder: Path) -> str | None:
    """The newest complete checkpoint in ``folder``; a half-written one (a kill while saving) is
    skipped and removed (by the main process only), so training continues from the one before or
    starts fresh."""
    from cai_desktop.engine.distributed import is_main_process
    from cai_desktop.engine.sft import complete_checkpoint

    return complete_checkpoint(folder, remove_broken=is_main_process())


def train_reward_model(
    base_dir: str | Path,
    train_records: Sequence[dict[str, Any]],
    eval_records: Sequence[dict[str, Any]],
    output_dir: str | Path,
    settings: RewardSettings | None = None,
    *,
    ctx: Any = None,
    resume: bool = False,
    base_spec: str = "",
    device: str | None = None,
) -> dict[str, Any]:
    """Train a preference model; returns paths, training figures and held-out evaluation.

    ``device``: where to train (the job's device setting, else the student role's; see
    ``engine.sft.training_device``); None: ``settings.device``, automatic when that is unset.

    Checkpoints go to ``output_dir/checkpoints``; with ``resume`` the newest one is continued.
    A cancel saves a checkpoint first and raises ``Cancelled``.
    """
    from peft import LoraConfig

    from cai_desktop.engine.models import load_tokenizer, pick_device

    settings = settings or RewardSettings()
    settings.check()
    if not train_records:
        raise ValidationError("No labelled comparisons to train on: run the label job first.")
    from cai_desktop.engine.models import halving_batches
    from cai_desktop.engine.sft import check_4bit_device, training_device

    wanted = training_device(device if device is not None else settings.device)
    check_4bit_device(settings, wanted)  # one line before anything loads
    device, dtype = pick_device(wanted, settings.dtype)
    output_dir = Path(output_dir)
    ckpt_dir = output_dir / "checkpoints"
    output_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(Path(base_dir))
    tokenizer.padding_side = "right"
    train_ds = _dataset(tokenizer, train_records, settings.max_length)
    on_cuda = device.startswith("cuda")
    callback = JobCallback(ctx)
    attempts: list[int] = []

    def attempt(used: RewardSettings):
        # a retry after a GPU out-of-memory error goes on from the newest checkpoint of this run
        resume_from = last_checkpoint(ckpt_dir) if (resume or attempts) else None
        attempts.append(used.batch_size)
        model = _load_reward_base(base_dir, used, device)
        model.config.pad_token_id = tokenizer.pad_token_id
        layers = None
        n_layers = getattr(model.config, "num_hidden_layers", None)
        if used.lora_layers and n_layers:
            layers = list(range(max(0, n_layers - used.lora_layers), n_layers))
        targets = used.target_modules
        if layers is not None and isinstance(targets, str):
            targets = _linear_leaf_names(model)  # peft needs names, not "all-linear", with a layer list
        peft_config = LoraConfig(
            task_type="SEQ_CLS", r=used.lora_rank, lora_alpha=used.lora_alpha,
            lora_dropout=used.lora_dropout, target_modules=targets, modules_to_save=[score_head_name(model)],
            layers_to_transform=layers,
        )
        args = RewardConfig(
            output_dir=str(ckpt_dir),
            per_device_train_batch_size=used.batch_size,
            gradient_accumulation_steps=used.grad_accum,
            num_train_epochs=used.epochs,
            max_steps=used.max_steps if used.max_steps > 0 else -1,
            learning_rate=used.learning_rate,
            logging_steps=used.logging_steps,
            save_strategy="steps",
            save_steps=used.save_steps,
            save_total_limit=used.save_total_limit,
            report_to=[],
            seed=used.seed,
            max_length=None,
            use_cpu=device == "cpu",
            bf16=on_cuda and dtype == "bfloat16",
            fp16=on_cuda and dtype == "float16",
            activation_checkpointing=used.activation_checkpointing,
            dataloader_num_workers=0,
            center_rewards_coefficient=used.center_rewards_coefficient,
            disable_tqdm=True,
        )
        trainer = SoftRewardTrainer(
            model=model, args=args, train_dataset=train_ds, processing_class=tokenizer,
            data_collator=SoftPreferenceCollator(pad_token_id=tokenizer.pad_token_id),
            peft_config=peft_config, callbacks=[callback], hard_labels=used.hard_labels,
        )
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        for noisy in (PrinterCallback, ProgressCallback):  # the job context reports instead
            trainer.remove_callback(noisy)
        if ctx is not None and len(attempts) == 1:
            n_trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
            ctx.log(f"preference model: {len(train_records)} train / {len(eval_records)} held-out pairs, "
                    f"{n_trainable:,} trainable parameters, {'soft' if not used.hard_labels else 'hard'} labels, "
                    f"{device}" + (", 4-bit base" if used.load_in_4bit else "")
                    + (f", resuming from {Path(resume_from).name}" if resume_from else ""))
        return trainer, trainer.train(resume_from_checkpoint=resume_from), used

    trainer, out, used = halving_batches(settings, attempt, ctx=ctx, cuda=on_cuda)
    if callback.cancelled:
        raise Cancelled("cancelled by the user; a checkpoint was saved, resume to continue")
    peft_model = trainer.model
    dev = str(next(peft_model.parameters()).device)
    evaluation = evaluate_preferences(
        peft_model, tokenizer, eval_records, max_length=settings.max_length, bins=settings.eval_bins, device=dev
    )
    train_eval = evaluate_preferences(
        peft_model, tokenizer, list(train_records)[:16], max_length=settings.max_length, bins=settings.eval_bins,
        device=dev,
    )
    # rewards of a few training answers scored in memory, before saving: a reload must match them
    probe = [encode(tokenizer, r["prompt"], r["chosen"], settings.max_length) for r in list(train_records)[:4]]
    probe_rewards = _rewards(peft_model, tokenizer, probe, 8, dev)
    from cai_desktop.engine.distributed import barrier, is_main_process

    # each folder is written beside its place and renamed in: a kill leaves it whole or absent;
    # under ``accelerate launch`` only the main process writes them, the others wait until they are
    adapter_dir = output_dir / "adapter"
    model_dir = output_dir / "model"
    if is_main_process():
        _save_reward_model(peft_model, tokenizer, output_dir, adapter_dir, model_dir, settings,
                           base_spec or str(base_dir), base_dir if used.load_in_4bit else None)
    barrier()
    return {
        "model_dir": str(model_dir), "adapter_dir": str(adapter_dir),
        "steps": int(out.global_step), "train_loss": float(out.training_loss),
        "eval": evaluation, "train_eval": train_eval,
        "probe": [{"prompt": r["prompt"], "response": r["chosen"]} for r in list(train_records)[:4]],
        "probe_rewards": probe_rewards, "processes": int(trainer.args.world_size),
        "device": str(trainer.args.device),
    }


def _save_reward_model(peft_model: Any, tokenizer: Any, output_dir: Path, adapter_dir: Path, model_dir: Path,
                       settings: RewardSettings, base: str, reload_base: str | Path | None = None) -> None:
    """The LoRA adapter and the merged model folder (with its meta file), each renamed into place.
    ``reload_base``: a 4-bit base cannot take a merge, so the adapter is merged into a fresh
    full-precision load of it."""
    from cai_desktop.engine.sft import fresh_dir, replace_dir

    tmp = fresh_dir(output_dir / "adapter.partial")
    peft_model.save_pretrained(str(tmp))
    replace_dir(tmp, adapter_dir)
    if reload_base is not None:
        from peft import PeftModel

        from cai_desktop.engine.models import training_dtype

        del peft_model
        full = load_classifier(reload_base, training_dtype()[0])
        full.config.pad_token_id = tokenizer.pad_token_id
        merged = PeftModel.from_pretrained(full, str(adapter_dir)).merge_and_unload()
    else:
        merged = peft_model.merge_and_unload()
    merged.config.pad_token_id = tokenizer.pad_token_id
    tmp = fresh_dir(output_dir / "model.partial")
    merged.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    meta = {"base": base, "format": "chat" if tokenizer.chat_template else "transcript",
            "max_length": settings.max_length, "settings": settings.values(RewardSettings)}
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
    clear_reward_cache()
    replace_dir(tmp, model_dir)


# -- scoring -----------------------------------------------------------------------------------------
_cache: dict[tuple[str, str], tuple[Any, Any]] = {}
_cache_lock = threading.Lock()


def load_reward_model(model_dir: str | Path, device: str | None = None) -> tuple[Any, Any, str]:
    """A saved preference model and its tokenizer (cached per folder and device)."""
    from cai_desktop.engine.models import load_tokenizer, pick_device

    path = Path(model_dir)
    if not (path / "config.json").is_file():
        raise ModelError(f"{path} is not a preference model folder (no config.json).")
    device, _ = pick_device(device, None)
    key = (str(path.resolve()), device)
    with _cache_lock:
        if key in _cache:
            model, tok = _cache[key]
            return model, tok, device
    tok = load_tokenizer(path)
    tok.padding_side = "right"
    model = load_classifier(path)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    model.to(device).eval()
    with _cache_lock:
        _cache[key] = (model, tok)
    return model, tok, device


def clear_reward_cache() -> None:
    with _cache_lock:
        _cache.clear()


def score(
    model_dir: str | Path, prompts: Sequence[str], responses: Sequence[str], *, batch_size: int = 8,
    device: str | None = None, max_length: int | None = None,
) -> list[float]:
    """The preference model's reward for each prompt/answer (higher = preferred)."""
    if len(prompts) != len(responses):
        raise ValidationError("Give one answer per prompt to score.")
    if not prompts:
        return []
    model, tok, device = load_reward_model(model_dir, device)
    if max_length is None:
        meta = Path(model_dir) / META_FILE
        max_length = json.loads(meta.read_text()).get("max_length", 512) if meta.is_file() else 512
    seqs = [encode(tok, p, r, max_length) for p, r in zip(prompts, responses)]
    return _rewards(model, tok, seqs, batch_size, device)


# -- the preference model on a shared frozen base ------------------------------------------------
ADAPTER_NAME = "reward"


def activate_adapters(model: Any, names: Sequence[str]) -> None:
    """Make ``names`` the active LoRA adapters of every LoRA layer in ``model`` (none: the bare base).

    Unlike ``PeftModel.set_adapter`` this leaves ``requires_grad`` alone, so the policy's trainable
    adapter stays trainable while the same layers briefly serve the reference or the reward."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            module._active_adapter = list(names)


def active_adapters(model: Any) -> list[str]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            return list(module.active_adapters)
    return []


class SharedClassifier(nn.Module):
    """A sequence classifier made of a transformer body it shares with a policy, the LoRA adapters it
    switches on in that body for its own forward pass, and its score head.

    The pooling is that of transformers' ``*ForSequenceClassification`` (the rightmost token that is
    not padding), so the rewards equal those of the preference model loaded whole. The body is not a
    registered submodule (``.eval()`` here must not change the policy's mode, and the policy's
    optimiser already sees its parameters)."""

    base_model_prefix = "model"

    def __init__(self, body: nn.Module, score_head: nn.Linear, adapters: Sequence[str], config: Any):
        super().__init__()
        object.__setattr__(self, "_body", body)
        # what TRL's PPO calls as the backbone (``getattr(m, m.base_model_prefix)``): the body with
        # this classifier's adapters on; a plain object, so the body's weights are not ours to move
        object.__setattr__(self, "model", _BodyView(self))
        self.score = score_head
        self.adapters = list(adapters)
        self.config = config

    @contextmanager
    def switched_on(self):
        before = active_adapters(self._body)
        activate_adapters(self._body, self.adapters)
        try:
            yield
        finally:
            activate_adapters(self._body, before)

    def expose_trainable(self) -> None:
        """Register this classifier's own LoRA matrices, so an optimiser over ``parameters()`` trains
        them (with the head): the PPO value model."""
        from peft.tuners.lora import LoraLayer

        name = self.adapters[0]
        mods: list[nn.Module] = []
        for m in self._body.modules():
            if isinstance(m, LoraLayer):
                mods += [d[name] for d in (m.lora_A, m.lora_B) if name in d]
        self.own_lora = nn.ModuleList(mods)
        for p in self.own_lora.parameters():
            p.requires_grad_(True)
        self.score.weight.requires_grad_(True)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()
                if k.startswith(("score.", "own_lora."))}

    def load_trainable_state(self, path: str | Path) -> None:
        from safetensors.torch import load_file

        state = load_file(str(path))
        missing = set(self.trainable_state()) - set(state)
        if missing:
            raise ModelError(f"{path} does not hold this value model ({len(missing)} tensors missing).")
        self.load_state_dict(state, strict=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_: Any):
        from transformers.modeling_outputs import SequenceClassifierOutput

        with self.switched_on():
            hidden = self._body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
        if self.score.weight.device != hidden.device:
            self.score.to(hidden.device)
        logits = self.score(hidden.to(self.score.weight.dtype))
        pad = self.config.pad_token_id
        if pad is None:
            last = torch.full((input_ids.shape[0],), input_ids.shape[1] - 1, device=logits.device)
        else:
            non_pad = (input_ids != pad).to(logits.device, torch.int32)
            last = (torch.arange(input_ids.shape[-1], device=logits.device, dtype=torch.int32) * non_pad).argmax(-1)
        return SequenceClassifierOutput(logits=logits[torch.arange(input_ids.shape[0], device=logits.device), last])


class _BodyView:
    """The shared body as a classifier's backbone: called, it runs with that classifier's adapters."""

    def __init__(self, owner: SharedClassifier):
        self.owner = owner

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.owner.switched_on():
            return self.owner._body(*args, **kwargs)


def trained_on(adapter_dir: str | Path, base_dir: str | Path) -> bool:
    """Whether the adapter records ``base_dir`` as its base (so it may share that base in memory)."""
    cfg = json.loads((Path(adapter_dir) / "adapter_config.json").read_text())
    recorded = cfg.get("base_model_name_or_path") or ""
    return bool(recorded) and Path(recorded).resolve() == Path(base_dir).resolve()


def reward_adapter_dir(model_dir: str | Path) -> Path | None:
    """The LoRA adapter (with its score head) saved beside a preference model's merged folder."""
    path = Path(model_dir)
    for cand in (path if path.name == "adapter" else path.parent / "adapter", path / "adapter"):
        if (cand / "adapter_config.json").is_file() and any(cand.glob("adapter_model.*")):
            return cand
    return None


def _adapter_state(adapter_dir: Path) -> dict[str, torch.Tensor]:
    f = adapter_dir / "adapter_model.safetensors"
    if f.is_file():
        from safetensors.torch import load_file

        return load_file(str(f))
    return torch.load(str(adapter_dir / "adapter_model.bin"), map_location="cpu", weights_only=True)


def reward_lora_config(adapter_dir: str | Path) -> Any:
    """The preference model's LoRA settings, for the same adapter on a causal LM's layers."""
    from peft import LoraConfig

    cfg = json.loads((Path(adapter_dir) / "adapter_config.json").read_text())
    keep = {f: cfg[f] for f in ("r", "lora_alpha", "lora_dropout", "target_modules", "layers_to_transform",
                                "layers_pattern", "rank_pattern", "alpha_pattern", "use_rslora", "use_dora",
                                "bias", "fan_in_fan_out", "init_lora_weights") if f in cfg and cfg[f] is not None}
    return LoraConfig(task_type="CAUSAL_LM", **keep)


def attach_reward_adapter(peft_model: Any, adapter_dir: str | Path, *, adapter_name: str = ADAPTER_NAME,
                          trainable: bool = False) -> SharedClassifier:
    """Load a saved preference model (its LoRA and score head) onto ``peft_model``'s own base.

    ``peft_model`` is a ``PeftModel`` of the causal LM the preference model was trained on; the
    LoRA becomes its adapter ``adapter_name`` (frozen unless ``trainable``) and the head a small
    linear layer. Returns the classifier whose forward pass uses only that adapter."""
    from peft import set_peft_model_state_dict

    adapter_dir = Path(adapter_dir)
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    heads = [h for h in (cfg.get("modules_to_save") or []) if h]
    state = _adapter_state(adapter_dir)
    head_keys = [k for k in state if any(k.endswith(f".{h}.weight") for h in heads)]
    if not head_keys:
        raise ModelError(f"The preference model at {adapter_dir} was saved without its score head; "
                         "train it again (its rewards cannot be reproduced).")
    head_w = state[head_keys[0]]
    lora_state = {k: v for k, v in state.items() if k not in head_keys
                  and not any(f".{h}." in k for h in heads)}
    if adapter_name not in peft_model.peft_config:
        peft_model.add_adapter(adapter_name, reward_lora_config(adapter_dir))
    # PEFT names the keys of a classifier's body and a causal LM's body alike (base_model.model.model...)
    result = set_peft_model_state_dict(peft_model, lora_state, adapter_name=adapter_name)
    missing = [k for k in getattr(result, "unexpected_keys", []) if "lora_" in k]
    if missing:
        raise ModelError(f"The preference model at {adapter_dir} does not fit this base model "
                         f"({len(missing)} of its layers have no place here).")
    for name, p in peft_model.named_parameters():
        if f".{adapter_name}." in name:
            p.requires_grad_(trainable)
    base = peft_model.get_base_model()
    body = getattr(base, getattr(base, "base_model_prefix", "model"))
    dtype = next(body.parameters()).dtype
    head = nn.Linear(head_w.shape[1], head_w.shape[0], bias=False, dtype=dtype, device=next(body.parameters()).device)
    with torch.no_grad():
        head.weight.copy_(head_w.to(dtype))
    head.weight.requires_grad_(trainable)
    from transformers import AutoConfig

    config_dir = adapter_dir.parent / "model" if (adapter_dir.parent / "model" / "config.json").is_file() else None
    config = AutoConfig.from_pretrained(str(config_dir)) if config_dir else base.config
    return SharedClassifier(body, head, [adapter_name], config)


def load_shared_reward_model(base_dir: str | Path, adapter_dir: str | Path) -> tuple[SharedClassifier, Any]:
    """A saved preference model on a freshly loaded base (the base loaded once, as RL does)."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    base.requires_grad_(False)
    peft_model = get_peft_model(base, reward_lora_config(adapter_dir), adapter_name=ADAPTER_NAME)
    clf = attach_reward_adapter(peft_model, adapter_dir)
    clf.eval()
    return clf, peft_model
