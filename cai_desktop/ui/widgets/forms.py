"""A form generated from a job's params dataclass, so the "new run" dialogs track the params.

Each field gets a widget from its type (bool → check box, fixed options → combo box, a project
choice (constitutions, prompt sets, models, adapters, runs) → combo box filled from the project,
numbers and text → line edits), its default, and a tooltip from ``jobkinds`` help texts. Input is
checked live (types, ranges, required choices) and again by the params' own ``check()``.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import MISSING, fields
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.errors import CaiError, ValidationError

#: (min, max) for common numeric fields; anything else is only type-checked here
RANGES: dict[str, tuple[float, float]] = {
    "revisions": (0, 16),
    "batch_size": (1, 4096),
    "temperature": (0, 2),
    "top_p": (0.01, 1),
    "max_new_tokens": (1, 8192),
    "critique_max_new_tokens": (1, 8192),
    "max_reasoning_tokens": (1, 8192),
    "learning_rate": (1e-9, 1),
    "epochs": (0.01, 1000),
    "rank": (1, 1024),
    "lora_r": (1, 1024),
    "alpha": (1, 4096),
    "lora_alpha": (1, 4096),
    "dropout": (0, 0.9),
    "lora_dropout": (0, 0.9),
    "grad_accum": (1, 1024),
    "max_length": (16, 131072),
    "save_steps": (1, 1_000_000),
    "limit": (1, 10_000_000),
    "few_shot": (0, 16),
    "helpful_ratio": (0, 100),
    "helpful_mix": (0, 100),
    "eval_fraction": (0, 0.9),
    "min_margin": (0, 0.5),
    "seed": (0, 2**31 - 1),
}

NONE_TEXT = "(all)"
#: what leaving an optional field empty means, shown as its placeholder
EMPTY_MEANS = {"limit": "empty = all prompts", "helpful_ratio": "empty = all there are",
               "helpful_mix": "empty = all there are", "clamp": "empty = 40-60 in cot mode, none otherwise",
               "device": "empty = automatic"}


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """(inner type, optional?) for ``X | None`` / ``Optional[X]``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        return (args[0] if len(args) == 1 else str), optional
    return tp, False


def _is_list(tp: Any) -> bool:
    return typing.get_origin(tp) in (list, tuple) or tp in (list, tuple)


def _default(f) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


