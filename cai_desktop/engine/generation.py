"""Batched generation and log-probability scoring.

Requests are sorted by prompt length and cut into batches (bounded by a token budget), so
padding stays small. Sampling happens per row with the row's own seeded generator, inside a logits
processor, so a request with a seed gives the same text whatever else shares its batch, and each
row may have its own temperature, top-p, length and stop strings. An out-of-memory error halves
the batch and retries; cancel is honoured between batches.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from cai_desktop.core.errors import Cancelled, ModelError
from cai_desktop.engine.models import LoadedModel


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SamplingSettings:
        d = dict(d)
        d["stop"] = tuple(d.get("stop") or ())
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def with_seed(self, seed: int | None) -> SamplingSettings:
        return SamplingSettings(self.temperature, self.top_p, self.max_new_tokens, self.stop, seed)


@dataclass
class GenerationRequest:
    messages: list[dict[str, str]] | None = None
    text: str | None = None
    sampling: SamplingSettings = field(default_factory=SamplingSettings)

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.text is None):
            raise ValueError("A GenerationRequest needs exactly one of messages or text.")


@dataclass
class GenerationResult:
    text: str
    n_prompt_tokens: int
    n_new_tokens: int
    finish_reason: str  # "stop" | "length" | "eos"


def prompt_text(lm: LoadedModel, request: GenerationRequest) -> str:
    if request.messages is not None:
        return lm.tokenizer.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
    return request.text or ""


def _encode(lm: LoadedModel, text: str) -> list[int]:
    return lm.tokenizer(text, add_special_tokens=False)["input_ids"]


def _is_oom(e: BaseException) -> bool:
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom_type is not None and isinstance(e, oom_type)) or "out of memory" in str(e).lower()


def default_batch_size(lm: LoadedModel) -> int:
    if lm.device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info()
        return int(max(8, min(256, free / 2**30 * 8)))
    return 32


def default_token_budget(lm: LoadedModel) -> int:
    if lm.device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info()
        return int(max(32_000, free / 2**30 * 40_000))
    return 48_000


class _RowSampler:
    """Logits processor: per-row temperature/top-p sampling with per-row generators.

    Generation runs in greedy mode; this processor turns each sampled row's scores into a one-hot,
    so greedy decoding picks exactly the token sampled with that row's own generator.
    """

    def __init__(self, settings: list[SamplingSettings], device: str):
        self.settings = settings
        self.generators: list[torch.Generator | None] = []
        for s in settings:
            if s.temperature and s.temperature > 0:
                g = torch.Generator(device="cpu")
                g.manual_seed(s.seed if s.seed is not None else int(torch.randint(0, 2**62, (1,)).item()))
                self.generators.append(g)
            else:
                self.generators.append(None)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        out = scores.clone()
        for i, (s, g) in enumerate(zip(self.settings, self.generators)):
            if g is None:
                continue
            logits = scores[i].float() / s.temperature
            probs = torch.softmax(logits, dim=-1)
            k = min(probs.shape[-1], 1024)
            top_p, top_idx = (t.cpu() for t in torch.topk(probs, k))
            if s.top_p < 1.0 and float(top_p.sum()) >= s.top_p:
                # nucleus inside the top-k (exact whenever the nucleus fits in it, nearly always)
                drop = torch.cumsum(top_p, dim=-1) - top_p > s.top_p
                top_p = top_p.masked_fill(drop, 0.0)
                pick = torch.multinomial(top_p, 1, generator=g).item()
                token = int(top_idx[pick])
            elif s.top_p < 1.0:
                sorted_p, idx = torch.sort(probs.cpu(), descending=True)
                drop = torch.cumsum(sorted_p, dim=-1) - sorted_p > s.top_p
                sorted_p = sorted_p.masked_fill(drop, 0.0)
                token = int(idx[torch.multinomial(sorted_p, 1, generator=g).item()])
            else:
                token = int(torch.multinomial(probs.cpu(), 1, generator=g).item())
            row = torch.full_like(out[i], -math.inf)
            row[token] = 0.0
            out[i] = row
        return out


class _RowStopper:
    """Stopping criterion: per-row max_new_tokens and stop strings (a bool per row)."""

    def __init__(self, lm: LoadedModel, settings: list[SamplingSettings], prompt_len: int):
        self.tokenizer = lm.tokenizer
        self.settings = settings
        self.prompt_len = prompt_len
        self.max_stop = max((len(s) for st in settings for s in st.stop), default=0)

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kw: Any) -> torch.Tensor:
        n_new = input_ids.shape[1] - self.prompt_len
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for i, s in enumerate(self.settings):
            if n_new >= s.max_new_tokens:
                done[i] = True
            elif s.stop and n_new > 0:
                tail = self.tokenizer.decode(input_ids[i, -min(n_new, self.max_stop + 8):], skip_special_tokens=True)
                if any(stop in tail for stop in s.stop):
                    done[i] = True
        return done


def _generate_batch(lm: LoadedModel, batch: list[tuple[list[int], SamplingSettings]]) -> list[GenerationResult]:
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
    with torch.inference_mode():
        out = lm.model.generate(
            input_ids=input_ids.to(lm.device),
            attention_mask=mask.to(lm.device),
            max_new_tokens=max_new,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            logits_processor=LogitsProcessorList([_RowSampler(settings, lm.device)]),
            stopping_criteria=StoppingCriteriaList([_RowStopper(lm, settings, width)]),
            pad_token_id=pad,
            eos_token_id=eos,
        )
    eos_ids = set(eos if isinstance(eos, list) else [eos])
    results = []
    for i, s in enumerate(settings):
        new = out[i, width:].tolist()
        reason = "length"
        n = 0
        for n, t in enumerate(new, 1):
            if t in eos_ids:
                new = new[: n - 1]
                reason = "eos"
                break
        new = new[: s.max_new_tokens]
        while new and new[-1] == pad and pad not in eos_ids:
            new.pop()
        text = tok.decode(new, skip_special_tokens=True)
        for stop in s.stop:
            cut = text.find(stop)
            if cut >= 0:
                text = text[:cut]
                reason = "stop"
        results.append(GenerationResult(text.strip(), len(batch[i][0]), len(new), reason))
    return results


def generate_iter(
    lm: LoadedModel,
    requests: Sequence[GenerationRequest],
    *,
    ctx: Any = None,
    batch_size: int | None = None,
    token_budget: int | None = None,
) -> Iterator[tuple[list[int], list[GenerationResult]]]:
    """Yield ``(indices, results)`` for each finished batch (commit them), longest prompts first."""
    encoded = [_encode(lm, prompt_text(lm, r)) for r in requests]
    order = sorted(range(len(requests)), key=lambda i: (-len(encoded[i]), i))
    bs = batch_size or default_batch_size(lm)
    budget = token_budget or default_token_budget(lm)
    total, done, pos = len(requests), 0, 0
    while pos < total:
        if ctx is not None and ctx.cancelled():
            raise Cancelled("cancelled by the user")
        longest = len(encoded[order[pos]]) + requests[order[pos]].sampling.max_new_tokens
        n = max(1, min(bs, budget // max(1, longest)))
        chunk = order[pos: pos + n]
        try:
            results = _generate_batch(lm, [(encoded[i], requests[i].sampling) for i in chunk])
        except (RuntimeError, MemoryError) as e:
            if not _is_oom(e) and not isinstance(e, MemoryError):
                raise
            if n == 1:
                raise ModelError(
                    f"Out of memory even for one prompt on {lm.device}; use a smaller model, "
                    "shorter prompts, or the CPU."
                ) from None
            bs = max(1, n // 2)
            if ctx is not None:
                ctx.log(f"out of memory with a batch of {n}; retrying with {bs}")
            if lm.device.startswith("cuda"):
                torch.cuda.empty_cache()
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
) -> list[GenerationResult]:
    out: list[GenerationResult | None] = [None] * len(requests)
    for idx, results in generate_iter(lm, requests, ctx=ctx, batch_size=batch_size, token_budget=token_budget):
        for i, r in zip(idx, results):
            out[i] = r
    return out  # type: ignore[return-value]


# -- scoring -------------------------------------------------------------------------------------
def _forward_logprobs(lm: LoadedModel, seqs: list[list[int]]) -> list[torch.Tensor]:
    """Per-sequence log-softmax over the vocabulary at every position (right padded batch)."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), lm.tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    with torch.inference_mode():
        logits = lm.model(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device)).logits.float()
    logp = torch.log_softmax(logits, dim=-1).cpu()
    return [logp[i, : len(s)] for i, s in enumerate(seqs)]


