"""The "Run the whole method" dialog: a size, the plan with its time estimate, and Start.

Non-modal, so the user can keep reading the project while it is open. The plan comes from
``cai_desktop.jobs.recipe.plan``, which only reads the project (a few small queries, no torch), so
recomputing it when the size changes costs milliseconds on the GUI thread. Start emits
``job_requested`` once per step, in order; the page forwards it to the window's job queue, which
runs the jobs one at a time.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

SIZE_TEXT = {
    "quick": "Quick: a few prompts, shows every step working (minutes)",
    "standard": "Standard: the recipe sized for a 2-core CPU (within 45 min by the estimate)",
    "full": "Full: every training prompt, 4 revision rounds, every held-out prompt (hours on a CPU)",
}


class RecipeDialog(QDialog):
    """Size choice, the plan and its estimate, and Start (which queues the plan's jobs)."""

    #: (kind, params, name) per job to queue, in order (the page forwards it to the window)
    job_requested = Signal(str, object, str)

    def __init__(self, project: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from cai_desktop.jobs.recipe import SIZES

        self.project = project
        self.plan = None
        self.setWindowTitle("Run the whole method")
        self.setModal(False)
        self.resize(760, 520)
        layout = QVBoxLayout(self)
        intro = QLabel("Critique → revision chains, helpful answers, teacher answers (when the teacher is a different "
                       "model), LoRA SFT on all of it, then the before/after evaluation on the held-out prompts. "
                       "Each step is a job in the queue: you can watch, cancel and resume it on the Runs page.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.size = QComboBox()
        self.size.setObjectName("recipeSize")
        for s in SIZES:
            self.size.addItem(SIZE_TEXT.get(s, s), s)
        self.size.setCurrentIndex(SIZES.index("standard"))
        form.addRow("Size", self.size)
        layout.addLayout(form)
        self.text = QPlainTextEdit()
        self.text.setObjectName("recipePlan")
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        layout.addWidget(self.text, 1)
        self.estimate = QLabel()
        self.estimate.setObjectName("recipeEstimate")
        layout.addWidget(self.estimate)
        buttons = QDialogButtonBox()
        self.btn_start = QPushButton("Start")
        self.btn_start.setObjectName("primary")
        self.btn_start.setToolTip("Queue the jobs above, in order; they run one at a time.")
        buttons.addButton(self.btn_start, QDialogButtonBox.ButtonRole.AcceptRole)
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.clicked.connect(self.close)
        self.btn_start.clicked.connect(self.start)
        layout.addWidget(buttons)
        self.size.currentIndexChanged.connect(lambda *_: self.refresh())
        self.refresh()

    def current_size(self) -> str:
        return self.size.currentData()

    def set_project(self, project: Any) -> None:
        self.project = project
        self.refresh()

    def refresh(self) -> None:
        """Recompute the plan for the chosen size (reads the project only)."""
        from cai_desktop.core.errors import CaiError
        from cai_desktop.jobs.recipe import format_duration, plan

        self.plan = None
        if self.project is None:
            self.text.setPlainText("Open a project first.")
            self.estimate.setText("")
        else:
            try:
                self.plan = plan(self.project, self.current_size())
            except CaiError as e:
                self.text.setPlainText(f"This project cannot run the recipe yet: {e}")
                self.estimate.setText("")
            except Exception as e:  # noqa: BLE001 - a broken project must not break the dialog
                self.text.setPlainText(f"Could not plan the recipe: {type(e).__name__}: {e}")
                self.estimate.setText("")
            else:
                self.text.setPlainText("\n".join(self.plan.describe()))
                self.estimate.setText(f"<b>{len(self.plan.steps)} jobs, about "
                                      f"{format_duration(self.plan.total_seconds)} in total</b>")
        self.btn_start.setEnabled(self.plan is not None and bool(self.plan.steps))

    def start(self) -> None:
        """Queue every step (fresh from the project as it is now), then close."""
        self.refresh()
        if self.plan is None:
            return
        for kind, params, name in self.plan.jobs():
            self.job_requested.emit(kind, params, name)
        self.close()


if __name__ == "__main__":  # pragma: no cover - run the dialog alone on a sample project
    import sys
    import tempfile
    from pathlib import Path

    from PySide6.QtWidgets import QApplication

    from cai_desktop.jobs.sample import add_starter_content
    from cai_desktop.store.project import Project

    app = QApplication(sys.argv)
    proj = Project.create(Path(tempfile.mkdtemp()) / "sample.caiproj")
    add_starter_content(proj)
    dlg = RecipeDialog(proj)
    dlg.job_requested.connect(lambda kind, params, name: print("queued:", kind, name))
    dlg.show()
    sys.exit(app.exec())
