"""Team review (issue 12): two scripted reviewers through exported review packs on a tiny project
(no model), merged decisions, the final-decision policies and what training reads, κ and α against
scikit-learn and the krippendorff package, idempotent re-import, bad packs refused with one line
and the project unchanged, the decision log, progress and the disagreement queue, an m002 project
upgraded."""

from __future__ import annotations

import csv
import gzip
import json
import sqlite3

import pytest

from cai_desktop.core.constitution import Constitution, Principle
from cai_desktop.core.errors import CaiError, ValidationError
from cai_desktop.store import packs, schema
from cai_desktop.store.project import Project

krippendorff = pytest.importorskip("krippendorff")
sk_metrics = pytest.importorskip("sklearn.metrics")

P = [Principle(key=f"p{i}", critique_request=f"crit {i}", revision_request=f"rev {i}",
               comparison_question=f"Which answer is better under principle {i}?") for i in range(2)]
#: AI p(A) of the ten comparisons
LABELS = [0.9, 0.8, 0.3, 0.2, 0.7, 0.6, 0.4, 0.1, 0.95, 0.55]
#: the two reviewers' choices per comparison (fixed data; both review every item)
ANN = ["A", "A", "B", "B", "A", "B", "B", "B", "A", "tie"]
BOB = ["A", "B", "B", "A", "A", "B", "A", "B", "A", "tie"]


def _build(path):
    with Project.create(path) as p:
        p.constitutions.save(Constitution(name="con", principles=P))
        snaps = {q.key: p.constitutions.snapshot(q, "con") for q in P}
        p.prompts.add_set("rt", "red-team", [f"bad {i}" for i in range(3)], test_fraction=0.0)
        run = p.runs.create("label", {})
        p.comparisons.save([
            {"run_id": run, "source_id": i, "prompt_text": f"prompt {i}", "response_a": f"A{i}", "response_b": f"B{i}",
             "principle_snapshot_id": snaps[f"p{i % 2}"], "label": lab, "p_a": lab, "p_b": 1 - lab,
             "feedback_model": "secret-model", "kind": "harmless"}
            for i, lab in enumerate(LABELS)])
        crun = p.runs.create("critique", {})
        cid = p.constitutions.id("con")
        chains = []
        for i, pr in enumerate(p.prompts.of("rt")):
            chains.append({"run_id": crun, "prompt_id": pr["id"], "constitution_id": cid, "constitution_version": 1,
                           "model_spec": "m", "n_revisions": 1, "seed": 0, "initial_text": f"harmful {i}",
                           "final_text": f"safe {i}", "steps": [
                               {"round": 0, "revision": f"harmful {i}"},
                               {"round": 1, "principle_snapshot_id": snaps["p0"], "critique": "c", "revision": f"safe {i}"}]})
        p.chains.save(chains)
    return path


@pytest.fixture
def project_path(tmp_path):
    return _build(tmp_path / "team.caiproj")


def _review_in_pack(pack_path, reviewer, choices, tmp_path):
    """A reviewer opens the pack (their own machine: a workspace beside it), decides, returns it."""
    ws = tmp_path / f"{reviewer}.review.caiproj"
    with packs.open_pack(pack_path, workspace=ws) as w:
        assert packs.is_pack(w)
        mine = packs.assigned_to(w, reviewer)["comparison"]
        by_uid = {r["uid"]: r["id"] for r in w.query("SELECT id, uid FROM comparisons")}
        for cid in mine:
            i = int(w.comparisons.get(cid)["prompt_text"].split()[-1])
            w.comparisons.review(cid, choices[i], reviewer=reviewer, note=f"{reviewer} on {i}")
        out = tmp_path / f"{reviewer}.answered.caipack"
        n = packs.return_pack(w, out)
        assert n == len(mine) and set(by_uid.values()) >= set(mine)
    return out


def _snapshot(path):
    con = sqlite3.connect(path)
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                for t in ("reviews", "comparisons", "chains", "pack_imports", "project_meta")}
    finally:
        con.close()


