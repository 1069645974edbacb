"""Issue #15: the bandit treated "no data" as healthy. No data is never evidence now.

The controller runs against the local Prometheus and Kubernetes API stand-ins of
tests/support/bandit.py (its `rig`: servers on 127.0.0.1, stopped when each test ends),
whose Prometheus answers an instant query with an empty vector (None), "NaN" or "+Inf" as the
real one formats them. The simulator is checked to make the same decisions.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math

import pytest
from click.testing import CliRunner
from support.bandit import LOGGER, MakeRig
from support.stubs import TESTS, answering

from mlspec.bandit.config import STATE_ANNOTATION, Config, Guardrail
from mlspec.bandit.controller import State
from mlspec.bandit.simulate import render_table, simulate
from mlspec.cli import main

NO_DATA = {"empty vector": None, "NaN": math.nan, "+Inf": math.inf}


def rising(history: list[dict[str, int]], arm: str) -> list[int]:
    """The arm's weights that are above its weight at the start."""
    return [h[arm] for h in history if h[arm] > history[0][arm]]


@pytest.mark.parametrize("answer", NO_DATA.values(), ids=NO_DATA.keys())
def test_a_guardrail_without_data_never_raises_the_arm(
    rig: MakeRig, caplog: pytest.LogCaptureFixture, answer: float | None
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    r = rig(arms=("a", "b", "c"))  # pauses after 3 intervals: not within this test
    r.reward("a", 5, 100)
    r.reward("b", 5, 100)
    r.reward("c", 40, 100)  # by far the best: without the guardrail it would rise at once
    r.error_rate("c", answer)
    history = [r.weights(), *r.intervals(2)]
    assert rising(history, "c") == []
    assert r.state().zeroed == frozenset()  # no data is no breach either
    assert (r.state().no_data, r.state().paused) == ({"c": 2}, False)
    assert "arm c: no data from guardrail error_rate" in caplog.text
    r.error_rate("c", 0.0)  # the guardrail answers again: the evidence counts
    assert r.intervals(1)[0]["c"] > history[-1]["c"]
    assert r.state().no_data == {}


def test_an_arm_without_guardrail_data_does_not_win(rig: MakeRig) -> None:
    r = rig(stop_p_best=0.95)
    r.reward("a", 5, 100)
    r.reward("b", 60, 100)  # P(best) about 1 after one interval
    r.error_rate("b", math.nan)
    history = [r.weights(), *r.intervals(2)]
    assert r.state().stops == {}
    assert rising(history, "b") == []
    r.error_rate("b", 0.01)
    r.intervals(1)
    assert r.state().winner == "b"
    assert r.weights() == {"a": 0, "b": 100}


def test_repeated_no_data_pauses_the_experiment_until_the_data_is_back(
    rig: MakeRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    r = rig(arms=("a", "b", "c"))  # the default: pause after 3 intervals without data
    r.reward("a", 40, 100)
    r.reward("b", 5, 100)
    r.reward("c", 5, 100)
    r.error_rate("c", None)
    history = [r.weights(), *r.intervals(4)]
    assert history[2]["a"] > history[1]["a"] > history[0]["a"]  # a has data: it may rise
    assert history[4] == history[3] == history[2]  # paused from the 3rd interval on
    state = r.state()
    assert (state.paused, state.no_data, state.interval) == (True, {"c": 4}, 4)
    assert "experiment paused: arm(s) c had a guardrail without data" in caplog.text

    r.error_rate("b", 0.5)  # a breach still zeroes an arm while paused
    paused = r.intervals(1)[0]
    assert paused["b"] == 0 and sum(paused.values()) == 100
    assert r.state().zeroed == frozenset({"b"})

    r.error_rate("c", 0.0)
    resumed = r.intervals(1)[0]
    assert resumed["a"] > paused["a"]
    assert (r.state().paused, r.state().no_data) == (False, {})
    assert "experiment resumed" in caplog.text


BAD_REWARDS = {
    "successes: empty vector": (None, 100),
    "trials: empty vector": (40, None),
    "successes: NaN": (math.nan, 100),
    "trials: +Inf": (40, math.inf),
    "negative successes": (-5, 100),
    "negative trials": (40, -100),
    "more successes than trials": (500, 100),
}


@pytest.mark.parametrize(("successes", "trials"), BAD_REWARDS.values(), ids=BAD_REWARDS.keys())
def test_reward_answers_that_are_no_counts_never_raise_the_arm(
    rig: MakeRig, caplog: pytest.LogCaptureFixture, successes: float | None, trials: float | None
) -> None:
    """An arm without evidence looks promising to every algorithm (Thompson's prior mean is
    0.5, UCB1 plays untried arms first): bad numbers must not make it rise either."""
    caplog.set_level(logging.INFO, LOGGER)
    r = rig(arms=("a", "b", "c"))
    r.reward("a", 5, 100)
    r.reward("b", 5, 100)
    c = r.config
    r.prometheus.table[c.query(c.successes, "c", "default")] = successes
    r.prometheus.table[c.query(c.trials, "c", "default")] = trials
    history = [r.weights(), *r.intervals(4)]
    assert rising(history, "c") == []
    assert r.state().stats["default"]["c"].trials == 0  # nothing was counted
    assert "arm c in segment default: no reward data this interval" in caplog.text


NOT_PROMETHEUS = "not a Prometheus query result"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>Sign in</html>", "the answer is not JSON"),
        (b"[]", "the answer is not a JSON object"),
        (b'{"status": "success", "data": {}}', NOT_PROMETHEUS),
        (
            b'{"status": "success", "data": {"resultType": "vector", "result": [{}]}}',
            NOT_PROMETHEUS,
        ),
        (b'{"status": "success", "data": {"resultType": "vector", "result": {}}}', NOT_PROMETHEUS),
        (
            b'{"status": "success", "data": {"resultType": "vector", "result": '
            b'[{"metric": {}, "value": [1, 2]}]}}',  # a number: Prometheus writes strings
            NOT_PROMETHEUS,
        ),
    ],
)
def test_answers_that_are_not_prometheus_stop_the_controller_unpatched(
    rig: MakeRig, monkeypatch: pytest.MonkeyPatch, body: bytes, message: str
) -> None:
    with answering(body) as url:
        r = rig(prometheus=url)
        for name, value in r.environ.items():
            monkeypatch.setenv(name, value)
        command = ["bandit-controller", "--config", str(r.config_path), "--once"]
        result = CliRunner().invoke(main, command)
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("failed: Prometheus query"), result.stderr
    assert message in result.stderr
    assert r.kube.patched == 0