def _batches(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


def score_continuations(
    lm: LoadedModel,
    prompts: Sequence[GenerationRequest],
    continuations: Sequence[str],
    *,
    ctx: Any = None,
    batch_size: int = 8,
) -> list[float]:
    """Total log-probability of each continuation given its prompt (built as ``generate`` does)."""
    if len(prompts) != len(continuations):
        raise ValueError("prompts and continuations differ in length")
    out: list[float] = []
    for rows in _batches(len(prompts), batch_size):
        if ctx is not None and ctx.cancelled():
            raise Cancelled("cancelled by the user")
        heads = [_encode(lm, prompt_text(lm, prompts[i])) for i in rows]
        tails = [_encode(lm, continuations[i]) for i in rows]
        logps = _forward_logprobs(lm, [h + t for h, t in zip(heads, tails)])
        for h, t, lp in zip(heads, tails, logps):
            total = 0.0
            for j, token in enumerate(t):
                total += float(lp[len(h) + j - 1, token])
            out.append(total)
        if ctx is not None:
            ctx.progress(len(out), len(prompts), "scoring")
    return out


def candidate_token_ids(lm: LoadedModel, candidates: Sequence[str]) -> list[int]:
    ids = []
    for c in candidates:
        toks = _encode(lm, c)
        if not toks:
            raise ValueError(f"candidate {c!r} encodes to no token")
        ids.append(toks[0])
    if len(set(ids)) != len(ids):
        raise ValueError(f"candidates {list(candidates)} share their first token")
    return ids


def next_token_logprobs(
    lm: LoadedModel,
    prompts: Sequence[GenerationRequest],
    candidates: Sequence[str],
    *,
    ctx: Any = None,
    batch_size: int = 8,
    suffixes: Sequence[str] | None = None,
) -> list[dict[str, float]]:
    """Log-probability of each candidate's first token right after each prompt.

    ``suffixes`` (optional, one per prompt) is text appended after the built prompt, e.g. the
    assistant's lead-in "The answer is: (" in a chat-formatted feedback question.
    """
    cand_ids = candidate_token_ids(lm, candidates)
    out: list[dict[str, float]] = []
    for rows in _batches(len(prompts), batch_size):
        if ctx is not None and ctx.cancelled():
            raise Cancelled("cancelled by the user")
        seqs = []
        for i in rows:
            text = prompt_text(lm, prompts[i]) + (suffixes[i] if suffixes else "")
            seqs.append(_encode(lm, text))
        for s, lp in zip(seqs, _forward_logprobs(lm, seqs)):
            last = lp[len(s) - 1]
            out.append({c: float(last[t]) for c, t in zip(candidates, cand_ids)})
        if ctx is not None:
            ctx.progress(len(out), len(prompts), "scoring")
    return out
