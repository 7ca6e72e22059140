"""The selected run, as the Runs page shows it: header, charts, log, settings and result.

The header is the run's title and state, its progress bar with the time left, the Cancel and
Resume buttons (the page connects them: they act through the job runner) and the latest
message. Metrics that change are charts (the most important first); metrics that never changed
are listed as numbers. The log, the settings with lineage and the result come from the project
file, so a finished run looks the same as a live one; ``add_metric`` and ``append_log`` grow them
while the run is active. Set ``project`` and ``runner`` (either may be None), then ``show_run``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.evaluation import format_eval
from cai_desktop.ui.widgets.chart import LineChart
from cai_desktop.ui.widgets.eta import format_eta
from cai_desktop.ui.widgets.frontier import FrontierPlot, WinRateBars, frontier_points

#: run kinds with plots (the "Plots" tab); those with a report: jobs.reports.report_kinds()
PLOT_KINDS = ("eval", "compare")


def report_kinds() -> tuple[str, ...]:
    from cai_desktop.jobs.reports import report_kinds as kinds

    return kinds()


class ReportSignals(QObject):
    """The background report writer's answer: ``done(path, error)`` (one of them empty)."""

    done = Signal(str, str)

SHORT_LABELS = {"critique": "Critique & revision", "distill": "Teacher answers", "sft": "SFT", "pairs": "Response pairs",
                "label": "AI labels", "reward": "Preference model", "rloo": "RLOO (recommended)",
                "ppo": "PPO (as in the paper)", "dpo": "DPO",
                "eval": "Before/after eval", "compare": "Head-to-head"}
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
    words = [w.upper() if w.lower() in ("kl", "ppo", "dpo", "lr", "rloo", "grpo") else w for w in words]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def kind_label(kind: Any, row: dict | None = None) -> str:
    """A run kind in words ("Preference model", not "reward")."""
    return SHORT_LABELS.get(str(kind or ""), str(kind or "").capitalize())