class ParamsForm(QWidget):
    """Widgets for the fields of ``params_cls``; ``values()`` checks and returns a dict."""

    changed = Signal()

    def __init__(
        self,
        params_cls: type,
        *,
        kind: str = "",
        project: Any = None,
        initial: dict[str, Any] | None = None,
        hidden: tuple[str, ...] = ("project",),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        from cai_desktop.ui.widgets.jobkinds import KINDS, help_for

        self.params_cls = params_cls
        self.kind = kind
        self.project = project
        self.hidden = set(hidden)
        self.jobkind = KINDS.get(kind)
        try:
            hints = typing.get_type_hints(params_cls)
        except Exception:  # noqa: BLE001 - fall back to raw annotations
            hints = {}
        self.fields = [f for f in fields(params_cls) if f.name not in self.hidden]
        self.types = {f.name: hints.get(f.name, str) for f in self.fields}
        self.widgets: dict[str, QWidget] = {}
        initial = initial or {}

        layout = QFormLayout(self)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for f in self.fields:
            value = initial.get(f.name, _default(f))
            w = self._make_widget(f.name, self.types[f.name], value)
            tip = help_for(kind, f.name)
            if tip:
                w.setToolTip(tip)
            self.widgets[f.name] = w
            label = QLabel(_label(f.name))
            if tip:
                label.setToolTip(tip)
            layout.addRow(label, w)

    # -- widgets -------------------------------------------------------------------------------
    def _project_choices(self, source: str) -> list[tuple[str, Any]]:
        """(shown text, value) pairs from the open project for a choice source."""
        p = self.project
        if p is None:
            return []
        try:
            if source == "constitutions":
                return [(c["name"], c["name"]) for c in p.list_constitutions()]
            if source == "prompt_sets":
                from cai_desktop.store.prompts import list_prompt_sets

                return [(f"{s['name']}", s["name"]) for s in list_prompt_sets(p)]
            if source == "models":
                return [(m["display_name"] or m["spec"], m["spec"]) for m in p.list_models()]
            if source == "adapters":
                return [(f"{a['name']} ({a['kind']}, run {a['run_id']})", a["path"]) for a in p.list_adapters()]
            if source.startswith("runs:"):
                kind = source.split(":", 1)[1]
                return [(f"#{r['id']} {r['name']} ({r['status']})", r["id"]) for r in p.list_runs(kind)]
        except CaiError:
            return []
        return []

    def _make_widget(self, name: str, tp: Any, value: Any) -> QWidget:
        inner, optional = _unwrap(tp)
        jk = self.jobkind
        source = jk.choices.get(name) if jk else None
        options = jk.options.get(name) if jk else None
        if options is not None:
            combo = QComboBox()
            for opt in options:
                combo.addItem(NONE_TEXT if opt is None else str(opt), opt)
            i = combo.findData(value)
            combo.setCurrentIndex(i if i >= 0 else 0)
            combo.currentIndexChanged.connect(self.changed)
            return combo
        if source is not None and not _is_list(inner):
            combo = QComboBox()
            choices = self._project_choices(source)
            free = source in ("models", "adapters")
            if optional or free or source.startswith("runs:"):
                empty = {"models": "(embedded default)", "adapters": "(none)"}.get(source, "(new run)"
                                                                                   if name == "resume_run" else "")
                combo.addItem(empty, None)
            for text, v in choices:
                combo.addItem(text, v)
            if free:
                combo.setEditable(True)
            i = combo.findData(value)
            if i >= 0:
                combo.setCurrentIndex(i)
            elif value not in (None, "") and free:
                combo.setEditText(str(value))
            elif value not in (None, "") and not source.startswith("runs:"):
                combo.addItem(f"{value} (not in this project)", value)
                combo.setCurrentIndex(combo.count() - 1)
            combo.currentIndexChanged.connect(self.changed)
            combo.editTextChanged.connect(self.changed)
            return combo
        if inner is bool and not optional:
            box = QCheckBox()
            box.setChecked(bool(value))
            box.toggled.connect(self.changed)
            return box
        edit = QLineEdit()
        if _is_list(inner):
            edit.setText(", ".join(str(v) for v in (value or [])))
            if source:
                ids = [str(v) for _, v in self._project_choices(source)][:8]
                edit.setPlaceholderText("e.g. " + ", ".join(ids) if ids else "empty = all")
            else:
                edit.setPlaceholderText("comma-separated; empty = all")
        elif isinstance(value, dict):
            edit.setText(json.dumps(value))
        else:
            edit.setText("" if value is None else str(value))
            if optional:
                edit.setPlaceholderText(EMPTY_MEANS.get(name, "empty = default"))
        edit.textChanged.connect(self.changed)
        return edit

    # -- values --------------------------------------------------------------------------------
    def _raw(self, name: str) -> Any:
        w = self.widgets[name]
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QComboBox):
            if w.isEditable():
                text = w.currentText().strip()
                i = w.currentIndex()
                if i >= 0 and w.itemText(i) == w.currentText():
                    return w.itemData(i)
                return text or None
            return w.currentData()
        assert isinstance(w, QLineEdit)
        return w.text().strip()

    def _convert(self, name: str, raw: Any) -> Any:
        tp = self.types[name]
        inner, optional = _unwrap(tp)
        label = _label(name)
        if not isinstance(raw, str):
            return raw
        if raw == "":
            if _is_list(inner):
                return [] if not optional else None
            if optional:
                return None
            if inner is str:
                return ""
            raise ValidationError(f"{label}: a value is required.")
        if _is_list(inner):
            args = typing.get_args(inner)
            elem = args[0] if args else str
            out = []
            for part in raw.replace(";", ",").split(","):
                part = part.strip().lstrip("#")
                if not part:
                    continue
                try:
                    out.append(elem(part))
                except ValueError:
                    raise ValidationError(f"{label}: {part!r} is not a valid {elem.__name__}.") from None
            return out
        if inner is int:
            try:
                v = int(raw)
            except ValueError:
                raise ValidationError(f"{label}: {raw!r} is not a whole number.") from None
        elif inner is float:
            try:
                v = float(raw)
            except ValueError:
                raise ValidationError(f"{label}: {raw!r} is not a number.") from None
        elif inner is bool:
            v = raw.lower() in ("1", "true", "yes", "on")
        elif typing.get_origin(inner) is dict or inner is dict:
            try:
                v = json.loads(raw)
            except json.JSONDecodeError as e:
                raise ValidationError(f"{label}: not valid JSON ({e.msg}).") from None
        else:
            return raw
        return v

    def values(self) -> dict[str, Any]:
        """The checked field values; raises ``ValidationError`` naming the first bad field."""
        out: dict[str, Any] = {}
        for f in self.fields:
            v = self._convert(f.name, self._raw(f.name))
            rng = RANGES.get(f.name)
            if rng is not None and isinstance(v, int | float) and not isinstance(v, bool):
                lo, hi = rng
                if f.name in ("max_steps",) and v == -1:
                    pass
                elif not lo <= v <= hi:
                    raise ValidationError(f"{_label(f.name)} must be between {lo:g} and {hi:g}.")
            out[f.name] = v
        return out

    def build(self, **fixed: Any) -> Any:
        """A params object (``fixed`` fills hidden fields such as ``project``), checked."""
        params = self.params_cls(**{**self.values(), **fixed})
        check = getattr(params, "check", None)
        if callable(check):
            check()
        return params

    def error(self, **fixed: Any) -> str:
        """The current validation message, or "" when the form is valid."""
        try:
            self.build(**fixed)
        except CaiError as e:
            return str(e)
        except (TypeError, ValueError) as e:
            return str(e)
        return ""

    def set_value(self, name: str, value: Any) -> None:
        w = self.widgets[name]
        if isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QComboBox):
            i = w.findData(value)
            if i >= 0:
                w.setCurrentIndex(i)
            elif w.isEditable():
                w.setEditText("" if value is None else str(value))
        elif isinstance(w, QLineEdit):
            if isinstance(value, list | tuple):
                w.setText(", ".join(str(v) for v in value))
            else:
                w.setText("" if value is None else str(value))


class ParamsDialog(QDialog):
    """"New run" dialog for one job kind: description, the generated form, live checks."""

    def __init__(self, kind: str, project_path: str, project: Any = None,
                 initial: dict[str, Any] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from cai_desktop.ui.widgets.jobkinds import KINDS, params_class

        jk = KINDS[kind]
        self.kind = kind
        self.project_path = project_path
        self.setWindowTitle(f"New run — {jk.label}")
        self.resize(560, 640)
        layout = QVBoxLayout(self)
        desc = QLabel(jk.description)
        desc.setWordWrap(True)
        desc.setObjectName("dialogDescription")
        layout.addWidget(desc)
        self.form = ParamsForm(params_class(kind), kind=kind, project=project, initial=initial)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
        layout.addWidget(scroll, 1)
        self.message = QLabel("")
        self.message.setObjectName("validationMessage")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b3261e;")
        layout.addWidget(self.message)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start run")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.form.changed.connect(self._validate)
        self._validate()

    def _validate(self) -> None:
        err = self.form.error(project=self.project_path)
        self.message.setText(err)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not err)

    def params(self) -> Any:
        return self.form.build(project=self.project_path)

    def accept(self) -> None:
        if self.form.error(project=self.project_path):
            self._validate()
            return
        super().accept()
