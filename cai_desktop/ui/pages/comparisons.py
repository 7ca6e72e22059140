"""Comparisons: the two answers side by side under the principle's comparison question, the AI's
soft label as a bar (p(A) vs p(B)), its order shift and reasoning, and the reviewer's choice
(A, B, tie, both bad; U clears it; Ctrl+Z takes a choice back). Blind mode hides the AI label
until the reviewer has chosen. The agreement rate between reviewers and the AI is shown. The list,
search, keys and undo come from ``ListDetailPage``.

Run alone for development: ``python -m cai_desktop.ui.pages.comparisons PROJECT``.
"""

from __future__ import annotations

import html
import sys
from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.errors import CaiError
from cai_desktop.ui.widgets.errors import show_error
from cai_desktop.ui.widgets.listdetail import ListDetailPage, pane, text_browser
from cai_desktop.ui.widgets.paged import plural, refill_combo
from cai_desktop.ui.widgets.reviewer import ReviewerButton, decision_reviewer

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


class ComparisonsPage(ListDetailPage):
    title = "Comparisons"
    heading = "Comparisons"
    noun = "comparison"
    columns = COLUMNS
    column_widths = {0: 60, 2: 150, 3: 90, 4: 80, 5: 110}
    stretch_column = 1
    table_name = "comparisonTable"
    advance_text = "Next after choosing"

    def __init__(self, parent: QWidget | None = None) -> None:
        self.comparison: dict[str, Any] | None = None
        super().__init__(parent)
        self.advance.setToolTip("Show the next comparison after a choice; in blind mode the status bar "
                                "tells the AI label of the one just answered.")
        self.show_item(None)

    # -- layout ----------------------------------------------------------------------------------
    def build_filters(self, bar: QHBoxLayout) -> None:
        self.reviewed_filter = QComboBox()
        self.reviewed_filter.addItem("reviewed or not", None)
        self.reviewed_filter.addItem("not reviewed yet", False)
        self.reviewed_filter.addItem("reviewed", True)
        self.principle_filter = QComboBox()
        self.principle_filter.setMinimumWidth(170)
        self.kind_filter = QComboBox()
        self.kind_filter.addItem("any kind", None)
        self.kind_filter.addItem("harmless", "harmless")
        self.kind_filter.addItem("helpful", "helpful")
        for combo in (self.reviewed_filter, self.principle_filter, self.kind_filter):
            combo.currentIndexChanged.connect(lambda _i: self.reload())
            bar.addWidget(combo)

    def build_bar_end(self, bar: QHBoxLayout) -> None:
        self.blind = QCheckBox("Blind mode")
        self.blind.setObjectName("blindMode")
        self.blind.setToolTip("Hide the AI's label until you have made your choice, so it cannot sway you.")
        self.blind.toggled.connect(self._blind_toggled)
        bar.addWidget(self.blind)
        self.reviewer = ReviewerButton()
        bar.addWidget(self.reviewer)

    def build_header(self, layout: QVBoxLayout) -> None:
        self.agreement_label = QLabel("")
        self.agreement_label.setObjectName("subtitle")
        layout.addWidget(self.agreement_label)

    def formatters(self) -> dict:
        return {"label": self._label_cell, "human_choice": lambda v, _r: CHOICES.get(v or "", "")}

    def build_detail(self, dl: QVBoxLayout) -> None:
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

    def build_review_bar(self, cb: QHBoxLayout) -> None:
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
            self.add_shortcut(keys, lambda ch=choice: self.choose(ch))
        self.btn_clear = QPushButton("Clear  (U)")
        self.btn_clear.setToolTip("Back to not reviewed: the AI label counts again (U). Ctrl+Z undoes any choice.")
        self.btn_clear.clicked.connect(lambda: self.choose(None))
        cb.addWidget(self.btn_clear)
        self.add_shortcut(("U",), lambda: self.choose(None))
        cb.addStretch(1)

    def build_footer(self, dl: QVBoxLayout) -> None:
        row = QHBoxLayout()
        row.addWidget(QLabel("Note"))
        self.note = QLineEdit()
        self.note.setObjectName("comparisonNote")
        self.note.setPlaceholderText("Why? (optional; saved with your next choice, shown to the adjudicator)")
        row.addWidget(self.note, 1)
        dl.addLayout(row)

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
    def fill_filters(self) -> None:

        keys = [] if self.project is None else self.project.comparisons.principle_keys()
        refill_combo(self.principle_filter, [(k, k) for k in keys], first=("any principle", None))

    def filters(self) -> dict[str, Any]:
        return {
            "reviewed": self.reviewed_filter.currentData(),
            "principle_key": self.principle_filter.currentData(),
            "kind": self.kind_filter.currentData(),
            "search": self.search.text().strip() or None,
        }

    def source(self, project, f: dict[str, Any]):

        return (lambda o, n: project.comparisons.list(o, n, **f)), (lambda: project.comparisons.count(**f))

    def after_reload(self) -> None:
        self.update_agreement()

    def agreement(self) -> dict[str, Any]:
        """Among A/B choices on AI-labelled comparisons: how often the reviewer agreed with the AI."""
        if self.project is None:
            return {"reviewed": 0, "agree": 0, "rate": None, "total": 0, "any_review": 0}

        return self.project.stats.agreement()

    def update_agreement(self) -> None:
        if self.project is None:
            self.agreement_label.setText("")
            return
        a = self.agreement()
        text = f"{a['any_review']:,} of {plural(a['total'], 'comparison')} reviewed"
        if a["rate"] is not None:
            text += (f" · agreement with the AI label: {a['rate']:.0%} "
                     f"({a['agree']:,} of {plural(a['reviewed'], 'A/B choice')})")
        else:
            text += " · agreement with the AI label appears after your first A/B choice"
        self.agreement_label.setText(text)

    def show_item(self, comparison_id: int | None) -> None:
        self.note.clear()
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
            self.btn_clear.setEnabled(False)
            self._show_label()
            return

        try:
            c = self.project.comparisons.get(comparison_id)
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
        self.btn_clear.setEnabled(bool(c.get("human_choice")))
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
        if c.get("label") is not None:  # a blind review pack has no label, and no mode either
            bits.append(str(c.get("mode") or "direct"))
        self.label_info.setText(" · ".join(bits))
        self.label_info.setToolTip(
            "Order shift: how much the label moved when the answers were shown in the other order "
            "(a position bias of the feedback model)."
        )
        if reasoning.strip():
            self.reasoning_view.setHtml(f"<b>Feedback model's reasoning</b><br>{html.escape(reasoning)}")

    # -- actions ---------------------------------------------------------------------------------
    def choose(self, choice: str | None) -> bool:
        """Store the reviewer's choice for the shown comparison (undoable; None clears it), then
        go to the next one when "Next after choosing" (in blind mode too: the status bar tells the
        AI label of the one just answered, and the table shows it)."""
        if self.project is None or self.comparison is None:
            return False

        reviewer = decision_reviewer(self)  # the reviewer profile (asked once, on the first choice)
        if reviewer is None:
            return False
        project, c = self.project, self.comparison
        cid = c["id"]
        note = self.note.text().strip() or None
        if choice is None:
            def do() -> int:
                return project.comparisons.reset_review(cid, reviewer, note)
        else:
            def do() -> int:
                return project.comparisons.review(cid, choice, reviewer=reviewer, note=note)
        verb = f"Choose {choice.replace('-', ' ')}" if choice else "Clear the choice"
        ok = self.record_review(
            cid, f"{verb} on comparison #{cid}", lambda: project.comparisons.review_state(cid), do,
            lambda rid, before: project.comparisons.undo_review(cid, rid, before),
            advance=self.advance.isChecked() and choice is not None,
            still_listed=self._still_listed(choice),
        )
        if ok:
            self.note.clear()
            self.status_message.emit(f"Comparison #{cid}: {self._choice_text(choice, c)}")
        return ok

    def _still_listed(self, choice: str | None) -> bool:
        reviewed = self.filters()["reviewed"]
        return reviewed is None or reviewed == (choice is not None)

    @staticmethod
    def _choice_text(choice: str | None, c: dict[str, Any]) -> str:
        """"A is better; the AI gave A 60%: you agree." (reveals the label of the answered one)."""
        if choice is None:
            return "choice cleared."
        text = CHOICES[choice]
        label = c.get("label")
        if label is None:
            return text + "."
        agree = ""
        if choice in ("A", "B") and label != 0.5:
            agree = ": you agree" if (choice == "A") == (label > 0.5) else ": you disagree"
        return f"{text}; the AI gave A {float(label):.0%}{agree}."


if __name__ == "__main__":
    from cai_desktop.ui.pages.constitution import run_standalone

    sys.exit(run_standalone(ComparisonsPage))
