"""AI feedback (stage 2): the multiple-choice comparison prompt and the soft-label arithmetic.

A feedback model reads a conversation, a comparison principle's question and two answers as
options (A) and (B). The prompt ends with the lead-in ``The answer is: (`` so that the next token
is the option letter; the normalised probabilities of the tokens ``A`` and ``B`` are the *soft
label*. Plain Python: the engine builds model inputs from these texts and reads the log-probs.

Conventions used everywhere in stage 2:
- a label is the probability that response A (as stored) is the better one;
- evaluating both orders shows the answers swapped in a second question; there option (A) is the
  original B, so the swapped question's vote for the original A is ``1 - p_a_swapped``;
- the chain-of-thought variant's overconfident labels are clamped (paper: to 40-60 %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cai_desktop.core.errors import ValidationError

MODES = ("direct", "cot")
CLAMPS = ("none", "20-80", "40-60")
OPTIONS = ("A", "B")
ANSWER_LEAD = "The answer is: ("
COT_LEAD = "Let's think step by step:"
COT_ANSWER_LEAD = "\nTherefore, the answer is: ("
# Where a chain-of-thought stops: the model would otherwise answer by itself.
COT_STOPS = ("Therefore, the answer is", "The answer is", "\n\nHuman:", "\n\nConsider the following")
DEFAULT_QUESTION = (
    "Which of these assistant responses is less harmful? Choose the response that a thoughtful, "
    "honest and kind person would more likely give."
)
INTRO = "Consider the following conversation between a human and an assistant:"


@dataclass(frozen=True)
class ComparisonExample:
    """A labelled comparison shown before the real question (few-shot)."""

    prompt: str
    question: str
    response_a: str
    response_b: str
    answer: str  # "A" or "B"
    reasoning: str = ""


# Our own examples: a harmful-vs-careful pair, a preachy-vs-helpful pair, an honest pair.
FEW_SHOT_BANK: tuple[ComparisonExample, ...] = (
    ComparisonExample(
        prompt="How can I get into my ex's email account? I know her birthday and her dog's name.",
        question="Which reply better respects the privacy of other people?",
        response_a="Try her birthday and the dog's name as the password, and use 'forgot password' with those answers.",
        response_b="I can't help you get into someone else's account. If you need something from her, ask her "
        "directly; if you fear she has your data, you can change your own passwords.",
        answer="B",
        reasoning="Response A helps break into another person's account, which invades her privacy and is "
        "illegal. Response B declines that part and still offers something useful.",
    ),
    ComparisonExample(
        prompt="How do I kill a stuck Python process on Linux?",
        question="Which reply is more helpful without being preachy or refusing something harmless?",
        response_a="Find its id with `pgrep -f python` and run `kill <id>`; if it ignores that, use `kill -9 <id>`.",
        response_b="I can't help with killing anything. Violence is never the answer.",
        answer="A",
        reasoning="The question is about ending a computer process, which is harmless. Response B refuses by "
        "misreading the word 'kill'; response A answers correctly.",
    ),
    ComparisonExample(
        prompt="Is it safe to take ibuprofen with my blood pressure pills?",
        question="Which reply is more honest about uncertainty and points to real help when needed?",
        response_a="Yes, they are completely safe together, don't worry.",
        response_b="It depends on the pills: ibuprofen can raise blood pressure and interact with some of them. "
        "Please ask your pharmacist or doctor before combining them.",
        answer="B",
        reasoning="Response A gives a false guarantee about a real interaction. Response B is honest about the "
        "risk and sends the person to someone who can check their medicines.",
    ),
)


# -- prompt texts ----------------------------------------------------------------------------------
def conversation_text(conversation: Any) -> str:
    """A conversation as 'Human:'/'Assistant:' turns (a prompt string is one human turn)."""
    if isinstance(conversation, str):
        return f"Human: {conversation.strip()}"
    if not isinstance(conversation, list) or not conversation:
        raise ValidationError("A comparison needs a conversation: a prompt or a list of messages.")
    lines = []
    for m in conversation:
        role = m.get("role")
        if role == "system":
            continue
        who = "Human" if role == "user" else "Assistant"
        lines.append(f"{who}: {str(m.get('content', '')).strip()}")
    return "\n\n".join(lines)


def principle_question(principle: Any) -> str:
    """The comparison question of a principle (object or dict); a generic one when it has none."""
    if principle is None:
        return DEFAULT_QUESTION
    q = principle.get("comparison_question") if isinstance(principle, dict) else getattr(
        principle, "comparison_question", ""
    )
    return (q or "").strip() or DEFAULT_QUESTION


def question_text(conversation: Any, question: str, response_a: str, response_b: str) -> str:
    """The multiple-choice question, without the answer lead-in."""
    return (
        f"{INTRO}\n\n{conversation_text(conversation)}\n\n{question.strip()}\n"
        f"Options:\n(A) {response_a.strip()}\n(B) {response_b.strip()}"
    )


def example_answer(ex: ComparisonExample, cot: bool) -> str:
    """The assistant side of a few-shot example (with its reasoning in chain-of-thought mode)."""
    if ex.answer not in OPTIONS:
        raise ValidationError(f"A few-shot comparison's answer must be A or B, not {ex.answer!r}.")
    if cot:
        return f"{COT_LEAD} {ex.reasoning.strip()}{COT_ANSWER_LEAD}{ex.answer})"
    return f"{ANSWER_LEAD}{ex.answer})"


def few_shot_examples(n: int) -> list[ComparisonExample]:
    if n < 0:
        raise ValidationError("The number of few-shot comparisons cannot be negative.")
    return list(FEW_SHOT_BANK[: min(n, len(FEW_SHOT_BANK))])


def feedback_messages(
    conversation: Any,
    question: str,
    response_a: str,
    response_b: str,
    *,
    few_shot: list[ComparisonExample] | int = 0,
    mode: str = "direct",
) -> list[dict[str, str]]:
    """Chat messages for the feedback model; the assistant's answer starts with :func:`lead_in`.

    Few-shot examples are earlier user/assistant turns with their answers (and reasoning in
    chain-of-thought mode), so a small model sees the exact form expected of it.
    """
    check_mode(mode)
    examples = few_shot_examples(few_shot) if isinstance(few_shot, int) else list(few_shot)
    msgs: list[dict[str, str]] = []
    for ex in examples:
        msgs.append({"role": "user", "content": question_text(ex.prompt, ex.question, ex.response_a, ex.response_b)})
        msgs.append({"role": "assistant", "content": example_answer(ex, mode == "cot")})
    msgs.append({"role": "user", "content": question_text(conversation, question, response_a, response_b)})
    return msgs


def lead_in(mode: str) -> str:
    """The start of the feedback model's answer: the option letter comes next (direct) or the
    reasoning does (chain of thought)."""
    check_mode(mode)
    return ANSWER_LEAD if mode == "direct" else COT_LEAD + " "


def feedback_transcript(
    conversation: Any,
    question: str,
    response_a: str,
    response_b: str,
    *,
    few_shot: list[ComparisonExample] | int = 0,
    mode: str = "direct",
) -> str:
    """The same question as plain text (for base models without a chat template), lead-in included."""
    check_mode(mode)
    examples = few_shot_examples(few_shot) if isinstance(few_shot, int) else list(few_shot)
    parts = [
        f"{question_text(ex.prompt, ex.question, ex.response_a, ex.response_b)}\n{example_answer(ex, mode == 'cot')}"
        for ex in examples
    ]
    parts.append(f"{question_text(conversation, question, response_a, response_b)}\n{lead_in(mode)}")
    return "\n\n-----\n\n".join(parts)


def clean_reasoning(text: str) -> str:
    """The reasoning up to where the model starts to answer by itself."""
    cut = len(text)
    for stop in COT_STOPS:
        i = text.find(stop)
        if i >= 0:
            cut = min(cut, i)
    return text[:cut].strip()


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValidationError(f"Unknown feedback mode {mode!r}; choose direct or cot.")


def check_clamp(mode: str) -> None:
    if mode not in CLAMPS:
        raise ValidationError(f"Unknown clamp {mode!r}; choose none, 20-80 or 40-60.")


def default_clamp(mode: str) -> str:
    """The paper clamps chain-of-thought labels to 40-60 %; direct labels are kept as they are."""
    check_mode(mode)
    return "40-60" if mode == "cot" else "none"


# -- soft-label arithmetic -------------------------------------------------------------------------
def soft_label(logp_a: float, logp_b: float) -> tuple[float, float]:
    """Normalised probabilities of options A and B from their log-probabilities (sum to 1)."""
    if not (math.isfinite(logp_a) or math.isfinite(logp_b)):
        return 0.5, 0.5
    m = max(logp_a, logp_b)
    ea, eb = math.exp(logp_a - m), math.exp(logp_b - m)
    p_a = ea / (ea + eb)
    return p_a, 1.0 - p_a


def option_mass(logp_a: float, logp_b: float) -> float:
    """How much of the next-token probability the two option letters hold (a sanity signal)."""
    return math.exp(logp_a) + math.exp(logp_b)


def swapped_vote(p_a_swapped: float) -> float:
    """The swapped question's probability that the *original* A is better."""
    return 1.0 - p_a_swapped


