"""Constitution editor: ordered principles, a form per principle, live validation, undo/redo,
import/export in every format, few-shot examples, versions with a diff, per-principle statistics.

Every edit is a command on a ``ConstitutionDocument`` (``ui/commands.py``); the view only shows
the document. ``undo_stack`` is exposed for the main window's Edit menu (Ctrl+Z / Ctrl+Shift+Z).
Run alone for development: ``python -m cai_desktop.ui.pages.constitution PROJECT``.
"""

from __future__ import annotations

import html
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.constitution import Constitution, FewShotExample, Principle, slugify, validate
from cai_desktop.core.errors import CaiError
from cai_desktop.ui import commands as cmd
from cai_desktop.ui.pages import Page
from cai_desktop.ui.widgets.errors import show_error

#: export choices in the file dialog: (filter text, core format, default suffix)
EXPORT_FORMATS = [
    ("CAI Desktop JSON (*.json)", "native", ".json"),
    ("CAI Desktop YAML (*.yaml *.yml)", "native", ".yaml"),
    ("Anthropic paper repository JSON (*.json)", "anthropic", ".json"),
    ("Hugging Face constitution JSON (*.json)", "hf", ".json"),
]
IMPORT_FILTER = "Constitutions (*.json *.yaml *.yml);;All files (*)"
EDITOR_VERSION = -1  # the "to" entry that means "what is in the editor now"


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

    def keys(self) -> list[str]:
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        before = self.keys()
        super().dropEvent(event)
        move = find_move(before, self.keys())
        if move is not None:
            # the document decides the order: apply after the drag machinery has finished
            QTimer.singleShot(0, lambda m=move: self.moved.emit(*m))


