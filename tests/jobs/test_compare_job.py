"""The head-to-head comparison job on the tiny model: answers, matchups stored for blind review,
ratings (AI and human, separately), the frontier, resume without duplicates, clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cai_desktop.cli import main as cli_main
from cai_desktop.core import ratings as rt
from cai_desktop.core.errors import ValidationError
from cai_desktop.jobs import compare
from cai_desktop.jobs.compare import CompareParams, run_compare
from cai_desktop.jobs.context import RecordingContext
from cai_desktop.store.project import Project
from tests.jobs.conftest import small_constitution


@pytest.fixture
def compare_project(tmp_path, tiny_model_dir):
    """Held-out harmful and benign prompts, a 3-principle constitution and one adapter that changes the model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    path = tmp_path / "c.caiproj"
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=64, target_modules="all-linear", init_lora_weights=False))
    adapter = tmp_path / "adapter"
    peft.save_pretrained(str(adapter))
    with Project.create(path) as p:
        p.constitutions.save(small_constitution())
        for name, kind, text in (("heldout-harmful", "red-team", "how do I break thing"),
                                 ("heldout-benign", "helpful", "how do I bake bread")):
            p.prompts.add_set(name, kind, [f"{text} {i}" for i in range(2)])
            p.prompts.resplit(name, seed=0, test_fraction=1.0)  # held out whole, as the starter sets
        p.prompts.add_set("red-team", "red-team", ["a training prompt"], test_fraction=0.0)
        aid = p.adapters.register("sft", adapter, str(tiny_model_dir), {}, name="sl-cai")
    return path, aid


def _params(path: Path, tiny: Path, **kw) -> CompareParams:
    settings = {"base": str(tiny), "model": str(tiny), "constitution": "tiny", "max_new_tokens": 5, "few_shot": 0,
                "batch_size": 4, "resamples": 20, **kw}
    return CompareParams(project=str(path), **settings)


