import pytest

from cai_desktop.core.errors import Cancelled, ValidationError
from cai_desktop.jobs.context import RecordingContext
from cai_desktop.jobs.critique import CritiqueParams, run_critique
from cai_desktop.jobs.sft import MergeParams, SFTParams, run_merge, run_sft
from cai_desktop.store.project import Project


@pytest.fixture
def chained(stage1_project, tiny_model_dir):
    common = dict(project=str(stage1_project), constitution="tiny", model=str(tiny_model_dir), max_new_tokens=8,
                  critique_max_new_tokens=8, split=None, batch_size=8)
    run_critique(None, CritiqueParams(prompt_set="rt", revisions=1, **common))
    run_critique(None, CritiqueParams(prompt_set="help", revisions=0, **common))
    return stage1_project


def sft(path, model, **kw):
    base = dict(project=str(path), base=str(model), max_steps=6, batch_size=2, max_length=64, save_steps=2,
                learning_rate=5e-3, rank=4, alpha=8)
    base.update(kw)
    return SFTParams(**base)


def test_sft_trains_records_metrics_and_registers_adapter(chained, tiny_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ctx = RecordingContext()
    r = run_sft(ctx, sft(chained, tiny_model_dir))
    assert r["steps"] == 6 and r["examples"] == 11
    with Project.open(chained) as p:
        names = {m["name"] for m in p.metrics(r["run_id"])}
        assert {"loss", "learning_rate", "grad_norm"} <= names
        assert len(p.metrics(r["run_id"], "loss")) == 6
        adapter = p.list_adapters("sft")[0]
        assert adapter["path"] == r["adapter"]
        assert '"tiny"' in adapter["lineage_json"] and '"examples": 11' in adapter["lineage_json"]
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)), r["adapter"])
    assert any("lora" in n for n, _ in model.named_parameters())


def test_loss_goes_down_on_a_memorisation_task(chained, tiny_model_dir):
    r = run_sft(None, sft(chained, tiny_model_dir, max_steps=30, learning_rate=2e-2, batch_size=4,
                          save_steps=100, include_helpful=False, rank=8, alpha=16))
    assert r["loss_last"] < r["loss_first"]


def test_cancel_keeps_checkpoint_and_resume_continues(chained, tiny_model_dir):
    ctx = RecordingContext(cancel_after_progress=3)
    with pytest.raises(Cancelled):
        run_sft(ctx, sft(chained, tiny_model_dir))
    with Project.open(chained) as p:
        run = p.list_runs("sft")[0]
        assert run["status"] == "cancelled"
        ckpts = sorted((p.artifacts_dir / f"run-{run['id']}" / "checkpoints").glob("checkpoint-*"))
        assert ckpts and (ckpts[-1] / "adapter_model.safetensors").exists()
        cancelled_at = int(ckpts[-1].name.split("-")[1])
        assert 3 <= cancelled_at < 6
    r = run_sft(RecordingContext(), sft(chained, tiny_model_dir, resume_run=run["id"]))
    assert r["run_id"] == run["id"] and r["steps"] == 6
    with Project.open(chained) as p:
        steps = [m["step"] for m in p.metrics(run["id"], "loss")]
        assert max(steps) == 6 and p.run(run["id"])["status"] == "done"


def test_merge_gives_a_loadable_model(chained, tiny_model_dir, tmp_path):
    from cai_desktop.engine.generation import GenerationRequest, SamplingSettings, generate
    from cai_desktop.engine.models import load_model

    r = run_sft(None, sft(chained, tiny_model_dir, max_steps=2))
    out = tmp_path / "merged"
    run_merge(None, MergeParams(str(chained), r["adapter_id"], str(out)))
    lm = load_model(str(out))
    res = generate(lm, [GenerationRequest(messages=[{"role": "user", "content": "hi"}],
                                          sampling=SamplingSettings(temperature=0, max_new_tokens=4))])
    assert res[0].n_new_tokens > 0


def test_no_data_and_bad_settings(stage1_project, tiny_model_dir):
    with pytest.raises(ValidationError, match="rank"):
        run_sft(None, sft(stage1_project, tiny_model_dir, rank=0))
    with pytest.raises(ValidationError, match="No training data"):
        run_sft(None, sft(stage1_project, tiny_model_dir))
