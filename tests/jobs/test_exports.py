from cai_desktop.jobs.critique import CritiqueParams, run_critique
from cai_desktop.jobs.exports import export_prefs, export_sft
from cai_desktop.store.project import Project


def _fill(path, model):
    common = dict(project=str(path), constitution="tiny", model=str(model), max_new_tokens=8,
                  critique_max_new_tokens=8, split=None, batch_size=8)
    run_critique(None, CritiqueParams(prompt_set="rt", revisions=2, **common))
    run_critique(None, CritiqueParams(prompt_set="help", revisions=0, **common))


def test_sft_and_pref_exports_load_with_datasets(stage1_project, tiny_model_dir, tmp_path):
    from datasets import load_dataset

    _fill(stage1_project, tiny_model_dir)
    n = export_sft(stage1_project, tmp_path / "sft.jsonl", split=None)
    ds = load_dataset("json", data_files=str(tmp_path / "sft.jsonl"), split="train")
    assert len(ds) == n == 7 + 4
    assert ds[0]["messages"][0]["role"] == "user" and ds[0]["messages"][1]["role"] == "assistant"
    every = export_sft(stage1_project, tmp_path / "every.jsonl", mode="every", include_helpful=False, split=None)
    assert every == 14
    m = export_prefs(stage1_project, tmp_path / "prefs.jsonl", split=None)
    prefs = load_dataset("json", data_files=str(tmp_path / "prefs.jsonl"), split="train")
    assert len(prefs) == m > 0 and set(prefs.column_names) == {"prompt", "chosen", "rejected"}


def test_human_edits_win_and_rejected_are_left_out(stage1_project, tiny_model_dir):
    _fill(stage1_project, tiny_model_dir)
    with Project.open(stage1_project) as p:
        chains = p.chains.list(0, 100, prompt_set="rt")
        p.chains.review(chains[0]["id"], "edited", "me", edited_text="HUMAN TEXT")
        p.chains.review(chains[1]["id"], "rejected", "me")
        recs = p.chains.sft_records(include_helpful=False, split=None)
        texts = [r["messages"][1]["content"] for r in recs]
        assert "HUMAN TEXT" in texts and len(recs) == 6
        only = p.chains.sft_records(include_helpful=False, split=None, only_accepted=True)
        assert [r["messages"][1]["content"] for r in only] == ["HUMAN TEXT"]
        capped = p.chains.sft_records(include_helpful=True, helpful_ratio=0.5, split=None)
        assert len(capped) == 6 + 3
