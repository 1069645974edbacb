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

import contextlib
import copy
import dataclasses
import importlib.util
import itertools
import json
import logging
import math
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mlspec.bandit import controller
from mlspec.bandit.config import STATE_ANNOTATION, Config, Guardrail
from mlspec.bandit.controller import ControllerError, Kube, Prometheus, State

Doc = dict[str, Any]
App = Callable[[str, str, Mapping[str, str], bytes], tuple[int, Doc]]

NAMESPACE, NAME = "ml-serving", "fraud-scorer"
VS_PATH = f"/apis/networking.istio.io/v1/namespaces/{NAMESPACE}/virtualservices/{NAME}"
TOKEN = "t0ken-that-must-never-be-logged"
START = 1_700_000_000.0
SUCCESSES = 'sum(increase(reward_total{arm="$arm",region="$segment",reward="1"}[5m]))'
TRIALS = 'sum(increase(reward_total{arm="$arm",region="$segment"}[5m]))'
ERRORS = 'sum(rate(errors_total{arm="$arm"}[5m])) / sum(rate(requests_total{arm="$arm"}[5m]))'
LOGGER = "mlspec.bandit.controller"


def host(arm: str) -> str:
    return f"{NAME}-{arm}.{NAMESPACE}.svc.cluster.local"


# ---------------------------------------------------------------------------------------------
# Local HTTP servers


class _Handler(BaseHTTPRequestHandler):
    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, doc = self.server.app(self.command, self.path, self.headers, body)  # type: ignore[attr-defined]
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


@contextlib.contextmanager
def serving(app: App) -> Iterator[str]:
    """A server on a free local port, stopped on exit whatever happened."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.app = app  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def prometheus_number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


class FakePrometheus:
    """Instant queries answered from `table`: a number or a list of them (one sample each),
    None for an empty vector; any other query is a 400 bad_data, as a PromQL typo would be."""

    def __init__(self) -> None:
        self.table: dict[str, float | list[float] | None] = {}
        self.failures = 0  # answer the next this many requests with a 500
        self.queries: list[str] = []

    def __call__(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Doc]:
        url = urlsplit(path)
        if method != "GET" or url.path != "/api/v1/query":
            return 404, {"status": "error", "errorType": "not_found", "error": "not found"}
        query = parse_qs(url.query)["query"][0]
        self.queries.append(query)
        if self.failures:
            self.failures -= 1
            return 500, {"status": "error", "errorType": "internal", "error": "storage is down"}
        if query not in self.table:
            return 400, {"status": "error", "errorType": "bad_data", "error": f"unknown: {query}"}
        value = self.table[query]
        values = [] if value is None else value if isinstance(value, list) else [value]
        result = [
            {"metric": {"pod": f"pod-{i}"}, "value": [START, prometheus_number(v)]}
            for i, v in enumerate(values)
        ]
        return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, as the API server applies application/merge-patch+json."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def k8s_status(code: int, reason: str, message: str) -> Doc:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class FakeKube:
    """GET and merge-PATCH of the one VirtualService at VS_PATH, bearer token required."""

    def __init__(self, vs: Doc) -> None:
        self.vs = vs
        self.forbidden = False
        self.failures = 0  # answer the next this many requests with a 500
        self.concurrent: list[Doc] = []  # patches another writer applies right after a GET
        self.calls: list[tuple[str, int]] = []

    def __call__(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Doc]:
        status, doc = self._answer(method, path, headers, body)
        self.calls.append((method, status))
        return status, doc

    def _answer(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Doc]:
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, k8s_status(401, "Unauthorized", "Unauthorized")
        if self.forbidden:
            return 403, k8s_status(
                403,
                "Forbidden",
                f'virtualservices.networking.istio.io "{NAME}" is forbidden: User '
                f'"system:serviceaccount:{NAMESPACE}:bandit" cannot {method.lower()} resource '
                f'"virtualservices" in API group "networking.istio.io" in the namespace '
                f'"{NAMESPACE}"',
            )
        if path != VS_PATH:
            return 404, k8s_status(404, "NotFound", "the server could not find the resource")
        if self.failures:
            self.failures -= 1
            return 500, k8s_status(500, "InternalError", "etcdserver: request timed out")
        if method == "GET":
            doc = copy.deepcopy(self.vs)
            if self.concurrent:
                self._apply(self.concurrent.pop(0))
            return 200, doc
        if headers.get("Content-Type") != "application/merge-patch+json":
            return 415, k8s_status(415, "UnsupportedMediaType", "unsupported patch type")
        patch = json.loads(body)
        version = patch.get("metadata", {}).get("resourceVersion")
        if version is not None and version != self.vs["metadata"]["resourceVersion"]:
            return 409, k8s_status(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on virtualservices.networking.istio.io "{NAME}": '
                "the object has been modified; please apply your changes to the latest version "
                "and try again",
            )
        self._apply(patch)
        return 200, copy.deepcopy(self.vs)

    def _apply(self, patch: Doc) -> None:
        new = merge_patch(self.vs, patch)
        meta = new["metadata"]
        meta["resourceVersion"] = str(int(self.vs["metadata"]["resourceVersion"]) + 1)
        if new["spec"] != self.vs["spec"]:
            meta["generation"] += 1
        self.vs = new

    @property
    def patched(self) -> int:
        return sum(1 for method, status in self.calls if method == "PATCH" and status == 200)


# ---------------------------------------------------------------------------------------------
# The VirtualService, the configuration and the rig that ties them together


def destination(arm: str, weight: int) -> Doc:
    return {"destination": {"host": host(arm), "port": {"number": 80}}, "weight": weight}


def split(arms: tuple[str, ...]) -> list[Doc]:
    share, extra = divmod(100, len(arms))
    return [destination(a, share + (1 if i < extra else 0)) for i, a in enumerate(arms)]


def virtual_service(arms: tuple[str, ...], segments: tuple[str, ...]) -> Doc:
    """As the rollout back end lays it out: a route nobody else owns per segment (header
    match), then `default`; plus a route the controller does not own, to show it is left alone."""
    metrics = {
        "name": "metrics",
        "match": [{"uri": {"prefix": "/metrics"}}],
        "route": [{"destination": {"host": f"metrics-proxy.{NAMESPACE}.svc.cluster.local"}}],
    }
    segment_routes = [
        {
            "name": f"segment-{s}",
            "match": [{"headers": {"x-region": {"exact": s}}}],
            "route": split(arms),
        }
        for s in segments
    ]
    default = {
        "name": "default",
        "route": split(arms),
        "timeout": "5s",
        "retries": {"attempts": 2, "perTryTimeout": "2s", "retryOn": "5xx"},
    }
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "uid": "6f1c9a52-0d4e-4a8e-9b1e-3c2f6d7e8a90",
            "resourceVersion": "41870",
            "generation": 1,
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "labels": {"app.kubernetes.io/name": NAME},
            "annotations": {"argocd.argoproj.io/tracking-id": f"{NAME}:networking.istio.io/x"},
        },
        "spec": {
            "hosts": [f"{NAME}.{NAMESPACE}.svc.cluster.local"],
            "gateways": ["mesh"],
            "http": [metrics, *segment_routes, default],
        },
    }


class FakeClock:
    """time.time and time.sleep in one: sleeping advances the clock at once."""

    def __init__(self) -> None:
        self.now = START
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept.append(seconds)
        self.now += seconds


@dataclasses.dataclass
class Rig:
    config: Config
    config_path: Path
    prometheus: FakePrometheus
    kube: FakeKube
    environ: dict[str, str]
    clock: FakeClock = dataclasses.field(default_factory=FakeClock)

    def reward(self, arm: str, successes: float, trials: float, segment: str = "default") -> None:
        """This interval's rewards of an arm, as the reward queries will report them."""
        c = self.config
        self.prometheus.table[c.query(c.successes, arm, segment)] = successes
        self.prometheus.table[c.query(c.trials, arm, segment)] = trials

    def error_rate(self, arm: str, value: float) -> None:
        self.prometheus.table[self.config.query(ERRORS, arm, "")] = value

    def run(self, *, once: bool = True) -> State | None:
        return controller.run(
            self.config_path,
            once=once,
            clock=self.clock,
            sleep=self.clock.sleep,
            environ=self.environ,
        )

    def intervals(self, count: int) -> list[dict[str, int]]:
        """Run `count` intervals, 5 minutes apart; the default route's weights after each."""
        out = []
        for _ in range(count):
            assert self.run() is not None
            out.append(self.weights())
            self.clock.now += self.config.interval_seconds
        return out

    def weights(self, route: str = "default") -> dict[str, int]:
        found = next(r for r in self.kube.vs["spec"]["http"] if r["name"] == route)
        arm_of = {host(a): a for a in self.config.arms}
        return {arm_of[d["destination"]["host"]]: d["weight"] for d in found["route"]}

    def state(self) -> State:
        return State.from_json(self.kube.vs["metadata"]["annotations"][STATE_ANNOTATION])


