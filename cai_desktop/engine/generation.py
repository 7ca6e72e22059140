"""Batched generation and log-probability scoring.

Requests are sorted by prompt length and cut into batches (bounded by a token budget), so
padding stays small. Sampling happens per row with the row's own seeded generator, inside a logits
processor, so a request with a seed gives the same text whatever else shares its batch, and each
row may have its own temperature, top-p, length and stop strings. An out-of-memory error halves
the batch and retries. Cancel is honoured between decoding steps (a stopping criterion ends every
row of the batch at the next token when ``ctx.cancelled()`` turns true) and between batches; a
batch stopped that way raises ``Cancelled``, so half-made text is never returned as a result.
"""

from __future__ import annotations

import contextlib
import math
import os
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


def cpu_threads(lm: LoadedModel) -> int:
    """Threads for CPU inference: ``$CAI_DESKTOP_THREADS``, else all cores but one.

    One core stays free for the window (and whatever else runs): on a busy 2-core machine two
    spinning OpenMP threads were 3x slower than one (see benchmarks/generation.py). A tiny model
    (tests) gets a single thread, where threads cost more than they save.
    """
    env = os.environ.get("CAI_DESKTOP_THREADS")
    if env and env.strip().isdigit() and int(env) > 0:
        return int(env)
    hidden = getattr(getattr(lm.model, "config", None), "hidden_size", 1024) or 1024
    if hidden < 256:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores - 1)


@contextlib.contextmanager
def _inference_threads(lm: LoadedModel) -> Iterator[None]:
    if not str(lm.device).startswith("cpu"):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(cpu_threads(lm))
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
        rows = [i for i, g in enumerate(self.generators) if g is not None]
        if not rows:
            return scores
        # softmax and top-k for all sampled rows at once on the device; one transfer per step
        temps = torch.tensor([self.settings[i].temperature for i in rows], device=scores.device)
        probs = torch.softmax(scores[rows].float() / temps[:, None], dim=-1)
        k = min(probs.shape[-1], 1024)
        top_vals, top_idx = (t.cpu() for t in torch.topk(probs, k))
        tokens = []
        for r, i in enumerate(rows):
            s, g = self.settings[i], self.generators[i]
            top_p = top_vals[r]
            if s.top_p < 1.0 and float(top_p.sum()) >= s.top_p:
                # nucleus inside the top-k (exact whenever the nucleus fits in it, nearly always)
                drop = torch.cumsum(top_p, dim=-1) - top_p > s.top_p
                pick = torch.multinomial(top_p.masked_fill(drop, 0.0), 1, generator=g).item()
                tokens.append(int(top_idx[r, pick]))
            elif s.top_p < 1.0:
                sorted_p, idx = torch.sort(probs[r].cpu(), descending=True)
                drop = torch.cumsum(sorted_p, dim=-1) - sorted_p > s.top_p
                sorted_p = sorted_p.masked_fill(drop, 0.0)
                tokens.append(int(idx[torch.multinomial(sorted_p, 1, generator=g).item()]))
            else:
                tokens.append(int(torch.multinomial(probs[r].cpu(), 1, generator=g).item()))
        # greedy decoding then picks exactly the sampled token of each sampled row
        out = scores.clone()
        rows_t = torch.tensor(rows, device=scores.device)
        out[rows_t] = -math.inf
        out[rows_t, torch.tensor(tokens, device=scores.device)] = 0.0
        return out


class _RowStopper:
    """Stopping criterion: per-row max_new_tokens and stop strings (a bool per row).

    ``finished_at[i]`` keeps how many new tokens row i had when it stopped, so tokens that
    ``generate`` pads in after a finished row are never counted as generated.
    """

    def __init__(self, lm: LoadedModel, settings: list[SamplingSettings], prompt_len: int):
        self.tokenizer = lm.tokenizer
        self.settings = settings
        self.prompt_len = prompt_len
        self.max_stop = max((len(s) for st in settings for s in st.stop), default=0)
        self.finished_at: list[int | None] = [None] * len(settings)
        self.any_stop = any(s.stop for s in settings)
        self.max_news = [s.max_new_tokens for s in settings]

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kw: Any) -> torch.Tensor:
        n_new = input_ids.shape[1] - self.prompt_len
        done = [False] * len(self.settings)
        tails: list[int] = []
        for i, s in enumerate(self.settings):
            if self.finished_at[i] is not None:
                done[i] = True
            elif n_new >= self.max_news[i]:
                done[i] = True
                self.finished_at[i] = n_new
            elif s.stop and n_new > 0:
                tails.append(i)
        if tails:
            rows = input_ids[tails, -min(n_new, self.max_stop + 8):].tolist()
            for i, ids in zip(tails, rows):
                text = self.tokenizer.decode(ids, skip_special_tokens=True)
                if any(stop in text for stop in self.settings[i].stop):
                    done[i] = True
                    self.finished_at[i] = n_new
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class _CancelStopper:
    """Stopping criterion: every row stops at the next decoding step once ``ctx.cancelled()``.

    A batch of long answers takes tens of seconds; checking only between batches made Cancel
    (and quitting) wait that long. ``fired`` tells the caller the rows were cut short, so it
    raises ``Cancelled`` instead of returning them.
    """

    def __init__(self, ctx: Any):
        self.ctx = ctx
        self.fired = False
        self.checks = 0

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kw: Any) -> torch.Tensor:
        self.checks += 1
        if not self.fired and self.ctx.cancelled():
            self.fired = True
        return torch.full((input_ids.shape[0],), self.fired, dtype=torch.bool, device=input_ids.device)


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


# -- scoring -------------------------------------------------------------------------------------
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


def _check_cancel(ctx: Any) -> None:
    if ctx is not None and ctx.cancelled():
        raise Cancelled("cancelled by the user")


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
