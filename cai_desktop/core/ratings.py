"""Ratings of policies from pairwise judgements: win rates, Elo and Bradley–Terry (plain Python).

A *game* is one judged comparison of two policies' answers to the same prompt:
``{"a": policy, "b": policy, "score": s, "principle": key}`` where ``s`` is the probability (or a
person's verdict: 1, 0 or 0.5 for a tie) that ``a``'s answer is the better one. AI soft labels and
human verdicts are rated separately (the caller passes one kind of game at a time), so the two can
be shown side by side and disagree visibly.

- :func:`win_rates`: per principle (and over all principles), each policy's share of decided
  games that it won (score above one half; exact halves are ties and left out of n), with the
  Wilson 95 % interval of :mod:`cai_desktop.core.stats`, and its mean soft score.
- :func:`elo`: sequential Elo with a fixed K. The result of sequential Elo depends on the order the
  games are played in, so the point estimate is the mean over ``orders`` seeded random orders, and
  the interval is a seeded bootstrap over games (each resample played in a fresh random order).
- :func:`bradley_terry`: the Bradley–Terry maximum-likelihood strengths, found with Hunter's (2004)
  MM iteration on soft wins, with a small prior (``prior`` virtual ties against every other
  policy) so a policy that won every game still has a finite strength; reported on the Elo scale
  (``1000 + 400 * log10(strength)``, centred so the mean is 1000), with a seeded bootstrap interval.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from cai_desktop.core.stats import wilson

#: the label of the row that pools every principle
ALL = "all principles"
ELO_BASE = 1000.0
ELO_SCALE = 400.0


def human_score(choice: str | None) -> float | None:
    """A person's verdict on (A, B) as the score of A: A → 1, B → 0, tie → ½; both-bad and none → None."""
    return {"A": 1.0, "B": 0.0, "tie": 0.5}.get(choice or "")


def _check(games: Sequence[dict[str, Any]], policies: Sequence[str]) -> None:
    known = set(policies)
    for g in games:
        if g["a"] not in known or g["b"] not in known:
            raise ValueError(f"game between unknown policies {g['a']!r} and {g['b']!r}")
        if g["a"] == g["b"]:
            raise ValueError(f"a policy cannot play itself ({g['a']!r})")
        if not 0.0 <= float(g["score"]) <= 1.0:
            raise ValueError(f"a score is a probability in [0, 1], got {g['score']!r}")


def _win_row(games: Sequence[dict[str, Any]], policy: str) -> dict[str, Any]:
    wins = losses = ties = 0
    soft: list[float] = []
    for g in games:
        if policy not in (g["a"], g["b"]):
            continue
        s = float(g["score"]) if g["a"] == policy else 1.0 - float(g["score"])
        soft.append(s)
        if s > 0.5:
            wins += 1
        elif s < 0.5:
            losses += 1
        else:
            ties += 1
    n = wins + losses
    low, high = wilson(wins, n)
    return {"wins": wins, "losses": losses, "ties": ties, "n": n, "rate": wins / n if n else None,
            "low": low, "high": high, "mean_score": sum(soft) / len(soft) if soft else None,
            "games": len(soft)}


