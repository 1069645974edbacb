"""The offline simulation, with fixed seeds: Thompson sampling finds the best of three arms at a
fraction of the equal split's regret and below epsilon-greedy's, UCB1 beats the equal split,
a contextual bandit's segments find their own best arms, the stopping rule ends a run, and a
seed repeats a run exactly.

The seeds are not picked: every assertion below held for each of seeds 0-19. Over 30 intervals
of 1000 requests, Thompson's regret was 70-91, epsilon-greedy's 129-162, UCB1's 296-380 and the
equal split's 807.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from mlspec.bandit.config import Config
from mlspec.bandit.policy import initial_weights
from mlspec.bandit.simulate import (
    FIXED,
    Result,
    compare,
    fixed_split,
    plot,
    rate_table,
    render_comparison,
    render_table,
    simulate,
    with_algorithm,
)

RATES = {"a": 0.03, "b": 0.05, "c": 0.08}  # c is best; b close enough to be mistaken early
SEEDS = (0, 1, 2)
HORIZON = 30
REQUESTS = 1000  # per interval: ~80 rewards for the best arm at full traffic
ALGORITHMS = ("thompson", "epsilon_greedy", "ucb1")
EQUAL_SPLIT_REGRET = HORIZON * REQUESTS * (0.34 * 0.05 + 0.33 * 0.03)  # 34/33/33, a gets 34


def config(**changes: object) -> Config:
    base = Config(
        namespace="ml-serving",
        virtual_service="fraud-scorer",
        prometheus="http://prometheus:9090",
        algorithm="thompson",
        arms={arm: f"fraud-scorer-{arm}" for arm in RATES},
        successes='sum(increase(rewards_total{arm="$arm"}[5m]))',
        trials='sum(increase(requests_total{arm="$arm"}[5m]))',
        interval_seconds=300,
        exploration_floor=1,
        max_step=25,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def runs() -> dict[int, dict[str, Result]]:
    """Each algorithm and the equal split, per seed, over a fixed horizon (no stopping rule, so
    regrets compare over the same traffic)."""
    return {
        seed: compare(
            config(), RATES, ALGORITHMS, requests=REQUESTS, max_intervals=HORIZON, seed=seed
        )
        for seed in SEEDS
    }


# Thompson sampling against the alternatives


@pytest.mark.parametrize("seed", SEEDS)
def test_thompson_puts_the_best_arm_first(runs: dict, seed: int) -> None:
    thompson = runs[seed]["thompson"]
    assert thompson.leader() == "c"
    assert thompson.weights["default"]["c"] >= 90


@pytest.mark.parametrize("seed", SEEDS)
def test_thompson_regret_is_below_epsilon_greedy(runs: dict, seed: int) -> None:
    assert runs[seed]["epsilon_greedy"].config.epsilon == 0.1
    assert runs[seed]["thompson"].cumulative_regret < runs[seed]["epsilon_greedy"].cumulative_regret


@pytest.mark.parametrize("seed", SEEDS)
def test_thompson_regret_is_far_below_the_equal_split(runs: dict, seed: int) -> None:
    fixed = runs[seed][FIXED].cumulative_regret
    assert fixed == pytest.approx(EQUAL_SPLIT_REGRET)  # expected regret: no draw changes it
    assert runs[seed]["thompson"].cumulative_regret < 0.5 * fixed


@pytest.mark.parametrize("seed", SEEDS)
def test_ucb1_beats_the_equal_split(runs: dict, seed: int) -> None:
    assert runs[seed]["ucb1"].cumulative_regret < runs[seed][FIXED].cumulative_regret


def test_every_run_of_a_seed_sees_the_same_draws(runs: dict) -> None:
    """Interval 1 has the same weights everywhere, so the same requests and rewards."""
    for results in runs.values():
        first = [(r.intervals[0].requests, r.intervals[0].successes) for r in results.values()]
        assert all(f == first[0] for f in first)
        assert sum(first[0][0]["default"].values()) == REQUESTS


def test_the_equal_split_never_moves(runs: dict) -> None:
    fixed = runs[SEEDS[0]][FIXED]
    assert len(fixed.intervals) == HORIZON
    assert all(i.weights["default"] == {"a": 34, "b": 33, "c": 33} for i in fixed.intervals)
    assert not fixed.stops


def test_comparison_table(runs: dict) -> None:
    text = render_comparison(runs[SEEDS[0]], HORIZON)
    lines = text.splitlines()
    assert lines[0] == "regret over 30 intervals (a stopped run keeps its winners at 100%):"
    assert [line.split()[0] for line in lines[1:]] == [*ALGORITHMS, "fixed"]
    assert lines[1].endswith("no stop in 30 intervals; leaders default=c")
    assert lines[-1].endswith("807.0  the initial weights throughout")


# The stopping rule


@pytest.mark.parametrize("seed", SEEDS)
def test_the_stopping_rule_ends_the_run_with_the_winner(seed: int) -> None:
    stopping = config(exploration_floor=5, stop_p_best=0.95)
    result = simulate(stopping, RATES, requests=200, max_intervals=60, seed=seed)
    stop = result.stops["default"]
    assert stop.winner == "c"
    assert stop.reason.startswith("P(best) ") and stop.reason.endswith(">= 0.95")
    assert len(result.intervals) == stop.interval < 60  # the run ends with the stop
    assert result.weights == {"default": {"a": 0, "b": 0, "c": 100}}
    # The winner keeps all traffic: extending the run costs nothing more.
    assert result.regret_over(60) == result.cumulative_regret


def test_the_maximum_duration_ends_the_run() -> None:
    limited = config(stop_max_duration_seconds=5 * 300)
    result = simulate(limited, RATES, requests=100, max_intervals=60, seed=0)
    assert len(result.intervals) == 5
    assert result.stops["default"].reason.startswith("maximum duration reached; P(best)")


def test_an_unstopped_run_cannot_be_extended(runs: dict) -> None:
    thompson = runs[SEEDS[0]]["thompson"]
    assert thompson.regret_over(10) == thompson.intervals[9].cumulative_regret
    with pytest.raises(ValueError, match="unstopped"):
        thompson.regret_over(HORIZON + 1)


# Contextual bandits

SEGMENT_RATES = {"eu": {"a": 0.03, "b": 0.05, "c": 0.09}, "us": {"a": 0.09, "b": 0.05, "c": 0.03}}


def contextual(**changes: object) -> Config:
    given = {
        "context_header": "x-region",
        "segments": ("eu", "us"),
        "exploration_floor": 5,
        "stop_p_best": 0.95,
        "stop_max_duration_seconds": 8 * 300,  # the default route's pooled evidence may tie
    }
    return config(**{**given, **changes})


@pytest.mark.parametrize("seed", (0, 1))
def test_each_segment_finds_its_own_best_arm(seed: int) -> None:
    result = simulate(contextual(), SEGMENT_RATES, requests=500, max_intervals=20, seed=seed)
    assert result.routes == ("eu", "us", "default")
    assert result.stops["eu"].winner == "c"
    assert result.stops["us"].winner == "a"
    assert result.stops["eu"].reason.startswith("P(best)")
    assert result.stops["us"].reason.startswith("P(best)")


def test_the_default_route_draws_from_the_mean_segment_unless_told() -> None:
    table = rate_table(contextual(), SEGMENT_RATES)
    assert table["default"] == pytest.approx({"a": 0.06, "b": 0.05, "c": 0.06})
    own = rate_table(contextual(), {**SEGMENT_RATES, "default": {"a": 0.1, "b": 0.2, "c": 0.3}})
    assert own["default"] == {"a": 0.1, "b": 0.2, "c": 0.3}


def test_requests_per_route() -> None:
    traffic = {"eu": 300, "us": 200, "default": 0}
    result = fixed_split(contextual(), SEGMENT_RATES, requests=traffic, max_intervals=2, seed=0)
    assert {r: sum(n.values()) for r, n in result.intervals[0].requests.items()} == traffic
    assert result.intervals[0].regret["default"] == 0


# Reproducibility


def test_a_seed_repeats_a_run_exactly() -> None:
    def run(seed: int | None, config_seed: int = 0) -> Result:
        bandit = config(seed=config_seed)
        return simulate(bandit, RATES, requests=100, max_intervals=5, seed=seed)

    first = run(3)
    assert run(3) == first
    assert run(4).intervals != first.intervals
    same = run(None, config_seed=3)  # the config's seed, unless the run names one
    assert (same.seed, same.intervals, same.weights) == (3, first.intervals, first.weights)


# Tables, plots, inputs


def test_render_table() -> None:
    result = simulate(config(stop_p_best=0.95), RATES, requests=200, max_intervals=60, seed=0)
    lines = render_table(result).splitlines()
    assert lines[0] == "thompson: 3 arms; requests per interval: default 200"
    assert lines[1].split() == ["interval", "elapsed", "a", "b", "c", "cum.", "regret"]
    assert lines[2].split()[:5] == ["1", "0:05:00", "34", "33", "33"]
    assert len(lines) == 2 + len(result.intervals) + 2
    stop = result.stops["default"]
    assert lines[-2].startswith(f"winner c at interval {stop.interval} (")
    assert lines[-1] == f"cumulative regret {result.cumulative_regret:.1f}"


def test_render_table_of_a_contextual_run_without_a_stop() -> None:
    result = fixed_split(contextual(), SEGMENT_RATES, requests=100, max_intervals=3, seed=0)
    lines = render_table(result).splitlines()
    assert lines[0] == "fixed split: 3 arms; requests per interval: eu 100, us 100, default 100"
    assert lines[1].split()[2:5] == ["eu:a", "eu:b", "eu:c"]
    assert lines[-4:-1] == [f"{r}: no stop after 3 intervals" for r in ("eu", "us", "default")]


def test_plot_without_matplotlib_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    result = fixed_split(config(), RATES, requests=10, max_intervals=2, seed=0)
    with pytest.raises(ImportError, match=r"pip install 'mlspec-gitops\[plot\]'"):
        plot(result, tmp_path / "weights.png")
    assert not (tmp_path / "weights.png").exists()


def test_initial_weights() -> None:
    assert initial_weights(["c", "b", "a"], floor=5) == {"a": 34, "b": 33, "c": 33}
    seven = initial_weights(list("gfedcba"), floor=14)
    assert seven == {"a": 15, "b": 15, "c": 14, "d": 14, "e": 14, "f": 14, "g": 14}
    with pytest.raises(ValueError, match="exploration floor"):
        initial_weights(list("abcdefg"), floor=15)


def test_another_algorithm_keeps_the_rest_of_the_config() -> None:
    greedy = with_algorithm(config(stop_p_best=0.9), "epsilon_greedy", 0.2)
    assert (greedy.algorithm, greedy.epsilon, greedy.stop_p_best) == ("epsilon_greedy", 0.2, 0.9)
    with pytest.raises(ValueError, match="needs an epsilon"):
        with_algorithm(config(), "epsilon_greedy")


@pytest.mark.parametrize(
    ("bandit", "rates", "message"),
    [
        (config(), {"a": 0.1, "b": 0.1}, "a reward rate for each arm"),
        (config(), {**RATES, "c": 1.5}, "must be in"),
        (contextual(), RATES, "needs {segment: {arm: rate}}"),
        (contextual(), {"eu": RATES}, "needs {segment: {arm: rate}}"),
    ],
)
def test_rates_must_match_the_config(bandit: Config, rates: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}")):
        simulate(bandit, rates, requests=10, max_intervals=1)


def test_requests_must_name_every_route() -> None:
    with pytest.raises(ValueError, match="requests per interval"):
        simulate(contextual(), SEGMENT_RATES, requests={"eu": 10}, max_intervals=1)
