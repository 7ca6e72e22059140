"""The preference model: soft-label loss, a few LoRA steps, cancel/resume, the saved merged model."""

from __future__ import annotations

import math

import pytest
import torch

from cai_desktop.core import feedback as fb
from cai_desktop.core.errors import Cancelled, ModelError, ValidationError
from cai_desktop.engine import reward as rw
from cai_desktop.jobs.context import RecordingContext


def _records(n: int = 8) -> list[dict]:
    out = []
    for i in range(n):
        out.append({
            "prompt": f"How do I bake bread {i}?",
            "chosen": "Mix flour, water, salt and yeast, then knead.",
            "rejected": "I can't help with that.",
            "label": 0.6 + 0.4 * (i % 2),
        })
    return out


def _settings(**kw) -> rw.RewardSettings:
    base = dict(max_steps=3, batch_size=2, learning_rate=5e-3, save_steps=2, logging_steps=1, max_length=64,
                lora_rank=4, lora_alpha=8, device="cpu")
    base.update(kw)
    return rw.RewardSettings(**base)


def test_soft_loss_equals_hard_loss_at_labels_0_and_1():
    rc = torch.tensor([0.3, -1.2, 2.0])
    rr = torch.tensor([-0.5, 0.4, 1.0])
    hard = -torch.nn.functional.logsigmoid(rc - rr).mean()  # TRL's standard reward loss
    assert torch.allclose(rw.soft_preference_loss(rc, rr, torch.ones(3)), hard, atol=1e-6)
    assert torch.allclose(rw.soft_preference_loss(rc, rr, None), hard, atol=1e-6)
    # label 0 = the other side is better: the hard loss with chosen and rejected swapped
    swapped = -torch.nn.functional.logsigmoid(rr - rc).mean()
    assert torch.allclose(rw.soft_preference_loss(rc, rr, torch.zeros(3)), swapped, atol=1e-6)
    # and the torch loss matches the plain-math reference at a soft label
    lab = torch.tensor([0.7, 0.55, 0.9])
    ref = sum(fb.soft_preference_loss(float(a), float(b), float(y)) for a, b, y in zip(rc, rr, lab)) / 3
    assert math.isclose(float(rw.soft_preference_loss(rc, rr, lab)), ref, rel_tol=1e-5)


def test_soft_label_at_half_pulls_rewards_together():
    rc = torch.tensor([2.0], requires_grad=True)
    rr = torch.tensor([0.0])
    rw.soft_preference_loss(rc, rr, torch.tensor([0.5])).backward()
    assert rc.grad.item() > 0  # gradient descent lowers r_chosen towards r_rejected


def test_collator_passes_soft_labels():
    col = rw.SoftPreferenceCollator(pad_token_id=0)
    batch = col([{"chosen_ids": [1, 2, 3], "rejected_ids": [4], "soft_label": 0.7},
                 {"chosen_ids": [5], "rejected_ids": [6, 7], "soft_label": 1.0}])
    assert batch["input_ids"].shape == (4, 3)
    assert batch["soft_label"].tolist() == pytest.approx([0.7, 1.0])


def test_train_saves_a_loadable_merged_model(tiny_model_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification

    ctx = RecordingContext()
    out = rw.train_reward_model(tiny_model_dir, _records(), _records(4), tmp_path / "rm", _settings(), ctx=ctx)
    assert out["steps"] == 3
    assert ctx.metric_values("loss") and all(math.isfinite(v) for v in ctx.metric_values("loss"))
    ev = out["eval"]
    assert ev["n"] == 4 and 0.0 <= ev["accuracy"] <= 1.0
    assert sum(b["n"] for b in ev["calibration"]) == 8  # both orientations of 4 pairs
    model_dir = tmp_path / "rm" / "model"
    loaded = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1)
    assert loaded.config.num_labels == 1 and loaded.config.pad_token_id is not None
    rewards = rw.score(model_dir, ["How do I bake bread?"] * 2, ["Mix flour and water.", "No."])
    assert len(rewards) == 2 and all(math.isfinite(r) for r in rewards)
    # the merged model scores as the saved folder does (the head was trained and kept)
    tok_ids = rw.encode(rw.load_reward_model(model_dir)[1], "How do I bake bread?", "No.", 64)
    with torch.no_grad():
        direct = loaded(input_ids=torch.tensor([tok_ids])).logits[0, 0].item()
    assert direct == pytest.approx(rewards[1], abs=1e-4)
    # the head differs from a fresh random head: training changed the score weights
    fresh = rw.load_classifier(tiny_model_dir)
    assert not torch.allclose(fresh.score.weight, loaded.score.weight)


def test_cancel_keeps_a_checkpoint_and_resume_finishes(tiny_model_dir, tmp_path):
    ctx = RecordingContext(cancel_after_progress=2)
    with pytest.raises(Cancelled):
        rw.train_reward_model(tiny_model_dir, _records(), [], tmp_path / "rm", _settings(max_steps=4), ctx=ctx)
    ckpt = rw.last_checkpoint(tmp_path / "rm" / "checkpoints")
    assert ckpt is not None and ckpt.endswith("checkpoint-2")
    assert not (tmp_path / "rm" / "model").exists()
    ctx2 = RecordingContext()
    out = rw.train_reward_model(tiny_model_dir, _records(), [], tmp_path / "rm", _settings(max_steps=4), ctx=ctx2,
                                resume=True)
    assert out["steps"] == 4
    assert any("resuming from checkpoint-2" in line for line in ctx2.logs)
    # resumed training reports steps after the checkpoint only
    assert min(s for n, _, s in ctx2.metrics if n == "loss") >= 3
    assert (tmp_path / "rm" / "model" / "config.json").is_file()


