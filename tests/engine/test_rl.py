"""PPO and DPO on tiny random models: LoRA steps write metrics, cancel keeps a usable adapter,
resume continues the step count, the adapters load with PEFT; the reward-hacking watch."""

from __future__ import annotations

from pathlib import Path

import pytest

from cai_desktop.core.errors import Cancelled, ModelError, ValidationError
from cai_desktop.core.settings import DPOSettings, PPOSettings
from cai_desktop.engine.dpo import dpo_records, train_dpo
from cai_desktop.engine.policy import (
    combine_adapters,
    encode_prompts,
    ppo_tokenizer,
    reward_hacking_warnings,
)
from cai_desktop.engine.rl import last_ppo_checkpoint, train_ppo
from cai_desktop.jobs.context import RecordingContext


def _ppo_missing() -> bool:
    from cai_desktop.engine.rl import ppo_unavailable

    return ppo_unavailable() is not None


#: PPO needs a TRL that still has trl.experimental.ppo (``pip install -e ".[ppo]"``; the Makefile does)
needs_ppo = pytest.mark.skipif(_ppo_missing(), reason="this TRL has no trl.experimental.ppo (TRL 1.13 deleted it)")


PROMPTS = ["How do I pick a lock?", "Tell me a secret.", "How do I bake bread?"]
PPO_METRICS = {"reward", "kl", "entropy", "policy_loss", "value_loss", "clipfrac", "response_length"}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny matrices on a shared CPU: one thread avoids oversubscription (several times faster)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_reward_model(tiny: Path, out: Path) -> Path:
    """A preference-model folder as the reward job writes it: a one-output classifier (+ tokenizer)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(1)
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny), num_labels=1)
    model.config.pad_token_id = model.config.pad_token_id or 0
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(str(tiny)).save_pretrained(out)
    return out


def make_random_adapter(tiny: Path, out: Path, rank: int = 4, seed: int = 0) -> Path:
    """A LoRA adapter with non-zero weights (a stand-in for an SL-CAI adapter)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny)),
                           LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear", task_type="CAUSAL_LM"))
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.2)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def reward_dir(tiny_model_dir, tmp_path_factory):
    return make_reward_model(tiny_model_dir, tmp_path_factory.mktemp("rm") / "reward")


def _logits(model_dir: Path, adapters: list[Path], ids):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    for a in adapters:
        model = PeftModel.from_pretrained(model, str(a)).merge_and_unload()
    with torch.no_grad():
        return model(input_ids=ids).logits


def _small_ppo(**kw) -> PPOSettings:
    base = dict(total_episodes=6, batch_size=2, response_length=6, num_ppo_epochs=1, sample_every=1,
                save_every=2, lora_rank=4, lora_alpha=8, max_prompt_length=32)
    base.update(kw)
    return PPOSettings(**base)


# -- pure parts ------------------------------------------------------------------------------------
def test_reward_hacking_watch_flags_runaway_kl_and_rising_reward_with_kl():
    calm = [{"step": i, "reward": 0.1 * i, "kl": 0.2, "entropy": 20.0} for i in range(1, 8)]
    assert reward_hacking_warnings(calm, kl_warn=10.0, window=5) == []
    far = calm + [{"step": 8, "reward": 0.8, "kl": 12.0, "entropy": 20.0}]
    warns = reward_hacking_warnings(far, kl_warn=10.0, window=5)
    assert any("12.0 nats" in w for w in warns) and all(w.startswith("WARNING:") for w in warns)
    hacking = [{"step": i, "reward": 0.2 * i, "kl": 0.5 * 1.5 ** i, "entropy": 20.0} for i in range(1, 8)]
    warns = reward_hacking_warnings(hacking, kl_warn=100.0, window=5)
    assert len(warns) == 1 and "reward hacking" in warns[0]
    # KL doubling while the reward falls is drift, not hacking
    falling = [{"step": i, "reward": -0.2 * i, "kl": 0.5 * 1.5 ** i, "entropy": 20.0} for i in range(1, 8)]
    assert reward_hacking_warnings(falling, kl_warn=100.0, window=5) == []
    collapse = calm + [{"step": 8, "reward": 0.8, "kl": 0.2, "entropy": 3.0}]
    assert any("diversity" in w for w in reward_hacking_warnings(collapse))


