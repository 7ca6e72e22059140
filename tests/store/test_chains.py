"""Chain storage without a model: whole-chain commits, paging/filters, reviews, data selections."""

import sqlite3

import pytest

from cai_desktop.core.constitution import Constitution, Principle
from cai_desktop.core.errors import ProjectError, ValidationError
from cai_desktop.store.project import Project

P = [Principle(key=f"k{i}", critique_request=f"crit {i}", revision_request=f"rev {i}") for i in range(2)]


def _chain(run_id, prompt, snaps, initial, revisions, cid):
    steps = [{"round": 0, "revision": initial, "raw_revision": initial, "cleaned": 0, "seed": 1}]
    for r, (key, text) in enumerate(revisions, 1):
        steps.append({"round": r, "principle_snapshot_id": snaps[key], "critique": f"c{r}", "revision": text,
                      "raw_revision": "Sure: " + text, "cleaned": 1, "seed": r})
    return {"run_id": run_id, "prompt_id": prompt["id"], "constitution_id": cid, "constitution_version": 1,
            "model_spec": "m", "style": "chat", "n_revisions": len(revisions), "seed": 0,
            "sampling": {"temperature": 0.7}, "initial_text": initial,
            "final_text": revisions[-1][1] if revisions else initial, "steps": steps}


@pytest.fixture
def filled(tmp_path):
    path = tmp_path / "c.caiproj"
    with Project.create(path) as p:
        p.constitutions.save(Constitution(name="con", principles=P))
        cid = p.constitutions.id("con")
        p.prompts.add_set("rt", "red-team", [f"bad {i}" for i in range(5)], test_fraction=0.0)
        p.prompts.add_set("hp", "helpful", [f"good {i}" for i in range(3)], test_fraction=0.0)
        snaps = {pr.key: p.constitutions.snapshot(pr, "con") for pr in P}
        run = p.runs.create("critique", {})
        rt, hp = p.prompts.of("rt"), p.prompts.of("hp")
        p.chains.save([
            _chain(run, rt[0], snaps, "harmful 0", [("k0", "safer 0"), ("k1", "safest 0")], cid),
            _chain(run, rt[1], snaps, "harmful 1", [("k0", "harmful 1"), ("k0", "harmful 1")], cid),  # unchanged
            _chain(run, rt[2], snaps, "harmful 2", [("k1", "safe 2"), ("k1", "safe 2")], cid),
        ])
        p.chains.save([_chain(run, rt[3], snaps, "harmful 3", [("k1", "safe 3"), ("k0", "safer 3")], cid)])
        run2 = p.runs.create("critique", {})
        p.chains.save([_chain(run2, h, snaps, f"answer {i}", [], cid) for i, h in enumerate(hp)])
    return path, run, run2


def test_whole_chains_are_committed_and_found(filled):
    path, run, run2 = filled
    with Project.open(path) as p:
        rt = p.prompts.of("rt")
        assert p.chains.done_prompt_ids(run) == {r["id"] for r in rt[:4]}
        assert len(p.chains.ids_in_run(run)) == 4 and len(p.chains.ids_in_run(run2)) == 3
        assert p.chains.find(run, rt[4]["id"]) is None
        c = p.chains.get(p.chains.find(run, rt[0]["id"]))
        assert c["prompt"] == "bad 0" and c["constitution"] == "con" and c["set_kind"] == "red-team"
        assert c["sampling"] == {"temperature": 0.7}
        assert [(s["round"], s["principle_key"], s["revision"]) for s in c["steps"]] == [
            (0, None, "harmful 0"), (1, "k0", "safer 0"), (2, "k1", "safest 0")]
        assert c["steps"][1]["raw_revision"] == "Sure: safer 0" and c["steps"][1]["cleaned"] == 1
        assert c["steps"][2]["revision_request"] == "rev 1"
        with pytest.raises(ProjectError, match="No chain 999"):
            p.chains.get(999)


def test_a_failing_batch_leaves_nothing_behind(filled):
    path, run, _ = filled
    with Project.open(path) as p:
        rt = p.prompts.of("rt")
        good = _chain(run, rt[4], {}, "x", [], None)
        bad = {**_chain(run, rt[0], {}, "x", [], None), "prompt_id": 99999}  # no such prompt
        with pytest.raises(sqlite3.IntegrityError):
            p.chains.save([good, bad])
        assert p.chains.find(run, rt[4]["id"]) is None
        assert p.chains.count(run_id=run) == 4


