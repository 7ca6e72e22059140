"""Team review: how far reviewers agree with each other and with the AI, what they disagree on,
and the constitution their choices imply (issue 12).

Three tabs, all read from the project through its managers (no SQL here):
- **Agreement**: progress per reviewer (assigned / done); Cohen's κ for every pair of reviewers,
  Fleiss' κ and Krippendorff's α over all of them; human-vs-AI agreement per principle (how often
  the AI soft label's side is the final human choice, and the correlation of p(A) with the human
  votes) — each figure with its n and a bootstrap 95 % interval (``core.agreement``).
- **Disagreements**: the queue for an adjudicator: items where reviewers disagree, or where the AI
  and the final human choice do, with everyone's decision and note side by side and buttons that
  record the adjudicator's decision (as the current reviewer profile).
- **Implied constitution**: the newest ``implied`` run (``jobs/implied.py``): each principle's
  agreement with the reviewers' final choices, n, 95 % interval and verdict; the principles the
  choices contradict are marked. "Score principles…" queues that job.

``team_report(project)`` gathers every figure as plain data (tested without painting).

Run alone for development: ``python -m cai_desktop.ui.pages.agreement PROJECT``.
"""

from __future__ import annotations

import html
import math
import sys
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.errors import CaiError
from cai_desktop.ui.pages import Page
from cai_desktop.ui.widgets.errors import show_error
from cai_desktop.ui.widgets.listdetail import text_browser
from cai_desktop.ui.widgets.reviewer import ReviewerButton, decision_reviewer

#: decisions an adjudicator can record, per kind of item: (decision, button text)
ADJUDICATE = {
    "comparison": (("A", "A is better"), ("B", "B is better"), ("tie", "Tie"), ("both-bad", "Both bad")),
    "chain": (("accepted", "Accept"), ("rejected", "Reject")),
}
DECISION_WORDS = {"A": "A is better", "B": "B is better", "tie": "Tie", "both-bad": "Both bad",
                  "accepted": "Accepted", "rejected": "Rejected", "edited": "Edited", "unreviewed": "Reset"}
CONTRADICTED = QColor("#fde2e1")
SUPPORTED = QColor("#e3f4e8")


# -- the figures, as data ----------------------------------------------------------------------------
def _fmt_interval(low: Any, high: Any, pct: bool = False) -> str:
    if low is None or high is None or (isinstance(low, float) and math.isnan(low)):
        return "—"
    return f"{low:.0%}–{high:.0%}" if pct else f"{low:+.2f} to {high:+.2f}"


def _fmt_value(v: Any, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:.0%}" if pct else f"{v:.2f}"


def _stat(obj: Any) -> dict[str, Any]:
    """An agreement result (object or dict) as ``{value, n, low, high}``."""
    if obj is None:
        return {"value": None, "n": 0, "low": None, "high": None}
    get = obj.get if isinstance(obj, dict) else (lambda k, d=None: getattr(obj, k, d))
    value = get("value")
    if value is None:
        for name in ("kappa", "alpha", "agreement", "rate", "estimate"):
            value = get(name)
            if value is not None:
                break
    low, high = get("low"), get("high")
    interval = get("interval") or get("ci")
    if (low is None or high is None) and interval:
        low, high = interval
    return {"value": value, "n": get("n", 0) or 0, "low": low, "high": high}


def team_report(project: Any) -> dict[str, Any]:
    """Every figure of the three tabs, as plain data."""
    reviews = getattr(project, "reviews", None)
    report: dict[str, Any] = {"policy": "", "progress": [], "pairs": [], "overall": [], "human_ai": [],
                              "disagreements": [], "implied": None, "team": reviews is not None}
    if reviews is not None:
        _team_figures(project, reviews, report)
    else:
        report["human_ai"] = _human_ai_fallback(project)
        report["disagreements"] = _ai_disagreements_fallback(project)
    from cai_desktop.jobs.implied import latest_result

    report["implied"] = latest_result(project)
    return report


def report_in_thread(ctx: Any, path: str) -> dict[str, Any]:
    """``team_report`` on a connection of the calling (background) thread's own."""
    from cai_desktop.store.project import Project

    with Project.open(path) as project:
        return team_report(project)