def test_two_reviewers_through_packs(project_path, tmp_path):
    pack = tmp_path / "round1.caipack"
    with Project.open(project_path) as p:
        info = p.reviews.export_pack(pack, kind="comparison", reviewers=["ann", "bob"], k=2, blind=True)
        assert info["items"] == 10 and info["assigned"] == {"ann": 10, "bob": 10}
        assert {r["reviewer"]: (r["assigned"], r["done"]) for r in p.reviews.progress()} == {
            "ann": (10, 0), "bob": (10, 0)}
    raw = gzip.decompress(pack.read_bytes()).decode()
    assert "secret-model" not in raw and '"p_a"' not in raw  # blind: no AI labels, no model names
    a = _review_in_pack(pack, "ann", ANN, tmp_path)
    b = _review_in_pack(pack, "bob", BOB, tmp_path)
    with Project.open(project_path) as p:
        assert p.reviews.import_pack(a)["new"] == 10
        assert p.reviews.import_pack(b)["new"] == 10
        ids = sorted(r["id"] for r in p.comparisons.list(0, 100))
        # merged: each reviewer's decision per item, none overwritten
        for i, cid in enumerate(ids):
            assert {k: v["decision"] for k, v in p.reviews.decisions("comparison", cid).items()} == {
                "ann": ANN[i], "bob": BOB[i]}
            assert {v["note"] for v in p.reviews.decisions("comparison", cid).values()} == {f"ann on {i}", f"bob on {i}"}
        assert {r["reviewer"]: (r["assigned"], r["done"]) for r in p.reviews.progress()} == {
            "ann": (10, 10), "bob": (10, 10)}
        # agreement against independent references on the same data
        st = p.reviews.agreement(kind="comparison", seed=3, n_boot=200)
        (pair,) = st["pairs"]
        assert (pair["a"], pair["b"], pair["n"]) == ("ann", "bob", 10)
        assert pair["value"] == pytest.approx(sk_metrics.cohen_kappa_score(ANN, BOB))
        assert pair["low"] <= pair["value"] <= pair["high"]
        code = {"A": 0, "B": 1, "tie": 2}
        ref = krippendorff.alpha(reliability_data=[[code[x] for x in ANN], [code[x] for x in BOB]],
                                 level_of_measurement="nominal")
        assert st["krippendorff"]["value"] == pytest.approx(ref) and st["krippendorff"]["n"] == 10
        assert st["fleiss"]["n"] == 10
        # a re-import changes nothing
        before = _snapshot(project_path)
        again = p.reviews.import_pack(b)
        assert (again["new"], again["known"]) == (0, 10)
        after = _snapshot(project_path)
        assert after == before and len(after["pack_imports"]) == 2

        # final decisions: single = latest (bob imported last), majority = ties unresolved,
        # adjudicator = the adjudicator wins, else the majority
        def human():
            return [p.comparisons.get(c)["human_choice"] for c in ids]

        assert human() == BOB
        p.reviews.set_policy("majority")
        assert human() == [x if x == y else None for x, y in zip(ANN, BOB, strict=True)]
        pairs = {r["comparison_id"]: r["source"] for r in p.comparisons.preference_pairs()}
        assert pairs[ids[1]] == "ai_label" and pairs[ids[0]] == "human"  # a tie between reviewers: the AI label
        p.reviews.set_policy("adjudicator", "ann")
        assert human() == ANN
        p.comparisons.review(ids[1], "B", reviewer="cy")  # a third reviewer does not outvote the adjudicator
        assert p.comparisons.get(ids[1])["human_choice"] == "A"
        p.reviews.set_policy("adjudicator", "cy")  # cy decided #1 only: the majority elsewhere
        assert human()[1] == "B" and human()[0] == "A" and human()[3] is None
        s = p.reviews.summary()
        assert s["policy"] == "adjudicator" and s["adjudicator"] == "cy" and s["decisions"] == 21
        assert s["reviewers"] == 3 and s["unresolved"] == 2  # items 3 and 6: ann and bob differ, no cy
        from cai_desktop.jobs.mixing import review_lineage

        assert review_lineage(p) == s  # what SFT, DPO and the preference model record in their lineage
        # the disagreement queue: reviewers differ, or the AI's side and the final choice do
        dis = {d["target_id"]: d for d in p.reviews.disagreements()}
        assert set(dis) >= {ids[i] for i in (1, 3, 6)}
        assert {v["reviewer"] for v in dis[ids[1]]["decisions"]} == {"ann", "bob", "cy"}
        assert dis[ids[5]]["reason"] == "the AI and the reviewers disagree"  # p(A) 0.6, both chose B
        assert ids[2] not in dis  # p(A) 0.3 and both chose B
        # the decision log as CSV and JSONL
        n = p.reviews.export_log(tmp_path / "log.csv")
        rows = list(csv.DictReader(open(tmp_path / "log.csv", encoding="utf-8")))
        assert n == len(rows) == 21 and {"reviewer", "created_at", "principle_text", "decision", "note"} <= set(rows[0])
        key = {c: f"p{i % 2}" for i, c in enumerate(ids)}
        assert all(r["principle_text"] == f"{key[int(r['target_id'])]}: Which answer is better under principle "
                   f"{key[int(r['target_id'])][1]}?" for r in rows)
        assert p.reviews.export_log(tmp_path / "log.jsonl") == 21
        assert json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1])["reviewer"] == "cy"
        with pytest.raises(ValidationError, match="CSV or JSONL"):
            p.reviews.export_log(tmp_path / "log.txt")