def test_a_chain_the_run_has_already_is_kept_once(filled):
    """Two copies of a job racing on one run: the second save of a prompt's chain changes nothing."""
    path, run, _ = filled
    with Project.open(path) as p:
        rt = p.prompts.of("rt")
        first = p.chains.find(run, rt[0]["id"])
        steps = p.query("SELECT COUNT(*) AS n FROM chain_steps")[0]["n"]
        ids = p.chains.save([_chain(run, rt[0], {}, "again", [], None)])
        assert ids == [first] and p.chains.count(run_id=run) == 4
        assert p.query("SELECT COUNT(*) AS n FROM chain_steps")[0]["n"] == steps
        assert p.chains.get(first)["final_text"] != "again"


def test_paging_and_filters(filled):
    path, run, run2 = filled
    with Project.open(path) as p:
        assert p.chains.count() == 7
        page1, page2 = p.chains.list(0, 4), p.chains.list(4, 4)
        assert len(page1) == 4 and len(page2) == 3
        ids = [c["id"] for c in page1 + page2]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == 7
        assert p.chains.count(run_id=run2) == 3 == len(p.chains.list(run_id=run2))
        assert p.chains.count(prompt_set="rt") == 4
        assert p.chains.count(search="bad 2") == 1 and p.chains.list(search="safest")[0]["prompt"] == "bad 0"
        # k1 was drawn in chains 0, 2 and 3
        assert p.chains.count(principle_key="k1") == 3
        assert {c["prompt"] for c in p.chains.list(principle_key="k1")} == {"bad 0", "bad 2", "bad 3"}
        assert p.chains.count(principle_key="k1", search="bad 3") == 1


def test_reviews_are_stored_and_edits_keep_the_model_text(filled):
    path, run, _ = filled
    with Project.open(path) as p:
        cid = p.chains.list(prompt_set="rt", search="bad 0")[0]["id"]
        p.chains.review(cid, "edited", "ana", edited_text="human words", note="kinder")
        p.chains.review(cid, "accepted", "bo")
        c = p.chains.get(cid)
        assert c["final_text"] == "safest 0" and c["human_revision"] == "human words"
        assert c["review_status"] == "accepted" and c["reviewer"] == "bo" and c["note"] == "kinder"
        assert [(r["decision"], r["reviewer"]) for r in c["reviews"]] == [("edited", "ana"), ("accepted", "bo")]
        assert p.chains.count(review_status="accepted") == 1
        assert p.chains.count(review_status="unreviewed") == 6
        with pytest.raises(ValidationError, match="Unknown review decision"):
            p.chains.review(cid, "maybe")
        with pytest.raises(ProjectError, match="No chain"):
            p.chains.review(12345, "accepted")


def test_principle_stats_count_draws_and_changes(filled):
    path, _, _ = filled
    with Project.open(path) as p:
        stats = {s["key"]: (s["drawn"], s["changed"]) for s in p.stats.principles("con")}
    # k0: chain0 r1 (changed), chain1 r1+r2 (unchanged), chain3 r2 (changed)
    # k1: chain0 r2 (changed), chain2 r1 (changed) r2 (unchanged), chain3 r1 (changed)
    assert stats == {"k0": (4, 2), "k1": (4, 3)}


def test_data_selections(filled):
    path, run, _ = filled
    with Project.open(path) as p:
        final = p.chains.sft_records(split=None, include_helpful=False)
        assert [r["messages"][1]["content"] for r in final] == ["safest 0", "harmful 1", "safe 2", "safer 3"]
        assert final[0]["messages"][0] == {"role": "user", "content": "bad 0"}
        every = p.chains.sft_records(mode="every", split=None, include_helpful=False)
        assert len(every) == 8 and every[0]["messages"][1]["content"] == "safer 0"
        with_help = p.chains.sft_records(split=None)
        assert len(with_help) == 7 and with_help[-1]["messages"][1]["content"].startswith("answer")
        assert len(p.chains.sft_records(split=None, helpful_ratio=0.5)) == 4 + 2
        assert p.chains.sft_records(split="test") == []
        assert len(p.chains.sft_records(split=None, run_ids=[run])) == 4
        with pytest.raises(ValidationError):
            p.chains.sft_records(mode="some")

        prefs = p.chains.preference_records(split=None)
        # chain 1's revision equals its answer: no preference from it
        assert [(r["prompt"], r["chosen"], r["rejected"]) for r in prefs] == [
            ("bad 0", "safest 0", "harmful 0"), ("bad 2", "safe 2", "harmful 2"), ("bad 3", "safer 3", "harmful 3")]

        first = p.chains.list(prompt_set="rt", search="bad 0")[0]["id"]
        p.chains.review(first, "edited", "me", edited_text="edited 0")
        p.chains.review(p.chains.list(search="bad 2")[0]["id"], "rejected", "me")
        final = p.chains.sft_records(split=None, include_helpful=False)
        assert [r["messages"][1]["content"] for r in final] == ["edited 0", "harmful 1", "safer 3"]
        assert [r["messages"][1]["content"] for r in p.chains.sft_records(split=None, include_helpful=False,
                                                                 only_accepted=True)] == ["edited 0"]
        assert [r["chosen"] for r in p.chains.preference_records(split=None)] == ["edited 0", "safer 3"]


