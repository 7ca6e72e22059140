import json

import pytest

from cai_desktop.core.errors import Cancelled, ModelError, ValidationError
from cai_desktop.engine.sft import (
    SFTSettings,
    last_checkpoint,
    merge_adapter,
    to_prompt_completion,
    train_sft,
)
from cai_desktop.jobs.context import RecordingContext


def records(n=8):
    return [
        {"messages": [{"role": "user", "content": f"question number {i}?"},
                      {"role": "assistant", "content": "I can't help with that, but here is a safer idea."}]}
        for i in range(n)
    ]


def small(**kw):
    base = dict(lora_rank=4, lora_alpha=8, max_steps=6, batch_size=2, max_length=64, save_steps=2, learning_rate=5e-3)
    base.update(kw)
    return SFTSettings(**base)


# -- settings ---------------------------------------------------------------------------------------
def test_settings_defaults_round_trip_and_validation():
    s = SFTSettings()
    assert (s.lora_rank, s.lora_alpha, s.lora_dropout, s.target_modules, s.learning_rate) == \
        (16, 32, 0.05, "all-linear", 2e-4)
    assert SFTSettings.from_config(s.values(), strict=True) == s
    t = SFTSettings.from_config({"lora_rank": "8", "max_steps": 10.0, "target_modules": ["q_proj", "v_proj"]})
    assert t.lora_rank == 8 and t.max_steps == 10 and t.target_list() == ["q_proj", "v_proj"]
    assert SFTSettings.from_config({"rank": 8}).lora_rank == 8  # a run stored by an older version
    assert SFTSettings.from_config({"activation_checkpointing": "false"}).activation_checkpointing is False
    assert SFTSettings.from_config({"activation_checkpointing": "yes"}).activation_checkpointing is True
    with pytest.raises(ValidationError, match="not yes or no"):
        SFTSettings.from_config({"activation_checkpointing": "maybe"})
    with pytest.raises(ValidationError, match="Unknown setting"):
        SFTSettings.from_config({"rnak": 8}, strict=True)
    with pytest.raises(ValidationError, match="LoRA rank: 'eight' is not a whole number"):
        SFTSettings.from_config({"lora_rank": "eight"})
    bad = {"lora_rank": 0, "lora_alpha": 0, "lora_dropout": 1.0, "learning_rate": 0, "batch_size": 0,
           "grad_accum": 0, "max_length": 8, "save_steps": 0, "warmup_ratio": 1.5, "loss_on": "prompt",
           "target_modules": " , "}
    for name, value in bad.items():
        with pytest.raises(ValidationError):
            SFTSettings(**{name: value}).check()
    with pytest.raises(ValidationError, match="LoRA rank must be between 1 and 1024"):
        SFTSettings(lora_rank=0).check()
    with pytest.raises(ValidationError, match="epochs, or of max steps"):
        SFTSettings(epochs=0, max_steps=0).check()


def test_records_become_prompt_completion_and_bad_records_are_refused():
    rows = to_prompt_completion([{"messages": [{"role": "system", "content": "Be kind."},
                                               {"role": "user", "content": "Hi"},
                                               {"role": "assistant", "content": "Hello!"}]}])
    assert rows == [{"prompt": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}],
                     "completion": [{"role": "assistant", "content": "Hello!"}]}]
    for bad in ({"messages": [{"role": "user", "content": "Hi"}]},
                {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "  "}]},
                {"messages": [{"role": "user", "content": "Hi"}, {"role": "user", "content": "again"}]},
                {"messages": [{"role": "bot", "content": "Hi"}, {"role": "assistant", "content": "x"}]},
                {"text": "Hi"}):
        with pytest.raises(ValidationError, match="record 1"):
            to_prompt_completion([bad])


def test_no_records_and_unknown_target_modules(tiny_model_dir, tmp_path):
    with pytest.raises(ValidationError, match="No training data"):
        train_sft(str(tiny_model_dir), [], small(), tmp_path / "a")
    with pytest.raises(ValidationError, match="not in this model.*q_proj"):
        train_sft(str(tiny_model_dir), records(), small(target_modules="q_proj,attn_c"), tmp_path / "b")


# -- training -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("sft") / "run"
    ctx = RecordingContext()
    result = train_sft(str(tiny_model_dir), records(), small(target_modules="q_proj,v_proj"), out, ctx=ctx)
    return out, ctx, result


