"""Team review in the window (issue 12), offscreen: the reviewer profile reaches the store, the
reviewer-only mode shows only the review pages, the agreement view's figures on a fixed project,
the disagreement queue, and a draft principle opening in the constitution editor (undoable)."""

from __future__ import annotations

import pytest

from cai_desktop.core.stats import wilson
from cai_desktop.store.project import Project
from cai_desktop.ui.widgets import reviewer as rv
from tests.jobs.conftest import small_constitution

#: (AI label p(A), human choice, principle) of the fixed comparisons
FIXED = [(0.9, "A", "p0"), (0.8, "A", "p0"), (0.3, "A", "p0"), (0.2, "B", "p0"),  # p0: 3 of 4 agree
         (0.7, "B", "p1"), (0.6, "B", "p1"), (0.4, "B", "p1"),  # p1: 1 of 3 agree
         (0.9, "tie", "p2"), (0.5, None, "p2")]  # no A/B votes


@pytest.fixture
def fixed_project(tmp_path):
    path = tmp_path / "team.caiproj"
    with Project.create(path) as p:
        c = small_constitution()
        p.constitutions.save(c)
        snaps = {q.key: p.constitutions.snapshot(q, c.name) for q in c.principles}
        run_id = p.runs.create("label", {})
        p.comparisons.save([
            {"run_id": run_id, "source": "pair", "source_id": i, "prompt_text": f"prompt {i}",
             "response_a": f"answer A{i}", "response_b": f"answer B{i}", "label": label, "raw_label": label,
             "principle_snapshot_id": snaps[key], "kind": "harmless"}
            for i, (label, _h, key) in enumerate(FIXED)])
        ids = sorted(r["id"] for r in p.comparisons.list(0, 100))
        for cid, (_label, human, _key) in zip(ids, FIXED):
            if human:
                p.comparisons.review(cid, human, reviewer="ann", note=f"note on {cid}")
    return path, ids


@pytest.fixture
def window(qtbot):
    from cai_desktop.ui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    yield w
    w.runner.shutdown(10000)
    if w.project is not None:
        w.project.close()
        w.project = None


def test_reviewer_is_asked_once_and_reaches_the_store(qtbot, fixed_project, monkeypatch):
    from cai_desktop.ui.pages.comparisons import ComparisonsPage

    path, ids = fixed_project
    asked: list[str] = []

    def ask(parent, title="Who is reviewing?"):
        asked.append(title)
        return "Bea Reviewer" if len(asked) == 1 else "Cy Adjudicator"

    monkeypatch.setattr(rv, "ask_name", ask)
    assert rv.saved_reviewer() == ""
    page = ComparisonsPage()
    qtbot.addWidget(page)
    with Project.open(path) as p:
        page.set_project(p)
        page.advance.setChecked(False)
        page.show_item(ids[-1])
        assert page.choose("B")
        assert page.choose("A")  # the second decision is not asked again
        assert len(asked) == 1 and rv.saved_reviewer() == "Bea Reviewer"
        assert page.reviewer.text() == "Reviewer: Bea Reviewer"
        rv.switch_reviewer(page)  # from the menu: another reviewer
        assert page.reviewer.text() == "Reviewer: Cy Adjudicator"
        assert page.choose("tie")
        log = [(r["reviewer"], r["decision"]) for r in p.comparisons.get(ids[-1])["reviews"]]
        assert log == [("Bea Reviewer", "B"), ("Bea Reviewer", "A"), ("Cy Adjudicator", "tie")]
        assert rv.recent_reviewers()[:2] == ["Cy Adjudicator", "Bea Reviewer"]


def test_cancelling_the_first_question_records_nothing(qtbot, fixed_project, monkeypatch):
    from cai_desktop.ui.pages.inspector import InspectorPage

    path, _ids = fixed_project
    monkeypatch.setattr(rv, "ask_name", lambda parent, title="": None)
    with Project.open(path) as p:
        p.prompts.add_set("rt", "red-team", ["a red-team prompt"], test_fraction=0.0)
        pid = p.query("SELECT id FROM prompts")[0]["id"]
        run = p.runs.create("critique", {})
        p.chains.save([{"run_id": run, "prompt_id": pid, "initial_text": "first answer", "final_text": "revised",
                        "n_revisions": 0, "steps": []}])
        page = InspectorPage()
        qtbot.addWidget(page)
        page.set_project(p)
        cid = p.chains.list(0, 10)[0]["id"]
        page.show_item(cid)
        assert page.review("accepted") is False
        assert p.chains.get(cid)["reviews"] == []


