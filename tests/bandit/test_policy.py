"""The bandit's pure decisions: P(best), each algorithm's target shares, whole-percent weights
within the floor and step limit (property-tested), the stopping rule, and seeded generators."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.bandit import weight_cases

from mlspec.bandit.policy import Stats, interval_rng, p_best, target_shares, weights, winner

EVEN = {"a": Stats(50, 1000), "b": Stats(50, 1000), "c": Stats(50, 1000)}
APART = {"a": Stats(40, 1000), "b": Stats(50, 1000), "c": Stats(90, 1000)}


def rng(seed: int = 0) -> random.Random:
    return random.Random(seed)


# P(best)


@pytest.mark.parametrize("stats", [EVEN, APART, {"a": Stats(), "b": Stats(3, 4)}])
def test_p_best_is_a_distribution(stats: dict[str, Stats]) -> None:
    probabilities = p_best(stats, rng())
    assert set(probabilities) == set(stats)
    assert all(0 <= p <= 1 for p in probabilities.values())
    assert math.isclose(sum(probabilities.values()), 1.0)


def test_p_best_favours_the_better_arm() -> None:
    probabilities = p_best(APART, rng())
    assert probabilities["c"] > 0.99
    close = p_best({"a": Stats(45, 1000), "b": Stats(55, 1000)}, rng())
    assert 0.5 < close["b"] < 0.99  # better, not yet certain


def test_p_best_splits_evenly_without_a_difference() -> None:
    assert all(abs(p - 1 / 3) < 0.04 for p in p_best(EVEN, rng()).values())


def test_p_best_is_seeded() -> None:
    stats = {"a": Stats(45, 1000), "b": Stats(55, 1000)}
    assert p_best(stats, rng(7)) == p_best(stats, rng(7))
    assert p_best(stats, rng(7), draws=10) != p_best(stats, rng(8), draws=10)


# Target shares


@pytest.mark.parametrize("algorithm", ["thompson", "epsilon_greedy", "ucb1"])
@pytest.mark.parametrize("stats", [EVEN, APART, dict.fromkeys("abc", Stats())])
def test_target_shares_sum_to_one(algorithm: str, stats: dict[str, Stats]) -> None:
    shares = target_shares(algorithm, stats, rng(), epsilon=0.1)  # type: ignore[arg-type]
    assert set(shares) == set(stats)
    assert all(share >= 0 for share in shares.values())
    assert math.isclose(sum(shares.values()), 1.0)


def test_thompson_shares_are_the_probability_each_arm_is_best() -> None:
    assert target_shares("thompson", APART, rng(3)) == p_best(APART, rng(3))


def test_epsilon_greedy_gives_the_best_mean_all_but_epsilon() -> None:
    shares = target_shares("epsilon_greedy", APART, rng(), epsilon=0.3)
    assert shares == pytest.approx({"a": 0.1, "b": 0.1, "c": 0.8})


def test_epsilon_greedy_breaks_ties_by_evidence_then_name() -> None:
    tied = {"a": Stats(1, 2), "b": Stats(5, 10), "c": Stats(5, 10)}  # one mean, (1+S)/(2+T)
    shares = target_shares("epsilon_greedy", tied, rng(), epsilon=0.0)
    assert shares == {"a": 0.0, "b": 0.0, "c": 1.0}


def test_ucb1_plays_every_untried_arm_first() -> None:
    stats = {"a": Stats(90, 100), "b": Stats(), "c": Stats()}
    assert target_shares("ucb1", stats, rng()) == {"a": 0.0, "b": 0.5, "c": 0.5}


def test_ucb1_picks_the_highest_index() -> None:
    assert target_shares("ucb1", APART, rng()) == {"a": 0.0, "b": 0.0, "c": 1.0}
    # An arm with little evidence earns an exploration bonus above a better-known, better mean.
    stats = {"a": Stats(60, 1000), "b": Stats(1, 20)}
    assert target_shares("ucb1", stats, rng()) == {"a": 0.0, "b": 1.0}


def test_ucb1_takes_fractional_counts_below_one() -> None:
    # Prometheus increase() extrapolates: an early interval can report 0.3 trials.
    stats = {"a": Stats(0.1, 0.3), "b": Stats(0.2, 0.4)}
    assert target_shares("ucb1", stats, rng()) == {"a": 0.0, "b": 1.0}


# Weights: examples


def test_weights_reach_the_target_when_the_limits_allow() -> None:
    current = {"a": 34, "b": 33, "c": 33}
    target = {"a": 0.30, "b": 0.35, "c": 0.35}
    assert weights(target, current, floor=5, max_step=10) == {"a": 30, "b": 35, "c": 35}


def test_weights_move_at_most_the_step_limit() -> None:
    current = {"a": 34, "b": 33, "c": 33}
    out = weights({"a": 0.0, "b": 0.0, "c": 1.0}, current, floor=5, max_step=10)
    assert out == {"a": 29, "b": 28, "c": 43}  # c gains 10, the others give 5 each


def test_weights_keep_the_floor() -> None:
    current = {"a": 6, "b": 6, "c": 88}
    out = weights({"a": 0.0, "b": 0.0, "c": 1.0}, current, floor=5, max_step=10)
    assert out == {"a": 5, "b": 5, "c": 90}


def test_a_zeroed_arm_gets_nothing_at_once() -> None:
    current = {"a": 30, "b": 35, "c": 35}
    out = weights({"a": 0.8, "b": 0.1, "c": 0.1}, current, floor=5, max_step=5, zeroed={"a"})
    assert out["a"] == 0
    assert sum(out.values()) == 100


def test_the_step_limit_widens_evenly_to_place_a_zeroed_arms_traffic() -> None:
    # a's 50 points must go somewhere: b and c may each rise 25, not the 5 the limit allows.
    current = {"a": 50, "b": 25, "c": 25}
    out = weights({"a": 0.0, "b": 1.0, "c": 0.0}, current, floor=5, max_step=5, zeroed={"a"})
    assert out == {"a": 0, "b": 50, "c": 50}


def test_the_step_limit_widens_evenly_downwards_when_floors_lift_arms() -> None:
    # a (new, or back from zero) is lifted to the floor at once: b and c give its 10 points, 5
    # each, although the step limit is 2 and the target would move c down and b up.
    current = {"a": 0, "b": 45, "c": 55}
    out = weights({"a": 0.0, "b": 1.0, "c": 0.0}, current, floor=10, max_step=2)
    assert out == {"a": 10, "b": 40, "c": 50}


def test_weights_need_a_live_arm() -> None:
    with pytest.raises(ValueError, match="every arm breached"):
        weights({"a": 1.0}, {"a": 100}, floor=5, max_step=5, zeroed=frozenset({"a"}))


# Weights: properties


def _widening(
    bounds: dict[str, int], enough: Callable[[int], bool], move: Callable[[int, int], int]
) -> int:
    """The least whole number of points every bound must move by to admit a total of 100."""
    return next(w for w in range(101) if enough(sum(move(b, w) for b in bounds.values())))


@settings(max_examples=300, deadline=None)
@given(weight_cases())
def test_weights_invariants(case: tuple) -> None:
    target, current, floor, max_step, zeroed = case
    out = weights(target, current, floor=floor, max_step=max_step, zeroed=zeroed)
    live = [a for a in target if a not in zeroed]
    assert set(out) == set(target)
    assert sum(out.values()) == 100
    assert all(out[a] == 0 for a in zeroed)
    assert all(out[a] >= floor for a in live)
    assert out == weights(target, current, floor=floor, max_step=max_step, zeroed=zeroed)

    # The step limit, as the floor and 100 bound it...
    low = {a: max(floor, current[a] - max_step) for a in live}
    high = {a: max(min(100, current[a] + max_step), low[a]) for a in live}
    # ... gives way only when these bounds cannot add up to 100, and then evenly, just enough.
    up = _widening(high, lambda s: s >= 100, lambda b, w: min(100, b + w))
    down = _widening(low, lambda s: s <= 100, lambda b, w: max(floor, b - w))
    for a in live:
        assert max(floor, low[a] - down) <= out[a] <= min(100, high[a] + up), a
    feasible = sum(low.values()) <= 100 <= sum(high.values())
    if feasible and all(current[a] >= floor - max_step for a in live):
        assert all(abs(out[a] - current[a]) <= max_step for a in live)


@settings(max_examples=150, deadline=None)
@given(weight_cases(), st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=200))
def test_weights_follow_a_reachable_target_exactly(case: tuple, moves: list) -> None:
    _, current, floor, max_step, _ = case
    arms = sorted(current)
    if any(current[a] < floor for a in arms):
        return  # a lifted arm moves the others: not every target is reachable
    target = dict(current)  # moved point by point, staying within the floor and step limit
    for i, j in moves:
        give, take = arms[i % len(arms)], arms[j % len(arms)]
        can_give = target[give] - 1 >= max(floor, current[give] - max_step)
        if give != take and can_give and target[take] + 1 <= current[take] + max_step:
            target[give] -= 1
            target[take] += 1
    shares = {a: w / 100 for a, w in target.items()}
    assert weights(shares, current, floor=floor, max_step=max_step) == target


# The stopping rule


def test_winner_when_p_best_passes_the_threshold() -> None:
    won = winner(APART, rng(), p_best_threshold=0.95, elapsed_seconds=0, max_duration_seconds=None)
    assert won is not None
    assert won[0] == "c"
    assert won[1].startswith("P(best) ") and won[1].endswith(">= 0.95")


def test_no_winner_below_the_threshold_before_the_maximum_duration() -> None:
    close = {"a": Stats(45, 1000), "b": Stats(55, 1000)}
    assert (
        winner(close, rng(), p_best_threshold=0.99, elapsed_seconds=599, max_duration_seconds=600)
        is None
    )
    assert (
        winner(EVEN, rng(), p_best_threshold=None, elapsed_seconds=10**6, max_duration_seconds=None)
        is None
    )


def test_winner_at_the_maximum_duration_is_the_likeliest_best() -> None:
    close = {"a": Stats(45, 1000), "b": Stats(55, 1000)}
    won = winner(close, rng(), p_best_threshold=0.99, elapsed_seconds=600, max_duration_seconds=600)
    assert won is not None
    assert won[0] == "b"
    assert won[1].startswith("maximum duration reached")


def test_the_last_live_arm_wins() -> None:
    won = winner(
        EVEN,
        rng(),
        p_best_threshold=None,
        elapsed_seconds=0,
        max_duration_seconds=None,
        zeroed=frozenset({"a", "b"}),
    )
    assert won == ("c", "every other arm breached a guardrail")


def test_a_zeroed_arm_cannot_win() -> None:
    stats = {"a": Stats(30, 1000), "b": Stats(60, 1000), "c": Stats(90, 1000)}
    won = winner(
        stats,
        rng(),
        p_best_threshold=0.95,
        elapsed_seconds=0,
        max_duration_seconds=None,
        zeroed=frozenset({"c"}),
    )
    assert won is not None
    assert won[0] == "b"


# Seeded generators


def test_interval_rng_repeats_per_seed_interval_and_segment() -> None:
    draws = [interval_rng(7, 3, "eu").random() for _ in range(2)]
    assert draws[0] == draws[1]
    others = {
        interval_rng(8, 3, "eu").random(),
        interval_rng(7, 4, "eu").random(),
        interval_rng(7, 3, "us").random(),
    }
    assert draws[0] not in others
    assert len(others) == 3


def test_interval_rng_survives_a_new_process() -> None:
    """A restarted controller is a new interpreter, whose string hashing is salted afresh."""
    code = "from mlspec.bandit.policy import interval_rng; print(interval_rng(7, 3, 'eu').random())"
    seen = set()
    for salt in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": salt}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        seen.add(float(out.stdout))
    assert seen == {interval_rng(7, 3, "eu").random()}
