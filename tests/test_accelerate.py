"""SFT and DPO under ``accelerate launch`` with two processes (gloo, no GPU), as a lab with several
GPUs runs them headless: both processes train, only the main one writes to the project."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cai_desktop.engine.distributed import is_main_process, share
from cai_desktop.store.project import Project

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "packaging" / "accelerate" / "cpu2.yaml"


def _accelerate() -> str:
    exe = Path(sys.executable).with_name("accelerate")
    found = str(exe) if exe.is_file() else shutil.which("accelerate")
    if not found:
        pytest.skip("the accelerate command is not installed")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
           "TRL_EXPERIMENTAL_SILENCE": "1", "PYTHONPATH": str(ROOT)}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    cmd = [_accelerate(), "launch", "--config_file", str(CONFIG), "--main_process_port", str(_free_port()),
           "-m", "cai_desktop", "run", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


def _project(tmp_path: Path, model: Path) -> Path:
    """Starter prompts, the tiny model as the student, teacher answers (SFT data) and labelled
    pairs (DPO data), without running any model."""
    from cai_desktop.jobs.sample import add_starter_content

    path = tmp_path / "multi.caiproj"
    with Project.create(path) as p:
        add_starter_content(p)
        p.roles.set("student", str(Path(model).resolve()))
        run_id = p.runs.create("distill", {})
        prompts = p.query("SELECT id, text FROM prompts ORDER BY id LIMIT 8")
        p.comparisons.save([
            {"run_id": run_id, "source": source, "source_id": i, "prompt_id": pr["id"], "prompt_text": pr["text"],
             "response_a": f"I won't help with that ({i}).", "response_b": f"Sure, step one ({i}).",
             "p_a": 0.9, "p_b": 0.1, "raw_label": 0.9, "label": 0.9, "kind": "harmless", "mode": "direct",
             "clamp": "none"}
            for i, pr in enumerate(prompts) for source in ("distill", "pair")])
        p.runs.set_status(run_id, "done")
    return path


def _check_one_run(path: Path, kind: str) -> dict:
    with Project.open(path) as p:
        runs = p.runs.list(kind)
        assert len(runs) == 1, "the second process must not claim a run of its own"
        run = p.runs.get(runs[0]["id"])
        assert run["status"] == "done"
        result = run["result"] if isinstance(run.get("result"), dict) else json.loads(run["result_json"])
        assert result["processes"] == 2  # both processes trained (DDP over gloo)
        steps = [m["step"] for m in p.runs.metrics(run["id"], "loss")]
        assert steps == [1, 2], "metrics are recorded once, by the main process"
        (adapter,) = p.adapters.list(kind)
        return {"run": run, "result": result, "adapter": adapter}


def _load(model: Path, adapter: str) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(model))
    tuned = PeftModel.from_pretrained(base, adapter)
    with torch.no_grad():
        out = tuned(torch.tensor([[1, 2, 3]])).logits
    assert torch.isfinite(out).all()


def test_single_process_shares_nothing_and_is_main(monkeypatch):
    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert is_main_process() and share({"x": 1}) == {"x": 1}
    monkeypatch.setenv("RANK", "1")
    assert not is_main_process()


def test_follower_records_nothing_and_returns_the_main_result(project_path, monkeypatch):
    """A process other than the main one (RANK 1 of 2) runs the body with a context that writes
    nothing, claims no run and returns what the main process shared."""
    from cai_desktop.jobs import runs as runs_module

    Project.create(project_path).close()
    shared = iter([{"run_id": 7, "resume_run": None}, {"result": {"run_id": 7, "steps": 2}}])
    monkeypatch.setattr(runs_module, "share", lambda value=None: next(shared))
    monkeypatch.setattr(runs_module, "distributed", lambda: True)
    monkeypatch.setattr(runs_module, "is_main_process", lambda: False)
    seen = {}

    def body(project, rctx, run_id):
        seen["run_id"], seen["main"] = run_id, rctx.main_process
        rctx.log("a line")
        rctx.metric("loss", 1.0, 1)
        rctx.progress(1, 2)
        return {"steps": 2}

    with Project.open(project_path) as p:
        result = runs_module.execute(None, p, "sft", {}, body, follow=lambda c: seen.update(claimed=c))
        assert result == {"run_id": 7, "steps": 2}
        assert seen == {"run_id": 7, "main": False, "claimed": {"run_id": 7, "resume_run": None}}
        assert p.runs.list() == []  # no run row, no log, no metric


SMALL = ["--max-steps", "2", "--batch-size", "2", "--max-length", "64", "--lora-r", "4", "--lora-alpha", "8",
         "--save-steps", "1"]


@pytest.mark.slow
def test_sft_under_accelerate_with_two_processes(tmp_path, tiny_model_dir):
    path = _project(tmp_path, tiny_model_dir)
    done = _launch("sft", str(path), *SMALL)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("adapter 1:") == 1  # the summary is printed once, by the main process
    sft = _check_one_run(path, "sft")
    assert sft["result"]["examples"] > 0
    _load(tiny_model_dir, sft["adapter"]["path"])


@pytest.mark.slow
def test_dpo_on_an_sl_cai_adapter_under_accelerate_with_two_processes(tmp_path, tiny_model_dir):
    from tests.engine.test_rl import make_random_adapter

    path = _project(tmp_path, tiny_model_dir)
    start = make_random_adapter(tiny_model_dir, tmp_path / "sl-cai")
    with Project.open(path) as p:
        start_id = p.adapters.register("sft", str(start), str(Path(tiny_model_dir).resolve()), {"kind": "sft"},
                                       name="sl-cai")
    done = _launch("dpo", str(path), "--adapter", str(start_id), "--split", "all", *SMALL)
    assert done.returncode == 0, done.stderr[-3000:]
    dpo = _check_one_run(path, "dpo")
    assert dpo["result"]["pairs"] > 0
    assert Path(dpo["result"]["delta"], "adapter_config.json").is_file()
    _load(tiny_model_dir, dpo["adapter"]["path"])  # the SL-CAI adapter and the DPO delta, concatenated


@pytest.mark.slow
def test_preference_model_under_accelerate_with_two_processes(tmp_path, tiny_model_dir):
    path = _project(tmp_path, tiny_model_dir)
    done = _launch("reward", str(path), "--max-steps", "2", "--batch-size", "2", "--max-length", "64",
                   "--lora-rank", "4", "--lora-alpha", "8", "--save-steps", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    with Project.open(path) as p:
        runs = p.runs.list("reward")
        assert len(runs) == 1, "the second process must not claim a run of its own"
        run = p.runs.get(runs[0]["id"])
        assert run["status"] == "done"
        result = run["result"] if isinstance(run.get("result"), dict) else json.loads(run["result_json"])
        assert result["processes"] == 2
        assert len(p.runs.metrics(run["id"], "train_accuracy")) == 1, "metrics are recorded once"
        (row,) = p.adapters.list("reward")  # one preference model row, not one per process
    model_dir = Path(row["path"])
    assert (model_dir / "cai_reward.json").is_file() and not Path(str(model_dir) + ".partial").exists()
    import math

    from cai_desktop.engine.reward import score

    (value,) = score(model_dir, ["Hello?"], ["Hi."])
    assert math.isfinite(value)  # the merged model the main process saved loads and scores


@pytest.mark.slow
def test_rloo_under_accelerate_with_two_processes(tmp_path, tiny_model_dir):
    from tests.engine.test_rl import make_random_adapter, make_reward_model

    path = _project(tmp_path, tiny_model_dir)
    base = str(Path(tiny_model_dir).resolve())
    with Project.open(path) as p:
        start_id = p.adapters.register("sft", str(make_random_adapter(tiny_model_dir, tmp_path / "sl-cai")), base,
                                       {"kind": "sft"}, name="sl-cai")
        p.adapters.register("reward", str(make_reward_model(tiny_model_dir, tmp_path / "rm")), base,
                            {"kind": "reward"}, name="rm")
    done = _launch("rloo", str(path), "--adapter", str(start_id), "--limit", "4", "--max-steps", "2",
                   "--prompts-per-step", "2", "--num-generations", "2", "--response-length", "4", "--lora-r", "2",
                   "--lora-alpha", "4", "--save-every", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    with Project.open(path) as p:
        (run,) = p.runs.list("rloo")
        run = p.runs.get(run["id"])
        assert run["status"] == "done"
        result = run["result"] if isinstance(run.get("result"), dict) else json.loads(run["result_json"])
        assert result["processes"] == 2  # both processes trained
        assert [m["step"] for m in p.runs.metrics(run["id"], "reward")] == [1, 2], "metrics are recorded once"
        (row,) = p.adapters.list("rloo")
    _load(tiny_model_dir, row["path"])
