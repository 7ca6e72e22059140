"""The import dialog: a file and the format to read it as (detected, or chosen when a file's
shape is ambiguous). Run alone: ``python -m cai_desktop.ui.pages.constitution.import_dialog``."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.formats import FORMAT_LABELS, READ_FORMATS
from cai_desktop.ui.pages.constitution.common import wrapping_label

IMPORT_FILTER = "Constitutions (*.json *.yaml *.yml);;All files (*)"
#: (code, label) in the order the dialog offers them; the code is what the CLI's option takes
IMPORT_FORMATS = [(code, FORMAT_LABELS[code] if code == "auto" else f"{FORMAT_LABELS[code]} ({code})")
                  for code in READ_FORMATS]


class ImportDialog(QDialog):
    """Asks for a constitution file and its format; ``choice()`` gives ``(path, format code)``."""

    def __init__(self, parent: QWidget | None = None, path: str = "", fmt: str = "auto",
                 message: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Import a constitution")
        lay = QVBoxLayout(self)
        self.message = wrapping_label(message, "validationMessage")
        self.message.setVisible(bool(message))
        lay.addWidget(self.message)
        form = QFormLayout()
        row = QHBoxLayout()
        self.path = QLineEdit(path)
        self.path.setPlaceholderText("A .json or .yaml file")
        self.path.setMinimumWidth(260)
        self.path.textChanged.connect(self._update_ok)
        self.btn_browse = QPushButton("Browse…")
        self.btn_browse.clicked.connect(self.browse)
        row.addWidget(self.path, 1)
        row.addWidget(self.btn_browse)
        form.addRow("File", row)
        self.format = QComboBox()
        self.format.setObjectName("importFormat")
        for code, label in IMPORT_FORMATS:
            self.format.addItem(label, code)
        self.format.setCurrentIndex(max(0, self.format.findData(fmt)))
        self.format.setToolTip(
            "Detect automatically reads CAI Desktop's own files, Anthropic's paper repository "
            "({name: {prompt, edit_request}}) and Hugging Face's ({constitutions: [...]}). Choose "
            "one when a file could be read more than one way.")
        form.addRow("Format", self.format)
        lay.addLayout(form)
        lay.addWidget(wrapping_label(
            "A constitution with the name of the one in the editor is read into the editor (undoable, "
            "save to keep it); any other is stored as a constitution of its own.", "subtitle"))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self._update_ok()

    def browse(self) -> None:
        start = str(Path(self.path.text()).parent) if self.path.text() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Import a constitution", start, IMPORT_FILTER)
        if path:
            self.path.setText(path)

    def _update_ok(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.path.text().strip()))

    def choice(self) -> tuple[str, str]:
        """The file and the format code (``auto``, ``native``, ``anthropic`` or ``hf``)."""
        return self.path.text().strip(), self.format.currentData()


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    dlg = ImportDialog()
    if dlg.exec():
        print(dlg.choice())
