"""Ctrl+C in the CLI cancels cleanly: the trainer writes a checkpoint, the run is 'cancelled', and the
same command again continues that run (issue: SIGINT used to mark the run failed with no checkpoint)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cai_desktop.jobs.critique import CritiqueParams, run_critique
from cai_desktop.store.project import Project


def _loss_steps(path: Path, run_id: int) -> list[int]:
    with Project.open(path) as p:
        return [m["step"] for m in p.runs.metrics(run_id, "loss")]


def test_ctrl_c_checkpoints_marks_cancelled_and_the_same_command_resumes(stage1_project, tiny_model_dir):
    run_critique(None, CritiqueParams(project=str(stage1_project), constitution="tiny", model=str(tiny_model_dir),
                                      prompt_set="rt", revisions=1, max_new_tokens=8, critique_max_new_tokens=8,
                                      split=None, limit=None))
    cmd = [sys.executable, "-m", "cai_desktop", "run", "sft", str(stage1_project), "--base", str(tiny_model_dir),
           "--max-steps", "200", "--batch-size", "2", "--max-length", "48", "--save-steps", "1000",
           "--lora-rank", "4", "--lora-alpha", "8", "--no-include-helpful"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 180
        run_id = None
        while time.monotonic() < deadline:
            with Project.open(stage1_project) as p:
                runs = p.runs.list("sft")
            if runs and runs[0]["status"] == "running":
                run_id = runs[0]["id"]
                if len(_loss_steps(stage1_project, run_id)) >= 2:
                    break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        assert run_id is not None, "the SFT run never started"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "cancelled" in err and "Traceback" not in err
    with Project.open(stage1_project) as p:
        run = p.runs.get(run_id)
        out_dir = p.artifacts_dir / f"run-{run_id}" / "checkpoints"
    assert run["status"] == "cancelled"
    checkpoints = sorted(out_dir.glob("checkpoint-*"))
    assert checkpoints, "no checkpoint written on Ctrl+C"
    stopped_at = int(checkpoints[-1].name.split("-")[1])
    assert 0 < stopped_at < 200
    # the same command again continues the cancelled run from its checkpoint
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"run {run_id}: 200 steps" in again.stdout
    assert f"continuing unfinished run {run_id}" in again.stderr
    with Project.open(stage1_project) as p:
        assert p.runs.get(run_id)["status"] == "done"
        assert len(p.runs.list("sft")) == 1
