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
                 "RLOO reward:", "RL-CAI adapter:", "refusal rate, base", "refusal rate, sft", "timings:"):
        assert what in summary, what
    # the plan comes first, the evaluation's plain-language verdicts at the end
    assert out.index("The whole method, quick size") < out.index("== critique → revision chains")
    verdicts = out.split("== verdicts", 1)[1].split("== summary", 1)[0]
    assert "sft #" in verdicts and "rloo #" in verdicts
    with Project.open(path) as p:
        runs = p.runs.list()
        assert {r["kind"] for r in runs} == {"critique", "sft", "pairs", "label", "reward", "rloo", "eval"}
        assert all(r["status"] == "done" for r in runs)
        assert {a["kind"] for a in p.adapters.list()} == {"sft", "reward", "rloo"}
    # stage 2 alone needs stage 1 first: a clear message, not a traceback
    assert main(["demo", str(tmp_path / "fresh.caiproj"), "--quick", "--stage", "2"]) == 2
    assert "no SL-CAI adapter" in capsys.readouterr().err


def test_demo_prints_the_plan_and_stops_with_plan(tmp_path, capsys):
    path = tmp_path / "p.caiproj"
    assert main(["demo", str(path), "--size", "standard", "--plan"]) == 0
    out = capsys.readouterr().out
    assert "The whole method, standard size: 4 jobs" in out
    for words in ("Critique → revision chains", "Helpful answers", "LoRA SFT", "Before/after evaluation",
                  "Estimated time", "Stage 2 (RL-CAI)"):
        assert words in out, words
    with Project.open(path) as p:
        assert p.runs.list() == []  # nothing ran
        assert {s["name"] for s in p.prompts.sets()} >= {"red-team", "helpful", "heldout-harmful", "heldout-benign"}
    # --quick is --size quick; --stage 1 leaves stage 2 out of the plan
    assert main(["demo", str(path), "--quick", "--stage", "1", "--plan"]) == 0
    out = capsys.readouterr().out
    assert "quick size" in out and "Stage 2" not in out
    # --model becomes the project's student; a different teacher adds the teacher step
    assert main(["demo", str(path), "--quick", "--model", "/models/student", "--plan"]) == 0
    with Project.open(path) as p:
        assert p.roles.get("student")["spec"] == "/models/student"
        p.roles.set("teacher", "/models/teacher")
    assert main(["demo", str(path), "--quick", "--plan"]) == 0
    assert "Teacher answers" in capsys.readouterr().out


def test_stage_two_alone_needs_stage_one_first(tmp_path, capsys):
    assert main(["demo", str(tmp_path / "fresh.caiproj"), "--quick", "--stage", "2"]) == 2
    assert "no SL-CAI adapter" in capsys.readouterr().err