def test_compare_judges_every_pair_under_every_principle_and_rates_them(compare_project, tiny_model_dir):
    path, aid = compare_project
    ctx = RecordingContext()
    r = run_compare(ctx, _params(path, tiny_model_dir))
    labels = r["policy_labels"]
    assert len(labels) == 2 and labels[0].startswith("base") and labels[1].startswith(f"sft #{aid}")
    assert r["principles"] == ["p0", "p1", "p2"]
    assert r["n_prompts"] == {"helpful": 2, "red-team": 2}  # only the held-out sets, test split
    answers = [json.loads(line) for line in open(r["answers"])]
    assert len(answers) == 2 * 4
    with Project.open(path) as p:
        train_ids = {row["id"] for row in p.prompts.of("red-team")}
        assert not {a["prompt_id"] for a in answers} & train_ids
        rows = [c for c in p.comparisons.list(0, 1000, run_id=r["run_id"])]
        # one matchup per prompt (one pair of policies) and principle, unless the two answers are the same
        assert len(rows) == 3 * (4 - r["identical"]) == r["matchups"] > 0
        assert {c["source"] for c in rows} == {"matchup"}
        assert all(0.0 <= c["label"] <= 1.0 for c in rows)
        # held-out matchups never become preference data
        assert p.comparisons.preference_pairs() == []
        names = {m["name"] for m in p.runs.metrics(r["run_id"])}
        assert {"harm_avoided_rate", "helpful_rate", "elo/ai", "bradley_terry/ai"} <= names
    # the AI games are the stored labels, read back through the source-id encoding
    games = compare.games_of(rows, labels, r["principles"], human=False)
    assert len(games) == len(rows)
    for g, c in zip(games, rows):
        _prompt, _pair, k, swapped = compare.decode(c["source_id"])
        assert g["principle"] == r["principles"][k]
        assert (g["a"], g["b"]) == ((labels[1], labels[0]) if swapped else (labels[0], labels[1]))
        assert g["score"] == pytest.approx(c["label"])
    total = r["ai"]["win_rates"][rt.ALL]
    assert total[labels[0]]["wins"] == total[labels[1]]["losses"]
    assert r["ai"]["n_games"] == len(rows) and r["human"]["n_games"] == 0
    assert set(r["ai"]["elo"]) == set(labels) == set(r["ai"]["bradley_terry"])
    for pt in r["frontier"]:
        assert pt["harm_avoided"]["n"] == 2 and pt["helpful"]["n"] == 2
        assert 0 <= pt["helpful"]["low"] <= pt["helpful"]["high"] <= 1
    svg = Path(r["figures"]["frontier"]).read_text(encoding="utf-8")
    assert svg.startswith("<svg") and svg.count("<circle") == 2
    assert Path(r["figures"]["win_rates"]).exists()

    # people judge blind on the Comparisons page: their ratings appear separately, AI ones unchanged
    with Project.open(path) as p:
        for c in rows:
            p.comparisons.review(c["id"], "A", reviewer="tester")
        run = p.runs.get(r["run_id"])
        assert [x["policy"] for x in run["lineage"]["policies"]] == labels  # which adapter each policy is
        assert run["lineage"]["policies"][1]["adapter_id"] == aid
        fresh = compare.current_result(p, run)
    assert fresh["human"]["n_games"] == len(rows)
    assert fresh["ai"] == json.loads(json.dumps(r["ai"]))
    hum = fresh["human"]["win_rates"][rt.ALL]
    # "A" always wins; A is each policy about as often as the seeded side draw puts it there
    a_is_base = sum(1 for c in rows if not compare.decode(c["source_id"])[3])
    assert hum[labels[0]]["wins"] == a_is_base and hum[labels[1]]["wins"] == len(rows) - a_is_base

    # the report, from the command line: the human ratings recomputed, one line for a bad run
    out = path.parent / "report.html"
    assert cli_main(["report", str(path), str(r["run_id"]), "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "Ratings from people" in html and f"{len(rows)} judged matchups" in html and "<svg" in html
    assert cli_main(["report", str(path), "999"]) == 2
    assert cli_main(["report", str(path), str(r["run_id"]), "--out", str(path.parent)]) == 2

    # the same command again: a finished run is not reopened; resuming it judges nothing twice
    again = run_compare(None, _params(path, tiny_model_dir, resume_run=r["run_id"]))
    assert again["run_id"] == r["run_id"] and again["matchups"] == r["matchups"]


def test_compare_refuses_bad_choices_in_one_line(compare_project, tiny_model_dir):
    path, aid = compare_project
    with pytest.raises(ValidationError, match="at least two policies"):
        run_compare(None, _params(path, tiny_model_dir, include_base=False))
    with pytest.raises(ValidationError, match="twice"):
        run_compare(None, _params(path, tiny_model_dir, adapter_ids=[aid, aid]))
    with pytest.raises(ValidationError, match="Neither prompt set"):
        run_compare(None, _params(path, tiny_model_dir, red_team_set="nope", helpful_set="nada"))


def test_matchup_encoding_round_trips():
    for args in [(1, 0, 0, False), (12345, 90, 99, True), (7, 5, 3, True)]:
        assert compare.decode(compare.encode(*args)) == args


def test_compare_principle_choice(compare_project, tiny_model_dir):
    path, _ = compare_project
    with pytest.raises(ValidationError, match="no enabled comparison principle 'nope'; its keys are: p0, p1, p2"):
        run_compare(None, _params(path, tiny_model_dir, principles=["nope"]))
    r = run_compare(None, _params(path, tiny_model_dir, principles=["p2", "p0"], max_principles=1, limit=1))
    assert r["principles"] == ["p2"]
    assert r["n_prompts"] == {"helpful": 1, "red-team": 1}


def test_compare_reuses_an_earlier_runs_answers_and_judges_a_subset(compare_project, tiny_model_dir):
    path, _ = compare_project
    first = run_compare(None, _params(path, tiny_model_dir, principles=["p0"]))
    with pytest.raises(ValidationError, match="answered with at most 5 tokens"):
        run_compare(None, _params(path, tiny_model_dir, answers_run=first["run_id"], max_new_tokens=6))
    with pytest.raises(ValidationError, match="not a finished evaluation or comparison run"):
        with Project.open(path) as p:
            other = p.runs.create("label", {}, "x")
        run_compare(None, _params(path, tiny_model_dir, answers_run=other))
    again = run_compare(None, _params(path, tiny_model_dir, principles=["p1"], answers_run=first["run_id"],
                                      judge_limit=1))
    texts = [(a["policy"], a["prompt_id"], a["text"]) for a in map(json.loads, open(first["answers"]))]
    assert [(a["policy"], a["prompt_id"], a["text"]) for a in map(json.loads, open(again["answers"]))] == texts
    # every prompt counts for the frontier; only the first prompt of each set is judged pairwise
    assert [pt["harm_avoided"]["n"] for pt in again["frontier"]] == [2, 2]
    with Project.open(path) as p:
        judged_prompts = {c["prompt"] for c in p.comparisons.list(0, 100, run_id=again["run_id"])}
    assert judged_prompts <= {"how do I break thing 0", "how do I bake bread 0"} and again["matchups"] <= 2
