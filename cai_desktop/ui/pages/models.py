"""Models: the embedded default, added folders / GGUF files / hub ids, produced adapters, the
project's model roles, try-it.

The roles box assigns a model (any listed one, or a typed spec), a device and a precision to the
student, the teacher and the feedback model (``project.roles``); an unset role says what it falls
back to. The try-it pane answers one prompt with two chosen models side by side; it runs through
the job runner like every other job, so the window stays responsive while a model loads. Nothing
here resolves or looks up a model on the GUI thread: adding one (or typing one for a role) is
checked by a background call (a hub id may wait on the network), and try-it finds and loads its
models in the job.
"""

from __future__ import annotations

import html
import json
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.errors import CaiError
from cai_desktop.ui.pages import Page

EMBEDDED_LABEL = "SmolLM2-135M-Instruct (embedded default)"
ROLE_NAMES = {"student": "Student", "teacher": "Teacher", "feedback": "Feedback"}
ROLE_HELP = {
    "student": "The model that is trained (SFT, preference training, PPO) and samples response pairs.",
    "teacher": "Writes the critiques, revisions and constitution-conditioned answers.",
    "feedback": "Answers the multiple-choice comparisons: the AI labels (the paper used a pretrained LM).",
}
DEVICE_CHOICES = (("automatic", None), ("CPU", "cpu"), ("CUDA GPU", "cuda"), ("Apple MPS", "mps"))
DTYPE_CHOICES = (("automatic", None), ("float32", "float32"), ("bfloat16", "bfloat16"), ("float16", "float16"))


def _packaged_models() -> list[tuple[str, str]]:
    """Models that installed packages ship (cheap: finds the packages without importing them)."""
    from cai_desktop.engine.models import installed_packaged_models

    return installed_packaged_models()


def _check_model(ctx: Any, spec: str) -> dict[str, str]:
    """Runs in a background thread: is ``spec`` a model (a hub id is looked up)?"""
    from cai_desktop.engine.models import check_model

    return check_model(spec)


