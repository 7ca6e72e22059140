"""The main window's side of jobs: the status bar, queueing, failures, and stopping jobs on quit.

``WindowJobsMixin`` is mixed into ``MainWindow`` (``ui/main_window.py``). The status bar says
which job runs (with a progress bar and the time left) and which device it uses, read only once
a job has imported torch. A failed job shows its error; an ended one refreshes the pages whose
data it changed. Quitting or closing the project while a job runs asks first, then cancels and
waits for the job's next check (never terminating the thread), offering to quit anyway after
``STOP_WAIT_S``: finished work is already committed.
"""

from __future__ import annotations

import sys
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QProgressBar

from cai_desktop.ui.pages.datakinds import ALL, job_changes
from cai_desktop.ui.widgets.errors import show_error
from cai_desktop.ui.widgets.eta import format_eta


class WindowJobsMixin:
    """Status bar, job queueing and job endings, and stopping jobs when quitting, for ``MainWindow``."""

    # -- status bar ----------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.job_label = QLabel("")
        self.job_label.setObjectName("jobLabel")
        self.job_bar = QProgressBar()
        self.job_bar.setMaximumWidth(160)
        self.job_bar.setMaximumHeight(14)
        self.job_bar.setTextVisible(False)
        self.job_bar.hide()
        self.device_label = QLabel("Device: CPU (not loaded yet)")
        self.device_label.setObjectName("deviceLabel")
        self.device_label.setToolTip("The compute device; the model is loaded when a job first needs it.")
        sb.addPermanentWidget(self.job_label)
        sb.addPermanentWidget(self.job_bar)
        sb.addPermanentWidget(self.device_label)

    def _status(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def update_device(self) -> None:
        """Refresh the device label; reads torch only once a job has imported it completely
        (asking while a job is still importing it would wait for that import here)."""
        torch = sys.modules.get("torch")
        if torch is None or getattr(getattr(torch, "__spec__", None), "_initializing", False):
            return
        try:
            from cai_desktop.jobs.tryit import device_summary

            text = device_summary()
        except Exception:  # noqa: BLE001
            text = ""
        if text:
            self._device_text = text
            self._device_known = True
        self._show_device()

    def _show_device(self) -> None:
        """"Device: X", "(in use by <job>)" while a job runs, "(not loaded yet)" before any did."""
        job = self.runner.current_job()
        if job is not None:
            self.device_label.setText(f"Device: {self._device_text} (in use by {job.name})")
        elif getattr(self, "_device_known", False):
            self.device_label.setText(f"Device: {self._device_text}")
        else:
            self.device_label.setText(f"Device: {self._device_text} (not loaded yet)")

    def _update_job_status(self) -> None:
        job = self.runner.current_job()
        queued = len(self.runner.queued_jobs())
        self._show_device()
        if job is None:
            self.job_label.setText(f"{queued} queued" if queued else "")
            self.job_bar.hide()
            return
        extra = f" (+{queued} queued)" if queued else ""
        if job.cancel_requested:
            self.job_label.setText(f"Stopping {job.name}: waiting for the current step to finish…{extra}")
        else:
            self.job_label.setText(f"Running: {job.name}{extra}")
        self.job_bar.show()

    def _on_job_started(self, job_id: int) -> None:
        self.job_bar.setRange(0, 0)
        self._update_job_status()

    def _on_job_progress(self, job_id: int, done: int, total: int, message: str, eta: float) -> None:
        if not getattr(self, "_device_known", False):
            self.update_device()  # the job has loaded torch by now: say which device it uses
        if total > 0:
            self.job_bar.setRange(0, total)
            self.job_bar.setValue(min(done, total))
        job = self.runner.jobs.get(job_id)
        if job is not None:
            eta_txt = f", {format_eta(eta)} left" if eta >= 0 and done < total else ""
            self.job_bar.setToolTip(f"{job.name}: {done}/{total}{eta_txt} {message}")

    def _on_job_failed(self, job_id: int, message: str, details: str) -> None:
        job = self.runner.jobs.get(job_id)
        name = job.name if job else "job"
        self.last_error_box = show_error(self, f"{name} failed", message, details)

    def _on_job_ended(self, job_id: int) -> None:
        self._update_job_status()
        self.update_device()
        job = self.runner.jobs.get(job_id)
        if job is not None:
            self._status(f"{job.name}: {job.status}")
        self.refresh_pages(job_changes(job.kind) if job is not None else ALL)

    # -- jobs ----------------------------------------------------------------------------------
    def submit_job(self, kind: str, params: Any, name: str = "") -> int | None:
        """Queue a declared job of ``kind`` with ``params``."""
        from functools import partial

        from cai_desktop.core.errors import CaiError
        from cai_desktop.jobs.base import run_job
        from cai_desktop.jobs.registry import job

        try:
            fn = partial(run_job, job(kind))
        except CaiError as e:
            self.last_error_box = show_error(self, "Cannot start the job", str(e))
            return None
        job_id = self.runner.submit(kind, fn, params, name or kind)
        self._status(f"Queued: {name or kind}")
        return job_id

    # -- stopping jobs when quitting -----------------------------------------------------------
    def _stop_jobs_for_quit(self) -> None:
        """Cancel every job and wait, saying for what, while the window keeps painting.

        The job stops at its next check (between decoding or training steps), usually within a
        few seconds; the thread is never terminated. After ``STOP_WAIT_S`` the user may wait on
        or quit anyway: finished work is already committed to the project.
        """
        from PySide6.QtWidgets import QProgressDialog

        job = self.runner.current_job()
        name = job.name if job is not None else "the job"
        text = f"Stopping {name}: waiting for the current step to finish…"
        self.runner.cancel_all()
        self.job_label.setText(text)
        box = QProgressDialog(text, "", 0, 0, self)
        box.setWindowTitle("Quitting")
        box.setCancelButton(None)
        box.setMinimumDuration(0)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.show()
        self.stop_box = box
        self._stopping = True
        try:
            while not self.runner.wait_idle(int(self.STOP_WAIT_S * 1000), background=True):
                if not self._ask_keep_waiting(name):
                    self._quit_anyway()
                    return
        finally:
            self._stopping = False
            self.stop_box = None
            box.close()
            box.deleteLater()

    def _ask_keep_waiting(self, name: str) -> bool:
        """True to keep waiting for the job, False to quit anyway."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("The job is still stopping")
        box.setText(f"{name} has not stopped after {self.STOP_WAIT_S:.0f} s: it is still finishing its "
                    "current step.")
        box.setInformativeText("Finished work is already saved in the project, and the run can be resumed "
                               "later. Quitting now loses only the step in progress.")
        wait = box.addButton("Keep waiting", QMessageBox.ButtonRole.RejectRole)
        box.addButton("Quit anyway", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(wait)
        box.exec()
        return box.clickedButton() is wait

    def _quit_anyway(self) -> None:
        """Leave at once while the job thread still runs (it cannot be stopped from outside, and
        Qt aborts when a running QThread is destroyed). Every finished batch is committed and
        SQLite rolls back the one in progress, so the project stays whole."""
        import os

        self._save_state()
        if self.project is not None:
            try:
                self.project.close()
            except Exception:  # noqa: BLE001 - leaving anyway
                pass
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def _confirm_cancel_jobs(self, what: str) -> bool:
        job = self.runner.current_job()
        name = job.name if job else "a job"
        answer = QMessageBox.question(
            self, "A job is running",
            f"{what} while {name} is running?\n\nThe job will be cancelled; its finished work is "
            "saved and the run can be resumed later.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    #: seconds to wait for a cancelled job before offering to quit anyway
    STOP_WAIT_S = 10.0