class RunDetail(QWidget):
    """One run's header, charts, log, settings & lineage and result (see the module docstring)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = None
        self.runner = None
        self.run_id: int | None = None
        self._run: dict | None = None
        self.charts: dict[str, LineChart] = {}
        #: the shown run's metrics, name -> step -> value (a step seen twice is kept once)
        self._series: dict[str, dict[float, float]] = {}
        self._log_after = 0  # id of the last log row shown

        rl = QVBoxLayout(self)
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
        self.btn_resume = QPushButton("Resume")
        self.btn_resume.setToolTip("Continue this run with its stored settings; done work is skipped.")
        ph.addWidget(self.progress, 1)
        ph.addWidget(self.eta_label)
        ph.addWidget(self.btn_cancel)
        ph.addWidget(self.btn_resume)
        self.btn_report = QPushButton("Export report…")
        self.btn_report.setObjectName("exportReport")
        self.btn_report.setToolTip("Write this evaluation's report: one HTML file with its tables, plots, examples, "
                                   "settings and lineage, to send around.")
        self.btn_report.clicked.connect(lambda: self.export_report())
        self.btn_report.hide()
        ph.addWidget(self.btn_report)
        self.report_signals = ReportSignals()
        self.report_signals.done.connect(self._report_written)
        self.last_report: str | None = None
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
        self.plots = QWidget()
        self.plots.setObjectName("runPlots")
        pl = QVBoxLayout(self.plots)
        prow = QHBoxLayout()
        self.frontier_plot = FrontierPlot()
        self.frontier_plot.setObjectName("frontierPlot")
        self.win_rate_bars = WinRateBars()
        self.win_rate_bars.setObjectName("winRateBars")
        prow.addWidget(self.frontier_plot, 1)
        prow.addWidget(self.win_rate_bars, 1)
        pl.addLayout(prow, 1)
        self.btn_save_plots = QPushButton("Save plots as PNG…")
        self.btn_save_plots.setToolTip("Save the two plots as they are drawn here (two PNG files).")
        self.btn_save_plots.clicked.connect(lambda: self.save_plots())
        pl.addWidget(self.btn_save_plots, 0, Qt.AlignmentFlag.AlignRight)
        self._plots_index = -1
        rsplit.addWidget(self.tabs)
        rsplit.setSizes([360, 240])
        rl.addWidget(rsplit, 1)
        self.update_buttons()

    def run_state(self, run_id: int | None, stored: str = "") -> str:
        """A run's state in words: the runner's job state while a job has the run (queued,
        running, stopping), else what the project file says. The header, the table and the queue
        all read it, so they never disagree."""
        job = self.runner.job_for_run(run_id) if (self.runner is not None and run_id is not None) else None
        return job.state if job is not None else (stored or "")

    def render_header(self) -> None:
        run = self._run
        if run is None or run.get("id") != self.run_id:
            return
        status = self.run_state(run["id"], run["status"])
        err = f"<br><span style='color:#b3261e'>{_html(run['error'])}</span>" if run.get("error") else ""
        self.run_title.setText(
            f"<b>#{run['id']} {_html(run['name'] or kind_label(run['kind']))}</b> — {kind_label(run['kind'])}"
            f" — <i>{status}</i>{err}{_provenance(run)}"
        )

    def show_run(self, run_id: int | None) -> None:
        """Show ``run_id`` as the project file has it (and its job's live progress), or nothing."""
        self.run_id = run_id
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
            self._run = None
            self._show_plots(None)
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.update_buttons()
            return
        try:
            run = self.project.runs.get(run_id)
        except Exception as e:  # noqa: BLE001
            self.run_title.setText(str(e))
            self.update_buttons()
            return
        self._run = run
        self.render_header()
        done, total = run.get("progress_done") or 0, run.get("progress_total") or 0
        self.set_progress(done, total)
        job = self.runner.job_for_run(run_id) if self.runner is not None else None
        if job is not None and job.total:
            self.set_progress(job.done, job.total, job.eta_s, job.message, live=job.status == "running")
        # metrics: a chart for each series that changes, a number for each that never did
        for m in self.project.runs.metrics(run_id):
            self._series.setdefault(m["name"], {})[m["step"]] = m["value"]
        self._show_series()
        # log: the project file is the one source (see append_log)
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
        self._show_plots(run)
        self.update_buttons()

    # -- evaluation plots and the report ---------------------------------------------------------
    def _show_plots(self, run: dict | None) -> None:
        """The frontier and win-rate plots of an evaluation run, in a "Plots" tab (first shown)."""
        result = (run or {}).get("result") or {}
        points = frontier_points(result) if (run or {}).get("kind") in PLOT_KINDS else []
        if not points:
            if self._plots_index >= 0:
                self.tabs.removeTab(self._plots_index)
                self._plots_index = -1
            return
        self.frontier_plot.set_points(points)
        ai = result.get("ai") or {}
        self.win_rate_bars.set_win_rates(ai.get("win_rates") or {}, result.get("policy_labels") or [])
        self.win_rate_bars.setVisible(bool(ai.get("win_rates")))
        if self._plots_index < 0:
            self._plots_index = self.tabs.insertTab(0, self.plots, "Plots")
        self.tabs.setCurrentIndex(self._plots_index)

    def save_plots(self, folder: str | None = None) -> list[Path]:
        """Write the shown plots as PNG files (``frontier-run-N.png``, ``win-rates-run-N.png``)."""
        if folder is None:
            start = str(self.project.artifacts_dir / f"run-{self.run_id}") if self.project is not None else ""
            folder = QFileDialog.getExistingDirectory(self, "Save the plots in", start)
            if not folder:
                return []
        out = []
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            out.append(self.frontier_plot.save_png(Path(folder) / f"frontier-run-{self.run_id}.png"))
            if self.win_rate_bars.isVisible():
                out.append(self.win_rate_bars.save_png(Path(folder) / f"win-rates-run-{self.run_id}.png"))
        except OSError as e:
            from cai_desktop.ui.widgets.errors import show_error

            show_error(self, "Cannot save the plots", f"The plots could not be saved in {folder}: {e}.")
            return []
        self.message_label.setText(f"Plots saved in {folder}")
        return out

    def export_report(self, path: str | None = None) -> bool:
        """Write the run's HTML report in the background (it recomputes people's ratings), to
        ``path`` or where the person chooses; ``report_signals.done`` says when it is written."""
        if self.project is None or self.run_id is None:
            return False
        if path is None:
            from cai_desktop.jobs.reports import default_path

            path, _ = QFileDialog.getSaveFileName(self, "Export the report", str(default_path(self.project, self.run_id)),
                                                  "HTML report (*.html)")
            if not path:
                return False
        project_path, run_id = str(self.project.path), self.run_id
        self.btn_report.setEnabled(False)
        self.message_label.setText("Writing the report…")

        def work() -> None:
            from cai_desktop.core.errors import CaiError
            from cai_desktop.jobs.reports import write_report
            from cai_desktop.store.project import Project

            try:
                with Project.open(project_path) as project:
                    written = write_report(project, run_id, path)
                self.report_signals.done.emit(str(written), "")
            except CaiError as e:
                self.report_signals.done.emit("", str(e))
            except Exception as e:  # noqa: BLE001 - one line for the person, never a traceback
                self.report_signals.done.emit("", f"The report could not be written ({type(e).__name__}: {e}).")

        threading.Thread(target=work, name=f"report-run-{run_id}", daemon=True).start()
        return True

    def _report_written(self, path: str, error: str) -> None:
        self.update_buttons()
        if error:
            from cai_desktop.ui.widgets.errors import show_error

            self.message_label.setText("")
            show_error(self, "Cannot export the report", error)
            return
        self.last_report = path
        self.message_label.setText(f"Report written: {path}")

    def set_progress(self, done: int, total: int, eta: float = -1.0, message: str = "", live: bool = False) -> None:
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

    def update_buttons(self) -> None:
        run_id = self.run_id
        job = self.runner.job_for_run(run_id) if (self.runner is not None and run_id is not None) else None
        self.btn_cancel.setEnabled(job is not None and not job.cancel_requested)
        can_resume = False
        run = self._run
        if run_id is not None and job is None and run is not None and run.get("id") == run_id:
            from cai_desktop.jobs.base import UNFINISHED
            from cai_desktop.jobs.registry import JOBS

            can_resume = run["status"] in UNFINISHED and run["kind"] in JOBS
        self.btn_resume.setEnabled(can_resume)
        reportable = run is not None and run.get("id") == run_id and run.get("kind") in report_kinds()
        self.btn_report.setVisible(reportable)
        self.btn_report.setEnabled(reportable and run.get("status") == "done" and job is None)

    # -- live updates (the page passes on those of the shown run) ------------------------------
    def add_metric(self, name: str, value: float, step: int) -> None:
        """A metric the run's job just reported: extend its chart, or chart it once it changes."""
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

    def append_log(self, text: str) -> None:
        """New lines of the shown run, read from the project file after the last one shown.

        The job commits each line before the (throttled) signal says so, and ``show_run`` reads
        the file: appending the signal's text showed a line twice whenever the run was shown
        between the commit and the signal (at its start, on a resume, on re-selecting it)."""
        if self.project is None:
            self.log_view.appendPlainText(text)
            return
        for row in self.project.runs.log_rows(self.run_id, self._log_after):
            self.log_view.appendPlainText(row["text"])
            self._log_after = row["id"]


def is_constant(values: Any) -> bool:
    """Whether a series never changed (one value, or the same value at every step)."""
    return len({round(float(v), 12) for v in values}) <= 1


def format_number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:.4g}"


def _html(text: Any) -> str:
    import html

    return html.escape(str(text or ""))


def _provenance(run: dict) -> str:
    """A second header line: what the run trained on, by source (human, AI revisions, AI labels,
    teacher answers, helpful), and which model played which role."""
    from cai_desktop.jobs.mixing import describe_counts

    lineage, result = run.get("lineage") or {}, run.get("result") or {}
    lineage = lineage if isinstance(lineage, dict) else {}
    data = lineage.get("data") if isinstance(lineage.get("data"), dict) else lineage
    sources = (data or {}).get("sources_weighted") or (data or {}).get("sources")
    parts = []
    if isinstance(sources, dict) and sources:
        parts.append("data: " + describe_counts(sources))
    roles = result.get("roles") or lineage.get("roles")
    if isinstance(roles, dict) and roles:
        names = []
        for role, who in roles.items():
            spec = who.get("spec") if isinstance(who, dict) else who
            names.append(f"{role} {str(spec or 'embedded default').rsplit('/', 1)[-1]}")
        parts.append("roles: " + ", ".join(names))
    return f"<br><small>{_html(' · '.join(parts))}</small>" if parts else ""

