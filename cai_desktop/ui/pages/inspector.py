"""Critique & revision inspector: a paged table of chains (filter by principle, review status,
text), and the selected chain: its prompt, the original answer and the revision side by side with
word-level differences highlighted, the critiques in between, and a control to step through the
rounds. Review: accept (A), reject (R), edit the revision (E; kept beside the model's), a note;
next/previous with J/K or N/P.

Run alone for development: ``python -m cai_desktop.ui.pages.inspector PROJECT``.
"""

from __future__ import annotations

import getpass
import html
import sys
from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.diff import html_pair, similarity
from cai_desktop.core.errors import CaiError
from cai_desktop.ui.pages import Page
from cai_desktop.ui.widgets.errors import show_error
from cai_desktop.ui.widgets.paged import PagedTableModel, refill_combo, search_field

REVIEW_LABELS = {
    "unreviewed": ("Unreviewed", "#4a5361"),
    "accepted": ("Accepted", "#1d6b35"),
    "rejected": ("Rejected", "#b3261e"),
    "edited": ("Edited by a person", "#1f4e79"),
}
CHAIN_COLUMNS = [("id", "#"), ("prompt", "Prompt"), ("review_status", "Review"), ("n_revisions", "Rounds"),
                 ("final_text", "Final revision")]


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


class EditRevisionDialog(QDialog):
    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit the revision")
        self.resize(700, 420)
        lay = QVBoxLayout(self)
        note = QLabel("Your edit is stored beside the model's revision; training uses yours.")
        note.setObjectName("subtitle")
        lay.addWidget(note)
        self.editor = QPlainTextEdit(text)
        lay.addWidget(self.editor, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)


