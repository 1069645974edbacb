"""The bandit controller: every interval, rewards from Prometheus -> weights in one VirtualService.

Each interval it reads the VirtualService (and the state kept in its `STATE_ANNOTATION`), queries
the reward and guardrail PromQL of every arm (and segment), adds the rewards to the state's
evidence, zeroes any arm that breached a guardrail (for good, in every route), and patches the
weights of the routes it owns together with the new state. Reward queries must measure exactly
one interval, e.g. `sum(increase(requests_total{arm="$arm"}[5m]))` with `interval_seconds: 300`:
the controller adds each answer to the totals so far, so a longer window counts requests twice
and a shorter one misses some. An interval that cannot be completed (a server down after
retries, the VirtualService changed twice while it worked) is skipped and its requests are
never counted; the weights stay as they are.

No data is never evidence. An answer without a number (an empty vector, NaN, +-Inf) and reward
numbers that cannot be counts (negative, more successes than trials) count for nothing, and
the arm they concern is held: its weight may fall but does not rise, and it cannot win. An arm
with a guardrail without data for `no_data_pause_intervals` intervals in a row pauses the
experiment (`policy.paused`): no weight rises and no route stops until the data is back; only a
breach still zeroes an arm.

Each route decides on its own (`policy.decide`, which `mlspec simulate` makes too): new
weights from its evidence (a segment's, or for a contextual bandit's `default` route the pooled
evidence of all segments), then its stopping rule. A route whose rule holds gives its winner 100
and is final; when every route has stopped, the controller prints a one-line JSON report to
stdout and ends. Each route's draws come from `policy.interval_rng(seed, n, segment)`, n the
1-based number of the interval, so a restart repeats them.

Only the standard library is used: the controller image needs nothing beyond mlspec itself.
Kubernetes access is the pod's service account (the API server from KUBERNETES_SERVICE_HOST/PORT,
the token and CA under SERVICE_ACCOUNT), or MLSPEC_KUBE_API with an optional MLSPEC_KUBE_TOKEN.
The token never appears in logs or errors.
"""

from __future__ import annotations

import copy
import functools
import http.client
import json
import logging
import math
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlspec.bandit import policy
from mlspec.bandit.config import DEFAULT_SEGMENT, STATE_ANNOTATION, Config
from mlspec.bandit.policy import Missing, Stats

log = logging.getLogger(__name__)

Doc = dict[str, Any]
Clock = Callable[[], float]
Sleep = Callable[[float], None]

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
STATE_VERSION = 1
ATTEMPTS = 3  # per request: a blip is ridden out within the interval, an outage skips it
BACKOFF_SECONDS = 1.0  # before the second attempt; doubled before each later one
TIMEOUT_SECONDS = 10.0
MERGE_PATCH = "application/merge-patch+json"


class ControllerError(RuntimeError):
    """The controller stops (the command exits non-zero): access refused, a bad query, a
    VirtualService it cannot own, every arm zeroed. Retrying would not help; a person must look."""


class Unavailable(ControllerError):
    """A server did not answer after ATTEMPTS tries. Within an interval, only that interval is
    skipped; before the first one (reading the VirtualService at start), the run ends."""


class Conflict(RuntimeError):
    """The VirtualService changed between our GET and PATCH (HTTP 409)."""


# ---------------------------------------------------------------------------------------------
# HTTP


def _send(
    request: urllib.request.Request,
    what: str,
    sleep: Sleep,
    context: ssl.SSLContext | None = None,
) -> bytes:
    """The response body; transient failures (network, 429, 5xx) are retried with backoff."""
    problem = ""
    for attempt in range(ATTEMPTS):
        if attempt:
            sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS, context=context) as r:
                body: bytes = r.read()
                return body
        except urllib.error.HTTPError as error:
            answer = _answer(error)
            if error.code == 409:
                raise Conflict(f"{what}: {answer}") from None
            if error.code < 500 and error.code != 429:
                raise ControllerError(f"{what}: HTTP {error.code}: {answer}") from None
            problem = f"HTTP {error.code}: {answer}"
        except (OSError, http.client.HTTPException) as error:  # URLError is an OSError
            problem = str(getattr(error, "reason", error)) or type(error).__name__
    raise Unavailable(f"{what}: {problem} (after {ATTEMPTS} attempts)")


