"""Comparisons: the two answers side by side under the principle's comparison question, the AI's
soft label as a bar (p(A) vs p(B)), its order shift and reasoning, and the reviewer's choice
(A, B, tie, both bad). Blind mode hides the AI label until the reviewer has chosen. The agreement
rate between reviewers and the AI is shown.

Run alone for development: ``python -m cai_desktop.ui.pages.comparisons PROJECT``.
"""

from __future__ import annotations

import html
import sys
from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.errors import CaiError
from cai_desktop.ui.pages import Page
from cai_desktop.ui.pages.inspector import pane, reviewer_name, text_browser
from cai_desktop.ui.widgets.errors import show_error
from cai_desktop.ui.widgets.paged import PagedTableModel, refill_combo, search_field

CHOICES = {"A": "A is better", "B": "B is better", "tie": "Tie", "both-bad": "Both bad"}
COLUMNS = [("id", "#"), ("prompt", "Prompt"), ("principle_key", "Principle"), ("kind", "Kind"),
           ("label", "AI p(A)"), ("human_choice", "Your choice")]
A_COLOUR, B_COLOUR = QColor("#3a78c2"), QColor("#d9822b")


class SoftLabelBar(QWidget):
    """A horizontal bar split at the soft label: A's share on the left, B's on the right."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label: float | None = None
        self.setMinimumHeight(26)
        self.setMinimumWidth(240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_label(self, label: float | None) -> None:
        self.label = None if label is None else max(0.0, min(1.0, float(label)))
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(QColor("#c9ced6"))
        p.setBrush(QColor("#eef1f5"))
        p.drawRoundedRect(r, 5, 5)
        if self.label is None:
            p.setPen(QColor("#6b7280"))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "no AI label")
            return
        split = r.left() + r.width() * self.label
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(A_COLOUR)
        p.setClipRect(QRectF(r.left(), r.top(), split - r.left(), r.height()))
        p.drawRoundedRect(r, 5, 5)
        p.setBrush(B_COLOUR)
        p.setClipRect(QRectF(split, r.top(), r.right() - split, r.height()))
        p.drawRoundedRect(r, 5, 5)
        p.setClipping(False)
        p.setPen(QColor("white"))
        f = QFont(self.font())
        f.setBold(True)
        p.setFont(f)
        pad = r.adjusted(8, 0, -8, 0)
        if self.label >= 0.12:
            p.drawText(pad, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, f"A {self.label:.0%}")
        if self.label <= 0.88:
            p.drawText(pad, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, f"{1 - self.label:.0%} B")


class ComparisonsPage(Page):
    title = "Comparisons"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.comparison: dict[str, Any] | None = None
        self._selecting = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(14, 12, 14, 12)
        outer.setSpacing(8)

        bar = QHBoxLayout()
        bar.setSpacing(8)
        bar.addWidget(QLabel("<b>Comparisons</b>"))
        self.reviewed_filter = QComboBox()
        self.reviewed_filter.addItem("all", None)
        self.reviewed_filter.addItem("not reviewed yet", False)
        self.reviewed_filter.addItem("reviewed", True)
        self.principle_filter = QComboBox()
        self.principle_filter.setMinimumWidth(170)
        self.kind_filter = QComboBox()
        self.kind_filter.addItem("any kind", None)
        self.kind_filter.addItem("harmless", "harmless")
        self.kind_filter.addItem("helpful", "helpful")
        self.search = search_field(self, "Search prompts and answers…", self.reload)
        for combo in (self.reviewed_filter, self.principle_filter, self.kind_filter):
            combo.currentIndexChanged.connect(lambda _i: self.reload())
            bar.addWidget(combo)
        bar.addWidget(self.search, 1)
        self.blind = QCheckBox("Blind mode")
        self.blind.setObjectName("blindMode")
        self.blind.setToolTip("Hide the AI's label until you have made your choice, so it cannot sway you.")
        self.blind.toggled.connect(self._blind_toggled)
        bar.addWidget(self.blind)
        outer.addLayout(bar)
        self.agreement_label = QLabel("")
        self.agreement_label.setObjectName("subtitle")
        outer.addWidget(self.agreement_label)

        vsplit = QSplitter(Qt.Orientation.Vertical)
        vsplit.setChildrenCollapsible(False)
        outer.addWidget(vsplit, 1)
        self.model = PagedTableModel(
            COLUMNS, lambda o, n: [], lambda: 0, parent=self,
            formatters={"label": self._label_cell, "human_choice": lambda v, _r: CHOICES.get(v or "", "")},
        )
        self.table = QTableView()
        self.table.setObjectName("comparisonTable")
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(26)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for col, width in ((0, 60), (2, 150), (3, 90), (4, 80), (5, 110)):
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().currentRowChanged.connect(
            lambda cur, _prev: None if self._selecting else self._show_row(cur.row())
        )
        vsplit.addWidget(self.table)

        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 6, 0, 0)
        dl.setSpacing(8)
        self.header = QLabel("Select a comparison.")
        self.header.setObjectName("subtitle")
        dl.addWidget(self.header)
        self.prompt_view = text_browser("comparisonPrompt")
        self.prompt_view.setMaximumHeight(86)
        dl.addWidget(self.prompt_view)
        lrow = QHBoxLayout()
        lrow.addWidget(QLabel("AI soft label"))
        self.label_bar = SoftLabelBar()
        self.label_bar.setObjectName("softLabelBar")
        lrow.addWidget(self.label_bar, 1)
        self.label_info = QLabel("")
        self.label_info.setObjectName("subtitle")
        lrow.addWidget(self.label_info)
        self.hidden_note = QLabel("AI label hidden until you choose (blind mode)")
        self.hidden_note.setStyleSheet("color:#6b7280;font-style:italic")
        lrow.addWidget(self.hidden_note, 1)
        dl.addLayout(lrow)
        hsplit = QSplitter(Qt.Orientation.Horizontal)
        hsplit.setChildrenCollapsible(False)
        self.a_view = text_browser("answerA")
        self.b_view = text_browser("answerB")
        self.a_pane = pane("Answer A", self.a_view)
        self.b_pane = pane("Answer B", self.b_view)
        hsplit.addWidget(self.a_pane)
        hsplit.addWidget(self.b_pane)
        dl.addWidget(hsplit, 1)
        self.reasoning_view = text_browser("reasoning")
        self.reasoning_view.setMaximumHeight(90)
        self.reasoning_view.hide()
        dl.addWidget(self.reasoning_view)

        cb = QHBoxLayout()
        cb.setSpacing(8)
        self.choice_label = QLabel("")
        self.choice_label.setMinimumWidth(170)
        cb.addWidget(self.choice_label)
        self.choice_buttons: dict[str, QPushButton] = {}
        for choice, text, keys in (("A", "A is better  (A)", ("A", "1")), ("B", "B is better  (B)", ("B", "2")),
                                   ("tie", "Tie  (T)", ("T", "3")), ("both-bad", "Both bad  (X)", ("X", "4"))):
            b = QPushButton(text)
            b.setCheckable(True)
            b.clicked.connect(lambda _c=False, ch=choice: self.choose(ch))
            self.choice_buttons[choice] = b
            cb.addWidget(b)
            for key in keys:
                sc = QShortcut(QKeySequence(key), self)
                sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                sc.activated.connect(lambda ch=choice: self.choose(ch))
        cb.addStretch(1)
        self.advance = QCheckBox("Next after choosing")
        self.advance.setToolTip("In blind mode the answered comparison stays shown so you can see the AI label.")
        self.advance.setChecked(True)
        cb.addWidget(self.advance)
        self.btn_prev = QPushButton("◀ Previous  (K)")
        self.btn_next = QPushButton("Next  (J) ▶")
        self.btn_prev.clicked.connect(lambda: self.step(-1))
        self.btn_next.clicked.connect(lambda: self.step(1))
        cb.addWidget(self.btn_prev)
        cb.addWidget(self.btn_next)
        for key, delta in (("J", 1), ("N", 1), ("K", -1), ("P", -1)):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(lambda d=delta: self.step(d))
        dl.addLayout(cb)
        vsplit.addWidget(detail)
        vsplit.setSizes([220, 580])
        vsplit.setStretchFactor(1, 1)
        self._show(None)

    # -- helpers ---------------------------------------------------------------------------------
    def _label_cell(self, value: Any, row: dict[str, Any]) -> str:
        if value is None:
            return ""
        if self.blind.isChecked() and not row.get("human_choice"):
            return "hidden"
        return f"{float(value):.2f}"

    def label_visible(self) -> bool:
        """Whether the AI label of the shown comparison may be seen now."""
        c = self.comparison
        return c is not None and (not self.blind.isChecked() or bool(c.get("human_choice")))

    def _blind_toggled(self, _on: bool) -> None:
        self.model.layoutChanged.emit()
        self._show_label()

    # -- data ------------------------------------------------------------------------------------
    def set_project(self, project) -> None:
        self.project = project
        self.refresh()

    def refresh(self) -> None:
        keys = [] if self.project is None else [r["key"] for r in self.project.query(
            "SELECT DISTINCT ps.key FROM comparisons c JOIN principle_snapshots ps "
            "ON ps.id = c.principle_snapshot_id ORDER BY ps.key")]
        refill_combo(self.principle_filter, [(k, k) for k in keys], first=("any principle", None))
        self.reload(keep_id=self.comparison["id"] if self.comparison else None)

    def filters(self) -> dict[str, Any]:
        return {
            "reviewed": self.reviewed_filter.currentData(),
            "principle_key": self.principle_filter.currentData(),
            "kind": self.kind_filter.currentData(),
            "search": self.search.text().strip() or None,
        }

    def reload(self, keep_id: int | None = None, select_row: int | None = None) -> None:
        if self.project is None:
            self.model.set_source(lambda o, n: [], lambda: 0)
            self.agreement_label.setText("")
            self._show(None)
            return
        from cai_desktop.store.comparisons import count_comparisons, list_comparisons

        project, f = self.project, self.filters()
        self.model.set_source(lambda o, n: list_comparisons(project, o, n, **f),
                              lambda: count_comparisons(project, **f))
        self.update_agreement()
        n = self.model.rowCount()
        row = select_row
        if row is None and keep_id is not None:
            row = self.model.row_of(keep_id)
        if n:
            self.select_row(min(max(0, row or 0), n - 1))
        else:
            self._show(None)

    def agreement(self) -> dict[str, Any]:
        """Among A/B choices on AI-labelled comparisons: how often the reviewer agreed with the AI."""
        if self.project is None:
            return {"reviewed": 0, "agree": 0, "rate": None, "total": 0, "any_review": 0}
        r = self.project.query(
            """SELECT COUNT(*) AS total,
                      SUM(CASE WHEN human_choice IS NOT NULL THEN 1 ELSE 0 END) AS any_review,
                      SUM(CASE WHEN human_choice IN ('A', 'B') AND label IS NOT NULL AND label != 0.5
                               THEN 1 ELSE 0 END) AS reviewed,
                      SUM(CASE WHEN (human_choice = 'A' AND label > 0.5) OR (human_choice = 'B' AND label < 0.5)
                               THEN 1 ELSE 0 END) AS agree
               FROM comparisons"""
        )[0]
        reviewed, agree = int(r["reviewed"] or 0), int(r["agree"] or 0)
        return {"total": int(r["total"] or 0), "any_review": int(r["any_review"] or 0), "reviewed": reviewed,
                "agree": agree, "rate": agree / reviewed if reviewed else None}

    def update_agreement(self) -> None:
        a = self.agreement()
        text = f"{a['any_review']:,} of {a['total']:,} comparisons reviewed"
        if a["rate"] is not None:
            text += (f" · agreement with the AI label: {a['rate']:.0%} "
                     f"({a['agree']} of {a['reviewed']} A/B choices)")
        else:
            text += " · agreement with the AI label appears after your first A/B choice"
        self.agreement_label.setText(text)

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

    def _show_row(self, row: int) -> None:
        data = self.model.row_data(row) if row >= 0 else {}
        self._show(data.get("id") if data else None)

    def _show(self, comparison_id: int | None) -> None:
        if comparison_id is None or self.project is None:
            self.comparison = None
            self.header.setText("Select a comparison." if self.project else "Open a project first.")
            for v in (self.prompt_view, self.a_view, self.b_view, self.reasoning_view):
                v.clear()
            self.reasoning_view.hide()
            self.choice_label.setText("")
            for b in self.choice_buttons.values():
                b.setChecked(False)
                b.setEnabled(False)
            self._show_label()
            return
        from cai_desktop.store.comparisons import get_comparison

        try:
            c = get_comparison(self.project, comparison_id)
        except CaiError as e:
            show_error(self, "Cannot show the comparison", str(e))
            return
        self.comparison = c
        meta = [f"Comparison #{c['id']}", f"run {c['run_id']}", f"{c.get('kind') or ''}",
                f"from a {'chain' if c.get('source') == 'chain' else 'response pair'}"]
        if c.get("feedback_model"):
            meta.append(f"feedback model {c['feedback_model']}")
        self.header.setText(" · ".join(m for m in meta if m))
        question = c.get("comparison_question") or ""
        principle = c.get("principle_title") or c.get("principle_key") or ""
        q_html = ""
        if principle or question:
            q_html = (f"<p style='margin-top:6px'><span style='color:#4a5361'>Principle</span> "
                      f"<b>{html.escape(principle)}</b>: {html.escape(question)}</p>")
        self.prompt_view.setHtml(f"<b>Prompt</b>&nbsp; {html.escape(c.get('prompt_text') or '')}{q_html}")
        self.a_view.setPlainText(c.get("response_a") or "")
        self.b_view.setPlainText(c.get("response_b") or "")
        for b in self.choice_buttons.values():
            b.setEnabled(True)
        self._show_choice()
        self._show_label()

    def _show_choice(self) -> None:
        c = self.comparison or {}
        choice = c.get("human_choice")
        for key, b in self.choice_buttons.items():
            b.setChecked(key == choice)
        if choice:
            who = f" ({html.escape(c['reviewer'])})" if c.get("reviewer") else ""
            self.choice_label.setText(f"<b>Your choice:</b> {CHOICES[choice]}{who}")
        else:
            self.choice_label.setText("<span style='color:#4a5361'>Not reviewed yet</span>")

    def _show_label(self) -> None:
        c = self.comparison
        visible = self.label_visible()
        self.label_bar.setVisible(visible)
        self.label_info.setVisible(visible)
        self.hidden_note.setVisible(c is not None and not visible)
        reasoning = (c or {}).get("reasoning") or ""
        self.reasoning_view.setVisible(visible and bool(reasoning.strip()))
        if c is None or not visible:
            self.label_bar.set_label(None)
            self.label_info.setText("")
            self.reasoning_view.clear()
            return
        self.label_bar.set_label(c.get("label"))
        bits = []
        if c.get("p_a") is not None and c.get("p_b") is not None:
            bits.append(f"p(A)={c['p_a']:.2f}, p(B)={c['p_b']:.2f}")
        if c.get("raw_label") is not None and c.get("label") is not None and abs(c["raw_label"] - c["label"]) > 1e-9:
            bits.append(f"raw {c['raw_label']:.2f}, clamped ({c.get('clamp')})")
        if c.get("order_shift") is not None:
            bits.append(f"order shift {c['order_shift']:+.2f}")
        bits.append(str(c.get("mode") or "direct"))
        self.label_info.setText(" · ".join(bits))
        self.label_info.setToolTip(
            "Order shift: how much the label moved when the answers were shown in the other order "
            "(a position bias of the feedback model)."
        )
        if reasoning.strip():
            self.reasoning_view.setHtml(f"<b>Feedback model's reasoning</b><br>{html.escape(reasoning)}")

    # -- actions ---------------------------------------------------------------------------------
    def choose(self, choice: str) -> bool:
        """Store the reviewer's choice for the shown comparison (then go to the next one)."""
        if self.project is None or self.comparison is None:
            return False
        from cai_desktop.store.comparisons import review_comparison

        cid = self.comparison["id"]
        row = self.current_row()
        try:
            review_comparison(self.project, cid, choice, reviewer=reviewer_name())
        except CaiError as e:
            show_error(self, "Cannot store the choice", str(e))
            return False
        self.status_message.emit(f"Comparison #{cid}: {CHOICES[choice].lower()}.")
        # stay on the answered one (its label is revealed in blind mode) unless moving on; a row that
        # left the filtered list ("not reviewed yet") is replaced by the next one anyway
        still_listed = self.filters()["reviewed"] is not False
        move_on = self.advance.isChecked() and not self.blind.isChecked() and still_listed
        self.reload(select_row=row + 1 if move_on else row)
        return True

    def step(self, delta: int) -> None:
        n = self.model.rowCount()
        if n:
            self.select_row(max(0, min(self.current_row() + delta, n - 1)))


if __name__ == "__main__":
    from cai_desktop.ui.pages.constitution import run_standalone

    sys.exit(run_standalone(ComparisonsPage))