def win_rates(games: Sequence[dict[str, Any]], policies: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{principle: {policy: {"wins", "losses", "ties", "n", "rate", "low", "high", "mean_score",
    "games"}}}``, one row per principle in first-seen order and :data:`ALL` last."""
    _check(games, policies)
    principles: list[str] = []
    for g in games:
        p = g.get("principle") or "?"
        if p not in principles:
            principles.append(p)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for p in principles:
        sub = [g for g in games if (g.get("principle") or "?") == p]
        out[p] = {pol: _win_row(sub, pol) for pol in policies}
    out[ALL] = {pol: _win_row(games, pol) for pol in policies}
    return out


def expected(r_a: float, r_b: float) -> float:
    """Elo's expected score of A against B."""
    return 1.0 / (1.0 + 10.0 ** ((r_b - r_a) / ELO_SCALE))


def elo_sequence(games: Sequence[dict[str, Any]], policies: Sequence[str], k: float = 16.0,
                 start: float = ELO_BASE) -> dict[str, float]:
    """Sequential Elo over ``games`` in the given order (each game moves both ratings by K·(s − E))."""
    r = {p: float(start) for p in policies}
    for g in games:
        a, b, s = g["a"], g["b"], float(g["score"])
        e = expected(r[a], r[b])
        r[a] += k * (s - e)
        r[b] -= k * (s - e)
    return r


def _percentiles(samples: list[float], level: float) -> tuple[float, float]:
    if not samples:
        return math.nan, math.nan
    s = sorted(samples)
    lo = int(math.floor((1 - level) / 2 * len(s)))
    hi = min(len(s) - 1, int(math.ceil((1 + level) / 2 * len(s))) - 1)
    return s[lo], s[hi]


def elo(games: Sequence[dict[str, Any]], policies: Sequence[str], *, k: float = 16.0, orders: int = 100,
        resamples: int = 200, level: float = 0.95, seed: int = 0) -> dict[str, dict[str, float]]:
    """``{policy: {"rating", "low", "high"}}``: order-averaged sequential Elo with a bootstrap interval."""
    _check(games, policies)
    games = list(games)
    rng = random.Random(seed)
    sums = {p: 0.0 for p in policies}
    for _ in range(max(1, orders)):
        order = games[:]
        rng.shuffle(order)
        for p, v in elo_sequence(order, policies, k).items():
            sums[p] += v
    point = {p: sums[p] / max(1, orders) for p in policies}
    boot: dict[str, list[float]] = {p: [] for p in policies}
    if games:
        for _ in range(resamples):
            sample = [games[rng.randrange(len(games))] for _ in games]
            for p, v in elo_sequence(sample, policies, k).items():
                boot[p].append(v)
    out = {}
    for p in policies:
        low, high = _percentiles(boot[p], level) if games else (point[p], point[p])
        out[p] = {"rating": point[p], "low": low, "high": high}
    return out


def bt_strengths(games: Sequence[dict[str, Any]], policies: Sequence[str], *, prior: float = 0.5,
                 iterations: int = 10000, tol: float = 1e-10) -> dict[str, float]:
    """Bradley–Terry log-strengths θ (mean 0) maximising ``Σ s·log σ(θa−θb) + (1−s)·log σ(θb−θa)``
    plus ``prior`` virtual ties with every other policy, by Hunter's MM iteration."""
    idx = {p: i for i, p in enumerate(policies)}
    m = len(policies)
    wins = [[0.0] * m for _ in range(m)]  # wins[i][j]: soft wins of i over j
    for g in games:
        i, j, s = idx[g["a"]], idx[g["b"]], float(g["score"])
        wins[i][j] += s
        wins[j][i] += 1.0 - s
    for i in range(m):
        for j in range(m):
            if i != j:
                wins[i][j] += prior / 2
    n = [[wins[i][j] + wins[j][i] for j in range(m)] for i in range(m)]
    w = [sum(row) for row in wins]
    p = [1.0] * m
    for _ in range(iterations):
        new = []
        for i in range(m):
            denom = sum(n[i][j] / (p[i] + p[j]) for j in range(m) if j != i and n[i][j] > 0)
            new.append(w[i] / denom if denom > 0 and w[i] > 0 else p[i])
        g_mean = math.exp(sum(math.log(max(x, 1e-300)) for x in new) / m) if m else 1.0
        new = [x / g_mean for x in new]
        delta = max((abs(math.log(max(a, 1e-300)) - math.log(max(b, 1e-300))) for a, b in zip(new, p)), default=0.0)
        p = new
        if delta < tol:
            break
    return {pol: math.log(max(p[idx[pol]], 1e-300)) for pol in policies}


def to_elo_scale(theta: float) -> float:
    """A Bradley–Terry log-strength on the Elo scale (the same 400-point / factor-10 convention)."""
    return ELO_BASE + ELO_SCALE * theta / math.log(10.0)


def bradley_terry(games: Sequence[dict[str, Any]], policies: Sequence[str], *, prior: float = 0.5,
                  resamples: int = 200, level: float = 0.95, seed: int = 0) -> dict[str, dict[str, float]]:
    """``{policy: {"theta", "rating", "low", "high"}}``: the Bradley–Terry fit on the Elo scale with a
    seeded bootstrap interval over games."""
    _check(games, policies)
    games = list(games)
    theta = bt_strengths(games, policies, prior=prior)
    rng = random.Random(seed)
    boot: dict[str, list[float]] = {p: [] for p in policies}
    if games:
        for _ in range(resamples):
            sample = [games[rng.randrange(len(games))] for _ in games]
            for p, v in bt_strengths(sample, policies, prior=prior, iterations=2000, tol=1e-8).items():
                boot[p].append(to_elo_scale(v))
    out = {}
    for p in policies:
        rating = to_elo_scale(theta[p])
        low, high = _percentiles(boot[p], level) if games else (rating, rating)
        out[p] = {"theta": theta[p], "rating": rating, "low": low, "high": high}
    return out


def ratings(games: Sequence[dict[str, Any]], policies: Sequence[str], *, seed: int = 0,
            resamples: int = 200) -> dict[str, Any]:
    """Everything for one kind of judgement: ``{"n_games", "win_rates", "elo", "bradley_terry"}``."""
    return {"n_games": len(games), "win_rates": win_rates(games, policies),
            "elo": elo(games, policies, seed=seed, resamples=resamples),
            "bradley_terry": bradley_terry(games, policies, seed=seed, resamples=resamples)}