def _answer(error: urllib.error.HTTPError) -> str:
    """The server's own explanation: a Kubernetes Status message, a Prometheus error, or text."""
    text = error.read(4000).decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text or str(error.reason)
    if isinstance(body, dict) and (body.get("message") or body.get("error")):
        return str(body.get("message") or body.get("error"))
    return text


def _json(body: bytes, what: str) -> Doc:
    try:
        doc = json.loads(body)
    except ValueError:
        raise ControllerError(f"{what}: the answer is not JSON: {body[:200]!r}") from None
    if not isinstance(doc, dict):
        raise ControllerError(f"{what}: the answer is not a JSON object")
    return doc


# ---------------------------------------------------------------------------------------------
# Prometheus


@dataclass(frozen=True)
class Prometheus:
    """Prometheus's HTTP API, instant queries only: each answer is one interval's number."""

    url: str
    sleep: Sleep = time.sleep

    def value(self, query: str) -> float | None:
        """The sum of an instant query's samples, or None for no data: an empty vector (no
        series matched), or a sample that is NaN or infinite (e.g. a ratio over no requests)."""
        what = f"Prometheus query {query!r}"
        address = f"{self.url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
        request = urllib.request.Request(address, headers={"Accept": "application/json"})
        body = _json(_send(request, what, self.sleep), what)
        if body.get("status") != "success":
            raise ControllerError(f"{what}: {body.get('errorType')}: {body.get('error')}")
        try:
            return _sum(body["data"], what)
        except (KeyError, IndexError, TypeError, ValueError):  # not the API's shape
            shown = json.dumps(body.get("data"))[:200]
            raise ControllerError(
                f"{what}: not a Prometheus query result: data {shown}; is {self.url} the "
                "Prometheus HTTP API?"
            ) from None


def _sum(data: Doc, what: str) -> float | None:
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        texts = [result[1]]
    elif kind == "vector" and isinstance(result, list):
        texts = [sample["value"][1] for sample in result]
    elif kind == "vector":
        raise ValueError(result)
    else:
        raise ControllerError(f"{what}: a {kind} result; the controller needs a vector or scalar")
    values = [float(text) for text in texts if isinstance(text, str)]
    if len(values) != len(texts):  # Prometheus writes sample values as strings
        raise ValueError(texts)
    return math.fsum(values) if values and all(math.isfinite(v) for v in values) else None


# ---------------------------------------------------------------------------------------------
# Kubernetes


@dataclass(frozen=True)
class Kube:
    """The Kubernetes API, for GET and merge PATCH of one object: all the Role grants."""

    api: str
    token: Callable[[], str | None]  # called per request: the kubelet rotates the token file
    sleep: Sleep = time.sleep
    context: ssl.SSLContext | None = None

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str],
        sleep: Sleep = time.sleep,
        service_account: Path = SERVICE_ACCOUNT,
    ) -> Kube:
        """MLSPEC_KUBE_API (+ MLSPEC_KUBE_TOKEN) if set, else the pod's service account."""
        if api := environ.get("MLSPEC_KUBE_API"):
            token = environ.get("MLSPEC_KUBE_TOKEN")
            return cls(api.rstrip("/"), lambda: token, sleep)
        host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
        if not host or not port:
            raise ControllerError(
                "no Kubernetes API: not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and "
                "MLSPEC_KUBE_API not set"
            )
        host = f"[{host}]" if ":" in host else host  # an IPv6 address
        context = ssl.create_default_context(cafile=str(service_account / "ca.crt"))
        read_token = functools.partial(_read_token, service_account / "token")
        return cls(f"https://{host}:{port}", read_token, sleep, context)

    def get(self, path: str) -> Doc:
        return self._request("GET", path)

    def merge_patch(self, path: str, patch: Doc) -> Doc:
        return self._request("PATCH", path, patch)

    def _request(self, method: str, path: str, body: Doc | None = None) -> Doc:
        headers = {"Accept": "application/json", "User-Agent": "mlspec-bandit-controller"}
        if token := self.token():
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            headers["Content-Type"] = MERGE_PATCH
            data = json.dumps(body).encode()
        request = urllib.request.Request(self.api + path, data, headers, method=method)
        what = f"{method} {path}"
        return _json(_send(request, what, self.sleep, self.context), what)


