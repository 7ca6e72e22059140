"""Prompt–answer relevance (engine/relevance.py): a tiny random BERT checks the arithmetic; the real
all-MiniLM-L6-v2 (optional package) checks that it tells answers about the question from others."""

import json

import pytest

from cai_desktop.engine import relevance
from cai_desktop.resources import resources_dir

#: the real lookup (tests/conftest.py replaces it with "none installed" for every other test)
REAL_DEFAULT_MODEL_DIR = relevance.default_model_dir


def test_scores_are_cosines_and_an_empty_answer_scores_zero(tiny_bert_dir):
    m = relevance.load_relevance_model(tiny_bert_dir)
    s = m.score(["bake bread at home", "bake bread at home", "fix a bike"], ["bake bread at home", "", "zz qq"])
    assert s[0] == pytest.approx(1.0, abs=1e-5)  # the same text: cosine 1
    assert s[1] == 0.0
    assert -1.0 <= s[2] <= 1.0
    # batching does not change a score
    assert m.score(["fix a bike"], ["zz qq"], batch_size=1)[0] == pytest.approx(s[2], abs=1e-5)
    with pytest.raises(ValueError):
        m.score(["a"], [])


def test_no_model_installed_gives_none(monkeypatch):
    monkeypatch.setattr(relevance.importlib.util, "find_spec", lambda name: None)
    assert REAL_DEFAULT_MODEL_DIR() is None
    assert relevance.load_relevance_model() is None


@pytest.mark.slow
def test_minilm_ranks_answers_about_the_question_above_refusals_and_junk():
    """On the judge's labelled answers: compliant answers are more related to their prompts than
    refusals and off-topic answers (mean cosine; the figures go in the README)."""
    path = REAL_DEFAULT_MODEL_DIR()
    if path is None:
        pytest.skip(f"the optional relevance model is not installed ({relevance.INSTALL_HINT})")
    rows = [json.loads(line) for line in (resources_dir() / "eval" / "judge_labels.jsonl").read_text().splitlines()
            if line.strip()]
    m = relevance.load_relevance_model(path)
    scores = m.score([r["prompt"] for r in rows], [r["response"] for r in rows])
    by: dict[str, list[float]] = {}
    for r, s in zip(rows, scores):
        by.setdefault(r["label"], []).append(s)
    mean = {k: sum(v) / len(v) for k, v in by.items()}
    assert mean["compliance"] > mean["refusal"] + 0.1
    assert mean["compliance"] > mean["off_topic"] + 0.1
