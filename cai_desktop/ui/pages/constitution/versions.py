"""The "Versions" tab: any two saved versions (or the editor's unsaved state) side by side as a
word-level diff, and loading an old version back into the editor. Run alone: ``python -m
cai_desktop.ui.pages.constitution.versions PROJECT``."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.errors import CaiError
from cai_desktop.ui import commands as cmd
from cai_desktop.ui.widgets.errors import show_error

EDITOR_VERSION = -1  # the "to" entry that means "what is in the editor now"


def _version_combo(name: str) -> QComboBox:
    """A version picker whose width does not grow with the notes in its items (a long note would
    otherwise widen the whole window); the full label is in each item's tooltip."""
    combo = QComboBox()
    combo.setObjectName(name)
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(14)
    return combo


class VersionsTab(QWidget):
    """Compares versions of the constitution shown in the editor."""

    title = "Versions"
    #: a version was loaded into the editor (the page shows the principles again)
    restored = Signal(int)

    def __init__(self, doc: cmd.ConstitutionDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.project = None
        self.stored = False  # whether the shown constitution has a saved history
        self._stale = True
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 12, 14, 12)
        row = QHBoxLayout()
        self.v_from = _version_combo("versionFrom")
        self.v_to = _version_combo("versionTo")
        self.v_from.currentIndexChanged.connect(lambda _i: self.show_version_diff())
        self.v_to.currentIndexChanged.connect(lambda _i: self.show_version_diff())
        row.addWidget(QLabel("Compare"))
        row.addWidget(self.v_from, 1)
        row.addWidget(QLabel("with"))
        row.addWidget(self.v_to, 1)
        self.btn_restore = QPushButton("Load into editor")
        self.btn_restore.setToolTip(
            "Replace the editor's contents with the left version (undoable; save to keep it).")
        self.btn_restore.clicked.connect(self.restore_version)
        row.addWidget(self.btn_restore)
        lay.addLayout(row)
        self.version_diff = QTextBrowser()
        self.version_diff.setObjectName("versionDiff")
        self.version_diff.setOpenLinks(False)
        self.version_diff.setLineWrapMode(QTextBrowser.LineWrapMode.WidgetWidth)
        lay.addWidget(self.version_diff, 1)
        doc.changed.connect(self._on_doc_changed)

    def set_source(self, project, stored: bool) -> None:
        """The project to read versions from; ``stored`` is False for a constitution created in
        the editor and not saved yet (it has no history)."""
        self.project = project
        self.stored = stored
        self.refresh()

    def refresh(self) -> None:
        """Read the version list again (after a save, a load, a job)."""
        versions: list[dict[str, Any]] = []
        if self.project is not None and self.stored:
            try:
                versions = self.project.constitutions.versions(self.doc.constitution.name)
            except CaiError:
                versions = []
        for combo in (self.v_from, self.v_to):
            combo.blockSignals(True)
            combo.clear()
        for v in versions:
            label = f"v{v['version']}  {str(v.get('created_at') or '')[:16].replace('T', ' ')}"
            if v.get("note"):
                label += f"  — {v['note']}"
            for combo in (self.v_from, self.v_to):
                combo.addItem(label, v["version"])
                combo.setItemData(combo.count() - 1, label, Qt.ItemDataRole.ToolTipRole)
        self.v_to.addItem("the editor (unsaved state)", EDITOR_VERSION)
        if versions:
            self.v_from.setCurrentIndex(max(0, len(versions) - 2) if len(versions) > 1 else 0)
            self.v_to.setCurrentIndex(len(versions) - 1 if len(versions) > 1 else len(versions))
        for combo in (self.v_from, self.v_to):
            combo.blockSignals(False)
        self.btn_restore.setEnabled(bool(versions))
        self.show_version_diff()

    def _on_doc_changed(self, *_: Any) -> None:
        if self.v_to.currentData() != EDITOR_VERSION:
            return
        if self.isVisible():
            self.show_version_diff()
        else:
            self._stale = True  # diffing on every keystroke nobody sees is wasted work

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self._stale:
            self.show_version_diff()

    def _version_dict(self, version: int | None) -> dict[str, Any] | None:
        if version is None:
            return None
        if version == EDITOR_VERSION:
            return self.doc.constitution.to_dict()
        if self.project is None:
            return None
        try:
            return self.project.constitutions.get(self.doc.constitution.name, version).to_dict()
        except CaiError:
            return None

    def show_version_diff(self) -> str:
        """Render the diff between the two chosen versions; returns the HTML shown."""
        from cai_desktop.core.diff import changes_html, constitution_changes

        self._stale = False
        a = self._version_dict(self.v_from.currentData())
        b = self._version_dict(self.v_to.currentData())
        if a is None or b is None:
            text = "<p style='color:#4a5361'>Save the constitution to start its version history.</p>"
        else:
            text = changes_html(constitution_changes(a, b), self.v_from.currentText().split("  ")[0],
                                self.v_to.currentText().split("  ")[0])
        self.version_diff.setHtml(text)
        return text

    def restore_version(self) -> None:
        """Put the left version into the editor as one undoable command."""
        v = self.v_from.currentData()
        if v is None or self.project is None:
            return
        try:
            c = self.project.constitutions.get(self.doc.constitution.name, v)
        except CaiError as e:
            show_error(self, "Cannot load that version", str(e))
            return
        self.doc.push(cmd.ReplaceConstitution(self.doc, c, f"Load version {v}"))
        self.restored.emit(v)


if __name__ == "__main__":
    import sys

    from cai_desktop.ui.pages.constitution.standalone import show_alone

    sys.exit(show_alone(VersionsTab, lambda tab, project: tab.set_source(project, True)))