def _read_token(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


def virtual_service_path(config: Config) -> str:
    namespace, name = (
        urllib.parse.quote(s, safe="") for s in (config.namespace, config.virtual_service)
    )
    return f"/apis/networking.istio.io/v1/namespaces/{namespace}/virtualservices/{name}"


# ---------------------------------------------------------------------------------------------
# State


@dataclass(frozen=True)
class State:
    """Everything a restarted controller needs, kept as JSON in the VirtualService annotation:
    one object, patched atomically with the weights it explains."""

    started_at: float
    interval: int = 0  # completed intervals
    stats: dict[str, dict[str, Stats]] = field(default_factory=dict)  # segment -> arm -> Stats
    zeroed: frozenset[str] = frozenset()
    # Route segment -> (winner, why) once its stopping rule held; that route is then final.
    stops: dict[str, tuple[str, str]] = field(default_factory=dict)
    stopped: bool = False  # every route has stopped: the experiment is over
    weights: dict[str, dict[str, int]] = field(default_factory=dict)  # route segment -> arm
    # Live arm -> consecutive intervals with a guardrail without data (policy.no_data_streaks).
    no_data: dict[str, int] = field(default_factory=dict)
    paused: bool = False  # policy.paused held at the last interval: shown for people

    @property
    def winner(self) -> str | None:
        """The winner of the `default` route: of a plain bandit, the experiment's."""
        return self.stops[DEFAULT_SEGMENT][0] if DEFAULT_SEGMENT in self.stops else None

    @property
    def reason(self) -> str | None:
        return self.stops[DEFAULT_SEGMENT][1] if DEFAULT_SEGMENT in self.stops else None

    def to_json(self) -> str:
        data = {
            "version": STATE_VERSION,
            "started_at": self.started_at,
            "interval": self.interval,
            "stats": _stats_json(self.stats),
            "zeroed": sorted(self.zeroed),
            "stops": {r: {"winner": w, "reason": why} for r, (w, why) in self.stops.items()},
            "stopped": self.stopped,
            "weights": self.weights,
            "no_data": self.no_data,
            "paused": self.paused,
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> State:
        try:
            return cls._from_dict(json.loads(text))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ControllerError(
                f"annotation {STATE_ANNOTATION} is not a state this controller wrote: {error!r}"
            ) from None

    @classmethod
    def _from_dict(cls, data: Doc) -> State:
        if data.get("version") != STATE_VERSION:
            raise ControllerError(
                f"annotation {STATE_ANNOTATION}: state version {data.get('version')!r}, "
                f"this controller reads version {STATE_VERSION}"
            )
        stats = {
            segment: {arm: Stats(s["successes"], s["trials"]) for arm, s in arms.items()}
            for segment, arms in data["stats"].items()
        }
        return cls(
            started_at=data["started_at"],
            interval=data["interval"],
            stats=stats,
            zeroed=frozenset(data["zeroed"]),
            stops={r: (v["winner"], v["reason"]) for r, v in data["stops"].items()},
            stopped=data["stopped"],
            weights=data["weights"],
            no_data=dict(data.get("no_data", {})),  # absent from states written before them
            paused=bool(data.get("paused", False)),
        )


def _stats_json(stats: Mapping[str, Mapping[str, Stats]]) -> Doc:
    return {
        segment: {a: {"successes": s.successes, "trials": s.trials} for a, s in arms.items()}
        for segment, arms in stats.items()
    }


def report(config: Config, state: State) -> Doc:
    """The final word for CI: which arm won, why, and the evidence."""
    return {
        "namespace": config.namespace,
        "virtual_service": config.virtual_service,
        "winner": state.winner,  # the default route's: a plain bandit's only route
        "reason": state.reason,
        "winners": {r: {"winner": w, "reason": why} for r, (w, why) in state.stops.items()},
        "weights": state.weights,
        "stats": _stats_json(state.stats),
        "intervals": state.interval,
    }


# ---------------------------------------------------------------------------------------------
# The controller


@dataclass(frozen=True)
class Observation:
    """One interval's answers from Prometheus."""

    rewards: dict[str, dict[str, tuple[float, float]]]  # segment -> arm -> (successes, trials)
    breached: frozenset[str]
    missing: Missing


class Controller:
    """The loop around one VirtualService. Its only memory is the state in the annotation, read
    afresh every interval, so a restart, or a second replica, resumes where the last write was."""

    def __init__(
        self,
        config: Config,
        kube: Kube,
        prometheus: Prometheus,
        *,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.config = config
        self.kube = kube
        self.prometheus = prometheus
        self.clock = clock
        self.sleep = sleep
        self.path = virtual_service_path(config)
        self._fresh_start: float | None = None  # started_at until the first patch records it

    def run(self, *, once: bool = False) -> State | None:
        """Intervals until the stop rule holds (then print the report), or just one if `once`.

        Intervals fall on a fixed grid from started_at, so a restart neither repeats nor
        overlaps the window of the interval before it. Returns the last state (None when the
        `once` interval was skipped); raises ControllerError when it cannot go on.
        """
        if once:
            state = self.step()  # a stopped state comes back unchanged
        else:
            _, state = self.load()
            if not state.stopped:
                state = self._loop(state.started_at)
        if state is not None and state.stopped:
            print(json.dumps(report(self.config, state), sort_keys=True), flush=True)
        return state

    def _loop(self, started_at: float) -> State:
        due = self._next_due(started_at, self.clock())
        while True:
            self.sleep(max(0.0, due - self.clock()))
            state = self.step()
            if state is not None and state.stopped:
                return state
            due = self._next_due(started_at, max(due, self.clock()))

    def _next_due(self, started_at: float, after: float) -> float:
        every = self.config.interval_seconds
        return started_at + every * (math.floor((after - started_at) / every) + 1)

    def load(self) -> tuple[Doc, State]:
        """The VirtualService and the state it carries (a fresh one if it carries none)."""
        vs = self.kube.get(self.path)
        text = (vs.get("metadata", {}).get("annotations") or {}).get(STATE_ANNOTATION)
        if text is not None:
            return vs, State.from_json(text)
        if self._fresh_start is None:
            self._fresh_start = self.clock()
        return vs, State(started_at=self._fresh_start)

    def step(self) -> State | None:
        """One interval; None when it was skipped (logged) and the weights stayed as they were."""
        try:
            return self._step()
        except Unavailable as error:
            log.warning("interval skipped, weights unchanged: %s", error)
            return None

    def _step(self) -> State:
        vs, state = self.load()
        if state.stopped:
            return state
        observed = self._observe(state.zeroed)
        try:
            new = self._commit(vs, state, observed)
        except Conflict:
            log.info("the VirtualService changed while the interval was computed; reading it again")
            vs, fresh = self.load()
            if fresh.interval != state.interval or fresh.stopped:
                log.warning(
                    "another writer completed interval %d; keeping its state", fresh.interval
                )
                return fresh
            try:
                new = self._commit(vs, fresh, observed)
            except Conflict as error:
                raise Unavailable(f"the VirtualService changed again: {error}") from None
        self._log(new)
        return new

    def _observe(self, zeroed: frozenset[str]) -> Observation:
        c, prometheus = self.config, self.prometheus
        rewards: dict[str, dict[str, tuple[float, float]]] = {}
        unrewarded: dict[str, frozenset[str]] = {}
        for segment in c.queried_segments:
            missing = set()
            for arm in sorted(c.arms):
                successes = prometheus.value(c.query(c.successes, arm, segment))
                trials = prometheus.value(c.query(c.trials, arm, segment))
                counted = _counts(successes, trials)
                if counted is None and arm in zeroed:  # it gets no traffic: no series is normal
                    continue
                if counted is None:
                    log.warning(
                        "arm %s in segment %s: no reward data this interval (successes %s, "
                        "trials %s): nothing is counted and its weight does not rise",
                        arm,
                        segment,
                        _shown(successes),
                        _shown(trials),
                    )
                    missing.add(arm)
                    continue
                rewards.setdefault(segment, {})[arm] = counted
            unrewarded[segment] = frozenset(missing)
        breached, blind = set(), {}
        for arm in sorted(set(c.arms) - zeroed):
            unknown = []
            for guardrail in c.guardrails:
                value = prometheus.value(c.query(guardrail.query, arm, ""))
                if value is None:
                    unknown.append(guardrail.name)
                elif guardrail.breached(value):
                    log.warning(
                        "arm %s breached guardrail %s (%g, allowed min %s max %s): "
                        "it gets no traffic from now on",
                        arm,
                        guardrail.name,
                        value,
                        guardrail.min,
                        guardrail.max,
                    )
                    breached.add(arm)
                    break
            else:
                blind[arm] = tuple(unknown)
        return Observation(rewards, frozenset(breached), Missing(blind, unrewarded))

    def _commit(self, vs: Doc, state: State, observed: Observation) -> State:
        new, http_routes = self._decide(vs, state, observed)
        patch = {
            "metadata": {
                "resourceVersion": vs["metadata"]["resourceVersion"],
                "annotations": {STATE_ANNOTATION: new.to_json()},
            },
            "spec": {"http": http_routes},  # a merge patch replaces the list as a whole
        }
        self.kube.merge_patch(self.path, patch)
        return new

    def _decide(self, vs: Doc, state: State, observed: Observation) -> tuple[State, list[Doc]]:
        """The next state and the VirtualService's `spec.http` with the new weights in it."""
        c = self.config
        zeroed = state.zeroed | observed.breached
        if zeroed >= set(c.arms):
            raise ControllerError(
                f"every arm ({', '.join(sorted(zeroed))}) breached a guardrail: no arm can take "
                "the traffic; the VirtualService was left as it was"
            )
        stats = _accumulate(c, state.stats, observed.rewards)
        streaks = policy.no_data_streaks(state.no_data, observed.missing, set(c.arms) - zeroed)
        pause = policy.paused(c, streaks)
        self._report_no_data(observed.missing, streaks, pause, state.paused)
        http_routes = copy.deepcopy(vs.get("spec", {}).get("http") or [])
        destinations = {s: _destinations(c, _route(c, http_routes, s)) for s in c.routes}
        n = state.interval + 1  # this interval's number seeds its draws: a restart repeats them
        elapsed = self.clock() - state.started_at
        new_weights: dict[str, dict[str, int]] = {}
        stops = dict(state.stops)
        for segment in c.routes:
            current = {arm: int(d.get("weight", 0)) for arm, d in destinations[segment].items()}
            if segment in stops:  # a stopped route is final: its winner keeps all its traffic
                new_weights[segment] = current
                continue
            new_weights[segment], won = policy.decide(
                c,
                policy.route_evidence(c, stats, segment),
                current,
                seed=c.seed,
                interval=n,
                segment=segment,
                elapsed_seconds=elapsed,
                zeroed=zeroed,
                held=policy.route_held(c, segment, observed.missing, pause=pause),
            )
            if won is not None:
                stops[segment] = won
        for segment, by_arm in destinations.items():
            for arm, destination in by_arm.items():
                destination["weight"] = new_weights[segment][arm]
        new = State(
            started_at=state.started_at,
            interval=n,
            stats=stats,
            zeroed=zeroed,
            stops=stops,
            stopped=set(stops) >= set(c.routes),
            weights=new_weights,
            no_data={arm: n for arm, n in streaks.items() if n},
            paused=pause,
        )
        return new, http_routes

    def _report_no_data(
        self, missing: Missing, streaks: Mapping[str, int], pause: bool, was_paused: bool
    ) -> None:
        limit = self.config.no_data_pause_intervals
        for arm, names in sorted(missing.guardrails.items()):
            if names:
                log.warning(
                    "arm %s: no data from guardrail %s (%d interval(s) in a row; the experiment "
                    "pauses at %d): its weight does not rise and it cannot win",
                    arm,
                    ", ".join(names),
                    streaks[arm],
                    limit,
                )
        if pause:
            blind = sorted(arm for arm, n in streaks.items() if n >= limit)
            log.warning(
                "experiment paused: arm(s) %s had a guardrail without data for %d intervals "
                "in a row; no weight rises and no route stops until their guardrails answer "
                "again (a breach still zeroes an arm). Check the guardrail queries and that "
                "Prometheus scrapes the arms",
                ", ".join(blind),
                limit,
            )
        elif was_paused:
            log.warning("experiment resumed: every live arm's guardrails answer again")

    def _log(self, state: State) -> None:
        for segment in self.config.routes:
            shown = " ".join(f"{a}={w}" for a, w in sorted(state.weights[segment].items()))
            log.info(
                "interval %d: route %s weights %s",
                state.interval,
                self.config.route(segment),
                shown,
            )
        if state.stopped:
            log.info(
                "stopped after %d intervals: %s wins (%s)",
                state.interval,
                state.winner,
                state.reason,
            )


def _accumulate(
    config: Config,
    stats: Mapping[str, Mapping[str, Stats]],
    rewards: Mapping[str, Mapping[str, tuple[float, float]]],
) -> dict[str, dict[str, Stats]]:
    """The evidence so far plus this interval's, for every queried segment and arm."""
    out: dict[str, dict[str, Stats]] = {}
    for segment in config.queried_segments:
        known, new = stats.get(segment, {}), rewards.get(segment, {})
        out[segment] = {
            arm: known.get(arm, Stats()).add(*new.get(arm, (0.0, 0.0))) for arm in config.arms
        }
    return out


def _counts(successes: float | None, trials: float | None) -> tuple[float, float] | None:
    """(successes, trials) if they can be one interval's counts of a Bernoulli reward, else
    None. Successes may exceed trials by rounding only (e.g. sums of the same series)."""
    if successes is None or trials is None or successes < 0 or trials < 0:
        return None
    if successes > trials:
        if not math.isclose(successes, trials, rel_tol=1e-9):
            return None
        successes = trials
    return successes, trials


def _shown(value: float | None) -> str:
    return "no data" if value is None else f"{value:g}"


def _route(config: Config, http_routes: list[Doc], segment: str) -> Doc:
    name = config.route(segment)
    for route in http_routes:
        if route.get("name") == name:
            return route
    raise ControllerError(
        f"VirtualService {config.namespace}/{config.virtual_service} has no http route named "
        f"{name!r}"
    )


def _destinations(config: Config, route: Doc) -> dict[str, Doc]:
    """Arm -> its destination in an owned route. The route must name every arm's host once and
    nothing else: weights of 100 split over the arms must be the whole route."""
    arm_of: dict[object, str] = {host: arm for arm, host in config.arms.items()}
    out: dict[str, Doc] = {}
    for destination in route.get("route") or []:
        host = (destination.get("destination") or {}).get("host")
        arm = arm_of.get(host)
        if arm is None or arm in out:
            problem = "names it twice" if arm else "is not an arm's host"
            raise ControllerError(f"route {route['name']!r}: destination {host!r} {problem}")
        out[arm] = destination
    if missing := sorted(set(config.arms) - out.keys()):
        raise ControllerError(f"route {route['name']!r} has no destination for {missing}")
    return out


def run(
    config_path: str | os.PathLike[str],
    *,
    once: bool = False,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
    environ: Mapping[str, str] | None = None,
) -> State | None:
    """`mlspec bandit-controller --config FILE [--once]`: see Controller.run. A file that is
    not a configuration raises ConfigError before anything is contacted."""
    config = Config.load(config_path)
    kube = Kube.from_environment(os.environ if environ is None else environ, sleep)
    prometheus = Prometheus(config.prometheus, sleep)
    return Controller(config, kube, prometheus, clock=clock, sleep=sleep).run(once=once)
