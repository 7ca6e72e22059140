"""Win rates, Elo and Bradley–Terry on fixed data, against independent reference computations."""

from __future__ import annotations

import math

import pytest

from cai_desktop.core import ratings as R
from cai_desktop.core.stats import wilson

POLICIES = ["base", "k0", "k25"]


def _games() -> list[dict]:
    """Fixed games: k25 beats base 7 of 10, k0 beats base 6 of 10, k25 beats k0 5 of 8 (soft labels)."""
    g = []
    g += [{"a": "k25", "b": "base", "score": 0.8, "principle": "harm"}] * 7
    g += [{"a": "base", "b": "k25", "score": 0.9, "principle": "help"}] * 3
    g += [{"a": "k0", "b": "base", "score": 0.6, "principle": "harm"}] * 6
    g += [{"a": "k0", "b": "base", "score": 0.3, "principle": "help"}] * 4
    g += [{"a": "k25", "b": "k0", "score": 0.7, "principle": "harm"}] * 5
    g += [{"a": "k0", "b": "k25", "score": 0.55, "principle": "help"}] * 3
    g += [{"a": "k0", "b": "k25", "score": 0.5, "principle": "help"}]  # a tie: left out of n
    return g


def test_win_rates_count_decided_games_with_wilson_intervals():
    w = R.win_rates(_games(), POLICIES)
    assert list(w) == ["harm", "help", R.ALL]
    k25 = w[R.ALL]["k25"]
    # k25: 7 wins over base, 3 losses to base; 5 wins over k0, 3 losses to k0; one tie
    assert (k25["wins"], k25["losses"], k25["ties"], k25["n"]) == (12, 6, 1, 18)
    assert k25["rate"] == pytest.approx(12 / 18)
    assert (k25["low"], k25["high"]) == pytest.approx(wilson(12, 18))
    soft = [0.8] * 7 + [0.1] * 3 + [0.7] * 5 + [0.45] * 3 + [0.5]
    assert k25["mean_score"] == pytest.approx(sum(soft) / len(soft))
    harm = w["harm"]["base"]
    assert (harm["wins"], harm["losses"]) == (0, 13)
    assert w["help"]["base"]["wins"] == 7  # 3 over k25, 4 over k0


def test_win_rates_reject_unknown_policies_and_bad_scores():
    with pytest.raises(ValueError):
        R.win_rates([{"a": "x", "b": "base", "score": 1.0}], POLICIES)
    with pytest.raises(ValueError):
        R.win_rates([{"a": "k0", "b": "base", "score": 1.5}], POLICIES)
    with pytest.raises(ValueError):
        R.win_rates([{"a": "k0", "b": "k0", "score": 1.0}], POLICIES)


def test_elo_sequence_matches_a_hand_computation():
    games = [{"a": "k0", "b": "base", "score": 1.0}, {"a": "base", "b": "k0", "score": 0.25}]
    r = R.elo_sequence(games, ["base", "k0"], k=32)
    # game 1: equal ratings, expected 0.5, k0 gains 16
    k0, base = 1016.0, 984.0
    e_base = 1 / (1 + 10 ** ((k0 - base) / 400))
    base2 = base + 32 * (0.25 - e_base)
    assert r["base"] == pytest.approx(base2)
    assert r["k0"] == pytest.approx(2000 - base2)  # Elo is zero-sum


def test_elo_is_seeded_order_averaged_and_ranks_the_stronger_policy_first():
    a = R.elo(_games(), POLICIES, seed=3, orders=50, resamples=100)
    b = R.elo(_games(), POLICIES, seed=3, orders=50, resamples=100)
    assert a == b
    # soft scores: k25 takes 5.9 of 10 from base and 5.35 of 9 from k0; k0 only 4.8 of 10 from base
    assert a["k25"]["rating"] > a["base"]["rating"] > a["k0"]["rating"]
    bt = R.bradley_terry(_games(), POLICIES, resamples=10)
    assert sorted(POLICIES, key=lambda p: a[p]["rating"]) == sorted(POLICIES, key=lambda p: bt[p]["rating"])
    assert sum(v["rating"] for v in a.values()) == pytest.approx(3000)
    for v in a.values():
        assert v["low"] <= v["rating"] <= v["high"]


def _reference_bt(games: list[dict], policies: list[str], prior: float) -> dict[str, float]:
    """Independent fit: plain gradient ascent on the BT log-likelihood (θ of the first policy fixed at 0)."""
    data = [(g["a"], g["b"], g["score"]) for g in games]
    for i, p in enumerate(policies):
        for q in policies[i + 1:]:
            data.append((p, q, 0.5))  # the prior: a tie of weight `prior` per pair
    weights = [1.0] * len(games) + [prior] * (len(data) - len(games))
    theta = {p: 0.0 for p in policies}
    for _ in range(20000):
        grad = {p: 0.0 for p in policies}
        for (a, b, s), wt in zip(data, weights):
            pa = 1 / (1 + math.exp(theta[b] - theta[a]))
            grad[a] += wt * (s - pa)
            grad[b] -= wt * (s - pa)
        for p in policies[1:]:
            theta[p] += 0.05 * grad[p]
    mean = sum(theta.values()) / len(theta)
    return {p: v - mean for p, v in theta.items()}


@pytest.mark.parametrize("prior", [0.0, 0.5])
def test_bradley_terry_matches_a_brute_force_likelihood_maximisation(prior):
    games = _games()
    ref = _reference_bt(games, POLICIES, prior)
    got = R.bt_strengths(games, POLICIES, prior=prior)
    for p in POLICIES:
        assert got[p] == pytest.approx(ref[p], abs=1e-4)


def test_bradley_terry_stays_finite_when_one_policy_wins_everything():
    games = [{"a": "k25", "b": "base", "score": 1.0, "principle": "harm"}] * 5
    bt = R.bradley_terry(games, ["base", "k25"], resamples=50)
    assert math.isfinite(bt["k25"]["rating"]) and bt["k25"]["rating"] > bt["base"]["rating"]
    # with the prior of half a tie per pair: (5 + 0.25) / (0 + 0.25) = strength ratio 21
    assert bt["k25"]["theta"] - bt["base"]["theta"] == pytest.approx(math.log(21), rel=1e-6)


def test_bradley_terry_interval_contains_the_fit_and_is_seeded():
    a = R.bradley_terry(_games(), POLICIES, resamples=100, seed=1)
    assert a == R.bradley_terry(_games(), POLICIES, resamples=100, seed=1)
    for v in a.values():
        assert v["low"] <= v["rating"] <= v["high"]
    assert sum(v["rating"] for v in a.values()) / 3 == pytest.approx(R.ELO_BASE)


def test_human_scores_and_no_games():
    assert [R.human_score(c) for c in ("A", "B", "tie", "both-bad", None)] == [1.0, 0.0, 0.5, None, None]
    r = R.ratings([], POLICIES, resamples=10)
    assert r["n_games"] == 0
    assert r["win_rates"][R.ALL]["base"]["n"] == 0
    assert r["elo"]["base"]["rating"] == R.ELO_BASE