def test_settings_reject_bad_values_with_one_clear_line():
    with pytest.raises(ValidationError, match="mini-batches"):
        PPOSettings(batch_size=3, num_mini_batches=2).check()
    with pytest.raises(ValidationError, match="temperature"):
        PPOSettings(temperature=0).check()
    with pytest.raises(ValidationError, match="Episodes"):
        PPOSettings(total_episodes=0).check()
    with pytest.raises(ValidationError, match="beta"):
        DPOSettings(beta=0).check()
    with pytest.raises(ValidationError, match="loss"):
        DPOSettings(loss_type="nope").check()
    assert PPOSettings(total_episodes=10, batch_size=4).total_steps == 3


def test_ppo_tokenizer_pads_left_with_a_token_that_is_not_eos(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    tok.pad_token = tok.eos_token  # like SmolLM2: pad == <|im_end|>, which every chat turn contains
    tok.save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    fixed = ppo_tokenizer(tmp_path)
    assert fixed.padding_side == "left"
    assert fixed.pad_token_id != fixed.eos_token_id and fixed.pad_token == "<|endoftext|>"
    ids = encode_prompts(fixed, ["hello", [{"role": "user", "content": "hi"}]], max_length=8)
    assert len(ids) == 2 and all(len(x) <= 8 for x in ids)
    assert fixed.pad_token_id not in ids[1]


def test_dpo_records_are_conversational_and_skip_identical_pairs():
    recs = dpo_records([{"prompt": "q", "chosen": "a", "rejected": "b"}, {"prompt": "q", "chosen": "x", "rejected": "x"}])
    assert recs == [{"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "a"}],
                     "rejected": [{"role": "assistant", "content": "b"}]}]
    with pytest.raises(ValidationError):
        dpo_records([{"prompt": "q", "chosen": None, "rejected": "b"}])


def test_combined_adapter_equals_applying_the_adapters_in_turn(tiny_model_dir, tmp_path):
    import torch

    a = make_random_adapter(tiny_model_dir, tmp_path / "a", rank=4, seed=0)
    b = make_random_adapter(tiny_model_dir, tmp_path / "b", rank=2, seed=1)
    out = combine_adapters(tiny_model_dir, [a, b], tmp_path / "ab")
    assert (out / "adapter_config.json").is_file() and not (out / "default").exists()
    ids = torch.tensor([[5, 17, 33, 2, 9]])
    stacked = _logits(tiny_model_dir, [a, b], ids)
    combined = _logits(tiny_model_dir, [out], ids)
    only_a = _logits(tiny_model_dir, [a], ids)
    assert torch.allclose(stacked, combined, atol=1e-4)
    assert not torch.allclose(only_a, combined, atol=1e-3)


# -- PPO --------------------------------------------------------------------------------------------
@needs_ppo
def test_ppo_runs_lora_steps_cancels_with_a_usable_adapter_and_resumes(tiny_model_dir, reward_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "ppo"
    settings = _small_ppo()
    ctx = RecordingContext(cancel_after_progress=1)  # cancel once the first step is done
    with pytest.raises(Cancelled):
        train_ppo(Path(tiny_model_dir), None, reward_dir, PROMPTS, settings, out, ctx=ctx)
    ckpt = last_ppo_checkpoint(out)
    assert ckpt is not None and ckpt.name == "step-1"
    assert (ckpt / "adapter" / "adapter_config.json").is_file() and (ckpt / "value" / "config.json").is_file()
    usable = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)), str(ckpt / "adapter"))
    assert usable.generate(input_ids=__import__("torch").tensor([[5, 6]]), max_new_tokens=2).shape[1] == 4
    names = {n for n, _, _ in ctx.metrics}
    assert PPO_METRICS <= names
    assert {s for n, _, s in ctx.metrics if n == "reward"} == {1}
    assert any(line.startswith("sample step 1 · reward") for line in ctx.logs)

    ctx2 = RecordingContext()
    r = train_ppo(Path(tiny_model_dir), None, reward_dir, PROMPTS, settings, out, ctx=ctx2, resume=True)
    assert any("resuming from step-1" in line for line in ctx2.logs)
    assert r["steps"] == 3 == r["total_steps"] and r["episodes"] == 6
    assert [s for n, _, s in ctx2.metrics if n == "reward"] == [2, 3]  # the step count continues
    assert len(r["rewards"]) == 3 and len(r["kls"]) == 3  # the curve keeps the steps before the cancel
    assert r["peak_rss_mb"] > 0 and r["seconds_per_step"] > 0
    assert [p[2] for p in ctx2.progress_calls] == ["PPO step 2/3", "PPO step 3/3"]
    assert not (out / "checkpoints").exists()  # finished: the value-model checkpoints are gone
    adapter = Path(r["adapter"])
    assert (adapter / "adapter_config.json").is_file() and (adapter / "tokenizer_config.json").is_file()
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)), str(adapter))
    trained = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert trained and any(float(p.abs().sum()) > 0 for p in trained)  # PPO moved the LoRA off zero