def _call(obj: Any, name: str, *args: Any, **kw: Any) -> Any:
    fn = getattr(obj, name, None)
    if fn is None:
        return None
    return fn(*args, **kw)


def _team_figures(project: Any, reviews: Any, report: dict[str, Any]) -> None:
    pol = _call(reviews, "policy")
    report["policy_raw"] = pol if isinstance(pol, dict) else {}
    if isinstance(pol, dict):
        report["policy"] = pol.get("policy", "") + (f" (adjudicator {pol['adjudicator']})" if pol.get("adjudicator")
                                                      else "")
    elif pol:
        report["policy"] = str(pol)
    report["progress"] = list(_call(reviews, "progress") or [])
    stats = _call(reviews, "agreement") or {}
    for p in stats.get("pairs", []) if isinstance(stats, dict) else []:
        report["pairs"].append({"a": p.get("a") or p.get("reviewer_a"), "b": p.get("b") or p.get("reviewer_b"),
                                **_stat(p.get("kappa") if isinstance(p.get("kappa"), dict) else p)})
    if isinstance(stats, dict):
        for key, name in (("fleiss", "Fleiss' κ"), ("fleiss_kappa", "Fleiss' κ"), ("krippendorff", "Krippendorff's α"),
                          ("alpha", "Krippendorff's α")):
            if stats.get(key) is not None:
                report["overall"].append({"name": name, **_stat(stats[key])})
        for row in stats.get("human_ai", []) or []:
            report["human_ai"].append({"principle": row.get("principle") or row.get("principle_key") or "",
                                       **_stat(row), "correlation": row.get("correlation")})
    if not report["human_ai"]:
        report["human_ai"] = _human_ai_fallback(project)
    report["disagreements"] = [_disagreement_row(d) for d in (_call(reviews, "disagreements") or [])]


def _disagreement_row(d: dict[str, Any]) -> dict[str, Any]:
    decisions = d.get("decisions") or d.get("reviews") or []
    if isinstance(decisions, dict):
        decisions = [{"reviewer": k, **(v if isinstance(v, dict) else {"decision": v})} for k, v in decisions.items()]
    return {"kind": d.get("target_kind") or d.get("kind"), "id": d.get("target_id") or d.get("id"),
            "prompt": d.get("prompt") or d.get("prompt_text") or "", "reason": d.get("reason") or "",
            "decisions": list(decisions), "ai": d.get("ai_side") or d.get("ai"), "final": d.get("final")}


def _reviewed_comparisons(project: Any, cap: int = 5000) -> list[dict[str, Any]]:
    rows, offset = [], 0
    while offset < cap:
        page = project.comparisons.list(offset, 500, reviewed=True)
        if not page:
            break
        rows += page
        offset += len(page)
    return rows


def _human_ai_fallback(project: Any) -> list[dict[str, Any]]:
    """Per principle: how often the AI label's side is the human A/B choice (Wilson interval)."""
    from cai_desktop.core.stats import wilson

    by: dict[str, list[bool]] = {}
    for r in _reviewed_comparisons(project):
        if r.get("human_choice") in ("A", "B") and r.get("label") is not None and r["label"] != 0.5:
            by.setdefault(r.get("principle_key") or "(none)", []).append((r["label"] > 0.5) == (r["human_choice"] == "A"))
    out = []
    for key, hits in sorted(by.items()):
        low, high = wilson(sum(hits), len(hits))
        out.append({"principle": key, "value": sum(hits) / len(hits), "n": len(hits), "low": low, "high": high,
                    "correlation": None})
    return out


def _ai_disagreements_fallback(project: Any) -> list[dict[str, Any]]:
    """Comparisons where the AI label's side and the human choice differ (one reviewer per item)."""
    out = []
    for r in _reviewed_comparisons(project):
        h, label = r.get("human_choice"), r.get("label")
        if h in ("A", "B") and label is not None and label != 0.5 and (label > 0.5) != (h == "A"):
            c = project.comparisons.get(r["id"])
            out.append({"kind": "comparison", "id": r["id"], "prompt": r.get("prompt") or "",
                        "reason": "the AI and the reviewer disagree", "final": h,
                        "ai": "A" if label > 0.5 else "B",
                        "decisions": [{"reviewer": v.get("reviewer") or "", "decision": v.get("decision"),
                                       "note": v.get("note") or "", "created_at": v.get("created_at")}
                                      for v in c.get("reviews") or []]})
    return out


