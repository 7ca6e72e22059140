"""Principle priorities (weights and a ranked order) and free-text sections: the sampler, the
feedback prompt, the teacher's context, every export format and the store honour them."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter

import pytest

from cai_desktop.core import formats
from cai_desktop.core.constitution import Constitution, Principle, PrincipleSampler, check
from cai_desktop.core.errors import ValidationError
from cai_desktop.core.feedback import DEFAULT_QUESTION
from cai_desktop.core.prompting import (
    FIRST_PRIORITY_NOTE,
    constitution_messages,
    prioritised,
    priority_question,
)


def _p(key, weight=1.0, q="", enabled=True):
    return Principle(key=key, title=key.title(), critique_request=f"Critique {key}.",
                     revision_request=f"Revise {key}.", comparison_question=q, weight=weight, enabled=enabled)


def make(**kw):
    ps = kw.pop("principles", None) or [_p("safety", 3.0, "Which is safer?"), _p("honesty", 1.0, "Which is more honest?"),
                                        _p("help", 1.0)]
    return Constitution(name="c", principles=ps, **kw)


def test_equal_weights_draw_the_stream_they_always_drew():
    c = make(principles=[_p("a"), _p("b"), _p("c")])
    s = PrincipleSampler(c, seed=7)
    got = [p.key for p in s.draw("prompt:3", 50)]
    digest = hashlib.sha256(b"7:prompt:3").digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    assert got == [rng.choice(["a", "b", "c"]) for _ in range(50)]  # unchanged for old constitutions


def test_weighted_draws_are_proportional_on_a_seeded_rng():
    c = make()  # weights 3:1:1
    s = PrincipleSampler(c, seed=0)
    assert s.probabilities() == pytest.approx({"safety": 0.6, "honesty": 0.2, "help": 0.2})
    counts = Counter(p.key for i in range(3000) for p in s.draw(i, 2))
    n = sum(counts.values())
    for key, prob in s.probabilities().items():  # 6000 draws: sd of a share ≈ 0.0063; allow 4 sd
        assert abs(counts[key] / n - prob) < 0.026, (key, counts[key] / n)
    # the same item draws the same principles again (a resumed job), whatever came before
    assert [p.key for p in s.draw(42, 4)] == [p.key for p in PrincipleSampler(c, seed=0).draw(42, 4)]
    # a disabled principle is never drawn, whatever its weight
    c.principles[0].enabled = False
    assert {p.key for i in range(200) for p in PrincipleSampler(c, 0).draw(i, 1)} == {"honesty", "help"}


@pytest.mark.parametrize("weight", [0, -1, float("inf"), float("nan"), 1001, "2", True, None])
def test_bad_weights_are_refused(weight):
    data = make().to_dict()
    data["principles"][1]["weight"] = weight
    if weight is None:  # missing means 1
        assert Constitution.from_dict(data).principles[1].weight == 1.0
        return
    with pytest.raises(ValidationError, match="Principle 2: 'weight'"):
        Constitution.from_dict(data)
    c = make()
    c.principles[1].weight = 0
    with pytest.raises(ValidationError, match="weight must be a number above 0"):
        check(c)


def test_ranked_comparison_question_states_the_priority():
    c = make(ranked=True)
    first, second, third = c.principles
    assert priority_question(c, first) == f"Which is safer? {FIRST_PRIORITY_NOTE}"
    assert priority_question(c, second) == ("Which is more honest? When principles conflict, the higher-priority "
                                            "one wins. These come before this one, highest first: 1. Safety.")
    assert priority_question(c, third).startswith(DEFAULT_QUESTION)  # no question of its own: the generic one
    assert priority_question(c, third).endswith("highest first: 1. Safety; 2. Honesty.")
    p = prioritised(c)
    assert [q.comparison_question for q in p.principles] == [priority_question(c, q) for q in c.principles]
    assert c.principles[0].comparison_question == "Which is safer?"  # the original is not changed
    unranked = make()
    assert prioritised(unranked) is unranked
    assert priority_question(unranked, unranked.principles[1]) == "Which is more honest?"
    # a disabled principle outranks nobody
    c.principles[0].enabled = False
    assert priority_question(c, c.principles[1]).endswith(FIRST_PRIORITY_NOTE)


def test_label_job_asks_with_the_prioritised_constitution():
    import inspect

    from cai_desktop.jobs import label

    assert "prioritised(comparison_constitution(" in inspect.getsource(label._body)


def test_teacher_context_numbers_a_ranked_constitution_and_shows_the_preamble():
    c = make(ranked=True, preamble="For hard cases.", system_prompt="Be kind.")
    system = constitution_messages(c, "hi", few_shot=0)[0]["content"]
    lines = system.split("\n")
    assert lines[:3] == ["Be kind.", "For hard cases.",
                         "Follow these principles in every answer. They are in order of priority: when two conflict, "
                         "the earlier one wins."]
    assert lines[3].startswith("1. Safety") and lines[5].startswith("3. Help")
    plain = constitution_messages(make(), "hi", few_shot=0)[0]["content"]
    assert "\n- Safety" in plain and "priority" not in plain


def _rich():
    return make(ranked=True, preamble="Why we exist.\nTwo lines.", rationale="Safety first because…",
                principles=[_p("zeta", 2.5, "Z?"), _p("alpha", 1.0, "A?"), _p("mid", 0.5, "M?")])


@pytest.mark.parametrize("fmt, suffix", [("native", ".json"), ("native", ".yaml"), ("anthropic", ".json"),
                                         ("hf", ".json"), ("hf", ".yaml")])
def test_every_format_round_trips_priorities_and_sections(tmp_path, fmt, suffix):
    c = _rich()
    path = tmp_path / f"c{suffix}"
    formats.dump_file(c, path, fmt)
    back = formats.load_file(path, fmt)
    assert back.preamble == c.preamble and back.rationale == c.rationale and back.ranked
    assert [(p.key, p.weight) for p in back.principles] == [("zeta", 2.5), ("alpha", 1.0), ("mid", 0.5)]
    assert back == c


def test_anthropic_keeps_the_order_even_when_a_tool_sorts_the_keys(tmp_path):
    data = formats.write_anthropic(_rich())
    assert data["_cai_desktop"]["order"] == ["zeta", "alpha", "mid"]
    assert data["zeta"]["weight"] == 2.5 and "weight" not in data["alpha"]  # only non-default weights
    shuffled = json.loads(json.dumps(data, sort_keys=True))
    assert [p.key for p in formats.from_data(shuffled, "anthropic").principles] == ["zeta", "alpha", "mid"]


def test_defaults_leave_the_document_and_hash_as_before():
    c = make(principles=[_p("a"), _p("b")])
    d = c.to_dict()
    assert not {"preamble", "rationale", "ranked"} & set(d) and all("weight" not in p for p in d["principles"])
    old_shape = {"name": "c", "title": "", "description": "", "version": 1, "system_prompt": "", "few_shot": [],
                 "principles": [{k: v for k, v in p.items()} for p in d["principles"]]}
    old_shape.pop("version")
    assert c.content_hash() == hashlib.sha256(json.dumps(old_shape, sort_keys=True).encode()).hexdigest()[:16]
    assert "weight" not in json.dumps(formats.write_hf(c)) and "preamble" not in json.dumps(formats.write_anthropic(c))


def test_store_keeps_priorities_and_sections_in_the_live_state_and_versions(tmp_path):
    from cai_desktop.store.project import Project

    with Project.create(tmp_path / "p.caiproj") as project:
        c = _rich()
        v1 = project.constitutions.save(c)
        live = project.constitutions.get("c")
        assert live == c
        assert project.constitutions.get("c", v1) == c
        changed = live.copy()
        changed.principles[2].weight = 4.0
        changed.ranked = False
        v2 = project.constitutions.save(changed)
        assert v2 == v1 + 1
        assert project.constitutions.get("c").principles[2].weight == 4.0 and not project.constitutions.get("c").ranked
        assert project.constitutions.get("c", v1).ranked  # history kept
        assert project.constitutions.save(project.constitutions.get("c")) == v2  # no change, no new version


def test_starter_constitutions_have_prudence_and_a_ranked_one():
    from cai_desktop.resources import starter_constitutions

    loaded = {p.stem: formats.load_file(p) for p in starter_constitutions()}
    general = loaded["general"]
    assert {"prudence-in-ambiguity", "weigh-competing-principles"} <= {p.key for p in general.principles}
    ranked = loaded["prudence"]
    assert ranked.ranked and ranked.preamble and ranked.rationale
    assert ranked.principles[0].key == "avoid-serious-harm" and ranked.principles[0].weight > 1
    assert "cautious reading" in ranked.principle("prudence-in-ambiguity").revision_request
