"""core.agreement against independent references on fixed data: scikit-learn's cohen_kappa_score,
the krippendorff package (nominal), a hand-worked Fleiss' κ (Fleiss 1971's table), and the
bootstrap intervals (seeded, containing the estimate)."""

from __future__ import annotations

import random

import pytest

from cai_desktop.core import agreement as ag

krippendorff = pytest.importorskip("krippendorff")
sk_metrics = pytest.importorskip("sklearn.metrics")

RNG = random.Random(7)
A = [RNG.choice(["A", "B", "tie", "both-bad"]) for _ in range(60)]
B = [x if RNG.random() < 0.65 else RNG.choice(["A", "B", "tie", "both-bad"]) for x in A]


def test_cohen_kappa_matches_sklearn():
    st = ag.cohen_kappa(A, B, seed=1, n_boot=300)
    assert st.value == pytest.approx(sk_metrics.cohen_kappa_score(A, B))
    assert st.n == 60 and st.low < st.value < st.high
    assert ag.cohen_kappa(A, B, seed=1, n_boot=300) == st  # seeded
    assert ag.cohen_kappa(["A", "B", "A"], ["A", "B", "A"]).value == pytest.approx(1.0)
    assert ag.cohen_kappa(["A", "A"], ["A", "A"]).value is None  # one label throughout: undefined
    with pytest.raises(ValueError):
        ag.cohen_kappa(["A"], ["A", "B"])


def test_krippendorff_alpha_matches_the_package_with_missing_ratings():
    labels = ["A", "B", "tie"]
    units = [[RNG.choice(labels) for _ in range(RNG.choice([1, 2, 3, 4]))] for _ in range(40)]
    data = [[float("nan")] * len(units) for _ in range(4)]
    for j, u in enumerate(units):
        for i, x in enumerate(u):
            data[i][j] = labels.index(x)
    st = ag.krippendorff_alpha(units, seed=2, n_boot=300)
    assert st.value == pytest.approx(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    assert st.n == sum(1 for u in units if len(u) >= 2) and st.low <= st.value <= st.high
    # two raters, no missing values: also the package's value
    two = [[a, b] for a, b in zip(A, B, strict=True)]
    ref = krippendorff.alpha(reliability_data=[[labels.index(x) if x in labels else 3 for x in A],
                                               [labels.index(x) if x in labels else 3 for x in B]],
                             level_of_measurement="nominal")
    assert ag.krippendorff_alpha(two, n_boot=10).value == pytest.approx(ref)


def test_fleiss_kappa_worked_example():
    # Wikipedia's worked example (10 subjects, 14 raters, 5 categories): kappa = 0.210
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    units = [[c for c, n in enumerate(row) for _ in range(n)] for row in table]
    st = ag.fleiss_kappa(units, seed=0, n_boot=200)
    assert st.value == pytest.approx(0.20993, abs=1e-4) and st.n == 10
    assert st.low < st.value < st.high
    with pytest.raises(ValueError, match="same number"):
        ag.fleiss_kappa([["A", "B"], ["A"]])


def test_human_ai_agreement_and_correlation():
    p_a = [0.9, 0.8, 0.3, 0.2, 0.5, 0.7]
    human = ["A", "B", "B", "B", "A", "tie"]
    share = [1.0, 0.0, 0.0, 0.5, 1.0, 0.5]
    st = ag.human_ai_agreement(p_a, human, share, seed=0, n_boot=200)
    # sided items with an A/B choice: 0.9 A ✓, 0.8 B ✗, 0.3 B ✓, 0.2 B ✓ (0.5 has no side; tie is no A/B)
    assert (st["value"], st["n"]) == (0.75, 4)
    xs, ys = [0.9, 0.8, 0.3, 0.2, 0.5], [1.0, 0.0, 0.0, 0.5, 1.0]
    mx, my = sum(xs) / 5, sum(ys) / 5
    r = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / (
        sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys)) ** 0.5
    assert st["correlation"] == pytest.approx(r) and st["correlation_n"] == 5
