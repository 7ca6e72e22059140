"""The list of principles beside every tab: order (drag or Up/Down), enable boxes, add and remove,
and the constitution's validation summary. Run alone: ``python -m
cai_desktop.ui.pages.constitution.principles``."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.constitution import Principle, validate
from cai_desktop.ui import commands as cmd
from cai_desktop.ui.pages.constitution.common import wrapping_label


def find_move(before: list[str], after: list[str]) -> tuple[int, int] | None:
    """The single move ``(src, dst)`` that turns ``before`` into ``after`` (None if none)."""
    if before == after or sorted(before) != sorted(after):
        return None
    for src, key in enumerate(before):
        dst = after.index(key)
        trial = list(before)
        trial.insert(dst, trial.pop(src))
        if trial == after:
            return src, dst
    return None


class PrincipleList(QListWidget):
    """Drag to reorder; reports the move instead of letting the widget own the order."""

    moved = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(False)
        self.setSpacing(2)
        # a long title is cut with "…" (full text in the tooltip), never a reason to widen
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWordWrap(False)

    def keys(self) -> list[str]:
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        before = self.keys()
        super().dropEvent(event)
        move = find_move(before, self.keys())
        if move is not None:
            # the document decides the order: apply after the drag machinery has finished
            QTimer.singleShot(0, lambda m=move: self.moved.emit(*m))


class PrinciplesPanel(QWidget):
    """Shows the document's principles; every change it makes is a command on the document."""

    #: the selected principle changed (row, -1 for none)
    selected = Signal(int)
    #: a principle was added at this row (the page moves to its form)
    added = Signal(int)

    def __init__(self, doc: cmd.ConstitutionDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        ll = QVBoxLayout(self)
        ll.setContentsMargins(0, 0, 6, 0)
        ll.setSpacing(6)
        self.list_title = QLabel("<b>Principles</b>")
        ll.addWidget(self.list_title)
        ll.addWidget(wrapping_label("Drag to reorder; the box enables or disables a principle.", "subtitle"))
        self.list = PrincipleList()
        self.list.setObjectName("principleList")
        self.list.setMinimumWidth(200)
        self.list.currentRowChanged.connect(self._on_row_changed)
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.moved.connect(self.move_principle)
        ll.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.btn_add = QPushButton("Add")
        self.btn_remove = QPushButton("Remove")
        self.btn_up = QPushButton("Up")
        self.btn_down = QPushButton("Down")
        self.btn_add.setToolTip("Add a principle after the selected one.")
        self.btn_remove.setToolTip("Remove the selected principle (undoable).")
        self.btn_up.setToolTip("Move the selected principle up (or drag it).")
        self.btn_down.setToolTip("Move the selected principle down (or drag it).")
        self.btn_add.clicked.connect(self.add_principle)
        self.btn_remove.clicked.connect(self.remove_principle)
        self.btn_up.clicked.connect(lambda: self._step(-1))
        self.btn_down.clicked.connect(lambda: self._step(1))
        for b in (self.btn_add, self.btn_remove, self.btn_up, self.btn_down):
            row.addWidget(b)
        ll.addLayout(row)
        self.validation = wrapping_label("", "validationMessage", rich=True)
        self.validation.setMinimumHeight(40)
        ll.addWidget(self.validation)
        doc.changed.connect(self._on_doc_changed)
        self._on_doc_changed(cmd.ALL, -1)

    # -- document -> view ----------------------------------------------------------------------
    def _on_doc_changed(self, kind: str, index: int) -> None:
        c = self.doc.constitution
        if kind in (cmd.ALL, cmd.STRUCTURE):
            keep = self.list.currentRow()
            self._rebuild()
            row = index if index >= 0 else keep
            if self.list.count():
                self.list.setCurrentRow(max(0, min(row, self.list.count() - 1)))
            else:
                self.selected.emit(-1)
        elif kind == cmd.PRINCIPLE and 0 <= index < len(c.principles):
            self._update_item(index)
            if self.list.currentRow() != index:
                self.list.setCurrentRow(index)
        self._update_buttons()
        self._update_validation()

    def _rebuild(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for i, p in enumerate(self.doc.constitution.principles):
            item = QListWidgetItem()
            item.setFlags(
                Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable
                | Qt.ItemFlag.ItemIsDragEnabled
            )
            self.list.addItem(item)
            self._style_item(item, i, p)
        self.list.blockSignals(False)
        self._update_title()

    def _update_title(self) -> None:
        n = len(self.doc.constitution.principles)
        on = len(self.doc.constitution.enabled_principles)
        self.list_title.setText(f"<b>Principles</b> <span style='color:#4a5361'>({on} of {n} enabled)</span>")

    def _style_item(self, item: QListWidgetItem, i: int, p: Principle) -> None:
        item.setText(f"{i + 1}. {p.title.strip() or p.key}")
        item.setData(Qt.ItemDataRole.UserRole, p.key)
        item.setToolTip(f"{p.title.strip() or p.key}  ({p.key})\n\n{p.critique_request}")
        item.setCheckState(Qt.CheckState.Checked if p.enabled else Qt.CheckState.Unchecked)
        item.setForeground(QBrush(QColor("#1f2328" if p.enabled else "#9aa1ab")))

    def _update_item(self, index: int) -> None:
        item = self.list.item(index)
        if item is None:
            self._rebuild()
            return
        self.list.blockSignals(True)
        self._style_item(item, index, self.doc.constitution.principles[index])
        self.list.blockSignals(False)
        self._update_title()

    def _update_validation(self) -> None:
        problems = validate(self.doc.constitution)
        if not problems:
            self.validation.setText("<span style='color:#1d6b35'>✓ Ready to save: no problems found.</span>")
            return
        shown = problems[:6]
        more = f"<br>… and {len(problems) - 6} more" if len(problems) > 6 else ""
        self.validation.setText(
            f"<b>{len(problems)} problem(s)</b><br>" + "<br>".join("• " + html.escape(p) for p in shown) + more
        )

    def _update_buttons(self) -> None:
        i = self.current_index()
        n = len(self.doc.constitution.principles)
        self.btn_remove.setEnabled(i >= 0)
        self.btn_up.setEnabled(i > 0)
        self.btn_down.setEnabled(0 <= i < n - 1)

    def _on_row_changed(self, _row: int) -> None:
        self._update_buttons()
        self.selected.emit(self.current_index())

    # -- view -> document ----------------------------------------------------------------------
    def current_index(self) -> int:
        row = self.list.currentRow()
        return row if 0 <= row < len(self.doc.constitution.principles) else -1

    def add_principle(self) -> None:
        i = self.current_index()
        self.doc.push(cmd.AddPrinciple(self.doc, i + 1 if i >= 0 else None))
        self.added.emit(self.current_index())

    def remove_principle(self) -> None:
        i = self.current_index()
        if i >= 0:
            self.doc.push(cmd.RemovePrinciple(self.doc, i))

    def move_principle(self, src: int, dst: int) -> None:
        n = len(self.doc.constitution.principles)
        if src == dst or not (0 <= src < n and 0 <= dst < n):
            self._rebuild()  # a drag that changed nothing: show the document's order again
            self.list.setCurrentRow(max(0, min(src, self.list.count() - 1)))
            return
        self.doc.push(cmd.MovePrinciple(self.doc, src, dst))

    def _step(self, delta: int) -> None:
        i = self.current_index()
        if i >= 0:
            self.move_principle(i, i + delta)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        i = self.list.row(item)
        if 0 <= i < len(self.doc.constitution.principles):
            on = item.checkState() == Qt.CheckState.Checked
            if self.doc.constitution.principles[i].enabled != on:
                self.set_enabled(i, on)

    def set_enabled(self, index: int, on: bool) -> None:
        self.doc.push(cmd.SetPrincipleEnabled(self.doc, index, on))


if __name__ == "__main__":
    import sys

    from cai_desktop.ui.pages.constitution.standalone import show_alone

    sys.exit(show_alone(PrinciplesPanel))