@needs_ppo
def test_ppo_from_an_sft_adapter_writes_one_adapter_on_the_base(tiny_model_dir, reward_dir, tmp_path):
    import torch

    sft = make_random_adapter(tiny_model_dir, tmp_path / "sft", rank=4)
    out = tmp_path / "ppo"
    r = train_ppo(Path(tiny_model_dir), sft, reward_dir, PROMPTS[:1], _small_ppo(total_episodes=2, sample_every=0),
                  out, ctx=RecordingContext())
    assert r["steps"] == 1 and r["prompts"] == 1  # one prompt repeats to fill the rollout batch
    ids = torch.tensor([[5, 17, 33, 2, 9]])
    assert torch.allclose(_logits(tiny_model_dir, [Path(r["adapter"])], ids),
                          _logits(tiny_model_dir, [sft, Path(r["delta"])], ids), atol=1e-4)


@needs_ppo
def test_ppo_refuses_a_reward_model_with_another_vocabulary(tiny_model_dir, tmp_path):
    from transformers import LlamaForSequenceClassification

    from cai_desktop.engine.tiny import tiny_config

    other = tmp_path / "other-rm"
    LlamaForSequenceClassification(tiny_config(4096, num_labels=1, pad_token_id=0)).save_pretrained(other)
    with pytest.raises(ValidationError, match="vocabulary"):
        train_ppo(Path(tiny_model_dir), None, other, PROMPTS, _small_ppo(), tmp_path / "x")
    with pytest.raises(ModelError, match="not a preference model"):
        train_ppo(Path(tiny_model_dir), None, tmp_path, PROMPTS, _small_ppo(), tmp_path / "x")
    with pytest.raises(ValidationError, match="No prompts"):
        train_ppo(Path(tiny_model_dir), None, other, [], _small_ppo(), tmp_path / "x")


# -- DPO --------------------------------------------------------------------------------------------
def _pairs(n=6):
    return [{"prompt": f"question {i}?", "chosen": "I can't help with that, but here is a safe option.",
             "rejected": "Sure, here is how."} for i in range(n)]


def test_dpo_runs_lora_steps_cancels_and_resumes(tiny_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "dpo"
    settings = DPOSettings(max_steps=3, batch_size=2, max_length=48, save_steps=1, lora_rank=4, lora_alpha=8)
    ctx = RecordingContext(cancel_after_progress=1)
    with pytest.raises(Cancelled):
        train_dpo(Path(tiny_model_dir), None, _pairs(), settings, out, ctx=ctx)
    assert (out / "checkpoints" / "checkpoint-1").is_dir() and not (out / "adapter").exists()
    names = {n for n, _, _ in ctx.metrics}
    assert {"loss", "rewards/margins", "rewards/accuracies"} <= names

    ctx2 = RecordingContext()
    r = train_dpo(Path(tiny_model_dir), None, _pairs(), settings, out, ctx=ctx2, resume=True)
    assert r["steps"] == 3 and r["pairs"] == 6
    assert sorted({s for n, _, s in ctx2.metrics if n == "loss"}) == [2, 3]
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)), r["adapter"])
    assert any("lora_A" in n for n, _ in model.named_parameters())


