"""GGUF export: base + adapter -> f16 and q8_0 files transformers (and so llama.cpp's format) reads back."""

from __future__ import annotations

import json

import pytest

from cai_desktop.core.errors import ModelError, ValidationError

PROMPTS = ["How do I bake bread?", "Which of these responses is less harmful?", "privacy fraud weapons"]


def _greedy(model, tokenizer, prompts):
    import torch

    outs = []
    for p in prompts:
        text = tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                             add_generation_prompt=True)
        ids = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        outs.append(out[0, ids["input_ids"].shape[1]:].tolist())
    return outs


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir, tmp_path_factory):
    """A LoRA adapter on the tiny model with non-zero weights (so merging changes the answers)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj",
                                                                                      "o_proj", "up_proj"]))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    out = tmp_path_factory.mktemp("adapter") / "lora"
    peft_model.save_pretrained(str(out))
    return out


@pytest.mark.slow
def test_exported_gguf_loads_back_and_answers_like_the_merged_model(tiny_model_dir, adapter_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cai_desktop.engine.gguf_export import export_gguf

    r = export_gguf(str(tiny_model_dir), adapter_dir, tmp_path / "gguf", "tiny llama")
    f16, q8 = r["files"]["f16"], r["files"]["q8_0"]
    folder = tmp_path / "gguf"
    assert sorted(p.name for p in folder.iterdir()) == ["Modelfile", "tiny-llama-f16.gguf", "tiny-llama-q8_0.gguf"]
    modelfile = (folder / "Modelfile").read_text()
    assert modelfile.startswith("FROM ./tiny-llama-q8_0.gguf\n") and 'PARAMETER stop "<|im_end|>"' in modelfile
    assert "<|im_start|>{{ .Role }}" in modelfile

    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload().eval()
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    expected = _greedy(merged, tok, PROMPTS)

    loaded = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=f16.split("/")[-1],
                                                  dtype=torch.float32).eval()
    gtok = AutoTokenizer.from_pretrained(str(folder), gguf_file=f16.split("/")[-1])
    assert gtok.chat_template == tok.chat_template
    text = tok.apply_chat_template([{"role": "user", "content": PROMPTS[0]}], tokenize=False, add_generation_prompt=True)
    assert gtok(text)["input_ids"] == tok(text)["input_ids"]  # the same tokens from the file's vocabulary
    assert _greedy(loaded, tok, PROMPTS) == expected
    # the merged weights themselves (f16 rounding only), the un-permuted Q/K included
    ref = merged.state_dict()
    for name, t in loaded.state_dict().items():
        if name in ref:
            assert torch.allclose(t, ref[name], atol=2e-2, rtol=1e-2), name

    q = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=q8.split("/")[-1], dtype=torch.float32).eval()
    logits_q = q(**tok(text, return_tensors="pt")).logits
    logits_m = merged(**tok(text, return_tensors="pt")).logits
    assert logits_q.shape == logits_m.shape
    assert torch.corrcoef(torch.stack([logits_q.flatten(), logits_m.flatten()]))[0, 1] > 0.99


def test_export_refuses_what_it_cannot_write(tiny_model_dir, tmp_path):
    from cai_desktop.engine.gguf_export import export_model_dir, tensor_name

    with pytest.raises(ValidationError, match="choose among f16, q8_0"):
        export_model_dir(tiny_model_dir, tmp_path / "x", "m", ("q4_k",))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a").write_text("")
    with pytest.raises(ValidationError, match="not empty"):
        export_model_dir(tiny_model_dir, tmp_path / "full", "m")
    other = tmp_path / "gemma"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"architectures": ["Gemma3ForCausalLM"]}))
    with pytest.raises(ModelError, match="Gemma3ForCausalLM is not supported yet"):
        export_model_dir(other, tmp_path / "y", "m")
    assert not (tmp_path / "y").exists() and not (tmp_path / "y.partial").exists()
    assert tensor_name("model.layers.3.mlp.down_proj.weight") == "blk.3.ffn_down.weight"
    assert tensor_name("model.layers.0.self_attn.k_proj.weight") == "blk.0.attn_k.weight"


def _project_with_adapter(path, base, adapter):
    from cai_desktop.store.project import Project

    with Project.create(path) as project:
        return project.adapters.register("sft", adapter, str(base), {}, name="my sft")


@pytest.mark.slow
def test_cli_adapter_export_gguf(tiny_model_dir, adapter_dir, tmp_path, capsys):
    from cai_desktop.cli import main

    aid = _project_with_adapter(tmp_path / "p.caiproj", tiny_model_dir, adapter_dir)
    out = tmp_path / "out"
    assert main(["adapter", "export", str(tmp_path / "p.caiproj"), str(aid), str(out), "--format", "gguf",
                 "--types", "q8_0"]) == 0
    printed = capsys.readouterr().out
    assert f"q8_0: {out / 'my-sft-q8_0.gguf'}" in printed and "Modelfile" in printed
    assert sorted(p.name for p in out.iterdir()) == ["Modelfile", "my-sft-q8_0.gguf"]


def test_cli_adapter_export_refuses_in_one_line(tiny_model_dir, adapter_dir, tmp_path, capsys):
    from cai_desktop.cli import main

    aid = _project_with_adapter(tmp_path / "p.caiproj", tiny_model_dir, adapter_dir)
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("")
    assert main(["adapter", "export", str(tmp_path / "p.caiproj"), str(aid), str(full)]) == 2
    err = capsys.readouterr().err
    assert "not empty; choose a new folder" in err and "Traceback" not in err
    assert main(["adapter", "export", str(tmp_path / "p.caiproj"), str(aid + 7), str(tmp_path / "n")]) == 2
    assert "There is no adapter" in capsys.readouterr().err
