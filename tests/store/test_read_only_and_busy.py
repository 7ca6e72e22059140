"""A read-only project and one another program holds locked say so in one line, in the store and
in the CLI (`cai-desktop: error: ...`, exit 2), never with a raw sqlite3 traceback (issue 16:
read-only 4 of 6 write commands, locked 6 of 8 printed tracebacks)."""

import os
import sqlite3

import pytest

from cai_desktop.cli import main
from cai_desktop.core.constitution import Constitution, Principle
from cai_desktop.core.errors import ProjectError
from cai_desktop.jobs.context import RecordingContext
from cai_desktop.store import project as store_project
from cai_desktop.store.project import Project

READ_ONLY = "the file is not writable (its permissions or a read-only disk)"


def const(name="c1"):
    return Constitution(name=name, principles=[Principle(key="a", critique_request="c", revision_request="r")])


@pytest.fixture
def filled(project_path, tmp_path):
    with Project.create(project_path) as p:
        p.constitutions.save(const())
        p.prompts.add_set("rt", "red-team", ["one", "two"], test_fraction=0.0)
    prompts = tmp_path / "more.txt"
    prompts.write_text("three\nfour\n")
    return project_path, prompts


@pytest.fixture
def read_only(monkeypatch):
    """The store finds the file not writable (as a read-only file does for a normal user; tests
    may run as root, who can write anything): it opens it read-only and SQLite refuses writes."""
    monkeypatch.setattr(store_project, "why_read_only", lambda path: READ_ONLY)


@pytest.fixture
def busy(monkeypatch, filled):
    """Another program holds the write lock past the (shortened) busy timeout."""
    monkeypatch.setattr(store_project, "BUSY_TIMEOUT", 0.2)
    other = sqlite3.connect(filled[0], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    yield filled
    other.execute("ROLLBACK")
    other.close()


def _one_line(e, start):
    text = str(e.value)
    assert text.startswith(start) and "\n" not in text, text
    assert "sqlite3" not in text and "Traceback" not in text


def test_a_read_only_project_reads_and_refuses_writes_in_one_line(filled, read_only):
    path, _ = filled
    with Project.open(path) as p:
        assert p.read_only == READ_ONLY
        assert p.constitutions.get("c1").principles[0].key == "a"
        assert len(p.prompts.of("rt")) == 2
        for write in (lambda: p.prompts.add_set("more", "red-team", ["x"]),
                      lambda: p.constitutions.save(const("c2")),
                      lambda: p.runs.create("critique", {}),
                      lambda: p.set_meta("k", "v")):
            with pytest.raises(ProjectError) as e:
                write()
            _one_line(e, f"p.caiproj is read-only: {READ_ONLY}.")
    assert "c2" not in {c["name"] for c in Project.open(path).constitutions.list()}


def test_a_read_only_file_that_needs_an_upgrade_is_refused_in_one_line(project_path, read_only, monkeypatch):
    from cai_desktop.store import schema

    everything = list(schema.migrations._migrations)
    monkeypatch.setattr(schema.migrations, "_migrations", everything[:1])
    Project.create(project_path).close()
    monkeypatch.setattr(schema.migrations, "_migrations", everything)
    with pytest.raises(ProjectError) as e:
        Project.open(project_path)
    _one_line(e, "p.caiproj is read-only: ")
    assert "must be upgraded once" in str(e.value)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes read-only files")
def test_a_really_read_only_file(filled):
    path, _ = filled
    os.chmod(path, 0o444)
    try:
        with Project.open(path) as p, pytest.raises(ProjectError, match="is read-only"):
            p.prompts.add_set("more", "red-team", ["x"])
    finally:
        os.chmod(path, 0o644)


def test_a_locked_project_says_busy_in_one_line(busy):
    path, _ = busy
    with Project.open(path) as p:
        assert len(p.prompts.of("rt")) == 2  # reading works while another program writes (WAL)
        for write in (lambda: p.prompts.add_set("more", "red-team", ["x"]),
                      lambda: p.constitutions.save(const("c2")),
                      lambda: p.runs.create("critique", {}),
                      lambda: p.chains.save([])):
            with pytest.raises(ProjectError) as e:
                write()
            _one_line(e, "p.caiproj is busy in another program; try again.")


def test_a_job_on_a_locked_project_fails_in_one_line(busy):
    from cai_desktop.jobs.base import run_job
    from cai_desktop.jobs.registry import JOBS

    job = JOBS["critique"]
    params = job.params(project=str(busy[0]), constitution="c1", prompt_set="rt", model="tiny-does-not-load")
    with pytest.raises(ProjectError) as e:
        run_job(job, RecordingContext(), params)
    _one_line(e, "p.caiproj is busy in another program; try again.")


@pytest.mark.parametrize("state", ["read_only", "busy"])
def test_cli_write_commands_print_one_line_and_exit_2(state, filled, request, capsys):
    request.getfixturevalue(state)
    path, prompts = filled
    cmd = ["prompts", "import", str(path), str(prompts), "--set", "more", "--kind", "red-team"]
    assert main(cmd) == 2
    err = capsys.readouterr().err.strip()
    want = "read-only: " if state == "read_only" else "busy in another program; try again."
    assert err.startswith("cai-desktop: error: p.caiproj is ") and want in err, err
    assert "\n" not in err and "Traceback" not in err
