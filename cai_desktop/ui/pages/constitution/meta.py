"""The "Constitution" tab: the free texts of the whole constitution (title, description, system
prompt) beside its name and version. Run alone: ``python -m cai_desktop.ui.pages.constitution.meta``."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QWidget

from cai_desktop.ui import commands as cmd
from cai_desktop.ui.pages.constitution.common import PassUndoKeys, show_text, text_edit, text_of


class MetaTab(QWidget):
    """Edits the constitution's own texts; each edit is an ``EditConstitutionField`` command."""

    title = "Constitution"

    def __init__(self, doc: cmd.ConstitutionDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self._filling = False
        self._unsaved = False
        keys = PassUndoKeys(self)
        form = QFormLayout(self)
        form.setContentsMargins(14, 12, 14, 12)
        form.setVerticalSpacing(8)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.m_name = QLabel("")
        self.m_name.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.m_version = QLabel("")
        self.m_title = QLineEdit()
        self.m_description = text_edit("What this constitution is for", 70)
        self.m_system = text_edit("Optional system prompt used when the model answers and critiques", 90)
        form.addRow("Name", self.m_name)
        form.addRow("Version", self.m_version)
        form.addRow("Title", self.m_title)
        form.addRow("Description", self.m_description)
        form.addRow("System prompt", self.m_system)
        self.fields: dict[str, QWidget] = {
            "title": self.m_title, "description": self.m_description, "system_prompt": self.m_system,
        }
        for field, widget in self.fields.items():
            widget.installEventFilter(keys)
            if isinstance(widget, QLineEdit):
                widget.textEdited.connect(lambda _t, f=field: self._edited(f))
            else:
                widget.textChanged.connect(lambda f=field: self._edited(f))
        doc.changed.connect(self._on_doc_changed)
        self.fill()

    def _on_doc_changed(self, kind: str, _index: int) -> None:
        if kind in (cmd.ALL, cmd.META):
            self.fill()

    def fill(self) -> None:
        c = self.doc.constitution
        self._filling = True
        try:
            self.m_name.setText(c.name)
            for field, widget in self.fields.items():
                show_text(widget, getattr(c, field))
        finally:
            self._filling = False
        self.set_unsaved(self._unsaved)

    def set_unsaved(self, unsaved: bool) -> None:
        """Say whether the version shown has edits on top (the page knows; the stack alone does
        not, for a constitution created here and never saved)."""
        self._unsaved = unsaved
        v = self.doc.constitution.version
        self.m_version.setText(f"{v} + unsaved edits" if unsaved else f"{v} (saved)")

    def _edited(self, field: str) -> None:
        if self._filling:
            return
        text = text_of(self.fields[field])
        if text != getattr(self.doc.constitution, field):
            self.doc.push(cmd.EditConstitutionField(self.doc, field, text))


if __name__ == "__main__":
    import sys

    from cai_desktop.ui.pages.constitution.standalone import show_alone

    sys.exit(show_alone(MetaTab))
