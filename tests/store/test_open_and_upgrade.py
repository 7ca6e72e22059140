"""Opening is cheap; the full integrity check runs on demand and before every schema upgrade,
which first backs the file up beside itself."""

import logging
import sqlite3

import pytest

from cai_desktop.cli import main
from cai_desktop.core.constitution import Constitution, Principle
from cai_desktop.core.errors import ProjectError
from cai_desktop.store import project as store_project
from cai_desktop.store import schema
from cai_desktop.store.project import Project, check_file


def const():
    return Constitution(name="c1", principles=[Principle(key="a", critique_request="c", revision_request="r")])


@pytest.fixture
def count_checks(monkeypatch):
    """Every call of the full integrity check (and of the backup), in order."""
    calls = []
    real_check, real_backup = store_project._integrity_problems, store_project._backup

    def check(con):
        calls.append("check")
        return real_check(con)

    def backup(con, dest):
        calls.append("backup")
        return real_backup(con, dest)

    monkeypatch.setattr(store_project, "_integrity_problems", check)
    monkeypatch.setattr(store_project, "_backup", backup)
    return calls


@pytest.fixture
def old_file(project_path, monkeypatch):
    """A file made when only the first migration existed; a later migration is known on return."""
    with Project.create(project_path) as p:  # every migration this version has: one more comes
        p.constitutions.save(const())
        p.prompts.add_set("big", "red-team", [f"prompt {i} " + "x" * 200 for i in range(600)])

    @schema.migrations(name="m_test_added_later")
    def _added(db):
        db.execute("ALTER TABLE constitutions ADD COLUMN colour TEXT DEFAULT 'blue'")

    yield project_path
    schema.migrations._migrations.remove(
        next(m for m in schema.migrations._migrations if m.name == "m_test_added_later")
    )


#: the schema version of a file made by this version (one per migration)
N = len(schema.migrations._migrations)


def _corrupt(path):
    """Overwrite pages near the end (prompt rows), leaving the header and the schema readable."""
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.seek(size - 8 * 4096)
        fh.write(b"\xff" * (4 * 4096))


def _backups(path):
    return sorted(path.parent.glob(path.name + ".bak-*"))


def test_opening_a_good_file_runs_no_integrity_check(project_path, count_checks):
    with Project.create(project_path) as p:
        p.constitutions.save(const())
    for _ in range(3):  # a job launch opens the project more than once
        with Project.open(project_path) as p:
            assert p.constitutions.get("c1").principles[0].key == "a"
            assert p.upgrade is None
    assert count_checks == []
    with Project.open(project_path) as p:
        p.check_integrity()  # on demand: passes
    assert count_checks == ["check"]
    assert not _backups(project_path)


def test_an_upgrade_checks_the_file_then_backs_it_up(old_file, count_checks, caplog):
    caplog.set_level(logging.INFO, logger="cai_desktop.store")
    with Project.open(old_file) as p:
        assert count_checks == ["check", "backup"]  # the check first, then the copy, then the upgrade
        assert p.query("SELECT colour FROM constitutions")[0]["colour"] == "blue"
        assert p.upgrade["from"] == N and p.upgrade["to"] == N + 1
        backup = p.upgrade["backup"]
    assert _backups(old_file) == [backup]
    assert backup.name.startswith(f"p.caiproj.bak-v{N}-")
    assert any("backed up p.caiproj to " + backup.name in r.getMessage() for r in caplog.records)
    # the copy is the old file, whole and in one piece (no -wal beside it)
    assert not backup.with_name(backup.name + "-wal").exists()
    con = sqlite3.connect(backup)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [r[0] for r in con.execute("SELECT name FROM _sqlite_migrations")] == [
        m.name for m in schema.migrations._migrations[:N]]
    assert "colour" not in {r[1] for r in con.execute("PRAGMA table_info(constitutions)")}
    assert con.execute("SELECT COUNT(*) FROM prompts").fetchone()[0] == 600
    con.close()
    # upgraded once: the next open neither checks nor copies
    count_checks.clear()
    with Project.open(old_file) as p:
        assert p.upgrade is None
    assert count_checks == [] and len(_backups(old_file)) == 1


def test_a_damaged_file_is_refused_with_one_line_when_checked(project_path):
    with Project.create(project_path) as p:
        p.prompts.add_set("big", "red-team", [f"prompt {i} " + "x" * 200 for i in range(600)])
    assert check_file(project_path) == {"schema": N, "pending": []}
    _corrupt(project_path)
    before = project_path.read_bytes()
    with pytest.raises(ProjectError, match="damaged") as e:
        check_file(project_path)
    assert "\n" not in str(e.value) and "integrity check failed" in str(e.value)
    with Project.open(project_path) as p:  # the cheap open does not notice; the check does
        with pytest.raises(ProjectError, match="damaged"):
            p.check_integrity()
    assert project_path.read_bytes() == before


def test_a_damaged_file_is_not_upgraded(old_file):
    _corrupt(old_file)
    before = old_file.read_bytes()
    with pytest.raises(ProjectError, match="damaged.*it was not upgraded") as e:
        Project.open(old_file)
    assert "\n" not in str(e.value)
    assert old_file.read_bytes() == before
    assert not _backups(old_file)


def test_cli_project_check(project_path, capsys):
    assert main(["project", "init", str(project_path)]) == 0
    capsys.readouterr()
    assert main(["project", "check", str(project_path)]) == 0
    out = capsys.readouterr().out
    assert f"ok (integrity check passed; schema v{N}, up to date)" in out
    with Project.open(project_path) as p:
        p.prompts.add_set("big", "red-team", [f"prompt {i} " + "x" * 200 for i in range(600)])
    _corrupt(project_path)
    assert main(["project", "check", str(project_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cai-desktop: error: p.caiproj is damaged") and "\n" not in err


def test_cli_says_when_an_upgrade_backed_the_file_up(old_file, capsys):
    assert main(["project", "check", str(old_file)]) == 0
    assert f"opening it will back it up and upgrade it to v{N + 1}" in capsys.readouterr().out
    assert main(["project", "info", str(old_file)]) == 0
    err = capsys.readouterr().err
    assert f"backed up p.caiproj to p.caiproj.bak-v{N}-" in err and f"before upgrading its schema (v{N} → v{N + 1})" in err