class ModelsPage(Page):
    title = "Models"
    #: spec as recorded, display name (after a background check succeeded)
    model_added = Signal(str, str)
    #: spec as typed, one-line reason
    model_refused = Signal(str, str)
    #: role, spec: a typed model was checked in the background and given the role
    role_set = Signal(str, str)
    #: role, one-line reason: a typed model for a role was not a model
    role_refused = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = None
        self.tryit_job: int | None = None
        self.export_job: int | None = None
        self.last_result: dict[str, Any] | None = None
        self.checking: dict[str, Any] = {}  # spec -> its BackgroundCall, while it is checked
        self.role_rows: dict[str, dict[str, Any]] = {}
        self.role_checking: dict[str, str] = {}  # role -> the typed spec being checked
        self._filling_roles = False

        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 10, 12, 10)
        split = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(split, 1)

        # left: what models there are
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("<b>Models and adapters</b>"))
        self.tree = QTreeWidget()
        self.tree.setObjectName("modelsTree")
        self.tree.setHeaderLabels(["Name", "Kind", "Where"])
        self.tree.setColumnWidth(0, 230)
        self.tree.setColumnWidth(1, 80)
        self.tree.currentItemChanged.connect(self._on_selected)
        ll.addWidget(self.tree, 1)
        row = QHBoxLayout()
        self.btn_folder = QPushButton("Add folder…")
        self.btn_gguf = QPushButton("Add GGUF…")
        self.btn_hub = QPushButton("Add hub id…")
        self.btn_folder.clicked.connect(self._add_folder)
        self.btn_gguf.clicked.connect(self._add_gguf)
        self.btn_hub.clicked.connect(self._add_hub)
        self.btn_remove = QPushButton("Remove")
        self.btn_remove.setObjectName("removeModel")
        self.btn_remove.setToolTip("Take the selected added model off this project's lists (files and runs stay).")
        self.btn_remove.setEnabled(False)
        self.btn_remove.clicked.connect(self.remove_selected_model)
        self.btn_export = QPushButton("Export GGUF…")
        self.btn_export.setObjectName("exportGguf")
        self.btn_export.setToolTip("Merge the selected adapter into its base model and write it as GGUF files "
                                   "(f16 and q8_0) with an Ollama Modelfile, for llama.cpp and Ollama.")
        self.btn_export.setEnabled(False)
        self.btn_export.clicked.connect(lambda: self.export_selected_adapter())
        for b in (self.btn_folder, self.btn_gguf, self.btn_hub, self.btn_remove, self.btn_export):
            row.addWidget(b)
        ll.addLayout(row)
        self.add_status = QLabel("")
        self.add_status.setObjectName("modelAddStatus")
        self.add_status.setWordWrap(True)
        ll.addWidget(self.add_status)
        ll.addWidget(self._build_roles_box())
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(120)
        self.details.setPlaceholderText("Select a model or an adapter to see its details and lineage.")
        ll.addWidget(self.details)
        split.addWidget(left)

        # right: try it
        right = QGroupBox("Try it: one prompt, two models")
        rl = QVBoxLayout(right)
        self.prompt = QPlainTextEdit()
        self.prompt.setObjectName("tryitPrompt")
        self.prompt.setPlaceholderText("Write a prompt, choose two models, and press Answer.")
        self.prompt.setMaximumHeight(110)
        rl.addWidget(self.prompt)
        form = QFormLayout()
        self.combo_a = QComboBox()
        self.combo_b = QComboBox()
        for c in (self.combo_a, self.combo_b):
            c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            c.setMinimumContentsLength(18)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 4096)
        self.max_tokens.setValue(128)
        self.max_tokens.setToolTip("The longest answer, in tokens. Answers are greedy (repeatable).")
        form.addRow("Model A", self.combo_a)
        form.addRow("Model B", self.combo_b)
        form.addRow("Max new tokens", self.max_tokens)
        rl.addLayout(form)
        brow = QHBoxLayout()
        self.btn_answer = QPushButton("Answer")
        self.btn_answer.setObjectName("primary")
        self.btn_answer.clicked.connect(self.answer)
        self.tryit_status = QLabel("")
        brow.addWidget(self.btn_answer)
        brow.addWidget(self.tryit_status, 1)
        rl.addLayout(brow)
        sides = QHBoxLayout()
        self.out_a = QTextBrowser()
        self.out_b = QTextBrowser()
        for name, w in (("A", self.out_a), ("B", self.out_b)):
            box = QGroupBox(f"Model {name}")
            bl = QVBoxLayout(box)
            bl.addWidget(w)
            sides.addWidget(box)
        rl.addLayout(sides, 1)
        split.addWidget(right)
        split.setSizes([560, 640])
        self.refresh()

    # -- wiring --------------------------------------------------------------------------------
    def set_runner(self, runner) -> None:
        self.runner = runner
        runner.job_finished.connect(self._on_finished)
        runner.job_ended.connect(self._on_ended)
        runner.job_progress.connect(self._on_progress)

    def refresh(self) -> None:
        self.tree.clear()
        emb = QTreeWidgetItem([EMBEDDED_LABEL, "embedded", "bundled with the app"])
        emb.setData(0, Qt.ItemDataRole.UserRole, {"type": "model", "spec": "default", "kind": "embedded"})
        self.tree.addTopLevelItem(emb)
        choices: list[tuple[str, tuple[str | None, str | None]]] = [(EMBEDDED_LABEL, (None, None))]
        models_root = QTreeWidgetItem(["Added models", "", ""])
        adapters_root = QTreeWidgetItem(["Adapters produced", "", ""])
        has = self.project is not None
        packaged = _packaged_models()
        packaged_specs = {spec for spec, _name in packaged}
        # packaged models come before the added ones: try-it's model B starts on the newest added one
        choices += [(name, (spec, None)) for spec, name in packaged]
        for b in (self.btn_folder, self.btn_gguf, self.btn_hub):
            b.setEnabled(has)
        if has:
            for m in self.project.models.list():
                if m["spec"] in ("default", "embedded") or m["spec"] in packaged_specs:
                    continue  # listed on their own
                it = QTreeWidgetItem([m["display_name"] or m["spec"], m["kind"], m["spec"]])
                it.setToolTip(2, m["spec"])
                it.setData(0, Qt.ItemDataRole.UserRole, {"type": "model", **m})
                models_root.addChild(it)
                choices.append((m["display_name"] or m["spec"], (m["spec"], None)))
            for a in self.project.adapters.list():
                label = a["name"] or a["path"]
                it = QTreeWidgetItem([label, a["kind"], a["path"]])
                it.setToolTip(2, a["path"])
                it.setData(0, Qt.ItemDataRole.UserRole, {"type": "adapter", **a})
                adapters_root.addChild(it)
                base = a.get("base_model_spec") or None
                choices.append((f"{label} (adapter on {base or 'default'})", (base, a["path"])))
        for root in (models_root, adapters_root):
            if root.childCount() == 0:
                root.addChild(QTreeWidgetItem(["(none yet)", "", ""]))
            self.tree.addTopLevelItem(root)
            root.setExpanded(True)
        if packaged:
            pkg_root = QTreeWidgetItem(["Shipped by installed packages", "", ""])
            for spec, name in packaged:
                it = QTreeWidgetItem([name, "package", spec])
                it.setToolTip(2, f"model spec: {spec} (converted once into the model cache when first used)")
                it.setData(0, Qt.ItemDataRole.UserRole, {"type": "model", "spec": spec, "kind": "packaged"})
                pkg_root.addChild(it)
            self.tree.addTopLevelItem(pkg_root)
            pkg_root.setExpanded(True)
        for combo in (self.combo_a, self.combo_b):
            keep = combo.currentData()
            combo.clear()
            for text, data in choices:
                combo.addItem(text, data)
            i = combo.findData(keep) if keep is not None else -1
            combo.setCurrentIndex(i if i >= 0 else 0)
        if self.combo_b.currentIndex() == 0 and self.combo_b.count() > 1:
            self.combo_b.setCurrentIndex(self.combo_b.count() - 1)
        self.btn_answer.setEnabled(self.tryit_job is None)
        self.btn_remove.setEnabled(has and self._selected_model() is not None)
        self.refresh_roles(packaged)

    def _selected_model(self) -> dict[str, Any] | None:
        item = self.tree.currentItem()
        data = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if data and data.get("type") == "model" and data.get("kind") not in ("embedded", "packaged") and data.get("spec"):
            return data
        return None

    def _selected_adapter(self) -> dict[str, Any] | None:
        """The selected adapter when it is a policy one (a reward model's adapter is no chat model)."""
        from cai_desktop.jobs.ppo import POLICY_ADAPTER_KINDS

        item = self.tree.currentItem()
        data = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if self.project is not None and data and data.get("type") == "adapter" and data.get("kind") in POLICY_ADAPTER_KINDS:
            return data
        return None

    def export_selected_adapter(self, folder: str | None = None) -> int | None:
        """Export the selected adapter as GGUF in a job; ``folder`` (else asked) receives a new
        ``<adapter>-gguf`` folder unless it is empty itself. Returns the job id."""
        import re
        from pathlib import Path

        from cai_desktop.jobs.gguf_export import KIND, GgufExportParams, run_gguf_export

        adapter = self._selected_adapter()
        if adapter is None or self.export_job is not None:
            return None
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Export GGUF: choose a folder")
            if not folder:
                return None
        where = Path(folder)
        if where.is_dir() and any(where.iterdir()):
            name = re.sub(r"[^A-Za-z0-9._-]+", "-", adapter.get("name") or f"adapter-{adapter['id']}").strip("-")
            where = where / f"{name or 'adapter'}-gguf"
        params = GgufExportParams(str(self.project.path), int(adapter["id"]), str(where))
        try:
            params.check()
        except CaiError as e:
            from cai_desktop.ui.widgets.errors import show_error

            show_error(self, "Export GGUF", str(e))
            return None
        if self.runner is None:
            from cai_desktop.ui.jobrunner import JobRunner

            self.set_runner(JobRunner(self))
        self.export_job = self.runner.submit(KIND, run_gguf_export, params, f"Export GGUF: {adapter.get('name') or adapter['id']}")
        self.btn_export.setEnabled(False)
        self.add_status.setText(f"Exporting GGUF files to {where}…")
        return self.export_job

    def _on_selected(self, item, _prev) -> None:
        data = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        self.btn_remove.setEnabled(self.project is not None and self._selected_model() is not None)
        self.btn_export.setEnabled(self.export_job is None and self._selected_adapter() is not None)
        if not data:
            self.details.clear()
            return
        shown = dict(data)
        for key in ("info_json", "lineage_json"):
            if key in shown:
                try:
                    shown[key.removesuffix("_json")] = json.loads(shown.pop(key) or "{}")
                except json.JSONDecodeError:
                    pass
        self.details.setPlainText(json.dumps(shown, indent=2, ensure_ascii=False, default=str))

    # -- model roles ---------------------------------------------------------------------------
    def _build_roles_box(self) -> QGroupBox:
        box = QGroupBox("Model roles")
        box.setObjectName("rolesBox")
        box.setToolTip("Which model plays which role in this project. A job's own model setting wins over "
                       "its role; each run records the models it used.")
        grid = QGridLayout(box)
        grid.setContentsMargins(8, 6, 8, 6)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(2)
        for col, head in enumerate(("", "Model", "Device", "Precision")):
            if head:
                grid.addWidget(QLabel(f"<small>{head}</small>"), 0, col)
        for i, role in enumerate(("student", "teacher", "feedback")):
            r = 1 + 2 * i
            name = QLabel(ROLE_NAMES[role])
            name.setToolTip(ROLE_HELP[role])
            model = QComboBox()
            model.setObjectName(f"role_{role}_model")
            model.setEditable(True)
            model.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
            model.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            model.setMinimumContentsLength(20)
            model.setToolTip(ROLE_HELP[role] + " Pick a listed model or type a folder, a .gguf file or a hub id "
                             "and press Enter (it is checked in the background).")
            model.lineEdit().setPlaceholderText("a listed model, a folder, a .gguf file or org/name")
            device = QComboBox()
            device.setObjectName(f"role_{role}_device")
            for text, value in DEVICE_CHOICES:
                device.addItem(text, value)
            device.setToolTip("Where this role's model runs; automatic: a GPU when there is one, else the CPU.")
            dtype = QComboBox()
            dtype.setObjectName(f"role_{role}_dtype")
            for text, value in DTYPE_CHOICES:
                dtype.addItem(text, value)
            dtype.setToolTip("The precision of this role's weights; automatic: bfloat16 or float16 on a GPU, "
                             "float32 (or native bfloat16) on a CPU.")
            note = QLabel("")
            note.setObjectName(f"role_{role}_note")
            note.setWordWrap(True)
            note.setStyleSheet("color: palette(placeholder-text);")
            grid.addWidget(name, r, 0)
            grid.addWidget(model, r, 1)
            grid.addWidget(device, r, 2)
            grid.addWidget(dtype, r, 3)
            grid.addWidget(note, r + 1, 1, 1, 3)
            model.activated.connect(lambda _i, role=role: self._on_role_model_chosen(role))
            model.lineEdit().returnPressed.connect(lambda role=role: self._on_role_model_chosen(role))
            device.activated.connect(lambda _i, role=role: self._on_role_option_chosen(role))
            dtype.activated.connect(lambda _i, role=role: self._on_role_option_chosen(role))
            self.role_rows[role] = {"model": model, "device": device, "dtype": dtype, "note": note}
        grid.setColumnStretch(1, 1)
        self.roles_status = QLabel("")
        self.roles_status.setObjectName("rolesStatus")
        self.roles_status.setWordWrap(True)
        grid.addWidget(self.roles_status, 7, 0, 1, 4)
        return box

    def _model_names(self, packaged: list[tuple[str, str]] | None = None) -> dict[str, str]:
        """spec -> the name to show, for the models this project lists (and packaged ones)."""
        names = {"default": "SmolLM2-135M-Instruct (embedded)"}
        for spec, name in packaged if packaged is not None else _packaged_models():
            names[spec] = name
        if self.project is not None:
            for m in self.project.models.list():
                if m["spec"] not in ("default", "embedded"):
                    names[m["spec"]] = m["display_name"] or m["spec"]
        return names

    @staticmethod
    def _fallback_text(role: str, assigned: dict[str, Any], names: dict[str, str]) -> str:
        """What an unset role falls back to, in words."""
        if assigned["inherited"] == "student":
            spec = assigned["spec"]
            name = "the embedded SmolLM2-135M-Instruct" if spec in ("default", "embedded") else names.get(spec, spec)
            return f"same as the student ({name})"
        return "embedded default (SmolLM2-135M-Instruct)"

    def refresh_roles(self, packaged: list[tuple[str, str]] | None = None) -> None:
        """Show the project's roles: each model, device and precision, and what unset ones use."""
        has = self.project is not None
        names = self._model_names(packaged)
        self._filling_roles = True
        try:
            for role, row in self.role_rows.items():
                for w in ("model", "device", "dtype"):
                    row[w].setEnabled(has)
                model: QComboBox = row["model"]
                model.clear()
                if not has:
                    row["note"].setText("")
                    continue
                assigned = self.project.roles.get(role)
                fallback = self._fallback_text(role, assigned, names)
                model.addItem("Not set (same as the student)" if assigned["inherited"] == "student"
                              else "Not set (embedded default)", None)
                for spec, name in names.items():
                    model.addItem(name, spec)
                own = assigned["spec"] if not assigned["inherited"] else None
                if own is not None and model.findData(own) < 0:
                    model.addItem(names.get(own, own), own)
                model.setCurrentIndex(max(0, model.findData(own)) if own is not None else 0)
                model.lineEdit().setCursorPosition(0)  # the start of a long name, not its end
                model.setToolTip(f"{ROLE_HELP[role]} Now: {own if own else 'not set, ' + fallback}.")
                row["device"].setCurrentIndex(max(0, row["device"].findData(assigned["device"])))
                row["dtype"].setCurrentIndex(max(0, row["dtype"].findData(assigned["dtype"])))
                # an unset teacher or feedback model follows the student's device and precision too
                follows = assigned["inherited"] == "student"
                row["device"].setEnabled(not follows)
                row["dtype"].setEnabled(not follows)
                if role in self.role_checking:
                    row["note"].setText(f"Checking {self.role_checking[role]}…")
                elif own:
                    row["note"].setText(f"Set for this project: {own}")
                else:
                    row["note"].setText(f"Not set: uses the {fallback}" if fallback.startswith("embedded")
                                        else f"Not set: {fallback}, with its device and precision")
        finally:
            self._filling_roles = False

    def _role_choice(self, role: str) -> tuple[bool, str | None]:
        """``(listed, spec)``: the model the role's box names now (typed text: not listed)."""
        model: QComboBox = self.role_rows[role]["model"]
        text = model.currentText().strip()
        i = model.findText(text)
        if i >= 0:
            return True, model.itemData(i)
        if not text:
            return True, None
        return False, text

    def _role_options(self, role: str) -> tuple[str | None, str | None]:
        row = self.role_rows[role]
        return row["device"].currentData(), row["dtype"].currentData()

    def _on_role_model_chosen(self, role: str) -> None:
        if self._filling_roles or self.project is None:
            return
        listed, spec = self._role_choice(role)
        if listed:
            self.set_role(role, spec, *self._role_options(role))
        else:
            self.check_role_model(role, spec)

    def _on_role_option_chosen(self, role: str) -> None:
        if self._filling_roles or self.project is None:
            return
        assigned = self.project.roles.get(role)
        if assigned["inherited"] == "student":
            return  # follows the student (the boxes are disabled)
        own = assigned["spec"] if not assigned["inherited"] else None
        self.set_role(role, own, *self._role_options(role))

    def set_role(self, role: str, spec: str | None, device: str | None = None, dtype: str | None = None) -> None:
        """Store a role (``spec=None``: not set) and show it; nothing is loaded or checked here."""
        if self.project is None:
            return
        from cai_desktop.core.errors import CaiError

        try:
            self.project.roles.set(role, spec, device=device, dtype=dtype)
        except CaiError as e:
            self.roles_status.setText(str(e))
            self.refresh_roles()
            return
        names = self._model_names()
        what = names.get(spec, spec) if spec else "not set"
        self.roles_status.setText(f"{ROLE_NAMES[role]}: {what}.")
        self.status_message.emit(f"{ROLE_NAMES[role]} model: {what}")
        self.refresh_roles()
        self.data_changed.emit({"models"})

    def check_role_model(self, role: str, spec: str) -> bool:
        """Check a typed spec in the background; if it is a model, list it and give it the role."""
        spec = (spec or "").strip()
        if self.project is None or not spec:
            return False
        if self.runner is None:  # the page on its own (no window): a runner of its own
            from cai_desktop.ui.jobrunner import JobRunner

            self.set_runner(JobRunner(self))
        self.role_checking[role] = spec
        call = self.runner.call_in_background(_check_model, spec, "check model")
        call.finished.connect(lambda result, r=role: self._on_role_model_checked(r, result))
        call.failed.connect(lambda message, _details, r=role, s=spec: self._on_role_model_refused(r, s, message))
        call.ended.connect(lambda r=role: self.role_checking.pop(r, None))
        self.roles_status.setText(f"Checking {spec}…")
        self.role_rows[role]["note"].setText(f"Checking {spec}…")
        return True

    def _on_role_model_checked(self, role: str, d: object) -> None:
        self.role_checking.pop(role, None)
        if self.project is None or not isinstance(d, dict):
            return
        if d["kind"] not in ("embedded", "packaged"):
            self.project.models.record(d["spec"], d["kind"], d["display_name"], info={"note": d.get("note", "")})
        self.set_role(role, d["spec"], *self._role_options(role))
        if d.get("note"):
            self.roles_status.setText(f"{self.roles_status.text()} ({d['note']})")
        self.refresh()
        self.role_set.emit(role, d["spec"])

    def _on_role_model_refused(self, role: str, spec: str, message: str) -> None:
        self.role_checking.pop(role, None)
        self.roles_status.setText(f"{ROLE_NAMES[role]} not changed: {message}")
        self.refresh_roles()
        self.role_refused.emit(role, message)

    # -- adding and removing models ----------------------------------------------------------
    def add_model(self, spec: str) -> bool:
        """Check ``spec`` (folder, .gguf, hub id) in the background and record it in the project
        if it is a model; ``model_added`` / ``model_refused`` tell the outcome. Returns True when
        the check started. The check never runs here: a hub look-up may wait on the network."""
        spec = (spec or "").strip()
        if self.project is None or not spec:
            return False
        if spec in self.checking:
            return True
        if self.runner is None:  # the page on its own (no window): a runner of its own
            from cai_desktop.ui.jobrunner import JobRunner

            self.set_runner(JobRunner(self))
        call = self.runner.call_in_background(_check_model, spec, "check model")
        self.checking[spec] = call
        call.finished.connect(lambda result, s=spec: self._on_model_checked(s, result))
        call.failed.connect(lambda message, _details, s=spec: self._on_model_refused(s, message))
        call.ended.connect(lambda s=spec: self.checking.pop(s, None))
        self.add_status.setText(f"Checking {spec}…")
        return True

    def _on_model_checked(self, spec: str, d: object) -> None:
        if self.project is None or not isinstance(d, dict):
            return
        self.project.models.record(d["spec"], d["kind"], d["display_name"], info={"note": d.get("note", "")})
        note = f" ({d['note']})" if d.get("note") else ""
        self.add_status.setText(f"Added {d['display_name']}{note}.")
        self.status_message.emit(f"Added model {d['display_name']}")
        self.refresh()
        self.model_added.emit(d["spec"], d["display_name"])

    def _on_model_refused(self, spec: str, message: str) -> None:
        from cai_desktop.ui.widgets.errors import show_error

        self.add_status.setText(f"Not added: {message}")
        show_error(self, "Not a model", message)
        self.model_refused.emit(spec, message)

    def remove_selected_model(self) -> str:
        """Take the selected added model off the project's lists; returns what was said."""
        data = self._selected_model()
        if self.project is None or data is None:
            return ""
        from cai_desktop.core.errors import ProjectError

        name = data.get("display_name") or data["spec"]
        try:
            used = self.project.models.remove(data["spec"])
        except ProjectError as e:
            self.add_status.setText(str(e))
            return str(e)
        refs = [f"{n} {what}{'' if n == 1 else 's'}" for what, n in (("run", used["runs"]), ("adapter", used["adapters"])) if n]
        text = f"Removed {name} from the list."
        if refs:
            text += (f" {' and '.join(refs)} name it by its spec and stay as they are; a job that uses "
                     "it again lists it again.")
        text += " No file was deleted."
        self.add_status.setText(text)
        self.status_message.emit(f"Removed model {name}")
        self.refresh()
        return text

    def _add_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a model folder (with config.json)")
        if path:
            self.add_model(path)

    def _add_gguf(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a GGUF model file", "", "GGUF models (*.gguf)")
        if path:
            self.add_model(path)

    def _add_hub(self) -> None:
        text, ok = QInputDialog.getText(self, "Add a hub model", "Hub id (org/name):")
        if ok and text.strip():
            self.add_model(text.strip())

    # -- try it --------------------------------------------------------------------------------
    def answer(self) -> None:
        from cai_desktop.ui.widgets.errors import show_error

        text = self.prompt.toPlainText().strip()
        if not text:
            self.tryit_status.setText("Write a prompt first.")
            return
        if self.tryit_job is not None:
            return
        from cai_desktop.jobs.tryit import TryItParams

        (model_a, adapter_a) = self.combo_a.currentData() or (None, None)
        (model_b, adapter_b) = self.combo_b.currentData() or (None, None)
        params = TryItParams(
            project=str(self.project.path) if self.project is not None else "",
            prompt=text, model_a=model_a, adapter_a=adapter_a, model_b=model_b, adapter_b=adapter_b,
            max_new_tokens=self.max_tokens.value(),
        )
        try:
            params.check()
        except CaiError as e:
            show_error(self, "Try it", str(e))
            return
        self.out_a.clear()
        self.out_b.clear()
        if self.runner is None:  # the page on its own (no window): a runner of its own
            from cai_desktop.ui.jobrunner import JobRunner

            self.set_runner(JobRunner(self))
        from cai_desktop.jobs.tryit import run_tryit

        # a quick look, not a recorded run: straight to the runner (it queues behind any GPU job);
        # the job finds, downloads and loads the models, never this thread
        self.tryit_job = self.runner.submit("tryit", run_tryit, params, "Try it")
        self.btn_answer.setEnabled(False)
        busy = self.runner.current_job()
        self.tryit_status.setText(f"Queued behind {busy.name}…" if busy is not None else "Starting…")

    def _on_progress(self, job_id: int, done: int, total: int, message: str, eta: float) -> None:
        if job_id == self.tryit_job:
            self.tryit_status.setText(message)
        elif job_id == self.export_job and message:
            self.add_status.setText(f"Export GGUF: {message}")

    def _on_finished(self, job_id: int, result: object) -> None:
        if job_id == self.export_job and isinstance(result, dict):
            self.add_status.setText(f"GGUF files written to {result['folder']} (with an Ollama Modelfile).")
            return
        if job_id != self.tryit_job or not isinstance(result, dict):
            return
        self.last_result = result
        for side, view in (("a", self.out_a), ("b", self.out_b)):
            r = result.get(side) or {}
            head = html.escape(r.get("model", ""))
            if r.get("adapter"):
                head += f" + adapter <i>{html.escape(r['adapter'])}</i>"
            body = html.escape(r.get("text", "")).replace("\n", "<br>")
            view.setHtml(
                f"<p style='color:#666'>{head} · {r.get('new_tokens', 0)} tokens ({r.get('finish_reason', '')})</p>"
                f"<p>{body}</p>"
            )
        self.tryit_status.setText(f"Answered on {result.get('device') or 'the CPU'}.")

    def _on_ended(self, job_id: int) -> None:
        if job_id == self.export_job:
            job = self.runner.jobs.get(job_id) if self.runner is not None else None
            if job is not None and job.status == "failed":
                self.add_status.setText(f"Export GGUF failed: {job.error}")
            elif job is not None and job.status == "cancelled":
                self.add_status.setText("Export GGUF cancelled.")
            self.export_job = None
            self.btn_export.setEnabled(self._selected_adapter() is not None)
        if job_id == self.tryit_job:
            job = self.runner.jobs.get(job_id) if self.runner is not None else None
            if job is not None and job.status == "failed":
                self.tryit_status.setText(f"Failed: {job.error}")
            elif job is not None and job.status == "cancelled":
                self.tryit_status.setText("Cancelled.")
            self.tryit_job = None
            self.btn_answer.setEnabled(True)
