"""A TrainerCallback that connects any transformers/TRL trainer to a job context.

It forwards each logging step as metrics, reports progress, adds tokens/s, and stops training
cooperatively when the job is cancelled (a checkpoint is saved first so nothing is lost).
"""

from __future__ import annotations

import math
import time
from typing import Any

from transformers import TrainerCallback


class JobCallback(TrainerCallback):
    def __init__(self, ctx: Any, step_offset: int = 0, prefix: str = ""):
        self.ctx = ctx
        self.prefix = prefix
        self.step_offset = step_offset
        self.cancelled = False
        self._t0 = time.monotonic()
        self._tokens0 = 0
        self._step0 = 0

    def on_train_begin(self, args, state, control, **kw):
        self._t0 = time.monotonic()
        self._tokens0 = getattr(state, "num_input_tokens_seen", 0) or 0
        self._step0 = state.global_step

    def on_step_end(self, args, state, control, **kw):
        if self.ctx is not None:
            self.ctx.progress(state.global_step, state.max_steps or 0, f"step {state.global_step}")
            if self.ctx.cancelled():
                self.cancelled = True
                control.should_save = True
                control.should_training_stop = True
        return control

    def on_log(self, args, state, control, logs=None, **kw):
        if self.ctx is None or not logs:
            return
        step = state.global_step + self.step_offset
        for name, value in logs.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if isinstance(value, float) and not math.isfinite(value):
                continue
            self.ctx.metric(self.prefix + name, float(value), step)
        elapsed = time.monotonic() - self._t0
        tokens = (getattr(state, "num_input_tokens_seen", 0) or 0) - self._tokens0
        if elapsed > 0 and tokens > 0:
            self.ctx.metric(self.prefix + "tokens_per_s", tokens / elapsed, step)
