"""A table model that reads rows from SQLite page by page, so 100,000 rows open instantly.

``PagedTableModel(columns, fetch, count)``: ``count()`` gives the total number of rows (one cheap
``COUNT(*)``), ``fetch(offset, limit)`` returns a list of dicts for that slice. Only the pages the
view actually paints are fetched; a small LRU cache keeps them. ``reload()`` drops the cache after
the data changed (a run finished, a filter changed).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

Index = QModelIndex | QPersistentModelIndex


class PagedTableModel(QAbstractTableModel):
    """Rows come from ``fetch(offset, limit) -> list[dict]``; ``count() -> int`` sizes the table.

    ``columns`` is a list of ``(key, header)``; a cell shows ``str(row[key])`` (first line, cut to
    200 characters), the full text is the tooltip. ``formatters`` may map a key to a function
    ``(value, row) -> str`` for display.
    """

    MAX_CACHED_PAGES = 20

    def __init__(
        self,
        columns: list[tuple[str, str]],
        fetch: Callable[[int, int], list[dict[str, Any]]],
        count: Callable[[], int],
        page_size: int = 200,
        parent=None,
        formatters: dict[str, Callable[[Any, dict], str]] | None = None,
    ) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self._fetch = fetch
        self._count = count
        self.page_size = max(1, int(page_size))
        self.formatters = dict(formatters or {})
        self._pages: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()
        self._n = 0
        #: how many times a page was read from the source (tests assert the model stays lazy)
        self.pages_fetched = 0
        self.rows_fetched = 0
        self._n = self._safe_count()

    # -- data source ---------------------------------------------------------------------------
    def _safe_count(self) -> int:
        try:
            return max(0, int(self._count()))
        except Exception:  # a closed project or a bad query: show an empty table, not a crash
            return 0

    def set_source(
        self,
        fetch: Callable[[int, int], list[dict[str, Any]]],
        count: Callable[[], int],
    ) -> None:
        """Swap the query (e.g. a new filter) and reload."""
        self._fetch = fetch
        self._count = count
        self.reload()

    def reload(self) -> None:
        """Forget cached pages and re-count (after the underlying data changed)."""
        self.beginResetModel()
        self._pages.clear()
        self._n = self._safe_count()
        self.endResetModel()

    def _page(self, page: int) -> list[dict[str, Any]]:
        rows = self._pages.get(page)
        if rows is not None:
            self._pages.move_to_end(page)
            return rows
        try:
            rows = list(self._fetch(page * self.page_size, self.page_size))
        except Exception:
            rows = []
        self.pages_fetched += 1
        self.rows_fetched += len(rows)
        self._pages[page] = rows
        while len(self._pages) > self.MAX_CACHED_PAGES:
            self._pages.popitem(last=False)
        return rows

    def row_data(self, row: int) -> dict[str, Any]:
        """The dict for ``row`` (empty if out of range)."""
        if row < 0 or row >= self._n:
            return {}
        rows = self._page(row // self.page_size)
        i = row % self.page_size
        return rows[i] if i < len(rows) else {}

    def row_of(self, value: Any, key: str = "id") -> int | None:
        """The row whose ``key`` is ``value``, looked for in the first two pages only (keeping a
        selection after a reload must never scan a large table)."""
        for row in range(min(self._n, self.page_size * 2)):
            if self.row_data(row).get(key) == value:
                return row
        return None

    # -- Qt model API --------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._n

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            return self.columns[section][1]
        if orientation == Qt.Orientation.Vertical:
            return str(section + 1)
        return None

    def cell_text(self, row: dict[str, Any], key: str) -> str:
        value = row.get(key)
        fmt = self.formatters.get(key)
        if fmt is not None:
            try:
                return fmt(value, row)
            except Exception:
                pass
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.3g}"
        return str(value)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or role not in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.ToolTipRole,
            Qt.ItemDataRole.UserRole,
        ):
            return None
        row = self.row_data(index.row())
        if not row:
            return None
        if role == Qt.ItemDataRole.UserRole:
            return row
        key = self.columns[index.column()][0]
        text = self.cell_text(row, key)
        if role == Qt.ItemDataRole.ToolTipRole:
            return text[:2000] if len(text) > 60 or "\n" in text else None
        first = text.split("\n", 1)[0]
        return first[:200] + ("…" if len(first) > 200 or "\n" in text else "")


def plural(n: int, noun: str, many: str | None = None) -> str:
    """A count that reads right: ``"1 chain"``, ``"0 chains"``, ``"1,024 chains"``."""
    return f"{n:,} {noun if n == 1 else (many or noun + 's')}"


def refill_combo(combo, items: list[tuple[str, Any]], first: tuple[str, Any] | None = None) -> None:
    """Replace a filter combo's entries with ``(text, data)`` items, keeping the chosen data
    where it still exists, without emitting change signals."""
    keep = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    for text, data in ([first] if first else []) + list(items):
        combo.addItem(text, data)
    i = combo.findData(keep) if keep is not None else 0
    combo.setCurrentIndex(max(0, i))
    combo.blockSignals(False)


def search_field(owner, placeholder: str, on_search: Callable[[], None], object_name: str = "", delay_ms: int = 250):
    """A search box that calls ``on_search`` once typing pauses for ``delay_ms`` (one query per
    pause, not one per key). The timer lives on the box as ``box.timer``."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QLineEdit

    box = QLineEdit(owner)
    if object_name:
        box.setObjectName(object_name)
    box.setPlaceholderText(placeholder)
    box.setClearButtonEnabled(True)
    box.timer = QTimer(box, singleShot=True, interval=delay_ms)
    box.timer.timeout.connect(on_search)
    box.textChanged.connect(lambda _t: box.timer.start())
    return box
