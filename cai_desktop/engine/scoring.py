"""Log-probability scoring: how likely a model finds a continuation, or each candidate's first token.

``score_continuations`` totals the log-probability of a text after its prompt;
``next_token_logprobs`` reads the log-probability of each candidate's first token right after a
prompt (normalised over two candidates it is a soft label, see ``engine.feedback``). Prompts are
built as ``generate`` builds them (``prompting.prompt_text``); batches are left padded with
explicit position ids, so a row's score does not depend on what shares its batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from cai_desktop.engine.decoding import _inference_threads
from cai_desktop.engine.models import LoadedModel
from cai_desktop.engine.prompting import GenerationRequest, _check_cancel, _encode, prompt_text


def _last_logprobs(lm: LoadedModel, seqs: list[list[int]], keep: int) -> torch.Tensor:
    """Log-softmax over the vocabulary at the last ``keep`` positions of each sequence.

    The batch is left padded with explicit position ids, so row i's position -k is its own
    k-th last token whatever the batch; only the kept positions go through the LM head.
    Returns a (batch, keep, vocab) float tensor on the CPU.
    """
    width = max(len(s) for s in seqs)
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, width - len(s):] = torch.tensor(s, dtype=torch.long)
        mask[i, width - len(s):] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    kw = dict(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device), position_ids=positions.to(lm.device))
    with torch.inference_mode(), _inference_threads(lm):
        try:
            logits = lm.model(**kw, logits_to_keep=keep).logits
        except TypeError:  # a model class without logits_to_keep
            logits = lm.model(**kw).logits
        logits = logits[:, -keep:].float()
    return torch.log_softmax(logits, dim=-1).cpu()


def _batches(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


def _scoring_batch_size(lm: LoadedModel, batch_size: int | None) -> int:
    if batch_size:
        return int(lm.max_batch and min(batch_size, lm.max_batch) or batch_size)
    return 32 if lm.device.startswith("cuda") else 8


def score_continuations(
    lm: LoadedModel,
    prompts: Sequence[GenerationRequest],
    continuations: Sequence[str],
    *,
    ctx: Any = None,
    batch_size: int | None = None,
) -> list[float]:
    """Total log-probability of each continuation given its prompt (built as ``generate`` does).

    Prompt and continuation are tokenized separately and joined, so the continuation's tokens are
    exactly those of the continuation text alone.
    """
    if len(prompts) != len(continuations):
        raise ValueError("prompts and continuations differ in length")
    bs = _scoring_batch_size(lm, batch_size)
    out: list[float] = []
    for rows in _batches(len(prompts), bs):
        _check_cancel(ctx)
        heads = [_encode(lm, prompt_text(lm, prompts[i])) for i in rows]
        tails = [_encode(lm, continuations[i]) for i in rows]
        seqs = [h + t for h, t in zip(heads, tails)]
        keep = max(len(t) for t in tails) + 1
        logp = _last_logprobs(lm, seqs, keep)
        for r, t in enumerate(tails):
            # token j of the tail is predicted at position -(len(t) - j) - 1 of the row
            total = 0.0
            for j, token in enumerate(t):
                total += float(logp[r, keep - len(t) - 1 + j, token])
            out.append(total)
        if ctx is not None:
            ctx.progress(len(out), len(prompts), "scoring")
    return out


def candidate_token_ids(lm: LoadedModel, candidates: Sequence[str], after: list[int] | None = None, text: str = "") -> list[int]:
    """The first token of each candidate as it is tokenized right after ``text``.

    With ``after`` (the tokens of ``text``) the candidate is tokenized together with the prompt and
    its first new token is taken when the prompt's tokens are unchanged (so "A" after "(" and " A"
    after ":" are the tokens the model would really produce); otherwise the candidate alone.
    """
    ids = []
    for c in candidates:
        token = None
        if after is not None:
            joined = _encode(lm, text + c)
            if len(joined) > len(after) and joined[: len(after)] == after:
                token = joined[len(after)]
        if token is None:
            toks = _encode(lm, c)
            if not toks:
                raise ValueError(f"candidate {c!r} encodes to no token")
            token = toks[0]
        ids.append(token)
    if len(set(ids)) != len(ids):
        raise ValueError(f"candidates {list(candidates)} share their first token")
    return ids


def next_token_logprobs(
    lm: LoadedModel,
    prompts: Sequence[GenerationRequest],
    candidates: Sequence[str],
    *,
    ctx: Any = None,
    batch_size: int | None = None,
    suffixes: Sequence[str] | None = None,
) -> list[dict[str, float]]:
    """Log-probability of each candidate's first token right after each prompt.

    ``suffixes`` (optional, one per prompt) is text appended after the built prompt, e.g. the
    assistant's lead-in "The answer is: (" in a chat-formatted feedback question. Normalising
    ``exp`` of two candidates' values gives a soft label.
    """
    bs = _scoring_batch_size(lm, batch_size)
    out: list[dict[str, float]] = []
    for rows in _batches(len(prompts), bs):
        _check_cancel(ctx)
        texts = [prompt_text(lm, prompts[i]) + (suffixes[i] if suffixes else "") for i in rows]
        seqs = [_encode(lm, t) for t in texts]
        logp = _last_logprobs(lm, seqs, 1)
        for r, (text, s) in enumerate(zip(texts, seqs)):
            cand_ids = candidate_token_ids(lm, candidates, after=s, text=text)
            out.append({c: float(logp[r, -1, t]) for c, t in zip(candidates, cand_ids)})
        if ctx is not None:
            ctx.progress(len(out), len(prompts), "scoring")
    return out