def test_reviewer_only_mode_shows_only_the_review_pages(window, fixed_project):
    path, _ids = fixed_project
    assert window.open_project(path)
    assert "runs" in window.team.visible_pages()
    window.team.set_reviewer_only(True, "pack.caipack")
    visible = window.team.visible_pages()
    assert visible == [k for k in ("inspector", "comparisons", "demonstrations") if k in window.pages]
    assert window.current_page() is window.pages["comparisons"]
    assert window.team.act_return_pack.isEnabled() and not window.act_new.isEnabled()
    go = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "Go")
    shown = [a.text() for a in go.actions() if a.isVisible()]
    assert "Models" not in shown and "Runs" not in shown and "Comparisons" in shown
    # opening an ordinary project ends the mode
    window.open_project(path)
    assert "models" in window.team.visible_pages() and not window.team.reviewer_only


def test_a_review_pack_opens_reviewer_only_and_returns_with_the_decisions(window, fixed_project, tmp_path,
                                                                           monkeypatch):
    """Export → open in the window (no model: the pack's own workspace project) → choose as the
    reviewer → Return pack → import: the decision lands in the project beside ann's."""
    path, ids = fixed_project
    pack = tmp_path / "out" / "lab.caipack"
    pack.parent.mkdir()
    with Project.open(path) as p:
        p.reviews.export_pack(pack, kind="comparison", ids=ids[:3], reviewers=["dee"], k=1, blind=True)
    monkeypatch.setattr(rv, "ask_name", lambda parent, title="": "dee")
    assert window.team.open_pack(str(pack))
    assert window.team.reviewer_only
    assert window.team.visible_pages() == [k for k in rv.REVIEW_PAGES if k in window.pages]
    assert "lab" in window.windowTitle()
    page = window.pages["comparisons"]
    assert window.current_page() is page
    page.advance.setChecked(False)
    assert page.model.rowCount() == 3
    page.select_row(0)
    shown = page.comparison["id"]
    page.note.setText("dee's reason")
    assert page.choose("B")
    answered = tmp_path / "out" / "lab-dee.caipack"
    assert window.team.return_pack(str(answered))
    # back in the owner's project: dee's decision and note, ann's kept
    window.close_project()
    assert not window.team.reviewer_only and "models" in window.team.visible_pages()
    with Project.open(path) as p:
        p.reviews.import_pack(answered)
        merged = [r for r in p.reviews.log("comparison") if r["reviewer"] == "dee"]
        assert len(merged) == 1 and merged[0]["decision"] == "B" and merged[0]["note"] == "dee's reason"
        assert {r["reviewer"] for r in p.reviews.log("comparison", merged[0]["target_id"])} == {"ann", "dee"}
    assert shown  # the workspace's id of the item dee chose


def test_agreement_view_figures_from_a_fixed_project(qtbot, fixed_project):
    from cai_desktop.ui.pages.agreement import AgreementPage, team_report

    path, _ids = fixed_project
    with Project.open(path) as p:
        report = team_report(p)
        by = {h["principle"]: h for h in report["human_ai"]}
        assert set(by) == {"p0", "p1"}  # p2 has no A/B choice
        assert (by["p0"]["n"], by["p0"]["value"]) == (4, 0.75)
        assert (by["p1"]["n"], round(by["p1"]["value"], 4)) == (3, round(1 / 3, 4))
        if not report["team"]:  # one decision per item: the Wilson interval of the side match
            assert (by["p0"]["low"], by["p0"]["high"]) == pytest.approx(wilson(3, 4))
        page = AgreementPage()
        qtbot.addWidget(page)
        page.set_project(p)
        t = page.human_ai_table
        cells = {t.item(r, 0).text(): [t.item(r, c).text() for c in range(t.columnCount())] for r in range(t.rowCount())}
        assert cells["p0"][1:3] == ["75%", "4"] and cells["p1"][1:3] == ["33%", "3"]
        assert "–" in cells["p0"][3]  # an interval