def test_train_records_metrics_and_saves_a_peft_adapter(trained, tiny_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out, ctx, r = trained
    assert r["steps"] == 6 and r["max_steps"] == 6 and r["examples"] == 8
    assert r["loss_first"] > 0 and r["loss_last"] > 0
    assert len(ctx.metric_values("loss")) == 6
    for name in ("learning_rate", "grad_norm", "tokens_per_s"):
        assert ctx.metric_values(name), name
    assert all(v > 0 for v in ctx.metric_values("tokens_per_s"))
    assert ctx.progress_calls[-1][:2] == (6, 6)
    # checkpoints every 2 steps; the final adapter in PEFT format, with the tokenizer and its lineage
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == [
        "checkpoint-2", "checkpoint-4", "checkpoint-6"]
    adapter = out / "adapter"
    assert r["adapter"] == str(adapter)
    assert (adapter / "adapter_model.safetensors").exists() and (adapter / "tokenizer_config.json").exists()
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["r"] == 4 and set(config["target_modules"]) == {"q_proj", "v_proj"}
    assert json.loads((adapter / "cai_adapter.json").read_text())["steps"] == 6
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)), str(adapter))
    lora = [n for n, _ in model.named_parameters() if "lora_" in n]
    assert lora and all(("q_proj" in n or "v_proj" in n) for n in lora)
    # and the app's own loader puts it on its base for generation
    from cai_desktop.engine.generation import GenerationRequest, SamplingSettings, generate
    from cai_desktop.engine.models import load_model

    lm = load_model(str(tiny_model_dir), adapter=str(adapter))
    res = generate(lm, [GenerationRequest(messages=[{"role": "user", "content": "hi"}],
                                          sampling=SamplingSettings(temperature=0, max_new_tokens=4))])
    assert res[0].n_new_tokens > 0


