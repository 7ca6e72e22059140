"""The constitution page: a thin container. It picks the constitution, saves versions, imports and
exports files; the list of principles and one widget per tab (``principle_form``, ``meta``,
``few_shot``, ``versions``, ``stats``) show and edit the shared ``ConstitutionDocument``.

Every edit is a command on the document (``ui/commands.py``); ``undo_stack`` is exposed for the
main window's Edit menu (Undo: Ctrl+Z; Redo: the platform's key, Ctrl+Y and Ctrl+Shift+Z).
Run alone for development: ``python -m cai_desktop.ui.pages.constitution PROJECT``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.constitution import NEW_KEY, Constitution, Principle, slugify, validate
from cai_desktop.core.errors import CaiError
from cai_desktop.ui import commands as cmd
from cai_desktop.ui.pages import Page
from cai_desktop.ui.pages.constitution.few_shot import FewShotTab
from cai_desktop.ui.pages.constitution.import_dialog import ImportDialog
from cai_desktop.ui.pages.constitution.meta import MetaTab
from cai_desktop.ui.pages.constitution.principle_form import PrincipleTab
from cai_desktop.ui.pages.constitution.principles import PrinciplesPanel
from cai_desktop.ui.pages.constitution.priorities import PrioritiesTab
from cai_desktop.ui.pages.constitution.stats import StatisticsTab
from cai_desktop.ui.pages.constitution.versions import VersionsTab
from cai_desktop.ui.widgets.errors import show_error
from cai_desktop.ui.widgets.paged import plural

#: export choices in the file dialog: (filter text, core format, default suffix)
EXPORT_FORMATS = [
    ("CAI Desktop JSON (*.json)", "native", ".json"),
    ("CAI Desktop YAML (*.yaml *.yml)", "native", ".yaml"),
    ("Anthropic paper repository JSON (*.json)", "anthropic", ".json"),
    ("Hugging Face constitution JSON (*.json)", "hf", ".json"),
]


class ConstitutionPage(Page):
    title = "Constitution"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = cmd.ConstitutionDocument(Constitution(name="untitled"), self)
        self.undo_stack = self.doc.undo_stack
        self._new_name: str | None = None  # a constitution created here and not saved yet
        self._last_import = ("", "auto")  # the import dialog offers the last file and format again

        outer = QVBoxLayout(self)
        outer.setContentsMargins(14, 12, 14, 12)
        outer.setSpacing(10)
        outer.addLayout(self._build_top_bar())

        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        outer.addWidget(split, 1)
        self.principles = PrinciplesPanel(self.doc)
        split.addWidget(self.principles)
        self.tabs = QTabWidget()
        self.principle_tab = PrincipleTab(self.doc)
        self.meta_tab = MetaTab(self.doc)
        self.few_shot_tab = FewShotTab(self.doc)
        self.versions_tab = VersionsTab(self.doc)
        self.stats_tab = StatisticsTab(self.doc)
        self.priorities_tab = PrioritiesTab(self.doc)
        for tab in (self.principle_tab, self.meta_tab, self.priorities_tab, self.few_shot_tab, self.versions_tab,
                    self.stats_tab):
            self.tabs.addTab(tab, tab.title)
        split.addWidget(self.tabs)
        split.setSizes([300, 900])
        split.setStretchFactor(1, 1)

        self.principles.selected.connect(self.principle_tab.set_index)
        self.principles.added.connect(self._show_new_principle)
        self.versions_tab.restored.connect(lambda _v: self.tabs.setCurrentWidget(self.principle_tab))
        self.principle_tab.set_index(self.principles.current_index())
        self.doc.changed.connect(lambda *_: self._update_dirty())
        self.undo_stack.cleanChanged.connect(self._update_dirty)
        self._update_dirty()
        self._set_enabled(False)

    def _build_top_bar(self) -> QHBoxLayout:
        top = QHBoxLayout()
        top.setSpacing(8)
        top.addWidget(QLabel("<b>Constitution</b>"))
        self.picker = QComboBox()
        self.picker.setObjectName("constitutionPicker")
        # long names must not widen the window: the combo is sized for ~18 characters
        self.picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.picker.setMinimumContentsLength(18)
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
        self.save_note.setPlaceholderText("Version note (optional)")
        self.save_note.setMinimumWidth(150)
        top.addWidget(self.save_note, 1)
        self.btn_save = QPushButton("Save version")
        self.btn_save.setObjectName("primary")
        self.btn_save.setToolTip("Store the editor's state as a new version (old versions stay readable).")
        self.btn_save.clicked.connect(self.save)
        top.addWidget(self.btn_save)
        return top

    # -- the shared document ---------------------------------------------------------------------
    @property
    def constitution(self) -> Constitution:
        return self.doc.constitution

    def problems(self) -> list[str]:
        return validate(self.doc.constitution)

    def current_index(self) -> int:
        return self.principles.current_index()

    def add_principle(self) -> None:
        self.principles.add_principle()

    def add_draft_principle(self, draft: dict[str, Any], constitution: str | None = None) -> bool:
        """Put a draft principle (a teacher's, from a reviewer's note: ``jobs.implied.draft_principle``)
        into the editor as a new, undoable principle, shown for the person to edit; it is stored
        when they save a version. ``constitution`` is opened first when the editor holds no
        unsaved edits of another one. False when there is no project."""
        if self.project is None:
            return False
        if constitution and constitution != self.doc.constitution.name and not self.doc.dirty:
            names = [c["name"] for c in self.project.constitutions.list()]
            if constitution in names:
                self._show_in_picker(constitution)
                if self.doc.constitution.name != constitution:
                    self.load(constitution)
        tags = [t for t in draft.get("tags") or ["draft", "from-review"] if isinstance(t, str)]
        principle = Principle(
            key=str(draft.get("key") or "draft"), title=str(draft.get("title") or "Draft principle"),
            critique_request=str(draft.get("critique_request") or ""),
            revision_request=str(draft.get("revision_request") or ""),
            comparison_question=str(draft.get("comparison_question") or ""), tags=tags, enabled=True,
        )
        self._set_enabled(True)
        self.doc.push(cmd.AddPrinciple(self.doc, None, principle))
        row = len(self.doc.constitution.principles) - 1
        self.principles.list.setCurrentRow(row)
        self.principle_tab.set_index(row)
        self.tabs.setCurrentWidget(self.principle_tab)
        note = (draft.get("note") or "").strip()
        self.status_message.emit(
            f"Draft principle {principle.key!r} added to {self.doc.constitution.name!r} from a reviewer's note"
            + (f" (\"{note[:60]}\")" if note else "") + ": edit it, then save a version (Ctrl+Z removes it).")
        return True

    def _show_new_principle(self, _row: int) -> None:
        self.tabs.setCurrentWidget(self.principle_tab)
        self.principle_tab.focus_title()

    def remove_principle(self) -> None:
        self.principles.remove_principle()

    def move_principle(self, src: int, dst: int) -> None:
        self.principles.move_principle(src, dst)

    def edit_field(self, field: str, value: Any, index: int | None = None) -> None:
        """Set a field of a principle (default: the selected one) as an undoable edit."""
        self.principle_tab.edit_field(field, value, index)

    def set_enabled(self, index: int, on: bool) -> None:
        self.principles.set_enabled(index, on)

    def add_few_shot(self) -> None:
        self.tabs.setCurrentWidget(self.few_shot_tab)
        self.few_shot_tab.add_few_shot()

    def show_version_diff(self) -> str:
        return self.versions_tab.show_version_diff()

    def principle_statistics(self) -> list[dict[str, Any]]:
        return self.stats_tab.principle_statistics()

    # -- project ---------------------------------------------------------------------------------
    def set_project(self, project) -> None:
        self.project = project
        self._new_name = None
        if project is None:
            self.doc.reset(Constitution(name="untitled"))
            self._fill_picker([])
            self._set_enabled(False)
            self._update_sources()
            return
        self.refresh()

    def refresh(self, show: str | None = None) -> None:
        if self.project is None:
            return
        names = [c["name"] for c in self.project.constitutions.list()]
        self._fill_picker(names, show or self.picker.currentData())
        self._set_enabled(bool(names) or self._new_name is not None)
        self._update_sources()

    def _stored(self) -> bool:
        return self.project is not None and self.doc.constitution.name != self._new_name

    def _update_sources(self) -> None:
        """Tell the versions and statistics tabs what they read from."""
        self.versions_tab.set_source(self.project, self._stored())
        self.stats_tab.set_source(self.project, self._stored())

    def _fill_picker(self, names: list[str], keep: str | None = None) -> None:
        items = list(names)
        if self._new_name and self._new_name not in items:
            items.append(self._new_name)
        self.picker.blockSignals(True)
        self.picker.clear()
        for n in items:
            label = f"{n}  (new, not saved)" if n == self._new_name and n not in names else n
            self.picker.addItem(label, n)
            self.picker.setItemData(self.picker.count() - 1, label, Qt.ItemDataRole.ToolTipRole)
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
        if name == self._new_name and name not in [c["name"] for c in self.project.constitutions.list()]:
            return
        try:
            c = self.project.constitutions.get(name)
        except CaiError as e:
            show_error(self, "Cannot open the constitution", str(e))
            return
        row = max(0, self.principles.list.currentRow())
        self.doc.reset(c)
        if self.principles.list.count():
            self.principles.list.setCurrentRow(min(row, self.principles.list.count() - 1))
        self._update_sources()

    def _on_pick(self, index: int) -> None:
        name = self.picker.itemData(index)
        if not name or name == self.doc.constitution.name:
            return
        if not self.confirm_discard():
            self._show_in_picker(self.doc.constitution.name)
            return
        if self._new_name and self._new_name != name:
            self._new_name = None
            self.refresh()
            self._show_in_picker(name)
        self.load(name)

    def _show_in_picker(self, name: str) -> None:
        self.picker.blockSignals(True)
        self.picker.setCurrentIndex(max(0, self.picker.findData(name)))
        self.picker.blockSignals(False)

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
        for w in (self.principles, self.tabs, self.btn_save, self.btn_export, self.save_note):
            w.setEnabled(on)
        for w in (self.btn_new, self.btn_import, self.picker):
            w.setEnabled(self.project is not None)

    def _update_dirty(self, *_: Any) -> None:
        unsaved = self.doc.dirty or (self._new_name is not None and self._new_name == self.doc.constitution.name)
        self.dirty_label.setText("● Unsaved changes" if unsaved else "Saved")
        self.dirty_label.setStyleSheet("color:#b26a00;font-weight:600" if unsaved else "color:#4a5361")
        self.meta_tab.set_unsaved(unsaved)

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
            version = self.project.constitutions.save(c, note=self.save_note.text().strip())
        except CaiError as e:
            show_error(self, "Cannot save the constitution", str(e))
            return None
        self.save_note.clear()
        self.doc.mark_saved(version)
        if self._new_name == c.name:
            self._new_name = None
        self.refresh()
        self._update_dirty()
        self.status_message.emit(f"Saved constitution {c.name!r} as version {version}.")
        self.data_changed.emit({"constitutions"})
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
        if slug in [c["name"] for c in self.project.constitutions.list()]:
            show_error(self, "Name already used", f"A constitution named {slug!r} already exists; open it from the list.")
            return
        self._new_name = slug
        self.doc.reset(Constitution(name=slug, title=name.strip(), principles=[Principle(key=NEW_KEY)]),
                       saved=False)
        self._fill_picker([c["name"] for c in self.project.constitutions.list()], slug)
        self._set_enabled(True)
        self._update_sources()
        self.principles.list.setCurrentRow(0)
        self.tabs.setCurrentWidget(self.principle_tab)
        self._update_dirty()

    def _import_clicked(self) -> None:
        if self.project is None:
            return
        dlg = ImportDialog(self, *self._last_import)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return
        path, fmt = dlg.choice()
        self._last_import = (path, fmt)
        self.import_file(path, fmt)

    def import_file(self, path: str | Path, fmt: str = "auto") -> bool:
        """Read a constitution file in format ``fmt`` (``auto`` detects it). Into the editor
        (undoable, unsaved) when it has the name of the one shown; otherwise it is stored and
        shown, after asking, as switching in the list does, before unsaved edits are dropped."""
        from cai_desktop.core import formats

        if self.project is None:
            return False
        try:
            c = formats.load_file(path, fmt)
        except CaiError as e:
            problems = getattr(e, "problems", None) or []
            show_error(self, "Cannot import the constitution", str(e), "\n".join(problems))
            return False
        name = Path(path).name
        if c.name == self.doc.constitution.name:
            return self._import_into_editor(c, name)
        if not self.confirm_discard():
            self.status_message.emit(f"Import of {name} cancelled; your edits are kept.")
            return False
        names = [x["name"] for x in self.project.constitutions.list()]
        if c.name in names:
            # another stored constitution: show it, then put the file's contents in the editor
            self._new_name = None
            self.refresh(show=c.name)
            return self._import_into_editor(c, name)
        try:
            version = self.project.constitutions.save(c, note=f"imported from {name}")
        except CaiError as e:
            show_error(self, "Cannot import the constitution", str(e))
            return False
        self._new_name = None
        self.doc.reset(self.project.constitutions.get(c.name))
        self.refresh(show=c.name)
        self.status_message.emit(f"Imported {c.name!r} ({plural(len(c.principles), 'principle')}) as version {version}.")
        self.data_changed.emit({"constitutions"})
        return True

    def _import_into_editor(self, c: Constitution, file_name: str) -> bool:
        self.doc.push(cmd.ReplaceConstitution(self.doc, c, f"Import {file_name}"))
        self.status_message.emit(f"Imported {file_name} into the editor; save to keep it.")
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
