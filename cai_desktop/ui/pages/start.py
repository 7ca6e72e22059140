"""Start: recent projects, new / open / sample project, and the workflow in five steps."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.ui.pages import Page
from cai_desktop.ui.widgets.paged import plural

WORKFLOW = (
    ("constitution", "1. Write the constitution",
     "Principles in your own words: a critique request, a revision request and a comparison question."),
    ("prompts", "2. Choose prompts", "Red-team prompts to answer and critique; helpful prompts to keep helpfulness."),
    ("runs", "3. Critique & revise (SL-CAI)",
     "The model answers, critiques its answer under a drawn principle and revises it, round after round."),
    ("inspector", "4. Review", "Read original and revision side by side; accept, reject or edit."),
    ("runs", "5. Train", "LoRA SFT on the revisions; then AI feedback labels, a preference model and RLOO."),
    ("comparisons", "6. Check the AI's judgement", "Compare answers blind and see how often you agree with its soft labels."),
)


class StartPage(Page):
    title = "Start"
    #: ask the window for a new project (True: with the starter content)
    new_project_requested = Signal(bool)
    #: ask the window to open a project: a path, or "" to ask for one
    open_project_requested = Signal(str)
    #: ask the window to show the guide (Help → Guide)
    guide_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: recent project paths, newest first (the window keeps the list and hands it here)
        self.recent_paths: list[str] = []
        outer = QVBoxLayout(self)
        outer.setContentsMargins(32, 24, 32, 24)
        outer.setSpacing(14)

        head = QLabel("<h1 style='margin:0'>CAI Desktop</h1>")
        sub = QLabel(
            "Constitutional AI on your own machine: write principles, let a model critique and revise "
            "its own answers, review them, and train on them."
        )
        sub.setWordWrap(True)
        sub.setObjectName("subtitle")
        outer.addWidget(head)
        outer.addWidget(sub)
        self.project_label = QLabel("No project open.")
        self.project_label.setObjectName("projectLabel")
        outer.addWidget(self.project_label)

        row = QHBoxLayout()
        row.setSpacing(24)
        outer.addLayout(row, 1)

        # left: project actions and recent projects
        left = QVBoxLayout()
        row.addLayout(left, 2)
        buttons = QHBoxLayout()
        self.btn_new = QPushButton("New project…")
        self.btn_open = QPushButton("Open project…")
        self.btn_sample = QPushButton("Create sample project…")
        self.btn_sample.setObjectName("primary")
        self.btn_sample.setToolTip(
            "A new project with the starter constitutions and the red-team and helpful prompt sets, "
            "ready to run on the embedded model."
        )
        for b in (self.btn_sample, self.btn_new, self.btn_open):
            buttons.addWidget(b)
        buttons.addStretch(1)
        left.addLayout(buttons)
        self.btn_recipe = QPushButton("Run the whole method…")
        self.btn_recipe.setObjectName("runRecipe")
        self.btn_recipe.setToolTip(
            "Chains, helpful answers, teacher answers, SFT and the before/after evaluation, queued as jobs in "
            "one go, with a time estimate for this machine."
        )
        self.btn_recipe.setEnabled(False)
        self.btn_recipe.clicked.connect(self.open_recipe)
        #: the open "Run the whole method" dialog (non-modal), if any
        self.recipe_dialog = None
        recipe_row = QHBoxLayout()
        recipe_row.addWidget(self.btn_recipe)
        recipe_row.addStretch(1)
        left.addLayout(recipe_row)
        left.addWidget(QLabel("<b>Recent projects</b>"))
        self.recent = QListWidget()
        self.recent.setObjectName("recentProjects")
        self.recent.itemActivated.connect(self._open_recent)
        self.recent.itemDoubleClicked.connect(self._open_recent)
        left.addWidget(self.recent, 1)

        # right: the workflow
        right = QVBoxLayout()
        row.addLayout(right, 3)
        right.addWidget(QLabel("<b>The workflow</b>"))
        grid = QGridLayout()
        grid.setVerticalSpacing(8)
        self.step_buttons: list[QPushButton] = []
        for i, (key, title, text) in enumerate(WORKFLOW):
            card = QFrame()
            card.setObjectName("card")
            card.setFrameShape(QFrame.Shape.StyledPanel)
            cl = QHBoxLayout(card)
            lab = QLabel(f"<b>{title}</b><br><span>{text}</span>")
            lab.setWordWrap(True)
            cl.addWidget(lab, 1)
            btn = QPushButton("Open")
            btn.setProperty("target", key)
            btn.clicked.connect(lambda *_, k=key: self.navigate_requested.emit(k))
            btn.setEnabled(False)
            cl.addWidget(btn, 0, Qt.AlignmentFlag.AlignVCenter)
            self.step_buttons.append(btn)
            grid.addWidget(card, i, 0)
        right.addLayout(grid)
        guide = QLabel("Each step and the method behind it are explained in the "
                       "<a href='guide'>guide</a> (Help → Guide, F1).")
        guide.setObjectName("subtitle")
        guide.linkActivated.connect(lambda *_: self.guide_requested.emit())
        right.addWidget(guide)
        right.addStretch(1)

        self.btn_new.clicked.connect(lambda: self.new_project_requested.emit(False))
        self.btn_open.clicked.connect(lambda: self.open_project_requested.emit(""))
        self.btn_sample.clicked.connect(lambda: self.new_project_requested.emit(True))
        self.refresh_recent()

    def open_recipe(self) -> None:
        """Show the "Run the whole method" dialog; its jobs go to the window like any other."""
        if self.project is None:
            return
        from cai_desktop.ui.widgets.recipe_dialog import RecipeDialog

        if self.recipe_dialog is None:
            self.recipe_dialog = RecipeDialog(self.project, self)
            self.recipe_dialog.job_requested.connect(self.job_requested)
        else:
            self.recipe_dialog.set_project(self.project)
        self.recipe_dialog.show()
        self.recipe_dialog.raise_()
        self.recipe_dialog.activateWindow()

    def set_recent_projects(self, paths: list[str]) -> None:
        self.recent_paths = list(paths)
        self.refresh_recent()

    def _open_recent(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path:
            self.open_project_requested.emit(path)

    def refresh_recent(self) -> None:
        self.recent.clear()
        paths = self.recent_paths
        for p in paths:
            exists = Path(p).exists()
            item = QListWidgetItem(f"{Path(p).name}    —    {Path(p).parent}" + ("" if exists else "  (missing)"))
            item.setData(Qt.ItemDataRole.UserRole, p)
            item.setToolTip(p)
            if not exists:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.recent.addItem(item)
        if not paths:
            item = QListWidgetItem("No recent projects yet. Create the sample project to start.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent.addItem(item)

    def refresh(self) -> None:
        has = self.project is not None
        for b in self.step_buttons:
            b.setEnabled(has)
        self.btn_recipe.setEnabled(has)
        if self.recipe_dialog is not None and self.recipe_dialog.project is not self.project:
            self.recipe_dialog.close()  # planned for another project
            self.recipe_dialog.set_project(self.project)
        if has:
            p = self.project
            try:
                n = p.stats.counts()
                summary = ", ".join(plural(n[k], one) for k, one in (
                    ("constitutions", "constitution"), ("prompts", "prompt"), ("chains", "chain"), ("runs", "run")))
                self.project_label.setText(f"Open: <b>{p.path.name}</b> — {summary}")
            except Exception:  # noqa: BLE001
                self.project_label.setText(f"Open: <b>{p.path.name}</b>")
        else:
            self.project_label.setText("No project open.")
        self.refresh_recent()
