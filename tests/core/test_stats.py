import math

import pytest

from cai_desktop.core.stats import (
    binomial_two_sided,
    bootstrap_interval,
    mcnemar,
    mcnemar_counts,
    wilson,
)


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    (0, 10, 0.0, 0.2775),    # published Wilson 95 % intervals (e.g. Brown, Cai & DasGupta 2001)
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (81, 263, 0.2553, 0.3662),  # Newcombe (1998), example: 81/263
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_published_values(k, n, low, high):
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(low, abs=5e-5) and hi == pytest.approx(high, abs=5e-5)


def test_wilson_edges():
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(3, 7)
    assert 0 < lo < 3 / 7 < hi < 1
    with pytest.raises(ValueError):
        wilson(5, 3)


def test_exact_mcnemar_known_answers():
    r = mcnemar_counts(10, 2)
    assert (r.b, r.c) == (10, 2)
    assert r.p == pytest.approx(158 / 4096) and round(r.p, 4) == 0.0386
    assert mcnemar_counts(2, 10).p == r.p  # two-sided: symmetric
    assert mcnemar_counts(0, 5).p == pytest.approx(2 / 32)
    assert mcnemar_counts(4, 4).p == 1.0
    assert mcnemar_counts(0, 0).p == 1.0  # no disagreement: no evidence of change
    assert binomial_two_sided(0, 1) == 1.0


def test_mcnemar_from_paired_outcomes():
    first = [True] * 10 + [False] * 2 + [True] * 5 + [False] * 3
    second = [False] * 10 + [True] * 2 + [True] * 5 + [False] * 3
    r = mcnemar(first, second)
    assert (r.b, r.c, r.both, r.neither, r.n) == (10, 2, 5, 3, 20)
    assert r.p == pytest.approx(0.03857, abs=1e-5)
    with pytest.raises(ValueError):
        mcnemar([True], [True, False])


def test_bootstrap_is_seeded_and_brackets_the_mean():
    values = [float(i % 7) for i in range(50)]
    a = bootstrap_interval(values, resamples=500, seed=1)
    assert a == bootstrap_interval(values, resamples=500, seed=1)
    m = sum(values) / len(values)
    assert a[0] < m < a[1]
    assert all(math.isnan(x) for x in bootstrap_interval([]))
