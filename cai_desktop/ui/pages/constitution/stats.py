"""The "Statistics" tab: per principle, how often it was drawn, how often its revision changed
the answer, how many AI labels it decided and how often reviewers agreed. Run alone: ``python -m
cai_desktop.ui.pages.constitution.stats PROJECT``."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.ui import commands as cmd
from cai_desktop.ui.pages.constitution.common import wrapping_label

HEADERS = [
    ("Principle", "The principle (its key is in the tooltip)."),
    ("Drawn", "Times the principle was drawn for a critique round."),
    ("Changed answer", "Rounds under this principle whose revision changed the answer."),
    ("AI labels", "AI comparisons (soft labels) decided under this principle."),
    ("Margin", "Mean |label - 0.5|: how decisive its labels were."),
    ("Reviewed", "Of those, how many a person chose A or B for."),
    ("Agreement", "How often the reviewer agreed with the AI label."),
]


class StatisticsTab(QWidget):
    """A small table (one row per principle), read from the project when the tab is looked at."""

    title = "Statistics"

    def __init__(self, doc: cmd.ConstitutionDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.project = None
        self.stored = False
        self._stale = True
        self._error = ""
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 12, 14, 12)
        self.stats_note = wrapping_label("", "subtitle")
        lay.addWidget(self.stats_note)
        self.stats = QTableWidget(0, len(HEADERS))
        self.stats.setObjectName("principleStats")
        for i, (text, tip) in enumerate(HEADERS):
            item = QTableWidgetItem(text)
            item.setToolTip(tip)
            self.stats.setHorizontalHeaderItem(i, item)
        self.stats.setWordWrap(False)
        self.stats.setTextElideMode(Qt.TextElideMode.ElideRight)  # long titles are cut, never widen
        self.stats.verticalHeader().setDefaultSectionSize(28)
        self.stats.verticalHeader().setVisible(False)
        self.stats.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.stats.setAlternatingRowColors(True)
        header = self.stats.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(48)
        for i in range(1, len(HEADERS)):
            header.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        lay.addWidget(self.stats, 1)
        doc.changed.connect(self._on_doc_changed)

    def set_source(self, project, stored: bool) -> None:
        self.project = project
        self.stored = stored
        self.refresh()

    def _on_doc_changed(self, kind: str, _index: int) -> None:
        if kind in (cmd.ALL, cmd.STRUCTURE, cmd.PRINCIPLE):
            self.refresh()

    def refresh(self) -> None:
        """Fill the table now if it is on screen; otherwise when it is next shown."""
        if self.isVisible():
            self.refresh_now()
        else:
            self._stale = True

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self._stale:
            self.refresh_now()

    def principle_statistics(self) -> list[dict[str, Any]]:
        """Per principle of the shown constitution: drawn, changed, labels decided, agreement."""
        rows: dict[str, dict[str, Any]] = {
            p.key: {"key": p.key, "title": p.title, "drawn": 0, "changed": 0, "labels": 0,
                    "mean_margin": None, "reviewed": 0, "agree": 0}
            for p in self.doc.constitution.principles
        }
        if self.project is None or not self.stored:
            return list(rows.values())

        self._error = ""
        try:
            for r in self.project.stats.principles(self.doc.constitution.name):
                if r["key"] in rows:
                    rows[r["key"]].update(drawn=r["drawn"] or 0, changed=r["changed"] or 0)
            for r in self.project.stats.principle_labels():
                if r["principle_key"] in rows:
                    rows[r["principle_key"]].update(
                        labels=r["n"] or 0, mean_margin=r["mean_margin"],
                        reviewed=r["n_reviewed"] or 0, agree=r["n_agree"] or 0,
                    )
        except Exception as e:  # noqa: BLE001 - statistics must never break the editor
            self._error = f"Statistics unavailable: {e}"
        return list(rows.values())

    def refresh_now(self) -> None:
        self._stale = False
        data = self.principle_statistics()
        self.stats.setRowCount(len(data))
        any_data = False
        for i, r in enumerate(data):
            any_data = any_data or r["drawn"] or r["labels"]
            changed = f"{r['changed']} ({r['changed'] / r['drawn']:.0%})" if r["drawn"] else "—"
            margin = f"{r['mean_margin']:.2f}" if r["mean_margin"] is not None else "—"
            agree = f"{r['agree'] / r['reviewed']:.0%} of {r['reviewed']}" if r["reviewed"] else "—"
            cells = [r["title"] or r["key"], str(r["drawn"] or "—"), changed,
                     str(r["labels"] or "—"), margin, str(r["reviewed"] or "—"), agree]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == 0:
                    item.setToolTip(f"{text}  ({r['key']})")
                else:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.stats.setItem(i, j, item)
        if self._error:
            self.stats_note.setText(self._error)
        elif not any_data:
            self.stats_note.setText(
                "No data yet: statistics appear once critique runs (times drawn, how often the revision "
                "changed the answer) and AI-label runs (labels decided, agreement with reviewers) exist."
            )
        else:
            self.stats_note.setText(
                "Times drawn and changed answers come from critique chains made with this constitution; "
                "labels decided and agreement come from AI comparisons under each principle's key."
            )


if __name__ == "__main__":
    import sys

    from cai_desktop.ui.pages.constitution.standalone import show_alone

    sys.exit(show_alone(StatisticsTab, lambda tab, project: tab.set_source(project, True)))
