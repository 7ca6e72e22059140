"""Application entry: QApplication, the style, the main window, and the event loop."""

from __future__ import annotations

import sys

#: a calm, light look; kept inline so it ships with the package without data files
STYLE = """
QMainWindow, QDialog { background: #f6f7f9; }
QListWidget#navigation {
    background: #eceff3; border: none; border-right: 1px solid #d7dbe0; padding-top: 8px;
    font-size: 13px; outline: 0;
}
QListWidget#navigation::item { padding: 9px 14px; border-radius: 6px; margin: 1px 6px; color: #2b2f36; }
QListWidget#navigation::item:selected { background: #2f6fb3; color: white; }
QListWidget#navigation::item:disabled { color: #a0a6ae; }
QListWidget#navigation::item:hover:!selected { background: #dde3ea; }
QPushButton {
    background: white; border: 1px solid #c9ced6; border-radius: 6px; padding: 5px 12px; color: #1f2328;
}
QPushButton:hover { background: #f0f4f9; border-color: #9fb3cc; }
QPushButton:pressed { background: #e1e8f1; }
QPushButton:disabled { color: #a0a6ae; background: #f3f4f6; border-color: #e0e3e7; }
QPushButton#primary { background: #2f6fb3; color: white; border-color: #2a64a3; }
QPushButton#primary:hover { background: #2a64a3; }
QTableView, QTreeWidget, QListWidget, QPlainTextEdit, QTextBrowser, QLineEdit {
    background: white; border: 1px solid #d7dbe0; border-radius: 4px;
    selection-background-color: #cfe0f5; selection-color: #1f2328;
}
/* spin boxes and combo boxes keep Fusion's own frame: a style-sheet border on them makes Qt draw
   their arrows from the style sheet, which shows only a bare line (no arrow) */
QComboBox, QSpinBox, QDoubleSpinBox { selection-background-color: #cfe0f5; selection-color: #1f2328; }
QLineEdit { padding: 2px 4px; }  /* as tall as the combo boxes beside them in forms */
QTableView { alternate-background-color: #f8f9fb; gridline-color: #eceff3; }
QHeaderView::section { background: #eef1f5; border: none; border-bottom: 1px solid #d7dbe0; padding: 4px 6px; }
QGroupBox { border: 1px solid #d7dbe0; border-radius: 6px; margin-top: 12px; padding-top: 8px; background: #fbfcfd; }
QGroupBox::title { subcontrol-origin: margin; left: 10px; padding: 0 4px; color: #4a5361; }
QFrame#card { background: white; border: 1px solid #dde1e6; border-radius: 8px; }
QLabel#subtitle { color: #4a5361; font-size: 13px; }
QLabel#validationMessage { color: #b3261e; }
QProgressBar { border: 1px solid #c9ced6; border-radius: 4px; background: white; text-align: center; height: 14px; }
QProgressBar::chunk { background: #3a8fd6; border-radius: 3px; }
QStatusBar { background: #eceff3; border-top: 1px solid #d7dbe0; }
QTabWidget::pane { border: 1px solid #d7dbe0; border-radius: 4px; background: white; }
QTabBar::tab { padding: 5px 12px; border: 1px solid transparent; }
QTabBar::tab:selected { background: white; border: 1px solid #d7dbe0; border-bottom-color: white; }
"""


def import_store_lightly() -> None:
    """Import the store without pandas: sqlite_utils imports pandas eagerly (about 1 s) only to
    map ``pd.Timestamp`` to TEXT, which the project never stores. pandas stays importable for
    the jobs that need it (it is only hidden while sqlite_utils is first imported)."""
    if "sqlite_utils" in sys.modules or "pandas" in sys.modules:
        return
    sys.modules["pandas"] = None  # type: ignore[assignment]  # makes `import pandas` fail fast
    try:
        import sqlite_utils  # noqa: F401
    finally:
        if sys.modules.get("pandas", 0) is None:
            del sys.modules["pandas"]


def apply_style(app) -> None:
    """Fusion with a light stylesheet, the same on every platform."""
    app.setStyle("Fusion")
    app.setStyleSheet(STYLE)


def run_app(project: str | None = None) -> int:
    from cai_desktop.ui.platform_check import check_display

    problem = check_display()  # before Qt loads: one clear message instead of Qt's abort
    if problem:
        print(problem, file=sys.stderr)
        return 3
    from PySide6.QtWidgets import QApplication

    from cai_desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("CAI Desktop")
    app.setOrganizationName("CAI Desktop")
    apply_style(app)
    window = MainWindow()
    if project:
        window.open_project(project)
    window.show()
    return app.exec()
