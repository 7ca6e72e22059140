"""Models: the embedded default, added folders / GGUF files / hub ids, produced adapters, try-it.

The try-it pane answers one prompt with two chosen models side by side; it runs through the job
runner like every other job, so the window stays responsive while a model loads.
"""

from __future__ import annotations

import html
import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
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


class ModelsPage(Page):
    title = "Models"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = None
        self.tryit_job: int | None = None
        self.last_result: dict[str, Any] | None = None

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
        for b in (self.btn_folder, self.btn_gguf, self.btn_hub):
            row.addWidget(b)
        ll.addLayout(row)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(150)
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
        split.setSizes([480, 720])
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
        for b in (self.btn_folder, self.btn_gguf, self.btn_hub):
            b.setEnabled(has)
        if has:
            for m in self.project.list_models():
                if m["spec"] in ("default", "embedded"):
                    continue
                it = QTreeWidgetItem([m["display_name"] or m["spec"], m["kind"], m["spec"]])
                it.setToolTip(2, m["spec"])
                it.setData(0, Qt.ItemDataRole.UserRole, {"type": "model", **m})
                models_root.addChild(it)
                choices.append((m["display_name"] or m["spec"], (m["spec"], None)))
            for a in self.project.list_adapters():
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

    def _on_selected(self, item, _prev) -> None:
        data = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
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

    # -- adding models -------------------------------------------------------------------------
    def add_model(self, spec: str) -> bool:
        """Check ``spec`` (folder, .gguf, hub id) and record it in the project."""
        if self.project is None:
            return False
        from cai_desktop.jobs.tryit import describe_model
        from cai_desktop.ui.widgets.errors import show_error

        try:
            d = describe_model(spec)
        except CaiError as e:
            show_error(self, "Not a model", str(e))
            return False
        self.project.record_model(d["spec"], d["kind"], d["display_name"])
        self.status_message.emit(f"Added model {d['display_name']}")
        self.refresh()
        return True

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
        self.tryit_status.setText("Queued…")
        self.btn_answer.setEnabled(False)
        # the window connects job_requested to the runner (synchronously), so our job is queued now
        self.job_requested.emit("tryit", params, "Try it")
        if self.runner is not None:
            ids = [j.id for j in self.runner.jobs.values() if j.kind == "tryit" and j.status in ("queued", "running")]
            self.tryit_job = ids[-1] if ids else None
        if self.tryit_job is None:
            self.btn_answer.setEnabled(True)
            self.tryit_status.setText("")

    def _on_progress(self, job_id: int, done: int, total: int, message: str, eta: float) -> None:
        if job_id == self.tryit_job:
            self.tryit_status.setText(message)

    def _on_finished(self, job_id: int, result: object) -> None:
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
        if job_id == self.tryit_job:
            job = self.runner.jobs.get(job_id) if self.runner is not None else None
            if job is not None and job.status == "failed":
                self.tryit_status.setText(f"Failed: {job.error}")
            elif job is not None and job.status == "cancelled":
                self.tryit_status.setText("Cancelled.")
            self.tryit_job = None
            self.btn_answer.setEnabled(True)
