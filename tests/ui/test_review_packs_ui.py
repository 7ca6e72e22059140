"""The lead's side of review packs in the window (issue 12), offscreen: Review → Export review pack
(the generated dialog, the page's filter or a stratified sample, two packs for both kinds), Import
returned pack (merged once, the pages refreshed, a bad file refused with the store's one line and the
project unchanged) and Export decision log (CSV / JSONL). The file dialogs are bypassed: the menu
actions call ``export_pack(settings, path)``, ``import_pack(path)`` and ``export_log(path)``."""

from __future__ import annotations

import csv
import gzip
import json

import pytest

from cai_desktop.core import packs as fmt
from cai_desktop.core.errors import ValidationError
from cai_desktop.store import packs as store_packs
from cai_desktop.store.project import Project
from cai_desktop.store.reviews import LOG_FIELDS
from cai_desktop.ui.widgets import review_packs as rp
from tests.jobs.conftest import small_constitution

#: principle of each comparison: p0 ×6, p1 ×3, p2 ×3
KEYS = ["p0"] * 6 + ["p1"] * 3 + ["p2"] * 3


@pytest.fixture
def project_path(tmp_path):
    path = tmp_path / "lab.caiproj"
    with Project.create(path) as p:
        c = small_constitution()
        p.constitutions.save(c)
        snaps = {q.key: p.constitutions.snapshot(q, c.name) for q in c.principles}
        run_id = p.runs.create("label", {})
        p.comparisons.save([
            {"run_id": run_id, "source": "pair", "source_id": i, "prompt_text": f"prompt {i}",
             "response_a": f"answer A{i}", "response_b": f"answer B{i}", "label": 0.8, "raw_label": 0.8,
             "principle_snapshot_id": snaps[key], "kind": "harmless", "feedback_model": "secret-judge"}
            for i, key in enumerate(KEYS)])
        ids = sorted(r["id"] for r in p.comparisons.list(0, 100))
        p.comparisons.review(ids[0], "A", reviewer="ann", note="clear")
        p.prompts.add_set("rt", "red-team", ["a red-team prompt"], test_fraction=0.0)
        pid = p.query("SELECT id FROM prompts WHERE text='a red-team prompt'")[0]["id"]
        crun = p.runs.create("critique", {})
        p.chains.save([{"run_id": crun, "prompt_id": pid, "initial_text": "first answer", "final_text": "revised",
                        "n_revisions": 0, "steps": []}])
    return path


@pytest.fixture
def window(qtbot, project_path):
    from cai_desktop.ui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    assert w.open_project(project_path)
    yield w
    w._force_close = True
    w.runner.shutdown(10000)
    qtbot.wait(50)  # refreshes queued by the last import run while the project is still open
    w.close_project()


def run(window, qtbot, start) -> str:
    """Start one of the window's pack operations and wait for its message."""
    with qtbot.waitSignal(window.packs.finished, timeout=30000) as sig:
        assert start()
    assert window.runner.wait_idle(30000, background=True)
    return sig.args[0]


def settings(**kw) -> rp.ExportPackSettings:
    s = rp.ExportPackSettings(**kw)
    s.check()
    return s


def log_rows(path) -> list[tuple]:
    with Project.open(path) as p:
        return sorted((r["uid"], r["reviewer"], r["decision"]) for r in p.reviews.log())


def imports(path) -> int:
    with Project.open(path) as p:
        return p.query("SELECT COUNT(*) AS n FROM pack_imports")[0]["n"]


def test_the_review_menu_has_the_lead_actions_off_in_reviewer_only_mode(window, project_path, tmp_path):
    texts = [a.text() for a in window.team.menu.actions()]
    for t in ("&Export review pack…", "&Import returned pack…", "Export decision &log…"):
        assert t in texts
    assert window.packs.act_export.isEnabled() and window.packs.act_import.isEnabled()
    pack = tmp_path / "one.caipack"
    with Project.open(project_path) as p:
        p.reviews.export_pack(pack, kind="comparison", sample=2)
    assert window.team.open_pack(str(pack))  # a colleague's pack: the lead's actions make no sense there
    assert not window.packs.act_export.isEnabled() and not window.packs.act_log.isEnabled()
    assert window.open_project(project_path)
    assert window.packs.act_export.isEnabled()


