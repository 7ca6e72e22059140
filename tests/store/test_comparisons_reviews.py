"""Comparison reviews: choices, clearing, undo (only of the latest review), agreement, filter keys."""

import pytest

from cai_desktop.core.constitution import Principle
from cai_desktop.core.errors import ProjectError, ValidationError
from cai_desktop.store.comparisons import (
    agreement,
    comparison_principle_keys,
    comparison_review_state,
    get_comparison,
    reset_comparison_review,
    review_comparison,
    save_comparisons,
    undo_comparison_review,
)
from cai_desktop.store.project import Project


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "c.caiproj") as p:
        snap = p.snapshot_principle(Principle("harm", "Harm", "c", "r", "Which is less harmful?"), "demo")
        run = p.create_run("label", {})
        save_comparisons(p, [
            {"run_id": run, "source_id": i, "prompt_text": f"p{i}", "response_a": "a", "response_b": "b",
             "principle_snapshot_id": snap if i else None, "label": label}
            for i, label in enumerate([0.8, 0.3, 0.5])
        ])
        yield p


def test_choose_clear_and_undo(project):
    before = comparison_review_state(project, 1)
    assert before == {"human_choice": None, "reviewer": None, "reviewed_at": None}
    rid = review_comparison(project, 1, "A", reviewer="ann")
    mid = comparison_review_state(project, 1)
    rid2 = reset_comparison_review(project, 1, reviewer="ann")
    c = get_comparison(project, 1)
    assert c["human_choice"] is None and [r["decision"] for r in c["reviews"]] == ["A", "unreviewed"]
    with pytest.raises(ProjectError, match="reviewed again since by ann"):
        undo_comparison_review(project, 1, rid, before)
    undo_comparison_review(project, 1, rid2, mid)
    assert get_comparison(project, 1)["human_choice"] == "A"
    undo_comparison_review(project, 1, rid, before)
    assert comparison_review_state(project, 1) == before and get_comparison(project, 1)["reviews"] == []
    with pytest.raises(ValidationError, match="Unknown choice"):
        review_comparison(project, 1, "C")
    with pytest.raises(ProjectError, match="No comparison 99"):
        reset_comparison_review(project, 99)


def test_agreement_and_principle_keys(project):
    assert agreement(project) == {"total": 3, "any_review": 0, "reviewed": 0, "agree": 0, "rate": None}
    review_comparison(project, 1, "A")  # label 0.8: agrees
    review_comparison(project, 2, "A")  # label 0.3: disagrees
    review_comparison(project, 3, "B")  # label 0.5: says nothing
    a = agreement(project)
    assert (a["any_review"], a["reviewed"], a["agree"], a["rate"]) == (3, 2, 1, 0.5)
    assert comparison_principle_keys(project) == ["harm"]
