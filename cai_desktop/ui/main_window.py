"""The main window (grows screen by screen)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox

from cai_desktop.core.errors import CaiError


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("CAI Desktop")
        self.resize(1200, 800)
        self.project = None
        self.setCentralWidget(QLabel("Open or create a project to begin."))

    def open_project(self, path: str) -> bool:
        from cai_desktop.store.project import Project

        try:
            self.project = Project.open(path)
        except CaiError as e:
            QMessageBox.warning(self, "Cannot open project", str(e))
            return False
        self.setWindowTitle(f"CAI Desktop — {self.project.path.name}")
        return True