# -- widgets --------------------------------------------------------------------------------------------
def _table(name: str, headers: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setObjectName(name)
    t.setHorizontalHeaderLabels(headers)
    t.verticalHeader().setVisible(False)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    t.setAlternatingRowColors(True)
    return t


def _fill(table: QTableWidget, rows: list[list[Any]], colours: list[QColor | None] | None = None) -> None:
    table.setRowCount(len(rows))
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            item = QTableWidgetItem("" if v is None else str(v))
            item.setToolTip(item.text())
            if colours and colours[i] is not None:
                item.setBackground(colours[i])
            table.setItem(i, j, item)


def _heading(text: str) -> QLabel:
    lab = QLabel(f"<b>{text}</b>")
    lab.setContentsMargins(0, 6, 0, 0)
    return lab


class NoteCard(QFrame):
    """One reviewer's decision and note."""

    def __init__(self, who: str, decision: str, note: str, when: str = "", accent: str = "#3a78c2") -> None:
        super().__init__()
        self.setObjectName("noteCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(f"#noteCard {{ border: 1px solid #d7dbe0; border-top: 3px solid {accent}; "
                           "border-radius: 4px; background: #fbfcfd; }")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        head = QLabel(f"<b>{html.escape(who)}</b> · {html.escape(decision)}"
                      + (f"<br><span style='color:#6b7280'>{html.escape(when[:16].replace('T', ' '))}</span>"
                         if when else ""))
        lay.addWidget(head)
        body = QLabel(html.escape(note) if note else "<i style='color:#6b7280'>no note</i>")
        body.setWordWrap(True)
        body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        body.setAlignment(Qt.AlignmentFlag.AlignTop)
        lay.addWidget(body, 1)
        self.setFixedWidth(215)
        # word-wrapped labels: the card is as tall as its text at this width
        self.setFixedHeight(max(60, lay.totalHeightForWidth(215)))
        self.note = note


class AgreementPage(Page):
    title = "Agreement"
    #: ask for a draft principle from a note: ``{note, prompt, answer}`` (the window's PrincipleDrafts)
    principle_draft_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report: dict[str, Any] = {}
        self.current: dict[str, Any] | None = None
        self.runner = None
        self._generation = 0  # the newest refresh: an older background report is dropped
        outer = QVBoxLayout(self)
        outer.setContentsMargins(14, 12, 14, 12)
        outer.setSpacing(8)
        top = QHBoxLayout()
        top.addWidget(QLabel("<b>Team review</b>"))
        top.addSpacing(12)
        top.addWidget(QLabel("Final decision:"))
        self.policy_combo = QComboBox()
        self.policy_combo.setObjectName("reviewPolicy")
        for text, key in (("the latest decision of anyone", "single"), ("the majority of reviewers", "majority"),
                          ("the adjudicator's", "adjudicator")):
            self.policy_combo.addItem(text, key)
        self.policy_combo.setToolTip("Which decision training uses when several reviewers decided an item. "
                                     "“The adjudicator's”: the current reviewer becomes the adjudicator; their "
                                     "decision wins, else the majority.")
        self.policy_combo.activated.connect(lambda _i: self.set_policy(self.policy_combo.currentData()))
        top.addWidget(self.policy_combo)
        self.policy_label = QLabel("")
        self.policy_label.setObjectName("subtitle")
        top.addWidget(self.policy_label, 1)
        self.reviewer = ReviewerButton()
        top.addWidget(self.reviewer)
        self.btn_refresh = QPushButton("Refresh")
        self.btn_refresh.clicked.connect(self.refresh)
        top.addWidget(self.btn_refresh)
        outer.addLayout(top)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("agreementTabs")
        outer.addWidget(self.tabs, 1)
        self.tabs.addTab(self._build_agreement(), "Agreement")
        self.tabs.addTab(self._build_queue(), "Disagreements")
        self.tabs.addTab(self._build_implied(), "Implied constitution")
        self.refresh()

    # -- layout -----------------------------------------------------------------------------------------
    def _build_agreement(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        self.empty_label = QLabel("")
        self.empty_label.setWordWrap(True)
        self.empty_label.setObjectName("subtitle")
        lay.addWidget(self.empty_label)
        row = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(_heading("Progress per reviewer"))
        self.progress_table = _table("progressTable", ["Reviewer", "Assigned to them", "Done of those", "Decided in all"])
        left.addWidget(self.progress_table)
        left.addWidget(_heading("Between reviewers"))
        self.overall_table = _table("overallTable", ["Statistic", "Value", "n", "95% interval"])
        self.overall_table.setMaximumHeight(96)
        left.addWidget(self.overall_table)
        self.pairs_table = _table("pairsTable", ["Reviewer", "Reviewer", "Cohen's κ", "n", "95% interval"])
        left.addWidget(self.pairs_table, 1)
        row.addLayout(left, 1)
        right = QVBoxLayout()
        right.addWidget(_heading("Human vs AI, per principle"))
        hint = QLabel("How often the side the AI soft label prefers is the final human choice (A/B choices only), "
                      "and the correlation of p(A) with the human votes.")
        hint.setWordWrap(True)
        hint.setObjectName("subtitle")
        right.addWidget(hint)
        self.human_ai_table = _table("humanAiTable", ["Principle", "Agreement", "n", "95% interval", "r (p(A), votes)"])
        right.addWidget(self.human_ai_table, 1)
        row.addLayout(right, 1)
        lay.addLayout(row, 1)
        return w

    def _build_queue(self) -> QWidget:
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        qh = QHBoxLayout()
        self.queue_count = QLabel("")
        self.queue_count.setObjectName("subtitle")
        qh.addWidget(self.queue_count, 1)
        self.show_adjudicated = QCheckBox("Show adjudicated")
        self.show_adjudicated.setToolTip("Also list the items the adjudicator has already decided.")
        self.show_adjudicated.toggled.connect(lambda _on: self._fill_queue())
        qh.addWidget(self.show_adjudicated)
        ll.addLayout(qh)
        self.queue = _table("disagreementTable", ["Item", "Prompt", "Why"])
        self.queue.itemSelectionChanged.connect(self._queue_selected)
        self.queue.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        self.queue.setColumnWidth(1, 190)
        self.queue.setWordWrap(False)
        ll.addWidget(self.queue, 1)
        split.addWidget(left)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        self.item_header = QLabel("Select an item to adjudicate.")
        self.item_header.setObjectName("subtitle")
        rl.addWidget(self.item_header)
        self.item_view = text_browser("disagreementItem")
        self.item_view.setMaximumHeight(170)
        rl.addWidget(self.item_view)
        rl.addWidget(_heading("Everyone's decisions and notes"))
        self.cards_host = QWidget()
        self.cards = QHBoxLayout(self.cards_host)
        self.cards.setContentsMargins(0, 0, 0, 0)
        self.cards.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.cards_host)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        rl.addWidget(scroll, 1)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Adjudicator's decision:"))
        self.adjudicate_buttons: dict[str, QPushButton] = {}
        self.adjudicate_bar = bar
        self.btn_draft = QPushButton("Principle from a note…")
        self.btn_draft.setToolTip("The teacher turns the notes on this item into a draft principle, opened in the "
                                  "constitution editor for you to edit.")
        self.btn_draft.clicked.connect(self.request_principle_draft)
        bar.addStretch(1)
        bar.addWidget(self.btn_draft)
        rl.addLayout(bar)
        split.addWidget(right)
        split.setSizes([470, 710])
        return split

    def _build_implied(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        head = QHBoxLayout()
        self.implied_label = QLabel("")
        self.implied_label.setWordWrap(True)
        head.addWidget(self.implied_label, 1)
        self.btn_score = QPushButton("Score principles…")
        self.btn_score.setToolTip("Ask the feedback model each principle's comparison question on the comparisons "
                                  "reviewers decided, and score how often it agrees with them (a run).")
        self.btn_score.clicked.connect(self.score_principles)
        head.addWidget(self.btn_score)
        lay.addLayout(head)
        self.implied_table = _table("impliedTable", ["Principle", "Title", "Agreement", "n", "95% interval", "p",
                                                     "Verdict"])
        lay.addWidget(self.implied_table, 1)
        return w

    # -- data ---------------------------------------------------------------------------------------------
    def set_runner(self, runner) -> None:
        """With the window's runner the figures (bootstrap intervals) are computed off the GUI thread."""
        self.runner = runner

    def refresh(self) -> None:
        self._generation += 1
        if self.project is not None and self.runner is not None:
            generation = self._generation
            self.policy_label.setText("computing the figures…")
            call = self.runner.call_in_background(report_in_thread, str(self.project.path), "agreement figures")
            call.finished.connect(lambda result, g=generation: self._apply(result, g))
            call.failed.connect(lambda message, _d, g=generation: self._failed(message, g))
            return
        if self.project is None:
            self._apply(None, self._generation)
            return
        try:
            report = team_report(self.project)
        except CaiError as e:
            self._failed(str(e), self._generation)
            return
        self._apply(report, self._generation)

    def _failed(self, message: str, generation: int) -> None:
        if generation == self._generation:
            self.policy_label.setText(f"Cannot read the reviews: {message}")

    def _apply(self, report: dict[str, Any] | None, generation: int) -> None:
        if generation != self._generation:
            return
        if self.project is None or report is None:
            self.report = {}
            self.policy_label.setText("Open a project first.")
            for t in (self.progress_table, self.overall_table, self.pairs_table, self.human_ai_table, self.queue,
                      self.implied_table):
                t.setRowCount(0)
            self.empty_label.setText("")
            self.implied_label.setText("")
            self.queue_count.setText("")
            self.show_disagreement(None)
            return
        self.report = report
        r = self.report
        pol = r.get("policy_raw") or {}
        self.policy_combo.setEnabled(bool(r.get("team")))
        self.policy_combo.setCurrentIndex(max(0, self.policy_combo.findData(pol.get("policy") or "single")))
        self.policy_label.setText(f"(adjudicator: {pol['adjudicator']})" if pol.get("adjudicator") else "")
        _fill(self.progress_table, [[p.get("reviewer") or "(unnamed)", p.get("assigned", "—"),
                                     f"{p.get('done', 0)} ({p['done'] / p['assigned']:.0%})" if p.get("assigned")
                                     else "—", p.get("decided", p.get("done", 0))] for p in r["progress"]])
        _fill(self.overall_table, [[o["name"], _fmt_value(o["value"]), o["n"], _fmt_interval(o["low"], o["high"])]
                                   for o in r["overall"]])
        _fill(self.pairs_table, [[p["a"], p["b"], _fmt_value(p["value"]), p["n"], _fmt_interval(p["low"], p["high"])]
                                 for p in r["pairs"]])
        _fill(self.human_ai_table, [[h["principle"], _fmt_value(h["value"], True), h["n"],
                                     _fmt_interval(h["low"], h["high"], True), _fmt_value(h.get("correlation"))]
                                    for h in r["human_ai"]])
        if not r["pairs"] and not r["human_ai"]:
            self.empty_label.setText("No figures yet: agreement between reviewers needs two reviewers on the same "
                                     "items (export a review pack, or review as another reviewer); agreement with "
                                     "the AI needs A/B choices on labelled comparisons.")
        else:
            self.empty_label.setText("")
        self._fill_queue()
        self._fill_implied()

    def adjudicator(self) -> str:
        pol = self.report.get("policy_raw") or {}
        return pol.get("adjudicator") or "" if pol.get("policy") == "adjudicator" else ""

    def _fill_queue(self) -> None:
        rows = self.disagreements()
        self.queue.blockSignals(True)
        self.queue.clearSelection()
        self.queue.blockSignals(False)
        _fill(self.queue, [[f"{d['kind']} #{d['id']}", (d["prompt"] or "").splitlines()[0][:120] if d["prompt"] else "",
                            d["reason"]] for d in rows])
        self.queue_count.setText(f"{len(rows)} item{'s' if len(rows) != 1 else ''} to adjudicate" if rows
                                 else "Nothing to adjudicate: the reviewers (and the AI) agree on every decided item.")
        keep = self.current
        self.show_disagreement(None)
        if keep is not None:
            for i, d in enumerate(rows):
                if (d["kind"], d["id"]) == (keep["kind"], keep["id"]):
                    self.queue.selectRow(i)
                    self.show_disagreement(d)
                    break

    def _fill_implied(self) -> None:
        res = self.report.get("implied")
        if not res:
            self.implied_label.setText("No principle scored yet. Once reviewers have made A/B choices on comparisons, "
                                       "“Score principles…” asks the feedback model each principle's comparison "
                                       "question on them (inverse Constitutional AI).")
            self.implied_table.setRowCount(0)
            return
        scores = res.get("scores") or []
        against = res.get("contradicted") or []
        text = (f"Run {res['run_id']}: {res.get('principles', len(scores))} principles of "
                f"{html.escape(str(res.get('constitution', '')))} scored on {res.get('comparisons', 0)} decided "
                f"comparisons (final decisions: {html.escape(str(res.get('policy') or 'latest choice'))}).")
        if against:
            text += (" <b style='color:#b3261e'>The reviewers' choices contradict: "
                     + ", ".join(html.escape(k) for k in against) + "</b> — they prefer the answer these reject.")
        self.implied_label.setText(text)
        colours = [CONTRADICTED if s.get("verdict") == "contradicted" else SUPPORTED if s.get("verdict") == "supported"
                   else None for s in scores]
        _fill(self.implied_table, [[s["key"], s.get("title") or "", _fmt_value(s.get("agreement"), True), s.get("n", 0),
                                    _fmt_interval(s.get("low"), s.get("high"), True) if s.get("n") else "—",
                                    (f"{s['p_value']:.3f}" if s["p_value"] >= 0.001 else "<0.001") if s.get("n") else "—", s.get("verdict", "")]
                                   for s in scores], colours)

    # -- the disagreement queue ---------------------------------------------------------------------------
    def disagreements(self) -> list[dict[str, Any]]:
        """The queue as listed: without the items the adjudicator decided (unless shown)."""
        rows = list(self.report.get("disagreements") or [])
        adj = self.adjudicator()
        if adj and not self.show_adjudicated.isChecked():
            rows = [d for d in rows if adj not in {v.get("reviewer") for v in d["decisions"]}]
        return rows

    def set_policy(self, policy: str) -> bool:
        """Set the project's final-decision policy (adjudicator: the current reviewer profile)."""
        reviews = getattr(self.project, "reviews", None)
        if reviews is None or not hasattr(reviews, "set_policy"):
            return False
        adjudicator = None
        if policy == "adjudicator":
            adjudicator = decision_reviewer(self) or ""
            if not adjudicator:
                self.refresh()
                return False
        try:
            changed = reviews.set_policy(policy, adjudicator)
        except CaiError as e:
            show_error(self, "Cannot change the policy", str(e))
            self.refresh()
            return False
        n = changed.get("changed", 0) if isinstance(changed, dict) else 0
        self.status_message.emit(f"Final decisions now: {self.policy_combo.itemText(self.policy_combo.findData(policy))}"
                                 + (f" ({adjudicator})" if adjudicator else "") + f"; {n} item"
                                 + ("s" if n != 1 else "") + " changed.")
        self.data_changed.emit({"chains", "comparisons"})
        self.refresh()
        return True

    def _queue_selected(self) -> None:
        rows = self.queue.selectionModel().selectedRows() if self.queue.selectionModel() else []
        items = self.disagreements()
        if rows and rows[0].row() < len(items):
            self.show_disagreement(items[rows[0].row()])

    def show_disagreement(self, d: dict[str, Any] | None) -> None:
        self.current = d
        while self.cards.count():
            w = self.cards.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        for b in self.adjudicate_buttons.values():
            self.adjudicate_bar.removeWidget(b)
            b.deleteLater()
        self.adjudicate_buttons = {}
        self.btn_draft.setEnabled(False)
        if d is None:
            self.item_header.setText("Select an item to adjudicate.")
            self.item_view.clear()
            return
        self.item_header.setText(f"{d['kind'].capitalize()} #{d['id']} · {html.escape(d['reason'])}"
                                 + (f" · final now: {DECISION_WORDS.get(d['final'], d['final'])}" if d.get("final") else ""))
        self.item_view.setHtml(self._item_html(d))
        for v in d["decisions"]:
            decision = DECISION_WORDS.get(v.get("decision") or "", v.get("decision") or "")
            self.cards.addWidget(NoteCard(v.get("reviewer") or "(unnamed)", decision, v.get("note") or "",
                                          str(v.get("created_at") or "")), 0, Qt.AlignmentFlag.AlignTop)
        if d.get("ai"):
            self.cards.addWidget(NoteCard("AI feedback model", f"prefers {d['ai']}", "", accent="#d9822b"), 0,
                                 Qt.AlignmentFlag.AlignTop)
        self.cards.addStretch(1)
        for i, (decision, text) in enumerate(ADJUDICATE.get(d["kind"], ())):
            b = QPushButton(text)
            b.clicked.connect(lambda _c=False, dec=decision: self.adjudicate(dec))
            self.adjudicate_bar.insertWidget(1 + i, b)
            self.adjudicate_buttons[decision] = b
        self.btn_draft.setEnabled(any((v.get("note") or "").strip() for v in d["decisions"]))

    def _item_html(self, d: dict[str, Any]) -> str:
        try:
            if d["kind"] == "comparison":
                c = self.project.comparisons.get(d["id"])
                q = c.get("comparison_question") or ""
                return (f"<b>Prompt</b>&nbsp; {html.escape(c.get('prompt_text') or '')}"
                        + (f"<p><span style='color:#4a5361'>Principle</span> <b>{html.escape(c.get('principle_key') or '')}"
                           f"</b>: {html.escape(q)}</p>" if q else "")
                        + f"<p><b style='color:#3a78c2'>A</b>&nbsp; {html.escape(c.get('response_a') or '')}</p>"
                        f"<p><b style='color:#d9822b'>B</b>&nbsp; {html.escape(c.get('response_b') or '')}</p>")
            c = self.project.chains.get(d["id"])
            return (f"<b>Prompt</b>&nbsp; {html.escape(c.get('prompt') or '')}"
                    f"<p><b>Answer</b>&nbsp; {html.escape(c.get('final_text') or c.get('initial_text') or '')}</p>")
        except CaiError as e:
            return f"<i>{html.escape(str(e))}</i>"

    def adjudicate(self, decision: str) -> bool:
        """Record the adjudicator's decision (the current reviewer profile) on the shown item."""
        d = self.current
        if self.project is None or d is None:
            return False
        reviewer = decision_reviewer(self)
        if reviewer is None:
            return False
        try:
            if d["kind"] == "comparison":
                self.project.comparisons.review(d["id"], decision, reviewer=reviewer, note="adjudicated")
            else:
                self.project.chains.review(d["id"], decision, reviewer=reviewer, note="adjudicated")
        except CaiError as e:
            show_error(self, "Cannot record the decision", str(e))
            return False
        self.status_message.emit(f"{d['kind'].capitalize()} #{d['id']}: {DECISION_WORDS.get(decision, decision)} "
                                 f"(adjudicated by {reviewer}).")
        self.data_changed.emit({"comparisons" if d["kind"] == "comparison" else "chains"})
        self.refresh()
        return True

    def request_principle_draft(self) -> bool:
        d = self.current
        if d is None:
            return False
        notes = [v.get("note") for v in d["decisions"] if (v.get("note") or "").strip() and v.get("note") != "adjudicated"]
        if not notes:
            self.status_message.emit("No note on this item: the draft principle is made from a reviewer's note.")
            return False
        answer = ""
        prompt = d.get("prompt") or ""
        try:
            if d["kind"] == "chain":
                c = self.project.chains.get(d["id"])
                answer, prompt = c.get("final_text") or c.get("initial_text") or "", c.get("prompt") or prompt
            else:
                c = self.project.comparisons.get(d["id"])
                rejected = "response_b" if d.get("final") == "A" else "response_a"
                answer, prompt = c.get(rejected) or "", c.get("prompt_text") or prompt
        except CaiError:
            pass
        self.principle_draft_requested.emit({"note": "\n".join(notes), "prompt": prompt, "answer": answer})
        return True

    def score_principles(self) -> None:
        if self.project is None:
            return
        from cai_desktop.jobs.implied import ImpliedParams

        names = [c["name"] for c in self.project.constitutions.list()]
        if not names:
            self.status_message.emit("This project has no constitution to score.")
            return
        constitution = "general" if "general" in names else names[0]
        self.job_requested.emit("implied", ImpliedParams(project=str(self.project.path), constitution=constitution),
                                f"Implied constitution ({constitution})")


if __name__ == "__main__":
    from cai_desktop.ui.pages.constitution import run_standalone

    sys.exit(run_standalone(AgreementPage))
