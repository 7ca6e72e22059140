"""The import-prompts dialog: file or datasets folder, set name, kind, format, column and split
settings, checked before it closes so the page only ever sees usable values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

SET_KINDS = ("red-team", "helpful", "other")
FILE_FORMATS = ("auto", "jsonl", "csv", "txt", "transcripts", "hf-disk")


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
