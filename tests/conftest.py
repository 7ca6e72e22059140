import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Tests compare batched with one-at-a-time outputs: keep them on float32 and one thread, whatever
# the CPU offers (tests/engine/test_models.py covers the automatic choice itself).
os.environ.setdefault("CAI_DESKTOP_CPU_DTYPE", "float32")
os.environ.setdefault("CAI_DESKTOP_THREADS", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random Llama chat model folder, shared by the whole session (read-only)."""
    from cai_desktop.engine.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture
def project_path(tmp_path):
    return tmp_path / "p.caiproj"


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    """A tiny random BERT sentence encoder (stands in for all-MiniLM-L6-v2 in relevance tests)."""
    import torch
    from transformers import BertConfig, BertModel

    from cai_desktop.engine.tiny import build_tokenizer

    path = tmp_path_factory.mktemp("tiny-bert") / "bert"
    tok = build_tokenizer()
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)).save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path


@pytest.fixture(autouse=True)
def _no_real_relevance_model(monkeypatch):
    """Hermetic, fast tests: the optional sentence-embedding model (engine/relevance.py) is used only
    where a test puts one in (``tiny_bert_dir``) or asks for the real one."""
    from cai_desktop.engine import relevance

    monkeypatch.setattr(relevance, "default_model_dir", lambda: None)
