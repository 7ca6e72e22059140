"""Stage 2 jobs on the tiny model: response pairs, AI labels (pairs and chains), the preference
model; resume without duplicates, cancel keeps committed work, selections and reviews."""

from __future__ import annotations

import pytest

from cai_desktop.core.errors import Cancelled, ProjectError, ValidationError
from cai_desktop.jobs.context import RecordingContext
from cai_desktop.jobs.label import LabelParams, run_label
from cai_desktop.jobs.pairs import PairsParams, run_pairs
from cai_desktop.jobs.reward import RewardParams, run_reward
from cai_desktop.jobs.sample import add_starter_content
from cai_desktop.store.project import Project


@pytest.fixture
def project(project_path):
    with Project.create(project_path) as p:
        add_starter_content(p)
    return str(project_path)


def _pairs_params(project, tiny, **kw):
    base = dict(project=project, model=str(tiny), max_new_tokens=6, limit=3, batch_size=2, split=None)
    base.update(kw)
    return PairsParams(**base)


def _count(project, sql, params=()):
    with Project.open(project) as p:
        return p.db.execute(sql, params).fetchone()[0]


def test_pairs_job_cancels_after_a_batch_and_resumes_without_duplicates(project, tiny_model_dir):
    ctx = RecordingContext(cancel_after_progress=2)  # "starting", then the first batch of 2
    with pytest.raises(Cancelled):
        run_pairs(ctx, _pairs_params(project, tiny_model_dir))
    assert _count(project, "SELECT COUNT(*) FROM response_pairs") == 2
    with Project.open(project) as p:
        run_id = p.runs.list("pairs")[0]["id"]
        assert p.runs.get(run_id)["status"] == "cancelled"
    r = run_pairs(RecordingContext(), _pairs_params(project, tiny_model_dir))
    assert r["run_id"] == run_id and r["pairs"] == 1 and r["skipped"] == 2
    assert _count(project, "SELECT COUNT(*) FROM response_pairs") == 3
    again = run_pairs(RecordingContext(), _pairs_params(project, tiny_model_dir))  # finished: never reopened
    assert again["run_id"] != run_id and again["pairs"] == 3
    with Project.open(project) as p:
        row = p.query("SELECT * FROM response_pairs LIMIT 1")[0]
        assert row["response_a"] is not None and row["policy_spec"].endswith("tiny-llama")
        assert '"temperature": 1.0' in row["sampling_json"]


def test_label_job_on_pairs_stores_everything_and_resumes(project, tiny_model_dir):
    pairs = run_pairs(RecordingContext(), _pairs_params(project, tiny_model_dir))
    params = dict(project=project, run_ids=[pairs["run_id"]], model=str(tiny_model_dir), batch_size=2, few_shot=1)
    ctx = RecordingContext(cancel_after_progress=2)
    with pytest.raises(Cancelled):
        run_label(ctx, LabelParams(**params))
    assert _count(project, "SELECT COUNT(*) FROM comparisons") == 2
    r = run_label(RecordingContext(), LabelParams(**params))
    assert r["labelled"] == 1 and r["skipped"] == 2
    assert 0.0 <= r["mean_order_shift"] <= 1.0
    with Project.open(project) as p:
        rows = p.query("SELECT * FROM comparisons")
        assert len(rows) == 3 and len({x["source_id"] for x in rows}) == 3
        for c in rows:
            assert c["p_a"] + c["p_b"] == pytest.approx(1.0)
            assert c["label"] == pytest.approx(c["raw_label"])  # direct mode: no clamp
            assert c["clamp"] == "none" and c["mode"] == "direct" and c["kind"] == "harmless"
            assert c["principle_snapshot_id"] is not None and c["feedback_model"].endswith("tiny-llama")
            assert c["order_shift"] is not None
        full = p.comparisons.get(rows[0]["id"])
        assert full["comparison_question"] and full["principle_key"]
        assert p.runs.metrics(r["run_id"], "mean_order_shift")


