import pytest

from cai_desktop.core.errors import Cancelled, ProjectError, ValidationError
from cai_desktop.jobs.context import RecordingContext
from cai_desktop.jobs.critique import CritiqueParams, run_critique
from cai_desktop.store.project import Project


def params(path, model, **kw):
    base = dict(project=str(path), constitution="tiny", prompt_set="rt", revisions=2, model=str(model),
                batch_size=3, max_new_tokens=8, critique_max_new_tokens=8, split=None)
    base.update(kw)
    return CritiqueParams(**base)


def test_chains_have_every_step_with_snapshots(stage1_project, tiny_model_dir):
    ctx = RecordingContext()
    r = run_critique(ctx, params(stage1_project, tiny_model_dir))
    assert r["chains"] == 7 and r["revisions"] == 14
    with Project.open(stage1_project) as p:
        assert p.runs.get(r["run_id"])["status"] == "done"
        chain = p.chains.get(p.chains.list(0, 10)[0]["id"])
        assert [s["round"] for s in chain["steps"]] == [0, 1, 2]
        assert all(s["principle_key"] in {"p0", "p1", "p2"} for s in chain["steps"][1:])
        assert chain["steps"][1]["critique_request"].startswith("Critique the harm")
        assert chain["final_text"] == chain["steps"][-1]["revision"]
        assert chain["model_spec"] == str(tiny_model_dir.resolve())
        assert p.models.list()[0]["spec"] == chain["model_spec"]
    assert ctx.progress_calls[-1][:2] == (35, 35)  # generations: 7 prompts × (1 answer + 2 rounds × 2)


def test_same_seed_same_principles_and_text(stage1_project, tiny_model_dir, tmp_path):
    import shutil

    other = tmp_path / "copy.caiproj"
    shutil.copy(stage1_project, other)
    a = run_critique(None, params(stage1_project, tiny_model_dir, seed=3))
    b = run_critique(None, params(other, tiny_model_dir, seed=3, batch_size=7))

    def dump(path, run_id):
        with Project.open(path) as p:
            return [(s["principle_key"], s["revision"]) for c in p.chains.list(0, 50, run_id=run_id)
                    for s in p.chains.get(c["id"])["steps"]]

    assert dump(stage1_project, a["run_id"]) == dump(other, b["run_id"])


def test_cancel_then_rerun_resumes_without_duplicates(stage1_project, tiny_model_dir):
    # progress counts generations: one report at the start, then 5 in batch 1 (answers, and a
    # critique and a revision in each of 2 rounds); cancel after batch 1's last one
    ctx = RecordingContext(cancel_after_progress=6)
    with pytest.raises(Cancelled):
        run_critique(ctx, params(stage1_project, tiny_model_dir))
    with Project.open(stage1_project) as p:
        run = p.runs.list("critique")[0]
        assert run["status"] == "cancelled"
        assert p.chains.count(run_id=run["id"]) == 3
    r = run_critique(RecordingContext(), params(stage1_project, tiny_model_dir))
    assert r["run_id"] == run["id"] and r["chains"] == 4 and r["skipped"] == 3
    with Project.open(stage1_project) as p:
        rows = p.query("SELECT prompt_id, COUNT(*) AS n FROM chains WHERE run_id=? GROUP BY prompt_id", [run["id"]])
        assert len(rows) == 7 and all(r["n"] == 1 for r in rows)
        steps = p.query("SELECT chain_id, COUNT(*) AS n FROM chain_steps GROUP BY chain_id")
        assert all(s["n"] == 3 for s in steps) and len(steps) == 7


def test_killed_mid_batch_loses_only_that_batch(stage1_project, tiny_model_dir, monkeypatch):
    from cai_desktop.store.chains import Chains

    real = Chains.save
    calls = []

    def dying(chains, rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise KeyboardInterrupt("process killed")
        return real(chains, rows)

    monkeypatch.setattr(Chains, "save", dying)
    with pytest.raises(KeyboardInterrupt):
        run_critique(None, params(stage1_project, tiny_model_dir))
    monkeypatch.setattr(Chains, "save", real)
    with Project.open(stage1_project) as p:
        assert p.db.execute("SELECT COUNT(*) FROM chains").fetchone()[0] == 3
        assert p.runs.list("critique")[0]["status"] == "cancelled"  # interrupted: it resumes
    r = run_critique(None, params(stage1_project, tiny_model_dir))
    assert r["chains"] == 4
    with Project.open(stage1_project) as p:
        assert p.db.execute("SELECT COUNT(DISTINCT prompt_id) FROM chains").fetchone()[0] == 7
        assert p.db.execute("SELECT COUNT(*) FROM chains").fetchone()[0] == 7


def test_transcript_style_and_zero_revisions(stage1_project, tiny_model_dir):
    r = run_critique(None, params(stage1_project, tiny_model_dir, style="transcript", revisions=1, limit=2))
    assert r["chains"] == 2
    r = run_critique(None, params(stage1_project, tiny_model_dir, prompt_set="help", revisions=0))
    assert r["chains"] == 4 and r["revisions"] == 0
    with Project.open(stage1_project) as p:
        c = p.chains.get(p.chains.list(0, 1, prompt_set="help")[0]["id"])
        assert len(c["steps"]) == 1 and c["final_text"] == c["initial_text"]


def test_bad_params_give_clear_errors(stage1_project, tiny_model_dir):
    with pytest.raises(ValidationError, match="style"):
        run_critique(None, params(stage1_project, tiny_model_dir, style="poem"))
    with pytest.raises(ProjectError, match="No constitution named 'nope'"):
        run_critique(None, params(stage1_project, tiny_model_dir, constitution="nope"))
    with pytest.raises(ProjectError, match="No prompt set named"):
        run_critique(None, params(stage1_project, tiny_model_dir, prompt_set="nope"))


def test_reviews_paging_and_filters(stage1_project, tiny_model_dir):
    run_critique(None, params(stage1_project, tiny_model_dir))
    with Project.open(stage1_project) as p:
        ids = [c["id"] for c in p.chains.list(0, 100)]
        assert len(p.chains.list(0, 3)) == 3 and p.chains.list(3, 3)[0]["id"] == ids[3]
        p.chains.review(ids[0], "accepted", "ana")
        p.chains.review(ids[1], "edited", "ana", edited_text="A human revision.", note="tone")
        p.chains.review(ids[2], "rejected", "bo")
        with pytest.raises(ValidationError):
            p.chains.review(ids[3], "edited", "bo", edited_text="  ")
        assert p.chains.count(review_status="accepted") == 1
        c = p.chains.get(ids[1])
        assert c["human_revision"] == "A human revision." and c["final_text"] != c["human_revision"]
        assert c["reviews"][0]["reviewer"] == "ana" and c["note"] == "tone"
        assert p.chains.count(search="prompt 3") == 1
        used = p.query("SELECT DISTINCT ps.key FROM chain_steps s JOIN principle_snapshots ps ON ps.id=s.principle_snapshot_id")
        key = used[0]["key"]
        assert 0 < p.chains.count(principle_key=key) <= 7

        stats = {s["key"]: s for s in p.stats.principles("tiny")}
        assert sum(s["drawn"] for s in stats.values()) == 14


def test_echoed_critique_is_recognised():
    from cai_desktop.core.prompting import echoes_critique

    crit = "The last reply is harmful because it explains how to hurt someone."
    assert echoes_critique(crit + " It should refuse.", crit)
    assert not echoes_critique("I can't help with hurting anyone, but I can suggest talking it through.", crit)
    assert not echoes_critique("", crit)
