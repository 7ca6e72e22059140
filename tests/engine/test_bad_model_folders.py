"""Damaged model and adapter folders give one ModelError line of ours (issue 16's probe): a folder
with only config.json, an adapter_config.json that is not JSON, a malicious pickle in a .bin."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest

from cai_desktop.core.errors import ModelError
from cai_desktop.engine import models


class _Evil:
    """Unpickling this would create a marker file: proof that code ran."""

    marker: Path

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def evil_pickle(path: Path, marker: Path) -> None:
    evil = _Evil()
    evil.marker = marker
    with open(path, "wb") as fh:
        pickle.dump({"weight": evil}, fh, protocol=2)


def one_line(info) -> str:
    message = str(info.value)
    assert message and "\n" not in message
    return message


def test_a_folder_with_only_config_json(tmp_path, tiny_model_dir):
    only = tmp_path / "only-config"
    only.mkdir()
    shutil.copy(tiny_model_dir / "config.json", only / "config.json")
    for call in (models.check_model, lambda s: models.load_model(s, device="cpu")):
        with pytest.raises(ModelError) as info:
            call(str(only))
        assert one_line(info) == (f"{only} has a config.json but no weights (model.safetensors or "
                                  "pytorch_model.bin): copy the whole model folder, not only its config.")


def test_config_json_that_is_not_json(tmp_path, tiny_model_dir):
    bad = tmp_path / "bad-config"
    shutil.copytree(tiny_model_dir, bad)
    (bad / "config.json").write_text("{oops", encoding="utf-8")
    with pytest.raises(ModelError, match=r"config.json is not valid JSON \(.*line 1\): the model folder is damaged"):
        models.load_model(str(bad), device="cpu")


def test_a_model_folder_without_its_tokenizer(tmp_path, tiny_model_dir):
    bare = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_model_dir, bare)
    for f in bare.glob("tokenizer*"):
        f.unlink()
    with pytest.raises(ModelError) as info:
        models.load_model(str(bare), device="cpu")
    assert "has no tokenizer" in one_line(info)


@pytest.fixture
def adapter_dir(tmp_path, tiny_model_dir) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(tmp_path / "adapter")
    return tmp_path / "adapter"


def test_adapter_config_that_is_not_json(adapter_dir, tiny_model_dir):
    (adapter_dir / "adapter_config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError) as info:
        models.load_model(str(tiny_model_dir), adapter=str(adapter_dir), device="cpu")
    assert one_line(info).startswith(f"{adapter_dir / 'adapter_config.json'} is not valid JSON (")
    assert "the adapter folder is damaged" in str(info.value)
    (adapter_dir / "adapter_config.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ModelError, match="holds no JSON object"):
        models.load_model(str(tiny_model_dir), adapter=str(adapter_dir), device="cpu")


def test_adapter_without_weights(adapter_dir, tiny_model_dir):
    (adapter_dir / "adapter_model.safetensors").unlink()
    with pytest.raises(ModelError, match="no adapter weights"):
        models.load_model(str(tiny_model_dir), adapter=str(adapter_dir), device="cpu")


def test_malicious_pickle_in_an_adapter_bin_is_refused_in_our_words(adapter_dir, tiny_model_dir, tmp_path):
    (adapter_dir / "adapter_model.safetensors").unlink()
    marker = tmp_path / "code-ran"
    evil_pickle(adapter_dir / "adapter_model.bin", marker)
    with pytest.raises(ModelError) as info:
        models.load_model(str(tiny_model_dir), adapter=str(adapter_dir), device="cpu")
    message = one_line(info)
    assert message.startswith(f"Refused to load the adapter at {adapter_dir}: adapter_model.bin holds more than tensors")
    assert "weights_only" not in message and "Unpickling" not in message
    assert not marker.exists()


def test_malicious_pickle_as_model_weights(tmp_path, tiny_model_dir):
    evil = tmp_path / "evil-model"
    shutil.copytree(tiny_model_dir, evil)
    for f in evil.glob("*.safetensors"):
        f.unlink()
    marker = tmp_path / "code-ran"
    evil_pickle(evil / "pytorch_model.bin", marker)
    with pytest.raises(ModelError) as info:
        models.load_model(str(evil), device="cpu")
    assert one_line(info).startswith(f"Refused to load the model at {evil}: pytorch_model.bin holds more than tensors")
    assert "weights_only" not in str(info.value)
    assert not marker.exists()