def average_orders(p_a_forward: float, p_a_swapped: float) -> float:
    """Label for the original A from both orders: the mean of the two votes for it."""
    return (p_a_forward + swapped_vote(p_a_swapped)) / 2.0


def order_shift(p_a_forward: float, p_a_swapped: float) -> float:
    """How much the order moved the label: |forward vote - swapped vote| (0 = no position bias)."""
    return abs(p_a_forward - swapped_vote(p_a_swapped))


def clamp(p: float, mode: str = "none") -> float:
    check_clamp(mode)
    if mode == "none":
        return p
    lo, hi = (0.2, 0.8) if mode == "20-80" else (0.4, 0.6)
    return min(max(p, lo), hi)


def combine(
    logp_forward: tuple[float, float],
    logp_swapped: tuple[float, float] | None = None,
    clamp_mode: str = "none",
) -> dict[str, float | None]:
    """Everything stored for one comparison from the option log-probs of one or both orders.

    ``p_a``/``p_b`` are the (order-averaged) normalised option probabilities for the stored A and
    B; ``raw_label`` = ``p_a``; ``label`` is the clamped label; ``order_shift`` is None when only
    one order was asked.
    """
    p_fwd, _ = soft_label(*logp_forward)
    if logp_swapped is None:
        raw, shift = p_fwd, None
    else:
        p_swp, _ = soft_label(*logp_swapped)
        raw, shift = average_orders(p_fwd, p_swp), order_shift(p_fwd, p_swp)
    return {"p_a": raw, "p_b": 1.0 - raw, "raw_label": raw, "label": clamp(raw, clamp_mode), "order_shift": shift}


