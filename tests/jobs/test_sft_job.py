import json
from pathlib import Path

import pytest

from cai_desktop.core.errors import Cancelled, ProjectError, ValidationError
from cai_desktop.jobs.context import RecordingContext
from cai_desktop.jobs.critique import CritiqueParams, run_critique
from cai_desktop.jobs.sft import MergeParams, SFTParams, run_merge, run_sft
from cai_desktop.store.project import Project


def critique(path, model, prompt_set, revisions):
    return run_critique(None, CritiqueParams(
        project=str(path), constitution="tiny", model=str(model), max_new_tokens=8, critique_max_new_tokens=8,
        split=None, batch_size=8, prompt_set=prompt_set, revisions=revisions))


@pytest.fixture
def chained(stage1_project, tiny_model_dir):
    critique(stage1_project, tiny_model_dir, "rt", 1)  # 7 red-team chains
    critique(stage1_project, tiny_model_dir, "help", 0)  # 4 helpful answers
    return stage1_project


def sft(path, model, **kw):
    base = dict(project=str(path), base=str(model), max_steps=6, batch_size=2, max_length=64, save_steps=2,
                learning_rate=5e-3, lora_rank=4, lora_alpha=8)
    base.update(kw)
    return SFTParams(**base)


def test_sft_trains_records_metrics_and_registers_adapter(chained, tiny_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ctx = RecordingContext()
    r = run_sft(ctx, sft(chained, tiny_model_dir))
    assert r["steps"] == 6 and r["examples"] == 11 and r["helpful_examples"] == 4
    assert r["loss_first"] is not None and r["loss_last"] is not None
    with Project.open(chained) as p:
        names = {m["name"] for m in p.runs.metrics(r["run_id"])}
        assert {"loss", "learning_rate", "grad_norm", "tokens_per_s"} <= names
        assert [m["step"] for m in p.runs.metrics(r["run_id"], "loss")] == [1, 2, 3, 4, 5, 6]
        run = p.runs.get(r["run_id"])
        assert run["status"] == "done" and run["result"]["adapter"] == r["adapter"]
        adapter = p.adapters.list("sft")[0]
        crit_run = p.runs.list("critique")[-1]["id"]  # the red-team one (made first)
        assert {m["spec"] for m in p.models.list()} >= {str(Path(tiny_model_dir).resolve())}
    assert adapter["id"] == r["adapter_id"] and adapter["path"] == r["adapter"]
    assert adapter["base_model_spec"] == str(Path(tiny_model_dir).resolve())
    lineage = json.loads(adapter["lineage_json"])
    assert lineage["constitutions"] == [{"name": "tiny", "version": 1, "chains": 7}]
    assert lineage["critique_runs"] == [crit_run]
    assert lineage["data"]["examples"] == 11 and lineage["data"]["mode"] == "final"
    assert lineage["settings"]["lora_rank"] == 4 and lineage["final_loss"] == r["loss_last"]
    assert Path(r["adapter"]).parent == Path(str(chained).replace(".caiproj", "_artifacts")) / f"run-{r['run_id']}"
    data = Path(lineage["data"]["file"]).read_text().splitlines()
    assert len(data) == 11 and json.loads(data[0])["messages"][-1]["role"] == "assistant"
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)), r["adapter"])
    assert any("lora" in n for n, _ in model.named_parameters())


def test_data_selection_helpful_ratio_and_every_round(stage1_project, tiny_model_dir):
    critique(stage1_project, tiny_model_dir, "rt", 2)
    critique(stage1_project, tiny_model_dir, "help", 0)
    r = run_sft(None, sft(stage1_project, tiny_model_dir, helpful_ratio=0.3, max_steps=1, batch_size=1))
    assert (r["examples"], r["helpful_examples"]) == (9, 2)  # 7 final revisions + round(0.3 * 7) helpful
    r = run_sft(None, sft(stage1_project, tiny_model_dir, data_mode="every", include_helpful=False,
                          max_steps=1, batch_size=1))
    assert (r["examples"], r["helpful_examples"]) == (14, 0)  # two revisions per chain


