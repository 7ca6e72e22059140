import json
import subprocess
import sys

import pytest

from cai_desktop import __version__
from cai_desktop.cli import main
from cai_desktop.resources import starter_constitutions


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_init_import_list_export(tmp_path, capsys):
    proj = str(tmp_path / "p.caiproj")
    assert main(["project", "init", proj]) == 0
    general = next(p for p in starter_constitutions() if p.stem == "general")
    assert main(["constitution", "import", proj, str(general)]) == 0
    assert main(["constitution", "list", proj]) == 0
    out = capsys.readouterr().out
    assert "general\tv1" in out
    for fmt in ("native", "anthropic", "hf"):
        target = tmp_path / f"out-{fmt}.json"
        assert main(["constitution", "export", proj, "general", str(target), "--format", fmt]) == 0
        other = str(tmp_path / f"q-{fmt}.caiproj")
        assert main(["project", "init", other]) == 0
        assert main(["constitution", "import", other, str(target), "--format", fmt]) == 0


def test_malformed_import_exits_nonzero_one_line_and_changes_nothing(tmp_path, capsys):
    proj = tmp_path / "p.caiproj"
    assert main(["project", "init", str(proj)]) == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "principles": [{"key": "a", "critique_request": "", "revision_request": "r"}]}))
    capsys.readouterr()
    before = subprocess.run([sys.executable, "-c", f"import sqlite3; c=sqlite3.connect({str(proj)!r}); print(list(c.iterdump()))"], capture_output=True, text=True).stdout
    assert main(["constitution", "import", str(proj), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "critique request is empty" in err
    after = subprocess.run([sys.executable, "-c", f"import sqlite3; c=sqlite3.connect({str(proj)!r}); print(list(c.iterdump()))"], capture_output=True, text=True).stdout
    assert before == after


def test_missing_project_and_bad_file_messages(tmp_path, capsys):
    assert main(["constitution", "list", str(tmp_path / "none.caiproj")]) == 2
    assert "No project at" in capsys.readouterr().err
    notproj = tmp_path / "x.caiproj"
    notproj.write_text("hello")
    assert main(["constitution", "list", str(notproj)]) == 2
    assert "not a CAI Desktop project" in capsys.readouterr().err


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "cai_desktop", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout
