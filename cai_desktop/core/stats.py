"""Small, exact statistics for before/after claims (plain Python, no numpy).

A claim about a model is a measurement (DESIGN.md, convention 13): a rate comes with its n and a
95 % interval, and a change between two policies answering the *same* prompts is tested on the
pairs, not by comparing two independent rates.

- :func:`wilson` — the Wilson score interval for a proportion. Unlike the textbook normal ("Wald")
  interval it stays inside [0, 1] and is not degenerate at 0/n or n/n, which matters at the small
  n of a desktop evaluation (Brown, Cai & DasGupta 2001 recommend it for n < 40 and beyond).
- :func:`mcnemar` — the exact McNemar test: of the prompts where the two policies disagree, ``b``
  went one way and ``c`` the other; under "no change" each disagreement is a fair coin, so the
  two-sided p-value is a binomial tail (no chi-square approximation, so it is right at small b + c).
- :func:`bootstrap_interval` — a seeded percentile bootstrap for any statistic of a sample, for
  quantities with no closed-form interval (a mean length, a paired difference of means).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: the two-sided 95 % normal quantile
Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval ``(low, high)`` for ``successes`` out of ``n`` (95 % by default).

    ``n == 0`` gives ``(0.0, 1.0)``: nothing measured, nothing known.
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low, high = centre - half, centre + half
    # exact ends at 0/n and n/n (the formula gives them up to rounding)
    return (0.0 if successes == 0 else max(0.0, low)), (1.0 if successes == n else min(1.0, high))


@dataclass(frozen=True)
class McNemar:
    """A paired comparison of two policies on the same items.

    ``b``: items where only the *first* policy had the outcome (e.g. base avoided harm, the
    adapter did not); ``c``: only the *second* had it; ``both`` / ``neither``: concordant pairs.
    ``p``: the exact two-sided p-value of "the two policies have the same rate".
    """

    b: int
    c: int
    both: int
    neither: int
    p: float

    @property
    def n(self) -> int:
        return self.b + self.c + self.both + self.neither


def binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p-value of ``k`` successes in ``n`` fair coin flips (doubled smaller tail)."""
    if n == 0:
        return 1.0
    k = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def mcnemar_counts(b: int, c: int, both: int = 0, neither: int = 0) -> McNemar:
    """The exact McNemar test from the discordant counts ``b`` and ``c``."""
    if min(b, c, both, neither) < 0:
        raise ValueError("counts must be non-negative")
    return McNemar(b=b, c=c, both=both, neither=neither, p=binomial_two_sided(b, b + c))


def mcnemar(first: Sequence[bool], second: Sequence[bool]) -> McNemar:
    """The exact McNemar test of two paired outcome lists (``first[i]`` and ``second[i]`` are the
    two policies' outcomes on the same item i)."""
    if len(first) != len(second):
        raise ValueError(f"paired outcomes need equal lengths, got {len(first)} and {len(second)}")
    b = sum(1 for x, y in zip(first, second, strict=True) if x and not y)
    c = sum(1 for x, y in zip(first, second, strict=True) if y and not x)
    both = sum(1 for x, y in zip(first, second, strict=True) if x and y)
    return mcnemar_counts(b, c, both, len(first) - b - c - both)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def bootstrap_interval(
    values: Sequence[float],
    statistic: Callable[[Sequence[float]], float] = mean,
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """A percentile bootstrap interval for ``statistic(values)``; seeded, so repeatable.

    For a paired difference, pass the per-item differences. An empty sample gives ``(nan, nan)``.
    """
    if not values:
        return math.nan, math.nan
    rng = random.Random(seed)
    n = len(values)
    stats = sorted(statistic([values[rng.randrange(n)] for _ in range(n)]) for _ in range(resamples))
    lo_i = int(math.floor((1 - level) / 2 * resamples))
    hi_i = min(resamples - 1, int(math.ceil((1 + level) / 2 * resamples)) - 1)
    return stats[lo_i], stats[hi_i]