class _PassUndoKeys(QObject):
    """Let Ctrl+Z / Ctrl+Shift+Z reach the page's undo stack instead of a text field's own undo."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.ShortcutOverride:
            if event.matches(QKeySequence.StandardKey.Undo) or event.matches(QKeySequence.StandardKey.Redo):
                event.ignore()
                return True
        return False


def _text_edit(placeholder: str, height: int = 78) -> QPlainTextEdit:
    w = QPlainTextEdit()
    w.setPlaceholderText(placeholder)
    w.setUndoRedoEnabled(False)
    w.setTabChangesFocus(True)
    w.setMinimumHeight(height)
    return w


class ConstitutionPage(Page):
    title = "Constitution"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = cmd.ConstitutionDocument(Constitution(name="untitled"), self)
        self.undo_stack = self.doc.undo_stack
        self._new_name: str | None = None  # a constitution created here and not saved yet
        self._filling = False
        self._key_filter = _PassUndoKeys(self)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(14, 12, 14, 12)
        outer.setSpacing(10)

        # -- top bar -----------------------------------------------------------------------
        top = QHBoxLayout()
        top.setSpacing(8)
        top.addWidget(QLabel("<b>Constitution</b>"))
        self.picker = QComboBox()
        self.picker.setObjectName("constitutionPicker")
        self.picker.setMinimumWidth(220)
        self.picker.currentIndexChanged.connect(self._on_pick)
        top.addWidget(self.picker)
        self.btn_new = QPushButton("New…")
        self.btn_import = QPushButton("Import…")
        self.btn_export = QPushButton("Export…")
        self.btn_new.setToolTip("Start a new constitution with one empty principle.")
        self.btn_import.setToolTip("Read a constitution: CAI Desktop JSON/YAML, Anthropic's or Hugging Face's format.")
        self.btn_export.setToolTip("Write the constitution in the editor to a file, in any supported format.")
        self.btn_new.clicked.connect(self._new_clicked)
        self.btn_import.clicked.connect(self._import_clicked)
        self.btn_export.clicked.connect(self._export_clicked)
        for b in (self.btn_new, self.btn_import, self.btn_export):
            top.addWidget(b)
        top.addStretch(1)
        self.dirty_label = QLabel("")
        self.dirty_label.setObjectName("dirtyLabel")
        top.addWidget(self.dirty_label)
        self.save_note = QLineEdit()
        self.save_note.setPlaceholderText("Note for this version (optional)")
        self.save_note.setMinimumWidth(220)
        top.addWidget(self.save_note)
        self.btn_save = QPushButton("Save version")
        self.btn_save.setObjectName("primary")
        self.btn_save.setToolTip("Store the editor's state as a new version (old versions stay readable).")
        self.btn_save.clicked.connect(self.save)
        top.addWidget(self.btn_save)
        outer.addLayout(top)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        outer.addWidget(split, 1)

        # -- left: principles + validation ---------------------------------------------------
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 6, 0)
        ll.setSpacing(6)
        self.list_title = QLabel("<b>Principles</b>")
        ll.addWidget(self.list_title)
        hint = QLabel("Drag to reorder; the box enables or disables a principle.")
        hint.setObjectName("subtitle")
        hint.setWordWrap(True)
        ll.addWidget(hint)
        self.principle_list = PrincipleList()
        self.principle_list.setObjectName("principleList")
        self.principle_list.currentRowChanged.connect(self._on_row_changed)
        self.principle_list.itemChanged.connect(self._on_item_changed)
        self.principle_list.moved.connect(self.move_principle)
        ll.addWidget(self.principle_list, 1)
        row = QHBoxLayout()
        self.btn_add = QPushButton("Add")
        self.btn_remove = QPushButton("Remove")
        self.btn_up = QPushButton("Up")
        self.btn_down = QPushButton("Down")
        self.btn_add.setToolTip("Add a principle after the selected one.")
        self.btn_up.setToolTip("Move the selected principle up (or drag it).")
        self.btn_down.setToolTip("Move the selected principle down (or drag it).")
        self.btn_add.clicked.connect(self.add_principle)
        self.btn_remove.clicked.connect(self.remove_principle)
        self.btn_up.clicked.connect(lambda: self._step(-1))
        self.btn_down.clicked.connect(lambda: self._step(1))
        for b in (self.btn_add, self.btn_remove, self.btn_up, self.btn_down):
            row.addWidget(b)
        ll.addLayout(row)
        self.validation = QLabel("")
        self.validation.setObjectName("validationMessage")
        self.validation.setWordWrap(True)
        self.validation.setTextFormat(Qt.TextFormat.RichText)
        self.validation.setMinimumHeight(40)
        ll.addWidget(self.validation)
        split.addWidget(left)

        # -- right: tabs ---------------------------------------------------------------------
        self.tabs = QTabWidget()
        self.tabs.currentChanged.connect(self._on_tab)
        split.addWidget(self.tabs)
        split.setSizes([320, 880])
        split.setStretchFactor(1, 1)

        self._build_principle_tab()
        self._build_meta_tab()
        self._build_few_shot_tab()
        self._build_versions_tab()
        self._build_stats_tab()

        self.doc.changed.connect(self._on_doc_changed)
        self.undo_stack.cleanChanged.connect(self._update_dirty)
        self._on_doc_changed(cmd.ALL, -1)
        self._set_enabled(False)

    # -- building ------------------------------------------------------------------------------
    def _build_principle_tab(self) -> None:
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(14, 12, 14, 12)
        form = QFormLayout()
        form.setVerticalSpacing(8)
        form.setHorizontalSpacing(14)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.f_key = QLineEdit()
        self.f_key.setToolTip("A short id: lowercase letters, digits, '-' and '_'. Stored with every record.")
        self.f_title = QLineEdit()
        self.f_title.setPlaceholderText("A short name people will see")
        self.f_critique = _text_edit("Ask the model to point out what is wrong with its last answer…")
        self.f_critique.setToolTip("Stage 1: the model critiques its own answer under this request.")
        self.f_critique.setMaximumHeight(150)
        self.f_revision = _text_edit("Ask the model to rewrite its answer to fix what the critique found…")
        self.f_revision.setToolTip("Stage 1: the model revises its answer under this request.")
        self.f_revision.setMaximumHeight(150)
        self.f_question = _text_edit("Which of these answers is … ? (stage 2 comparison)", 60)
        self.f_question.setToolTip("Stage 2: the feedback model picks (A) or (B) under this question.")
        self.f_question.setMaximumHeight(100)
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
        self.principle_problems = QLabel("")
        self.principle_problems.setObjectName("validationMessage")
        self.principle_problems.setWordWrap(True)
        lay.addWidget(self.principle_problems)
        lay.addStretch(1)
        self.form_widgets: dict[str, QWidget] = {
            "key": self.f_key,
            "title": self.f_title,
            "critique_request": self.f_critique,
            "revision_request": self.f_revision,
            "comparison_question": self.f_question,
            "tags": self.f_tags,
        }
        for field, widget in self.form_widgets.items():
            widget.installEventFilter(self._key_filter)
            if isinstance(widget, QLineEdit):
                widget.textEdited.connect(lambda _t, f=field: self._form_edited(f))
            else:
                widget.textChanged.connect(lambda f=field: self._form_edited(f))
        self.f_enabled.toggled.connect(self._enabled_toggled)
        self.tabs.addTab(w, "Principle")

    def _build_meta_tab(self) -> None:
        w = QWidget()
        form = QFormLayout(w)
        form.setContentsMargins(14, 12, 14, 12)
        form.setVerticalSpacing(8)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.m_name = QLabel("")
        self.m_version = QLabel("")
        self.m_title = QLineEdit()
        self.m_description = _text_edit("What this constitution is for", 70)
        self.m_system = _text_edit("Optional system prompt used when the model answers and critiques", 90)
        form.addRow("Name", self.m_name)
        form.addRow("Version", self.m_version)
        form.addRow("Title", self.m_title)
        form.addRow("Description", self.m_description)
        form.addRow("System prompt", self.m_system)
        self.meta_widgets = {"title": self.m_title, "description": self.m_description, "system_prompt": self.m_system}
        for field, widget in self.meta_widgets.items():
            widget.installEventFilter(self._key_filter)
            if isinstance(widget, QLineEdit):
                widget.textEdited.connect(lambda _t, f=field: self._meta_edited(f))
            else:
                widget.textChanged.connect(lambda f=field: self._meta_edited(f))
        self.tabs.addTab(w, "Constitution")

    def _build_few_shot_tab(self) -> None:
        w = QWidget()
        lay = QHBoxLayout(w)
        lay.setContentsMargins(14, 12, 14, 12)
        left = QVBoxLayout()
        self.few_list = QListWidget()
        self.few_list.setObjectName("fewShotList")
        self.few_list.setMaximumWidth(260)
        self.few_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.few_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.few_list.setSpacing(2)
        self.few_list.currentRowChanged.connect(lambda _r: self._fill_few_form())
        left.addWidget(QLabel("Examples that keep a small model in its role"))
        left.addWidget(self.few_list, 1)
        b = QHBoxLayout()
        self.btn_few_add = QPushButton("Add")
        self.btn_few_remove = QPushButton("Remove")
        self.btn_few_add.clicked.connect(self.add_few_shot)
        self.btn_few_remove.clicked.connect(self.remove_few_shot)
        b.addWidget(self.btn_few_add)
        b.addWidget(self.btn_few_remove)
        left.addLayout(b)
        lay.addLayout(left)
        form = QFormLayout()
        form.setVerticalSpacing(6)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.few_widgets: dict[str, QWidget] = {}
        labels = {
            "prompt": ("Prompt", "The user's message"),
            "response": ("Response", "The model's first answer"),
            "critique_request": ("Critique request", "The critique request used in this example"),
            "critique": ("Critique", "A good critique of the response"),
            "revision_request": ("Revision request", "The revision request used"),
            "revision": ("Revision", "A good revision"),
        }
        for field, (label, ph) in labels.items():
            widget = _text_edit(ph, 44)
            widget.installEventFilter(self._key_filter)
            widget.textChanged.connect(lambda f=field: self._few_edited(f))
            self.few_widgets[field] = widget
            form.addRow(label, widget)
        self.few_principle = QLineEdit()
        self.few_principle.setPlaceholderText("principle key (optional)")
        self.few_principle.installEventFilter(self._key_filter)
        self.few_principle.textEdited.connect(lambda _t: self._few_edited("principle"))
        self.few_widgets["principle"] = self.few_principle
        form.addRow("Principle", self.few_principle)
        holder = QWidget()
        holder.setLayout(form)
        lay.addWidget(holder, 1)
        self.tabs.addTab(w, "Few-shot examples")

    def _build_versions_tab(self) -> None:
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(14, 12, 14, 12)
        row = QHBoxLayout()
        self.v_from = QComboBox()
        self.v_to = QComboBox()
        self.v_from.setObjectName("versionFrom")
        self.v_to.setObjectName("versionTo")
        self.v_from.currentIndexChanged.connect(lambda _i: self.show_version_diff())
        self.v_to.currentIndexChanged.connect(lambda _i: self.show_version_diff())
        row.addWidget(QLabel("Compare"))
        row.addWidget(self.v_from, 1)
        row.addWidget(QLabel("with"))
        row.addWidget(self.v_to, 1)
        self.btn_restore = QPushButton("Load left version into editor")
        self.btn_restore.setToolTip("Replace the editor's contents with that version (undoable; save to keep it).")
        self.btn_restore.clicked.connect(self._restore_version)
        row.addWidget(self.btn_restore)
        lay.addLayout(row)
        self.version_diff = QTextBrowser()
        self.version_diff.setObjectName("versionDiff")
        self.version_diff.setOpenLinks(False)
        lay.addWidget(self.version_diff, 1)
        self.tabs.addTab(w, "Versions")

    def _build_stats_tab(self) -> None:
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(14, 12, 14, 12)
        self.stats_note = QLabel("")
        self.stats_note.setObjectName("subtitle")
        self.stats_note.setWordWrap(True)
        lay.addWidget(self.stats_note)
        self.stats = QTableWidget(0, 7)
        self.stats.setObjectName("principleStats")
        headers = [
            ("Principle", "The principle (its key is in the tooltip)."),
            ("Drawn", "Times the principle was drawn for a critique round."),
            ("Changed answer", "Rounds under this principle whose revision changed the answer."),
            ("AI labels", "AI comparisons (soft labels) decided under this principle."),
            ("Margin", "Mean |label - 0.5|: how decisive its labels were."),
            ("Reviewed", "Of those, how many a person chose A or B for."),
            ("Agreement", "How often the reviewer agreed with the AI label."),
        ]
        for i, (text, tip) in enumerate(headers):
            item = QTableWidgetItem(text)
            item.setToolTip(tip)
            self.stats.setHorizontalHeaderItem(i, item)
        self.stats.setWordWrap(False)
        self.stats.verticalHeader().setDefaultSectionSize(28)
        self.stats.verticalHeader().setVisible(False)
        self.stats.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.stats.setAlternatingRowColors(True)
        self.stats.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for i in range(1, 7):
            self.stats.horizontalHeader().setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        lay.addWidget(self.stats, 1)
        self.tabs.addTab(w, "Statistics")

    # -- project -------------------------------------------------------------------------------
    @property
    def constitution(self) -> Constitution:
        return self.doc.constitution

    def set_project(self, project) -> None:
        self.project = project
        self._new_name = None
        if project is None:
            self.doc.reset(Constitution(name="untitled"))
            self._fill_picker([])
            self._set_enabled(False)
            return
        self.refresh()

    def refresh(self, show: str | None = None) -> None:
        if self.project is None:
            return
        names = [c["name"] for c in self.project.list_constitutions()]
        current = show or self.picker.currentData()
        self._fill_picker(names, current)
        self._set_enabled(bool(names) or self._new_name is not None)
        self.refresh_versions()
        self.refresh_stats()

    def _fill_picker(self, names: list[str], keep: str | None = None) -> None:
        items = list(names)
        if self._new_name and self._new_name not in items:
            items.append(self._new_name)
        self.picker.blockSignals(True)
        self.picker.clear()
        for n in items:
            label = f"{n}  (new, not saved)" if n == self._new_name and n not in names else n
            self.picker.addItem(label, n)
        self.picker.blockSignals(False)
        target = keep if keep in items else (self.doc.constitution.name if self.doc.constitution.name in items else None)
        if target is None and items:
            target = items[0]
        if target is not None:
            self.picker.blockSignals(True)
            self.picker.setCurrentIndex(items.index(target))
            self.picker.blockSignals(False)
            if target != self.doc.constitution.name or self.doc.constitution.name == "untitled":
                self.load(target)
            elif not self.doc.dirty and target in names:
                # reload the saved state (another screen or a job may have changed it)
                self.load(target)

    def load(self, name: str) -> None:
        """Show constitution ``name`` (its live saved state); clears undo history."""
        if self.project is None:
            return
        if name == self._new_name and name not in [c["name"] for c in self.project.list_constitutions()]:
            return
        try:
            c = self.project.get_constitution(name)
        except CaiError as e:
            show_error(self, "Cannot open the constitution", str(e))
            return
        row = max(0, self.principle_list.currentRow())
        self.doc.reset(c)
        if self.principle_list.count():
            self.principle_list.setCurrentRow(min(row, self.principle_list.count() - 1))
        self.refresh_versions()
        self.refresh_stats()

    def _on_pick(self, index: int) -> None:
        name = self.picker.itemData(index)
        if not name or name == self.doc.constitution.name:
            return
        if not self.confirm_discard():
            self.picker.blockSignals(True)
            self.picker.setCurrentIndex(max(0, self.picker.findData(self.doc.constitution.name)))
            self.picker.blockSignals(False)
            return
        if self._new_name and self._new_name != name:
            self._new_name = None
            self.refresh()
            self.picker.setCurrentIndex(max(0, self.picker.findData(name)))
        self.load(name)

    def confirm_discard(self) -> bool:
        """Ask before throwing away unsaved edits (True = go ahead)."""
        if not self.doc.dirty:
            return True
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            f"The constitution {self.doc.constitution.name!r} has unsaved changes. Discard them?",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Discard

    def _set_enabled(self, on: bool) -> None:
        for w in (self.principle_list, self.tabs, self.btn_add, self.btn_remove, self.btn_up, self.btn_down,
                  self.btn_save, self.btn_export, self.save_note):
            w.setEnabled(on)
        self.btn_new.setEnabled(self.project is not None)
        self.btn_import.setEnabled(self.project is not None)
        self.picker.setEnabled(self.project is not None)

    # -- document -> view -----------------------------------------------------------------------
    def _on_doc_changed(self, kind: str, index: int) -> None:
        c = self.doc.constitution
        if kind in (cmd.ALL, cmd.STRUCTURE):
            keep = self.principle_list.currentRow()
            self._rebuild_list()
            row = index if index >= 0 else keep
            if self.principle_list.count():
                row = max(0, min(row, self.principle_list.count() - 1))
                self.principle_list.setCurrentRow(row)
            self._fill_form()
        elif kind == cmd.PRINCIPLE and 0 <= index < len(c.principles):
            self._update_item(index)
            if self.principle_list.currentRow() != index:
                self.principle_list.setCurrentRow(index)
            self._fill_form()
        if kind in (cmd.ALL, cmd.META):
            self._fill_meta()
        if kind in (cmd.ALL, cmd.FEW_SHOT_STRUCTURE):
            self._rebuild_few_list(index if kind == cmd.FEW_SHOT_STRUCTURE else -1)
        elif kind == cmd.FEW_SHOT:
            self._update_few_item(index)
            if self.few_list.currentRow() != index:
                self.few_list.setCurrentRow(index)
            self._fill_few_form()
        self._update_validation()
        self._update_dirty()
        if self.tabs.currentIndex() == 3 and self.v_to.currentData() == EDITOR_VERSION:
            self.show_version_diff()

    def _item_text(self, i: int, p: Principle) -> str:
        title = p.title.strip() or p.key
        return f"{i + 1}. {title}"

    def _rebuild_list(self) -> None:
        self.principle_list.blockSignals(True)
        self.principle_list.clear()
        for i, p in enumerate(self.doc.constitution.principles):
            item = QListWidgetItem()
            item.setFlags(
                Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable
                | Qt.ItemFlag.ItemIsDragEnabled
            )
            self.principle_list.addItem(item)
            self._style_item(item, i, p)
        self.principle_list.blockSignals(False)
        n = len(self.doc.constitution.principles)
        on = len(self.doc.constitution.enabled_principles)
        self.list_title.setText(f"<b>Principles</b> <span style='color:#4a5361'>({on} of {n} enabled)</span>")

    def _style_item(self, item: QListWidgetItem, i: int, p: Principle) -> None:
        item.setText(self._item_text(i, p))
        item.setData(Qt.ItemDataRole.UserRole, p.key)
        item.setToolTip(f"{p.key}\n\n{p.critique_request}")
        item.setCheckState(Qt.CheckState.Checked if p.enabled else Qt.CheckState.Unchecked)
        item.setForeground(QBrush(QColor("#1f2328" if p.enabled else "#9aa1ab")))

    def _update_item(self, index: int) -> None:
        item = self.principle_list.item(index)
        if item is None:
            self._rebuild_list()
            return
        self.principle_list.blockSignals(True)
        self._style_item(item, index, self.doc.constitution.principles[index])
        self.principle_list.blockSignals(False)
        n = len(self.doc.constitution.principles)
        on = len(self.doc.constitution.enabled_principles)
        self.list_title.setText(f"<b>Principles</b> <span style='color:#4a5361'>({on} of {n} enabled)</span>")

    def current_index(self) -> int:
        row = self.principle_list.currentRow()
        return row if 0 <= row < len(self.doc.constitution.principles) else -1

    def _fill_form(self) -> None:
        i = self.current_index()
        p = self.doc.constitution.principles[i] if i >= 0 else Principle(key="")
        self._filling = True
        try:
            for field, widget in self.form_widgets.items():
                value = ", ".join(p.tags) if field == "tags" else getattr(p, field)
                if isinstance(widget, QLineEdit):
                    if field == "tags":
                        current = [t.strip() for t in widget.text().split(",") if t.strip()]
                        if current != p.tags:
                            widget.setText(value)
                    elif widget.text() != value:
                        widget.setText(value)
                elif widget.toPlainText() != value:
                    widget.setPlainText(value)
                widget.setEnabled(i >= 0)
            self.f_enabled.setChecked(p.enabled if i >= 0 else False)
            self.f_enabled.setEnabled(i >= 0)
        finally:
            self._filling = False
        self._update_principle_problems()

    def _fill_meta(self) -> None:
        c = self.doc.constitution
        self._filling = True
        try:
            self.m_name.setText(c.name)
            self.m_version.setText(f"{c.version} (saved)" if not self.doc.dirty else f"{c.version} + unsaved edits")
            for field, widget in self.meta_widgets.items():
                value = getattr(c, field)
                if isinstance(widget, QLineEdit):
                    if widget.text() != value:
                        widget.setText(value)
                elif widget.toPlainText() != value:
                    widget.setPlainText(value)
        finally:
            self._filling = False

    def _few_label(self, i: int, f: FewShotExample) -> str:
        first = (f.prompt.strip().splitlines() or ["(empty)"])[0]
        return f"{i + 1}. {first[:40]}"

    def _rebuild_few_list(self, select: int = -1) -> None:
        keep = self.few_list.currentRow() if select < 0 else select
        self.few_list.blockSignals(True)
        self.few_list.clear()
        for i, f in enumerate(self.doc.constitution.few_shot):
            self.few_list.addItem(self._few_label(i, f))
        self.few_list.blockSignals(False)
        if self.few_list.count():
            self.few_list.setCurrentRow(max(0, min(keep, self.few_list.count() - 1)))
        self._fill_few_form()

    def _update_few_item(self, index: int) -> None:
        item = self.few_list.item(index)
        if item is not None:
            item.setText(self._few_label(index, self.doc.constitution.few_shot[index]))

    def _fill_few_form(self) -> None:
        i = self.few_list.currentRow()
        few = self.doc.constitution.few_shot
        f = few[i] if 0 <= i < len(few) else None
        self._filling = True
        try:
            for field, widget in self.few_widgets.items():
                value = getattr(f, field) if f else ""
                if isinstance(widget, QLineEdit):
                    if widget.text() != value:
                        widget.setText(value)
                elif widget.toPlainText() != value:
                    widget.setPlainText(value)
                widget.setEnabled(f is not None)
        finally:
            self._filling = False
        self.btn_few_remove.setEnabled(f is not None)

    def problems(self) -> list[str]:
        return validate(self.doc.constitution)

    def _update_validation(self) -> None:
        problems = self.problems()
        if not problems:
            self.validation.setText("<span style='color:#1d6b35'>✓ Ready to save: no problems found.</span>")
        else:
            shown = problems[:6]
            more = f"<br>… and {len(problems) - 6} more" if len(problems) > 6 else ""
            self.validation.setText(
                f"<b>{len(problems)} problem(s)</b><br>" + "<br>".join("• " + html.escape(p) for p in shown) + more
            )
        self._update_principle_problems(problems)

    def _update_principle_problems(self, problems: list[str] | None = None) -> None:
        i = self.current_index()
        if i < 0:
            self.principle_problems.setText("")
            return
        problems = self.problems() if problems is None else problems
        mine = [p for p in problems if p.startswith(f"Principle {i + 1} ") or p.startswith(f"Principle {i + 1}:")]
        self.principle_problems.setText("\n".join(mine))

    def _update_dirty(self, *_: Any) -> None:
        unsaved = self.doc.dirty or (self._new_name is not None and self._new_name == self.doc.constitution.name)
        self.dirty_label.setText("● Unsaved changes" if unsaved else "Saved")
        self.dirty_label.setStyleSheet("color:#b26a00;font-weight:600" if unsaved else "color:#4a5361")
        c = self.doc.constitution
        self.m_version.setText(f"{c.version} + unsaved edits" if unsaved else f"{c.version} (saved)")

    # -- view -> document (every edit is a command) -----------------------------------------------
    def _form_edited(self, field: str) -> None:
        if self._filling:
            return
        i = self.current_index()
        if i < 0:
            return
        widget = self.form_widgets[field]
        text = widget.text() if isinstance(widget, QLineEdit) else widget.toPlainText()
        p = self.doc.constitution.principles[i]
        if field == "tags":
            value: Any = [t.strip() for t in text.split(",") if t.strip()]
            if value == p.tags:
                return
        else:
            value = text
            if value == getattr(p, field):
                return
        self.doc.push(cmd.EditPrincipleField(self.doc, i, field, value))

    def edit_field(self, field: str, value: Any, index: int | None = None) -> None:
        """Set a field of a principle (default: the selected one) as an undoable edit."""
        i = self.current_index() if index is None else index
        if i < 0:
            return
        self.doc.push(cmd.EditPrincipleField(self.doc, i, field, value))

    def _enabled_toggled(self, on: bool) -> None:
        if self._filling:
            return
        i = self.current_index()
        if i >= 0 and self.doc.constitution.principles[i].enabled != on:
            self.set_enabled(i, on)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        i = self.principle_list.row(item)
        if 0 <= i < len(self.doc.constitution.principles):
            on = item.checkState() == Qt.CheckState.Checked
            if self.doc.constitution.principles[i].enabled != on:
                self.set_enabled(i, on)

    def set_enabled(self, index: int, on: bool) -> None:
        self.doc.push(cmd.SetPrincipleEnabled(self.doc, index, on))

    def _meta_edited(self, field: str) -> None:
        if self._filling:
            return
        widget = self.meta_widgets[field]
        text = widget.text() if isinstance(widget, QLineEdit) else widget.toPlainText()
        if text != getattr(self.doc.constitution, field):
            self.doc.push(cmd.EditConstitutionField(self.doc, field, text))

    def _few_edited(self, field: str) -> None:
        if self._filling:
            return
        i = self.few_list.currentRow()
        if not 0 <= i < len(self.doc.constitution.few_shot):
            return
        widget = self.few_widgets[field]
        text = widget.text() if isinstance(widget, QLineEdit) else widget.toPlainText()
        if text != getattr(self.doc.constitution.few_shot[i], field):
            self.doc.push(cmd.EditFewShot(self.doc, i, field, text))

    def _on_row_changed(self, _row: int) -> None:
        self._fill_form()
        can = self.current_index() >= 0
        self.btn_remove.setEnabled(can)
        self.btn_up.setEnabled(can and self.current_index() > 0)
        self.btn_down.setEnabled(can and self.current_index() < len(self.doc.constitution.principles) - 1)

    def add_principle(self) -> None:
        i = self.current_index()
        self.doc.push(cmd.AddPrinciple(self.doc, i + 1 if i >= 0 else None))
        self.tabs.setCurrentIndex(0)
        self.f_title.setFocus()
        self.f_title.selectAll()

    def remove_principle(self) -> None:
        i = self.current_index()
        if i >= 0:
            self.doc.push(cmd.RemovePrinciple(self.doc, i))

    def move_principle(self, src: int, dst: int) -> None:
        n = len(self.doc.constitution.principles)
        if src == dst or not (0 <= src < n and 0 <= dst < n):
            self._rebuild_list()  # a drag that changed nothing: show the document's order again
            return
        self.doc.push(cmd.MovePrinciple(self.doc, src, dst))

    def _step(self, delta: int) -> None:
        i = self.current_index()
        if i >= 0:
            self.move_principle(i, i + delta)

    def add_few_shot(self) -> None:
        self.doc.push(cmd.AddFewShot(self.doc))
        self.few_widgets["prompt"].setFocus()

    def remove_few_shot(self) -> None:
        i = self.few_list.currentRow()
        if 0 <= i < len(self.doc.constitution.few_shot):
            self.doc.push(cmd.RemoveFewShot(self.doc, i))

    # -- save, new, import, export ---------------------------------------------------------------
    def save(self) -> int | None:
        """Store the editor's constitution as a new version; returns the version (None if refused)."""
        if self.project is None:
            return None
        problems = self.problems()
        if problems:
            show_error(self, "Cannot save yet", f"Fix {len(problems)} problem(s) first: {problems[0]}",
                       "\n".join(problems))
            return None
        c = self.doc.constitution
        try:
            version = self.project.save_constitution(c, note=self.save_note.text().strip())
        except CaiError as e:
            show_error(self, "Cannot save the constitution", str(e))
            return None
        self.save_note.clear()
        self.doc.constitution = self.doc.constitution.copy()
        self.doc.constitution.version = version
        if self._new_name == c.name:
            self._new_name = None
        self.undo_stack.setClean()
        self.refresh()
        self._update_dirty()
        self.status_message.emit(f"Saved constitution {c.name!r} as version {version}.")
        return version

    def _new_clicked(self) -> None:
        if self.project is None or not self.confirm_discard():
            return
        name, ok = QInputDialog.getText(self, "New constitution", "Name (lowercase letters, digits, '-', '_'):")
        if ok and name.strip():
            self.new_constitution(name)

    def new_constitution(self, name: str) -> None:
        """Start an unsaved constitution with one empty principle (the form shows what to fill in)."""
        if self.project is None:
            return
        slug = slugify(name, "constitution")
        if slug in [c["name"] for c in self.project.list_constitutions()]:
            show_error(self, "Name already used", f"A constitution named {slug!r} already exists; open it from the list.")
            return
        self._new_name = slug
        self.doc.reset(Constitution(name=slug, title=name.strip(), principles=[Principle(key="principle-1", title="")]))
        self._fill_picker([c["name"] for c in self.project.list_constitutions()], slug)
        self._set_enabled(True)
        self.principle_list.setCurrentRow(0)
        self.tabs.setCurrentIndex(0)
        self._update_dirty()

    def _import_clicked(self) -> None:
        if self.project is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Import a constitution", "", IMPORT_FILTER)
        if path:
            self.import_file(path)

    def import_file(self, path: str | Path, fmt: str = "auto") -> bool:
        """Read a constitution file. Into the editor (undoable, unsaved) when it has the name of the
        one shown; otherwise stored as a new constitution (or a new version of an existing one)."""
        from cai_desktop.core import formats

        if self.project is None:
            return False
        try:
            c = formats.load_file(path, fmt)
        except CaiError as e:
            problems = getattr(e, "problems", None) or []
            show_error(self, "Cannot import the constitution", str(e), "\n".join(problems))
            return False
        names = [x["name"] for x in self.project.list_constitutions()]
        if c.name == self.doc.constitution.name or (c.name in names and c.name != self.doc.constitution.name
                                                     and self._switch_to(c.name)):
            self.doc.push(cmd.ReplaceConstitution(self.doc, c, f"Import {Path(path).name}"))
            self.status_message.emit(f"Imported {Path(path).name} into the editor; save to keep it.")
            return True
        if c.name in names:
            return False
        try:
            version = self.project.save_constitution(c, note=f"imported from {Path(path).name}")
        except CaiError as e:
            show_error(self, "Cannot import the constitution", str(e))
            return False
        self._new_name = None
        self.doc.reset(self.project.get_constitution(c.name))
        self.refresh(show=c.name)
        self.status_message.emit(f"Imported {c.name!r} ({len(c.principles)} principles) as version {version}.")
        return True

    def _switch_to(self, name: str) -> bool:
        if not self.confirm_discard():
            return False
        self.picker.blockSignals(True)
        self.picker.setCurrentIndex(max(0, self.picker.findData(name)))
        self.picker.blockSignals(False)
        self.load(name)
        return True

    def _export_clicked(self) -> None:
        filters = ";;".join(f for f, _, _ in EXPORT_FORMATS)
        default = f"{self.doc.constitution.name}.json"
        path, chosen = QFileDialog.getSaveFileName(self, "Export the constitution", default, filters)
        if not path:
            return
        fmt, suffix = next(((f, s) for label, f, s in EXPORT_FORMATS if label == chosen), ("native", ".json"))
        if not Path(path).suffix:
            path += suffix
        self.export_file(path, fmt)

    def export_file(self, path: str | Path, fmt: str = "native") -> bool:
        from cai_desktop.core import formats

        try:
            formats.dump_file(self.doc.constitution, path, fmt)
        except (CaiError, OSError) as e:
            show_error(self, "Cannot export the constitution", str(e))
            return False
        problems = self.problems()
        extra = f" (note: {len(problems)} validation problem(s) remain)" if problems else ""
        self.status_message.emit(f"Exported {self.doc.constitution.name!r} to {Path(path).name}{extra}.")
        return True

    # -- versions -------------------------------------------------------------------------------
    def refresh_versions(self) -> None:
        versions: list[dict[str, Any]] = []
        name = self.doc.constitution.name
        if self.project is not None and name != self._new_name:
            try:
                versions = self.project.constitution_versions(name)
            except CaiError:
                versions = []
        for combo in (self.v_from, self.v_to):
            combo.blockSignals(True)
            combo.clear()
        for v in versions:
            label = f"v{v['version']}  {str(v.get('created_at') or '')[:16].replace('T', ' ')}"
            if v.get("note"):
                label += f"  — {v['note']}"
            self.v_from.addItem(label, v["version"])
            self.v_to.addItem(label, v["version"])
        self.v_to.addItem("the editor (unsaved state)", EDITOR_VERSION)
        if versions:
            self.v_from.setCurrentIndex(max(0, len(versions) - 2) if len(versions) > 1 else 0)
            self.v_to.setCurrentIndex(len(versions) - 1 if len(versions) > 1 else len(versions))
        for combo in (self.v_from, self.v_to):
            combo.blockSignals(False)
        self.btn_restore.setEnabled(bool(versions))
        self.show_version_diff()

    def _version_dict(self, version: int | None) -> dict[str, Any] | None:
        if version is None:
            return None
        if version == EDITOR_VERSION:
            return self.doc.constitution.to_dict()
        if self.project is None:
            return None
        try:
            return self.project.get_constitution(self.doc.constitution.name, version).to_dict()
        except CaiError:
            return None

    def show_version_diff(self) -> str:
        from cai_desktop.core.diff import changes_html, constitution_changes

        a = self._version_dict(self.v_from.currentData())
        b = self._version_dict(self.v_to.currentData())
        if a is None or b is None:
            text = "<p style='color:#4a5361'>Save the constitution to start its version history.</p>"
        else:
            text = changes_html(constitution_changes(a, b), self.v_from.currentText().split("  ")[0],
                                self.v_to.currentText().split("  ")[0])
        self.version_diff.setHtml(text)
        return text

    def _restore_version(self) -> None:
        v = self.v_from.currentData()
        if v is None or self.project is None:
            return
        try:
            c = self.project.get_constitution(self.doc.constitution.name, v)
        except CaiError as e:
            show_error(self, "Cannot load that version", str(e))
            return
        self.doc.push(cmd.ReplaceConstitution(self.doc, c, f"Load version {v}"))
        self.tabs.setCurrentIndex(0)

    # -- statistics -----------------------------------------------------------------------------
    def principle_statistics(self) -> list[dict[str, Any]]:
        """Per principle of the shown constitution: drawn, changed, labels decided, agreement."""
        rows: dict[str, dict[str, Any]] = {
            p.key: {"key": p.key, "title": p.title, "drawn": 0, "changed": 0, "labels": 0,
                    "mean_margin": None, "reviewed": 0, "agree": 0}
            for p in self.doc.constitution.principles
        }
        if self.project is None:
            return list(rows.values())
        from cai_desktop.store.chains import principle_stats
        from cai_desktop.store.comparisons import principle_label_stats

        try:
            for r in principle_stats(self.project, self.doc.constitution.name):
                if r["key"] in rows:
                    rows[r["key"]].update(drawn=r["drawn"] or 0, changed=r["changed"] or 0)
            for r in principle_label_stats(self.project):
                if r["principle_key"] in rows:
                    rows[r["principle_key"]].update(
                        labels=r["n"] or 0, mean_margin=r["mean_margin"],
                        reviewed=r["n_reviewed"] or 0, agree=r["n_agree"] or 0,
                    )
        except Exception as e:  # noqa: BLE001 - statistics must never break the editor
            self.stats_note.setText(f"Statistics unavailable: {e}")
        return list(rows.values())

    def refresh_stats(self) -> None:
        data = self.principle_statistics()
        self.stats.setRowCount(len(data))
        any_data = False
        for i, r in enumerate(data):
            any_data = any_data or r["drawn"] or r["labels"]
            changed = f"{r['changed']} ({r['changed'] / r['drawn']:.0%})" if r["drawn"] else "—"
            margin = f"{r['mean_margin']:.2f}" if r["mean_margin"] is not None else "—"
            agree = f"{r['agree'] / r['reviewed']:.0%} of {r['reviewed']}" if r["reviewed"] else "—"
            cells = [r["title"] or r["key"], str(r["drawn"] or "—"), changed,
                     str(r["labels"] or "—"), margin, str(r["reviewed"] or "—"), agree]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == 0:
                    item.setToolTip(r["key"])
                if j:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.stats.setItem(i, j, item)
        if not any_data:
            self.stats_note.setText(
                "No data yet: statistics appear once critique runs (times drawn, how often the revision "
                "changed the answer) and AI-label runs (labels decided, agreement with reviewers) exist."
            )
        elif not self.stats_note.text().startswith("Statistics unavailable"):
            self.stats_note.setText(
                "Times drawn and changed answers come from critique chains made with this constitution; "
                "labels decided and agreement come from AI comparisons under each principle's key."
            )

    def _on_tab(self, index: int) -> None:
        if index == 3:
            self.show_version_diff()
        elif index == 4:
            self.refresh_stats()