def test_agreement_view_kappa_between_two_reviewers(qtbot, fixed_project):
    """Cohen's κ (and Krippendorff's α) of two reviewers on the page match scikit-learn / krippendorff."""
    sklearn = pytest.importorskip("sklearn.metrics")
    from cai_desktop.ui.pages.agreement import AgreementPage

    path, ids = fixed_project
    bob = ["A", "B", "A", "B", "B", "A", "B", "tie"]  # against ann's A A A B B B B tie
    ann = [h for _l, h, _k in FIXED[:8]]
    with Project.open(path) as p:
        for cid, choice in zip(ids, bob):
            p.comparisons.review(cid, choice, reviewer="bob", note="second look")
        page = AgreementPage()
        qtbot.addWidget(page)
        page.set_project(p)
        t = page.pairs_table
        assert t.rowCount() == 1
        row = [t.item(0, c).text() for c in range(t.columnCount())]
        want = sklearn.cohen_kappa_score(ann, bob)
        assert row[:2] == ["ann", "bob"] and row[2] == f"{want:.2f}" and row[3] == "8"
        assert " to " in row[4]  # the bootstrap interval
        o = page.overall_table
        names = [o.item(r, 0).text() for r in range(o.rowCount())]
        assert "Krippendorff's α" in names
        # both reviewers' notes side by side where they differ
        d = next(d for d in page.disagreements() if d["id"] == ids[1])
        assert {v["reviewer"] for v in d["decisions"]} == {"ann", "bob"}


def test_disagreement_queue_lists_the_right_items(qtbot, fixed_project, monkeypatch):
    from cai_desktop.ui.pages.agreement import AgreementPage

    path, ids = fixed_project
    monkeypatch.setattr(rv, "ask_name", lambda parent, title="": "Adj")
    with Project.open(path) as p:
        page = AgreementPage()
        qtbot.addWidget(page)
        page.set_project(p)
        # the AI's side differs from the human's on #3 (0.3 vs A), #5 (0.7 vs B), #6 (0.6 vs B)
        listed = [(d["kind"], d["id"]) for d in page.disagreements()]
        assert sorted(listed) == [("comparison", ids[i]) for i in (2, 4, 5)]
        assert page.queue.rowCount() == 3
        row = [d["id"] for d in page.disagreements()].index(ids[4])
        page.queue.selectRow(row)
        notes = [c.note for c in page.cards_host.findChildren(rv.QWidget) if hasattr(c, "note")]
        assert f"note on {ids[4]}" in notes
        assert set(page.adjudicate_buttons) == {"A", "B", "tie", "both-bad"}
        # the current reviewer becomes the adjudicator and sides with the AI: the item leaves the queue
        assert page.set_policy("adjudicator")
        assert p.reviews.policy() == {"policy": "adjudicator", "adjudicator": "Adj"}
        assert page.policy_combo.currentData() == "adjudicator" and "Adj" in page.policy_label.text()
        row = [d["id"] for d in page.disagreements()].index(ids[4])
        page.queue.selectRow(row)
        assert page.adjudicate("A")
        assert ("comparison", ids[4]) not in {(d["kind"], d["id"]) for d in page.disagreements()}
        assert p.comparisons.get(ids[4])["human_choice"] == "A"  # the final decision is the adjudicator's
        assert p.reviews.decisions("comparison", ids[4])["ann"]["decision"] == "B"  # ann's is kept
        page.show_adjudicated.setChecked(True)
        assert ("comparison", ids[4]) in {(d["kind"], d["id"]) for d in page.disagreements()}
        assert page.queue.rowCount() == 3


