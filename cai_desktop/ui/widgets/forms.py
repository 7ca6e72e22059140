"""A form generated from a job's params dataclass, so the "new run" dialogs track the params.

Each field gets a widget from its type (bool → check box, fixed options → combo box, a project
choice (constitutions, prompt sets, models, adapters, runs) → combo box filled from the project,
numbers and text → line edits), its default, its label and its tooltip, all from the field's
declaration (``core.params.param``). Input is checked live (types, ranges, choices) and again by
the params' own ``check()``.
"""

from __future__ import annotations

import json
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

from cai_desktop.core.errors import CaiError
from cai_desktop.core.params import ParamInfo, check_value, convert, infos

NONE_TEXT = "(all)"


class ParamsForm(QWidget):
    """Widgets for the declared fields of ``params_cls``; ``values()`` checks and returns a dict."""

    changed = Signal()

    def __init__(
        self,
        params_cls: type,
        *,
        project: Any = None,
        initial: dict[str, Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.params_cls = params_cls
        self.project = project
        self.infos: list[ParamInfo] = infos(params_cls)
        self.widgets: dict[str, QWidget] = {}
        initial = initial or {}

        layout = QFormLayout(self)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for info in self.infos:
            value = initial.get(info.name, info.default)
            w = self._make_widget(info, value)
            w.setToolTip(info.help)
            w.setObjectName(f"param_{info.name}")
            self.widgets[info.name] = w
            label = QLabel(info.label)
            label.setToolTip(info.help)
            layout.addRow(label, w)

    @property
    def fields(self) -> list[ParamInfo]:
        return self.infos

    # -- widgets -------------------------------------------------------------------------------
    def _project_choices(self, info: ParamInfo) -> list[tuple[str, Any]]:
        """(shown text, value) pairs from the open project for the field's choice source."""
        p, kind, arg = self.project, info.source_kind, info.source_arg
        if p is None:
            return []
        try:
            if kind == "constitutions":
                return [(c["name"], c["name"]) for c in p.constitutions.list()]
            if kind == "prompt_sets":

                return [(s["name"], s["name"]) for s in p.prompts.sets()]
            if kind == "models":
                return [(m["display_name"] or m["spec"], m["spec"]) for m in p.models.list()]
            if kind in ("adapters", "adapter_ids"):
                rows = [a for a in p.adapters.list() if not arg or a["kind"] in arg]
                value = "id" if kind == "adapter_ids" else "path"
                return [(f"#{a['id']} {a['name']} ({a['kind']})", a[value]) for a in rows]
            if kind == "runs":
                rows = [r for r in p.runs.list() if not arg or r["kind"] in arg]
                return [(f"#{r['id']} {r['name']} ({r['status']})", r["id"]) for r in rows]
        except CaiError:
            return []
        return []

    def _make_widget(self, info: ParamInfo, value: Any) -> QWidget:
        if info.choices is not None:
            combo = QComboBox()
            for opt in info.choices:
                combo.addItem((info.empty or "none") if opt is None else str(opt), opt)
            i = combo.findData(value)
            combo.setCurrentIndex(i if i >= 0 else 0)
            combo.currentIndexChanged.connect(self.changed)
            return combo
        if info.source is not None and not info.is_list:
            combo = QComboBox()
            free = info.source_kind in ("models", "adapters")
            if info.optional or free:
                combo.addItem(f"({info.empty or 'none'})", None)
            for text, v in self._project_choices(info):
                combo.addItem(text, v)
            if free:
                combo.setEditable(True)
            i = combo.findData(value)
            if i >= 0:
                combo.setCurrentIndex(i)
            elif value not in (None, "") and free:
                combo.setEditText(str(value))
            elif value not in (None, ""):
                combo.addItem(f"{value} (not in this project)", value)
                combo.setCurrentIndex(combo.count() - 1)
            combo.currentIndexChanged.connect(self.changed)
            combo.editTextChanged.connect(self.changed)
            return combo
        if info.type is bool and not info.optional:
            box = QCheckBox()
            box.setChecked(bool(value))
            box.toggled.connect(self.changed)
            return box
        edit = QLineEdit()
        if info.is_list:
            edit.setText(", ".join(str(v) for v in (value or [])))
            ids = [str(v) for _, v in self._project_choices(info)][:8] if info.source else []
            hint = f"empty = {info.empty}" if info.empty else "comma-separated; empty = all"
            edit.setPlaceholderText(f"e.g. {', '.join(ids)}; {hint}" if ids else hint)
        elif isinstance(value, dict):
            edit.setText(json.dumps(value))
        else:
            edit.setText("" if value is None else str(value))
            if info.optional:
                edit.setPlaceholderText(f"empty = {info.empty or 'default'}")
        edit.textChanged.connect(self.changed)
        return edit

    # -- values --------------------------------------------------------------------------------
    def _raw(self, name: str) -> Any:
        w = self.widgets[name]
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QComboBox):
            if w.isEditable():
                i = w.currentIndex()
                if i >= 0 and w.itemText(i) == w.currentText():
                    return w.itemData(i)
                return w.currentText().strip() or None
            return w.currentData()
        assert isinstance(w, QLineEdit)
        text = w.text().strip()
        return None if text == "" and self._info(name).type is not str else text

    def _info(self, name: str) -> ParamInfo:
        return next(i for i in self.infos if i.name == name)

    def values(self) -> dict[str, Any]:
        """The checked field values; raises ``ValidationError`` naming the first bad field."""
        out: dict[str, Any] = {}
        for info in self.infos:
            raw = self._raw(info.name)
            v = convert(info, raw) if raw is not None or not info.optional else None
            check_value(info, v)
            out[info.name] = v
        return out

    def build(self, **fixed: Any) -> Any:
        """A params object (``fixed`` fills hidden fields such as ``project``), checked."""
        params = self.params_cls(**{**self.values(), **fixed})
        params.check()
        return params

    def error(self, **fixed: Any) -> str:
        """The current validation message, or "" when the form is valid."""
        try:
            self.build(**fixed)
        except (CaiError, TypeError, ValueError) as e:
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
        from cai_desktop.jobs.registry import job

        jk = job(kind)
        self.kind = kind
        self.project_path = project_path
        self.setWindowTitle(f"New run — {jk.label}")
        self.resize(560, 640)  # shrunk to the form below once it is built
        layout = QVBoxLayout(self)
        desc = QLabel(jk.description)
        desc.setWordWrap(True)
        desc.setObjectName("dialogDescription")
        layout.addWidget(desc)
        self.form = ParamsForm(jk.params, project=project, initial=initial)
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
        # as tall as the form needs (a short form leaves no empty band), at most 640 px
        extra = desc.sizeHint().height() + self.buttons.sizeHint().height() + 90
        self.resize(560, min(640, self.form.sizeHint().height() + extra))

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
