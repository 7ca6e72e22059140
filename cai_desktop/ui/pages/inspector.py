"""Critique & revision inspector: a paged table of chains (filter by principle, review status,
run, prompt set, text), and the selected chain: its prompt, the original answer and the revision
side by side with word-level differences highlighted, the critiques in between, and a control to
step through the rounds. Review: accept (A), reject (R), edit the revision (E; kept beside the
model's), reset to unreviewed (U), a note; next/previous with J/K or N/P; Ctrl+Z takes a review
back. The list, search, keys and undo come from ``ListDetailPage``.

Run alone for development: ``python -m cai_desktop.ui.pages.inspector PROJECT``.
"""

from __future__ import annotations

import html
import sys
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.diff import html_pair, similarity
from cai_desktop.core.errors import CaiError
from cai_desktop.ui.widgets.errors import show_error
from cai_desktop.ui.widgets.listdetail import (
    ListDetailPage,
    pane,
    text_browser,
)
from cai_desktop.ui.widgets.paged import plural, refill_combo
from cai_desktop.ui.widgets.reviewer import ReviewerButton, decision_reviewer

REVIEW_LABELS = {
    "unreviewed": ("Unreviewed", "#4a5361"),
    "accepted": ("Accepted", "#1d6b35"),
    "rejected": ("Rejected", "#b3261e"),
    "edited": ("Edited by a person", "#1f4e79"),
}
#: how a decision reads in the Edit menu ("Undo Accept chain #3")
VERBS = {"accepted": "Accept", "rejected": "Reject", "edited": "Edit", "unreviewed": "Reset"}
CHAIN_COLUMNS = [("id", "#"), ("prompt", "Prompt"), ("review_status", "Review"), ("n_revisions", "Rounds"),
                 ("final_text", "Final revision")]


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


