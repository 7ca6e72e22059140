"""The "Run the whole method" recipe: steps per size, the teacher step, limits and time estimates."""

from __future__ import annotations

import pytest

from cai_desktop.core.errors import ValidationError
from cai_desktop.jobs.recipe import (
    CPU_DEFAULT,
    SIZES,
    STANDARD_BUDGET_S,
    format_duration,
    measured_rates,
    plan,
)
from cai_desktop.jobs.sample import add_starter_content
from cai_desktop.store.project import Project


@pytest.fixture
def starter(project_path):
    with Project.create(project_path) as p:
        add_starter_content(p)
        yield p


def _train(p, name):
    s = next(s for s in p.prompts.sets() if s["name"] == name)
    return s["n"] - s["n_test"]


def test_every_size_plans_stage_one_and_the_evaluation_within_the_data(starter):
    plans = {size: plan(starter, size) for size in SIZES}
    for size, pl in plans.items():
        assert pl.kinds() == ["critique", "critique", "sft", "eval"], size
        chains, helpful, sft, ev = pl.steps
        assert chains.params.prompt_set == "red-team" and chains.params.revisions >= 1
        assert helpful.params.prompt_set == "helpful" and helpful.params.revisions == 0
        assert chains.params.split == helpful.params.split == "train"
        assert 0 < chains.params.limit <= _train(starter, "red-team")
        assert 0 < helpful.params.limit <= _train(starter, "helpful")
        assert sft.params.max_steps > 0 and sft.unit == "steps" and sft.amount == sft.params.max_steps
        assert ev.params.split == "test"
        for s in pl.steps:
            assert s.params.project == str(starter.path)
            assert s.amount > 0 and s.seconds > 0
            s.params.check()  # every step's settings are valid for its job
        assert pl.total_seconds == pytest.approx(sum(s.seconds for s in pl.steps))
    # bigger sizes do more and take longer
    for a, b in zip(SIZES, SIZES[1:]):
        assert plans[a].steps[0].amount < plans[b].steps[0].amount
        assert plans[a].steps[2].amount <= plans[b].steps[2].amount
        assert plans[a].total_seconds < plans[b].total_seconds
    # full: every training prompt, the paper's 4 rounds, every held-out prompt
    full = plans["full"]
    assert full.steps[0].params.limit == _train(starter, "red-team")
    assert full.steps[0].params.revisions == 4
    assert full.steps[3].params.limit is None


def test_standard_fits_45_minutes_on_the_default_cpu_rates(starter):
    pl = plan(starter, "standard")
    assert all(CPU_DEFAULT.source in s.rates for s in pl.steps)
    assert 5 * 60 < pl.total_seconds <= STANDARD_BUDGET_S
    assert plan(starter, "quick").total_seconds < 15 * 60