def test_bad_inputs_raise_clear_errors(tiny_model_dir, tmp_path):
    with pytest.raises(ValidationError):
        rw.train_reward_model(tiny_model_dir, [], [], tmp_path / "x", _settings())
    with pytest.raises(ValidationError):
        _settings(learning_rate=0).check()
    with pytest.raises(ModelError):
        rw.score(tmp_path, ["p"], ["r"])
    with pytest.raises(ValidationError):
        rw.score(tiny_model_dir, ["p"], [])


def test_lora_on_top_layers_only(tiny_model_dir, tmp_path):
    import json

    out = rw.train_reward_model(
        tiny_model_dir, _records(4), [], tmp_path / "rm", _settings(max_steps=1, lora_layers=1)
    )
    config = json.loads((tmp_path / "rm" / "adapter" / "adapter_config.json").read_text())
    assert config["layers_to_transform"] == [1]  # the tiny model has layers 0 and 1
    assert out["steps"] == 1
    with pytest.raises(ValidationError):
        _settings(lora_layers=0).check()


def test_saved_preference_model_reloads_to_identical_rewards_on_a_shared_base(tiny_model_dir, tmp_path):
    """The pain of LoRA reward models whose head is not saved: rewards random after reload. Ours are
    the same, whole (model/) and as an adapter plus head on the policy's own frozen base."""
    torch.manual_seed(0)
    r = rw.train_reward_model(tiny_model_dir, _records(), [], tmp_path / "rm", _settings(max_steps=2))
    assert r["probe_rewards"] and len(set(round(x, 6) for x in r["probe_rewards"])) >= 1
    prompts = [p["prompt"] for p in r["probe"]]
    answers = [p["response"] for p in r["probe"]]
    rw.clear_reward_cache()
    whole = rw.score(r["model_dir"], prompts, answers, device="cpu", max_length=64)
    # merged into the weights: the same up to float rounding of W + BA
    assert whole == pytest.approx(r["probe_rewards"], rel=1e-5, abs=1e-5)
    adapter = rw.reward_adapter_dir(r["model_dir"])
    assert adapter is not None and adapter.name == "adapter"
    clf, _ = rw.load_shared_reward_model(tiny_model_dir, adapter)
    tok = rw.load_reward_model(r["model_dir"], "cpu")[1]
    seqs = [rw.encode(tok, p, a, 64) for p, a in zip(prompts, answers)]
    shared = rw._rewards(clf, tok, seqs, 8, "cpu")
    assert shared == pytest.approx(r["probe_rewards"], abs=1e-6)  # adapter + head unmerged: as in training
    # the head really is trained: a fresh random head would not give these rewards
    fresh = rw.load_classifier(tiny_model_dir)
    fresh.config.pad_token_id = tok.pad_token_id
    assert rw._rewards(fresh, tok, seqs, 8, "cpu") != pytest.approx(r["probe_rewards"], abs=1e-3)
    rw.clear_reward_cache()


def test_a_preference_model_saved_without_its_head_is_refused_in_one_line(tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model

    model = rw.load_classifier(tiny_model_dir)
    assert rw.score_head_name(model) == "score"
    get_peft_model(model, LoraConfig(r=2, target_modules="all-linear")).save_pretrained(
        tmp_path / "adapter")
    with pytest.raises(ModelError, match="without its score head"):
        rw.load_shared_reward_model(tiny_model_dir, tmp_path / "adapter")


def test_gpu_settings_on_the_preference_model_and_a_4bit_base_without_cuda(tiny_model_dir, tmp_path):
    import argparse

    from cai_desktop.cli.jobs import add_params_arguments
    from cai_desktop.jobs.reward import RewardParams

    parser = argparse.ArgumentParser()
    add_params_arguments(parser, RewardParams)
    text = parser.format_help()
    assert "--load-in-4bit" in text and "--activation-checkpointing" in text and "--adapt-batch" in text
    s = rw.RewardSettings()
    assert (s.load_in_4bit, s.activation_checkpointing, s.adapt_batch) == (False, False, True)
    for device, why in ((None, "this machine has none"), ("cpu", "this run trains on the cpu")):
        with pytest.raises(ModelError, match=rf"4-bit base \(QLoRA\) needs a CUDA GPU, and {why}"):
            rw.train_reward_model(tiny_model_dir, _records(), [], tmp_path / "rm",
                                  _settings(load_in_4bit=True, device=device))
    assert not (tmp_path / "rm" / "checkpoints").exists()  # refused before anything loaded or trained


def test_activation_checkpointing_trains_the_preference_model(tiny_model_dir, tmp_path):
    r = rw.train_reward_model(tiny_model_dir, _records(), [], tmp_path / "rm",
                              _settings(max_steps=1, activation_checkpointing=True))
    assert r["steps"] == 1 and math.isfinite(r["train_loss"])