def test_export_dialog_is_the_generated_form_and_checks_it(qtbot, tmp_path):
    dlg = rp.ExportPackDialog(str(tmp_path / "round1.caipack"), "Comparisons page: no filter")
    qtbot.addWidget(dlg)
    form = dlg.form
    assert set(form.widgets) == {"items", "selection", "sample", "seed", "reviewers", "k", "blind"}
    assert not form.widgets["sample"].isEnabled()  # only for a random sample
    form.set_value("selection", rp.SAMPLE)
    assert form.widgets["sample"].isEnabled()
    form.set_value("reviewers", "ann, bob")
    form.set_value("k", 3)
    ok = dlg.buttons.button(dlg.buttons.StandardButton.Ok)
    assert "more than the 2 reviewers" in dlg.message.text() and not ok.isEnabled()
    form.set_value("k", 2)
    assert dlg.message.text() == "" and ok.isEnabled()
    dlg.path.setText(str(tmp_path / "missing" / "x.caipack"))
    assert "does not exist" in dlg.message.text() and not ok.isEnabled()
    dlg.path.setText(str(tmp_path / "round1.caipack"))
    s = dlg.settings()
    assert (s.selection, s.names(), s.k, s.blind, s.items) == (rp.SAMPLE, ["ann", "bob"], 2, True, "comparisons")


def test_export_from_the_window_writes_a_pack_the_store_imports(window, qtbot, project_path, tmp_path):
    pack = tmp_path / "round1.caipack"
    text = run(window, qtbot, lambda: window.packs.export_pack(
        settings(selection=rp.SAMPLE, sample=8, seed=3, reviewers=["dee", "eve", "fay"], k=2, blind=True), pack))
    assert text == "round1.caipack: 8 comparisons, assigned to dee 5, eve 6, fay 5."
    data = fmt.read_pack(pack)
    assert len(data["items"]) == 8 and data["blind"] and data["k"] == 2
    assert all(it["ai"] is None for it in data["items"])  # blind: no AI labels, no model names
    assert "secret-judge" not in gzip.decompress(pack.read_bytes()).decode()
    # stratified by principle: 6/3/3 of 12 → 4/2/2 of 8
    assert sorted(it["principle_key"] for it in data["items"]) == ["p0"] * 4 + ["p1"] * 2 + ["p2"] * 2
    assert all(len(it["assigned"]) == 2 for it in data["items"])
    # the same seed draws the same sample again
    again = tmp_path / "again.caipack"
    run(window, qtbot, lambda: window.packs.export_pack(
        settings(selection=rp.SAMPLE, sample=8, seed=3, reviewers=["dee", "eve", "fay"], k=2, blind=False), again))
    assert [it["uid"] for it in fmt.read_pack(again)["items"]] == [it["uid"] for it in data["items"]]
    assert fmt.read_pack(again)["items"][0]["ai"]["feedback_model"] == "secret-judge"  # not blind
    with Project.open(project_path) as p:
        result = store_packs.import_pack(p, pack)  # accepted (nothing answered yet)
        assert result["new"] == 0
        assert {r["reviewer"]: r["assigned"] for r in p.reviews.progress()}.get("dee") == 5


