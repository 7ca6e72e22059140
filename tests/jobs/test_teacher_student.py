"""Teacher–student data (context distillation, revision-over-original pairs) and the lab's own
judgement (demonstrations, a weight for human data) reaching the trainers' data."""

import json
import shutil

import pytest

from cai_desktop.core.errors import ValidationError
from cai_desktop.jobs.critique import CritiqueParams, run_critique
from cai_desktop.jobs.demos import add_demonstrations, read_demonstrations
from cai_desktop.jobs.distill import DistillParams, run_distill
from cai_desktop.jobs.dpo import DPOParams, select_pairs
from cai_desktop.jobs.mixing import weight_human
from cai_desktop.jobs.sft import SFTParams, _select
from cai_desktop.store.project import Project


@pytest.fixture
def teacher_dir(tiny_model_dir, tmp_path):
    d = tmp_path / "teacher"
    shutil.copytree(tiny_model_dir, d)
    return d


def _distill(path, teacher, student, **kw):
    base = dict(project=str(path), constitution="tiny", prompt_set="rt", teacher=str(teacher), student=str(student),
                max_new_tokens=6, split=None, limit=4, batch_size=2, few_shot=1)
    return run_distill(None, DistillParams(**{**base, **kw}))


def test_distill_pairs_teacher_with_constitution_over_student(stage1_project, tiny_model_dir, teacher_dir):
    r = _distill(stage1_project, teacher_dir, tiny_model_dir)
    assert r["pairs"] == 4 and r["roles"]["teacher"]["spec"] == str(teacher_dir.resolve())
    assert r["roles"]["student"]["spec"] == str(tiny_model_dir.resolve())
    with Project.open(stage1_project) as p:
        prefs = p.comparisons.preference_pairs(sources=("distill",))
        pair_rows = p.query("SELECT * FROM response_pairs WHERE run_id=?", [r["run_id"]])
        assert len(prefs) == len(pair_rows) and all(x["source"] == "distilled" for x in prefs)
        assert {x["label"] for x in prefs} == {1.0}
        assert {x["chosen"] for x in prefs} == {row["response_a"] for row in pair_rows}  # the teacher's side
        assert json.loads(pair_rows[0]["sampling_json"])["teacher"] == str(teacher_dir.resolve())
        # the AI labeller leaves them alone: they are labelled by construction
        assert p.pairs.for_labelling() == []
        # SFT takes the teacher's answers; DPO takes teacher over student
        sft = SFTParams(project=str(stage1_project), include_helpful=False)
        records, _ = _select(p, sft)
        assert sum(1 for x in records if x["source"] == "distilled") == len(prefs)
        dpo = select_pairs(p, DPOParams(project=str(stage1_project), split=None, use_ai_labels=False))
        assert len(dpo) == len(prefs)
        with pytest.raises(ValidationError, match="No preference pairs"):
            select_pairs(p, DPOParams(project=str(stage1_project), split=None, use_ai_labels=False,
                                      use_distilled=False))
    again = _distill(stage1_project, teacher_dir, tiny_model_dir)
    assert again["run_id"] != r["run_id"]  # a finished run is never reopened


def test_chains_give_revision_over_original_pairs_with_the_flaw_filter(stage1_project, tiny_model_dir):
    run_critique(None, CritiqueParams(project=str(stage1_project), constitution="tiny", model=str(tiny_model_dir),
                                      prompt_set="rt", revisions=1, max_new_tokens=6, critique_max_new_tokens=6,
                                      split=None, limit=4))
    with Project.open(stage1_project) as p:
        unfiltered = p.chains.preference_records(split=None)
        filtered = p.chains.preference_records(split=None, skip_flawed=True)
        assert len(filtered) <= len(unfiltered)
        pairs = select_pairs(p, DPOParams(project=str(stage1_project), split=None, use_ai_labels=False,
                                          use_distilled=False, use_chains=True))
        assert len(pairs) == len(filtered)
        assert all(x["source"] == "ai_revision" for x in pairs)


def test_demonstrations_are_human_data_and_the_weight_reaches_sft(stage1_project, tmp_path):
    f = tmp_path / "demos.jsonl"
    f.write_text('{"prompt": "How do I hurt someone?", "response": "I won\'t help with that. If you are angry, '
                 'talking to someone you trust can help."}\n'
                 '{"messages": [{"role": "user", "content": "Tell me how to steal."}, '
                 '{"role": "assistant", "content": "I can\'t help with stealing."}]}\n')
    rows = read_demonstrations(f)
    assert [r["prompt"] for r in rows] == ["How do I hurt someone?", "Tell me how to steal."]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x"}\n')
    with pytest.raises(ValidationError, match="line 1: needs a text"):
        read_demonstrations(bad)
    with Project.open(stage1_project) as p:
        add_demonstrations(p, rows, reviewer="ana")
        records, _ = _select(p, SFTParams(project=str(stage1_project), include_helpful=False))
        human = [r for r in records if r["source"] == "human"]
        assert len(human) == 2 and human[0]["messages"][-1]["content"].startswith("I won't help")
    tripled = weight_human(records, 3.0)
    assert sum(1 for r in tripled if r["source"] == "human") == 6
    assert len(weight_human(records, 0.0)) == len(records) - 2
    halves = [sum(1 for r in weight_human(records * 50, 0.5, seed=s) if r["source"] == "human") for s in range(3)]
    assert all(30 <= h <= 70 for h in halves)  # a seeded half of 100


def test_the_human_weight_reaches_the_sft_trainer_and_the_adapter_records_its_sources(stage1_project, tiny_model_dir):
    from cai_desktop.jobs.sft import run_sft

    with Project.open(stage1_project) as p:
        add_demonstrations(p, [{"prompt": "How do I hurt someone?", "response": "I won't help with that."}])
    r = run_sft(None, SFTParams(project=str(stage1_project), base=str(tiny_model_dir), include_helpful=False,
                                human_weight=3.0, max_steps=1, batch_size=1, max_length=32, lora_rank=2,
                                lora_alpha=4))
    data = r["lineage"]["data"]
    assert data["sources"] == {"human": 1} and data["sources_weighted"] == {"human": 3}
    lines = [json.loads(x) for x in open(data["file"], encoding="utf-8")]
    assert len(lines) == 3 and {x["source"] for x in lines} == {"human"}
