"""AI feedback labels: ask a feedback model which answer is better and read a soft label.

For each item the feedback model gets the multiple-choice question built by
``core.feedback`` (conversation, the drawn principle's comparison question, options (A)/(B)),
then the answer lead-in ``The answer is: (`` (a model without a chat template of its own, a
base model, gets the same question as plain text); the log-probabilities of the next tokens ``A`` and
``B`` are normalised into the label. With ``both_orders`` the question is also asked with the
answers swapped and the two votes are averaged. In chain-of-thought mode the model first writes
its reasoning after "Let's think step by step:", then the answer probabilities are read after
"Therefore, the answer is: (", and the label is clamped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from cai_desktop.core import feedback as fb
from cai_desktop.core.context import CancelOnly
from cai_desktop.core.errors import Cancelled, ValidationError
from cai_desktop.engine.generation import (
    GenerationRequest,
    SamplingSettings,
    generate,
    next_token_logprobs,
    prompt_text,
)
from cai_desktop.engine.models import LoadedModel, bos_prefix, has_chat_template


def _seed(seed: int, key: Any, what: str) -> int:
    digest = hashlib.sha256(f"{seed}:{key}:{what}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _conversation(item: dict[str, Any]) -> Any:
    conv = item.get("conversation")
    if conv is None:
        conv = item.get("prompt")
    if conv is None or (isinstance(conv, str) and not conv.strip()):
        raise ValidationError("Each comparison needs a prompt or a conversation.")
    return conv


def question_prompt(
    lm: LoadedModel,
    item: dict[str, Any],
    *,
    swapped: bool = False,
    mode: str = "direct",
    few_shot: int | list[fb.ComparisonExample] = 0,
) -> str:
    """The full text the feedback model continues, ending with the mode's lead-in."""
    a, b = item["response_a"], item["response_b"]
    if swapped:
        a, b = b, a
    question = fb.principle_question(item.get("principle"))
    conv = _conversation(item)
    if has_chat_template(lm.tokenizer):
        msgs = fb.feedback_messages(conv, question, a, b, few_shot=few_shot, mode=mode)
        return prompt_text(lm, GenerationRequest(messages=msgs)) + fb.lead_in(mode)
    # a base model (no chat template of its own): the question as plain text, after its BOS token
    # when it needs one (prompts are encoded without special tokens)
    return bos_prefix(lm.tokenizer) + fb.feedback_transcript(conv, question, a, b, few_shot=few_shot, mode=mode)


def option_logprobs(lm: LoadedModel, texts: Sequence[str], *, ctx: Any = None, batch_size: int = 8) -> list[tuple[float, float]]:
    """Log-probabilities of the option letters A and B right after each text."""
    rows = next_token_logprobs(
        lm, [GenerationRequest(text=t) for t in texts], list(fb.OPTIONS), ctx=CancelOnly(ctx), batch_size=batch_size
    )
    return [(r["A"], r["B"]) for r in rows]


def label_pairs(
    lm: LoadedModel,
    items: Sequence[dict[str, Any]],
    *,
    both_orders: bool = True,
    mode: str = "direct",
    clamp: str | None = None,
    few_shot: int | list[fb.ComparisonExample] = 0,
    ctx: Any = None,
    seed: int = 0,
    batch_size: int = 8,
    max_reasoning_tokens: int = 128,
    reasoning_temperature: float = 0.0,
) -> list[dict[str, Any]]:
    """Soft labels for comparisons.

    Each item is ``{"prompt" or "conversation", "response_a", "response_b", "principle"
    (object or dict with a comparison_question), "key" (optional, seeds the reasoning)}``.
    Returns per item ``{"p_a", "p_b", "raw_label", "label", "order_shift", "reasoning",
    "logp_a", "logp_b", "option_mass"}`` where labels are the probability that A is better.
    Works in batches; cancel is honoured between batches (raises ``Cancelled``).
    """
    fb.check_mode(mode)
    clamp = clamp or fb.default_clamp(mode)
    fb.check_clamp(clamp)
    if batch_size < 1:
        raise ValidationError("The batch size must be at least 1.")
    for it in items:
        _conversation(it)
        if not str(it.get("response_a") or "").strip() or not str(it.get("response_b") or "").strip():
            raise ValidationError("Each comparison needs two non-empty responses (A and B).")
    out: list[dict[str, Any]] = []
    total = len(items)
    for start in range(0, total, batch_size):
        if ctx is not None and ctx.cancelled():
            raise Cancelled("cancelled by the user")
        chunk = list(items[start: start + batch_size])
        keys = [it.get("key", start + i) for i, it in enumerate(chunk)]
        orders = [False, True] if both_orders else [False]
        logps: dict[bool, list[tuple[float, float]]] = {}
        reasons: dict[bool, list[str]] = {}
        for swapped in orders:
            texts = [question_prompt(lm, it, swapped=swapped, mode=mode, few_shot=few_shot) for it in chunk]
            if mode == "cot":
                reqs = [
                    GenerationRequest(
                        text=t,
                        sampling=SamplingSettings(
                            temperature=reasoning_temperature, top_p=1.0, max_new_tokens=max_reasoning_tokens,
                            stop=fb.COT_STOPS, seed=_seed(seed, k, f"cot-{int(swapped)}"),
                        ),
                    )
                    for t, k in zip(texts, keys)
                ]
                gens = generate(lm, reqs, ctx=CancelOnly(ctx), batch_size=batch_size)
                reasons[swapped] = [fb.clean_reasoning(g.text) for g in gens]
                texts = [t + r + fb.COT_ANSWER_LEAD for t, r in zip(texts, reasons[swapped])]
            logps[swapped] = option_logprobs(lm, texts, ctx=ctx, batch_size=batch_size)
        for i in range(len(chunk)):
            fwd = logps[False][i]
            swp = logps[True][i] if both_orders else None
            row: dict[str, Any] = fb.combine(fwd, swp, clamp)
            row["logp_a"], row["logp_b"] = fwd
            row["option_mass"] = fb.option_mass(*fwd)
            reasoning = None
            if mode == "cot":
                reasoning = reasons[False][i]
                if both_orders:
                    reasoning = f"{reasoning}\n\n[answers swapped] {reasons[True][i]}"
            row["reasoning"] = reasoning
            out.append(row)
        if ctx is not None:
            ctx.progress(len(out), total, "labelling")
    return out
