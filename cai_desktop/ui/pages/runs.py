"""Runs: launch jobs, watch the queue, and follow each run's progress, charts, log and lineage.

The runs table is a ``PagedTableModel`` over the ``runs`` table. The selected run's metrics and
log come from the project file (so finished runs look the same as live ones) and grow live from
the job runner's signals while the run is active.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.evaluation import format_eval
from cai_desktop.ui.pages import Page
from cai_desktop.ui.widgets.chart import LineChart
from cai_desktop.ui.widgets.eta import format_eta
from cai_desktop.ui.widgets.paged import PagedTableModel

RUN_COLUMNS = [
    ("id", "#"),
    ("kind", "Kind"),
    ("name", "Name"),
    ("status", "Status"),
    ("progress", "Progress"),
    ("created_at", "Created"),
    ("finished_at", "Finished"),
]

SHORT_LABELS = {"critique": "Critique & revision", "sft": "SFT", "pairs": "Response pairs",
                "label": "AI labels", "reward": "Preference model", "ppo": "PPO", "dpo": "DPO",
                "eval": "Before/after eval"}
MAX_CHARTS = 6
MAX_LOG_LINES = 3000
#: metric names that matter most come first (loss; for PPO reward, KL and entropy)
PRIORITY = ("loss", "reward", "kl", "entropy", "accuracy", "learning_rate")


def metric_priority(name: str) -> tuple[int, str]:
    """Charts in this order: exact names of PRIORITY first (so PPO shows reward, KL and entropy
    before policy_loss), then names that contain one of them, then the rest."""
    low = name.lower()
    if low in PRIORITY:
        return PRIORITY.index(low), name
    for i, key in enumerate(PRIORITY):
        if key in low:
            return len(PRIORITY) + i, name
    return 2 * len(PRIORITY), name


#: chart titles for metric names as the trainers log them
METRIC_TITLES = {"kl": "KL to the start policy", "loss": "Loss", "reward": "Reward", "entropy": "Entropy",
                 "learning_rate": "Learning rate", "accuracy": "Accuracy"}


def metric_title(name: str) -> str:
    """A metric name in words: "policy_loss" → "Policy loss", "kl" → "KL to the start policy"."""
    if name in METRIC_TITLES:
        return METRIC_TITLES[name]
    words = name.replace("/", " / ").replace("_", " ").split()
    words = [w.upper() if w.lower() in ("kl", "ppo", "dpo", "lr") else w for w in words]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def kind_label(kind: Any, row: dict | None = None) -> str:
    """A run kind in words ("Preference model", not "reward")."""
    return SHORT_LABELS.get(str(kind or ""), str(kind or "").capitalize())


def _short_time(ts: Any, row: dict) -> str:
    return str(ts or "").replace("T", " ")[:19].replace("+00:00", "")


def _progress_text(_: Any, row: dict) -> str:
    done, total = row.get("progress_done") or 0, row.get("progress_total") or 0
    if not total:
        return ""
    return f"{done}/{total} ({100 * done / total:.0f}%)"


class RunsPage(Page):
    title = "Runs"
    navigate_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = None
        self.selected_run_id: int | None = None
        self.charts: dict[str, LineChart] = {}
        #: the selected run's metrics, name -> step -> value (a step seen twice is kept once)
        self._series: dict[str, dict[float, float]] = {}
        self._log_after = 0  # id of the last log row shown
        self.dialog: QDialog | None = None
        self._follow_new_runs = True

        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 10, 12, 10)

        # launch buttons, in workflow order: stage 1 then stage 2
        from cai_desktop.jobs.registry import JOBS, LAUNCHABLE, STAGES

        launch = QGridLayout()
        launch.setHorizontalSpacing(6)
        self.new_buttons: dict[str, QPushButton] = {}
        stages = STAGES
        for r, (label, kinds) in enumerate(stages):
            launch.addWidget(QLabel(f"<b>{label}</b>"), r, 0)
            for c, kind in enumerate(kinds):
                b = QPushButton(SHORT_LABELS.get(kind, JOBS[kind].label).replace("&", "&&") + "…")
                b.setToolTip(JOBS[kind].description)
                b.clicked.connect(lambda *_, k=kind: self.open_new_run_dialog(k))
                self.new_buttons[kind] = b
                launch.addWidget(b, r, c + 1)
        launch.setColumnStretch(len(stages[1][1]) + 1, 1)
        assert set(self.new_buttons) == set(LAUNCHABLE)
        outer.addLayout(launch)

        split = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(split, 1)

        # left: queue and runs table
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        qh = QHBoxLayout()
        qh.addWidget(QLabel("<b>Queue</b>"))
        qh.addStretch(1)
        self.btn_cancel_queued = QPushButton("Cancel selected")
        self.btn_cancel_queued.clicked.connect(self._cancel_selected_queue_item)
        qh.addWidget(self.btn_cancel_queued)
        ll.addLayout(qh)
        self.queue_list = QListWidget()
        self.queue_list.setMaximumHeight(90)
        self.queue_list.setObjectName("queueList")
        ll.addWidget(self.queue_list)

        th = QHBoxLayout()
        th.addWidget(QLabel("<b>Runs</b>"))
        th.addStretch(1)
        self.kind_filter = QComboBox()
        self.kind_filter.addItem("all kinds", None)
        for kind in (*LAUNCHABLE, "merge"):
            self.kind_filter.addItem(kind_label(kind), kind)
        self.kind_filter.currentIndexChanged.connect(lambda *_: self._reload_table())
        th.addWidget(self.kind_filter)
        ll.addLayout(th)
        self.model = PagedTableModel(
            RUN_COLUMNS, lambda o, n: [], lambda: 0, page_size=100,
            formatters={"kind": kind_label, "progress": _progress_text, "created_at": _short_time,
                        "finished_at": _short_time,
                        "status": lambda status, row: self.run_state(row.get("id"), status)},
        )
        self.table = QTableView()
        self.table.setObjectName("runsTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setStretchLastSection(True)
        # the columns up to Progress fit the pane at 1280 px; the times scroll into view
        for col, w in enumerate((36, 124, 150, 76, 96, 130)):
            self.table.setColumnWidth(col, w)
        self.table.selectionModel().currentRowChanged.connect(self._on_row_changed)
        ll.addWidget(self.table, 1)
        split.addWidget(left)

        # right: the selected run
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(6, 0, 0, 0)
        self.run_title = QLabel("Select a run.")
        self.run_title.setObjectName("runTitle")
        self.run_title.setWordWrap(True)
        rl.addWidget(self.run_title)
        ph = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.eta_label = QLabel("")
        self.eta_label.setMinimumWidth(110)
        self.btn_cancel = QPushButton("Cancel")
        self.btn_cancel.setToolTip("Stop the run after the current batch; finished work is kept.")
        self.btn_cancel.clicked.connect(self.cancel_selected)
        self.btn_resume = QPushButton("Resume")
        self.btn_resume.setToolTip("Continue this run with its stored settings; done work is skipped.")
        self.btn_resume.clicked.connect(self.resume_selected)
        ph.addWidget(self.progress, 1)
        ph.addWidget(self.eta_label)
        ph.addWidget(self.btn_cancel)
        ph.addWidget(self.btn_resume)
        rl.addLayout(ph)
        self.message_label = QLabel("")
        self.message_label.setObjectName("runMessage")
        rl.addWidget(self.message_label)
        # metrics that never changed (an example count, a constant learning rate): a number, not a chart
        self.constants_label = QLabel("")
        self.constants_label.setObjectName("runConstants")
        self.constants_label.setWordWrap(True)
        self.constants_label.hide()
        rl.addWidget(self.constants_label)

        rsplit = QSplitter(Qt.Orientation.Vertical)
        self.charts_box = QWidget()
        self.charts_grid = QGridLayout(self.charts_box)
        self.charts_grid.setContentsMargins(0, 0, 0, 0)
        self.no_metrics = QLabel("No metrics recorded for this run.")
        self.no_metrics.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.charts_grid.addWidget(self.no_metrics, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.charts_box)
        rsplit.addWidget(scroll)
        self.tabs = QTabWidget()
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setObjectName("runLog")
        self.log_view.setMaximumBlockCount(MAX_LOG_LINES)
        self.settings_view = QPlainTextEdit()
        self.settings_view.setReadOnly(True)
        self.result_view = QPlainTextEdit()
        self.result_view.setReadOnly(True)
        self.result_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))  # tables line up
        self.result_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.tabs.addTab(self.log_view, "Log")
        self.tabs.addTab(self.settings_view, "Settings && lineage")
        self.tabs.addTab(self.result_view, "Result")
        rsplit.addWidget(self.tabs)
        rsplit.setSizes([360, 240])
        rl.addWidget(rsplit, 1)
        split.addWidget(right)
        split.setSizes([530, 670])

        # redraws of the table while a run is active are coalesced
        self._table_timer = QTimer(self)
        self._table_timer.setSingleShot(True)
        self._table_timer.setInterval(500)
        self._table_timer.timeout.connect(lambda: self._refresh_table_keep_selection(reload_details=False))
        self._update_buttons()

    # -- wiring --------------------------------------------------------------------------------
    def set_runner(self, runner) -> None:
        self.runner = runner
        runner.queue_changed.connect(self._refresh_queue)
        runner.job_run_started.connect(self._on_run_started)
        runner.job_progress.connect(self._on_progress)
        runner.job_metric.connect(self._on_metric)
        runner.job_log.connect(self._on_log)
        runner.job_ended.connect(self._on_job_ended)
        self._refresh_queue()

    def set_project(self, project) -> None:
        self.selected_run_id = None
        super().set_project(project)

    def refresh(self) -> None:
        self._update_launch_buttons()
        self._refresh_table_keep_selection()
        self._refresh_queue()

    # -- table ---------------------------------------------------------------------------------
    def _reload_table(self) -> None:
        p = self.project
        if p is None:
            self.model.set_source(lambda o, n: [], lambda: 0)
            self.show_run(None)
            return
        kind = self.kind_filter.currentData() or None
        self.model.set_source(lambda offset, limit: p.runs.page(offset, limit, kind), lambda: p.runs.count(kind))

    def _refresh_table_keep_selection(self, reload_details: bool = True) -> None:
        """Re-read the runs table (status, progress) and keep the selected run selected; its
        details are re-read only when asked (live signals keep them current meanwhile)."""
        keep = self.selected_run_id
        self._reload_table()
        if keep is not None:
            self.select_run(keep, reload_details=reload_details)
        elif self.model.rowCount() and self.selected_run_id is None:
            self.select_row(0)

    def select_row(self, row: int) -> None:
        if 0 <= row < self.model.rowCount():
            self.table.selectionModel().setCurrentIndex(
                self.model.index(row, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
            )

    def select_run(self, run_id: int, reload_details: bool = True) -> None:
        """Select ``run_id`` in the table (searching only the first pages) and show it."""
        for row in range(min(self.model.rowCount(), 500)):
            if self.model.row_data(row).get("id") == run_id:
                blocked = self.table.selectionModel().blockSignals(True)
                self.select_row(row)
                self.table.selectionModel().blockSignals(blocked)
                break
        if reload_details or run_id != self.selected_run_id:
            self.show_run(run_id)

    def _on_row_changed(self, current, _previous) -> None:
        row = self.model.row_data(current.row()) if current.isValid() else {}
        self.show_run(row.get("id"))

    # -- the selected run ----------------------------------------------------------------------
    def run_state(self, run_id: int | None, stored: str = "") -> str:
        """A run's state in words: the runner's job state while a job has the run (queued,
        running, stopping), else what the project file says. The header, the table and the queue
        all read it, so they never disagree."""
        job = self.runner.job_for_run(run_id) if (self.runner is not None and run_id is not None) else None
        return job.state if job is not None else (stored or "")

    def _repaint_states(self) -> None:
        """The table's Status cells read ``run_state``: repaint them when the queue changes."""
        n = min(self.model.rowCount(), 500)
        if n:
            from cai_desktop.ui.jobrunner import emit

            col = [key for key, _ in RUN_COLUMNS].index("status")
            emit(self.model.dataChanged, self.model.index(0, col), self.model.index(n - 1, col))

    def _render_header(self) -> None:
        run = getattr(self, "_run", None)
        if run is None or run.get("id") != self.selected_run_id:
            return
        status = self.run_state(run["id"], run["status"])
        err = f"<br><span style='color:#b3261e'>{_html(run['error'])}</span>" if run.get("error") else ""
        self.run_title.setText(
            f"<b>#{run['id']} {_html(run['name'] or kind_label(run['kind']))}</b> — {kind_label(run['kind'])}"
            f" — <i>{status}</i>{err}"
        )

    def show_run(self, run_id: int | None) -> None:
        self.selected_run_id = run_id
        self._clear_charts()
        self._series = {}
        self._log_after = 0
        self.log_view.clear()
        self.settings_view.clear()
        self.result_view.clear()
        self.eta_label.setText("")
        self.message_label.setText("")
        if run_id is None or self.project is None:
            self.run_title.setText("Select a run." if self.project is not None else "Open a project to see its runs.")
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self._update_buttons()
            return
        try:
            run = self.project.runs.get(run_id)
        except Exception as e:  # noqa: BLE001
            self.run_title.setText(str(e))
            self._update_buttons()
            return
        self._run = run
        self._render_header()
        done, total = run.get("progress_done") or 0, run.get("progress_total") or 0
        self._set_progress(done, total)
        job = self.runner.job_for_run(run_id) if self.runner is not None else None
        if job is not None and job.total:
            self._set_progress(job.done, job.total, job.eta_s, job.message, live=job.status == "running")
        # metrics: a chart for each series that changes, a number for each that never did
        for m in self.project.runs.metrics(run_id):
            self._series.setdefault(m["name"], {})[m["step"]] = m["value"]
        self._show_series()
        # log: the project file is the one source (see _on_log)
        rows = self.project.runs.log_rows(run_id)
        self._log_after = rows[-1]["id"] if rows else 0
        self.log_view.setPlainText("\n".join(r["text"] for r in rows[-MAX_LOG_LINES:]))
        self.log_view.moveCursor(self.log_view.textCursor().MoveOperation.End)
        settings = {"settings": run.get("config") or {}, "lineage": run.get("lineage") or {},
                    "parent_run": run.get("parent_run_id"), "created_at": run.get("created_at"),
                    "started_at": run.get("started_at"), "finished_at": run.get("finished_at")}
        self.settings_view.setPlainText(json.dumps(settings, indent=2, ensure_ascii=False, default=str))
        result = run.get("result") or {}
        text = json.dumps(result, indent=2, ensure_ascii=False, default=str)
        if run.get("kind") == "eval" and result.get("policies"):
            text = format_eval(result) + "\n\n" + text
        self.result_view.setPlainText(text)
        self._update_buttons()

    def _set_progress(self, done: int, total: int, eta: float = -1.0, message: str = "", live: bool = False) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
            self.progress.setFormat(f"{done}/{total}  %p%")
        else:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("")
        if 0 <= eta and done < total:
            self.eta_label.setText(f"about {format_eta(eta)} left")
        elif total and done >= total:
            self.eta_label.setText("")
        elif live:
            self.eta_label.setText("estimating time left…")
        if message:
            self.message_label.setText(message[:200])

    def _clear_charts(self) -> None:
        for chart in self.charts.values():
            self.charts_grid.removeWidget(chart)
            chart.deleteLater()
        self.charts.clear()
        self.no_metrics.show()
        self.constants_label.clear()
        self.constants_label.hide()

    def _show_series(self) -> None:
        """Chart every series that changes (most important first); list the constant ones as
        numbers: a flat line (an example count, a fixed learning rate) says nothing a number
        does not, and its axis had only one value to label."""
        varying = [n for n, pts in self._series.items() if not is_constant(pts.values())]
        for name in sorted(varying, key=metric_priority)[:MAX_CHARTS]:
            if name not in self.charts:
                self._chart(name).set_series(name, list(self._series[name].items()))
        constants = [n for n in sorted(self._series, key=metric_priority)
                     if n not in self.charts and is_constant(self._series[n].values())]
        if constants:
            self.constants_label.setText("Constant: " + ", ".join(
                f"{n} = {format_number(list(self._series[n].values())[-1])}" for n in constants))
            self.constants_label.show()
            if not self.charts:
                self.no_metrics.setText("Every metric of this run is constant (listed above).")
        else:
            self.constants_label.hide()
            self.no_metrics.setText("No metrics recorded for this run.")

    def _chart(self, name: str) -> LineChart:
        chart = self.charts.get(name)
        if chart is None:
            chart = LineChart(metric_title(name))
            chart.setToolTip(name)
            chart.setObjectName(f"chart_{name}")
            self.charts[name] = chart
            self.no_metrics.hide()
            i = len(self.charts) - 1
            self.charts_grid.addWidget(chart, i // 2, i % 2)
        return chart

    def _update_buttons(self) -> None:
        run_id = self.selected_run_id
        job = self.runner.job_for_run(run_id) if (self.runner is not None and run_id is not None) else None
        self.btn_cancel.setEnabled(job is not None and not job.cancel_requested)
        can_resume = False
        run = getattr(self, "_run", None)
        if run_id is not None and job is None and run is not None and run.get("id") == run_id:
            from cai_desktop.jobs.base import UNFINISHED
            from cai_desktop.jobs.registry import JOBS

            can_resume = run["status"] in UNFINISHED and run["kind"] in JOBS
        self.btn_resume.setEnabled(can_resume)

    def _update_launch_buttons(self) -> None:
        for b in self.new_buttons.values():
            b.setEnabled(self.project is not None)

    # -- actions -------------------------------------------------------------------------------
    def open_new_run_dialog(self, kind: str, initial: dict | None = None):
        """Open the "new run" dialog for ``kind`` (non-blocking); returns it."""
        if self.project is None:
            self.status_message.emit("Open a project first.")
            return None
        from cai_desktop.ui.widgets.errors import show_error
        from cai_desktop.ui.widgets.forms import ParamsDialog

        try:
            dlg = ParamsDialog(kind, str(self.project.path), project=self.project, initial=initial, parent=self)
        except Exception as e:  # noqa: BLE001
            import traceback

            show_error(self, "Cannot open the dialog", f"{kind}: {e}", traceback.format_exc())
            return None
        dlg.accepted.connect(lambda: self._launch_from_dialog(dlg))
        self.dialog = dlg
        dlg.open()
        return dlg

    def _launch_from_dialog(self, dlg) -> None:
        from cai_desktop.core.errors import CaiError
        from cai_desktop.jobs.registry import JOBS
        from cai_desktop.ui.widgets.errors import show_error

        try:
            params = dlg.params()
        except (CaiError, TypeError, ValueError) as e:
            show_error(self, "Check the settings", str(e))
            return
        self._follow_new_runs = True
        self.job_requested.emit(dlg.kind, params, JOBS[dlg.kind].label)

    def cancel_selected(self) -> None:
        if self.runner is None or self.selected_run_id is None:
            return
        job = self.runner.job_for_run(self.selected_run_id)
        if job is not None:
            self.runner.cancel(job.id)
            self.message_label.setText(f"Stopping {job.name}: waiting for the current step to finish…")
        self._update_buttons()

    def resume_selected(self) -> None:
        if self.project is None or self.selected_run_id is None:
            return
        from cai_desktop.core.errors import CaiError
        from cai_desktop.jobs.registry import job
        from cai_desktop.ui.widgets.errors import show_error

        run = self.project.runs.get(self.selected_run_id)
        try:
            j = job(run["kind"])
            params = j.params.from_config(run.get("config") or {}, project=str(self.project.path),
                                          resume_run=run["id"])
        except (CaiError, TypeError, ValueError) as e:
            show_error(self, "Cannot resume", f"Run #{run['id']}: {e}")
            return
        self.job_requested.emit(run["kind"], params, f"{j.label} (resume #{run['id']})")
        self.btn_resume.setEnabled(False)

    # -- queue ---------------------------------------------------------------------------------
    def _refresh_queue(self) -> None:
        self._render_header()
        self._repaint_states()
        self.queue_list.clear()
        if self.runner is None:
            return
        job = self.runner.current_job()
        # the same words as the run header and the table: the runner's job state
        items = [(j, j.state) for j in ([job] if job else []) + self.runner.queued_jobs()]
        for j, state in items:
            it = QListWidgetItem(f"{j.name}  ·  {state}" + (f"  ·  run #{j.run_id}" if j.run_id else ""))
            it.setData(Qt.ItemDataRole.UserRole, j.id)
            self.queue_list.addItem(it)
        if not items:
            it = QListWidgetItem("Nothing queued.")
            it.setFlags(Qt.ItemFlag.NoItemFlags)
            self.queue_list.addItem(it)
        self.btn_cancel_queued.setEnabled(bool(items))
        self._update_buttons()

    def _cancel_selected_queue_item(self) -> None:
        item = self.queue_list.currentItem() or self.queue_list.item(0)
        if item is None or self.runner is None:
            return
        job_id = item.data(Qt.ItemDataRole.UserRole)
        if job_id:
            self.runner.cancel(job_id)

    # -- live updates from the runner ----------------------------------------------------------
    def _job_run(self, job_id: int) -> int | None:
        job = self.runner.jobs.get(job_id) if self.runner is not None else None
        return job.run_id if job is not None else None

    def _on_run_started(self, job_id: int, run_id: int) -> None:
        self._refresh_queue()
        if self.project is None:
            return
        self._reload_table()
        if self._follow_new_runs or self.selected_run_id is None:
            self.select_run(run_id)
        elif self.selected_run_id is not None:
            self.select_run(self.selected_run_id, reload_details=False)

    def _on_progress(self, job_id: int, done: int, total: int, message: str, eta: float) -> None:
        if self._job_run(job_id) == self.selected_run_id and self.selected_run_id is not None:
            self._set_progress(done, total, eta, message)
        if not self._table_timer.isActive():
            self._table_timer.start()

    def _on_metric(self, job_id: int, name: str, value: float, step: int) -> None:
        if self._job_run(job_id) != self.selected_run_id or self.selected_run_id is None:
            return
        points = self._series.setdefault(name, {})
        if points.get(step) == value:  # already read from the project file
            return
        appended = step not in points and all(step > s for s in points)
        points[step] = value
        chart = self.charts.get(name)
        if chart is None:
            self._show_series()
        elif appended:
            chart.add_point(name, step, value)
        else:  # a resumed run repeats steps after its checkpoint: the new values replace the old
            chart.set_series(name, sorted(points.items()))

    def _on_log(self, job_id: int, text: str) -> None:
        """New lines of the selected run, read from the project file after the last one shown.

        The job commits each line before the (throttled) signal says so, and ``show_run`` reads
        the file: appending the signal's text showed a line twice whenever the run was shown
        between the commit and the signal (at its start, on a resume, on re-selecting it)."""
        if self._job_run(job_id) != self.selected_run_id or self.selected_run_id is None:
            return
        if self.project is None:
            self.log_view.appendPlainText(text)
            return
        for row in self.project.runs.log_rows(self.selected_run_id, self._log_after):
            self.log_view.appendPlainText(row["text"])
            self._log_after = row["id"]

    def _on_job_ended(self, job_id: int) -> None:
        self._refresh_queue()
        if self.project is not None:
            self._table_timer.stop()
            self._refresh_table_keep_selection()


def is_constant(values: Any) -> bool:
    """Whether a series never changed (one value, or the same value at every step)."""
    return len({round(float(v), 12) for v in values}) <= 1


def format_number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:.4g}"


def _html(text: Any) -> str:
    import html

    return html.escape(str(text or ""))