def test_cancel_keeps_a_checkpoint_and_resume_continues_the_step_count(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    ctx = RecordingContext(cancel_after_progress=3)
    with pytest.raises(Cancelled, match="cancelled at step 3"):
        train_sft(str(tiny_model_dir), records(), small(save_steps=100), out, ctx=ctx)
    ckpt = last_checkpoint(out)
    assert ckpt and ckpt.endswith("checkpoint-3")  # saved on cancel, although save_steps is 100
    assert not (out / "adapter").exists()
    state = json.loads((out / "checkpoints" / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3

    # a process killed while saving leaves a checkpoint without its trainer state: it is skipped
    (out / "checkpoints" / "checkpoint-5").mkdir()
    (out / "checkpoints" / "checkpoint-5" / "adapter_model.safetensors").write_bytes(b"half")
    assert last_checkpoint(out).endswith("checkpoint-3")

    ctx2 = RecordingContext()
    r = train_sft(str(tiny_model_dir), records(), small(save_steps=100), out, ctx=ctx2, resume=True)
    assert r["resumed_from_step"] == 3 and r["steps"] == 6
    assert [s for n, _, s in ctx2.metrics if n == "loss"] == [4, 5, 6]
    assert [d for d, _, _ in ctx2.progress_calls] == [4, 5, 6]
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    assert any("resuming from checkpoint-3" in line for line in ctx2.logs)


def test_resume_without_a_checkpoint_starts_over(tiny_model_dir, tmp_path):
    ctx = RecordingContext()
    r = train_sft(str(tiny_model_dir), records(4), small(max_steps=2), tmp_path / "run", ctx=ctx, resume=True)
    assert r["steps"] == 2 and r["resumed_from_step"] is None
    assert any("starting from step 0" in line for line in ctx.logs)


def test_loss_goes_down_when_memorising(tiny_model_dir, tmp_path):
    same = records(1) * 8
    r = train_sft(str(tiny_model_dir), same, small(max_steps=20, learning_rate=2e-2, lora_rank=8, lora_alpha=16,
                                                   save_steps=100, warmup_ratio=0.0), tmp_path / "run")
    assert r["loss_last"] < 0.5 * r["loss_first"]


# -- merging ----------------------------------------------------------------------------------------
def test_merge_gives_a_full_model_that_loads_and_generates(trained, tiny_model_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from cai_desktop.engine.generation import GenerationRequest, SamplingSettings, generate
    from cai_desktop.engine.models import load_model

    out, _, r = trained
    merged = merge_adapter(str(tiny_model_dir), r["adapter"], tmp_path / "merged", ctx=RecordingContext())
    assert (merged / "config.json").exists() and (merged / "tokenizer_config.json").exists()
    assert not (merged / "adapter_config.json").exists()
    full = AutoModelForCausalLM.from_pretrained(str(merged))
    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)), r["adapter"])
    ids = torch.tensor([[1, 5, 9, 13, 2]])
    with torch.no_grad():
        assert torch.allclose(full(ids).logits, peft(ids).logits, atol=1e-4)
    lm = load_model(str(merged))
    res = generate(lm, [GenerationRequest(messages=[{"role": "user", "content": "hi"}],
                                          sampling=SamplingSettings(temperature=0, max_new_tokens=4))])
    assert res[0].n_new_tokens > 0
    # base read from the adapter folder when not given
    again = merge_adapter(None, r["adapter"], tmp_path / "merged2")
    assert (again / "model.safetensors").exists()


def test_merge_refuses_bad_inputs(trained, tiny_model_dir, tmp_path):
    _, _, r = trained
    with pytest.raises(ModelError, match="not a LoRA adapter"):
        merge_adapter(str(tiny_model_dir), tiny_model_dir, tmp_path / "m")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x.txt").write_text("keep me")
    with pytest.raises(ValidationError, match="not empty"):
        merge_adapter(str(tiny_model_dir), r["adapter"], busy)
    assert (busy / "x.txt").read_text() == "keep me"


# -- the GPU path, on a CPU: settings reach the trainers, and clear lines ----------------------------
def test_gpu_settings_are_declared_once_for_sft_and_dpo_with_cli_options():
    from cai_desktop.cli.jobs import add_params_arguments
    from cai_desktop.core.settings import DPOSettings
    from cai_desktop.jobs.dpo import DPOParams
    from cai_desktop.jobs.sft import SFTParams

    for cls in (SFTSettings, DPOSettings):
        s = cls()
        assert (s.load_in_4bit, s.activation_checkpointing, s.adapt_batch) == (False, False, True)
        assert cls.from_config({"load_in_4bit": "yes"}).load_in_4bit is True
        assert "adapt_batch" not in s.identity()  # halving the batch does not change what a run makes
        assert "load_in_4bit" in s.identity()
    import argparse

    for cls in (SFTParams, DPOParams):
        parser = argparse.ArgumentParser()
        add_params_arguments(parser, cls)
        text = parser.format_help()
        assert "--load-in-4bit" in text and "--activation-checkpointing" in text and "--adapt-batch" in text


def test_a_4bit_base_without_cuda_or_bitsandbytes_is_one_clear_line(tiny_model_dir, tmp_path, monkeypatch):
    import importlib.util

    import torch

    from cai_desktop.core.settings import DPOSettings
    from cai_desktop.engine import models
    from cai_desktop.engine.dpo import train_dpo

    with pytest.raises(ModelError, match=r"4-bit base \(QLoRA\) needs a CUDA GPU.*turn off '4-bit base \(QLoRA\)'"):
        train_sft(str(tiny_model_dir), records(), small(load_in_4bit=True), tmp_path / "a")
    assert not (tmp_path / "a" / "checkpoints").exists()  # refused before anything was loaded or written
    pairs = [{"prompt": "q?", "chosen": "Sure, a safe answer.", "rejected": "No."}]
    with pytest.raises(ModelError, match="needs a CUDA GPU"):
        train_dpo(str(tiny_model_dir), None, pairs, DPOSettings(load_in_4bit=True, max_steps=1), tmp_path / "b")
    # a GPU without the bitsandbytes package
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real(name, *a))
    with pytest.raises(ModelError, match=r"needs the bitsandbytes package.*pip install bitsandbytes"):
        models.check_4bit()


def test_out_of_memory_halves_the_batch_and_keeps_the_effective_batch():
    import torch

    from cai_desktop.engine.models import halving_batches

    tried = []

    def attempt(s):
        tried.append((s.batch_size, s.grad_accum))
        if s.batch_size > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return "fitted", s

    ctx = RecordingContext()
    out, used = halving_batches(small(batch_size=4, grad_accum=2), attempt, ctx=ctx, cuda=True)
    assert out == "fitted" and tried == [(4, 2), (2, 4), (1, 8)] and (used.batch_size, used.grad_accum) == (1, 8)
    assert any("retrying with batch size 2 × 4 accumulation steps" in line for line in ctx.logs)
    tried.clear()
    with pytest.raises(ModelError, match="Out of GPU memory at a batch size of 4: lower the batch size"):
        halving_batches(small(batch_size=4, adapt_batch=False), attempt, cuda=True)
    assert tried == [(4, 1)]
    tried.clear()
    with pytest.raises(ModelError, match="^Out of memory at a batch size of 4"):
        halving_batches(small(batch_size=4), attempt, cuda=False)  # a CPU: no retry
    assert tried == [(4, 1)]

    def broken(s):
        raise ValueError("not a memory problem")

    with pytest.raises(ValueError, match="not a memory problem"):
        halving_batches(small(), broken, cuda=True)