class InspectorPage(Page):
    title = "Inspector"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chain: dict[str, Any] | None = None
        self._selecting = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(14, 12, 14, 12)
        outer.setSpacing(8)

        # -- filters -------------------------------------------------------------------------
        bar = QHBoxLayout()
        bar.setSpacing(8)
        bar.addWidget(QLabel("<b>Chains</b>"))
        self.principle_filter = QComboBox()
        self.principle_filter.setObjectName("principleFilter")
        self.principle_filter.setMinimumWidth(180)
        self.principle_filter.setToolTip("Only chains where this principle was drawn in some round.")
        self.status_filter = QComboBox()
        self.status_filter.setObjectName("statusFilter")
        self.status_filter.addItem("any review status", None)
        for key, (label, _) in REVIEW_LABELS.items():
            self.status_filter.addItem(label.lower(), key)
        self.search = search_field(self, "Search prompts and answers…", self.reload, "chainSearch")
        self.principle_filter.currentIndexChanged.connect(lambda _i: self.reload())
        self.status_filter.currentIndexChanged.connect(lambda _i: self.reload())
        bar.addWidget(self.principle_filter)
        bar.addWidget(self.status_filter)
        bar.addWidget(self.search, 1)
        self.count_label = QLabel("")
        self.count_label.setObjectName("subtitle")
        bar.addWidget(self.count_label)
        outer.addLayout(bar)

        vsplit = QSplitter(Qt.Orientation.Vertical)
        vsplit.setChildrenCollapsible(False)
        outer.addWidget(vsplit, 1)

        # -- table ---------------------------------------------------------------------------
        self.model = PagedTableModel(
            CHAIN_COLUMNS, lambda o, n: [], lambda: 0, parent=self,
            formatters={"review_status": lambda v, _r: REVIEW_LABELS.get(v or "", (v or "",))[0]},
        )
        self.table = QTableView()
        self.table.setObjectName("chainTable")
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(26)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setStretchLastSection(True)
        for col, width in enumerate((60, 420, 120, 70)):
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().currentRowChanged.connect(lambda cur, _prev: self._on_current_changed(cur.row()))
        vsplit.addWidget(self.table)

        # -- detail --------------------------------------------------------------------------
        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 6, 0, 0)
        dl.setSpacing(8)
        self.header = QLabel("Select a chain to inspect it.")
        self.header.setObjectName("subtitle")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        dl.addWidget(self.header)
        self.prompt_view = text_browser("promptView")
        self.prompt_view.setMaximumHeight(64)
        dl.addWidget(self.prompt_view)

        rounds = QHBoxLayout()
        rounds.addWidget(QLabel("Round"))
        self.round_slider = QSlider(Qt.Orientation.Horizontal)
        self.round_slider.setObjectName("roundSlider")
        self.round_slider.setMaximumWidth(260)
        self.round_slider.setPageStep(1)
        self.round_slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.round_slider.setTickInterval(1)
        self.round_slider.valueChanged.connect(lambda _v: self._show_round())
        rounds.addWidget(self.round_slider)
        self.round_label = QLabel("")
        rounds.addWidget(self.round_label)
        rounds.addStretch(1)
        self.similarity_label = QLabel("")
        self.similarity_label.setObjectName("subtitle")
        rounds.addWidget(self.similarity_label)
        dl.addLayout(rounds)

        hsplit = QSplitter(Qt.Orientation.Horizontal)
        hsplit.setChildrenCollapsible(False)
        self.original_view = text_browser("originalView")
        self.critique_view = text_browser("critiqueView")
        self.revision_view = text_browser("revisionView")
        self.human_view = text_browser("humanView")
        self.human_view.setMaximumHeight(120)
        self.human_view.hide()
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.setSpacing(4)
        self.revision_pane = pane("Revision", self.revision_view)
        rl.addWidget(self.revision_pane, 1)
        self.human_label = QLabel("Human edit (used for training)")
        self.human_label.setStyleSheet("font-weight:600;color:#1f4e79")
        self.human_label.hide()
        rl.addWidget(self.human_label)
        rl.addWidget(self.human_view)
        hsplit.addWidget(pane("Original answer", self.original_view))
        hsplit.addWidget(pane("Critiques", self.critique_view))
        hsplit.addWidget(right)
        hsplit.setSizes([380, 300, 420])
        dl.addWidget(hsplit, 1)

        # -- review bar ----------------------------------------------------------------------
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setStyleSheet("color:#d7dbe0")
        dl.addWidget(line)
        rb = QHBoxLayout()
        rb.setSpacing(8)
        self.status_label = QLabel("")
        self.status_label.setObjectName("reviewStatus")
        self.status_label.setMinimumWidth(150)
        rb.addWidget(self.status_label)
        self.btn_accept = QPushButton("Accept  (A)")
        self.btn_reject = QPushButton("Reject  (R)")
        self.btn_edit = QPushButton("Edit…  (E)")
        self.btn_prev = QPushButton("◀ Previous  (K)")
        self.btn_next = QPushButton("Next  (J) ▶")
        self.btn_accept.setToolTip("Keep this revision for training (A).")
        self.btn_reject.setToolTip("Leave this chain out of training (R).")
        self.btn_edit.setToolTip("Write your own revision; the model's stays beside it (E).")
        self.btn_accept.clicked.connect(lambda: self.review("accepted"))
        self.btn_reject.clicked.connect(lambda: self.review("rejected"))
        self.btn_edit.clicked.connect(self._edit_clicked)
        self.btn_prev.clicked.connect(lambda: self.step(-1))
        self.btn_next.clicked.connect(lambda: self.step(1))
        for b in (self.btn_accept, self.btn_reject, self.btn_edit):
            rb.addWidget(b)
        self.note = QLineEdit()
        self.note.setObjectName("reviewNote")
        self.note.setPlaceholderText("Note (saved with the review)")
        self.note.returnPressed.connect(self.save_note)
        rb.addWidget(self.note, 1)
        self.btn_note = QPushButton("Save note")
        self.btn_note.clicked.connect(self.save_note)
        rb.addWidget(self.btn_note)
        self.advance = QCheckBox("Next after review")
        self.advance.setChecked(True)
        rb.addWidget(self.advance)
        rb.addWidget(self.btn_prev)
        rb.addWidget(self.btn_next)
        dl.addLayout(rb)
        rr = QHBoxLayout()
        rr.addWidget(QLabel("Reviewer"))
        self.reviewer = QLineEdit(reviewer_name())
        self.reviewer.setMaximumWidth(180)
        self.reviewer.editingFinished.connect(lambda: set_reviewer_name(self.reviewer.text()))
        rr.addWidget(self.reviewer)
        rr.addStretch(1)
        dl.addLayout(rr)
        vsplit.addWidget(detail)
        vsplit.setSizes([230, 570])
        vsplit.setStretchFactor(1, 1)

        for keys, slot in (
            (("A",), lambda: self.review("accepted")),
            (("R",), lambda: self.review("rejected")),
            (("E",), self._edit_clicked),
            (("J", "N"), lambda: self.step(1)),
            (("K", "P"), lambda: self.step(-1)),
        ):
            for key in keys:
                sc = QShortcut(QKeySequence(key), self)
                sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                sc.activated.connect(slot)
        self._set_review_enabled(False)

    # -- data ----------------------------------------------------------------------------------
    def set_project(self, project) -> None:
        self.project = project
        self.refresh()

    def refresh(self) -> None:
        rows = [] if self.project is None else self.project.query(
            "SELECT key, MAX(title) AS title FROM principle_snapshots GROUP BY key ORDER BY key")
        refill_combo(self.principle_filter, [(r["title"] or r["key"], r["key"]) for r in rows],
                     first=("any principle", None))
        self.reload(keep_id=self.chain["id"] if self.chain else None)

    def filters(self) -> dict[str, Any]:
        return {
            "principle_key": self.principle_filter.currentData(),
            "review_status": self.status_filter.currentData(),
            "search": self.search.text().strip() or None,
        }

    def reload(self, keep_id: int | None = None, select_row: int | None = None) -> None:
        """Query again with the current filters (keeps the selection where it can)."""
        if self.project is None:
            self.model.set_source(lambda o, n: [], lambda: 0)
            self.count_label.setText("")
            self._show_chain(None)
            return
        from cai_desktop.store.chains import count_chains, list_chains

        project, f = self.project, self.filters()
        self.model.set_source(lambda o, n: list_chains(project, o, n, **f), lambda: count_chains(project, **f))
        n = self.model.rowCount()
        self.count_label.setText(f"{n:,} chain{'s' if n != 1 else ''}")
        row = select_row
        if row is None and keep_id is not None:
            row = self.model.row_of(keep_id)
        if row is None:
            row = 0
        if n:
            self.select_row(min(max(0, row), n - 1))
        else:
            self._show_chain(None)


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

    def _on_current_changed(self, row: int) -> None:
        if not self._selecting:
            self._show_row(row)

    def _show_row(self, row: int) -> None:
        data = self.model.row_data(row) if row >= 0 else {}
        self._show_chain(data.get("id") if data else None)

    def _show_chain(self, chain_id: int | None) -> None:
        if chain_id is None or self.project is None:
            self.chain = None
            self.header.setText("Select a chain to inspect it." if self.project else "Open a project first.")
            for v in (self.prompt_view, self.original_view, self.critique_view, self.revision_view):
                v.clear()
            self.round_slider.setRange(0, 0)
            self.round_label.setText("")
            self.status_label.setText("")
            self.note.clear()
            self._show_human("")
            self._set_review_enabled(False)
            return
        from cai_desktop.store.chains import get_chain

        try:
            chain = get_chain(self.project, chain_id)
        except CaiError as e:
            show_error(self, "Cannot show the chain", str(e))
            return
        self.chain = chain
        steps = [s for s in chain["steps"] if s["round"] > 0]
        constitution = chain.get("constitution") or "?"
        meta = [f"<b>Chain #{chain['id']}</b>", f"run {chain['run_id']}", f"set {html.escape(chain.get('prompt_set') or '')}",
                f"constitution {html.escape(constitution)} v{chain.get('constitution_version') or '?'}"]
        if chain.get("model_spec"):
            meta.append(f"model {html.escape(str(chain['model_spec']))}")
        self.header.setText(" · ".join(meta))
        self.prompt_view.setHtml(f"<b>Prompt</b>&nbsp; {html.escape(chain['prompt'] or '')}")
        n = len(steps)
        self.round_slider.blockSignals(True)
        self.round_slider.setRange(1 if n else 0, n)
        self.round_slider.setValue(n)
        self.round_slider.setEnabled(n > 1)
        self.round_slider.blockSignals(False)
        self.note.setText(chain.get("note") or "")
        self._show_review_status()
        self._show_round()
        self._set_review_enabled(True)

    def _original(self) -> str:
        c = self.chain or {}
        round0 = next((s for s in c.get("steps", []) if s["round"] == 0), None)
        return (c.get("initial_text") if c.get("initial_text") is not None else (round0 or {}).get("revision")) or ""

    def current_round(self) -> int:
        return self.round_slider.value()

    def _show_round(self) -> None:
        c = self.chain
        if c is None:
            return
        k = self.round_slider.value()
        steps = [s for s in c["steps"] if s["round"] > 0]
        n = len(steps)
        original = self._original()
        revision = next((s["revision"] or "" for s in steps if s["round"] == k), original) if k else original
        left, right = html_pair(original, revision)
        self.original_view.setHtml(left or "<i>(empty)</i>")
        self.revision_view.setHtml(right or "<i>(empty)</i>")
        title = f"Revision after round {k} of {n}" if n else "No revisions (answer only)"
        self.revision_pane.title_label.setText(title)  # type: ignore[attr-defined]
        self.round_label.setText(f"{k} of {n}" if n else "no rounds")
        sim = similarity(original, revision)
        self.similarity_label.setText(
            "Unchanged from the original" if original.strip() == revision.strip() else f"{1 - sim:.0%} of the words changed"
        )
        parts = []
        for s in steps:
            if s["round"] > k:
                break
            current = s["round"] == k
            border = "#2f6fb3" if current else "#d7dbe0"
            principle = html.escape(s.get("principle_title") or s.get("principle_key") or "principle")
            request = html.escape(s.get("critique_request") or "")
            critique = html.escape(s.get("critique") or "").replace("\n", "<br>") or "<i>(no critique)</i>"
            parts.append(
                f"<table width='100%' cellspacing='0' cellpadding='6' style='margin-bottom:8px;border-left:3px solid {border}'>"
                f"<tr><td><span style='color:#4a5361'>Round {s['round']} · </span><b>{principle}</b>"
                f"<br><span style='color:#6b7280;font-size:small'>{request}</span>"
                f"<p style='margin-top:4px'>{critique}</p></td></tr></table>"
            )
        self.critique_view.setHtml("".join(parts) or "<i style='color:#6b7280'>No critiques in this chain.</i>")
        self._show_human(c.get("human_revision") or "")

    def _show_human(self, text: str) -> None:
        on = bool(text.strip())
        self.human_label.setVisible(on)
        self.human_view.setVisible(on)
        if on and self.chain is not None:
            steps = [s for s in self.chain["steps"] if s["round"] > 0]
            model_final = steps[-1]["revision"] if steps else self._original()
            _, right = html_pair(model_final or "", text)
            self.human_view.setHtml(right)
        else:
            self.human_view.clear()

    def _show_review_status(self) -> None:
        c = self.chain or {}
        label, colour = REVIEW_LABELS.get(c.get("review_status") or "unreviewed", ("?", "#4a5361"))
        who = f" by {html.escape(c['reviewer'])}" if c.get("reviewer") and c.get("review_status") != "unreviewed" else ""
        self.status_label.setText(f"<span style='color:{colour};font-weight:600'>{label}</span>{who}")

    def _set_review_enabled(self, on: bool) -> None:
        for w in (self.btn_accept, self.btn_reject, self.btn_edit, self.btn_note, self.note):
            w.setEnabled(on)

    # -- review actions ------------------------------------------------------------------------
    def review(self, decision: str, edited_text: str | None = None) -> bool:
        """Store a review of the shown chain; then move to the next one when "Next after review"."""
        if self.project is None or self.chain is None:
            return False
        from cai_desktop.store.chains import review_chain

        chain_id = self.chain["id"]
        row = self.current_row()
        note = self.note.text().strip()
        try:
            review_chain(self.project, chain_id, decision, reviewer=self.reviewer.text().strip() or reviewer_name(),
                         edited_text=edited_text, note=note or None)
        except CaiError as e:
            show_error(self, "Cannot store the review", str(e))
            return False
        self.status_message.emit(f"Chain #{chain_id}: {REVIEW_LABELS[decision][0].lower()}.")
        still_listed = self.filters()["review_status"] in (None, decision)
        if self.advance.isChecked() and decision != "edited":
            target = row + 1 if still_listed else row
        else:
            target = row
        self.reload(select_row=target)
        return True

    def _edit_clicked(self) -> None:
        if self.chain is None:
            return
        c = self.chain
        dlg = EditRevisionDialog(c.get("human_revision") or c.get("final_text") or "", self)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.edit_current(dlg.editor.toPlainText())

    def edit_current(self, text: str) -> bool:
        """Store a human revision beside the model's (review status "edited")."""
        return self.review("edited", edited_text=text)

    def save_note(self) -> None:
        """Keep the note without changing the review decision."""
        if self.project is None or self.chain is None:
            return
        from cai_desktop.store.chains import review_chain

        c = self.chain
        try:
            review_chain(self.project, c["id"], c.get("review_status") or "unreviewed",
                         reviewer=self.reviewer.text().strip() or reviewer_name(),
                         edited_text=c.get("human_revision") if c.get("review_status") == "edited" else None,
                         note=self.note.text().strip())
        except CaiError as e:
            show_error(self, "Cannot store the note", str(e))
            return
        self._show_chain(c["id"])
        self.status_message.emit(f"Note saved on chain #{c['id']}.")

    def step(self, delta: int) -> None:
        n = self.model.rowCount()
        if not n:
            return
        row = max(0, min(self.current_row() + delta, n - 1))
        self.select_row(row)


if __name__ == "__main__":
    from cai_desktop.ui.pages.constitution import run_standalone

    sys.exit(run_standalone(InspectorPage))
