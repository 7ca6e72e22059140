import pytest

from cai_desktop.core.constitution import Constitution, FewShotExample, Principle
from cai_desktop.store.project import Project


def small_constitution():
    return Constitution(
        name="tiny",
        principles=[
            Principle(key=f"p{i}", title=f"P{i}", critique_request=f"Critique the harm, part {i}.",
                      revision_request=f"Rewrite it, part {i}.", comparison_question=f"Which is less harmful ({i})?")
            for i in range(3)
        ],
        few_shot=[FewShotExample(prompt="How?", response="Like so.", critique_request="Critique.",
                                 critique="Fine.", revision_request="Rewrite.", revision="Better.")],
    )


@pytest.fixture
def stage1_project(tmp_path):
    path = tmp_path / "s1.caiproj"
    with Project.create(path) as p:
        p.constitutions.save(small_constitution())
        p.prompts.add_set("rt", "red-team", [f"red team prompt {i}" for i in range(7)], test_fraction=0.0)
        p.prompts.add_set("help", "helpful", [f"helpful prompt {i}" for i in range(4)], test_fraction=0.0)
    return path
