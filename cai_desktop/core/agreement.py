"""Agreement between reviewers, and between reviewers and the AI (plain Python, no numpy).

- ``cohen_kappa(a, b)``: Cohen's κ of two raters over the same items (nominal labels).
- ``fleiss_kappa(units)``: Fleiss' κ; every unit has the same number of ratings.
- ``krippendorff_alpha(units)``: Krippendorff's α, nominal metric; units may have different
  numbers of ratings (units with fewer than two are not pairable and are left out).
- ``human_ai_agreement(p_a, human, share_a)``: how often the AI label's side (p(A) > 0.5 → A) is
  the human choice, and the Pearson correlation of p(A) with the share of human votes for A.

Each figure comes as a ``Stat``: ``value`` (None when undefined, e.g. κ when both raters always
use one label), ``n`` (items used) and a seeded percentile-bootstrap 95 % interval (``low``,
``high``; None when fewer than two bootstrap samples are defined). Values equal scikit-learn's
``cohen_kappa_score`` and the ``krippendorff`` package's ``alpha(level_of_measurement="nominal")``
on the same data (tests/core/test_agreement.py checks both).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

T = TypeVar("T")
N_BOOT = 1000


@dataclass(frozen=True)
class Stat:
    value: float | None
    n: int
    low: float | None = None
    high: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def bootstrap(items: Sequence[T], statistic: Callable[[Sequence[T]], float | None], seed: int = 0,
              n_boot: int = N_BOOT) -> tuple[float | None, float | None]:
    """Percentile bootstrap 95 % interval of ``statistic`` over ``items`` resampled with
    replacement (seeded); resamples where the statistic is undefined are skipped."""
    if len(items) < 2 or n_boot < 1:
        return None, None
    rng = random.Random(seed)
    values = []
    for _ in range(n_boot):
        sample = rng.choices(items, k=len(items))
        v = statistic(sample)
        if v is not None and not math.isnan(v):
            values.append(v)
    if len(values) < 2:
        return None, None
    values.sort()
    return _percentile(values, 0.025), _percentile(values, 0.975)


def _stat(items: Sequence[T], statistic: Callable[[Sequence[T]], float | None], seed: int, n_boot: int) -> Stat:
    value = statistic(items)
    low, high = bootstrap(items, statistic, seed, n_boot) if value is not None else (None, None)
    return Stat(value, len(items), low, high)


# -- Cohen's κ ---------------------------------------------------------------------------------------
def _cohen(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    n = len(pairs)
    if n == 0:
        return None
    po = sum(1 for a, b in pairs if a == b) / n
    ca, cb = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    pe = sum(ca[k] * cb.get(k, 0) for k in ca) / (n * n)
    if pe == 1.0:
        return None  # both raters used one and the same label throughout: κ is 0/0
    return (po - pe) / (1.0 - pe)


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable], seed: int = 0, n_boot: int = N_BOOT) -> Stat:
    """Cohen's κ of two raters' labels on the same items, in the same order."""
    if len(a) != len(b):
        raise ValueError("Cohen's kappa needs the two raters' labels for the same items.")
    return _stat(list(zip(a, b, strict=True)), _cohen, seed, n_boot)


# -- Fleiss' κ ---------------------------------------------------------------------------------------
# Both Fleiss' κ and Krippendorff's α are sums over items, so each item is summarised once (its
# label counts and its own share) and a bootstrap resample only adds summaries up: fast enough for
# a thousand resamples of a few hundred items in plain Python.
def _label_index(units: Sequence[Sequence[Hashable]]) -> dict[Hashable, int]:
    labels: dict[Hashable, int] = {}
    for u in units:
        for x in u:
            labels.setdefault(x, len(labels))
    return labels


def _counts(u: Sequence[Hashable], labels: dict[Hashable, int]) -> tuple[int, ...]:
    c = [0] * len(labels)
    for x in u:
        c[labels[x]] += 1
    return tuple(c)


def _fleiss_summary(units: Sequence[Sequence[Hashable]]) -> list[tuple[float, tuple[int, ...]]]:
    if not units:
        return []
    m = len(units[0])
    if m < 2 or any(len(u) != m for u in units):
        raise ValueError("Fleiss' kappa needs the same number (two or more) of ratings per item.")
    labels = _label_index(units)
    out = []
    for u in units:
        c = _counts(u, labels)
        out.append(((sum(v * v for v in c) - m) / (m * (m - 1)), c))
    return out


def _fleiss_of(summary: Sequence[tuple[float, tuple[int, ...]]]) -> float | None:
    if not summary:
        return None
    n = len(summary)
    p_bar = sum(s[0] for s in summary) / n
    totals = [sum(col) for col in zip(*(s[1] for s in summary), strict=True)]
    all_ratings = sum(totals)
    pe = sum((v / all_ratings) ** 2 for v in totals)
    if pe == 1.0:
        return None
    return (p_bar - pe) / (1.0 - pe)


def fleiss_kappa(units: Sequence[Sequence[Hashable]], seed: int = 0, n_boot: int = N_BOOT) -> Stat:
    """Fleiss' κ: ``units`` is one list of labels per item (the same number per item)."""
    return _stat(_fleiss_summary([list(u) for u in units]), _fleiss_of, seed, n_boot)


