"""Readable error messages with the details (traceback) one click away."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

_open_boxes: list[QMessageBox] = []


def show_error(parent: QWidget | None, title: str, message: str, details: str = "",
               modal: bool = False) -> QMessageBox:
    """Show ``message`` (one clear line) with ``details`` under "Show Details…".

    Non-blocking by default (``open()``), so a job failure never stalls the event loop; the box is
    returned (tests read its text).
    """
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(message or title)
    if details and details.strip() and details.strip() != (message or "").strip():
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    if modal:
        box.exec()
        return box
    _open_boxes.append(box)
    forget = lambda *_: _open_boxes.remove(box) if box in _open_boxes else None  # noqa: E731
    box.finished.connect(forget)
    box.destroyed.connect(forget)  # closed with its window
    box.open()
    return box


def open_error_boxes() -> list[QMessageBox]:
    return list(_open_boxes)


def close_error_boxes() -> None:
    for box in list(_open_boxes):
        try:
            box.close()
        except RuntimeError:  # its window, and so the box, is gone already
            pass
    _open_boxes.clear()
