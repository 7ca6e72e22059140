"""The PPO and DPO jobs on the tiny model: runs, metrics, adapters with lineage, cancel/resume,
clear errors, and the `run ppo|dpo` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cai_desktop.core.errors import Cancelled, ProjectError, ValidationError
from cai_desktop.jobs.context import RecordingContext
from cai_desktop.jobs.dpo import DPOParams, run_dpo
from cai_desktop.jobs.ppo import PPOParams, run_ppo
from cai_desktop.jobs.sample import add_starter_content
from cai_desktop.store.project import Project
from tests.engine.test_rl import make_random_adapter, make_reward_model


def _ppo_missing() -> bool:
    from cai_desktop.engine.rl import ppo_unavailable

    return ppo_unavailable() is not None


#: PPO needs a TRL that still has trl.experimental.ppo (``pip install -e ".[ppo]"``; the Makefile does)
needs_ppo = pytest.mark.skipif(_ppo_missing(), reason="this TRL has no trl.experimental.ppo (TRL 1.13 deleted it)")



@pytest.fixture(autouse=True)
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def project(project_path, tiny_model_dir, tmp_path):
    """Starter content, an SL-CAI adapter row and a preference model row on the tiny model."""
    sft = make_random_adapter(tiny_model_dir, tmp_path / "sft")
    rm = make_reward_model(tiny_model_dir, tmp_path / "rm")
    with Project.create(project_path) as p:
        add_starter_content(p)
        base = str(Path(tiny_model_dir).resolve())
        p.adapters.register("sft", sft, base, {"kind": "sft"}, name="sft")
        p.adapters.register("reward", rm, base, {"kind": "reward"}, name="rm")
    return str(project_path)


def _ids(project, kind):
    with Project.open(project) as p:
        return [a["id"] for a in p.adapters.list(kind)]


def _ppo(project, **kw):
    base = dict(project=project, policy_adapter_id=_ids(project, "sft")[0], limit=3, total_episodes=4,
                batch_size=2, response_length=6, num_ppo_epochs=1, lora_rank=4, lora_alpha=8, sample_every=1)
    base.update(kw)
    return PPOParams(**base)


@needs_ppo
def test_ppo_job_cancels_resumes_and_registers_an_adapter_with_lineage(project):
    ctx = RecordingContext(cancel_after_progress=1)
    with pytest.raises(Cancelled):
        run_ppo(ctx, _ppo(project))
    with Project.open(project) as p:
        run_id = p.runs.list("ppo")[0]["id"]
        assert p.runs.get(run_id)["status"] == "cancelled"
        assert [m["step"] for m in p.runs.metrics(run_id, "reward")] == [1]
        assert not p.adapters.list("ppo")
        p.runs.add_metric(run_id, "reward", 9.0, 2)  # as if a killed run had logged step 2 after its checkpoint
    r = run_ppo(RecordingContext(), _ppo(project, resume_run=run_id))
    assert r["run_id"] == run_id and r["steps"] == 2
    with Project.open(project) as p:
        assert p.runs.get(run_id)["status"] == "done"
        for name in ("reward", "kl", "entropy", "policy_loss", "value_loss", "clipfrac", "response_length"):
            assert [m["step"] for m in p.runs.metrics(run_id, name)] == [1, 2], name
        assert 9.0 not in [m["value"] for m in p.runs.metrics(run_id, "reward")]
        logs = p.runs.logs(run_id)
        assert any("sample step 2 · reward" in line for line in logs)
        assert any("resuming from step-1" in line for line in logs)
        (row,) = p.adapters.list("ppo")
        assert row["id"] == r["adapter_id"] and row["path"] == r["adapter"] and row["run_id"] == run_id
        lineage = json.loads(row["lineage_json"])
        assert lineage["policy_start"]["adapter_id"] == _ids(project, "sft")[0]
        assert lineage["reward_model"]["adapter_id"] == _ids(project, "reward")[0]
        assert lineage["prompts"]["set"] == "red-team" and lineage["prompts"]["n"] == 3
        assert lineage["settings"]["kl_coef"] == 0.05 and lineage["steps"] == 2
    # the adapter loads through the model registry like any other
    from cai_desktop.engine.models import clear_model_cache, load_model

    lm = load_model(row["base_model_spec"], adapter=row["path"], device="cpu")
    assert lm.model is not None
    clear_model_cache()


@needs_ppo
def test_ppo_job_mixes_helpful_prompts(project):
    from cai_desktop.jobs.ppo import select_prompts

    with Project.open(project) as p:
        texts, n_helpful = select_prompts(p, _ppo(project, helpful_ratio=1.0))
        helpful = {x["text"] for x in p.query("SELECT p.text FROM prompts p JOIN prompt_sets s ON s.id=p.set_id "
                                               "WHERE s.name='helpful'")}
    assert n_helpful == 3 and len(texts) == 6 and len(set(texts) & helpful) == 3


@needs_ppo
def test_ppo_job_errors_are_clear(project, project_path, tmp_path):
    with pytest.raises(ValidationError, match="'reward' adapter"):
        run_ppo(RecordingContext(), _ppo(project, policy_adapter_id=_ids(project, "reward")[0]))
    with pytest.raises(ProjectError, match="no adapter 999"):
        run_ppo(RecordingContext(), _ppo(project, reward_adapter_id=999))
    with pytest.raises(ValidationError, match="Split: 'nowhere' is not one of"):
        run_ppo(RecordingContext(), _ppo(project, prompt_set="red-team", split="nowhere"))
    empty = tmp_path / "empty.caiproj"
    with Project.create(empty) as p:
        add_starter_content(p)
    with pytest.raises(ValidationError, match="No preference model"):
        run_ppo(RecordingContext(), PPOParams(project=str(empty), base=None))
    with Project.open(project) as p:
        assert not p.runs.list("ppo")  # bad input makes no run row


def _add_comparisons(project, labels):
    with Project.open(project) as p:
        run_id = p.runs.create("label", {})
        prompts = p.query("SELECT id, text FROM prompts ORDER BY id LIMIT ?", [len(labels)])
        p.comparisons.save([
            {"run_id": run_id, "source": "pair", "source_id": i, "prompt_id": pr["id"], "prompt_text": pr["text"],
             "response_a": f"I won't help with that ({i}).", "response_b": f"Sure, step one ({i}).",
             "p_a": lab, "p_b": 1 - lab, "raw_label": lab, "label": lab, "kind": "harmless", "mode": "direct",
             "clamp": "none"}
            for i, (pr, lab) in enumerate(zip(prompts, labels))
        ])
        p.runs.set_status(run_id, "done")
    return run_id


def test_dpo_job_drops_near_even_pairs_cancels_resumes_and_registers(project):
    label_run = _add_comparisons(project, [0.9, 0.2, 0.55, 0.8, 0.1])
    params = dict(project=project, policy_adapter_id=_ids(project, "sft")[0], label_runs=[label_run],
                  min_margin=0.1, split=None, max_steps=2, batch_size=2, max_length=48, save_steps=1,
                  lora_rank=4, lora_alpha=8)
    with pytest.raises(Cancelled):
        run_dpo(RecordingContext(cancel_after_progress=1), DPOParams(**params))
    with Project.open(project) as p:
        run_id = p.runs.list("dpo")[0]["id"]
        assert p.runs.get(run_id)["status"] == "cancelled"
    r = run_dpo(RecordingContext(), DPOParams(**params, resume_run=run_id))
    assert r["steps"] == 2 and r["pairs"] == 4  # the 55 % pair is dropped
    with Project.open(project) as p:
        assert [m["step"] for m in p.runs.metrics(run_id, "loss")] == [1, 2]
        (row,) = p.adapters.list("dpo")
        lineage = json.loads(row["lineage_json"])
        assert lineage["data"]["pairs"] == 4 and lineage["data"]["min_margin"] == 0.1
        assert lineage["policy_start"]["kind"] == "sft" and (Path(row["path"]) / "adapter_config.json").is_file()
    with pytest.raises(ValidationError, match="No preference pairs to train on"):
        run_dpo(RecordingContext(), DPOParams(**{**params, "min_margin": 0.45}))


@needs_ppo
def test_cli_run_dpo_and_ppo(project, capsys):
    from cai_desktop.cli import main

    _add_comparisons(project, [0.9, 0.1])
    sft = str(_ids(project, "sft")[0])
    assert main(["run", "dpo", project, "--adapter", sft, "--split", "all", "--max-steps", "1", "--batch-size", "2",
                 "--max-length", "160", "--lora-r", "2", "--lora-alpha", "4"]) == 0
    out = capsys.readouterr().out
    assert "1 DPO steps on 2 pairs" in out and "adapter" in out
    assert main(["run", "ppo", project, "--adapter", sft, "--reward", "999"]) == 2
    assert "no adapter 999" in capsys.readouterr().err
    assert main(["run", "ppo", project, "--adapter", sft, "--limit", "2", "--episodes", "2", "--batch-size", "2",
                 "--response-length", "4", "--ppo-epochs", "1", "--lora-r", "2", "--lora-alpha", "4"]) == 0
    out = capsys.readouterr().out
    assert "1 PPO steps, 2 episodes" in out and "reward" in out


# -- RLOO (recommended) ------------------------------------------------------------------------------
def _rloo(project, **kw):
    from cai_desktop.jobs.rloo import RLOOParams

    base = dict(project=project, policy_adapter_id=_ids(project, "sft")[0], limit=3, max_steps=2,
                prompts_per_step=2, num_generations=2, response_length=6, lora_rank=4, lora_alpha=8,
                sample_every=1, save_every=1)
    base.update(kw)
    return RLOOParams(**base)


def test_rloo_job_cancels_resumes_and_registers_an_adapter_with_lineage(project):
    from cai_desktop.jobs.rloo import run_rloo

    with pytest.raises(Cancelled):
        run_rloo(RecordingContext(cancel_after_progress=1), _rloo(project))
    with Project.open(project) as p:
        run_id = p.runs.list("rloo")[0]["id"]
        assert p.runs.get(run_id)["status"] == "cancelled"
        assert [m["step"] for m in p.runs.metrics(run_id, "reward")] == [1]
        assert not p.adapters.list("rloo")
    r = run_rloo(RecordingContext(), _rloo(project, resume_run=run_id))
    assert r["run_id"] == run_id and r["steps"] == 2
    with Project.open(project) as p:
        assert p.runs.get(run_id)["status"] == "done"
        for name in ("reward", "kl", "entropy", "response_length", "policy_loss"):
            assert [m["step"] for m in p.runs.metrics(run_id, name)] == [1, 2], name
        logs = p.runs.logs(run_id)
        assert any("sample step 2 · reward" in line for line in logs)
        assert any("resuming from checkpoint-1" in line for line in logs)
        (row,) = p.adapters.list("rloo")
        lineage = json.loads(row["lineage_json"])
        assert lineage["algorithm"] == "rloo" and lineage["settings"]["beta"] == 0.05
        assert lineage["policy_start"]["adapter_id"] == _ids(project, "sft")[0]
        assert lineage["reward_model"]["adapter_id"] == _ids(project, "reward")[0]
        assert (Path(row["path"]) / "adapter_config.json").is_file()


def test_cli_run_rloo_with_grpo(project, capsys):
    from cai_desktop.cli import main

    sft = str(_ids(project, "sft")[0])
    assert main(["run", "rloo", project, "--adapter", sft, "--algorithm", "grpo", "--limit", "2", "--max-steps", "1",
                 "--prompts-per-step", "2", "--num-generations", "2", "--response-length", "4", "--lora-r", "2",
                 "--lora-alpha", "4"]) == 0
    out = capsys.readouterr().out
    assert "1 GRPO steps, 4 answers" in out and "adapter" in out
    assert main(["run", "rloo", project, "--algorithm", "ppo"]) == 2
    assert "rloo, grpo" in capsys.readouterr().err


@needs_ppo
def test_ppo_is_not_offered_when_trl_has_no_ppo(project, monkeypatch, capsys, qtbot):
    """TRL 1.13 deleted trl.experimental.ppo: simulated by a failed import (sys.modules holds None)."""
    import sys

    from cai_desktop.cli import main
    from cai_desktop.jobs.registry import unavailable

    assert unavailable("ppo") is None  # this installation (TRL 1.12) has it
    monkeypatch.setitem(sys.modules, "trl.experimental.ppo", None)
    why = unavailable("ppo")
    assert why and "PPO (as in the paper)" in why and "Use RLOO" in why and "--" not in why
    assert unavailable("rloo") is None
    with pytest.raises(ValidationError, match="Use RLOO"):
        run_ppo(RecordingContext(), _ppo(project))
    assert main(["run", "ppo", project]) == 2
    err = capsys.readouterr().err
    assert "Use RLOO" in err and "Traceback" not in err
    with Project.open(project) as p:
        assert not p.runs.list("ppo")  # refused before a run row is made
    # the engine refuses in the same words when called directly
    from cai_desktop.core.errors import ModelError
    from cai_desktop.engine.rl import train_ppo

    with pytest.raises(ModelError, match="Use RLOO"):
        train_ppo(Path("."), None, Path("."), ["hi"], PPOParams(project=project), Path("/nonexistent-out"))
    # the Runs page: the PPO button is disabled with the reason, RLOO is there and enabled
    from cai_desktop.ui.pages.runs import RunsPage

    page = RunsPage()
    qtbot.addWidget(page)
    ppo_button, rloo_button = page.new_buttons["ppo"], page.new_buttons["rloo"]
    assert not ppo_button.isEnabled() and "Use RLOO" in ppo_button.toolTip()
    assert ppo_button.text().startswith("PPO (as in the paper)")
    assert rloo_button.isEnabled() and rloo_button.text().startswith("RLOO (recommended)")


# -- several processes (accelerate launch) ---------------------------------------------------------
def _as_follower(monkeypatch, run_id):
    """This process is rank 1 of 2: the main process (simulated) claimed ``run_id`` and shares its result."""
    from cai_desktop.engine import distributed
    from cai_desktop.jobs import runs as runs_module

    shared = iter([{"run_id": run_id, "resume_run": None}, {"result": {"run_id": run_id, "from": "rank 0"}}])
    monkeypatch.setattr(runs_module, "share", lambda value=None: next(shared))
    monkeypatch.setattr(runs_module, "distributed", lambda: True)
    monkeypatch.setattr(runs_module, "is_main_process", lambda: False)
    monkeypatch.setattr(distributed, "is_main_process", lambda: False)


def test_rloo_follower_process_trains_but_writes_nothing(project, monkeypatch):
    from cai_desktop.jobs.rloo import run_rloo

    with Project.open(project) as p:
        models_before = p.models.list()
    _as_follower(monkeypatch, 41)
    r = run_rloo(RecordingContext(), _rloo(project, max_steps=1))
    assert r == {"run_id": 41, "from": "rank 0"}  # the main process's result
    with Project.open(project) as p:
        assert p.runs.list() == [] and p.adapters.list("rloo") == []
        assert p.models.list() == models_before
        out = p.artifacts_dir / "rloo-41"
    assert not (out / "adapter").exists() and not (out / "delta").exists()  # the main process saves them


def test_ppo_refuses_several_processes_in_one_line(project, monkeypatch, capsys):
    from cai_desktop.cli import main
    from cai_desktop.jobs.ppo import MULTI_PROCESS

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValidationError, match="PPO runs in one process only"):
        run_ppo(RecordingContext(), _ppo(project))
    assert main(["run", "ppo", project]) == 2
    err = capsys.readouterr().err.strip()
    assert MULTI_PROCESS in err and "Traceback" not in err and len(err.splitlines()) == 1
    with Project.open(project) as p:
        assert not p.runs.list("ppo")