def run_standalone(page_cls: type[Page], argv: list[str] | None = None) -> int:
    """Open one page on a project, alone in a window (for development)."""
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QApplication, QMainWindow

    from cai_desktop.ui.app import apply_style
    from cai_desktop.ui.main_window import import_store_lightly

    argv = sys.argv if argv is None else argv
    app = QApplication.instance() or QApplication(argv[:1])
    apply_style(app)
    import_store_lightly()
    from cai_desktop.store.project import Project

    page = page_cls()
    window = QMainWindow()
    window.setWindowTitle(f"CAI Desktop — {page.title}")
    window.setCentralWidget(page)
    window.resize(1200, 800)
    page.status_message.connect(lambda m: window.statusBar().showMessage(m, 8000))
    stack = getattr(page, "undo_stack", None)
    if stack is not None:
        undo = QAction("Undo", window, shortcut=QKeySequence.StandardKey.Undo, triggered=stack.undo)
        redo = QAction("Redo", window, shortcut=QKeySequence("Ctrl+Shift+Z"), triggered=stack.redo)
        window.addAction(undo)
        window.addAction(redo)
    if len(argv) > 1:
        path = Path(argv[1])
        project = Project.open(path) if path.exists() else Project.create(path)
        if not project.list_constitutions() and not project.query("SELECT id FROM prompt_sets LIMIT 1"):
            from cai_desktop.jobs.sample import add_starter_content

            add_starter_content(project)
        page.set_project(project)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(run_standalone(ConstitutionPage))