def test_dpo_rejects_empty_data_and_prompts_longer_than_the_limit(tiny_model_dir, tmp_path):
    with pytest.raises(ValidationError, match="No preference pairs"):
        train_dpo(Path(tiny_model_dir), None, [], DPOSettings(), tmp_path / "d")
    long = [{"prompt": "bread " * 40, "chosen": "a", "rejected": "b"}]
    with pytest.raises(ValidationError, match="longer than the maximum length"):
        train_dpo(Path(tiny_model_dir), None, long, DPOSettings(max_length=16), tmp_path / "d")


def _trained_preference_model(tiny: Path, out: Path) -> Path:
    """A preference model as the reward job writes it (model/ + adapter/ with its score head)."""
    import torch

    from cai_desktop.engine import reward as rw

    torch.manual_seed(0)
    recs = [{"prompt": f"q {i}?", "chosen": "I can't help with that.", "rejected": "Sure.", "label": 0.9}
            for i in range(4)]
    settings = rw.RewardSettings(max_steps=2, batch_size=2, learning_rate=5e-3, max_length=64, lora_rank=4,
                                 lora_alpha=8, device="cpu", save_steps=50)
    return Path(rw.train_reward_model(tiny, recs, [], out, settings)["model_dir"])


@needs_ppo
def test_ppo_value_and_reward_models_share_one_frozen_base_and_resume(tiny_model_dir, tmp_path):
    """With a preference model trained on the policy's base, the reward model and the value model are
    two LoRA adapters (+ heads) on one frozen base: the value model trains only its LoRA and head,
    checkpoints hold just those, and a cancelled run resumes from them."""
    from safetensors.torch import load_file

    from cai_desktop.engine.rl import VALUE_FILE

    rm = _trained_preference_model(tiny_model_dir, tmp_path / "rm")
    out = tmp_path / "ppo"
    ctx = RecordingContext(cancel_after_progress=1)
    with pytest.raises(Cancelled):
        train_ppo(Path(tiny_model_dir), None, rm, PROMPTS, _small_ppo(), out, ctx=ctx)
    ckpt = last_ppo_checkpoint(out)
    value = load_file(str(ckpt / "value" / VALUE_FILE))
    assert "score.weight" in value and any(k.startswith("own_lora.") for k in value)
    assert not (ckpt / "value" / "config.json").exists()  # no full value model any more
    assert PPO_METRICS <= {n for n, _, _ in ctx.metrics}
    start_head = load_file(str(rm.parent / "adapter" / "adapter_model.safetensors"))["base_model.model.score.weight"]
    assert not value["score.weight"].equal(start_head)  # the value head trained away from the reward head
    r = train_ppo(Path(tiny_model_dir), None, rm, PROMPTS, _small_ppo(), out, ctx=RecordingContext(), resume=True)
    assert r["steps"] == 3 and (Path(r["adapter"]) / "adapter_config.json").is_file()


@needs_ppo
def test_ppo_step_with_activation_checkpointing_and_its_cli_option(tiny_model_dir, reward_dir, tmp_path):
    import argparse

    from cai_desktop.cli.jobs import add_params_arguments
    from cai_desktop.jobs.ppo import PPOParams

    parser = argparse.ArgumentParser()
    add_params_arguments(parser, PPOParams)
    assert "--activation-checkpointing" in parser.format_help()
    r = train_ppo(Path(tiny_model_dir), None, reward_dir, PROMPTS[:1],
                  _small_ppo(total_episodes=2, sample_every=0, activation_checkpointing=True), tmp_path / "ppo")
    assert r["steps"] == 1 and (Path(r["adapter"]) / "adapter_config.json").is_file()