def test_export_takes_the_pages_filter_and_both_kinds_write_two_packs(window, qtbot, tmp_path):
    page = window.pages["comparisons"]
    page.fill_filters()
    page.principle_filter.setCurrentIndex(page.principle_filter.findData("p1"))
    assert window.packs.page_filters()["comparison"]["principle_key"] == "p1"
    pack = tmp_path / "p1.caipack"
    text = run(window, qtbot, lambda: window.packs.export_pack(settings(reviewers=["dee"]), pack))
    assert text == "p1.caipack: 3 comparisons, assigned to dee 3."
    assert {it["principle_key"] for it in fmt.read_pack(pack)["items"]} == {"p1"}
    both = tmp_path / "both.caipack"
    text = run(window, qtbot, lambda: window.packs.export_pack(settings(items="chains and comparisons"), both))
    assert text.splitlines() == ["both-chains.caipack: 1 chain for anyone (no reviewers named).",
                                 "both-comparisons.caipack: 3 comparisons for anyone (no reviewers named)."]
    assert [it["kind"] for it in fmt.read_pack(tmp_path / "both-chains.caipack")["items"]] == ["chain"]
    assert not both.exists()


def returned_pack(project_path, tmp_path, reviewer="dee", choices=("B", "tie")):
    """A pack exported from the project, answered by ``reviewer`` in its workspace, and returned."""
    pack = tmp_path / f"{reviewer}.caipack"
    with Project.open(project_path) as p:
        ids = sorted(r["id"] for r in p.comparisons.list(0, 100))[:3]
        p.reviews.export_pack(pack, kind="comparison", ids=ids, reviewers=[reviewer], k=1, blind=True)
    answered = tmp_path / f"{reviewer}.answered.caipack"
    with store_packs.open_pack(pack) as ws:
        wids = sorted(r["id"] for r in ws.comparisons.list(0, 100))
        for wid, choice in zip(wids, choices):
            ws.comparisons.review(wid, choice, reviewer=reviewer, note=f"{reviewer} on {wid}")
        assert store_packs.return_pack(ws, answered) == len(choices)
    return answered


def test_importing_a_returned_pack_merges_once_and_refreshes_the_pages(window, qtbot, project_path, tmp_path):
    answered = returned_pack(project_path, tmp_path)
    before = log_rows(project_path)
    window.show_page("comparisons")
    window.stale_pages.clear()
    text = run(window, qtbot, lambda: window.packs.import_pack(answered))
    assert text.splitlines() == ["Merged dee.answered.caipack: 2 decisions added, 0 already present; the final "
                                 "decisions were recomputed.", "dee: 2 added, 0 already present"]
    assert window.packs.last_message is not None and window.packs.last_message.text() == text
    after = log_rows(project_path)
    assert len(after) == len(before) + 2 and {r[1] for r in after} == {"ann", "dee"}
    # the page on screen shows the merged decision now; the agreement page when next shown
    page = window.pages["comparisons"]
    chosen = {page.model.row_data(i).get("human_choice") for i in range(page.model.rowCount())}
    assert {"B", "tie"} <= chosen
    assert "agreement" in window.stale_pages and "inspector" not in window.stale_pages
    n_imports = imports(project_path)
    assert n_imports == 1
    # a second import changes nothing at all
    window.stale_pages.clear()
    text = run(window, qtbot, lambda: window.packs.import_pack(answered))
    assert text.splitlines() == ["Nothing new in dee.answered.caipack: all 2 decisions were already in the project.",
                                 "dee: 0 added, 2 already present"]
    assert log_rows(project_path) == after and imports(project_path) == n_imports
    assert "agreement" not in window.stale_pages


def _refusal(project_path, path) -> str:
    with Project.open(project_path) as p, pytest.raises(ValidationError) as e:
        store_packs.import_pack(p, path)
    return str(e.value)


