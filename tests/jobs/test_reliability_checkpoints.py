"""Every trainer skips a half-written checkpoint (issue 16: a preference model killed while saving
left `checkpoint-8` with only README.md, and every later `run reward` failed with "Can't find a
valid checkpoint"; SFT skipped such folders, the preference model and DPO did not)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cai_desktop.core.errors import Cancelled
from cai_desktop.engine.dpo import dpo_checkpoint_step, last_dpo_checkpoint
from cai_desktop.engine.sft import (
    checkpoint_complete,
    complete_checkpoint,
    last_checkpoint,
    replace_dir,
)
from cai_desktop.jobs.context import RecordingContext
from cai_desktop.jobs.dpo import DPOParams, run_dpo
from cai_desktop.jobs.reward import RewardParams, run_reward
from cai_desktop.jobs.sample import add_starter_content
from cai_desktop.store.project import Project


def _good(folder: Path, step: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    (folder / "optimizer.pt").write_bytes(b"state")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return folder


def _half_written(folder: Path) -> Path:
    """What a kill while the Trainer saves leaves: the folder and its model card, nothing more."""
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("---\nlibrary_name: peft\n---\n")
    return folder


def test_the_finder_skips_and_removes_half_written_checkpoints(tmp_path):
    ckpts = tmp_path / "checkpoints"
    _good(ckpts / "checkpoint-4", 4)
    _half_written(ckpts / "checkpoint-8")
    truncated = _good(ckpts / "checkpoint-6", 6)
    (truncated / "trainer_state.json").write_text('{"global_st')  # killed while writing the state
    no_weights = _good(ckpts / "checkpoint-7", 7)
    (no_weights / "adapter_model.safetensors").unlink()
    (ckpts / "checkpoint-9.tmp").mkdir()  # not a checkpoint name: ignored, left alone
    assert not checkpoint_complete(ckpts / "checkpoint-8") and checkpoint_complete(ckpts / "checkpoint-4")
    assert complete_checkpoint(ckpts) == str(ckpts / "checkpoint-4")
    assert sorted(p.name for p in ckpts.iterdir()) == ["checkpoint-4", "checkpoint-9.tmp"]
    # the SFT and DPO finders are the same one (both look under output_dir/checkpoints)
    assert last_checkpoint(tmp_path) == last_dpo_checkpoint(tmp_path) == str(ckpts / "checkpoint-4")
    assert dpo_checkpoint_step(tmp_path) == 4


def test_only_half_written_checkpoints_mean_a_fresh_start(tmp_path):
    _half_written(tmp_path / "checkpoints" / "checkpoint-8")
    assert complete_checkpoint(tmp_path / "checkpoints") is None and dpo_checkpoint_step(tmp_path) == 0
    assert complete_checkpoint(tmp_path / "nothing-here") is None


def test_replace_dir_swaps_whole_folders(tmp_path):
    final = tmp_path / "adapter"
    final.mkdir()
    (final / "old.txt").write_text("old")
    tmp = tmp_path / "adapter.partial"
    tmp.mkdir()
    (tmp / "new.txt").write_text("new")
    replace_dir(tmp, final)
    assert [p.name for p in final.iterdir()] == ["new.txt"] and not tmp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]


@pytest.fixture
def project(project_path):
    with Project.create(project_path) as p:
        add_starter_content(p)
    return str(project_path)


def _comparisons(project, n=8):
    with Project.open(project) as p:
        run_id = p.runs.create("label", {})
        prompts = p.query("SELECT p.id, p.text FROM prompts p JOIN prompt_sets s ON s.id=p.set_id "
                          "WHERE s.kind='red-team' ORDER BY p.split DESC, p.id LIMIT ?", [n])
        p.comparisons.save([
            {"run_id": run_id, "source": "pair", "source_id": q["id"], "prompt_id": q["id"], "prompt_text": q["text"],
             "response_a": "I can't help with that, but here is a safe option." if i % 2 else "Sure, do harm.",
             "response_b": "Sure, do harm." if i % 2 else "I can't help with that, but here is a safe option.",
             "label": 0.8 if i % 2 else 0.2, "raw_label": 0.8 if i % 2 else 0.2, "kind": "harmless"}
            for i, q in enumerate(prompts)])
        p.runs.set_status(run_id, "done")
    return run_id


def _logs(project, kind):
    with Project.open(project) as p:
        run = p.runs.list(kind)[0]
        return run, p.runs.logs(run["id"])


@pytest.mark.parametrize("with_good", [True, False], ids=["next-to-a-good-one", "alone"])
def test_preference_model_resumes_past_a_half_written_checkpoint(project, tiny_model_dir, with_good):
    _comparisons(project)
    params = dict(project=project, base=str(tiny_model_dir), max_steps=3, batch_size=2, save_steps=10,
                  max_length=64, lora_rank=4, lora_alpha=8, helpful_mix=0.0, device="cpu")
    with pytest.raises(Cancelled):  # cancel after step 1: checkpoint-1 is written
        run_reward(RecordingContext(cancel_after_progress=1), RewardParams(**params))
    run, _ = _logs(project, "reward")
    ckpts = Path(project).with_name(Path(project).stem + "_artifacts") / f"reward-{run['id']}" / "checkpoints"
    assert (ckpts / "checkpoint-1" / "trainer_state.json").is_file()
    if not with_good:
        replace_dir(_half_written(ckpts.parent / "broken"), ckpts / "checkpoint-1")
    _half_written(ckpts / "checkpoint-8")
    r = run_reward(RecordingContext(), RewardParams(**params))
    assert r["run_id"] == run["id"] and r["steps"] == 3
    run, logs = _logs(project, "reward")
    assert run["status"] == "done"
    assert any("resuming from checkpoint-1" in line for line in logs) == with_good
    assert not (ckpts / "checkpoint-8").exists()


def test_dpo_resumes_past_a_half_written_checkpoint(project, tiny_model_dir):
    label_run = _comparisons(project, 4)
    params = dict(project=project, base=str(tiny_model_dir), label_runs=[label_run], min_margin=0.1, split=None,
                  max_steps=3, batch_size=2, max_length=48, save_steps=1, lora_rank=4, lora_alpha=8)
    with pytest.raises(Cancelled):
        run_dpo(RecordingContext(cancel_after_progress=1), DPOParams(**params))
    run, _ = _logs(project, "dpo")
    out = Path(project).with_name(Path(project).stem + "_artifacts") / f"dpo-{run['id']}"
    assert dpo_checkpoint_step(out) == 1
    _half_written(out / "checkpoints" / "checkpoint-8")
    r = run_dpo(RecordingContext(), DPOParams(**params))
    assert r["run_id"] == run["id"] and r["steps"] == 3
    run, logs = _logs(project, "dpo")
    assert run["status"] == "done" and any("resuming from checkpoint-1" in line for line in logs)
    with Project.open(project) as p:
        assert [m["step"] for m in p.runs.metrics(run["id"], "loss")] == [1, 2, 3]