# -- Krippendorff's α (nominal) --------------------------------------------------------------------------
def _alpha_summary(units: Sequence[Sequence[Hashable]]) -> list[tuple[float, tuple[int, ...]]]:
    """Per pairable item: its disagreement sum_{c != k} o_ck = (m² - sum n_c²) / (m - 1), and its
    label counts (the item's share of the coincidence matrix's margins)."""
    labels = _label_index(units)
    out = []
    for u in units:
        m = len(u)
        if m < 2:
            continue
        c = _counts(u, labels)
        out.append(((m * m - sum(v * v for v in c)) / (m - 1), c))
    return out


def _alpha_of(summary: Sequence[tuple[float, tuple[int, ...]]]) -> float | None:
    if not summary:
        return None
    d_o = sum(s[0] for s in summary)
    totals = [sum(col) for col in zip(*(s[1] for s in summary), strict=True)]
    n = sum(totals)
    if n <= 1:
        return None
    d_e = n * n - sum(v * v for v in totals)
    if d_e == 0:
        return None  # one label only: α is undefined
    return 1.0 - (n - 1) * d_o / d_e


def krippendorff_alpha(units: Sequence[Sequence[Hashable]], seed: int = 0, n_boot: int = N_BOOT) -> Stat:
    """Krippendorff's α (nominal): ``units`` is one list of the labels given to each item (any
    number of ratings; items with fewer than two are not pairable and left out). ``n`` counts the
    pairable items; the bootstrap resamples items."""
    return _stat(_alpha_summary([list(u) for u in units if len(u) >= 2]), _alpha_of, seed, n_boot)


# -- humans vs the AI ------------------------------------------------------------------------------------
def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    n = len(x)
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx, syy = sum((a - mx) ** 2 for a in x), sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def human_ai_agreement(p_a: Sequence[float], human: Sequence[str], share_a: Sequence[float] | None = None,
                       seed: int = 0, n_boot: int = N_BOOT) -> dict[str, Any]:
    """How often the AI label's side matches the final human choice (A or B), over items whose
    p(A) is not exactly 0.5: ``{value, n, low, high}``; and ``correlation`` (Pearson r of p(A) with
    ``share_a``, the share of human votes for A per item; the choice itself, 1/0, when not given)
    with ``correlation_n``, ``correlation_low``, ``correlation_high``."""
    if share_a is None:
        share_a = [1.0 if h == "A" else 0.0 for h in human]
    rows = [(p, h, s) for p, h, s in zip(p_a, human, share_a, strict=True) if h in ("A", "B") and p is not None]
    sided = [(p, h) for p, h, _ in rows if p != 0.5]
    match = _stat(sided, lambda xs: (sum(1 for p, h in xs if (p > 0.5) == (h == "A")) / len(xs)) if xs else None,
                  seed, n_boot)

    def corr(xs: Sequence[tuple[float, str, float]]) -> float | None:
        return pearson([x[0] for x in xs], [x[2] for x in xs])

    c = _stat(rows, corr, seed, n_boot)
    return {**match.as_dict(), "correlation": c.value, "correlation_n": c.n, "correlation_low": c.low,
            "correlation_high": c.high}
