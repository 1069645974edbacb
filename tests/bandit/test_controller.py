"""The bandit controller against local stand-ins for Prometheus and the Kubernetes API.

No real cluster or Prometheus was used. The stand-ins speak the published API shapes:

- Prometheus's instant-query API: GET /api/v1/query?query=... answers
  {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {...},
  "value": [<unix time>, "<number>"]}]}}, numbers formatted as Prometheus does ("NaN", "+Inf"),
  and errors as {"status": "error", "errorType": ..., "error": ...} with a 4xx/5xx status;
- the Kubernetes API's GET and JSON merge patch (RFC 7386: objects merged, lists and scalars
  replaced, null deletes) of one networking.istio.io/v1 VirtualService, with optimistic
  concurrency on metadata.resourceVersion (409 Conflict) and metav1.Status bodies for errors.

The VirtualServices follow Istio's reference (named http routes, header matches, destinations
with host, port and weight) and are validated against the published Istio CRD, before and after
the controller patches them.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import logging
import math
from pathlib import Path

import pytest
from support.bandit import (
    LOGGER,
    START,
    TOKEN,
    Doc,
    MakeRig,
    destination,
)
from support.crd_validation import validate_custom_resource

from mlspec.bandit import controller
from mlspec.bandit.config import STATE_ANNOTATION
from mlspec.bandit.controller import ControllerError, Kube, Prometheus


def assert_moves_within_limits(history: list[dict[str, int]], floor: int, step: int) -> None:
    for before, after in itertools.pairwise(history):
        assert sum(after.values()) == 100
        assert min(after.values()) >= floor, after
        assert all(abs(after[a] - before[a]) <= step for a in after), (before, after)


# ---------------------------------------------------------------------------------------------
# Tests


def test_weights_follow_rewards_within_floor_and_step(
    rig: MakeRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    r = rig(arms=("a", "b", "c"))
    for arm, successes in {"a": 10, "b": 30, "c": 20}.items():
        r.reward(arm, successes, 100)
    history = [r.weights(), *r.intervals(12)]
    assert history[0] == {"a": 34, "b": 33, "c": 33}
    assert history[1]["b"] == 43  # as far as one step allows
    assert_moves_within_limits(history, floor=5, step=10)
    assert [h["b"] for h in history] == sorted(h["b"] for h in history)
    assert history[-1] == {"a": 5, "b": 90, "c": 5}  # the losers keep the exploration floor
    state = r.state()
    assert state.interval == 12
    assert state.stats["default"]["b"].successes == 360
    assert state.stats["default"]["b"].trials == 1200
    assert "interval 12: route default weights a=5 b=90 c=5" in caplog.text
    assert TOKEN not in caplog.text


def test_guardrail_breach_zeroes_an_arm_at_once_and_for_good(
    rig: MakeRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    r = rig(arms=("a", "b", "c"))
    for arm in "abc":
        r.reward(arm, 20, 100)
    r.intervals(1)
    r.error_rate("c", 0.2)
    r.intervals(1)
    assert r.weights()["c"] == 0  # from about a third to nothing, past the step limit
    assert r.state().zeroed == frozenset({"c"})
    assert "arm c breached guardrail error_rate" in caplog.text
    r.error_rate("c", 0.0)
    r.reward("c", 90, 100)  # recovering, and even the best: it stays out
    history = r.intervals(4)
    assert all(h["c"] == 0 for h in history)
    assert r.state().zeroed == frozenset({"c"})
    assert_moves_within_limits([{a: w for a, w in h.items() if a != "c"} for h in history], 5, 10)


def test_every_arm_breaching_fails_without_patching(rig: MakeRig) -> None:
    r = rig()
    r.error_rate("a", 0.5)
    r.error_rate("b", 0.5)
    before = copy.deepcopy(r.kube.vs)
    with pytest.raises(ControllerError, match="every arm"):
        r.run()
    assert r.kube.vs == before
    assert ("PATCH", 200) not in r.kube.calls


def test_state_survives_a_restart(rig: MakeRig) -> None:
    r = rig(stop_max_duration_seconds=1200)
    r.reward("a", 30, 100)
    r.reward("b", 50, 100)
    r.intervals(2)  # each run is a new controller: all it knows comes from the annotation
    first = r.state()
    assert (first.started_at, first.interval) == (START, 2)
    r.clock.now = START + 650  # restarted mid-interval: wait for the next one on the grid
    r.reward("a", 0, 0)
    r.reward("b", 0, 0)
    final = r.run(once=False)
    assert final is not None
    assert r.clock.slept == [250, 300]
    assert (final.started_at, final.interval, final.stopped) == (START, 4, True)
    assert final.stats["default"]["a"].successes == 60  # two intervals' worth: nothing lost
    assert final.stats["default"]["b"].trials == 200


def test_stop_on_p_best_leaves_the_winner_at_100_and_reports(
    rig: MakeRig, capsys: pytest.CaptureFixture[str]
) -> None:
    r = rig(stop_p_best=0.95)
    r.reward("a", 20, 100)
    r.reward("b", 40, 100)
    state = r.run(once=False)
    assert state is not None and state.stopped
    assert r.clock.slept == [300]
    assert r.weights() == {"a": 0, "b": 100}
    assert (state.winner, state.interval) == ("b", 1)
    assert state.reason is not None and state.reason.startswith("P(best)")
    report = json.loads(capsys.readouterr().out)
    assert report["winner"] == "b"
    assert report["weights"] == {"default": {"a": 0, "b": 100}}
    assert report["intervals"] == 1
    assert report["stats"]["default"]["b"] == {"successes": 40, "trials": 100}
    calls = len(r.kube.calls)
    assert r.run(once=False) == state  # restarted after the end: reports again, changes nothing
    assert r.kube.calls[calls:] == [("GET", 200)]
    assert json.loads(capsys.readouterr().out) == report


def test_stop_on_max_duration_sets_the_winner_in_every_route(
    rig: MakeRig, capsys: pytest.CaptureFixture[str]
) -> None:
    r = rig(segments=("eu", "us"), stop_p_best=0.99, stop_max_duration_seconds=900)
    for segment in ("eu", "us"):
        r.reward("a", 30, 100, segment)
        r.reward("b", 31, 100, segment)
    state = r.run(once=False)
    assert state is not None and state.stopped
    assert (r.clock.now, state.interval) == (START + 900, 3)
    assert state.reason is not None and state.reason.startswith("maximum duration")
    winner = state.winner
    assert winner is not None
    for route in ("segment-eu", "segment-us", "default"):
        assert r.weights(route) == {a: 100 if a == winner else 0 for a in ("a", "b")}
    assert json.loads(capsys.readouterr().out)["winner"] == winner


def test_a_lone_healthy_arm_wins(rig: MakeRig) -> None:
    r = rig()
    r.error_rate("a", 0.3)
    state = r.run()
    assert state is not None and state.stopped
    assert (state.winner, state.reason) == ("b", "every other arm breached a guardrail")
    assert r.weights() == {"a": 0, "b": 100}


def test_a_stale_resource_version_is_retried_once(
    rig: MakeRig, caplog: pytest.LogCaptureFixture
) -> None:
    r = rig()
    r.reward("b", 40, 100)
    r.kube.concurrent = [{"metadata": {"labels": {"team": "fraud"}}}]  # between GET and PATCH
    assert r.run() is not None
    assert r.kube.calls == [
        ("GET", 200),
        ("PATCH", 409),
        ("GET", 200),
        ("PATCH", 200),
    ]
    assert r.state().interval == 1
    assert r.kube.vs["metadata"]["labels"]["team"] == "fraud"  # the other writer's change stays

    r.kube.concurrent = [{}, {}]  # changed again before the retry: the interval is skipped
    weights, version = r.weights(), r.kube.vs["metadata"]["resourceVersion"]
    with caplog.at_level(logging.WARNING, LOGGER):
        assert r.run() is None
    assert "interval skipped" in caplog.text
    assert r.weights() == weights
    assert r.state().interval == 1
    assert int(r.kube.vs["metadata"]["resourceVersion"]) == int(version) + 2  # the other writer


def test_an_interval_another_writer_completed_is_not_counted_twice(rig: MakeRig) -> None:
    r = rig()
    r.reward("b", 40, 100)
    r.intervals(1)
    theirs = dataclasses.replace(r.state(), interval=2)
    r.kube.concurrent = [{"metadata": {"annotations": {STATE_ANNOTATION: theirs.to_json()}}}]
    assert r.run() == theirs
    assert r.state() == theirs


def test_server_errors_are_retried_then_the_interval_is_skipped(
    rig: MakeRig, caplog: pytest.LogCaptureFixture
) -> None:
    r = rig()
    r.reward("b", 40, 100)
    r.prometheus.failures = 2  # a blip: ridden out within the interval
    r.kube.failures = 2
    assert r.run() is not None
    assert r.clock.slept == [1.0, 2.0, 1.0, 2.0]
    assert r.state().interval == 1
    weights = r.weights()

    r.prometheus.failures = 10**6  # an outage: the interval is skipped, weights stay
    with caplog.at_level(logging.WARNING, LOGGER):
        assert r.run() is None
    assert "interval skipped, weights unchanged" in caplog.text
    assert "storage is down" in caplog.text
    assert (r.weights(), r.state().interval) == (weights, 1)

    r.prometheus.failures = 0  # recovered
    assert r.run() is not None
    assert r.state().interval == 2


@pytest.mark.parametrize(("forbidden", "token"), [(True, TOKEN), (False, "expired")])
def test_refused_access_fails_fast(rig: MakeRig, forbidden: bool, token: str) -> None:
    r = rig()
    r.kube.forbidden = forbidden
    r.environ["MLSPEC_KUBE_TOKEN"] = token
    expected = "cannot get resource" if forbidden else "HTTP 401: Unauthorized"
    with pytest.raises(ControllerError, match=expected) as raised:
        r.run()
    assert len(r.kube.calls) == 1  # no retries
    assert r.clock.slept == []
    assert TOKEN not in str(raised.value)


def test_contextual_segments_get_their_own_weights(rig: MakeRig) -> None:
    r = rig(segments=("eu", "us"))
    r.reward("a", 40, 100, "eu")
    r.reward("b", 20, 100, "eu")
    r.reward("a", 20, 100, "us")
    r.reward("b", 40, 100, "us")
    r.intervals(6)
    eu, us, default = r.weights("segment-eu"), r.weights("segment-us"), r.weights("default")
    assert eu["a"] >= 80 and us["b"] >= 80
    assert abs(default["a"] - default["b"]) < 50  # pooled, the arms are alike
    state = r.state()
    assert set(state.stats) == {"eu", "us"}
    assert state.weights == {"eu": eu, "us": us, "default": default}
    assert 'sum(increase(reward_total{arm="a",region="eu"}[5m]))' in r.prometheus.queries


def test_other_routes_and_fields_are_left_alone(rig: MakeRig) -> None:
    r = rig(arms=("a", "b", "c"), segments=("eu", "us"))
    r.reward("c", 50, 100, "eu")
    before = copy.deepcopy(r.kube.vs)
    r.intervals(3)
    after = r.kube.vs
    assert r.weights("segment-eu") != {"a": 34, "b": 33, "c": 33}
    assert without_controller_changes(after) == without_controller_changes(before)
    assert json.loads(after["metadata"]["annotations"][STATE_ANNOTATION])["version"] == 1
    assert validate_custom_resource(before) == []
    assert validate_custom_resource(after) == []


def test_prometheus_answers(rig: MakeRig) -> None:
    r = rig()
    prometheus = Prometheus(r.config.prometheus, r.clock.sleep)
    r.prometheus.table.update({"several": [1.5, 2.5], "empty": None, "ratio": [1.0, math.nan]})
    assert prometheus.value("several") == 4.0
    assert prometheus.value("empty") is None  # no series matched: no data, not zero
    assert prometheus.value("ratio") is None
    with pytest.raises(ControllerError, match="HTTP 400: unknown: typo"):
        prometheus.value("typo")
    r.reward("a", math.nan, 100)  # no data: the arm's evidence is unchanged
    r.reward("b", 10, 100)
    r.intervals(1)
    assert r.state().stats["default"]["a"].trials == 0
    assert r.state().stats["default"]["b"].trials == 100


@pytest.mark.parametrize(
    ("route", "change", "message"),
    [
        ("default", {"name": "primary"}, "no http route named 'default'"),
        ("default", {"route": [destination("a", 100)]}, r"no destination for \['b'\]"),
        ("default", {"route": [destination("a", 50), destination("a", 50)]}, "names it twice"),
    ],
)
def test_a_virtual_service_it_cannot_own_is_an_error(
    rig: MakeRig, route: str, change: Doc, message: str
) -> None:
    r = rig()
    found = next(x for x in r.kube.vs["spec"]["http"] if x["name"] == route)
    found.update(change)
    with pytest.raises(ControllerError, match=message):
        r.run()
    assert r.kube.patched == 0


@pytest.mark.parametrize(
    ("annotation", "message"),
    [("{not json", "not a state this controller wrote"), ('{"version": 2}', "state version 2")],
)
def test_a_state_it_did_not_write_is_an_error(rig: MakeRig, annotation: str, message: str) -> None:
    r = rig()
    r.kube.vs["metadata"]["annotations"][STATE_ANNOTATION] = annotation
    with pytest.raises(ControllerError, match=message):
        r.run()
    assert r.kube.patched == 0


def test_an_unreachable_api_server_at_start_ends_the_run(rig: MakeRig) -> None:
    r = rig()
    r.kube.failures = controller.ATTEMPTS
    with pytest.raises(ControllerError, match="etcdserver: request timed out"):
        r.run(once=False)  # exits non-zero: the pod restarts and tries again


def test_kubernetes_access_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ControllerError, match="MLSPEC_KUBE_API"):
        Kube.from_environment({})
    override = Kube.from_environment({"MLSPEC_KUBE_API": "http://127.0.0.1:8001/"})
    assert (override.api, override.token()) == ("http://127.0.0.1:8001", None)

    cafiles: list[str] = []
    monkeypatch.setattr(
        controller.ssl, "create_default_context", lambda cafile: cafiles.append(cafile)
    )
    (tmp_path / "token").write_text("first\n", encoding="utf-8")
    environ = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    in_cluster = Kube.from_environment(environ, service_account=tmp_path)
    assert in_cluster.api == "https://[fd00::1]:443"
    assert cafiles == [str(tmp_path / "ca.crt")]
    assert in_cluster.token() == "first"
    (tmp_path / "token").write_text("rotated", encoding="utf-8")  # the kubelet refreshes it
    assert in_cluster.token() == "rotated"


# ---------------------------------------------------------------------------------------------
# Helpers


def without_controller_changes(vs: Doc) -> Doc:
    """The VirtualService minus what the controller may change: owned routes' weights, its
    annotation, and what the API server bumps on every write."""
    out = copy.deepcopy(vs)
    for route in out["spec"]["http"]:
        if route["name"] == "default" or route["name"].startswith("segment-"):
            for d in route["route"]:
                del d["weight"]
    out["metadata"]["annotations"].pop(STATE_ANNOTATION, None)
    del out["metadata"]["resourceVersion"], out["metadata"]["generation"]
    return out


def test_each_segment_stops_with_its_own_winner(
    rig: MakeRig, capsys: pytest.CaptureFixture[str]
) -> None:
    """A contextual bandit decides per segment: eu learns b, us learns a, and each route keeps
    its winner once its own rule holds; the experiment ends when every route has stopped."""
    r = rig(segments=("eu", "us"), stop_p_best=0.95, stop_max_duration_seconds=600)
    r.reward("a", 10, 100, "eu")
    r.reward("b", 40, 100, "eu")
    r.reward("a", 40, 100, "us")
    r.reward("b", 10, 100, "us")
    state = r.run(once=False)
    assert state is not None and state.stopped
    assert {route: won for route, (won, _) in state.stops.items()} == {
        "eu": "b", "us": "a", "default": state.winner
    }  # fmt: skip
    assert r.weights("segment-eu") == {"a": 0, "b": 100}
    assert r.weights("segment-us") == {"a": 100, "b": 0}
    assert state.reason is not None and state.reason.startswith("maximum duration")
    assert json.loads(capsys.readouterr().out)["winners"]["eu"]["winner"] == "b"


def test_the_cli_runs_one_interval_and_fails_cleanly_when_forbidden(
    rig: MakeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from mlspec.cli import main

    r = rig()
    for name, value in r.environ.items():
        monkeypatch.setenv(name, value)
    r.reward("b", 40, 100)
    command = ["bandit-controller", "--config", str(r.config_path), "--once"]
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    assert r.kube.patched == 1
    r.kube.forbidden = True
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 3
    assert result.stderr.startswith("failed: ") and "forbidden" in result.stderr
    assert "Traceback" not in result.output
