"""The list + detail screen that the inspector and comparisons pages share.

A filter bar (the page's combo boxes, a debounced search box, a count that reads "1 chain") over a
vertical splitter: a paged table of items on top, the selected item below, and a review bar (the
page's decision buttons, "Next after …", previous/next with J/N and K/P). Each review decision is
a command on the page's ``undo_stack`` (the main window's Edit menu, Ctrl+Z and Ctrl+Shift+Z use
it) that takes back exactly the one review it stored. On arrival the table has the keyboard focus,
so the review keys work at once; a click in the search box types there instead.

A page subclasses ``ListDetailPage`` and supplies only what differs: ``columns``, ``noun``, the
``build_*`` hooks, ``filters``, ``source``, ``fill_filters`` and ``show_item``.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence, QShortcut, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.errors import CaiError
from cai_desktop.ui.pages import Page
from cai_desktop.ui.widgets.errors import show_error
from cai_desktop.ui.widgets.paged import PagedTableModel, plural, search_field

Fetch = Callable[[int, int], list[dict[str, Any]]]
Count = Callable[[], int]


def reviewer_name() -> str:
    """The reviewer recorded with each review: QSettings ``reviewer``, else the OS user name."""
    value = QSettings("CAI Desktop", "CAI Desktop").value("reviewer", "")
    if value:
        return str(value)
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name on some systems
        return "reviewer"


def set_reviewer_name(name: str) -> None:
    QSettings("CAI Desktop", "CAI Desktop").setValue("reviewer", name.strip())


def text_browser(name: str, placeholder: str = "") -> QTextBrowser:
    w = QTextBrowser()
    w.setObjectName(name)
    w.setOpenLinks(False)
    w.setPlaceholderText(placeholder)
    w.document().setDocumentMargin(10)
    return w


def pane(title: str, body: QWidget, extra: QWidget | None = None) -> QWidget:
    """``body`` under a bold title (``pane.title_label``), with an optional widget at the right."""
    w = QWidget()
    lay = QVBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(4)
    head = QHBoxLayout()
    label = QLabel(title)
    label.setObjectName("paneTitle")
    label.setStyleSheet("font-weight:600;color:#2b2f36")
    head.addWidget(label)
    head.addStretch(1)
    if extra is not None:
        head.addWidget(extra)
    lay.addLayout(head)
    lay.addWidget(body, 1)
    w.title_label = label  # type: ignore[attr-defined]
    return w


class ReviewCommand(QUndoCommand):
    """One stored review as an undoable command.

    The page stores the review before pushing (so a refused review shows its error and leaves no
    command behind); the push's first ``redo`` therefore does nothing. ``undo`` removes that review
    and restores what was there; a later ``redo`` stores the decision again. A step the store
    refuses (someone reviewed the item since) shows why and drops out of the stack.
    """

    def __init__(self, page: ListDetailPage, item_id: int, text: str, do: Callable[[], int],
                 take_back: Callable[[int], None], review_id: int, row: int) -> None:
        super().__init__(text)
        self.page, self.item_id, self.do, self.take_back = page, item_id, do, take_back
        self.review_id, self.row = review_id, row
        self._already_done = True

    def redo(self) -> None:
        if self._already_done:
            self._already_done = False
            return
        self._step(lambda: setattr(self, "review_id", self.do()), "Cannot redo the review", "Redone")

    def undo(self) -> None:
        self._step(lambda: self.take_back(self.review_id), "Cannot undo the review", "Undone")

    def _step(self, fn: Callable[[], None], error_title: str, done: str) -> None:
        try:
            fn()
        except CaiError as e:
            self.setObsolete(True)
            show_error(self.page, error_title, str(e))
        else:
            self.page.status_message.emit(f"{done}: {self.text()}.")
        self.page.reload(keep_id=self.item_id, select_row=self.row)


class ListDetailPage(Page):
    """A paged table of items, the selected one's detail, review keys, and undo (see the module)."""

    heading = "Items"
    noun = "item"  # for counts: "1 item", "2 items"
    columns: list[tuple[str, str]] = []
    column_widths: dict[int, int] = {}
    stretch_column: int | None = None  # None: the last column stretches
    search_placeholder = "Search prompts and answers…"
    search_name = ""
    table_name = ""
    advance_text = "Next after review"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: review decisions of this page (the main window's Edit menu reads it)
        self.undo_stack = QUndoStack(self)
        self._selecting = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(14, 12, 14, 12)
        outer.setSpacing(8)

        bar = QHBoxLayout()
        bar.setSpacing(8)
        bar.addWidget(QLabel(f"<b>{self.heading}</b>"))
        self.search = search_field(self, self.search_placeholder, self.reload, self.search_name)
        self.build_filters(bar)
        bar.addWidget(self.search, 1)
        self.count_label = QLabel("")
        self.count_label.setObjectName("subtitle")
        bar.addWidget(self.count_label)
        self.build_bar_end(bar)
        outer.addLayout(bar)
        self.build_header(outer)

        vsplit = QSplitter(Qt.Orientation.Vertical)
        vsplit.setChildrenCollapsible(False)
        outer.addWidget(vsplit, 1)
        self.model = PagedTableModel(self.columns, _no_rows, _zero, parent=self, formatters=self.formatters())
        self.table = QTableView()
        self.table.setObjectName(self.table_name)
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(26)
        hh = self.table.horizontalHeader()
        # fixed widths: ResizeToContents would read every row of a big table
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        if self.stretch_column is None:
            hh.setStretchLastSection(True)
        else:
            hh.setSectionResizeMode(self.stretch_column, QHeaderView.ResizeMode.Stretch)
        for col, width in self.column_widths.items():
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().currentRowChanged.connect(
            lambda cur, _prev: None if self._selecting else self._show_row(cur.row()))
        self.search.returnPressed.connect(self.table.setFocus)
        vsplit.addWidget(self.table)

        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 6, 0, 0)
        dl.setSpacing(8)
        self.build_detail(dl)
        rb = QHBoxLayout()
        rb.setSpacing(8)
        self.build_review_bar(rb)
        self.advance = QCheckBox(self.advance_text)
        self.advance.setChecked(True)
        rb.addWidget(self.advance)
        self.btn_prev = QPushButton("◀ Previous  (K)")
        self.btn_next = QPushButton("Next  (J) ▶")
        self.btn_prev.clicked.connect(lambda: self.step(-1))
        self.btn_next.clicked.connect(lambda: self.step(1))
        rb.addWidget(self.btn_prev)
        rb.addWidget(self.btn_next)
        dl.addLayout(rb)
        self.build_footer(dl)
        vsplit.addWidget(detail)
        vsplit.setSizes([230, 570])
        vsplit.setStretchFactor(1, 1)
        self.add_shortcut(("J", "N"), lambda: self.step(1))
        self.add_shortcut(("K", "P"), lambda: self.step(-1))

    # -- what a page supplies ------------------------------------------------------------------
    def build_filters(self, bar: QHBoxLayout) -> None:
        """Add the page's filter widgets to the bar (before the search box)."""

    def build_bar_end(self, bar: QHBoxLayout) -> None:
        """Add widgets at the right end of the filter bar."""

    def build_header(self, layout: QVBoxLayout) -> None:
        """Add widgets between the filter bar and the table."""

    def build_detail(self, layout: QVBoxLayout) -> None:
        """Build the view of the selected item."""

    def build_review_bar(self, bar: QHBoxLayout) -> None:
        """Add the decision buttons (before "Next after …" and previous/next)."""

    def build_footer(self, layout: QVBoxLayout) -> None:
        """Add widgets under the review bar."""

    def formatters(self) -> dict[str, Callable[[Any, dict], str]]:
        return {}

    def filters(self) -> dict[str, Any]:
        return {"search": self.search.text().strip() or None}

    def source(self, project: Any, filters: dict[str, Any]) -> tuple[Fetch, Count]:
        """``(fetch(offset, limit), count())`` over the store for these filters."""
        return _no_rows, _zero

    def fill_filters(self) -> None:
        """Refill the filter combo boxes from the project."""

    def show_item(self, item_id: int | None) -> None:
        """Show item ``item_id`` (None: nothing selected, or no project)."""

    def after_reload(self) -> None:
        """Update what depends on the whole list (after every query)."""

    # -- list ----------------------------------------------------------------------------------
    def add_shortcut(self, keys: tuple[str, ...], slot: Callable[[], Any]) -> None:
        """Keys that work anywhere on the page except where a text field takes the key."""
        for key in keys:
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)

    def set_project(self, project) -> None:
        self.undo_stack.clear()  # its commands belong to the previous project
        self.project = project
        self.refresh()

    def refresh(self) -> None:
        self.fill_filters()
        self.reload(keep_id=self.current_id())

    def reload(self, keep_id: int | None = None, select_row: int | None = None) -> None:
        """Query again with the current filters; select ``keep_id`` if it is still listed (near the
        top), else row ``select_row`` (else the first)."""
        if self.project is None:
            self.model.set_source(_no_rows, _zero)
            self.count_label.setText("")
            self.after_reload()
            self.show_item(None)
            return
        self.model.set_source(*self.source(self.project, self.filters()))
        n = self.model.rowCount()
        self.count_label.setText(plural(n, self.noun))
        self.after_reload()
        row = self.model.row_of(keep_id) if keep_id is not None else None
        if row is None:
            row = select_row or 0
        if n:
            self.select_row(min(max(0, row), n - 1))
        else:
            self.show_item(None)

    def select_row(self, row: int) -> None:
        index = self.model.index(row, 0)
        sm = self.table.selectionModel()
        self._selecting = True
        try:
            sm.setCurrentIndex(index, sm.SelectionFlag.ClearAndSelect | sm.SelectionFlag.Rows)
        finally:
            self._selecting = False
        self.table.scrollTo(index)
        self._show_row(row)

    def current_row(self) -> int:
        return self.table.selectionModel().currentIndex().row()

    def current_id(self) -> int | None:
        row = self.current_row()
        return self.model.row_data(row).get("id") if row >= 0 else None

    def _show_row(self, row: int) -> None:
        data = self.model.row_data(row) if row >= 0 else {}
        self.show_item(data.get("id") if data else None)

    def step(self, delta: int) -> None:
        n = self.model.rowCount()
        if n:
            self.select_row(max(0, min(self.current_row() + delta, n - 1)))

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        """Arriving on the page puts the keyboard on the list, so A/R/J… review at once."""
        super().showEvent(event)
        if not event.spontaneous():
            self.table.setFocus(Qt.FocusReason.OtherFocusReason)

    # -- reviews -------------------------------------------------------------------------------
    def record_review(
        self, item_id: int, text: str, state: Callable[[], dict[str, Any]], do: Callable[[], int],
        take_back: Callable[[int, dict[str, Any]], None], *, advance: bool, still_listed: bool,
    ) -> bool:
        """Store one decision as an undoable command, then show the next item when ``advance``.

        ``state()`` reads the item's review fields before, ``do()`` stores the decision and returns
        its review id, ``take_back(review_id, before)`` removes it again. ``still_listed`` says
        whether the item still passes the filters (if not, the next one slides into its row).
        """
        if self.project is None:
            return False
        row = self.current_row()
        try:
            before = state()
            review_id = do()
        except CaiError as e:
            show_error(self, "Cannot store the review", str(e))
            return False
        self.undo_stack.push(ReviewCommand(self, item_id, text, do, lambda rid: take_back(rid, before), review_id, row))
        if not still_listed:
            self.reload(select_row=row)
        elif advance:
            self.reload(select_row=row + 1)
        else:
            self.reload(keep_id=item_id, select_row=row)
        return True


def _no_rows(_offset: int, _limit: int) -> list[dict[str, Any]]:
    return []


def _zero() -> int:
    return 0
