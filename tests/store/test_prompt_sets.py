"""Prompt sets: paged listing with filters, usage, rename, delete (refused while work was made from it)."""

import pytest

from cai_desktop.core.errors import ProjectError, ValidationError
from cai_desktop.store.chains import save_chains
from cai_desktop.store.project import Project
from cai_desktop.store.prompts import (
    add_prompt_set,
    count_prompts,
    delete_prompt_set,
    describe_usage,
    list_prompt_sets,
    list_prompts,
    prompt_set_usage,
    prompts_of,
    rename_prompt_set,
)


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "s.caiproj") as p:
        add_prompt_set(p, "used", "red-team", [{"text": f"bad {i}", "category": "c" if i % 2 else ""} for i in range(10)],
                       test_fraction=0.3)
        add_prompt_set(p, "spare", "helpful", ["one", "two"])
        pid = prompts_of(p, "used")[0]["id"]
        run = p.create_run("critique", {})
        save_chains(p, [{"run_id": run, "prompt_id": pid, "n_revisions": 0, "initial_text": "x", "final_text": "x",
                         "steps": [{"round": 0, "revision": "x"}]}])
        yield p


def test_list_and_count_prompts(project):
    set_id = list_prompt_sets(project)[0]["id"]
    assert count_prompts(project, set_id) == 10
    page = list_prompts(project, set_id, 2, 3)
    assert [r["text"] for r in page] == ["bad 2", "bad 3", "bad 4"] and page[0]["position"] == 2
    assert count_prompts(project, set_id, search="bad 1") == 1
    assert count_prompts(project, set_id, search="c") == 5  # category matches too
    n_test = count_prompts(project, set_id, split="test")
    assert n_test + count_prompts(project, set_id, split="train") == 10
    assert all(r["split"] == "test" for r in list_prompts(project, set_id, split="test"))


def test_usage_and_delete_is_refused_while_work_was_made_from_it(project):
    usage = prompt_set_usage(project, "used")
    assert usage == {"prompts": 10, "chains": 1, "response_pairs": 0, "comparisons": 0}
    assert describe_usage(usage) == "1 chain"
    assert describe_usage({"chains": 2, "response_pairs": 1, "comparisons": 3}) == \
        "2 chains, 1 response pair and 3 comparisons"
    assert describe_usage(prompt_set_usage(project, "spare")) == ""
    with pytest.raises(ProjectError, match=r"lose the work made from its prompts \(1 chain\)\. Rename it instead"):
        delete_prompt_set(project, "used")
    assert prompt_set_usage(project, "used")["prompts"] == 10  # nothing went
    assert delete_prompt_set(project, "spare") == 2
    assert [s["name"] for s in list_prompt_sets(project)] == ["used"]
    assert project.query("SELECT COUNT(*) AS n FROM prompts")[0]["n"] == 10
    with pytest.raises(ProjectError, match="No prompt set named 'spare'"):
        delete_prompt_set(project, "spare")


def test_rename(project):
    rename_prompt_set(project, "used", "  red team  ")
    assert [s["name"] for s in list_prompt_sets(project)] == ["red team", "spare"]
    assert prompt_set_usage(project, "red team")["chains"] == 1  # the chains follow
    with pytest.raises(ValidationError, match="already a prompt set named 'spare'"):
        rename_prompt_set(project, "red team", "spare")
    with pytest.raises(ValidationError, match="needs a name"):
        rename_prompt_set(project, "red team", " ")
    with pytest.raises(ProjectError, match="No prompt set named 'nope'"):
        rename_prompt_set(project, "nope", "x")
    rename_prompt_set(project, "spare", "spare")  # the same name: nothing to do


def test_project_counts(project):
    assert project.counts() == {"constitutions": 0, "prompts": 12, "chains": 1, "runs": 1}