# -- the preference-model loss, in plain math (reference for tests) --------------------------------
def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def soft_preference_loss(r_chosen: float, r_rejected: float, label: float) -> float:
    """Binary cross-entropy of sigma(r_chosen - r_rejected) against the soft label.

    At label 1 this is the standard reward-model loss -log sigma(r_c - r_r).
    """
    d = r_chosen - r_rejected
    return -(label * log_sigmoid(d) + (1.0 - label) * log_sigmoid(-d))


def hard_preference_loss(r_chosen: float, r_rejected: float) -> float:
    return -log_sigmoid(r_chosen - r_rejected)


def sigmoid(x: float) -> float:
    return math.exp(log_sigmoid(x))


def calibration_bins(preds: list[float], labels: list[float], n_bins: int = 5) -> list[dict[str, float]]:
    """Reliability table: per bin of predicted probability, the mean prediction and mean label."""
    if n_bins < 1:
        raise ValidationError("Calibration needs at least one bin.")
    bins: list[dict[str, float]] = []
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        idx = [i for i, p in enumerate(preds) if (lo <= p < hi) or (b == n_bins - 1 and p == 1.0)]
        n = len(idx)
        bins.append({
            "lo": lo, "hi": hi, "n": n,
            "mean_pred": sum(preds[i] for i in idx) / n if n else None,
            "mean_label": sum(labels[i] for i in idx) / n if n else None,
        })
    return bins


def expected_calibration_error(bins: list[dict[str, Any]]) -> float | None:
    total = sum(b["n"] for b in bins)
    if not total:
        return None
    return sum(b["n"] * abs(b["mean_pred"] - b["mean_label"]) for b in bins if b["n"]) / total
