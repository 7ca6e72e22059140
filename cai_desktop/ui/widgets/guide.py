"""Help → Guide (F1): a short guide in a window of its own that does not block the main window, so
it can stay open beside the page it explains. Run alone: ``python -m cai_desktop.ui.widgets.guide``."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from cai_desktop.ui.widgets.guide_text import GUIDE_HTML


class GuideDialog(QDialog):
    """The guide's text in a ``QTextBrowser``; shown with ``show()`` (non-modal)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("guideDialog")
        self.setWindowTitle("CAI Desktop guide")
        self.setModal(False)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.resize(680, 640)
        layout = QVBoxLayout(self)
        self.browser = QTextBrowser()
        self.browser.setObjectName("guideText")
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(GUIDE_HTML)
        layout.addWidget(self.browser, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)

    def text(self) -> str:
        return self.browser.toPlainText()


if __name__ == "__main__":  # pragma: no cover - manual look
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    d = GuideDialog()
    d.show()
    sys.exit(app.exec())