def test_cancel_keeps_checkpoint_and_resume_continues(chained, tiny_model_dir):
    ctx = RecordingContext(cancel_after_progress=3)
    with pytest.raises(Cancelled):
        run_sft(ctx, sft(chained, tiny_model_dir))
    with Project.open(chained) as p:
        run = p.runs.list("sft")[0]
        assert run["status"] == "cancelled"
        ckpts = sorted((p.artifacts_dir / f"run-{run['id']}" / "checkpoints").glob("checkpoint-*"))
        assert ckpts and (ckpts[-1] / "adapter_model.safetensors").exists()
        cancelled_at = int(ckpts[-1].name.split("-")[1])
        assert cancelled_at == 3
        assert not p.adapters.list("sft")
        p.prompts.add_set("help2", "helpful", ["one more helpful prompt"], test_fraction=0.0)
    critique(chained, tiny_model_dir, "help2", 0)  # new data made meanwhile does not shift the resumed run
    # resuming keeps the run's own settings: the max_steps given here is ignored
    r = run_sft(RecordingContext(), sft(chained, tiny_model_dir, max_steps=50, resume_run=run["id"]))
    assert r["run_id"] == run["id"] and r["steps"] == 6 and r["resumed_from_step"] == 3
    assert r["examples"] == 11
    with Project.open(chained) as p:
        steps = [m["step"] for m in p.runs.metrics(run["id"], "loss")]
        assert steps == [1, 2, 3, 4, 5, 6] and p.runs.get(run["id"])["status"] == "done"
        assert len(p.adapters.list("sft")) == 1
    # resuming a finished run again neither retrains nor registers a second adapter
    again = run_sft(None, sft(chained, tiny_model_dir, resume_run=run["id"]))
    assert again["steps"] == 6 and again["adapter_id"] == r["adapter_id"]
    with Project.open(chained) as p:
        assert len(p.adapters.list("sft")) == 1


def test_merge_gives_a_registered_loadable_model(chained, tiny_model_dir, tmp_path):
    from cai_desktop.engine.generation import GenerationRequest, SamplingSettings, generate
    from cai_desktop.engine.models import load_model

    r = run_sft(None, sft(chained, tiny_model_dir, max_steps=2))
    out = tmp_path / "merged"
    m = run_merge(None, MergeParams(str(chained), r["adapter_id"], str(out)))
    assert m["model"] == str(out.resolve())
    lm = load_model(str(out))
    res = generate(lm, [GenerationRequest(messages=[{"role": "user", "content": "hi"}],
                                          sampling=SamplingSettings(temperature=0, max_new_tokens=4))])
    assert res[0].n_new_tokens > 0
    m2 = run_merge(None, str(chained), r["adapter_id"], tmp_path / "merged2")  # the plain call form
    with Project.open(chained) as p:
        models = {x["spec"]: x for x in p.models.list()}
        assert str(out.resolve()) in models and models[m2["model"]]["kind"] == "folder"
        assert json.loads(models[m["model"]]["info_json"])["merged_from_adapter"] == r["adapter_id"]
        merges = p.runs.list("merge")
        assert len(merges) == 2 and {x["status"] for x in merges} == {"done"}
    with pytest.raises(ProjectError, match="no adapter 999"):
        run_merge(None, str(chained), 999, tmp_path / "merged3")


def test_no_data_and_bad_settings(stage1_project, tiny_model_dir):
    with pytest.raises(ValidationError, match="rank"):
        run_sft(None, sft(stage1_project, tiny_model_dir, lora_rank=0))
    with pytest.raises(ValidationError, match="Train on"):
        run_sft(None, sft(stage1_project, tiny_model_dir, data_mode="all"))
    with Project.open(stage1_project) as p:
        assert not p.runs.list()  # bad settings are refused before a run is recorded
    with pytest.raises(ValidationError, match="No training data"):
        run_sft(None, sft(stage1_project, tiny_model_dir))
    with Project.open(stage1_project) as p:
        not_sft = p.runs.create("critique", {})
    with pytest.raises(ProjectError, match="not a Supervised fine-tuning"):
        run_sft(None, sft(stage1_project, tiny_model_dir, resume_run=not_sft))


def test_cli_run_sft_and_adapter_commands(chained, tiny_model_dir, tmp_path, capsys):
    from cai_desktop.cli import main

    proj = str(chained)
    rc = main(["run", "sft", proj, "--base", str(tiny_model_dir), "--max-steps", "2", "--batch-size", "2",
               "--max-length", "64", "--lora-rank", "4", "--lora-alpha", "8", "--no-include-helpful", "--data", "every"])
    out = capsys.readouterr().out
    assert rc == 0 and "2 steps on 7 examples (0 helpful)" in out and "loss: first" in out
    assert "adapter 1:" in out
    assert main(["adapter", "list", proj]) == 0
    listing = capsys.readouterr().out
    assert "sft-run-" in listing and "\tsft\t" in listing
    assert main(["adapter", "merge", proj, "1", str(tmp_path / "merged")]) == 0
    assert "merged model:" in capsys.readouterr().out
    assert (tmp_path / "merged" / "config.json").exists()
    assert main(["run", "sft", proj, "--lora-rank", "0"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "LoRA rank must be between 1 and 1024" in err
