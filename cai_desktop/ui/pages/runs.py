"""Runs: launch jobs, watch the queue, and follow each run's progress, charts, log and lineage.

The page holds the launch buttons (stage 1, then stage 2), the job queue and the runs table, a
``PagedTableModel`` over the ``runs`` table; the selected run is shown by a ``RunDetail``
(``ui/widgets/run_detail.py``), whose metrics and log come from the project file (so finished runs
look the same as live ones) and grow live from the job runner's signals while the run is active.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
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
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.ui.pages import Page
from cai_desktop.ui.widgets.paged import PagedTableModel
from cai_desktop.ui.widgets.run_detail import (  # noqa: F401 - the page's names, kept importable here
    MAX_CHARTS,
    MAX_LOG_LINES,
    METRIC_TITLES,
    PRIORITY,
    SHORT_LABELS,
    RunDetail,
    format_number,
    is_constant,
    kind_label,
    metric_priority,
    metric_title,
)

RUN_COLUMNS = [
    ("id", "#"),
    ("kind", "Kind"),
    ("name", "Name"),
    ("status", "Status"),
    ("progress", "Progress"),
    ("created_at", "Created"),
    ("finished_at", "Finished"),
]


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
        self.dialog: QDialog | None = None
        self._follow_new_runs = True

        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 10, 12, 10)

        # launch buttons, in workflow order: stage 1 then stage 2
        from cai_desktop.jobs.registry import JOBS, LAUNCHABLE, STAGES, unavailable

        launch = QGridLayout()
        launch.setHorizontalSpacing(6)
        self.new_buttons: dict[str, QPushButton] = {}
        stages = STAGES
        for r, (label, kinds) in enumerate(stages):
            launch.addWidget(QLabel(f"<b>{label}</b>"), r, 0)
            for c, kind in enumerate(kinds):
                b = QPushButton(SHORT_LABELS.get(kind, JOBS[kind].label).replace("&", "&&") + "…")
                b.setToolTip(JOBS[kind].description)
                if why := unavailable(kind):  # e.g. PPO without a TRL that has it
                    b.setEnabled(False)
                    b.setToolTip(why)
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

        # right: the selected run (its widgets are also the page's, under the names they always had)
        self.detail = RunDetail()
        self.detail.btn_cancel.clicked.connect(self.cancel_selected)
        self.detail.btn_resume.clicked.connect(self.resume_selected)
        d = self.detail
        self.charts = d.charts
        self.run_title, self.progress, self.eta_label = d.run_title, d.progress, d.eta_label
        self.btn_cancel, self.btn_resume, self.message_label = d.btn_cancel, d.btn_resume, d.message_label
        self.constants_label, self.tabs = d.constants_label, d.tabs
        self.log_view, self.settings_view, self.result_view = d.log_view, d.settings_view, d.result_view
        split.addWidget(self.detail)
        split.setSizes([530, 670])

        # redraws of the table while a run is active are coalesced
        self._table_timer = QTimer(self)
        self._table_timer.setSingleShot(True)
        self._table_timer.setInterval(500)
        self._table_timer.timeout.connect(lambda: self._refresh_table_keep_selection(reload_details=False))
        self.detail.update_buttons()

    @property
    def selected_run_id(self) -> int | None:
        """The run shown on the right (None when none is)."""
        return self.detail.run_id

    @selected_run_id.setter
    def selected_run_id(self, run_id: int | None) -> None:
        self.detail.run_id = run_id

    # -- wiring --------------------------------------------------------------------------------
    def set_runner(self, runner) -> None:
        self.runner = runner
        self.detail.runner = runner
        runner.queue_changed.connect(self._refresh_queue)
        runner.job_run_started.connect(self._on_run_started)
        runner.job_progress.connect(self._on_progress)
        runner.job_metric.connect(self._on_metric)
        runner.job_log.connect(self._on_log)
        runner.job_ended.connect(self._on_job_ended)
        self._refresh_queue()

    def set_project(self, project) -> None:
        self.selected_run_id = None
        self.detail.project = project
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
        """A run's state in words (``RunDetail.run_state``): the header, the table and the queue
        all read it, so they never disagree."""
        return self.detail.run_state(run_id, stored)

    def _repaint_states(self) -> None:
        """The table's Status cells read ``run_state``: repaint them when the queue changes."""
        n = min(self.model.rowCount(), 500)
        if n:
            from cai_desktop.ui.jobrunner import emit

            col = [key for key, _ in RUN_COLUMNS].index("status")
            emit(self.model.dataChanged, self.model.index(0, col), self.model.index(n - 1, col))

    def show_run(self, run_id: int | None) -> None:
        self.detail.show_run(run_id)

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
        self.detail.update_buttons()

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
        self.detail.render_header()
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
        self.detail.update_buttons()

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
            self.detail.set_progress(done, total, eta, message)
        if not self._table_timer.isActive():
            self._table_timer.start()

    def _on_metric(self, job_id: int, name: str, value: float, step: int) -> None:
        if self._job_run(job_id) != self.selected_run_id or self.selected_run_id is None:
            return
        self.detail.add_metric(name, value, step)

    def _on_log(self, job_id: int, text: str) -> None:
        """New lines of the selected run (``RunDetail.append_log`` reads them from the project file)."""
        if self._job_run(job_id) != self.selected_run_id or self.selected_run_id is None:
            return
        self.detail.append_log(text)

    def _on_job_ended(self, job_id: int) -> None:
        self._refresh_queue()
        if self.project is not None:
            self._table_timer.stop()
            self._refresh_table_keep_selection()