def test_chain_decisions_per_reviewer_and_what_sft_uses(project_path):
    with Project.open(project_path) as p:
        c1, c2, c3 = sorted(r["id"] for r in p.chains.list(0, 10))
        p.chains.review(c1, "edited", reviewer="ann", edited_text="ann's safer text")
        p.chains.review(c1, "rejected", reviewer="bob")
        p.chains.review(c2, "accepted", reviewer="ann")
        p.chains.review(c2, "rejected", reviewer="ann")  # ann changes her mind: her earlier decision is superseded
        assert {k: v["decision"] for k, v in p.reviews.decisions("chain", c2).items()} == {"ann": "rejected"}
        assert len(p.reviews.log("chain", c2)) == 2  # the log keeps both

        def texts():
            return sorted(r["messages"][1]["content"] for r in p.chains.sft_records(include_helpful=False))

        assert texts() == ["safe 2"]  # single: the latest (bob rejected c1, ann rejected c2)
        p.reviews.set_policy("adjudicator", "ann")
        assert texts() == ["ann's safer text", "safe 2"]
        assert p.chains.get(c1)["review_status"] == "edited"
        p.reviews.set_policy("majority")
        assert p.chains.get(c1)["review_status"] == "unreviewed"  # 1 edit, 1 reject: a tie
        assert texts() == ["safe 0", "safe 2"]  # an undecided chain is used as the model wrote it (as before)
        # undo still takes back only the latest decision, and the final decision follows
        before = p.chains.review_state(c3)
        rid = p.chains.review(c3, "rejected", reviewer="bob")
        assert "safe 2" not in texts()
        p.chains.undo_review(c3, rid, before)
        assert "safe 2" in texts() and p.chains.review_state(c3) == before


def _bad_pack(src, dest, edit):
    pack = json.loads(gzip.decompress(src.read_bytes()))
    edit(pack)
    dest.write_bytes(gzip.compress(json.dumps(pack).encode()))
    return dest


