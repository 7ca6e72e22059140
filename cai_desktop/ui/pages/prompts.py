"""Prompts: prompt sets and their prompts (paged table with search), import, rename, delete,
train/test split.

Run alone for development: ``python -m cai_desktop.ui.pages.prompts PROJECT``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.errors import CaiError
from cai_desktop.ui.pages import Page
from cai_desktop.ui.widgets.errors import show_error
from cai_desktop.ui.widgets.import_prompts import FILE_FORMATS, SET_KINDS, ImportPromptsDialog  # noqa: F401 - re-exported
from cai_desktop.ui.widgets.paged import PagedTableModel, plural, search_field

PROMPT_COLUMNS = [("position", "#"), ("text", "Prompt"), ("category", "Category"), ("split", "Split")]


class PromptsPage(Page):
    title = "Prompts"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sets: list[dict[str, Any]] = []
        outer = QVBoxLayout(self)
        outer.setContentsMargins(14, 12, 14, 12)
        outer.setSpacing(10)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        outer.addWidget(split, 1)

        # left: sets
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 6, 0)
        ll.addWidget(QLabel("<b>Prompt sets</b>"))
        self.set_table = QTableWidget(0, 4)
        self.set_table.setObjectName("promptSets")
        self.set_table.setHorizontalHeaderLabels(["Name", "Kind", "Prompts", "Test"])
        self.set_table.verticalHeader().setVisible(False)
        self.set_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.set_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.set_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        hh = self.set_table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for i in (1, 2, 3):
            hh.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        self.set_table.itemSelectionChanged.connect(self._on_set_selected)
        ll.addWidget(self.set_table, 1)
        self.btn_import = QPushButton("Import prompts…")
        self.btn_import.setObjectName("primary")
        self.btn_import.clicked.connect(self._import_clicked)
        self.btn_rename = QPushButton("Rename…")
        self.btn_rename.setToolTip("Give the selected set another name; its chains and comparisons follow it.")
        self.btn_rename.clicked.connect(self._rename_clicked)
        self.btn_delete = QPushButton("Delete…")
        self.btn_delete.setToolTip("Delete the selected set and its prompts (refused while chains or "
                                   "comparisons were made from them).")
        self.btn_delete.clicked.connect(lambda: self.delete_set())
        self.btn_demos = QPushButton("Import demonstrations…")
        self.btn_demos.setToolTip("A JSONL file of the answers your reviewers want ({\"prompt\", \"response\"} per "
                                  "line, or {\"messages\": [...]}); SFT trains on them as human data.")
        self.btn_demos.clicked.connect(self._demos_clicked)
        set_buttons = QHBoxLayout()
        set_buttons.addWidget(self.btn_import, 1)
        set_buttons.addWidget(self.btn_demos)
        set_buttons.addWidget(self.btn_rename)
        set_buttons.addWidget(self.btn_delete)
        ll.addLayout(set_buttons)

        box = QGroupBox("Train/test split")
        bf = QFormLayout(box)
        self.split_seed = QSpinBox()
        self.split_seed.setRange(0, 2**31 - 1)
        self.split_seed.setToolTip("The split depends only on (seed, prompt text): the same seed gives the same split.")
        self.split_fraction = QDoubleSpinBox()
        self.split_fraction.setRange(0.0, 0.9)
        self.split_fraction.setSingleStep(0.05)
        self.split_fraction.setDecimals(2)
        self.btn_split = QPushButton("Apply split")
        self.btn_split.setToolTip("Draw the selected set's train/test split again with this seed and fraction.")
        self.btn_split.clicked.connect(self.apply_split)
        bf.addRow("Seed", self.split_seed)
        bf.addRow("Test fraction", self.split_fraction)
        bf.addRow("", self.btn_split)
        ll.addWidget(box)
        split.addWidget(left)

        # right: prompts of the selected set
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(6, 0, 0, 0)
        bar = QHBoxLayout()
        self.set_title = QLabel("<b>Prompts</b>")
        bar.addWidget(self.set_title)
        bar.addStretch(1)
        self.split_filter = QComboBox()
        self.split_filter.addItem("train and test", None)
        self.split_filter.addItem("train only", "train")
        self.split_filter.addItem("test only", "test")
        self.split_filter.currentIndexChanged.connect(lambda _i: self.reload_prompts())
        bar.addWidget(self.split_filter)
        self.search = search_field(self, "Search prompts…", self.reload_prompts, "promptSearch")
        self.search.setMinimumWidth(260)
        bar.addWidget(self.search)
        rl.addLayout(bar)
        self.model = PagedTableModel(PROMPT_COLUMNS, lambda o, n: [], lambda: 0, parent=self,
                                     formatters={"position": lambda v, _r: str((v or 0) + 1)})
        self.table = QTableView()
        self.table.setObjectName("promptTable")
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(26)
        th = self.table.horizontalHeader()
        # fixed widths: ResizeToContents would read every row of a big table
        th.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        th.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(0, 60)
        self.table.setColumnWidth(2, 120)
        self.table.setColumnWidth(3, 70)
        rl.addWidget(self.table, 1)
        self.count_label = QLabel("")
        self.count_label.setObjectName("subtitle")
        rl.addWidget(self.count_label)
        split.addWidget(right)
        split.setSizes([360, 840])
        split.setStretchFactor(1, 1)
        self._set_enabled(False)

    # -- data ----------------------------------------------------------------------------------
    def set_project(self, project) -> None:
        self.project = project
        self._set_enabled(project is not None)
        self.refresh()

    def _set_enabled(self, on: bool) -> None:
        for w in (self.btn_import, self.btn_split, self.search, self.split_filter, self.set_table, self.table):
            w.setEnabled(on)
        for w in (self.btn_rename, self.btn_delete):
            w.setEnabled(on and bool(self.sets))

    def refresh(self) -> None:
        keep = self.current_set()
        if self.project is None:
            self.sets = []
        else:

            self.sets = self.project.prompts.sets()
        self.set_table.blockSignals(True)
        self.set_table.setRowCount(len(self.sets))
        for i, s in enumerate(self.sets):
            for j, text in enumerate([s["name"], s["kind"], str(s["n"]), str(s["n_test"])]):
                item = QTableWidgetItem(text)
                if j >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.set_table.setItem(i, j, item)
        self.set_table.blockSignals(False)
        self._set_enabled(self.project is not None)
        names = [s["name"] for s in self.sets]
        if names:
            self.select_set(keep if keep in names else names[0])
        else:
            self.set_title.setText("<b>Prompts</b>")
            self.reload_prompts()

    def current_set(self) -> str | None:
        rows = self.set_table.selectionModel().selectedRows() if self.set_table.selectionModel() else []
        if rows and rows[0].row() < len(self.sets):
            return self.sets[rows[0].row()]["name"]
        return None

    def select_set(self, name: str) -> None:
        for i, s in enumerate(self.sets):
            if s["name"] == name:
                self.set_table.selectRow(i)
                self._on_set_selected()
                return

    def _on_set_selected(self) -> None:
        s = self._current()
        if s is not None:
            self.split_seed.setValue(int(s.get("split_seed") or 0))
            self.split_fraction.setValue(float(s.get("test_fraction") or 0.0))
            self.set_title.setText(f"<b>{s['name']}</b> <span style='color:#4a5361'>({s['kind']})</span>")
        self.reload_prompts()

    def _current(self) -> dict[str, Any] | None:
        return next((x for x in self.sets if x["name"] == self.current_set()), None)

    def reload_prompts(self) -> None:
        if self.project is None:
            self.model.set_source(lambda o, n: [], lambda: 0)
            self.count_label.setText("")
            return

        project, s = self.project, self._current()
        set_id = s["id"] if s else -1
        f = {"split": self.split_filter.currentData(), "search": self.search.text().strip() or None}
        self.model.set_source(lambda o, n: project.prompts.list(set_id, o, n, **f),
                              lambda: project.prompts.count(set_id, **f))
        if s is None:
            self.count_label.setText("No prompt set yet: import one, or create the sample project.")
        else:
            shown, total, test = self.model.rowCount(), s["n"], s["n_test"]
            self.count_label.setText(
                f"{shown:,} shown of {plural(total, 'prompt')} · {total - test:,} train / {test:,} test "
                f"(seed {s.get('split_seed') or 0}, test fraction {float(s.get('test_fraction') or 0):.2f})"
            )

    # -- actions -------------------------------------------------------------------------------
    def _import_clicked(self) -> None:
        if self.project is None:
            return
        dlg = ImportPromptsDialog(self, [s["name"] for s in self.sets])
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.import_prompts(**dlg.values())

    def import_prompts(
        self, path: str | Path, name: str, kind: str = "red-team", fmt: str = "auto", column: str | None = None,
        seed: int = 0, test_fraction: float = 0.1,
    ) -> dict[str, int] | None:
        """Read a prompt file into a set (new or existing); returns the counts or None on error."""
        if self.project is None:
            return None
        from cai_desktop.core.prompt_files import read_prompts

        try:
            rows = read_prompts(path, fmt=fmt, column=column)
            result = self.project.prompts.add_set(name, kind, rows, source=str(path), seed=seed,
                                    test_fraction=test_fraction)
        except CaiError as e:
            show_error(self, "Cannot import the prompts", str(e))
            return None
        self.refresh()
        self.select_set(name)
        skipped = f", {result['skipped']} skipped (duplicates or empty)" if result["skipped"] else ""
        self.status_message.emit(f"Imported {plural(result['added'], 'prompt')} into {name!r}{skipped}.")
        self.data_changed.emit({"prompts"})
        return result

    def _demos_clicked(self) -> None:
        if self.project is None:
            return
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self, "Import demonstrations", "", "JSON lines (*.jsonl *.json);;All (*)")
        if path:
            self.import_demonstrations(path)

    def import_demonstrations(self, path: str | Path, prompt_set: str = "demonstrations") -> dict | None:
        """Human demonstrations from a file: prompts into ``prompt_set`` and one human-answer chain each."""
        if self.project is None:
            return None
        from cai_desktop.jobs.demos import add_demonstrations, read_demonstrations

        try:
            result = add_demonstrations(self.project, read_demonstrations(path), prompt_set=prompt_set,
                                        source=str(path))
        except CaiError as e:
            show_error(self, "Cannot import the demonstrations", str(e))
            return None
        self.refresh()
        self.select_set(prompt_set)
        self.status_message.emit(f"Imported {plural(result['demonstrations'], 'demonstration')} into {prompt_set!r}; "
                                 "the inspector shows them and SFT trains on them as human data.")
        self.data_changed.emit({"prompts", "chains", "runs"})
        return result

    def _rename_clicked(self) -> None:
        name = self.current_set()
        if name is None:
            return
        new, ok = QInputDialog.getText(self, "Rename the prompt set", f"New name for {name!r}:", text=name)
        if ok:
            self.rename_set(new, name)

    def rename_set(self, new_name: str, name: str | None = None) -> bool:
        """Rename the set (the selected one unless ``name``); chains and comparisons follow it."""
        name = name or self.current_set()
        if self.project is None or name is None:
            return False

        try:
            self.project.prompts.rename_set(name, new_name)
        except CaiError as e:
            show_error(self, "Cannot rename the prompt set", str(e))
            return False
        self.refresh()
        self.select_set(new_name.strip())
        self.status_message.emit(f"Prompt set {name!r} is now {new_name.strip()!r}.")
        self.data_changed.emit({"prompts"})
        return True

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes/no (tests replace this)."""
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def delete_set(self, name: str | None = None) -> bool:
        """Delete a set after a confirmation that says how many prompts go.

        A set whose prompts have chains, response pairs or comparisons is refused with a message
        saying what was made from it: reviewed work and training data must never disappear as a
        side effect of tidying the prompt list (renaming is offered instead).
        """
        name = name or self.current_set()
        if self.project is None or name is None:
            return False
        from cai_desktop.store.prompts import describe_usage

        try:
            usage = self.project.prompts.usage(name)
        except CaiError as e:
            show_error(self, "Cannot delete the prompt set", str(e))
            return False
        made = describe_usage(usage)
        if made:
            show_error(self, "The prompt set is kept",
                       f"{name!r} has {plural(usage['prompts'], 'prompt')}, and work was made from them "
                       f"({made}). Deleting the set would lose that work, so it is kept; rename it if the "
                       "name is in the way.")
            return False
        if not self.confirm("Delete the prompt set",
                            f"Delete {name!r} and its {plural(usage['prompts'], 'prompt')}? No chains or "
                            "comparisons were made from them. This cannot be undone."):
            return False
        try:
            n = self.project.prompts.delete_set(name)
        except CaiError as e:
            show_error(self, "Cannot delete the prompt set", str(e))
            return False
        self.refresh()
        self.status_message.emit(f"Deleted the prompt set {name!r} ({plural(n, 'prompt')}).")
        self.data_changed.emit({"prompts"})
        return True

    def apply_split(self) -> None:
        name = self.current_set()
        if self.project is None or name is None:
            return

        try:
            self.project.prompts.resplit(name, self.split_seed.value(), self.split_fraction.value())
        except CaiError as e:
            show_error(self, "Cannot split the prompts", str(e))
            return
        self.refresh()
        s = next(x for x in self.sets if x["name"] == name)
        self.status_message.emit(f"New split of {name!r}: {s['n'] - s['n_test']:,} train, {s['n_test']:,} test.")
        self.data_changed.emit({"prompts"})


if __name__ == "__main__":
    from cai_desktop.ui.pages.constitution import run_standalone

    sys.exit(run_standalone(PromptsPage))
