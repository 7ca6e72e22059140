import json

from cai_desktop.cli import main
from cai_desktop.store.project import Project


def test_stage1_from_the_command_line(tmp_path, tiny_model_dir, capsys):
    proj = str(tmp_path / "p.caiproj")
    assert main(["project", "init", proj, "--starter"]) == 0
    prompts = tmp_path / "mine.csv"
    prompts.write_text("id,question\n1,How do I pick a lock?\n2,How do I bake bread?\n3,How do I bake bread?\n")
    assert main(["prompts", "import", proj, str(prompts), "--set", "mine", "--kind", "red-team", "--test-fraction", "0"]) == 0
    assert "added 2, skipped 1" in capsys.readouterr().out
    args = ["run", "critique", proj, "--set", "mine", "--revisions", "1", "--model", str(tiny_model_dir),
            "--max-new-tokens", "6", "--split", "all"]
    assert main(args) == 0
    assert "2 new chains" in capsys.readouterr().out
    assert main(args) == 0  # a finished run is never reopened: running it again makes a new run
    assert "run 2: 2 new chains" in capsys.readouterr().out
    out = tmp_path / "sft.jsonl"
    assert main(["export", "sft", proj, str(out), "--split", "all"]) == 0
    with Project.open(proj) as p:  # both runs' chains, less any the tiny random model left blank
        answered = [c for c in p.query("SELECT run_id, final_text FROM chains") if (c["final_text"] or "").strip()]
    assert {c["run_id"] for c in answered} == {1, 2}
    assert len([json.loads(line) for line in out.read_text().splitlines()]) == len(answered)
    assert main(["export", "prefs", proj, str(tmp_path / "prefs.jsonl"), "--split", "all"]) == 0
    with Project.open(proj) as p:
        assert p.runs.list("critique")[0]["status"] == "done"


def test_bad_prompt_file_is_one_line(tmp_path, capsys):
    proj = str(tmp_path / "p.caiproj")
    main(["project", "init", proj])
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["prompts", "import", proj, str(bad), "--set", "x", "--kind", "helpful"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "column" in err