def test_draft_principle_opens_in_the_editor_and_undoes(qtbot, fixed_project):
    from cai_desktop.ui.pages.constitution import ConstitutionPage

    path, _ids = fixed_project
    with Project.open(path) as p:
        page = ConstitutionPage()
        qtbot.addWidget(page)
        page.set_project(p)
        before = [q.key for q in page.constitution.principles]
        draft = {"key": "no_lecturing", "title": "No lecturing", "critique_request": "Find the lecture.",
                 "revision_request": "Drop the lecture.", "comparison_question": "Which answer lectures less?",
                 "note": "preachy"}
        assert page.add_draft_principle(draft, "tiny")
        assert page.constitution.name == "tiny"
        added = page.constitution.principles[-1]
        assert (added.key, added.comparison_question) == ("no_lecturing", "Which answer lectures less?")
        assert "draft" in added.tags and page.doc.dirty
        assert page.principles.current_index() == len(page.constitution.principles) - 1
        page.undo_stack.undo()
        assert [q.key for q in page.constitution.principles] == before
        # nothing is stored until the person saves a version
        assert "no_lecturing" not in [q.key for q in p.constitutions.get("tiny").principles]


@pytest.mark.slow
def test_note_to_draft_principle_through_the_window(window, qtbot, fixed_project, tiny_model_dir):
    """Inspector/queue request → the teacher (tiny model) in the runner → the editor, undoable."""
    path, _ids = fixed_project
    with Project.open(path) as p:
        p.roles.set("teacher", str(tiny_model_dir))
    assert window.open_project(path)
    editor = window.pages["constitution"]
    editor.load("tiny")
    n = len(editor.constitution.principles)
    with qtbot.waitSignal(window.runner.job_ended, timeout=60000):
        job_id = window.team.drafts.request({"note": "Too preachy: lectures the user.", "prompt": "How do I fix a tap?",
                                             "answer": "You should call a professional; DIY is irresponsible.",
                                             "max_new_tokens": 8})
    assert job_id is not None
    assert window.runner.jobs[job_id].status == "done", window.runner.jobs[job_id].error
    assert window.current_page() is editor
    assert len(editor.constitution.principles) == n + 1
    added = editor.constitution.principles[-1]
    assert added.critique_request and added.revision_request and added.comparison_question
    editor.undo_stack.undo()
    assert len(editor.constitution.principles) == n


def test_implied_constitution_tab_marks_contradicted_principles(qtbot, fixed_project):
    from cai_desktop.core.implied import implied_constitution
    from cai_desktop.ui.pages.agreement import CONTRADICTED, AgreementPage

    path, _ids = fixed_project
    scores = implied_constitution({"p0": [(0.9, "A")] * 18 + [(0.9, "B")] * 2, "p1": [(0.9, "B")] * 16 + [(0.9, "A")] * 4,
                                   "p2": [(0.9, "A")] * 5 + [(0.9, "B")] * 5})
    with Project.open(path) as p:
        run = p.runs.create("implied", {"constitution": "tiny"})
        p.runs.set_result(run, {"constitution": "tiny", "comparisons": 20, "principles": 3,
                                "scores": [s.to_dict() for s in scores], "contradicted": ["p1"]})
        p.runs.set_status(run, "done")
        page = AgreementPage()
        qtbot.addWidget(page)
        page.set_project(p)
        t = page.implied_table
        rows = {t.item(r, 0).text(): [t.item(r, c).text() for c in range(t.columnCount())] for r in range(t.rowCount())}
        assert list(rows) == ["p0", "p2", "p1"]  # best first
        assert rows["p0"][2:4] == ["90%", "20"] and rows["p0"][-1] == "supported"
        assert rows["p1"][-1] == "contradicted" and rows["p2"][-1] == "unclear"
        assert t.item(2, 0).background().color() == CONTRADICTED
        assert "contradict" in page.implied_label.text() and "p1" in page.implied_label.text()
        # "Score principles…" asks the window for an implied run on the project's constitution
        with qtbot.waitSignal(page.job_requested) as sig:
            page.score_principles()
        kind, params, _name = sig.args
        assert kind == "implied" and params.constitution == "tiny" and params.project == str(p.path)


def test_in_the_window_the_figures_are_computed_off_the_gui_thread(window, fixed_project):
    path, _ids = fixed_project
    assert window.open_project(path)
    page = window.pages["agreement"]
    assert page.runner is window.runner
    window.show_page("agreement")
    page.refresh()
    assert window.runner.wait_idle(30000, background=True)
    t = page.human_ai_table
    assert {t.item(r, 0).text() for r in range(t.rowCount())} == {"p0", "p1"}
    assert page.queue.rowCount() == 3
