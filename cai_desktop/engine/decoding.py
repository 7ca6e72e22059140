"""How the model decodes a batch: CPU threads, and the per-row hooks ``model.generate`` calls.

``generate`` runs in greedy mode with two kinds of hooks: ``_RowSampler``, a logits processor
that samples each row with its own settings and seeded generator (so a seeded row gives the same
text whatever shares its batch), and stopping criteria: ``_RowStopper`` for each row's length and
stop strings, ``_CancelStopper`` to end every row at the next token once the job is cancelled.
``_inference_threads`` sets torch's CPU threads for one call (``cpu_threads``).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from typing import Any

import torch

from cai_desktop.engine.models import LoadedModel
from cai_desktop.engine.prompting import SamplingSettings


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
