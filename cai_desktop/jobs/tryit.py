"""Try it: one prompt answered by two models side by side (the Models screen's pane).

A quick look, not data: no run row is recorded. Each side loads its model (cached in-process, so
a second try is fast) and answers greedily by default, so the comparison is repeatable.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from cai_desktop.core.errors import Cancelled, ValidationError


@dataclass
class TryItParams:
    project: str = ""
    prompt: str = ""
    model_a: str | None = None
    adapter_a: str | None = None
    model_b: str | None = None
    adapter_b: str | None = None
    max_new_tokens: int = 128
    temperature: float = 0.0
    system_prompt: str = ""
    seed: int = 0

    def check(self) -> None:
        if not self.prompt.strip():
            raise ValidationError("Write a prompt to try.")
        if not 1 <= int(self.max_new_tokens) <= 4096:
            raise ValidationError("Max new tokens must be between 1 and 4096.")
        if not 0 <= float(self.temperature) <= 2:
            raise ValidationError("The temperature must be between 0 and 2.")


def run_tryit(ctx: Any, params: TryItParams) -> dict[str, Any]:
    """Answer ``params.prompt`` with model A and model B; returns ``{"a": {...}, "b": {...}}``."""
    params.check()
    from cai_desktop.engine.generation import GenerationRequest, SamplingSettings, generate
    from cai_desktop.engine.models import load_model

    messages = []
    if params.system_prompt.strip():
        messages.append({"role": "system", "content": params.system_prompt})
    messages.append({"role": "user", "content": params.prompt})
    sampling = SamplingSettings(
        temperature=float(params.temperature), top_p=1.0 if params.temperature == 0 else 0.95,
        max_new_tokens=int(params.max_new_tokens), seed=params.seed,
    )
    out: dict[str, Any] = {"prompt": params.prompt}
    sides = (("a", params.model_a, params.adapter_a), ("b", params.model_b, params.adapter_b))
    for i, (side, model, adapter) in enumerate(sides):
        if ctx is not None:
            if ctx.cancelled():
                raise Cancelled("cancelled by the user")
            ctx.progress(i, 2, f"model {side.upper()}: loading")
        lm = load_model(model or None, adapter=adapter or None, ctx=ctx)
        if ctx is not None:
            ctx.progress(i, 2, f"model {side.upper()}: answering")
        res = generate(lm, [GenerationRequest(messages=list(messages), sampling=sampling)], ctx=ctx)[0]
        out[side] = {
            "model": lm.spec.display_name,
            "spec": lm.spec.to_str(),
            "adapter": adapter or "",
            "text": res.text,
            "new_tokens": res.n_new_tokens,
            "finish_reason": res.finish_reason,
        }
    if ctx is not None:
        ctx.progress(2, 2, "done")
    out["device"] = device_summary()
    return out


def device_summary() -> str:
    """The compute device in words, or "" while torch is not loaded (never loads it)."""
    if "torch" not in sys.modules:
        return ""
    try:
        from cai_desktop.engine.models import device_summary as summary

        return summary()
    except Exception:  # noqa: BLE001 - a status line must never fail
        return ""
