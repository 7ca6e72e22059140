"""Soft-label arithmetic and the feedback prompt texts (plain Python)."""

from __future__ import annotations

import math

import pytest

from cai_desktop.core import feedback as fb
from cai_desktop.core.constitution import Principle
from cai_desktop.core.errors import ValidationError


def test_soft_label_is_normalised_softmax_of_the_two_logprobs():
    la, lb = math.log(0.3), math.log(0.1)
    p_a, p_b = fb.soft_label(la, lb)
    assert p_a + p_b == pytest.approx(1.0)
    assert p_a == pytest.approx(0.75)
    # extreme log-probs stay finite and ordered
    p_a, p_b = fb.soft_label(-1000.0, -1001.0)
    assert p_a == pytest.approx(1 / (1 + math.exp(-1)))
    assert fb.soft_label(-math.inf, -math.inf) == (0.5, 0.5)


def test_average_orders_uses_the_swapped_vote_for_the_original_a():
    # forward: A preferred with 0.8. Swapped question shows the original A as option B;
    # p(option A) = 0.3 there means 0.7 for the original A.
    assert fb.swapped_vote(0.3) == pytest.approx(0.7)
    assert fb.average_orders(0.8, 0.3) == pytest.approx(0.75)
    assert fb.order_shift(0.8, 0.3) == pytest.approx(0.1)
    # a pure position bias (always picks A with 0.9) averages out to 0.5 with shift 0.8
    assert fb.average_orders(0.9, 0.9) == pytest.approx(0.5)
    assert fb.order_shift(0.9, 0.9) == pytest.approx(0.8)


def test_clamp_modes():
    assert fb.clamp(0.97, "none") == 0.97
    assert fb.clamp(0.97, "20-80") == 0.8
    assert fb.clamp(0.03, "20-80") == 0.2
    assert fb.clamp(0.97, "40-60") == 0.6
    assert fb.clamp(0.1, "40-60") == 0.4
    assert fb.clamp(0.55, "40-60") == 0.55
    with pytest.raises(ValidationError):
        fb.clamp(0.5, "30-70")
    assert fb.default_clamp("cot") == "40-60"
    assert fb.default_clamp("direct") == "none"


def test_combine_keeps_raw_and_clamped_labels():
    r = fb.combine((math.log(0.9), math.log(0.1)), (math.log(0.2), math.log(0.8)), "40-60")
    assert r["raw_label"] == pytest.approx(0.85)
    assert r["label"] == pytest.approx(0.6)
    assert r["p_a"] + r["p_b"] == pytest.approx(1.0)
    assert r["order_shift"] == pytest.approx(0.1)
    one = fb.combine((math.log(0.9), math.log(0.1)))
    assert one["order_shift"] is None and one["label"] == pytest.approx(0.9)


def test_reference_loss_matches_hard_loss_at_0_and_1():
    assert fb.soft_preference_loss(1.3, -0.2, 1.0) == pytest.approx(fb.hard_preference_loss(1.3, -0.2))
    assert fb.soft_preference_loss(1.3, -0.2, 0.0) == pytest.approx(fb.hard_preference_loss(-0.2, 1.3))
    # at a soft label the loss is lowest where sigma(diff) equals the label
    d_best = math.log(0.7 / 0.3)
    assert fb.soft_preference_loss(d_best, 0.0, 0.7) < fb.soft_preference_loss(d_best + 1, 0.0, 0.7)
    assert fb.soft_preference_loss(d_best, 0.0, 0.7) < fb.soft_preference_loss(d_best - 1, 0.0, 0.7)


def test_prompt_has_question_options_and_lead_in():
    p = Principle(key="privacy", critique_request="c", revision_request="r",
                  comparison_question="Which reply better respects privacy?")
    msgs = fb.feedback_messages("Where does Ann live?", fb.principle_question(p), "On Elm St.", "I can't share that.")
    assert len(msgs) == 1 and msgs[0]["role"] == "user"
    text = msgs[0]["content"]
    assert "Human: Where does Ann live?" in text
    assert "Which reply better respects privacy?" in text
    assert "(A) On Elm St." in text and "(B) I can't share that." in text
    assert fb.lead_in("direct") == "The answer is: ("
    assert fb.principle_question({"comparison_question": ""}) == fb.DEFAULT_QUESTION
    transcript = fb.feedback_transcript("Hi", "Q?", "a", "b")
    assert transcript.endswith("The answer is: (")


def test_few_shot_and_cot_forms():
    msgs = fb.feedback_messages("Hi", "Q?", "a", "b", few_shot=2)
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
    assert msgs[1]["content"] in ("The answer is: (A)", "The answer is: (B)")
    cot = fb.feedback_messages("Hi", "Q?", "a", "b", few_shot=1, mode="cot")
    assert cot[1]["content"].startswith("Let's think step by step:")
    assert "Therefore, the answer is: (" in cot[1]["content"]
    assert fb.clean_reasoning("A is rude. B is kind. Therefore, the answer is (B)") == "A is rude. B is kind."
    conv = fb.conversation_text([{"role": "system", "content": "s"}, {"role": "user", "content": "hi"},
                                 {"role": "assistant", "content": "hello"}, {"role": "user", "content": "bye"}])
    assert conv == "Human: hi\n\nAssistant: hello\n\nHuman: bye"
    with pytest.raises(ValidationError):
        fb.feedback_messages("Hi", "Q?", "a", "b", mode="vote")
    with pytest.raises(ValidationError):
        fb.conversation_text([])


def test_calibration_bins():
    bins = fb.calibration_bins([0.1, 0.15, 0.9, 1.0], [0.0, 0.5, 1.0, 1.0], 5)
    assert [b["n"] for b in bins] == [2, 0, 0, 0, 2]
    assert bins[0]["mean_label"] == pytest.approx(0.25)
    assert fb.expected_calibration_error(bins) == pytest.approx((2 * 0.125 + 2 * 0.05) / 4)
    assert fb.expected_calibration_error(fb.calibration_bins([], [], 3)) is None
