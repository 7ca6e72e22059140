"""The implied constitution's scores on fixed votes, and drafts read from a teacher's answer."""

from __future__ import annotations

import math

import pytest

from cai_desktop.core.implied import (
    PrincipleScore,
    contradicted,
    draft_key,
    draft_request,
    fallback_draft,
    implied_constitution,
    parse_draft,
    score_principle,
)
from cai_desktop.core.stats import wilson


def test_agreement_counts_sides_and_skips_ties_and_both_bad():
    votes = [(0.9, "A"), (0.2, "B"), (0.7, "B"), (0.6, "A"), (0.5, "A"), (0.8, "tie"), (0.1, "both-bad")]
    s = score_principle("p", votes, "P")
    # votes: 0.9/A agree, 0.2/B agree, 0.7/B disagree, 0.6/A agree; 0.5 undecided; tie, both-bad skipped
    assert (s.n, s.agreed, s.undecided) == (4, 3, 1)
    assert s.agreement == 0.75
    assert (s.low, s.high) == pytest.approx(wilson(3, 4))
    # the humans' side got 0.9, 0.8, 0.3, 0.6 and 0.5 (the undecided vote counts here)
    assert s.mean_p_human == pytest.approx((0.9 + 0.8 + 0.3 + 0.6 + 0.5) / 5)
    assert s.verdict == "unclear"  # 4 votes cannot tell 0.75 from a coin
    assert s.p_value == pytest.approx(10 / 16)  # P(X<=1 or X>=3) for Binomial(4, 1/2)


def test_verdicts_from_the_interval():
    agree = [(0.8, "A")] * 18 + [(0.8, "B")] * 2  # 18 of 20
    against = [(0.8, "B")] * 17 + [(0.8, "A")] * 3  # 3 of 20
    coin = [(0.8, "A")] * 10 + [(0.8, "B")] * 10
    scores = implied_constitution({"coin": coin, "against": against, "agree": agree, "none": []},
                                  {"agree": "Agreeing"})
    assert [s.key for s in scores] == ["agree", "coin", "against", "none"]  # best first, no votes last
    by = {s.key: s for s in scores}
    assert by["agree"].verdict == "supported" and by["agree"].low > 0.5 and by["agree"].title == "Agreeing"
    assert by["against"].verdict == "contradicted" and by["against"].high < 0.5
    assert by["coin"].verdict == "unclear" and by["coin"].p_value == 1.0
    assert by["none"].verdict == "no votes" and by["none"].agreement is None and by["none"].n == 0
    assert [s.key for s in contradicted(scores)] == ["against"]
    # exact two-sided p of 3 of 20 against a coin
    assert by["against"].p_value == pytest.approx(2 * sum(math.comb(20, i) for i in range(4)) / 2**20)


def test_scores_round_trip_and_bad_votes():
    s = score_principle("p", [(0.9, "A"), (0.1, "A")])
    assert PrincipleScore.from_dict(s.to_dict()) == s
    with pytest.raises(ValueError):
        score_principle("p", [(1.5, "A")])


def test_draft_request_and_parse():
    req = draft_request("Too preachy: lectures the user.", prompt="How do I pick a lock?", answer="Lock picking is wrong.")
    assert "Too preachy" in req and "How do I pick a lock?" in req and "Comparison question:" in req
    with pytest.raises(ValueError):
        draft_request("  ")
    text = ("Sure! Here it is.\n**Title:** No lecturing\nCritique request: Point out where the answer moralises\n"
            "instead of helping.\nRevision request: Rewrite it without the lecture.\n"
            "Comparison question: Which answer helps without lecturing?\nTitle: a second block is ignored")
    d = parse_draft(text, "Too preachy")
    assert d["title"] == "No lecturing"
    assert d["critique_request"] == "Point out where the answer moralises instead of helping."
    assert d["revision_request"] == "Rewrite it without the lecture."
    assert d["comparison_question"] == "Which answer helps without lecturing?"
    assert d["filled"] == []


def test_parse_fills_what_the_model_missed_from_the_note():
    d = parse_draft("gibberish tokens ### Revision request: Be brief.", "Rambles for ages")
    fb = fallback_draft("Rambles for ages")
    assert d["revision_request"] == fb["revision_request"]  # not at the start of a line: not read
    assert d["filled"] == ["title", "critique_request", "revision_request", "comparison_question"]
    assert "Rambles for ages" in d["comparison_question"] and d["title"] == "Rambles for ages"
    d2 = parse_draft("Revision request: Be brief.", "Rambles")
    assert d2["revision_request"] == "Be brief." and "revision_request" not in d2["filled"]


def test_draft_key_is_unique():
    assert draft_key("No lecturing!", []) == "no_lecturing"
    assert draft_key("No lecturing", ["no_lecturing", "no_lecturing_2"]) == "no_lecturing_3"
    assert draft_key("???", []) == "draft"
