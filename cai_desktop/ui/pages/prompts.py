"""Prompts: prompt sets and their prompts (paged table with search), import, train/test split.

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
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
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
from cai_desktop.ui.widgets.paged import PagedTableModel, search_field

SET_KINDS = ("red-team", "helpful", "other")
FILE_FORMATS = ("auto", "jsonl", "csv", "txt", "transcripts", "hf-disk")
PROMPT_COLUMNS = [("position", "#"), ("text", "Prompt"), ("category", "Category"), ("split", "Split")]


class ImportPromptsDialog(QDialog):
    """File, set name, kind, format, column, split settings, with checks before accepting."""

    def __init__(self, parent: QWidget | None = None, existing: list[str] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import prompts")
        self.setMinimumWidth(520)
        self.existing = existing or []
        form = QFormLayout(self)
        form.setVerticalSpacing(8)
        row = QHBoxLayout()
        self.path = QLineEdit()
        self.path.setPlaceholderText("JSONL, CSV, plain text, Human:/Assistant: transcripts, or a datasets folder")
        browse = QPushButton("File…")
        browse.clicked.connect(self._browse)
        folder = QPushButton("Folder…")
        folder.clicked.connect(self._browse_folder)
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        row.addWidget(folder)
        form.addRow("From", row)
        self.name = QLineEdit()
        self.name.setPlaceholderText("a new set, or an existing set to add to")
        form.addRow("Prompt set", self.name)
        self.kind = QComboBox()
        self.kind.addItems(SET_KINDS)
        self.kind.setToolTip("red-team prompts get critiques and revisions; helpful prompts keep the model helpful.")
        form.addRow("Kind", self.kind)
        self.fmt = QComboBox()
        self.fmt.addItems(FILE_FORMATS)
        form.addRow("Format", self.fmt)
        self.column = QLineEdit()
        self.column.setPlaceholderText("auto (prompt, text, question, …)")
        self.column.setToolTip("For JSONL/CSV/datasets: which column holds the prompt.")
        form.addRow("Column", self.column)
        self.test_fraction = QDoubleSpinBox()
        self.test_fraction.setRange(0.0, 0.9)
        self.test_fraction.setSingleStep(0.05)
        self.test_fraction.setValue(0.1)
        form.addRow("Test fraction", self.test_fraction)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        form.addRow("Split seed", self.seed)
        self.error = QLabel("")
        self.error.setObjectName("validationMessage")
        self.error.setWordWrap(True)
        form.addRow(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._check_accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Prompt file", "", "Prompts (*.jsonl *.json *.csv *.tsv *.txt);;All (*)")
        if path:
            self._set_path(path)

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "A datasets folder (save_to_disk)")
        if path:
            self._set_path(path)

    def _set_path(self, path: str) -> None:
        self.path.setText(path)
        if not self.name.text().strip():
            self.name.setText(Path(path).stem)

    def values(self) -> dict[str, Any]:
        return {
            "path": self.path.text().strip(),
            "name": self.name.text().strip(),
            "kind": self.kind.currentText(),
            "fmt": self.fmt.currentText(),
            "column": self.column.text().strip() or None,
            "seed": self.seed.value(),
            "test_fraction": self.test_fraction.value(),
        }

    def _check_accept(self) -> None:
        v = self.values()
        if not v["path"]:
            self.error.setText("Choose a file or folder to import.")
        elif not Path(v["path"]).exists():
            self.error.setText(f"No such file or folder: {v['path']}")
        elif not v["name"]:
            self.error.setText("Give the prompt set a name.")
        else:
            self.accept()


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
        ll.addWidget(self.btn_import)

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

    def refresh(self) -> None:
        keep = self.current_set()
        if self.project is None:
            self.sets = []
        else:
            from cai_desktop.store.prompts import list_prompt_sets

            self.sets = list_prompt_sets(self.project)
        self.set_table.blockSignals(True)
        self.set_table.setRowCount(len(self.sets))
        for i, s in enumerate(self.sets):
            for j, text in enumerate([s["name"], s["kind"], str(s["n"]), str(s["n_test"])]):
                item = QTableWidgetItem(text)
                if j >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.set_table.setItem(i, j, item)
        self.set_table.blockSignals(False)
        names = [s["name"] for s in self.sets]
        if names:
            self.select_set(keep if keep in names else names[0])
        else:
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
        s = next((x for x in self.sets if x["name"] == self.current_set()), None)
        if s is not None:
            self.split_seed.setValue(int(s.get("split_seed") or 0))
            self.split_fraction.setValue(float(s.get("test_fraction") or 0.0))
            self.set_title.setText(f"<b>{s['name']}</b> <span style='color:#4a5361'>({s['kind']})</span>")
        self.reload_prompts()

    def _where(self) -> tuple[str, list[Any]]:
        s = next((x for x in self.sets if x["name"] == self.current_set()), None)
        where, params = ["set_id = ?"], [s["id"] if s else -1]
        split = self.split_filter.currentData()
        if split:
            where.append("split = ?")
            params.append(split)
        text = self.search.text().strip()
        if text:
            where.append("(text LIKE ? OR category LIKE ?)")
            params += [f"%{text}%", f"%{text}%"]
        return " AND ".join(where), params

    def reload_prompts(self) -> None:
        if self.project is None:
            self.model.set_source(lambda o, n: [], lambda: 0)
            self.count_label.setText("")
            return
        project = self.project
        where, params = self._where()

        def fetch(offset: int, limit: int) -> list[dict[str, Any]]:
            return project.query(
                f"SELECT id, position, text, category, split FROM prompts WHERE {where} "
                "ORDER BY position LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )

        def count() -> int:
            return int(project.db.execute(f"SELECT COUNT(*) FROM prompts WHERE {where}", params).fetchone()[0])

        self.model.set_source(fetch, count)
        s = next((x for x in self.sets if x["name"] == self.current_set()), None)
        if s is None:
            self.count_label.setText("No prompt set yet: import one, or create the sample project.")
        else:
            shown = self.model.rowCount()
            total = s["n"]
            test = s["n_test"]
            self.count_label.setText(
                f"{shown:,} shown of {total:,} prompts · {total - test:,} train / {test:,} test "
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
        from cai_desktop.store.prompts import add_prompt_set

        try:
            rows = read_prompts(path, fmt=fmt, column=column)
            result = add_prompt_set(self.project, name, kind, rows, source=str(path), seed=seed,
                                    test_fraction=test_fraction)
        except CaiError as e:
            show_error(self, "Cannot import the prompts", str(e))
            return None
        self.refresh()
        self.select_set(name)
        skipped = f", {result['skipped']} skipped (duplicates or empty)" if result["skipped"] else ""
        self.status_message.emit(f"Imported {result['added']} prompts into {name!r}{skipped}.")
        return result

    def apply_split(self) -> None:
        name = self.current_set()
        if self.project is None or name is None:
            return
        from cai_desktop.store.prompts import resplit

        try:
            resplit(self.project, name, self.split_seed.value(), self.split_fraction.value())
        except CaiError as e:
            show_error(self, "Cannot split the prompts", str(e))
            return
        self.refresh()
        s = next(x for x in self.sets if x["name"] == name)
        self.status_message.emit(f"New split of {name!r}: {s['n'] - s['n_test']} train, {s['n_test']} test.")


if __name__ == "__main__":
    from cai_desktop.ui.pages.constitution import run_standalone

    sys.exit(run_standalone(PromptsPage))
