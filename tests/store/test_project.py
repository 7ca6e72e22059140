import sqlite3

import pytest

from cai_desktop.core.constitution import Constitution, Principle
from cai_desktop.core.errors import ProjectError
from cai_desktop.store import schema
from cai_desktop.store.project import Project


def const(text="critique"):
    return Constitution(
        name="c1",
        principles=[Principle(key="a", critique_request=text, revision_request="revise"),
                    Principle(key="b", critique_request="other", revision_request="revise b")],
    )


def test_create_open_and_constitution_versions(project_path):
    with Project.create(project_path) as p:
        assert p.constitutions.save(const()) == 1
        assert p.constitutions.save(const()) == 1  # unchanged content: no new version
        assert p.constitutions.save(const("critique, edited")) == 2
    with Project.open(project_path) as p:
        assert p.constitutions.get("c1").principles[0].critique_request == "critique, edited"
        assert p.constitutions.get("c1", version=1).principles[0].critique_request == "critique"
        assert [v["version"] for v in p.constitutions.versions("c1")] == [1, 2]
        assert p.constitutions.get("c1").version == 2
        with pytest.raises(ProjectError, match="No constitution named 'nope'"):
            p.constitutions.get("nope")


def test_principle_snapshots_keep_history(project_path):
    with Project.create(project_path) as p:
        c = const()
        p.constitutions.save(c)
        sid = p.constitutions.snapshot(c.principles[0], "c1")
        assert p.constitutions.snapshot(c.principles[0], "c1") == sid
        p.constitutions.save(const("changed text"))
        row = p.query("SELECT critique_request FROM principle_snapshots WHERE id=?", [sid])[0]
        assert row["critique_request"] == "critique"
        assert p.constitutions.snapshot(p.constitutions.get("c1").principles[0]) != sid


def test_wal_and_foreign_keys(project_path):
    with Project.create(project_path) as p:
        assert p.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert p.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        with pytest.raises(sqlite3.IntegrityError):
            p.db.execute("INSERT INTO principles (constitution_id, position, key, critique_request, revision_request) VALUES (999, 0, 'x', 'c', 'r')")


def test_create_refuses_existing(project_path):
    Project.create(project_path).close()
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(project_path)


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"", "empty"),
        (b"hello, this is text and not a database at all" * 10, "not an SQLite file"),
        (b"SQLite format 3\x00" + b"\x07" * 2000, "damaged"),
    ],
)
def test_bad_files_are_refused_and_unchanged(tmp_path, content, fragment):
    path = tmp_path / "bad.caiproj"
    path.write_bytes(content)
    with pytest.raises(ProjectError, match=fragment):
        Project.open(path)
    assert path.read_bytes() == content
    assert not (tmp_path / "bad.caiproj-wal").exists()


def test_other_sqlite_file_is_refused_unchanged(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (x)")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(ProjectError, match="not a CAI Desktop project"):
        Project.open(path)
    assert path.read_bytes() == before


def test_newer_version_is_refused_unchanged(project_path):
    Project.create(project_path).close()
    con = sqlite3.connect(project_path)
    con.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, ?, ?)",
        [schema.MIGRATION_SET, "m999_from_the_future", "2030-01-01"],
    )
    con.commit()
    con.close()
    before = project_path.read_bytes()
    with pytest.raises(ProjectError, match="newer CAI Desktop"):
        Project.open(project_path)
    assert project_path.read_bytes() == before


def test_migrations_upgrade_an_old_file(project_path, monkeypatch):
    # An "old" file: made when only the first migration existed, with data in it.
    all_migrations = list(schema.migrations._migrations)
    monkeypatch.setattr(schema.migrations, "_migrations", all_migrations[:1])
    with Project.create(project_path) as p:
        p.constitutions.save(const())
    monkeypatch.setattr(schema.migrations, "_migrations", all_migrations)

    @schema.migrations(name="m_test_added_later")
    def _added(db):
        db.execute("ALTER TABLE constitutions ADD COLUMN colour TEXT DEFAULT 'blue'")

    try:
        with Project.open(project_path) as p:
            applied = [m.name for m in schema.migrations.applied(p.db)]
            assert applied[-1] == "m_test_added_later"
            assert p.query("SELECT colour FROM constitutions")[0]["colour"] == "blue"
            assert p.constitutions.get("c1").principles[0].key == "a"
    finally:
        schema.migrations._migrations.remove(
            next(m for m in schema.migrations._migrations if m.name == "m_test_added_later")
        )


def test_prompt_sets_split_is_stable_and_dedups(project_path):
    texts = [f"prompt number {i}" for i in range(200)]
    with Project.create(project_path) as p:
        r = p.prompts.add_set("rt", "red-team", texts + texts[:5] + ["  "], seed=3, test_fraction=0.2)
        assert r["added"] == 200 and r["skipped"] == 6
        rows = p.prompts.of("rt")
        assert [x["text"] for x in rows] == texts
        test = {x["text"] for x in rows if x["split"] == "test"}
        assert 20 < len(test) < 60
        # same texts, new project, same seed: same split whatever the order
    with Project.create(project_path.with_name("q.caiproj")) as q:
        q.prompts.add_set("rt", "red-team", list(reversed(texts)), seed=3, test_fraction=0.2)
        assert {x["text"] for x in q.prompts.of("rt", split="test")} == test
        q.prompts.resplit("rt", seed=4, test_fraction=0.2)
        assert {x["text"] for x in q.prompts.of("rt", split="test")} != test
        assert q.prompts.sets()[0]["n"] == 200
