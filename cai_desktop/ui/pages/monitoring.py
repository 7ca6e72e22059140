"""Monitoring page: production logs checked per principle, the review queue, and confirmed
failures sent to a held-out set for the next iteration.

Top: "Check a log…" (pick a JSONL/CSV log; the monitor job's dialog opens with it) and "Check
again…" (the logs already imported). Left: the imports (one row per file, oldest first) and a
chart of flag rates per import (over time) and per principle. Middle: the queue (flagged answers
by default; confirmed, dismissed, clear or all on request). Right: the selected answer with its
flags, Confirm / Dismiss with a note (each decision kept with the reviewer and time), and "Add
confirmed to the held-out set" (optionally splitting them with a training set, never both).
Every store call here is a small query; the checking itself runs as a job off the GUI thread.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.ui.pages import Page
from cai_desktop.ui.pages.datakinds import MONITORING, PROMPTS
from cai_desktop.ui.widgets.chart import LineChart
from cai_desktop.ui.widgets.listdetail import pane, reviewer_name, text_browser

STATUS_CHOICES = (("flagged", "Flagged, to review"), ("confirmed", "Confirmed failures"),
                  ("dismissed", "Dismissed"), ("clear", "Not flagged"), (None, "All answers"))
QUEUE_LIMIT = 500


def _short(r: dict[str, Any] | None) -> str:
    return "-" if not r or not r.get("n") else f"{100 * r['rate']:.0f} % of {r['n']}"


def _pct(r: dict[str, Any] | None) -> str:
    if not r or not r.get("n"):
        return "-"
    return f"{100 * r['rate']:.0f} % of {r['n']} ({100 * r['low']:.0f}–{100 * r['high']:.0f} %)"


class MonitoringPage(Page):
    title = "Monitoring"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.items: list[dict[str, Any]] = []
        self.item: dict[str, Any] | None = None
        self.dialog = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 10, 12, 10)

        top = QHBoxLayout()
        top.addWidget(QLabel("<b>Monitoring</b> · production answers checked against the constitution"))
        top.addStretch(1)
        self.btn_import = QPushButton("Check a log…")
        self.btn_import.setToolTip("Import a production log (JSONL chat messages or CSV with prompt and response "
                                   "columns) and flag its answers per principle.")
        self.btn_import.clicked.connect(self._choose_log)
        self.btn_recheck = QPushButton("Check again…")
        self.btn_recheck.setToolTip("Check the logs already imported (a new monitor run).")
        self.btn_recheck.clicked.connect(lambda: self.open_monitor_dialog(None))
        top.addWidget(self.btn_import)
        top.addWidget(self.btn_recheck)
        outer.addLayout(top)

        split = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(split, 1)

        # left: imports and the rates chart
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        self.imports_table = QTableWidget(0, 5)
        self.imports_table.setObjectName("importsTable")
        self.imports_table.setHorizontalHeaderLabels(["#", "Log file", "Imported", "Answers", "Flagged"])
        self.imports_table.verticalHeader().setVisible(False)
        self.imports_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.imports_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.imports_table.horizontalHeader().setStretchLastSection(True)
        ll.addWidget(pane("Imports", self.imports_table), 2)
        self.chart = LineChart("Flag rate per import (each answer's newest check)")
        self.chart.setObjectName("ratesChart")
        ll.addWidget(self.chart, 3)
        self.rates_label = QLabel("")
        self.rates_label.setObjectName("ratesLabel")
        self.rates_label.setWordWrap(True)
        self.rates_label.setTextFormat(Qt.TextFormat.RichText)
        ll.addWidget(self.rates_label)
        split.addWidget(left)

        # middle: the queue
        mid = QWidget()
        ml = QVBoxLayout(mid)
        ml.setContentsMargins(0, 0, 0, 0)
        self.status_filter = QComboBox()
        for value, label in STATUS_CHOICES:
            self.status_filter.addItem(label, value)
        self.status_filter.currentIndexChanged.connect(lambda *_: self._reload_queue())
        self.queue = QTableWidget(0, 4)
        self.queue.setObjectName("reviewQueue")
        self.queue.setHorizontalHeaderLabels(["Prompt", "Flagged under", "Score", "Status"])
        self.queue.verticalHeader().setVisible(False)
        self.queue.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.queue.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.queue.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.queue.horizontalHeader().setStretchLastSection(True)
        self.queue.setColumnWidth(0, 215)
        self.queue.setColumnWidth(1, 115)
        self.queue.setColumnWidth(2, 52)
        self.queue.itemSelectionChanged.connect(self._on_select)
        ml.addWidget(pane("Review queue", self.queue, self.status_filter))
        split.addWidget(mid)

        # right: the answer, its flags, the decision, the next iteration
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        self.detail = text_browser("itemDetail", "Select an answer in the queue.")
        rl.addWidget(pane("Answer", self.detail), 1)
        self.note = QLineEdit()
        self.note.setObjectName("reviewNote")
        self.note.setPlaceholderText("Note (optional): why it is or is not a failure")
        rl.addWidget(self.note)
        row = QHBoxLayout()
        self.btn_confirm = QPushButton("Confirm failure")
        self.btn_confirm.setObjectName("confirmButton")
        self.btn_confirm.clicked.connect(lambda: self.decide("confirmed"))
        self.btn_dismiss = QPushButton("Dismiss")
        self.btn_dismiss.setObjectName("dismissButton")
        self.btn_dismiss.clicked.connect(lambda: self.decide("dismissed"))
        row.addWidget(self.btn_confirm)
        row.addWidget(self.btn_dismiss)
        row.addStretch(1)
        rl.addLayout(row)
        nxt = QVBoxLayout()
        sets = QHBoxLayout()
        sets.addWidget(QLabel("Held-out set:"))
        self.test_set = QLineEdit("monitoring-heldout")
        self.test_set.setObjectName("testSetName")
        sets.addWidget(self.test_set)
        nxt.addLayout(sets)
        train = QHBoxLayout()
        self.also_train = QCheckBox("Also a training set:")
        self.also_train.setToolTip("Half of the confirmed failures (chosen by their text, the same way every time) go "
                                   "to the training set, the rest to the held-out set; a prompt never goes to both.")
        self.train_set = QLineEdit("monitoring-train")
        self.train_set.setEnabled(False)
        self.also_train.toggled.connect(self.train_set.setEnabled)
        train.addWidget(self.also_train)
        train.addWidget(self.train_set)
        nxt.addLayout(train)
        self.btn_add = QPushButton("Add confirmed failures as test prompts")
        self.btn_add.setObjectName("addConfirmedButton")
        self.btn_add.clicked.connect(self.add_confirmed)
        nxt.addWidget(self.btn_add)
        self.message = QLabel("")
        self.message.setObjectName("monitorMessage")
        self.message.setWordWrap(True)
        nxt.addWidget(self.message)
        box = QWidget()
        box.setLayout(nxt)
        rl.addWidget(pane("Next iteration", box))
        split.addWidget(right)
        split.setSizes([420, 400, 420])
        self._update_buttons()

    # -- data -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        enabled = self.project is not None
        for b in (self.btn_import, self.btn_recheck):
            b.setEnabled(enabled)
        self._reload_imports()
        self._reload_queue()

    def _reload_imports(self) -> None:
        self.imports_table.setRowCount(0)
        self.chart.clear()
        self.rates_label.setText("")
        if self.project is None:
            return
        imports = self.project.monitoring.imports()
        rates = self.project.monitoring.rates()
        by_id = {r["id"]: r for r in rates["imports"]}
        self.imports_table.setRowCount(len(imports))
        for i, imp in enumerate(imports):
            r = by_id.get(imp["id"])
            cells = (str(imp["id"]), imp["name"], (imp["imported_at"] or "")[5:16].replace("T", " "),
                     str(imp["n_items"]), _short(r["flagged"]) if r else "not checked")
            for c, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                cell.setToolTip(_pct(r["flagged"]) if c == 4 and r else text)
                self.imports_table.setItem(i, c, cell)
        self.imports_table.resizeColumnsToContents()
        checked = rates["imports"]
        if checked:
            self.chart.set_series("any principle", [(n, r["flagged"]["rate"]) for n, r in enumerate(checked, 1)])
            for key in rates["principles"]:
                self.chart.set_series(key, [(n, r["principles"][key]["rate"]) for n, r in enumerate(checked, 1)
                                            if key in r["principles"] and r["principles"][key]["n"]])
            lines = ["<b>Per principle</b>, over every import (each answer's newest check):"]
            lines += [f"{html.escape(k)}: {_pct(r)}" for k, r in rates["principles"].items()]
            self.rates_label.setText("<br>".join(lines))

    def _reload_queue(self) -> None:
        keep = self.item["id"] if self.item else None
        self.queue.blockSignals(True)
        self.queue.setRowCount(0)
        self.items = []
        if self.project is not None:
            self.items = self.project.monitoring.queue(status=self.status_filter.currentData(), limit=QUEUE_LIMIT)
        self.queue.setRowCount(len(self.items))
        for i, it in enumerate(self.items):
            score = it.get("top_score")
            cells = (" ".join(it["prompt"].split())[:200], it.get("principles") or "",
                     "" if score is None else f"{score:.2f}", it["status"])
            for c, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                cell.setToolTip(it["prompt"] if c == 0 else text)
                self.queue.setItem(i, c, cell)
        self.queue.blockSignals(False)
        row = next((i for i, it in enumerate(self.items) if it["id"] == keep), 0 if self.items else None)
        if row is not None:
            self.queue.selectRow(row)
        self._on_select()

    def _on_select(self) -> None:
        rows = self.queue.selectionModel().selectedRows() if self.queue.selectionModel() else []
        self.item = self.items[rows[0].row()] if rows and rows[0].row() < len(self.items) else None
        self._show_item()
        self._update_buttons()

    def _show_item(self) -> None:
        it = self.item
        if it is None or self.project is None:
            self.detail.setHtml("")
            return
        flags = self.project.monitoring.flags(it["id"])
        reviews = self.project.monitoring.reviews(it["id"])
        e = html.escape
        parts = [f"<p style='color:#4a5361'>{e(it['import_name'])} · {e(it['source_where'] or '')}"
                 f"{' · ' + e(it['source_time']) if it.get('source_time') else ''} · <b>{e(it['status'])}</b></p>",
                 f"<p><b>User</b><br>{e(it['prompt'])}</p>", f"<p><b>Assistant</b><br>{e(it['response'])}</p>",
                 "<p><b>Flags</b> (newest run)</p><table cellspacing='0'>"]
        for f in flags:
            what = f"judge: {e(f['detail'] or '')}" if f["source"] == "judge" else e(f["principle_key"])
            score = "" if f["score"] is None else f"{f['score']:.2f}"
            mark = "⚑ flagged" if f["flagged"] else ""
            parts.append(f"<tr><td style='padding-right:12px'>{what}</td><td style='padding-right:12px'>{score}</td>"
                         f"<td style='color:#8a1f24'>{mark}</td></tr>")
        parts.append("</table>")
        if reviews:
            parts.append("<p><b>Decisions</b><br>" + "<br>".join(
                f"{e(r['decision'])} by {e(r['reviewer'] or 'someone')} ({e((r['created_at'] or '')[:16])})"
                f"{': ' + e(r['note']) if r['note'] else ''}" for r in reviews) + "</p>")
        if it.get("added_json") and it["added_json"] != "{}":
            parts.append(f"<p style='color:#14532d'>Added to the prompts: {e(it['added_json'])}</p>")
        self.detail.setHtml("".join(parts))

    def _update_buttons(self) -> None:
        has = self.item is not None and self.project is not None
        self.btn_confirm.setEnabled(has)
        self.btn_dismiss.setEnabled(has)
        self.btn_add.setEnabled(self.project is not None)

    # -- actions --------------------------------------------------------------------------------
    def decide(self, decision: str) -> None:
        if self.item is None or self.project is None:
            return
        from cai_desktop.core.errors import CaiError

        try:
            self.project.monitoring.review(self.item["id"], decision, reviewer=reviewer_name(), note=self.note.text())
        except CaiError as e:
            self.message.setText(str(e))
            return
        self.note.clear()
        done = self.item["id"]
        self.message.setText(f"Answer {done}: {decision}.")
        # move on to the next answer in the queue (the decided one leaves the flagged view)
        index = next((i for i, it in enumerate(self.items) if it["id"] == done), 0)
        self.item = None
        self._reload_imports()
        self._reload_queue()
        if self.items:
            self.queue.selectRow(min(index, len(self.items) - 1))
        self.data_changed.emit({MONITORING})

    def add_confirmed(self) -> None:
        if self.project is None:
            return
        from cai_desktop.core.errors import CaiError

        test_set = self.test_set.text().strip()
        train_set = self.train_set.text().strip() if self.also_train.isChecked() else None
        if not test_set or (self.also_train.isChecked() and not train_set):
            self.message.setText("Name the set the prompts go to.")
            return
        try:
            out = self.project.monitoring.add_to_prompts(test_set=test_set, train_set=train_set)
        except CaiError as e:
            self.message.setText(str(e))
            return
        text = f"Added {out['test']} held-out prompt(s) to {test_set}"
        if train_set:
            text += f" and {out['train']} training prompt(s) to {train_set}"
        if out["skipped"]:
            text += f"; {out['skipped']} were already there"
        self.message.setText(text + ".")
        self.status_message.emit(text + ".")
        self._show_item()
        self.data_changed.emit({PROMPTS, MONITORING})

    def _choose_log(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Check a production log", "",
                                              "Logs (*.jsonl *.ndjson *.json *.csv *.tsv);;All files (*)")
        if path:
            self.open_monitor_dialog(path)

    def open_monitor_dialog(self, log_file: str | None):
        """The monitor job's dialog (non-blocking), with ``log_file`` filled in."""
        if self.project is None:
            self.status_message.emit("Open a project first.")
            return None
        if log_file is None and not self.project.monitoring.import_ids():
            self.message.setText("No log has been imported yet: choose one with 'Check a log…'.")
            return None
        from cai_desktop.ui.widgets.forms import ParamsDialog

        initial = {"log_file": log_file} if log_file else {}
        dlg = ParamsDialog("monitor", str(self.project.path), project=self.project, initial=initial, parent=self)
        dlg.accepted.connect(lambda: self._launch(dlg))
        self.dialog = dlg
        dlg.open()
        return dlg

    def _launch(self, dlg) -> None:
        from cai_desktop.core.errors import CaiError
        from cai_desktop.jobs.registry import JOBS

        try:
            params = dlg.params()
        except (CaiError, TypeError, ValueError) as e:
            self.message.setText(str(e))
            return
        self.job_requested.emit("monitor", params, JOBS["monitor"].label)


if __name__ == "__main__":  # pragma: no cover - run the page alone on a project file
    import sys

    from PySide6.QtWidgets import QApplication

    from cai_desktop.store.project import Project

    app = QApplication(sys.argv)
    page = MonitoringPage()
    page.set_project(Project.open(sys.argv[1]))
    page.resize(1300, 760)
    page.show()
    sys.exit(app.exec())
