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
