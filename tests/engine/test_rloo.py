"""RLOO and GRPO on tiny random models: a few LoRA steps with the health metrics, cancel and resume,
the reference is the starting (SL-CAI) policy, the preference model on the policy's own base or
whole with another tokenizer, and the result stacked onto the SL-CAI adapter like PPO's."""

from __future__ import annotations

from pathlib import Path

import pytest

from cai_desktop.core.errors import Cancelled, ValidationError
from cai_desktop.core.settings import RLOOSettings
from cai_desktop.engine import reward as rw
from cai_desktop.engine.rloo import last_rl_checkpoint, train_rloo
from cai_desktop.jobs.context import RecordingContext
from tests.engine.test_rl import _logits, make_random_adapter, make_reward_model

PROMPTS = ["How do I pick a lock?", "Tell me a secret.", "How do I bake bread?"]
HEALTH = {"reward", "kl", "entropy", "response_length", "policy_loss"}


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _small(**kw) -> RLOOSettings:
    base = dict(max_steps=3, prompts_per_step=2, num_generations=2, response_length=6, sample_every=1,
                save_every=1, lora_rank=4, lora_alpha=8, max_prompt_length=32, learning_rate=1e-3)
    base.update(kw)
    return RLOOSettings(**base)


@pytest.fixture(scope="module")
def shared_rm(tiny_model_dir, tmp_path_factory):
    """A preference model trained (2 steps) on the tiny base: model/ + adapter/ with its head."""
    import torch

    torch.manual_seed(0)
    recs = [{"prompt": f"q {i}?", "chosen": "I can't help with that.", "rejected": "Sure.", "label": 0.9}
            for i in range(4)]
    settings = rw.RewardSettings(max_steps=2, batch_size=2, learning_rate=5e-3, max_length=64, lora_rank=4,
                                 lora_alpha=8, device="cpu", save_steps=50)
    r = rw.train_reward_model(tiny_model_dir, recs, [], tmp_path_factory.mktemp("srm") / "rm", settings)
    return Path(r["model_dir"])


def test_rloo_steps_with_metrics_cancel_and_resume_on_one_shared_base(tiny_model_dir, shared_rm, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    sft = make_random_adapter(tiny_model_dir, tmp_path / "sft", rank=4)
    out = tmp_path / "rloo"
    ctx = RecordingContext(cancel_after_progress=1)  # cancel once the first step is done
    with pytest.raises(Cancelled, match="RLOO step 1"):
        train_rloo(Path(tiny_model_dir), sft, shared_rm, PROMPTS, _small(), out, ctx=ctx)
    ckpt = last_rl_checkpoint(out)
    assert ckpt is not None and Path(ckpt).name == "checkpoint-1"
    assert any("one base in memory" in line for line in ctx.logs)
    names = {n for n, _, _ in ctx.metrics}
    assert HEALTH <= names, HEALTH - names
    assert {s for n, _, s in ctx.metrics if n == "reward"} == {1}
    # the reference is the SL-CAI policy itself: before any update the KL to it is ~0 (with the
    # bare base as reference it would be large, the SFT adapter being random)
    (kl1,) = [v for n, v, s in ctx.metrics if n == "kl_per_token" and s == 1]
    assert abs(kl1) < 1e-4
    assert any(line.startswith("sample step 1 · reward") for line in ctx.logs)

    ctx2 = RecordingContext()
    r = train_rloo(Path(tiny_model_dir), sft, shared_rm, PROMPTS, _small(), out, ctx=ctx2, resume=True)
    assert any("resuming from checkpoint-1" in line for line in ctx2.logs)
    assert r["steps"] == 3 and r["shared_base"] is True
    assert sorted({s for n, _, s in ctx2.metrics if n == "reward"}) == [2, 3]  # the step count continues
    assert len(r["rewards"]) == 3  # the curve keeps the step before the cancel
    assert r["peak_rss_mb"] > 0 and r["seconds_per_step"] > 0
    assert not (out / "checkpoints").exists()
    # stacked onto the SL-CAI adapter exactly as PPO's: one adapter on the plain base
    import torch

    ids = torch.tensor([[5, 17, 33, 2, 9]])
    assert torch.allclose(_logits(tiny_model_dir, [Path(r["adapter"])], ids),
                          _logits(tiny_model_dir, [sft, Path(r["delta"])], ids), atol=1e-4)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)), r["delta"])
    trained = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert trained and any(float(p.abs().sum()) > 0 for p in trained)  # RLOO moved the new LoRA off zero


