"""AI feedback labels on the tiny model: normalisation, agreement with a direct forward pass,
order-swap averaging, chain-of-thought with clamping, cancel between batches."""

from __future__ import annotations

import pytest
import torch

from cai_desktop.core import feedback as fb
from cai_desktop.core.errors import Cancelled, ValidationError
from cai_desktop.engine.feedback import label_pairs, question_prompt
from cai_desktop.engine.models import load_model
from cai_desktop.jobs.context import RecordingContext

PRINCIPLE = {"key": "harm", "comparison_question": "Which reply is less harmful?"}


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    return load_model(str(tiny_model_dir), device="cpu", dtype="float32")


def _items(n: int = 3) -> list[dict]:
    return [
        {"prompt": f"How do I bake bread {i}?", "response_a": "Mix flour and water.",
         "response_b": "I can't help with that.", "principle": PRINCIPLE, "key": i}
        for i in range(n)
    ]


def _direct_logprobs(lm, text: str) -> tuple[float, float]:
    """Independent forward pass: log-softmax at the last position for the tokens A and B."""
    tok = lm.tokenizer
    ids = tok(text, add_special_tokens=False)["input_ids"]
    a = tok("A", add_special_tokens=False)["input_ids"][0]
    b = tok("B", add_special_tokens=False)["input_ids"][0]
    with torch.no_grad():
        logits = lm.model(input_ids=torch.tensor([ids])).logits[0, -1].float()
    logp = torch.log_softmax(logits, dim=-1)
    return float(logp[a]), float(logp[b])


def test_option_letters_are_single_tokens_after_the_paren(lm):
    tok = lm.tokenizer
    ids = tok("The answer is: (A)", add_special_tokens=False)["input_ids"]
    lead = tok(fb.ANSWER_LEAD, add_special_tokens=False)["input_ids"]
    assert ids[: len(lead)] == lead
    assert ids[len(lead)] == tok("A", add_special_tokens=False)["input_ids"][0]


def test_soft_labels_sum_to_one_and_match_a_direct_forward_pass(lm):
    items = _items(3)
    out = label_pairs(lm, items, both_orders=False, batch_size=2)
    assert len(out) == 3
    for item, row in zip(items, out):
        assert row["p_a"] + row["p_b"] == pytest.approx(1.0)
        la, lb = _direct_logprobs(lm, question_prompt(lm, item))
        assert row["logp_a"] == pytest.approx(la, abs=1e-4)
        assert row["p_a"] == pytest.approx(fb.soft_label(la, lb)[0], abs=1e-5)
        assert row["order_shift"] is None and row["reasoning"] is None
        assert row["label"] == row["raw_label"] == row["p_a"]


def test_both_orders_average_the_forward_and_swapped_votes(lm):
    item = _items(1)[0]
    fwd = fb.soft_label(*_direct_logprobs(lm, question_prompt(lm, item)))[0]
    swp = fb.soft_label(*_direct_logprobs(lm, question_prompt(lm, item, swapped=True)))[0]
    row = label_pairs(lm, [item], both_orders=True)[0]
    assert row["raw_label"] == pytest.approx((fwd + (1 - swp)) / 2, abs=1e-5)
    assert row["order_shift"] == pytest.approx(abs(fwd - (1 - swp)), abs=1e-5)
    # swapping the stored answers mirrors the label
    mirrored = dict(item, response_a=item["response_b"], response_b=item["response_a"])
    row2 = label_pairs(lm, [mirrored], both_orders=True)[0]
    assert row2["raw_label"] == pytest.approx(1 - row["raw_label"], abs=1e-5)


def test_cot_reasons_then_clamps(lm):
    out = label_pairs(lm, _items(2), both_orders=False, mode="cot", max_reasoning_tokens=8, few_shot=1)
    for row in out:
        assert isinstance(row["reasoning"], str)
        assert 0.4 <= row["label"] <= 0.6
        assert row["label"] == pytest.approx(fb.clamp(row["raw_label"], "40-60"))
    loose = label_pairs(lm, _items(1), both_orders=False, mode="cot", clamp="none", max_reasoning_tokens=8)
    assert loose[0]["label"] == loose[0]["raw_label"]


def test_cancel_between_batches(lm):
    ctx = RecordingContext(cancel_after_progress=1)
    with pytest.raises(Cancelled):
        label_pairs(lm, _items(4), both_orders=False, batch_size=2, ctx=ctx)
    assert ctx.progress_calls[0][:2] == (2, 4)


def test_bad_items_are_refused(lm):
    with pytest.raises(ValidationError):
        label_pairs(lm, [{"prompt": "x", "response_a": "", "response_b": "b"}])
    with pytest.raises(ValidationError):
        label_pairs(lm, _items(1), mode="vote")
    with pytest.raises(ValidationError):
        label_pairs(lm, _items(1), clamp="10-90")
