"""The implied-constitution job on the tiny model: it asks the feedback model each principle's
question on the comparisons a reviewer decided (only those), scores them, resumes without asking
again; and the teacher's draft principle from a note (plumbing, not quality)."""

from __future__ import annotations

import pytest

from cai_desktop.core.errors import Cancelled, ValidationError
from cai_desktop.jobs.context import RecordingContext
from cai_desktop.jobs.implied import (
    DraftParams,
    ImpliedParams,
    draft_principle,
    human_choices,
    latest_result,
    run_implied,
)
from cai_desktop.store.project import Project
from tests.jobs.conftest import small_constitution


@pytest.fixture
def project(tmp_path, tiny_model_dir):
    path = tmp_path / "i.caiproj"
    with Project.create(path) as p:
        p.constitutions.save(small_constitution())
        p.roles.set("feedback", str(tiny_model_dir))
        p.roles.set("teacher", str(tiny_model_dir))
        run_id = p.runs.create("label", {})
        rows = [{"run_id": run_id, "source": "pair", "source_id": i, "prompt_text": f"question {i}",
                 "response_a": f"a careful answer {i}", "response_b": f"a careless answer {i}",
                 "label": 0.6, "raw_label": 0.6, "kind": "harmless"} for i in range(5)]
        p.comparisons.save(rows)
        ids = sorted(r["id"] for r in p.comparisons.list(0, 10))
        for cid, choice in zip(ids, ("A", "B", "A", "tie", None)):
            if choice:
                p.comparisons.review(cid, choice, reviewer="ann")
    return str(path), ids


def _params(path, **kw):
    return ImpliedParams(project=path, constitution="tiny", batch_size=2, **kw)


def test_no_decisions_is_one_clear_line(tmp_path):
    path = tmp_path / "e.caiproj"
    with Project.create(path) as p:
        p.constitutions.save(small_constitution())
    with pytest.raises(ValidationError, match="No comparison has a reviewer's A or B choice"):
        run_implied(RecordingContext(), _params(str(path)))
    with pytest.raises(ValidationError, match="no enabled principle .* named 'nope'"):
        run_implied(RecordingContext(), _params(str(path), principles=["nope"]))


@pytest.mark.slow
def test_scores_every_principle_on_decided_comparisons_and_resumes(project):
    path, ids = project
    with Project.open(path) as p:
        decided = human_choices(p)
    assert [r["id"] for r in decided] == ids[:3]  # A, B, A; the tie and the unreviewed one are no votes
    # stop after the first batch (2 of 9 questions), then start the same job again
    ctx = RecordingContext(cancel_after_progress=2)
    with pytest.raises(Cancelled):
        run_implied(ctx, _params(path))
    with Project.open(path) as p:
        run = p.runs.list("implied")[0]
        partial = p.runs.get(run["id"])["result"]["votes"]
        assert sum(len(v["p_a"]) for v in partial.values()) == 2
    ctx2 = RecordingContext()
    result = run_implied(ctx2, _params(path))
    assert result["run_id"] == run["id"]  # the unfinished run continued
    assert any("(2 already asked)" in line for line in ctx2.logs)
    assert result["comparisons"] == 3 and result["principles"] == 3
    scores = {s["key"]: s for s in result["scores"]}
    assert set(scores) == {"p0", "p1", "p2"}
    for key, s in scores.items():
        votes = result["votes"][key]["p_a"]
        assert set(votes) == {str(i) for i in ids[:3]}
        assert all(0.0 <= v <= 1.0 for v in votes.values())
        # the agreement is recomputed from the votes and the human sides
        sides = dict(zip(map(str, ids[:3]), "ABA"))
        decided_votes = [(v, sides[c]) for c, v in votes.items() if v != 0.5]
        agreed = sum((v > 0.5) == (h == "A") for v, h in decided_votes)
        assert (s["n"], s["agreed"]) == (len(decided_votes), agreed)
        assert s["low"] <= (s["agreement"] if s["agreement"] is not None else 0.5) <= s["high"]
    assert {n for n, _v, _s in ctx2.metrics} <= {f"agreement {k}" for k in scores}
    # no comparison was written or changed
    with Project.open(path) as p:
        assert p.comparisons.count() == 5
        latest = latest_result(p)
        assert latest["run_id"] == run["id"] and latest["scores"] == result["scores"]


@pytest.mark.slow
def test_draft_principle_from_a_note(project):
    path, _ids = project
    with pytest.raises(ValidationError, match="Write a note"):
        draft_principle(RecordingContext(), DraftParams(project=path, note="  "))
    d = draft_principle(RecordingContext(), DraftParams(
        project=path, note="Lectures the user instead of helping.", prompt="How do I fix a leak?",
        answer="You should never do plumbing yourself.", constitution="tiny", max_new_tokens=12))
    for field in ("title", "critique_request", "revision_request", "comparison_question"):
        assert d[field].strip(), field
    assert d["key"] not in {"p0", "p1", "p2"} and d["key"]
    assert d["note"] == "Lectures the user instead of helping."
    assert isinstance(d["raw"], str) and d["teacher"]
    # a random tiny model writes no usable lines: what it missed comes from the note
    assert set(d["filled"]) <= {"title", "critique_request", "revision_request", "comparison_question"}
    if "comparison_question" in d["filled"]:
        assert "Lectures the user instead of helping" in d["comparison_question"]


def test_human_choices_follow_the_review_policy(project):
    path, ids = project
    with Project.open(path) as p:
        p.comparisons.review(ids[0], "B", reviewer="bob")  # ann A, bob B on the first
        assert [r["id"] for r in human_choices(p)] == ids[:3]  # single: the latest (bob's B) still a side
        assert human_choices(p)[0]["human_choice"] == "B"
        p.reviews.set_policy("majority")
        assert [r["id"] for r in human_choices(p)] == ids[1:3]  # a tie is no final choice
        p.reviews.set_policy("adjudicator", "ann")
        first = human_choices(p)[0]
        assert first["id"] == ids[0] and first["human_choice"] == "A"