MakeRig = Callable[..., Rig]


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeRig]:
    """make(arms, segments, **config changes): a controller's world, with zero rewards and
    healthy guardrails to start; its servers stop when the test ends, also when it fails."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # a proxy from the environment must not interpose
    with contextlib.ExitStack() as stack:

        def make(
            arms: tuple[str, ...] = ("a", "b"), segments: tuple[str, ...] = (), **changes: Any
        ) -> Rig:
            prometheus, kube = FakePrometheus(), FakeKube(virtual_service(arms, segments))
            config = Config(
                namespace=NAMESPACE,
                virtual_service=NAME,
                prometheus=stack.enter_context(serving(prometheus)),
                algorithm="thompson",
                arms={a: host(a) for a in arms},
                successes=SUCCESSES,
                trials=TRIALS,
                interval_seconds=300,
                exploration_floor=5,
                max_step=10,
                guardrails=(Guardrail("error_rate", ERRORS, None, 0.05),),
                context_header="x-region" if segments else None,
                segments=segments,
                seed=7,
            )
            config = dataclasses.replace(config, **changes)
            path = tmp_path / "bandit.json"
            path.write_text(config.to_json(), encoding="utf-8")
            environ = {
                "MLSPEC_KUBE_API": stack.enter_context(serving(kube)),
                "MLSPEC_KUBE_TOKEN": TOKEN,
            }
            made = Rig(config, path, prometheus, kube, environ)
            for segment in config.queried_segments:
                for arm in arms:
                    made.reward(arm, 0, 0, segment)
            for arm in arms:
                made.error_rate(arm, 0.0)
            return made

        yield make


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
    validate = rollout_test_helper("crd_validation").validate_custom_resource
    assert validate(before) == []
    assert validate(after) == []


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


def rollout_test_helper(name: str) -> ModuleType:
    """A module of tests/rollout (its folder is on sys.path only when its tests are collected):
    the strict validation against the published CRDs lives there."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).parents[1] / "rollout" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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