# ---------------------------------------------------------------------------------------------
# The simulator: the same rule, through the same policy.decide


def _config(**changes: object) -> Config:
    base = Config(
        namespace="ml-serving",
        virtual_service="fraud-scorer",
        prometheus="http://prometheus:9090",
        algorithm="thompson",
        arms={arm: f"fraud-scorer-{arm}" for arm in "abc"},
        successes='sum(increase(rewards_total{arm="$arm"}[5m]))',
        trials='sum(increase(requests_total{arm="$arm"}[5m]))',
        interval_seconds=300,
        exploration_floor=5,
        max_step=10,
        guardrails=(Guardrail("error_rate", 'errors{arm="$arm"}', None, 0.05),),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


RATES = {"a": 0.05, "b": 0.05, "c": 0.3}  # c is far better


def test_the_simulator_holds_an_arm_without_data_and_pauses_like_the_controller() -> None:
    run = simulate(
        _config(), RATES, requests=1000, max_intervals=8, seed=1, no_data={"c": range(1, 6)}
    )
    start = run.intervals[0].weights["default"]
    during = [i.weights["default"] for i in run.intervals[:6]]  # in effect in intervals 1-6
    assert all(w["c"] <= start["c"] for w in during)
    assert run.paused == (3, 4, 5)  # the 3rd interval in a row without data, until it is back
    assert during[5] == during[4] == during[3]  # nothing moved while paused
    assert run.weights["default"]["c"] > start["c"]  # the data is back: c rises
    assert "paused (an arm's guardrails without data) at the end of intervals 3-5" in (
        render_table(run)
    )
    unmarked = simulate(_config(), RATES, requests=1000, max_intervals=8, seed=1)
    assert unmarked.paused == ()
    assert unmarked.intervals[1].weights["default"]["c"] > start["c"]  # rises at once


def test_without_guardrails_missing_metrics_hold_the_arm_but_never_pause() -> None:
    run = simulate(
        _config(guardrails=()), RATES, requests=1000, max_intervals=6, seed=1,
        no_data={"c": range(1, 7)},
    )  # fmt: skip
    assert run.paused == ()
    assert all(i.weights["default"]["c"] <= 34 for i in run.intervals)
    assert run.weights["default"]["c"] <= 34


def test_simulate_cli_takes_no_data_intervals_and_refuses_bad_ones() -> None:
    spec = TESTS / "rollout" / "matrix" / "istio--bandit.yaml"
    rates = ["--rate", "incumbent=0.05", "--rate", "challenger=0.3", "--rate", "rules_only=0.03"]
    base = ["simulate", str(spec), *rates, "--requests", "500", "--intervals", "8"]
    result = CliRunner().invoke(main, [*base, "--no-data", "challenger=1-4"])
    assert result.exit_code == 0, result.output
    # The matrix spec pauses after `no_data_pause: 4` intervals without data.
    assert "at the end of intervals 4:" in result.output
    for wrong, message in [
        ("bogus=1-3", "not an arm"),
        ("challenger=0", "intervals from 1"),
        ("challenger=4-2", "intervals from 1"),
        ("challenger", "ARM=FIRST"),
    ]:
        refused = CliRunner().invoke(main, [*base, "--no-data", wrong])
        assert refused.exit_code == 2, refused.output
        assert message in refused.stderr and "Traceback" not in refused.output


def test_the_state_keeps_the_streaks_and_reads_older_states(rig: MakeRig) -> None:
    r = rig()
    r.error_rate("a", None)
    r.intervals(1)
    raw = json.loads(r.kube.vs["metadata"]["annotations"][STATE_ANNOTATION])
    assert (raw["no_data"], raw["paused"]) == ({"a": 1}, False)
    del raw["no_data"], raw["paused"]  # a state written before them
    older = State.from_json(json.dumps(raw))
    assert (older.no_data, older.paused) == ({}, False)
