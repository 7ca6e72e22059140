"""Declared job parameters: one dataclass field carries its help, label, range and choices.

A job's params class is a dataclass whose fields are made with :func:`param`. The GUI's "new run"
dialog and the CLI's options are both generated from these fields (TRL's documented config
classes + ``HfArgumentParser`` are the pattern), so a field added once appears, checked and
explained, in both. Plain Python: building a dialog or checking a form never imports torch.

Metadata a field may carry:
- ``help``: one or two sentences for a lab member (required).
- ``label``: the words shown in the dialog (default: the name, capitalised).
- ``range``: ``(lo, hi)`` for numbers, inclusive.
- ``choices``: a fixed tuple of values; ``None`` among them is shown as ``empty`` (e.g. "all").
- ``source``: where choices come from in the open project: ``constitutions``, ``prompt_sets``,
  ``models``, ``adapters`` (a folder path), ``adapter_ids:<kind>,<kind>`` (adapter row ids),
  ``runs:<kind>`` (run ids).
- ``empty``: what leaving an optional field empty means ("all prompts", "the newest").
- ``flags``: extra CLI spellings (``("--set",)``); the generated one is ``--field-name``.
- ``identity``: False for settings that do not change what a run makes (limit, batch size,
  device); the resume policy ignores them when it looks for the run to continue.
- ``hidden``: not shown in the dialog nor offered on the CLI (the project path, say).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import MISSING, Field, dataclass
from typing import Any

from cai_desktop.core.errors import ValidationError

#: the choice sources a field may name (a test checks every declared field against this)
SOURCES = ("constitutions", "prompt_sets", "models", "adapters", "adapter_ids", "runs")
#: spellings of "no value" accepted from the command line for optional fields
NONE_WORDS = ("none", "all", "auto", "default", "off", "")


def param(
    default: Any = MISSING,
    *,
    help: str,
    label: str | None = None,
    range: tuple[float, float] | None = None,
    choices: tuple | None = None,
    source: str | None = None,
    empty: str | None = None,
    flags: tuple[str, ...] = (),
    identity: bool = True,
    hidden: bool = False,
    factory: Any = MISSING,
) -> Any:
    """A dataclass field with the metadata the dialog and the CLI are generated from."""
    meta = {"help": help, "label": label, "range": range, "choices": choices, "source": source,
            "empty": empty, "flags": tuple(flags), "identity": identity, "hidden": hidden}
    if factory is not MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    if isinstance(default, list | dict | set):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class ParamInfo:
    """What the dialog and the CLI need to know about one field."""

    name: str
    type: Any  # the inner type: int, float, str, bool, list[int], dict
    optional: bool
    is_list: bool
    default: Any
    help: str
    label: str
    range: tuple[float, float] | None
    choices: tuple | None
    source: str | None
    empty: str | None
    flags: tuple[str, ...]
    identity: bool
    hidden: bool

    @property
    def elem(self) -> Any:
        """The element type of a list field."""
        args = typing.get_args(self.type)
        return args[0] if args else str

    @property
    def source_kind(self) -> str | None:
        return self.source.split(":", 1)[0] if self.source else None

    @property
    def source_arg(self) -> tuple[str, ...]:
        """``adapter_ids:sft,dpo`` → ``("sft", "dpo")``."""
        if not self.source or ":" not in self.source:
            return ()
        return tuple(x for x in self.source.split(":", 1)[1].split(",") if x)


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """(inner type, optional?) for ``X | None``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else str), len(args) < len(typing.get_args(tp))
    return tp, False