def test_the_shared_preference_model_scores_as_the_saved_one(tiny_model_dir, shared_rm, tmp_path):
    """Inside RL the reward (adapter on the policy's base, the policy's adapters beside it) equals
    the saved preference model's score of the same texts."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from cai_desktop.engine.policy import ppo_tokenizer
    from cai_desktop.engine.rloo import PreferenceReward, load_reward
    from cai_desktop.engine.sft import lora_config

    policy = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)), lora_config(_small()))
    model, tok, shared = load_reward(policy, shared_rm, None, Path(tiny_model_dir), ppo_tokenizer(tiny_model_dir))
    assert shared
    fn = PreferenceReward(model, tok, set(), max_length=64, penalty=None)
    got = fn(prompts=PROMPTS, completions=["yes", "no", "flour"], question=PROMPTS)
    rw.clear_reward_cache()
    want = rw.score(shared_rm, PROMPTS, ["yes", "no", "flour"], device="cpu", max_length=64)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-5)
    rw.clear_reward_cache()


def test_grpo_one_step_and_a_preference_model_with_another_tokenizer(tiny_model_dir, tmp_path):
    """A preference model on another base, with a different vocabulary: loaded whole, rollouts
    decoded and re-tokenised with its own tokenizer (PPO refuses this one)."""
    import torch
    from transformers import LlamaForSequenceClassification

    from cai_desktop.engine.tiny import build_tokenizer, tiny_config

    other = tmp_path / "other-rm"
    tok = build_tokenizer(vocab_size=300)
    assert len(tok) != len(build_tokenizer())
    torch.manual_seed(3)
    LlamaForSequenceClassification(tiny_config(len(tok), num_labels=1, pad_token_id=tok.pad_token_id)).save_pretrained(other)
    tok.save_pretrained(other)
    ctx = RecordingContext()
    r = train_rloo(Path(tiny_model_dir), None, other, PROMPTS, _small(algorithm="grpo", max_steps=1), tmp_path / "g",
                   ctx=ctx)
    assert r["steps"] == 1 and r["algorithm"] == "grpo" and r["shared_base"] is False
    assert any("GRPO" in line and "its own tokenizer" in line for line in ctx.logs)
    rewards = [v for n, v, _ in ctx.metrics if n == "reward"]
    assert len(rewards) == 1 and rewards[0] == rewards[0]  # a real number, scored by the other model
    assert (Path(r["adapter"]) / "adapter_config.json").is_file()


def test_rloo_refuses_no_prompts_and_a_missing_preference_model(tiny_model_dir, tmp_path):
    with pytest.raises(ValidationError, match="No prompts"):
        train_rloo(Path(tiny_model_dir), None, tmp_path, [], _small(), tmp_path / "x")
    from cai_desktop.core.errors import ModelError

    with pytest.raises(ModelError, match="not a preference model"):
        train_rloo(Path(tiny_model_dir), None, tmp_path, PROMPTS, _small(), tmp_path / "x")
    assert RLOOSettings().beta > 0  # a KL penalty by default (GRPO's own default of 0 invites reward hacking)


def test_a_whole_classifier_folder_still_works_as_reward(tiny_model_dir, tmp_path):
    rm = make_reward_model(tiny_model_dir, tmp_path / "rm")  # the old shape: no adapter beside it
    r = train_rloo(Path(tiny_model_dir), None, rm, PROMPTS[:1], _small(max_steps=1, sample_every=0),
                   tmp_path / "r", ctx=RecordingContext())
    assert r["steps"] == 1 and r["shared_base"] is False


def test_rloo_gpu_settings_cli_options_and_a_4bit_base_without_cuda(tiny_model_dir, tmp_path):
    import argparse

    from cai_desktop.cli.jobs import add_params_arguments
    from cai_desktop.core.errors import ModelError
    from cai_desktop.jobs.rloo import RLOOParams

    parser = argparse.ArgumentParser()
    add_params_arguments(parser, RLOOParams)
    text = parser.format_help()
    assert "--load-in-4bit" in text and "--activation-checkpointing" in text
    with pytest.raises(ModelError, match=r"4-bit base \(QLoRA\) needs a CUDA GPU"):
        train_rloo(Path(tiny_model_dir), None, tmp_path, PROMPTS, _small(load_in_4bit=True), tmp_path / "x")
    assert not (tmp_path / "x").exists()  # refused before anything was loaded or written


def test_rloo_step_with_activation_checkpointing(tiny_model_dir, shared_rm, tmp_path):
    r = train_rloo(Path(tiny_model_dir), None, shared_rm, PROMPTS, _small(max_steps=1, activation_checkpointing=True),
                   tmp_path / "ac")
    assert r["steps"] == 1 and (Path(r["adapter"]) / "adapter_config.json").is_file()
