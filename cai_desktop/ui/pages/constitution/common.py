"""Small pieces every tab of the constitution editor uses: text fields that leave undo to the
page's stack, labels that wrap instead of widening the window, and value helpers."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QLineEdit, QPlainTextEdit, QSizePolicy, QWidget

from cai_desktop.ui.commands import redo_shortcuts, undo_shortcuts


class PassUndoKeys(QObject):
    """Let the Undo and Redo keys (Ctrl+Z, Ctrl+Y, Ctrl+Shift+Z, the platform's) reach the page's
    undo stack instead of a text field's own undo, which knows nothing of the document."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            if is_undo_key(event):
                event.ignore()
                return True
        return False


_undo_keys: list[QKeySequence] = []


def is_undo_key(event: QKeyEvent) -> bool:
    """Whether ``event`` is one of the keys the Edit menu's Undo or Redo answers."""
    if event.matches(QKeySequence.StandardKey.Undo) or event.matches(QKeySequence.StandardKey.Redo):
        return True
    if not _undo_keys:  # read once, after the application (and its key theme) exists
        _undo_keys.extend([*undo_shortcuts(), *redo_shortcuts()])
    pressed = QKeySequence(event.keyCombination())
    return any(pressed.matches(k) == QKeySequence.SequenceMatch.ExactMatch for k in _undo_keys)


def text_edit(placeholder: str, height: int = 78, max_height: int | None = None) -> QPlainTextEdit:
    """A plain-text field whose edits become commands (its own undo is off)."""
    w = QPlainTextEdit()
    w.setPlaceholderText(placeholder)
    w.setUndoRedoEnabled(False)
    w.setTabChangesFocus(True)
    w.setMinimumHeight(height)
    if max_height is not None:
        w.setMaximumHeight(max_height)
    return w


def wrapping_label(text: str = "", object_name: str = "", rich: bool = False) -> QLabel:
    """A label that wraps to the width it is given: a long word (a key, a file name) must never
    make the window wider (Qt would otherwise take the longest word as its minimum width)."""
    label = QLabel(text)
    if object_name:
        label.setObjectName(object_name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    policy.setHeightForWidth(True)
    label.setSizePolicy(policy)
    return label


def text_of(widget: QWidget) -> str:
    """The text of a line or plain-text field."""
    if isinstance(widget, QLineEdit):
        return widget.text()
    assert isinstance(widget, QPlainTextEdit)
    return widget.toPlainText()


def show_text(widget: QWidget, value: str) -> None:
    """Put ``value`` in a field only when it differs, so the cursor of the field being typed in
    does not jump."""
    if text_of(widget) == value:
        return
    if isinstance(widget, QLineEdit):
        widget.setText(value)
    else:
        assert isinstance(widget, QPlainTextEdit)
        widget.setPlainText(value)
