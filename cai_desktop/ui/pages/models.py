"""Models: the embedded default, added folders / GGUF files / hub ids, produced adapters, try-it.

The try-it pane answers one prompt with two chosen models side by side; it runs through the job
runner like every other job, so the window stays responsive while a model loads. Nothing here
resolves or looks up a model on the GUI thread: adding one is checked by a background call (a
hub id may wait on the network), and try-it finds and loads its models in the job.
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

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = None
        self.tryit_job: int | None = None
        self.last_result: dict[str, Any] | None = None
        self.checking: dict[str, Any] = {}  # spec -> its BackgroundCall, while it is checked

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
        for b in (self.btn_folder, self.btn_gguf, self.btn_hub, self.btn_remove):
            row.addWidget(b)
        ll.addLayout(row)
        self.add_status = QLabel("")
        self.add_status.setObjectName("modelAddStatus")
        self.add_status.setWordWrap(True)
        ll.addWidget(self.add_status)
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
            for m in self.project.models.list():
                if m["spec"] in ("default", "embedded"):
                    continue
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

    def _selected_model(self) -> dict[str, Any] | None:
        item = self.tree.currentItem()
        data = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if data and data.get("type") == "model" and data.get("kind") != "embedded" and data.get("spec"):
            return data
        return None

    def _on_selected(self, item, _prev) -> None:
        data = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        self.btn_remove.setEnabled(self.project is not None and self._selected_model() is not None)
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