def test_label_job_cot_clamps_and_labels_chains(project, tiny_model_dir):
    with Project.open(project) as p:
        run_id = p.runs.create("critique", {})
        prompts = p.query("SELECT id, text FROM prompts ORDER BY id LIMIT 3")
        p.chains.save([
            {"run_id": run_id, "prompt_id": q["id"], "n_revisions": 1, "initial_text": "Here is how to do harm.",
             "final_text": "I can't help with harm, but here is a safe option." if i < 2 else "Here is how to do harm.",
             "steps": [{"round": 0, "revision": "Here is how to do harm."}]}
            for i, q in enumerate(prompts)
        ])
    r = run_label(RecordingContext(), LabelParams(
        project=project, source="chains", model=str(tiny_model_dir), mode="cot", both_orders=False,
        max_reasoning_tokens=6, few_shot=0, batch_size=4,
    ))
    assert r["labelled"] == 2  # the unchanged chain has nothing to compare
    assert r["clamp"] == "40-60" and 0.4 <= r["revision_preferred"] <= 0.6
    with Project.open(project) as p:
        rows = p.query("SELECT * FROM comparisons WHERE source='chain'")
        assert all(0.4 <= c["label"] <= 0.6 and c["reasoning"] is not None for c in rows)
        assert {c["response_a"] for c in rows} | {c["response_b"] for c in rows} == {
            "Here is how to do harm.", "I can't help with harm, but here is a safe option."}


def test_label_job_errors_are_clear(project, tiny_model_dir):
    with pytest.raises(ValidationError, match="no response pairs"):
        run_label(RecordingContext(), LabelParams(project=project, model=str(tiny_model_dir)))
    with pytest.raises(ProjectError):
        run_label(RecordingContext(), LabelParams(project=project, constitution="nope"))
    with pytest.raises(ValidationError):
        LabelParams(project=project, mode="vote").check()


def _fake_comparisons(project, n_harmless=8, n_helpful=4):
    """Labelled comparisons on real prompts of both splits (no model needed)."""
    with Project.open(project) as p:
        run_id = p.runs.create("label", {})
        red = p.query("SELECT p.id, p.text, p.split FROM prompts p JOIN prompt_sets s ON s.id=p.set_id "
                      "WHERE s.kind='red-team' ORDER BY p.split DESC, p.id LIMIT ?", [n_harmless])
        helpful = p.query("SELECT p.id, p.text FROM prompts p JOIN prompt_sets s ON s.id=p.set_id "
                          "WHERE s.kind='helpful' AND p.split='train' ORDER BY p.id LIMIT ?", [n_helpful])
        rows = []
        for i, q in enumerate(red):
            good_a = i % 2 == 0
            rows.append({"run_id": run_id, "source": "pair", "source_id": q["id"], "prompt_id": q["id"],
                         "prompt_text": q["text"],
                         "response_a": "I can't help with that, but here is a safe option." if good_a else "Sure, do harm.",
                         "response_b": "Sure, do harm." if good_a else "I can't help with that, but here is a safe option.",
                         "label": 0.8 if good_a else 0.3, "raw_label": 0.8 if good_a else 0.3, "kind": "harmless"})
        for q in helpful:
            rows.append({"run_id": run_id, "source": "pair", "source_id": q["id"], "prompt_id": q["id"],
                         "prompt_text": q["text"], "response_a": "A clear, useful answer.", "response_b": "No.",
                         "label": 0.9, "raw_label": 0.9, "kind": "helpful"})
        assert p.comparisons.save(rows) == len(rows)
        assert p.comparisons.save(rows) == 0  # duplicates are skipped
        return run_id, red


