"""The "Principle" tab: the form for the principle selected in the list (key, title, the three
texts, tags, enabled) and its own problems. Run alone: ``python -m
cai_desktop.ui.pages.constitution.principle_form``."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QFormLayout, QLineEdit, QVBoxLayout, QWidget

from cai_desktop.core.constitution import Principle, validate
from cai_desktop.ui import commands as cmd
from cai_desktop.ui.pages.constitution.common import (
    PassUndoKeys,
    show_text,
    text_edit,
    text_of,
    wrapping_label,
)


class PrincipleTab(QWidget):
    """Edits one principle; which one is told by ``set_index`` (the list's selection)."""

    title = "Principle"

    def __init__(self, doc: cmd.ConstitutionDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.index = -1
        self._filling = False
        keys = PassUndoKeys(self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 12, 14, 12)
        form = QFormLayout()
        form.setVerticalSpacing(8)
        form.setHorizontalSpacing(14)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self.f_key = QLineEdit()
        self.f_key.setToolTip(
            "A short id: lowercase letters, digits, '-' and '_'. Stored with every record. A new "
            "principle's key follows its title until you type a key yourself.")
        self.f_title = QLineEdit()
        self.f_title.setPlaceholderText("A short name people will see")
        self.f_critique = text_edit("Ask the model to point out what is wrong with its last answer…", 78, 150)
        self.f_critique.setToolTip("Stage 1: the model critiques its own answer under this request.")
        self.f_revision = text_edit("Ask the model to rewrite its answer to fix what the critique found…", 78, 150)
        self.f_revision.setToolTip("Stage 1: the model revises its answer under this request.")
        self.f_question = text_edit("Which of these answers is … ? (stage 2 comparison)", 60, 100)
        self.f_question.setToolTip("Stage 2: the feedback model picks (A) or (B) under this question.")
        self.f_tags = QLineEdit()
        self.f_tags.setPlaceholderText("harm, honesty, …")
        self.f_tags.setToolTip("Comma-separated words, for filtering.")
        self.f_enabled = QCheckBox("Draw this principle in new runs")
        form.addRow("Key", self.f_key)
        form.addRow("Title", self.f_title)
        form.addRow("Critique request", self.f_critique)
        form.addRow("Revision request", self.f_revision)
        form.addRow("Comparison question", self.f_question)
        form.addRow("Tags", self.f_tags)
        form.addRow("", self.f_enabled)
        lay.addLayout(form)
        self.problems = wrapping_label("", "validationMessage")
        lay.addWidget(self.problems)
        lay.addStretch(1)
        self.fields: dict[str, QWidget] = {
            "key": self.f_key,
            "title": self.f_title,
            "critique_request": self.f_critique,
            "revision_request": self.f_revision,
            "comparison_question": self.f_question,
            "tags": self.f_tags,
        }
        for field, widget in self.fields.items():
            widget.installEventFilter(keys)
            if isinstance(widget, QLineEdit):
                widget.textEdited.connect(lambda _t, f=field: self._edited(f))
            else:
                widget.textChanged.connect(lambda f=field: self._edited(f))
        self.f_enabled.toggled.connect(self._enabled_toggled)
        doc.changed.connect(lambda *_: self.fill())
        self.fill()

    def set_index(self, index: int) -> None:
        """Show principle ``index`` (-1: none, the form is disabled)."""
        self.index = index
        self.fill()

    def principle(self) -> Principle | None:
        ps = self.doc.constitution.principles
        return ps[self.index] if 0 <= self.index < len(ps) else None

    def focus_title(self) -> None:
        """Put the cursor in the title, all selected, so typing names the principle."""
        self.f_title.setFocus()
        self.f_title.selectAll()

    # -- document -> view ----------------------------------------------------------------------
    def fill(self) -> None:
        p = self.principle()
        shown = p or Principle(key="")
        self._filling = True
        try:
            for field, widget in self.fields.items():
                if field == "tags":
                    if [t.strip() for t in self.f_tags.text().split(",") if t.strip()] != shown.tags:
                        self.f_tags.setText(", ".join(shown.tags))
                else:
                    show_text(widget, getattr(shown, field))
                widget.setEnabled(p is not None)
            self.f_enabled.setChecked(shown.enabled if p is not None else False)
            self.f_enabled.setEnabled(p is not None)
        finally:
            self._filling = False
        self._update_problems()

    def _update_problems(self) -> None:
        if self.principle() is None:
            self.problems.setText("")
            return
        n = self.index + 1
        mine = [p for p in validate(self.doc.constitution)
                if p.startswith(f"Principle {n} ") or p.startswith(f"Principle {n}:")]
        self.problems.setText("\n".join(mine))

    # -- view -> document (every edit is a command) --------------------------------------------
    def _edited(self, field: str) -> None:
        p = self.principle()
        if self._filling or p is None:
            return
        text = text_of(self.fields[field])
        value: Any = [t.strip() for t in text.split(",") if t.strip()] if field == "tags" else text
        if value != getattr(p, field):
            self.edit_field(field, value)

    def edit_field(self, field: str, value: Any, index: int | None = None) -> None:
        """Set a field of a principle (default: the one shown) as an undoable edit."""
        i = self.index if index is None else index
        if 0 <= i < len(self.doc.constitution.principles):
            self.doc.push(cmd.EditPrincipleField(self.doc, i, field, value))

    def _enabled_toggled(self, on: bool) -> None:
        p = self.principle()
        if not self._filling and p is not None and p.enabled != on:
            self.doc.push(cmd.SetPrincipleEnabled(self.doc, self.index, on))


if __name__ == "__main__":
    import sys

    from cai_desktop.ui.pages.constitution.standalone import show_alone

    sys.exit(show_alone(PrincipleTab, lambda tab: tab.set_index(0)))
