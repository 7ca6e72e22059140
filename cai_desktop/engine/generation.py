"""Batched generation (and, from ``scoring``, log-probability scoring under the same names).

Requests are sorted by prompt length and cut into batches (bounded by a token budget), so
padding stays small. Sampling happens per row with the row's own seeded generator, inside a logits
processor, so a request with a seed gives the same text whatever else shares its batch, and each
row may have its own temperature, top-p, length and stop strings. An out-of-memory error halves
the batch and retries. Cancel is honoured between decoding steps (a stopping criterion ends every
row of the batch at the next token when ``ctx.cancelled()`` turns true) and between batches; a
batch stopped that way raises ``Cancelled``, so half-made text is never returned as a result.

This module is the batching: batch sizes, out-of-memory retries and the ``generate`` call. The
request and result types live in ``prompting``, the per-row sampling and stopping hooks in
``decoding`` and log-probability scoring in ``scoring``; all are importable from here as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from cai_desktop.core.errors import Cancelled, ModelError
from cai_desktop.engine.decoding import (
    _CancelStopper,
    _inference_threads,
    _RowSampler,
    _RowStopper,
    cpu_threads,
)
from cai_desktop.engine.models import LoadedModel
from cai_desktop.engine.prompting import (
    GenerationRequest,
    GenerationResult,
    SamplingSettings,
    _check_cancel,
    _encode,
    prompt_text,
)
from cai_desktop.engine.scoring import candidate_token_ids, next_token_logprobs, score_continuations

__all__ = [
    "GenerationRequest",
    "GenerationResult",
    "SamplingSettings",
    "candidate_token_ids",
    "cpu_threads",
    "default_batch_size",
    "default_token_budget",
    "generate",
    "generate_iter",
    "next_token_logprobs",
    "prompt_text",
    "score_continuations",
]


def _is_oom(e: BaseException) -> bool:
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom_type is not None and isinstance(e, oom_type)) or "out of memory" in str(e).lower()


def _kv_bytes_per_token(lm: LoadedModel) -> int:
    cfg = getattr(lm.model, "config", None)
    layers = getattr(cfg, "num_hidden_layers", 32) or 32
    heads = getattr(cfg, "num_attention_heads", 32) or 32
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    hidden = getattr(cfg, "hidden_size", 4096) or 4096
    head_dim = getattr(cfg, "head_dim", None) or hidden // heads
    elem = 4 if lm.dtype == "float32" else 2
    return 2 * layers * kv_heads * head_dim * elem


def default_batch_size(lm: LoadedModel) -> int:
    """Rows per ``generate`` call: from free GPU memory on CUDA, 32 on the CPU (measured best)."""
    if lm.device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info()
        return int(max(8, min(256, free / 2**30 * 8)))
    return 32


def default_token_budget(lm: LoadedModel) -> int:
    """Most tokens (rows x (prompt + new)) per batch: the KV cache gets ~40% of free GPU memory."""
    if lm.device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info()
        return int(max(2048, 0.4 * free / _kv_bytes_per_token(lm)))
    return 64_000


def _generate_batch(
    lm: LoadedModel, batch: list[tuple[list[int], SamplingSettings]], ignore_eos: bool = False, ctx: Any = None
) -> list[GenerationResult]:
    """One ``model.generate`` call over a left-padded batch; per-row sampling and stopping.

    With a ``ctx`` the call stops at the next decoding step after cancel and raises ``Cancelled``.
    """
    from transformers import LogitsProcessorList, StoppingCriteriaList

    tok = lm.tokenizer
    pad = tok.pad_token_id
    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, (ids, _) in enumerate(batch):
        input_ids[i, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
        mask[i, width - len(ids):] = 1
    settings = [s for _, s in batch]
    max_new = max(s.max_new_tokens for s in settings)
    eos = lm.model.generation_config.eos_token_id
    if eos is None:
        eos = tok.eos_token_id
    eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
    stopper = _RowStopper(lm, settings, width)
    processors = LogitsProcessorList()
    if any(s.temperature and s.temperature > 0 for s in settings):
        processors.append(_RowSampler(settings, lm.device))
    criteria = StoppingCriteriaList([stopper])
    cancel = _CancelStopper(ctx) if ctx is not None and hasattr(ctx, "cancelled") else None
    if cancel is not None:
        criteria.append(cancel)
    extra: dict[str, Any] = {}
    if ignore_eos:
        extra["min_new_tokens"] = max_new
    with torch.inference_mode(), _inference_threads(lm):
        out = lm.model.generate(
            input_ids=input_ids.to(lm.device),
            attention_mask=mask.to(lm.device),
            max_new_tokens=max_new,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            logits_processor=processors,
            stopping_criteria=criteria,
            pad_token_id=pad,
            eos_token_id=list(eos_ids) or None,
            **extra,
        )
    if cancel is not None and cancel.fired:
        raise Cancelled("cancelled by the user")
    new_rows = out[:, width:].tolist()
    results = []
    for i, s in enumerate(settings):
        stopped_at = stopper.finished_at[i]
        new = new_rows[i][: min(stopped_at if stopped_at is not None else max_new, s.max_new_tokens)]
        reason = "length" if stopped_at is None or stopped_at >= s.max_new_tokens else "stop"
        if not ignore_eos:
            for n, t in enumerate(new):
                if t in eos_ids:
                    new = new[:n]
                    reason = "eos"
                    break
        n_new = len(new) + (1 if reason == "eos" else 0)  # the EOS token was generated too
        text = tok.decode(new, skip_special_tokens=True)
        cut = min((p for p in (text.find(st) for st in s.stop) if p >= 0), default=-1)
        if cut >= 0:
            text = text[:cut]
            reason = "stop"
        results.append(GenerationResult(text.strip(), len(batch[i][0]), n_new, reason))
    return results


def generate_iter(
    lm: LoadedModel,
    requests: Sequence[GenerationRequest],
    *,
    ctx: Any = None,
    batch_size: int | None = None,
    token_budget: int | None = None,
    ignore_eos: bool = False,
) -> Iterator[tuple[list[int], list[GenerationResult]]]:
    """Yield ``(indices, results)`` for each finished batch, so a job can commit it at once.

    Requests are sorted by prompt length (longest first) and cut into batches of at most
    ``batch_size`` rows and ``token_budget`` tokens, so padding stays small. Out of memory halves
    the batch and retries it; the smaller size is remembered on ``lm``. Cancel is checked between
    decoding steps and between batches (raises ``Cancelled``; every batch already yielded is
    complete, a batch cut short is never yielded). ``ignore_eos`` forces
    every row to its full ``max_new_tokens`` (throughput measurements only).
    """
    encoded = [_encode(lm, prompt_text(lm, r)) for r in requests]
    order = sorted(range(len(requests)), key=lambda i: (-len(encoded[i]), i))
    bs = batch_size or default_batch_size(lm)
    if lm.max_batch:
        bs = min(bs, lm.max_batch)
    budget = token_budget or default_token_budget(lm)
    total, done, pos = len(requests), 0, 0
    while pos < total:
        _check_cancel(ctx)
        longest = len(encoded[order[pos]]) + requests[order[pos]].sampling.max_new_tokens
        n = max(1, min(bs, budget // max(1, longest)))
        chunk = order[pos: pos + n]
        try:
            results = _generate_batch(lm, [(encoded[i], requests[i].sampling) for i in chunk], ignore_eos, ctx)
        except (RuntimeError, MemoryError) as e:
            if not _is_oom(e) and not isinstance(e, MemoryError):
                raise
            del e
            if lm.device.startswith("cuda"):
                torch.cuda.empty_cache()
            if n == 1:
                raise ModelError(
                    f"Out of memory even for one prompt on {lm.device}; use a smaller model, "
                    "shorter prompts, or the CPU."
                ) from None
            bs = max(1, n // 2)
            lm.max_batch = bs
            if ctx is not None:
                ctx.log(f"out of memory with a batch of {n}; retrying with {bs}")
            continue
        pos += len(chunk)
        done += len(chunk)
        yield chunk, results
        if ctx is not None:
            ctx.progress(done, total, "generating")


def generate(
    lm: LoadedModel,
    requests: Sequence[GenerationRequest],
    *,
    ctx: Any = None,
    batch_size: int | None = None,
    token_budget: int | None = None,
    ignore_eos: bool = False,
) -> list[GenerationResult]:
    """Generate for every request; results come back in the order of ``requests``.

    Greedy rows (temperature 0) equal one-at-a-time greedy decoding. A sampled row with a seed
    gives the same text whatever else shares its batch and in whatever order (each row samples
    with its own generator); without a seed each call differs.
    """
    out: list[GenerationResult | None] = [None] * len(requests)
    for idx, results in generate_iter(
        lm, requests, ctx=ctx, batch_size=batch_size, token_budget=token_budget, ignore_eos=ignore_eos
    ):
        for i, r in zip(idx, results):
            out[i] = r
    return out  # type: ignore[return-value]
