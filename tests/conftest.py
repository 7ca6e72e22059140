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