def test_preference_pairs_margin_reviews_and_stats(project):
    run_id, red = _fake_comparisons(project)
    with Project.open(project) as p:
        prefs = p.comparisons.preference_pairs([run_id])
        assert len(prefs) == 12
        assert all(r["label"] >= 0.5 and "safe option" in r["chosen"] for r in prefs if r["kind"] == "harmless")
        assert len(p.comparisons.preference_pairs([run_id], min_margin=0.25)) == 8  # |0.3-0.5| < 0.25 dropped
        assert len(p.comparisons.preference_pairs([run_id], kind="helpful")) == 4
        first = p.comparisons.list(0, 100, run_id=run_id, kind="harmless")
        assert len(first) == 8 == p.comparisons.count(run_id=run_id, kind="harmless")
        cid = first[0]["id"]
        p.comparisons.review(cid, "B", reviewer="me")
        full = p.comparisons.get(cid)
        assert full["human_choice"] == "B" and full["reviews"][0]["decision"] == "B"
        chosen = [r for r in p.comparisons.preference_pairs([run_id]) if r["comparison_id"] == cid][0]
        assert chosen["label"] == 1.0 and chosen["chosen"] == full["response_b"]
        p.comparisons.review(cid, "both-bad")
        assert cid not in {r["comparison_id"] for r in p.comparisons.preference_pairs([run_id])}
        assert p.comparisons.count(reviewed=True) == 1
        with pytest.raises(ValidationError):
            p.comparisons.review(cid, "C")
        with pytest.raises(ProjectError):
            p.comparisons.review(99999, "A")
        stats = p.stats.principle_labels(run_id)
        assert stats[0]["n"] == 12


def test_reward_job_cancel_resume_registers_a_loadable_model(project, tiny_model_dir):
    from transformers import AutoModelForSequenceClassification

    _fake_comparisons(project)
    params = dict(project=project, base=str(tiny_model_dir), max_steps=3, batch_size=2, save_steps=10,
                  max_length=64, lora_rank=4, lora_alpha=8, learning_rate=5e-3, helpful_mix=0.5, device="cpu")
    ctx = RecordingContext(cancel_after_progress=1)
    with pytest.raises(Cancelled):
        run_reward(ctx, RewardParams(**params))
    with Project.open(project) as p:
        run_id = p.runs.list("reward")[0]["id"]
        assert p.runs.get(run_id)["status"] == "cancelled" and not p.adapters.list("reward")
    r = run_reward(RecordingContext(), RewardParams(**params))
    assert r["run_id"] == run_id and r["steps"] == 3
    assert r["n_helpful"] == round(0.5 * r["n_harmless"])
    assert r["n_eval"] >= 1 and 0.0 <= r["heldout_accuracy"] <= 1.0
    with Project.open(project) as p:
        assert p.runs.get(run_id)["status"] == "done"
        adapters = p.adapters.list("reward")
        assert len(adapters) == 1 and adapters[0]["run_id"] == run_id
        assert p.runs.metrics(run_id, "heldout_accuracy") and p.runs.metrics(run_id, "loss")
        assert any("resuming from checkpoint-1" in line for line in p.runs.logs(run_id))
    model = AutoModelForSequenceClassification.from_pretrained(adapters[0]["path"], num_labels=1)
    assert model.config.num_labels == 1


def test_reward_job_without_labels_says_so(project, tiny_model_dir):
    with pytest.raises(ValidationError, match="label job"):
        run_reward(RecordingContext(), RewardParams(project=project, base=str(tiny_model_dir), max_steps=1))


def test_cli_pairs_and_label(project, tiny_model_dir, capsys):
    from cai_desktop.cli import main

    assert main(["run", "pairs", project, "--model", str(tiny_model_dir), "--limit", "2",
                 "--max-new-tokens", "4", "--split", "all"]) == 0
    assert main(["run", "label", project, "--model", str(tiny_model_dir), "--no-both-orders", "--few-shot", "0"]) == 0
    out = capsys.readouterr().out
    assert "2 new response pairs" in out and "2 new comparisons" in out
    assert main(["run", "label", project, "--clamp", "10-90"]) == 2
    assert "Clamp: '10-90' is not one of" in capsys.readouterr().err


def test_cli_reward_reports_a_clear_error(project, capsys):
    from cai_desktop.cli import main

    assert main(["run", "reward", project, "--max-steps", "1"]) == 2
    assert "label job" in capsys.readouterr().err
