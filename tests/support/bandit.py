"""The bandit controller's world, for tests/bandit and tests/security: local stand-ins for
Prometheus and the Kubernetes API (the published API shapes, described in
tests/bandit/test_controller.py), a fake clock, the `rig` fixture (registered by
tests/conftest.py) and the weight cases of the policy's property tests."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import strategies as st

from mlspec.bandit import controller
from mlspec.bandit.config import STATE_ANNOTATION, Config, Guardrail
from mlspec.bandit.controller import State

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


@st.composite
def weight_cases(draw: st.DrawFn) -> tuple[dict[str, float], dict[str, int], int, int, frozenset]:
    """Any target, any current split of 100 (arms may sit below the floor: new, or back from a
    guardrail), any floor the arms can all have, any step limit, any zeroed arms but not all."""
    n = draw(st.integers(2, 6))
    arms = [f"arm{i}" for i in range(n)]
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=n - 1, max_size=n - 1)))
    current = {a: hi - lo for a, lo, hi in zip(arms, [0, *cuts], [*cuts, 100], strict=True)}
    raw = draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
    target = {a: (r / sum(raw) if sum(raw) else 1 / n) for a, r in zip(arms, raw, strict=True)}
    floor = draw(st.integers(0, 100 // n))
    max_step = draw(st.integers(1, 60))
    zeroed = frozenset(draw(st.lists(st.sampled_from(arms), max_size=n - 1, unique=True)))
    return target, current, floor, max_step, zeroed
