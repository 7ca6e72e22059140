import pytest

from cai_desktop.cli import main
from cai_desktop.store.project import Project


@pytest.mark.slow
def test_quick_demo_runs_both_stages_end_to_end(tmp_path, tiny_model_dir, capsys):
    path = tmp_path / "d.caiproj"
    assert main(["demo", str(path), "--quick", "--model", str(tiny_model_dir)]) == 0
    out = capsys.readouterr().out
    summary = out.split("== summary", 1)[1]
    for what in ("chains made: 12 red-team", "SFT loss:", "SL-CAI adapter:", "held-out accuracy",
                 "PPO reward:", "RL-CAI adapter:", "refusal rate, base", "refusal rate, sft", "timings:"):
        assert what in summary, what
    with Project.open(path) as p:
        runs = p.runs.list()
        assert {r["kind"] for r in runs} == {"critique", "sft", "pairs", "label", "reward", "ppo", "eval"}
        assert all(r["status"] == "done" for r in runs)
        assert {a["kind"] for a in p.adapters.list()} == {"sft", "reward", "ppo"}
    # stage 2 alone needs stage 1 first: a clear message, not a traceback
    assert main(["demo", str(tmp_path / "fresh.caiproj"), "--quick", "--stage", "2"]) == 2
    assert "no SL-CAI adapter" in capsys.readouterr().err