@pytest.mark.parametrize("bad", ["truncated", "nonsense", "other project", "newer version", "not json"])
def test_a_bad_pack_shows_the_stores_message_and_changes_nothing(window, qtbot, project_path, tmp_path, bad):
    answered = returned_pack(project_path, tmp_path)
    path = tmp_path / "bad.caipack"
    raw = gzip.decompress(answered.read_bytes())
    if bad == "truncated":
        path.write_bytes(answered.read_bytes()[: len(answered.read_bytes()) // 2])
    elif bad == "not json":
        path.write_bytes(b"\x00\x01 definitely not a pack")
    else:
        data = json.loads(raw)
        if bad == "nonsense":
            data["decisions"] = [{"uid": 3, "item_uid": None}]
        elif bad == "other project":
            data["project_uid"] = "someone-else"
        else:
            data["version"] = fmt.VERSION + 1
        path.write_bytes(gzip.compress(json.dumps(data).encode()))
    want = _refusal(project_path, path)
    before, n_imports = log_rows(project_path), imports(project_path)
    text = run(window, qtbot, lambda: window.packs.import_pack(path))
    assert text == want
    box = window.last_error_box
    assert box is not None and box.text() == want and box.windowTitle() == "Cannot import the review pack"
    assert box.detailedText() == ""  # one line, no traceback
    assert "Traceback" not in want and "\n" not in want
    assert log_rows(project_path) == before and imports(project_path) == n_imports
    assert window.packs.act_import.isEnabled()  # ready for the right file


def test_the_decision_log_exports_as_csv_and_jsonl(window, qtbot, project_path, tmp_path):
    answered = returned_pack(project_path, tmp_path)
    run(window, qtbot, lambda: window.packs.import_pack(answered))
    want = log_rows(project_path)
    assert len(want) == 3
    out = tmp_path / "decisions.csv"
    text = run(window, qtbot, lambda: window.packs.export_log(out))
    assert text == "decisions.csv: 3 decisions written."
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(LOG_FIELDS)
    assert sorted((r["reviewer"], r["decision"]) for r in rows) == sorted((w[1], w[2]) for w in want)
    out = tmp_path / "decisions.jsonl"
    run(window, qtbot, lambda: window.packs.export_log(out))
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted((r["reviewer"], r["decision"]) for r in rows) == sorted((w[1], w[2]) for w in want)
    # another extension: one line, no file
    assert not window.packs.export_log(tmp_path / "decisions.txt")
    assert "CSV or JSONL" in window.last_error_box.text()
    assert not (tmp_path / "decisions.txt").exists()


def test_the_menu_actions_go_through_their_dialogs(window, qtbot, project_path, tmp_path, monkeypatch):
    """Review → Export review pack… (the dialog accepted as filled in) and Import returned pack… (the file
    chosen) reach the same code as the tests above."""
    from PySide6.QtWidgets import QDialog, QFileDialog

    pack = tmp_path / "menu.caipack"

    def accept(dlg):
        dlg.form.set_value("reviewers", "gus")
        dlg.path.setText(str(pack))
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(rp.ExportPackDialog, "exec", accept)
    with qtbot.waitSignal(window.packs.finished, timeout=30000) as sig:
        window.packs.act_export.trigger()
    assert window.runner.wait_idle(30000, background=True)
    assert sig.args[0] == "menu.caipack: 12 comparisons, assigned to gus 12."
    answered = returned_pack(project_path, tmp_path, reviewer="hal", choices=("A",))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(answered), ""))
    with qtbot.waitSignal(window.packs.finished, timeout=30000) as sig:
        window.packs.act_import.trigger()
    assert window.runner.wait_idle(30000, background=True)
    assert sig.args[0].startswith("Merged hal.answered.caipack: 1 decision added")


def test_an_export_with_nothing_to_export_says_so(window, qtbot, tmp_path):
    page = window.pages["comparisons"]
    page.search.setText("no such words anywhere")
    pack = tmp_path / "empty.caipack"
    text = run(window, qtbot, lambda: window.packs.export_pack(settings(), pack))
    assert text == "No comparisons match: the pack would be empty."
    assert window.last_error_box.text() == text and not pack.exists()
    # a reviewer count the names cannot cover is refused before anything runs
    assert not window.packs.export_pack(rp.ExportPackSettings(reviewers=["a"], k=2), pack)
    assert "more than the 1 reviewer named" in window.last_error_box.text()
