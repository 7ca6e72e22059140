"""The Models page exports the selected adapter as GGUF in a job (the window keeps running)."""

from __future__ import annotations

import pytest

from cai_desktop.ui.main_window import MainWindow
from cai_desktop.ui.widgets.errors import close_error_boxes


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    assert w.create_project(tmp_path / "export.caiproj", sample=False)
    w.show_page("models")
    yield w
    w._force_close = True
    w.runner.shutdown(20000)
    close_error_boxes()


@pytest.fixture(scope="module")
def lora(tiny_model_dir, tmp_path_factory):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)),
                           LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    out = tmp_path_factory.mktemp("lora") / "lora"
    model.save_pretrained(str(out))
    return out


def _select_adapter(page, name):
    root = page.tree.topLevelItem(2)  # "Adapters produced"
    for i in range(root.childCount()):
        item = root.child(i)
        if (item.data(0, 256) or {}).get("name") == name:
            page.tree.setCurrentItem(item)
            return
    raise AssertionError(f"{name} is not listed")


def test_export_gguf_button_submits_a_job_and_refuses_in_one_line(window, monkeypatch, tiny_model_dir, lora, tmp_path):
    from PySide6.QtWidgets import QFileDialog

    from cai_desktop.jobs.gguf_export import KIND, run_gguf_export

    page = window.pages["models"]
    project = window.project
    project.adapters.register("sft", lora, str(tiny_model_dir), {}, name="first sft")
    project.adapters.register("reward", lora, str(tiny_model_dir), {}, name="a reward model")
    page.refresh()
    assert not page.btn_export.isEnabled()
    _select_adapter(page, "a reward model")
    assert not page.btn_export.isEnabled()  # a reward model's adapter is no chat model
    _select_adapter(page, "first sft")
    assert page.btn_export.isEnabled()
    submitted = []
    monkeypatch.setattr(page.runner, "submit", lambda kind, fn, params, name: submitted.append((kind, fn, params)) or 99)
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "other.txt").write_text("kept")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "exports"))
    page.btn_export.click()
    # the export runs on the job queue (never on the GUI thread), into a new folder beside the other file
    [(kind, fn, params)] = submitted
    assert kind == KIND and fn is run_gguf_export
    assert params.out_dir == str(tmp_path / "exports" / "first-sft-gguf") and params.types == ("f16", "q8_0")
    assert not page.btn_export.isEnabled() and "Exporting GGUF files" in page.add_status.text()
    page._on_finished(99, {"folder": params.out_dir})
    assert page.add_status.text() == f"GGUF files written to {params.out_dir} (with an Ollama Modelfile)."
    page.export_job = None
    # a folder that is not empty and has no room: refused in one line, nothing started
    full = tmp_path / "exports" / "first-sft-gguf"
    full.mkdir()
    (full / "x").write_text("")
    shown: list[str] = []
    monkeypatch.setattr("cai_desktop.ui.widgets.errors.show_error", lambda parent, title, text: shown.append(text))
    assert page.export_selected_adapter(str(tmp_path / "exports")) is None
    assert len(submitted) == 1 and shown and "not empty" in shown[0]
