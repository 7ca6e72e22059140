"""The "Few-shot examples" tab: worked critique→revision examples that keep a small model in its
role. Run alone: ``python -m cai_desktop.ui.pages.constitution.few_shot``."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.constitution import FewShotExample
from cai_desktop.ui import commands as cmd
from cai_desktop.ui.pages.constitution.common import (
    PassUndoKeys,
    show_text,
    text_edit,
    text_of,
    wrapping_label,
)

#: field -> (label, placeholder)
FIELDS = {
    "prompt": ("Prompt", "The user's message"),
    "response": ("Response", "The model's first answer"),
    "critique_request": ("Critique request", "The critique request used in this example"),
    "critique": ("Critique", "A good critique of the response"),
    "revision_request": ("Revision request", "The revision request used"),
    "revision": ("Revision", "A good revision"),
}


class FewShotTab(QWidget):
    """A list of examples and a form for the selected one; edits are commands."""

    title = "Few-shot examples"

    def __init__(self, doc: cmd.ConstitutionDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self._filling = False
        keys = PassUndoKeys(self)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(14, 12, 14, 12)
        left = QVBoxLayout()
        self.few_list = QListWidget()
        self.few_list.setObjectName("fewShotList")
        self.few_list.setMinimumWidth(150)
        self.few_list.setMaximumWidth(260)
        self.few_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.few_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.few_list.setSpacing(2)
        self.few_list.currentRowChanged.connect(lambda _r: self.fill())
        left.addWidget(wrapping_label("Examples that keep a small model in its role"))
        left.addWidget(self.few_list, 1)
        b = QHBoxLayout()
        self.btn_add = QPushButton("Add")
        self.btn_remove = QPushButton("Remove")
        self.btn_add.clicked.connect(self.add_few_shot)
        self.btn_remove.clicked.connect(self.remove_few_shot)
        b.addWidget(self.btn_add)
        b.addWidget(self.btn_remove)
        left.addLayout(b)
        lay.addLayout(left)
        form = QFormLayout()
        form.setVerticalSpacing(6)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.fields: dict[str, QWidget] = {}
        for field, (label, placeholder) in FIELDS.items():
            widget = text_edit(placeholder, 44)
            widget.textChanged.connect(lambda f=field: self._edited(f))
            self.fields[field] = widget
            form.addRow(label, widget)
        self.few_principle = QLineEdit()
        self.few_principle.setPlaceholderText("principle key (optional)")
        self.few_principle.textEdited.connect(lambda _t: self._edited("principle"))
        self.fields["principle"] = self.few_principle
        form.addRow("Principle", self.few_principle)
        for widget in self.fields.values():
            widget.installEventFilter(keys)
        holder = QWidget()
        holder.setLayout(form)
        lay.addWidget(holder, 1)
        doc.changed.connect(self._on_doc_changed)
        self._rebuild()

    # -- document -> view ----------------------------------------------------------------------
    def _on_doc_changed(self, kind: str, index: int) -> None:
        if kind in (cmd.ALL, cmd.FEW_SHOT_STRUCTURE):
            self._rebuild(index if kind == cmd.FEW_SHOT_STRUCTURE else -1)
        elif kind == cmd.FEW_SHOT:
            item = self.few_list.item(index)
            if item is not None:
                item.setText(self._label(index, self.doc.constitution.few_shot[index]))
            if self.few_list.currentRow() != index:
                self.few_list.setCurrentRow(index)
            self.fill()

    @staticmethod
    def _label(i: int, f: FewShotExample) -> str:
        first = (f.prompt.strip().splitlines() or ["(empty)"])[0]
        return f"{i + 1}. {first[:40]}"

    def _rebuild(self, select: int = -1) -> None:
        keep = self.few_list.currentRow() if select < 0 else select
        self.few_list.blockSignals(True)
        self.few_list.clear()
        for i, f in enumerate(self.doc.constitution.few_shot):
            self.few_list.addItem(self._label(i, f))
            self.few_list.item(i).setToolTip(f.prompt)
        self.few_list.blockSignals(False)
        if self.few_list.count():
            self.few_list.setCurrentRow(max(0, min(keep, self.few_list.count() - 1)))
        self.fill()

    def current(self) -> FewShotExample | None:
        i = self.few_list.currentRow()
        few = self.doc.constitution.few_shot
        return few[i] if 0 <= i < len(few) else None

    def fill(self) -> None:
        f = self.current()
        self._filling = True
        try:
            for field, widget in self.fields.items():
                show_text(widget, getattr(f, field) if f else "")
                widget.setEnabled(f is not None)
        finally:
            self._filling = False
        self.btn_remove.setEnabled(f is not None)

    # -- view -> document ----------------------------------------------------------------------
    def add_few_shot(self) -> None:
        self.doc.push(cmd.AddFewShot(self.doc))
        self.fields["prompt"].setFocus()

    def remove_few_shot(self) -> None:
        i = self.few_list.currentRow()
        if 0 <= i < len(self.doc.constitution.few_shot):
            self.doc.push(cmd.RemoveFewShot(self.doc, i))

    def _edited(self, field: str) -> None:
        f = self.current()
        if self._filling or f is None:
            return
        text = text_of(self.fields[field])
        if text != getattr(f, field):
            self.doc.push(cmd.EditFewShot(self.doc, self.few_list.currentRow(), field, text))


if __name__ == "__main__":
    import sys

    from cai_desktop.ui.pages.constitution.standalone import show_alone

    sys.exit(show_alone(FewShotTab))
