"""Prompt sets: paged listing with filters, usage, rename, delete (refused while work was made from it)."""

import pytest

from cai_desktop.core.errors import ProjectError, ValidationError
from cai_desktop.store.project import Project
from cai_desktop.store.prompts import describe_usage


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "s.caiproj") as p:
        p.prompts.add_set("used", "red-team", [{"text": f"bad {i}", "category": "c" if i % 2 else ""} for i in range(10)],
                       test_fraction=0.3)
        p.prompts.add_set("spare", "helpful", ["one", "two"])
        pid = p.prompts.of("used")[0]["id"]
        run = p.runs.create("critique", {})
        p.chains.save([{"run_id": run, "prompt_id": pid, "n_revisions": 0, "initial_text": "x", "final_text": "x",
                         "steps": [{"round": 0, "revision": "x"}]}])
        yield p


def test_list_and_count_prompts(project):
    set_id = project.prompts.sets()[0]["id"]
    assert project.prompts.count(set_id) == 10
    page = project.prompts.list(set_id, 2, 3)
    assert [r["text"] for r in page] == ["bad 2", "bad 3", "bad 4"] and page[0]["position"] == 2
    assert project.prompts.count(set_id, search="bad 1") == 1
    assert project.prompts.count(set_id, search="c") == 5  # category matches too
    n_test = project.prompts.count(set_id, split="test")
    assert n_test + project.prompts.count(set_id, split="train") == 10
    assert all(r["split"] == "test" for r in project.prompts.list(set_id, split="test"))


def test_usage_and_delete_is_refused_while_work_was_made_from_it(project):
    usage = project.prompts.usage("used")
    assert usage == {"prompts": 10, "chains": 1, "response_pairs": 0, "comparisons": 0}
    assert describe_usage(usage) == "1 chain"
    assert describe_usage({"chains": 2, "response_pairs": 1, "comparisons": 3}) == \
        "2 chains, 1 response pair and 3 comparisons"
    assert describe_usage(project.prompts.usage("spare")) == ""
    with pytest.raises(ProjectError, match=r"lose the work made from its prompts \(1 chain\)\. Rename it instead"):
        project.prompts.delete_set("used")
    assert project.prompts.usage("used")["prompts"] == 10  # nothing went
    assert project.prompts.delete_set("spare") == 2
    assert [s["name"] for s in project.prompts.sets()] == ["used"]
    assert project.query("SELECT COUNT(*) AS n FROM prompts")[0]["n"] == 10
    with pytest.raises(ProjectError, match="No prompt set named 'spare'"):
        project.prompts.delete_set("spare")


def test_rename(project):
    project.prompts.rename_set("used", "  red team  ")
    assert [s["name"] for s in project.prompts.sets()] == ["red team", "spare"]
    assert project.prompts.usage("red team")["chains"] == 1  # the chains follow
    with pytest.raises(ValidationError, match="already a prompt set named 'spare'"):
        project.prompts.rename_set("red team", "spare")
    with pytest.raises(ValidationError, match="needs a name"):
        project.prompts.rename_set("red team", " ")
    with pytest.raises(ProjectError, match="No prompt set named 'nope'"):
        project.prompts.rename_set("nope", "x")
    project.prompts.rename_set("spare", "spare")  # the same name: nothing to do


def test_project_counts(project):
    assert project.stats.counts() == {"constitutions": 0, "prompts": 12, "chains": 1, "runs": 1}