def _default(f: Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def label_of(name: str) -> str:
    return name.replace("_", " ").capitalize()


def infos(cls: type, include_hidden: bool = False) -> list[ParamInfo]:
    """The declared fields of a params class, in order."""
    hints = typing.get_type_hints(cls)
    inherited = {f.name for base in cls.__mro__[1:] if dataclasses.is_dataclass(base)
                 for f in dataclasses.fields(base)}
    fs = dataclasses.fields(cls)
    # a job's own fields (its data selection) come first, then the trainer settings it inherits
    ordered = [f for f in fs if f.name not in inherited] + [f for f in fs if f.name in inherited]
    out = []
    for f in ordered:
        meta = f.metadata
        inner, optional = _unwrap(hints.get(f.name, str))
        is_list = typing.get_origin(inner) in (list, tuple) or inner in (list, tuple)
        info = ParamInfo(
            name=f.name, type=inner, optional=optional, is_list=is_list, default=_default(f),
            help=meta.get("help", ""), label=meta.get("label") or label_of(f.name), range=meta.get("range"),
            choices=meta.get("choices"), source=meta.get("source"), empty=meta.get("empty"),
            flags=tuple(meta.get("flags") or ()), identity=meta.get("identity", True),
            hidden=meta.get("hidden", False),
        )
        if include_hidden or not info.hidden:
            out.append(info)
    return out


def info(cls: type, name: str) -> ParamInfo:
    for i in infos(cls, include_hidden=True):
        if i.name == name:
            return i
    raise KeyError(name)


# -- conversion ---------------------------------------------------------------------------------
def convert(info: ParamInfo, raw: Any) -> Any:
    """A value typed in (text) or stored (JSON) → the field's type; one clear line if it cannot."""
    label = info.label
    if raw is None:
        if info.optional:
            return None
        if info.is_list:
            return []
        raise ValidationError(f"{label}: a value is required.")
    if info.is_list:
        parts = raw if isinstance(raw, list | tuple) else str(raw).replace(";", ",").split(",")
        out = []
        for part in parts:
            part = str(part).strip().lstrip("#") if isinstance(part, str) else part
            if part == "":
                continue
            try:
                out.append(info.elem(part))
            except (TypeError, ValueError):
                raise ValidationError(f"{label}: {part!r} is not a valid {info.elem.__name__}.") from None
        return out
    if isinstance(raw, str):
        text = raw.strip()
        if info.optional and text.lower() in NONE_WORDS and info.type is not str:
            return None
        if info.optional and info.type is str and text == "":
            return None
        raw = text if info.type is not str else raw
    tp = info.type
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(raw, str) and raw.lower() in ("0", "false", "no", "off"):
            return False
        if isinstance(raw, int | float) and raw in (0, 1):
            return bool(raw)
        raise ValidationError(f"{label}: {raw!r} is not yes or no.")
    if tp is int:
        if isinstance(raw, bool):
            raise ValidationError(f"{label}: {raw!r} is not a whole number.")
        try:
            value = float(raw) if isinstance(raw, str) and any(c in raw for c in ".eE") else raw
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError, OverflowError):
            raise ValidationError(f"{label}: {raw!r} is not a whole number.") from None
    if tp is float:
        if isinstance(raw, bool):
            raise ValidationError(f"{label}: {raw!r} is not a number.")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValidationError(f"{label}: {raw!r} is not a number.") from None
        if not math.isfinite(value):
            raise ValidationError(f"{label}: {raw!r} is not a finite number.")
        return value
    if tp is dict or typing.get_origin(tp) is dict:
        if isinstance(raw, dict):
            return raw
        try:
            value = json.loads(raw)
        except (TypeError, json.JSONDecodeError) as e:
            raise ValidationError(f"{label}: not valid JSON ({getattr(e, 'msg', e)}).") from None
        if not isinstance(value, dict):
            raise ValidationError(f"{label}: expected an object like {{\"key\": value}}.")
        return value
    if isinstance(raw, list | tuple) and all(isinstance(x, str) for x in raw):
        return ",".join(raw)  # e.g. target modules stored as a list
    if not isinstance(raw, str):
        raise ValidationError(f"{label}: expected text, not {raw!r}.")
    return raw


def check_value(info: ParamInfo, value: Any) -> None:
    """Range and fixed-choice checks for one converted value."""
    if value is None:
        return
    if info.choices is not None and value not in info.choices:
        shown = ", ".join(info.empty or "empty" if c is None else str(c) for c in info.choices)
        raise ValidationError(f"{info.label}: {value!r} is not one of: {shown}.")
    if info.range is not None and isinstance(value, int | float) and not isinstance(value, bool):
        lo, hi = info.range
        if not lo <= value <= hi:
            raise ValidationError(f"{info.label} must be between {lo:g} and {hi:g} (not {value:g}).")


class Params:
    """Base of every params/settings dataclass: generic field checks, then ``validate()``."""

    def check(self) -> None:
        for i in infos(type(self), include_hidden=True):
            check_value(i, getattr(self, i.name))
        self.validate()

    def validate(self) -> None:
        """Checks across fields; override (the per-field ranges are already checked)."""

    def values(self, cls: type | None = None) -> dict[str, Any]:
        """The field values, or only those of ``cls`` (a settings base class of this one)."""
        names = [f.name for f in dataclasses.fields(cls or type(self))]
        return {n: getattr(self, n) for n in names}

    @classmethod
    def from_config(cls, config: dict[str, Any] | None, *, strict: bool = False, **overrides: Any) -> Any:
        """Build from a stored config (JSON), converting each value; unknown keys are an error
        when ``strict``, else ignored (a run stored by an older version)."""
        data = {RENAMED.get(k, k): v for k, v in dict(config or {}).items()}
        known = {i.name: i for i in infos(cls, include_hidden=True)}
        unknown = sorted(set(data) - set(known))
        if strict and unknown:
            raise ValidationError(f"Unknown setting(s): {', '.join(unknown)}.")
        values = {k: convert(known[k], v) for k, v in data.items() if k in known}
        values.update(overrides)
        return cls(**values)

    def identity(self) -> dict[str, Any]:
        """The settings that say what a run makes (the resume policy matches on these)."""
        return {i.name: getattr(self, i.name) for i in infos(type(self), include_hidden=True)
                if i.identity and not i.hidden}


#: names older versions stored in run configs → today's names (so old runs still resume)
RENAMED = {"rank": "lora_rank", "alpha": "lora_alpha", "dropout": "lora_dropout", "lora_r": "lora_rank",
           "pair_runs": "run_ids"}