def test_flawed_revisions_are_skipped_or_fall_back(tmp_path):
    path = tmp_path / "f.caiproj"
    with Project.create(path) as p:
        p.constitutions.save(Constitution(name="con", principles=P))
        cid = p.constitutions.id("con")
        p.prompts.add_set("rt", "red-team", [f"bad {i}" for i in range(3)], test_fraction=0.0)
        snaps = {pr.key: p.constitutions.snapshot(pr, "con") for pr in P}
        run = p.runs.create("critique", {})
        rt = p.prompts.of("rt")
        p.chains.save([
            # round 2 talks about the response: 'final' falls back to round 1
            _chain(run, rt[0], snaps, "harmful 0", [("k0", "I won't help with that."),
                                                    ("k1", "The response is now shorter and kinder.")], cid),
            # every round is flawed (round 1 repeats its critique 'c1'): the chain is left out
            _chain(run, rt[1], snaps, "harmful 1", [("k0", "c1"), ("k1", "The assistant's response is fine.")], cid),
            _chain(run, rt[2], snaps, "harmful 2", [("k1", "Safe answer 2.")], cid),
        ])
        kept = p.chains.sft_records(split=None, include_helpful=False)  # off by default: everything
        assert len(kept) == 3
        stats = {}
        final = p.chains.sft_records(split=None, include_helpful=False, skip_flawed=True, stats=stats)
        assert [r["messages"][1]["content"] for r in final] == ["I won't help with that.", "Safe answer 2."]
        assert stats == {"flawed_skipped": 1, "fell_back": 1}
        every = p.chains.sft_records(mode="every", split=None, include_helpful=False, skip_flawed=True, stats=stats)
        assert [r["messages"][1]["content"] for r in every] == ["I won't help with that.", "Safe answer 2."]
        assert stats["flawed_skipped"] == 3
        # a human edit always counts
        p.chains.review(p.chains.list(search="bad 1")[0]["id"], "edited", "me", edited_text="The response: no.")
        final = p.chains.sft_records(split=None, include_helpful=False, skip_flawed=True)
        assert "The response: no." in [r["messages"][1]["content"] for r in final]


def test_review_undo_restores_and_refuses_over_a_later_review(filled):

    path, run, _ = filled
    with Project.open(path) as p:
        cid = p.chains.list(run_id=run)[-1]["id"]
        before = p.chains.review_state(cid)
        assert before["review_status"] == "unreviewed"
        rid = p.chains.review(cid, "edited", reviewer="ann", edited_text="mine", note="n")
        mid = p.chains.review_state(cid)
        rid2 = p.chains.reset_review(cid, reviewer="ann")
        c = p.chains.get(cid)
        assert c["review_status"] == "unreviewed" and c["human_revision"] is None
        assert [r["edited_text"] for r in c["reviews"]] == ["mine", None]  # the log keeps the edit
        with pytest.raises(ProjectError, match="reviewed again since by ann"):
            p.chains.undo_review(cid, rid, before)  # not the latest review
        p.chains.undo_review(cid, rid2, mid)
        c = p.chains.get(cid)
        assert (c["review_status"], c["human_revision"], c["note"]) == ("edited", "mine", "n")
        p.chains.undo_review(cid, rid, before)
        assert p.chains.review_state(cid) == before
        assert p.chains.get(cid)["reviews"] == []
        with pytest.raises(ProjectError, match="No chain 999"):
            p.chains.reset_review(999)


def test_filter_choices_runs_sets_principles(filled):

    path, run, run2 = filled
    with Project.open(path) as p:
        assert [(r["id"], r["n"]) for r in p.chains.runs()] == [(run2, 3), (run, 4)]
        assert p.chains.prompt_sets() == ["hp", "rt"]
        p.prompts.add_set("unused", "red-team", ["x"])
        assert p.chains.prompt_sets() == ["hp", "rt"]  # only sets that have chains
        assert [r["key"] for r in p.chains.principle_keys()] == ["k0", "k1"]
        assert p.chains.count(run_id=run2, prompt_set="rt") == 0
        assert p.chains.count(run_id=run, prompt_set="rt") == 4