class InspectorPage(ListDetailPage):
    title = "Inspector"
    heading = "Chains"
    noun = "chain"
    columns = CHAIN_COLUMNS
    column_widths = {0: 60, 1: 420, 2: 120, 3: 70}
    search_name = "chainSearch"
    table_name = "chainTable"
    #: a reviewer asks for a draft principle from a note: ``{note, prompt, answer, chain_id}``
    principle_draft_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        self.chain: dict[str, Any] | None = None
        super().__init__(parent)
        for keys, slot in (
            (("A",), lambda: self.review("accepted")),
            (("R",), lambda: self.review("rejected")),
            (("E",), self._edit_clicked),
            (("U",), lambda: self.review("unreviewed")),
        ):
            self.add_shortcut(keys, slot)
        self.show_item(None)

    # -- layout --------------------------------------------------------------------------------
    def build_filters(self, bar: QHBoxLayout) -> None:
        self.principle_filter = self._combo("principleFilter", "Only chains where this principle was drawn in some round.")
        self.principle_filter.setMinimumWidth(180)
        self.status_filter = self._combo("statusFilter", "Only chains with this review status.")
        self.status_filter.addItem("any review status", None)
        for key, (label, _) in REVIEW_LABELS.items():
            self.status_filter.addItem(label.lower(), key)
        self.run_filter = self._combo("runFilter", "Only chains made by this run.")
        self.set_filter = self._combo("setFilter", "Only chains answering prompts of this set.")
        for combo in (self.principle_filter, self.status_filter, self.run_filter, self.set_filter):
            combo.currentIndexChanged.connect(lambda _i: self.reload())
            bar.addWidget(combo)

    def _combo(self, name: str, tip: str) -> QComboBox:
        combo = QComboBox()
        combo.setObjectName(name)
        combo.setToolTip(tip)
        # long run names must not squeeze the search box: ~16 characters shown, all in the list
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(16)
        return combo

    def formatters(self) -> dict:
        return {"review_status": lambda v, _r: REVIEW_LABELS.get(v or "", (v or "",))[0]}

    def build_detail(self, dl: QVBoxLayout) -> None:
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

        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setStyleSheet("color:#d7dbe0")
        dl.addWidget(line)

    def build_review_bar(self, rb: QHBoxLayout) -> None:
        self.status_label = QLabel("")
        self.status_label.setObjectName("reviewStatus")
        self.status_label.setMinimumWidth(150)
        rb.addWidget(self.status_label)
        self.btn_accept = QPushButton("Accept  (A)")
        self.btn_reject = QPushButton("Reject  (R)")
        self.btn_edit = QPushButton("Edit…  (E)")
        self.btn_reset = QPushButton("Reset  (U)")
        self.btn_accept.setToolTip("Keep this revision for training (A).")
        self.btn_reject.setToolTip("Leave this chain out of training (R).")
        self.btn_edit.setToolTip("Write your own revision; the model's stays beside it (E).")
        self.btn_reset.setToolTip("Back to unreviewed: no decision, no human revision (U). Ctrl+Z undoes any review.")
        self.btn_accept.clicked.connect(lambda: self.review("accepted"))
        self.btn_reject.clicked.connect(lambda: self.review("rejected"))
        self.btn_edit.clicked.connect(self._edit_clicked)
        self.btn_reset.clicked.connect(lambda: self.review("unreviewed"))
        for b in (self.btn_accept, self.btn_reject, self.btn_edit, self.btn_reset):
            rb.addWidget(b)
        self.note = QLineEdit()
        self.note.setObjectName("reviewNote")
        self.note.setPlaceholderText("Note (saved with the review)")
        self.note.returnPressed.connect(self.save_note)
        self.btn_note = QPushButton("Save note")
        self.btn_note.clicked.connect(self.save_note)
        # (the note goes on the reviewer's row: the decision row has no room left for it at 1280 px)
        rb.addStretch(1)

    def build_footer(self, dl: QVBoxLayout) -> None:
        rr = QHBoxLayout()
        self.reviewer = ReviewerButton()
        rr.addWidget(self.reviewer)
        rr.addSpacing(12)
        rr.addWidget(QLabel("Note"))
        rr.addWidget(self.note, 1)
        rr.addWidget(self.btn_note)
        self.btn_draft = QPushButton("Principle from note…")
        self.btn_draft.setObjectName("draftPrinciple")
        self.btn_draft.setToolTip("The teacher model turns your note on this answer into a draft principle "
                                  "(critique request, revision request, comparison question), opened in the "
                                  "constitution editor for you to edit; Ctrl+Z there removes it.")
        self.btn_draft.clicked.connect(self.request_principle_draft)
        rr.addWidget(self.btn_draft)
        dl.addLayout(rr)

    # -- data ----------------------------------------------------------------------------------
    def fill_filters(self) -> None:

        p = self.project
        principles = [] if p is None else [(r["title"] or r["key"], r["key"]) for r in p.chains.principle_keys()]
        runs = [] if p is None else [(f"run {r['id']} · {r['name']} ({plural(r['n'], 'chain')})", r["id"])
                                      for r in p.chains.runs()]
        sets = [] if p is None else [(name, name) for name in p.chains.prompt_sets()]
        refill_combo(self.principle_filter, principles, first=("any principle", None))
        refill_combo(self.run_filter, runs, first=("any run", None))
        refill_combo(self.set_filter, sets, first=("any prompt set", None))

    def filters(self) -> dict[str, Any]:
        return {
            "principle_key": self.principle_filter.currentData(),
            "review_status": self.status_filter.currentData(),
            "run_id": self.run_filter.currentData(),
            "prompt_set": self.set_filter.currentData(),
            "search": self.search.text().strip() or None,
        }

    def source(self, project, f: dict[str, Any]):

        return (lambda o, n: project.chains.list(o, n, **f)), (lambda: project.chains.count(**f))

    def show_item(self, chain_id: int | None) -> None:
        if chain_id is None or self.project is None:
            self.chain = None
            self.header.setText("Select a chain to inspect it." if self.project else "Open a project first.")
            for v in (self.prompt_view, self.original_view, self.critique_view, self.revision_view):
                v.clear()
            self.round_slider.setRange(0, 0)
            self.round_label.setText("")
            self.similarity_label.setText("")
            self.status_label.setText("")
            self.note.clear()
            self._show_human("")
            self._set_review_enabled(False)
            return

        try:
            chain = self.project.chains.get(chain_id)
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
        for w in (self.btn_accept, self.btn_reject, self.btn_edit, self.btn_reset, self.btn_note, self.note,
                  self.btn_draft):
            w.setEnabled(on)

    # -- review actions ------------------------------------------------------------------------
    def _reviewer(self) -> str | None:
        """The reviewer profile's name (asked once on the first review; None: the person cancelled)."""
        return decision_reviewer(self)

    def review(self, decision: str, edited_text: str | None = None) -> bool:
        """Store a review of the shown chain (undoable); then move on when "Next after review".

        ``decision`` "unreviewed" resets the chain: no decision and no human revision.
        """
        if self.project is None or self.chain is None:
            return False

        project, chain_id, reviewer = self.project, self.chain["id"], self._reviewer()
        if reviewer is None:
            return False
        note = self.note.text().strip() or None
        if decision == "unreviewed":
            def do() -> int:
                return project.chains.reset_review(chain_id, reviewer, note)
        else:
            def do() -> int:
                return project.chains.review(chain_id, decision, reviewer=reviewer, edited_text=edited_text, note=note)
        ok = self.record_review(
            chain_id, f"{VERBS.get(decision, decision)} chain #{chain_id}",
            lambda: project.chains.review_state(chain_id), do,
            lambda rid, before: project.chains.undo_review(chain_id, rid, before),
            advance=self.advance.isChecked() and decision != "edited",
            still_listed=self.filters()["review_status"] in (None, decision),
        )
        if ok:
            self.status_message.emit(f"Chain #{chain_id}: {REVIEW_LABELS[decision][0].lower()}.")
        return ok

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
        """Keep the note without changing the review decision (undoable like a decision, so that
        taking back an earlier decision is not blocked by the note stored after it)."""
        if self.project is None or self.chain is None:
            return

        project, c, reviewer, note = self.project, self.chain, self._reviewer(), self.note.text().strip()
        if reviewer is None:
            return
        status = c.get("review_status") or "unreviewed"
        edited = c.get("human_revision") if status == "edited" else None
        if self.record_review(
            c["id"], f"Note on chain #{c['id']}", lambda: project.chains.review_state(c["id"]),
            lambda: project.chains.review(c["id"], status, reviewer=reviewer, edited_text=edited, note=note),
            lambda rid, before: project.chains.undo_review(c["id"], rid, before),
            advance=False, still_listed=True,
        ):
            self.status_message.emit(f"Note saved on chain #{c['id']}.")

    def principle_draft_request(self) -> dict[str, Any] | None:
        """What the teacher needs to draft a principle from the note on the shown chain: the note
        in the box (else the latest saved note), the prompt and the answer the note is about."""
        c = self.chain
        if c is None:
            return None
        note = self.note.text().strip()
        if not note:
            notes = [r.get("note") for r in c.get("reviews") or [] if (r.get("note") or "").strip()]
            note = notes[-1].strip() if notes else ""
        if not note:
            return None
        steps = [s for s in c.get("steps", []) if s["round"] > 0 and (s.get("revision") or "").strip()]
        answer = c.get("human_revision") or (steps[-1]["revision"] if steps else "") or self._original()
        return {"note": note, "prompt": c.get("prompt") or "", "answer": answer,
                "chain_id": c["id"]}

    def request_principle_draft(self) -> bool:
        req = self.principle_draft_request()
        if req is None:
            self.status_message.emit("Write a note on this answer first: the draft principle is made from it.")
            return False
        self.principle_draft_requested.emit(req)
        return True


if __name__ == "__main__":
    from cai_desktop.ui.pages.constitution import run_standalone

    sys.exit(run_standalone(InspectorPage))
