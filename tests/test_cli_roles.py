"""`cai-desktop roles`: print the three model roles, set them (model, device, precision), clear one."""

from __future__ import annotations

from cai_desktop.cli import main
from cai_desktop.store.project import Project


def _rows(out: str) -> dict[str, list[str]]:
    rows = [line.split("\t") for line in out.splitlines() if "\t" in line]
    return {r[0]: r[1:] for r in rows}


def test_roles_print_set_and_clear(tmp_path, capsys, tiny_model_dir):
    proj = str(tmp_path / "p.caiproj")
    assert main(["project", "init", proj]) == 0
    capsys.readouterr()
    assert main(["roles", proj]) == 0
    rows = _rows(capsys.readouterr().out)
    assert list(rows) == ["student", "teacher", "feedback"]
    assert rows["teacher"] == ["default", "auto", "auto", "not set: embedded default"]

    tiny = str(tiny_model_dir.resolve())
    assert main(["roles", proj, "--teacher", str(tiny_model_dir), "--teacher-device", "cuda",
                 "--teacher-dtype", "bfloat16", "--student", "embedded"]) == 0
    out = capsys.readouterr().out
    assert "set student, teacher" in out
    rows = _rows(out)
    assert rows["teacher"] == [tiny, "cuda", "bfloat16", "set"]
    assert rows["student"] == ["default", "auto", "auto", "set"]
    assert rows["feedback"] == ["default", "auto", "auto", "not set: same as the student"]
    with Project.open(proj) as p:
        got = p.roles.get("teacher")
        assert (got["spec"], got["device"], got["dtype"]) == (tiny, "cuda", "bfloat16")

    # only the precision: the model and device stay
    assert main(["roles", proj, "--teacher-dtype", "float16"]) == 0
    assert _rows(capsys.readouterr().out)["teacher"] == [tiny, "cuda", "float16", "set"]

    assert main(["roles", proj, "--feedback", tiny]) == 0
    assert _rows(capsys.readouterr().out)["feedback"] == [tiny, "auto", "auto", "set"]

    assert main(["roles", proj, "--teacher", "default"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows["teacher"] == ["default", "auto", "auto", "not set: same as the student"]
    with Project.open(proj) as p:
        assert p.roles.get("teacher")["inherited"] == "student"


def test_roles_errors_are_one_line_and_change_nothing(tmp_path, capsys, tiny_model_dir):
    proj = str(tmp_path / "p.caiproj")
    assert main(["project", "init", proj]) == 0
    assert main(["roles", proj, "--student", str(tiny_model_dir)]) == 0
    capsys.readouterr()
    # not a model: nothing is stored, not even the valid student option in the same command
    assert main(["roles", proj, "--student-device", "cpu", "--teacher", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
    # an unset teacher follows the student: a device of its own needs a model of its own
    assert main(["roles", proj, "--teacher-device", "cuda"]) == 2
    assert "no model of its own" in capsys.readouterr().err
    with Project.open(proj) as p:
        assert p.roles.get("student")["device"] is None
        assert p.roles.get("teacher")["inherited"] == "student"
