"""What a generation call takes and gives, and how a request becomes the model's prompt.

``SamplingSettings`` (temperature, top-p, length, stop strings, seed) travel with each
``GenerationRequest`` (chat messages or raw text); a ``GenerationResult`` is the text with its
token counts and why it ended. ``prompt_text`` builds the prompt exactly as ``generate`` and the
scoring functions see it (the chat template with the generation prompt), so a score and a
generation for the same request agree. Shared by ``generation``, ``decoding`` and ``scoring``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cai_desktop.core.errors import Cancelled
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


def _check_cancel(ctx: Any) -> None:
    if ctx is not None and ctx.cancelled():
        raise Cancelled("cancelled by the user")