def test_sft_steps_follow_the_number_of_examples(starter):
    from cai_desktop.jobs.demos import add_demonstrations

    quick = plan(starter, "quick")
    n = quick.steps[0].params.limit + quick.steps[1].params.limit
    assert f"≈{n} examples" in quick.steps[2].description
    std = plan(starter, "standard")
    n = std.steps[0].params.limit + std.steps[1].params.limit
    assert std.steps[2].params.max_steps == max(20, min(90, -(-3 * n // 4)))  # 3 epochs at batch 4, bounded
    # what the project already has counts too: SFT trains on all of it (human demonstrations here)
    rows = [{"prompt": f"How do I pick lock number {i}?", "response": "I can't help with that."} for i in range(12)]
    add_demonstrations(starter, rows, reviewer="me")
    more = plan(starter, "standard").steps[2]
    assert f"≈{n + 12} examples" in more.description and "12 human" in more.description
    assert more.params.max_steps > std.steps[2].params.max_steps


def test_teacher_step_only_when_the_teacher_is_another_model(starter):
    assert "distill" not in plan(starter, "standard").kinds()
    starter.roles.set("student", "/models/small")
    assert "distill" not in plan(starter, "standard").kinds()  # the teacher inherits the student
    starter.roles.set("teacher", "/models/small")
    assert "distill" not in plan(starter, "standard").kinds()  # named, but the same model
    starter.roles.set("teacher", "/models/big")
    pl = plan(starter, "standard")
    assert pl.kinds() == ["critique", "critique", "distill", "sft", "eval"]
    distill = pl.steps[2]
    assert distill.params.prompt_set == "red-team" and distill.params.limit == pl.steps[0].params.limit
    assert "/models/big" in distill.description
    text = "\n".join(pl.describe())
    assert "teacher answers" in text.lower() and "larger model takes longer" in text
    # more examples, so more SFT steps than without the teacher
    starter.roles.set("teacher", None)
    assert pl.steps[3].params.max_steps > plan(starter, "standard").steps[2].params.max_steps


def test_describe_lists_steps_settings_and_total(starter):
    pl = plan(starter, "standard")
    lines = pl.describe()
    text = "\n".join(lines)
    for s in pl.steps:
        assert s.line() in text
        assert format_duration(s.seconds) in s.line()
    assert f"Estimated time: ~{format_duration(pl.total_seconds)} in total." in lines
    assert "heldout-harmful" in text and "heldout-benign" in text
    assert "no teacher-answer step" in text
    assert "default rates" in text


def test_measured_rates_from_finished_runs(starter):
    def finished(kind, config, result, seconds):
        rid = starter.runs.create(kind, config)
        starter.runs.set_result(rid, result)
        starter.runs.set_status(rid, "done")
        starter.db["runs"].update(rid, {"started_at": "2026-01-01T10:00:00+00:00",
                                        "finished_at": f"2026-01-01T10:{seconds // 60:02d}:{seconds % 60:02d}+00:00"})
        return rid

    assert measured_rates(starter, None, CPU_DEFAULT) is CPU_DEFAULT
    # 10 chains × (100 + 1 × (100 + 50)) = 2500 tokens in 100 s: 25 tokens/s
    finished("critique", {"revisions": 1, "max_new_tokens": 100, "critique_max_new_tokens": 50},
             {"chains": 10, "model": "default"}, 100)
    # another model's run says nothing about this one
    finished("critique", {"revisions": 1, "max_new_tokens": 100, "critique_max_new_tokens": 50},
             {"chains": 10, "model": "/models/other"}, 1)
    finished("sft", {"max_steps": 10}, {"seconds_per_step": 2.5, "steps": 10, "base_model": "default"}, 40)
    rates = measured_rates(starter, None, CPU_DEFAULT)
    assert rates.measured
    assert rates.chain_tokens_per_s == pytest.approx(25.0)
    assert rates.seconds_per_step == pytest.approx(2.5)
    assert rates.answer_tokens_per_s == CPU_DEFAULT.answer_tokens_per_s  # none measured: the default
    pl = plan(starter, "standard")
    chains, sft = pl.steps[0], pl.steps[2]
    assert chains.seconds == pytest.approx(CPU_DEFAULT.startup_s + chains.amount / 25.0)
    assert sft.seconds == pytest.approx(CPU_DEFAULT.startup_s + sft.amount * 2.5)
    assert "measured on this project's runs" in "\n".join(pl.describe())


def test_a_gpu_role_is_estimated_faster(starter):
    cpu = plan(starter, "standard").total_seconds
    starter.roles.set("student", None, device="cuda")
    starter.roles.set("teacher", None, device="cuda")
    assert plan(starter, "standard").total_seconds < cpu / 4


def test_small_sets_and_empty_projects(project_path):
    from cai_desktop.core import formats
    from cai_desktop.resources import starter_constitutions

    with Project.create(project_path) as p:
        with pytest.raises(ValidationError, match="constitution"):
            plan(p, "standard")
        p.constitutions.save(formats.load_file(starter_constitutions()[0]))
        with pytest.raises(ValidationError, match="Nothing to train on"):
            plan(p, "standard")
        with pytest.raises(ValidationError, match="size"):
            plan(p, "huge")
        # a handful of prompts, no held-out sets: limits shrink to what is there, and the evaluation
        # falls back to the sets' own test split
        p.prompts.add_set("red-team", "red-team", [f"Harmful {i}?" for i in range(20)], test_fraction=0.25)
        p.prompts.add_set("helpful", "helpful", [f"Helpful {i}?" for i in range(4)], test_fraction=0.0)
        pl = plan(p, "full")
        assert pl.steps[0].params.limit == _train(p, "red-team") == 15
        assert pl.steps[1].params.limit == 4
        assert pl.kinds() == ["critique", "critique", "sft", "eval"]
        assert "5 red-team + 0 helpful held-out prompts" in pl.steps[3].description
