import pytest

from cai_desktop.core.constitution import (
    Constitution,
    FewShotExample,
    Principle,
    PrincipleSampler,
    check,
    validate,
)
from cai_desktop.core.errors import ValidationError


def make(n=3, **kw):
    return Constitution(
        name=kw.pop("name", "test"),
        principles=[
            Principle(key=f"p{i}", title=f"P{i}", critique_request=f"critique {i}",
                      revision_request=f"revise {i}", comparison_question=f"which {i}?", tags=["t"])
            for i in range(n)
        ],
        **kw,
    )


def test_valid_constitution_has_no_problems():
    assert validate(make()) == []


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda c: setattr(c.principles[0], "critique_request", "  "), "critique request is empty"),
        (lambda c: setattr(c.principles[1], "revision_request", ""), "revision request is empty"),
        (lambda c: setattr(c.principles[1], "key", "p0"), "already used by principle 1"),
        (lambda c: [setattr(p, "enabled", False) for p in c.principles], "Enable at least one"),
        (lambda c: setattr(c, "principles", []), "at least one principle"),
        (lambda c: setattr(c, "name", ""), "needs a name"),
        (lambda c: setattr(c, "name", "My Const"), "'my-const'"),
        (lambda c: setattr(c.principles[0], "key", "Bad Key"), "lowercase"),
    ],
)
def test_validation_messages(mutate, fragment):
    c = make()
    mutate(c)
    problems = validate(c)
    assert any(fragment in p for p in problems), problems
    with pytest.raises(ValidationError):
        check(c)


def test_unknown_field_is_rejected_with_names():
    data = make().to_dict()
    data["principles"][0]["critque_request"] = "typo"
    with pytest.raises(ValidationError, match="critque_request"):
        Constitution.from_dict(data)
    data = make().to_dict()
    data["colour"] = "blue"
    with pytest.raises(ValidationError, match="colour"):
        Constitution.from_dict(data)


def test_dict_round_trip_keeps_everything():
    c = make(few_shot=[FewShotExample(prompt="q", response="a", critique="c", revision="r", principle="p0")],
             system_prompt="sys", description="d", title="T", version=3)
    c.principles[1].enabled = False
    assert Constitution.from_dict(c.to_dict()) == c


def test_sampler_same_seed_same_draws_and_only_enabled():
    c = make(6)
    c.principles[2].enabled = False
    a = PrincipleSampler(c, seed=7)
    b = PrincipleSampler(c, seed=7)
    draws = [[p.key for p in a.draw(i, 4)] for i in range(50)]
    assert draws == [[p.key for p in b.draw(i, 4)] for i in range(50)]
    assert all("p2" not in d for d in draws)
    other = [[p.key for p in PrincipleSampler(c, seed=8).draw(i, 4)] for i in range(50)]
    assert other != draws
    # with replacement: some draw repeats a principle within one chain
    assert any(len(set(d)) < len(d) for d in draws)
    # order independence: drawing item 10 alone gives the same as in sequence
    assert [p.key for p in PrincipleSampler(c, seed=7).draw(10, 4)] == draws[10]


def test_pure_edits_do_not_mutate_original():
    c = make(3)
    moved = c.moved(0, 2)
    assert [p.key for p in moved.principles] == ["p1", "p2", "p0"]
    assert [p.key for p in c.principles] == ["p0", "p1", "p2"]
    assert c.new_key("p1") == "p1-2"
    assert len(c.without(0).principles) == 2 and len(c.principles) == 3


def test_key_for_title_is_a_unique_slug():
    c = make(3)  # keys p0, p1, p2
    assert c.key_for_title(0, "Avoid Flattery!") == "avoid-flattery"
    assert c.key_for_title(0, "P1") == "p1-2"  # taken by another principle
    assert c.key_for_title(1, "P1") == "p1"  # its own key is not "taken"
    assert c.key_for_title(0, "") == "new-principle"


def test_key_follows_title_only_while_unsaved_and_untyped():
    c = make(2)
    c.principles.append(Principle(key="new-principle", title="New principle"))
    assert c.key_follows_title(2)
    renamed = c.with_title(2, "Be brief", follow_key=True)
    assert renamed.principles[2].key == "be-brief" and renamed.principles[2].title == "Be brief"
    assert c.principles[2].key == "new-principle"  # pure
    assert renamed.key_follows_title(2)
    # a suffix to stay unique still counts as following
    clash = c.with_title(2, "P0", follow_key=True)
    assert clash.principles[2].key == "p0-2" and clash.key_follows_title(2)
    # a key typed by hand, or one already saved, stays
    typed = renamed.with_principle(2, Principle(key="short", title="Be brief"))
    assert not typed.key_follows_title(2)
    assert not renamed.key_follows_title(2, saved_keys={"be-brief"})
    assert renamed.with_title(2, "Be concise", follow_key=False).principles[2].key == "be-brief"
