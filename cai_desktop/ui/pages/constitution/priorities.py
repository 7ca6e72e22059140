"""The "Priorities" tab: the constitution's ranking and draw weights, and its free-text sections
(preamble, rationale). Each edit is an undoable command on the page's stack.

- Ranked: the list order (the Principles list; drag or move to reorder) is a priority order. The
  comparison question the feedback model reads then says which principles outrank the one drawn
  (the preview shows the exact text), and the teacher's context numbers them.
- Weight: how often a principle is drawn for a critique or a comparison, relative to the others;
  the table shows the resulting chance of each enabled principle.
Run alone: ``python -m cai_desktop.ui.pages.constitution.priorities``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QUndoCommand
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from cai_desktop.core.constitution import MAX_WEIGHT, Constitution, PrincipleSampler
from cai_desktop.core.prompting import priority_question
from cai_desktop.ui import commands as cmd
from cai_desktop.ui.pages.constitution.common import (
    PassUndoKeys,
    show_text,
    text_edit,
    text_of,
    wrapping_label,
)


class SetPriorities(QUndoCommand):
    """Replace the constitution with one whose ranking, weights or sections differ; undo puts
    the previous one back. Consecutive edits of the same field merge (typing, spinning)."""

    ID = 1301

    def __init__(self, doc: cmd.ConstitutionDocument, after: Constitution, text: str, field: str,
                 kind: str = cmd.META, index: int = -1) -> None:
        super().__init__(text)
        self.doc, self.after, self.field, self.kind, self.index = doc, after, field, kind, index
        self.before = doc.constitution

    def id(self) -> int:  # noqa: A003 - Qt API
        return self.ID

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt API
        if not isinstance(other, SetPriorities) or other.field != self.field or other.index != self.index:
            return False
        self.after = other.after
        return True

    def redo(self) -> None:
        self.doc.set_constitution(self.after, self.kind, self.index)

    def undo(self) -> None:
        self.doc.set_constitution(self.before, self.kind, self.index)


class PrioritiesTab(QWidget):
    title = "Priorities"

    def __init__(self, doc: cmd.ConstitutionDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self._filling = False
        keys = PassUndoKeys(self)
        form = QFormLayout(self)
        form.setContentsMargins(14, 12, 14, 12)
        form.setVerticalSpacing(8)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.ranked = QCheckBox("The list order is a priority order: when principles conflict, the earlier one wins")
        self.ranked.setObjectName("rankedCheck")
        self.ranked.toggled.connect(self._ranked_toggled)
        form.addRow("Ranked", self.ranked)
        self.table = QTableWidget(0, 4)
        self.table.setObjectName("weightsTable")
        self.table.setHorizontalHeaderLabels(["Rank", "Principle", "Weight", "Chance"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for column, width in ((0, 48), (2, 100), (3, 96)):
            self.table.setColumnWidth(column, width)
        self.table.itemSelectionChanged.connect(self._show_preview)
        self.table.setMinimumHeight(230)
        form.addRow("Weights", self.table)
        self.preview = wrapping_label("", "priorityPreview")
        self.preview.setStyleSheet("color:#4a5361")
        form.addRow("Question asked", self.preview)
        self.preamble = text_edit("Free text before the principles: what this constitution is for", 70, 150)
        self.rationale = text_edit("Free text: why the principles are what they are, how conflicts were weighed", 70,
                                   150)
        for name, widget in (("preamble", self.preamble), ("rationale", self.rationale)):
            widget.setObjectName(f"{name}Edit")
            widget.installEventFilter(keys)
            widget.textChanged.connect(lambda f=name: self._text_edited(f))
        form.addRow("Preamble", self.preamble)
        form.addRow("Rationale", self.rationale)
        self.spins: list[QDoubleSpinBox] = []
        self._keys: list[str] = []
        doc.changed.connect(lambda *_: self.fill())
        self.fill()

    # -- view -----------------------------------------------------------------------------------
    def fill(self) -> None:
        c = self.doc.constitution
        self._filling = True
        try:
            self.ranked.setChecked(c.ranked)
            show_text(self.preamble, c.preamble)
            show_text(self.rationale, c.rationale)
            selected = self.table.currentRow()
            enabled = c.enabled_principles
            try:
                chance = PrincipleSampler(c).probabilities()
            except Exception:  # noqa: BLE001 - no enabled principle (or a bad weight): no chances
                chance = {}
            keys = [p.key for p in enabled]
            if keys != self._keys:  # new rows; otherwise the spin boxes stay (one may be in use)
                self._keys = keys
                self.table.setRowCount(0)  # drops the old rows' spin boxes with them
                self.table.setRowCount(len(enabled))
                self.spins = []
                for row, p in enumerate(enabled):
                    spin = QDoubleSpinBox()
                    spin.setRange(0.05, MAX_WEIGHT)
                    spin.setDecimals(2)
                    spin.setSingleStep(0.5)
                    spin.valueChanged.connect(lambda v, k=p.key: self._weight_edited(k, v))
                    self.table.setCellWidget(row, 2, spin)
                    self.spins.append(spin)
            for row, p in enumerate(enabled):
                self.table.setItem(row, 0, QTableWidgetItem(str(row + 1) if c.ranked else "–"))
                self.table.setItem(row, 1, QTableWidgetItem(f"{p.title or p.key}  ({p.key})"))
                if self.spins[row].value() != float(p.weight):
                    self.spins[row].setValue(float(p.weight))
                share = chance.get(p.key)
                self.table.setItem(row, 3, QTableWidgetItem("-" if share is None else f"{100 * share:.0f} %"))
            if enabled:
                self.table.selectRow(min(max(selected, 0), len(enabled) - 1))
        finally:
            self._filling = False
        self._show_preview()

    def _show_preview(self) -> None:
        c = self.doc.constitution
        enabled = c.enabled_principles
        row = self.table.currentRow()
        if not enabled or not 0 <= row < len(enabled):
            self.preview.setText("")
            return
        self.preview.setText(priority_question(c, enabled[row]))

    # -- edits ----------------------------------------------------------------------------------
    def _ranked_toggled(self, on: bool) -> None:
        if self._filling or on == self.doc.constitution.ranked:
            return
        c = self.doc.constitution.copy()
        c.ranked = on
        self.doc.push(SetPriorities(self.doc, c, "Rank principles" if on else "Unrank principles", "ranked"))

    def _text_edited(self, field: str) -> None:
        if self._filling:
            return
        text = text_of(self.preamble if field == "preamble" else self.rationale)
        if text == getattr(self.doc.constitution, field):
            return
        c = self.doc.constitution.copy()
        setattr(c, field, text)
        self.doc.push(SetPriorities(self.doc, c, f"Edit {field}", field))

    def _weight_edited(self, key: str, value: float) -> None:
        if self._filling:
            return
        c = self.doc.constitution.copy()
        index = next(i for i, p in enumerate(c.principles) if p.key == key)
        if c.principles[index].weight == value:
            return
        c.principles[index].weight = float(value)
        self.doc.push(SetPriorities(self.doc, c, "Edit weight", "weight", kind=cmd.PRINCIPLE, index=index))


if __name__ == "__main__":
    import sys

    from cai_desktop.ui.pages.constitution.standalone import show_alone

    sys.exit(show_alone(PrioritiesTab))