def test_bad_packs_are_refused_in_one_line_and_change_nothing(project_path, tmp_path):
    pack = tmp_path / "p.caipack"
    with Project.open(project_path) as p:
        p.reviews.export_pack(pack, kind="comparison", reviewers=["ann"], k=1)
    answered = _review_in_pack(pack, "ann", ANN, tmp_path)
    other = _build(tmp_path / "other.caiproj")
    with Project.open(other) as o:
        o.reviews.export_pack(tmp_path / "other.caipack", kind="comparison")
    data = answered.read_bytes()
    (tmp_path / "trunc.caipack").write_bytes(data[: len(data) // 2])
    plain = gzip.decompress(data)
    (tmp_path / "trunc.json").write_bytes(plain[: len(plain) - 40])
    cases = {
        "trunc.caipack": "truncated",
        "trunc.json": "truncated",
        "other.caipack": "another project",
        "newer.caipack": "newer CAI Desktop",
        "nonsense.caipack": "not a valid review pack",
        "choice.caipack": "not a decision on a comparison",
        "edited.caipack": "changed after the pack was made",
        "notpack.caipack": "not a CAI Desktop review pack",
    }
    _bad_pack(answered, tmp_path / "newer.caipack", lambda d: d.update(version=99))
    _bad_pack(answered, tmp_path / "nonsense.caipack", lambda d: d["items"].__setitem__(0, "hello"))
    _bad_pack(answered, tmp_path / "choice.caipack", lambda d: d["decisions"][0].update(decision="maybe"))
    _bad_pack(answered, tmp_path / "edited.caipack", lambda d: d["items"][0]["content"].update(response_a="x"))
    (tmp_path / "notpack.caipack").write_text('{"hello": "world"}')
    before = _snapshot(project_path)
    with Project.open(project_path) as p:
        for name, words in cases.items():
            with pytest.raises(CaiError, match=words) as e:
                p.reviews.import_pack(tmp_path / name)
            assert "\n" not in str(e.value)
    assert _snapshot(project_path) == before
    # items that no longer exist: the comparisons' run is deleted
    with Project.open(project_path) as p:
        p.db.execute("DELETE FROM comparisons WHERE id = (SELECT MIN(id) FROM comparisons)")
        gone = _snapshot(project_path)
        with pytest.raises(CaiError, match="no longer exists"):
            p.reviews.import_pack(answered)
    assert _snapshot(project_path) == gone


def test_sample_stratified_by_principle_and_assignment(project_path, tmp_path):
    with Project.open(project_path) as p:
        info = p.reviews.export_pack(tmp_path / "s.caipack", kind="comparison", sample=4, seed=1,
                                     reviewers=["ann", "bob", "cy"], k=2)
        pack = json.loads(gzip.decompress((tmp_path / "s.caipack").read_bytes()))
        assert info["items"] == 4 and sorted(it["principle_key"] for it in pack["items"]) == ["p0", "p0", "p1", "p1"]
        assert all(len(set(it["assigned"])) == 2 for it in pack["items"])
        assert sum(info["assigned"].values()) == 8 and max(info["assigned"].values()) - min(info["assigned"].values()) <= 1
        assert pack["items"][0]["ai"]["feedback_model"] == "secret-model"  # not blind
        with pytest.raises(ValidationError, match="1 to 3 reviewers"):
            p.reviews.export_pack(tmp_path / "x.caipack", kind="comparison", reviewers=["ann", "bob", "cy"], k=4)
        cpack = p.reviews.export_pack(tmp_path / "c.caipack", kind="chain", filters={"review_status": "unreviewed"})
        assert cpack["items"] == 3


def test_an_m002_project_upgrades(tmp_path, monkeypatch):
    everything = list(schema.migrations._migrations)
    upto = [m for m in everything if m.name in ("m001_initial", "m002_run_owner")]
    monkeypatch.setattr(schema.migrations, "_migrations", upto)
    path = tmp_path / "old.caiproj"
    with Project.create(path) as p:
        p.constitutions.save(Constitution(name="con", principles=P))
        snap = p.constitutions.snapshot(P[0], "con")
        run = p.runs.create("label", {})
        p.comparisons.save([{"run_id": run, "source_id": 1, "prompt_text": "q", "response_a": "a", "response_b": "b",
                             "principle_snapshot_id": snap, "label": 0.7}])
        p.db["reviews"].insert({"target_kind": "comparison", "target_id": 1, "reviewer": "ann", "decision": "B",
                                "created_at": "2026-01-01T00:00:00+00:00"})
        p.db["comparisons"].update(1, {"human_choice": "B", "reviewer": "ann"})
    monkeypatch.setattr(schema.migrations, "_migrations", everything)
    with Project.open(path) as p:
        assert p.upgrade is not None
        assert p.meta("uid") and p.reviews.policy() == {"policy": "single", "adjudicator": ""}
        (row,) = p.reviews.log()
        assert row["uid"] and row["item_uid"] == p.comparisons.get(1)["uid"]
        assert row["principle_text"].startswith("p0: Which answer")
        p.comparisons.review(1, "A", reviewer="bob")
        assert {k: v["decision"] for k, v in p.reviews.decisions("comparison", 1).items()} == {"ann": "B", "bob": "A"}


def test_cli_review_commands(project_path, tmp_path, capsys):
    from cai_desktop.cli import main

    pack = tmp_path / "cli.caipack"
    assert main(["review", "export", str(project_path), str(pack), "--reviewers", "ann,bob", "--k", "2",
                 "--blind"]) == 0
    assert "10 comparisons" in capsys.readouterr().out
    a, b = _review_in_pack(pack, "ann", ANN, tmp_path), _review_in_pack(pack, "bob", BOB, tmp_path)
    assert main(["review", "import", str(project_path), str(a)]) == 0
    assert main(["review", "import", str(project_path), str(b)]) == 0
    assert main(["review", "import", str(project_path), str(b)]) == 0
    assert "imported 0 new decisions (10 already" in capsys.readouterr().out
    assert main(["review", "policy", str(project_path), "majority"]) == 0
    assert main(["review", "policy", str(project_path)]) == 0
    assert capsys.readouterr().out.strip().endswith("majority")
    assert main(["review", "agreement", str(project_path), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["pairs"][0]["value"] == pytest.approx(sk_metrics.cohen_kappa_score(ANN, BOB))
    assert main(["review", "agreement", str(project_path)]) == 0
    assert "Cohen's kappa ann / bob" in capsys.readouterr().out
    assert main(["review", "log", str(project_path), str(tmp_path / "l.jsonl")]) == 0
    assert main(["review", "import", str(project_path), str(tmp_path / "missing.caipack")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cai-desktop: error: No review pack") and err.count("\n") == 1
    assert main(["review", "policy", str(project_path), "adjudicator"]) == 2
    assert "needs the adjudicator's name" in capsys.readouterr().err


def test_demonstrations_are_decisions_in_the_log_and_back_filled(tmp_path, monkeypatch):
    everything = list(schema.migrations._migrations)
    monkeypatch.setattr(schema.migrations, "_migrations",
                        [m for m in everything if m.name in ("m001_initial", "m002_run_owner")])
    path = tmp_path / "demo.caiproj"
    with Project.create(path) as p:
        p.prompts.add_set("rt", "red-team", ["q1", "q2"], test_fraction=0.0)
        run = p.runs.create("demonstrations", {})
        first = p.prompts.of("rt")[0]["id"]
        p.db["chains"].insert({"run_id": run, "prompt_id": first, "model_spec": "human demonstration",
                               "n_revisions": 0, "initial_text": "", "final_text": "old demo",
                               "human_revision": "old demo", "review_status": "edited", "reviewer": "ann",
                               "reviewed_at": "2026-01-01T00:00:00+00:00"})
    monkeypatch.setattr(schema.migrations, "_migrations", everything)
    with Project.open(path) as p:
        second = p.prompts.of("rt")[1]["id"]
        assert p.chains.add_demonstrations(run, [{"prompt_id": second, "text": "new demo"}], reviewer="bob") == 1
        log = {(r["reviewer"], r["decision"], r["edited_text"]) for r in p.reviews.log("chain")}
        assert log == {("ann", "edited", "old demo"), ("bob", "edited", "new demo")}
        p.reviews.set_policy("majority")  # recomputing from the log keeps both demonstrations
        texts = sorted(r["messages"][1]["content"] for r in p.chains.sft_records(include_helpful=False))
        assert texts == ["new demo", "old demo"]
