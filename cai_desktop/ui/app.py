"""Application entry: QApplication, the main window, and the event loop."""

from __future__ import annotations

import sys


def run_app(project: str | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    from cai_desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("CAI Desktop")
    app.setOrganizationName("CAI Desktop")
    window = MainWindow()
    if project:
        window.open_project(project)
    window.show()
    return app.exec()