def test_sft_retries_a_gpu_oom_with_half_the_batch_and_records_what_fitted(tiny_model_dir, tmp_path, monkeypatch):
    """The whole path on the CPU: the first ``train()`` at batch 4 runs out of (simulated) GPU memory;
    the trainer is built again at batch 2 × 2 accumulation, and the adapter records that."""
    import torch
    from trl import SFTTrainer

    from cai_desktop.engine import models

    monkeypatch.setattr(models, "_retries_on_oom", lambda: True)
    real_train = SFTTrainer.train
    batches = []

    def train(self, *a, **kw):
        batches.append(self.args.per_device_train_batch_size)
        if self.args.per_device_train_batch_size > 2:
            raise torch.OutOfMemoryError("CUDA out of memory.")
        return real_train(self, *a, **kw)

    monkeypatch.setattr(SFTTrainer, "train", train)
    ctx = RecordingContext()
    r = train_sft(str(tiny_model_dir), records(), small(batch_size=4, max_steps=1, activation_checkpointing=True),
                  tmp_path / "run", ctx=ctx)
    assert batches == [4, 2] and (r["batch_size"], r["grad_accum"], r["steps"]) == (2, 2, 1)
    assert r["loss_last"] is not None and r["processes"] == 1
    info = json.loads((tmp_path / "run" / "adapter" / "cai_adapter.json").read_text())
    assert (info["settings"]["batch_size"], info["settings"]["grad_accum"]) == (2, 2)
    assert info["settings"]["activation_checkpointing"] is True
    assert any("GPU out of memory at batch size 4" in line for line in ctx.logs)


# -- the student role's device -----------------------------------------------------------------------
def test_the_device_setting_is_checked_and_cpu_means_use_cpu_even_with_a_gpu(monkeypatch, tmp_path):
    import torch

    from cai_desktop.engine.sft import training_device, training_kwargs

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert training_device(None) is None and training_device("auto") is None and training_device("cpu") == "cpu"
    for device in ("cuda", "cuda:1"):
        with pytest.raises(ModelError, match=f"student role is {device}, but this machine has no CUDA GPU"):
            training_device(device)
    with pytest.raises(ModelError, match="not cpu, cuda, cuda:N, mps or automatic"):
        training_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a machine with a GPU
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert training_device("cuda") == "cuda"
    on_cpu = training_kwargs(small(), tmp_path, "cpu")
    assert on_cpu["use_cpu"] is True and on_cpu["bf16"] is False
    auto = training_kwargs(small(), tmp_path, None)
    assert auto["use_cpu"] is False and auto["bf16"] is True
    monkeypatch.setenv("WORLD_SIZE", "2")  # under accelerate launch the launcher decides
    assert training_device("cuda:1") is None


def test_sft_job_trains_on_the_student_roles_device_and_records_it(tiny_model_dir, tmp_path):
    from cai_desktop.jobs.sft import SFTParams, run_sft
    from cai_desktop.store.project import Project
    from tests.test_accelerate import _project

    path = _project(tmp_path, tiny_model_dir)
    spec = str(tiny_model_dir.resolve()) if hasattr(tiny_model_dir, "resolve") else str(tiny_model_dir)
    params = dict(project=str(path), max_steps=1, batch_size=2, max_length=64, lora_rank=4, lora_alpha=8)
    with Project.open(path) as p:
        p.roles.set("student", spec, device="cuda")
    with pytest.raises(ModelError, match="student role is cuda, but this machine has no CUDA GPU"):
        run_sft(RecordingContext(), SFTParams(**params))
    with Project.open(path) as p:
        assert p.runs.list("sft") == []  # refused before a run row, before anything loaded
        p.roles.set("student", spec, device="cpu")
    r = run_sft(RecordingContext(), SFTParams(**params))
    assert r["device"] == "cpu"
    with Project.open(path) as p:
        (row,) = p.adapters.list("sft")
        assert json.loads(row["lineage_json"])["device"] == {"student_role": "cpu", "trained_on": "cpu"}
