"""Comparison reviews: choices, clearing, undo (only of the latest review), agreement, filter keys."""

import pytest

from cai_desktop.core.constitution import Principle
from cai_desktop.core.errors import ProjectError, ValidationError
from cai_desktop.store.project import Project


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "c.caiproj") as p:
        snap = p.constitutions.snapshot(Principle("harm", "Harm", "c", "r", "Which is less harmful?"), "demo")
        run = p.runs.create("label", {})
        p.comparisons.save([
            {"run_id": run, "source_id": i, "prompt_text": f"p{i}", "response_a": "a", "response_b": "b",
             "principle_snapshot_id": snap if i else None, "label": label}
            for i, label in enumerate([0.8, 0.3, 0.5])
        ])
        yield p


def test_choose_clear_and_undo(project):
    before = project.comparisons.review_state(1)
    assert before == {"human_choice": None, "reviewer": None, "reviewed_at": None}
    rid = project.comparisons.review(1, "A", reviewer="ann")
    mid = project.comparisons.review_state(1)
    rid2 = project.comparisons.reset_review(1, reviewer="ann")
    c = project.comparisons.get(1)
    assert c["human_choice"] is None and [r["decision"] for r in c["reviews"]] == ["A", "unreviewed"]
    with pytest.raises(ProjectError, match="reviewed again since by ann"):
        project.comparisons.undo_review(1, rid, before)
    project.comparisons.undo_review(1, rid2, mid)
    assert project.comparisons.get(1)["human_choice"] == "A"
    project.comparisons.undo_review(1, rid, before)
    assert project.comparisons.review_state(1) == before and project.comparisons.get(1)["reviews"] == []
    with pytest.raises(ValidationError, match="Unknown choice"):
        project.comparisons.review(1, "C")
    with pytest.raises(ProjectError, match="No comparison 99"):
        project.comparisons.reset_review(99)


def test_agreement_and_principle_keys(project):
    assert project.stats.agreement() == {"total": 3, "any_review": 0, "reviewed": 0, "agree": 0, "rate": None}
    project.comparisons.review(1, "A")  # label 0.8: agrees
    project.comparisons.review(2, "A")  # label 0.3: disagrees
    project.comparisons.review(3, "B")  # label 0.5: says nothing
    a = project.stats.agreement()
    assert (a["any_review"], a["reviewed"], a["agree"], a["rate"]) == (3, 2, 1, 0.5)
    assert project.comparisons.principle_keys() == ["harm"]
