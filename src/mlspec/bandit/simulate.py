"""Offline simulation: the configured bandit against simulated Bernoulli arms (`mlspec simulate`).

It runs the controller's own decisions (`policy.target_shares`, `policy.weights`,
`policy.winner`, seeded by `policy.interval_rng` exactly as the controller seeds them), so a
simulated run shows what the deployed controller would do with the same evidence, and how much
reward exploring costs (expected regret against always sending every request to the best arm).

What is simulated, and what is not:
- Each request's reward is a Bernoulli draw with the arm's true rate (per segment for a
  contextual bandit). Istio routes each request independently by weight, so an interval's
  requests are split among the arms by a multinomial draw on the current weights.
- Guardrails are not simulated: no arm is ever zeroed. Missing metrics are, when asked for
  (`no_data`: arm -> interval numbers): in those intervals the arm's reward and guardrail
  queries answer no data, so its requests count for nothing, it is held (its weight does not
  rise, it cannot win), and the experiment pauses as the controller's does (`policy.paused`,
  which needs guardrails: without any, missing metrics only hold the arm).
- A contextual bandit's `default` route (requests in no listed segment) is weighted by the pooled
  evidence of the listed segments, as in the controller, and its own outcomes are never observed
  (the controller queries listed segments only). Its requests draw rewards from `rates["default"]`
  when given, else from the mean rate over the listed segments (traffic outside every segment
  looks like the average segment unless you say otherwise).
- Once a route's stopping rule holds, its winner takes 100% and the route decides nothing more;
  the run ends when every route has stopped, or after `max_intervals`.

Randomness: numpy-free `random.Random` streams named by (seed, interval, route, purpose). Every
arm has a reward stream of its own, so two runs with the same seed give the k-th request an arm
receives in an interval the same outcome whatever their weights (common random numbers): the
fixed split and other algorithms are compared on the same draws.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlspec.bandit import policy
from mlspec.bandit.config import DEFAULT_SEGMENT, Config
from mlspec.bandit.policy import Algorithm, Missing, Stats
from mlspec.extras import DISTRIBUTION

FIXED = "fixed split"  # the label of the baseline that never adapts
PLOT_EXTRA = f"{DISTRIBUTION}[plot]"

Weights = dict[str, int]  # arm -> percent
Rates = Mapping[str, float] | Mapping[str, Mapping[str, float]]
NoData = Mapping[str, Collection[int]]  # arm -> the intervals (1, 2, ...) its metrics are missing


@dataclass(frozen=True)
class Interval:
    """One interval of every route: what was routed, what it cost, and the weights in effect."""

    number: int  # 1, 2, ...
    elapsed_seconds: int  # at the end of the interval, when the controller decides
    weights: dict[str, Weights]  # route -> weights in effect during the interval
    requests: dict[str, dict[str, int]]  # route -> arm -> requests routed to it
    successes: dict[str, dict[str, int]]  # route -> arm -> rewarded requests
    regret: dict[str, float]  # route -> expected regret of this interval
    cumulative_regret: float  # every route, intervals 1..number


@dataclass(frozen=True)
class Stop:
    """A route's stopping rule held: its winner takes all of the route's traffic from then on."""

    interval: int
    winner: str
    reason: str


@dataclass(frozen=True)
class Result:
    label: str  # the algorithm, or FIXED
    config: Config  # as simulated (the algorithm may differ from the deployed one)
    seed: int  # the run's, else the config's
    arms: tuple[str, ...]
    rates: dict[str, dict[str, float]]  # route -> arm -> true reward rate
    traffic: dict[str, int]  # route -> requests per interval
    intervals: tuple[Interval, ...]
    stops: dict[str, Stop]  # the routes whose stopping rule held
    weights: dict[str, Weights]  # route -> weights after the last interval
    paused: tuple[int, ...] = ()  # intervals at whose end the experiment was paused (no data)

    @property
    def routes(self) -> tuple[str, ...]:
        return self.config.routes

    @property
    def interval_seconds(self) -> int:
        return self.config.interval_seconds

    @property
    def stopped(self) -> bool:
        return all(route in self.stops for route in self.routes)

    @property
    def cumulative_regret(self) -> float:
        return self.intervals[-1].cumulative_regret if self.intervals else 0.0

    @property
    def stopped_at(self) -> int | None:
        """The interval at whose end the last route stopped; None if one never did."""
        return max(stop.interval for stop in self.stops.values()) if self.stopped else None

    def leader(self, route: str = DEFAULT_SEGMENT) -> str:
        """The route's winner, or, when it never stopped, the arm with the largest weight."""
        if route in self.stops:
            return self.stops[route].winner
        final = self.weights[route]
        return max(sorted(final), key=lambda arm: final[arm])

    def regret_over(self, intervals: int) -> float:
        """Cumulative regret over the first `intervals` intervals. A run that stopped early is
        extended with its winners at 100% (the controller leaves them there), so runs that stop
        at different times compare over the same horizon, and a wrong winner keeps costing."""
        if intervals <= len(self.intervals):
            return self.intervals[intervals - 1].cumulative_regret if intervals > 0 else 0.0
        if not self.stopped:
            raise ValueError(f"the run ended after {len(self.intervals)} intervals unstopped")
        held = sum(_regret(self.traffic[r], self.weights[r], self.rates[r]) for r in self.routes)
        return self.cumulative_regret + held * (intervals - len(self.intervals))


def simulate(
    config: Config,
    rates: Rates,
    *,
    requests: int | Mapping[str, int],
    max_intervals: int,
    seed: int | None = None,
    no_data: NoData | None = None,
) -> Result:
    """Run the configured bandit for up to `max_intervals` intervals.

    `rates` is {arm: rate} for a plain bandit, {segment: {arm: rate}} for a contextual one (with
    an optional "default" entry for the default route's traffic); `requests` is the number of
    requests per interval, on every route or per route; `seed` overrides `config.seed`, for the
    controller's draws and the simulated arms alike; `no_data` names the intervals in which an
    arm's metrics are missing (see the module docstring).
    """
    return _run(config, rates, requests, max_intervals, seed, no_data or {}, adaptive=True)


def fixed_split(
    config: Config,
    rates: Rates,
    *,
    requests: int | Mapping[str, int],
    max_intervals: int,
    seed: int | None = None,
) -> Result:
    """The baseline: the initial equal split forever, on the same draws as `simulate`."""
    return _run(config, rates, requests, max_intervals, seed, {}, adaptive=False)


def with_algorithm(config: Config, algorithm: Algorithm, epsilon: float | None = None) -> Config:
    """The same bandit (arms, floor, step limit, stopping rule) with another algorithm."""
    epsilon = config.epsilon if epsilon is None else epsilon
    if algorithm == "epsilon_greedy" and epsilon is None:
        raise ValueError("epsilon_greedy needs an epsilon")
    return dataclasses.replace(config, algorithm=algorithm, epsilon=epsilon)


def compare(
    config: Config,
    rates: Rates,
    algorithms: Sequence[Algorithm],
    *,
    requests: int | Mapping[str, int],
    max_intervals: int,
    seed: int | None = None,
    epsilon: float = 0.1,
    no_data: NoData | None = None,
) -> dict[str, Result]:
    """Each algorithm, then the fixed split, on the same arms and draws, keyed by label.
    `epsilon` applies when epsilon-greedy is listed and the config names none; `no_data`
    applies to the algorithms (the fixed split never changes anyway)."""
    out: dict[str, Result] = {}
    own = config.epsilon if config.epsilon is not None else epsilon
    for algorithm in algorithms:
        variant = with_algorithm(config, algorithm, own if algorithm == "epsilon_greedy" else None)
        out[algorithm] = simulate(
            variant,
            rates,
            requests=requests,
            max_intervals=max_intervals,
            seed=seed,
            no_data=no_data,
        )
    out[FIXED] = fixed_split(
        config, rates, requests=requests, max_intervals=max_intervals, seed=seed
    )
    return out


def decide(
    config: Config,
    stats: Mapping[str, Stats],
    current: Weights,
    *,
    seed: int,
    interval: int,
    segment: str,
    held: frozenset[str] = frozenset(),
) -> tuple[Weights, Stop | None]:
    """One route's decision at the end of an interval, exactly as the controller makes it
    (`policy.decide`), with the elapsed time of a run that started at interval 0."""
    new, won = policy.decide(
        config,
        stats,
        current,
        seed=seed,
        interval=interval,
        segment=segment,
        elapsed_seconds=interval * config.interval_seconds,
        held=held,
    )
    return new, (Stop(interval, *won) if won is not None else None)


def _run(
    config: Config,
    rates: Rates,
    requests: int | Mapping[str, int],
    max_intervals: int,
    seed: int | None,
    no_data: NoData,
    *,
    adaptive: bool,
) -> Result:
    if max_intervals < 1:
        raise ValueError("simulate at least one interval")
    seed = config.seed if seed is None else seed
    arms = tuple(sorted(config.arms))
    table = rate_table(config, rates)
    traffic = _traffic(config, requests)
    gaps = _gaps(config, no_data)
    current = {r: policy.initial_weights(arms, config.exploration_floor) for r in config.routes}
    stats = {s: dict.fromkeys(arms, Stats()) for s in config.queried_segments}
    stops: dict[str, Stop] = {}
    rows: list[Interval] = []
    streaks: dict[str, int] = {}
    paused: list[int] = []
    for number in range(1, max_intervals + 1):
        row = _interval(config, number, seed, current, table, traffic, rows)
        rows.append(row)
        blind = frozenset(a for a in arms if number in gaps.get(a, ()))
        for segment in stats:  # the controller queries these segments' rewards only
            stats[segment] = {
                a: stats[segment][a].add(row.successes[segment][a], row.requests[segment][a])
                if a not in blind
                else stats[segment][a]
                for a in arms
            }
        if not adaptive:
            continue
        names = tuple(g.name for g in config.guardrails)
        missing = Missing(
            {a: names if a in blind else () for a in arms},
            dict.fromkeys(config.queried_segments, blind),
        )
        streaks = policy.no_data_streaks(streaks, missing, arms)
        pause = policy.paused(config, streaks)
        if pause:
            paused.append(number)
        for route in config.routes:
            if route not in stops:
                evidence = policy.route_evidence(config, stats, route)
                held = policy.route_held(config, route, missing, pause=pause)
                current[route], stop = decide(
                    config,
                    evidence,
                    current[route],
                    seed=seed,
                    interval=number,
                    segment=route,
                    held=held,
                )
                if stop is not None:
                    stops[route] = stop
        if len(stops) == len(config.routes):
            break
    label = config.algorithm if adaptive else FIXED
    return Result(
        label=label,
        config=config,
        seed=seed,
        arms=arms,
        rates=table,
        traffic=traffic,
        intervals=tuple(rows),
        stops=stops,
        weights=current,
        paused=tuple(paused),
    )


def _gaps(config: Config, no_data: NoData) -> dict[str, frozenset[int]]:
    """`no_data`, checked: known arms, interval numbers from 1."""
    out = {}
    for arm, numbers in no_data.items():
        if arm not in config.arms:
            raise ValueError(f"no data for {arm!r}: not an arm; the arms are {sorted(config.arms)}")
        wrong = [n for n in numbers if isinstance(n, bool) or not isinstance(n, int) or n < 1]
        if wrong:
            raise ValueError(
                f"no data for {arm!r}: intervals are numbered from 1, not {wrong[0]!r}"
            )
        out[arm] = frozenset(numbers)
    return out


def _interval(
    config: Config,
    number: int,
    seed: int,
    current: Mapping[str, Weights],
    table: Mapping[str, Mapping[str, float]],
    traffic: Mapping[str, int],
    rows: Sequence[Interval],
) -> Interval:
    """Route one interval's requests by the weights in effect and draw their rewards."""
    routed, rewarded, regret = {}, {}, {}
    for route in config.routes:
        stream = f"{seed}/{number}/{route}"
        split = random.Random(f"simulate/{stream}/split")
        routed[route] = _split(split, traffic[route], current[route])
        rewarded[route] = {
            arm: _successes(random.Random(f"simulate/{stream}/{arm}"), n, table[route][arm])
            for arm, n in routed[route].items()
        }
        regret[route] = _regret(traffic[route], current[route], table[route])
    before = rows[-1].cumulative_regret if rows else 0.0
    return Interval(
        number=number,
        elapsed_seconds=number * config.interval_seconds,
        weights={r: dict(w) for r, w in current.items()},
        requests=routed,
        successes=rewarded,
        regret=regret,
        cumulative_regret=before + sum(regret.values()),
    )


def _split(rng: random.Random, requests: int, weights: Weights) -> dict[str, int]:
    """Multinomial: each request goes to an arm with probability weight/100, as Istio does."""
    arms = sorted(weights)
    bounds, total = [], 0
    for arm in arms:
        total += weights[arm]
        bounds.append(total)
    counts = dict.fromkeys(arms, 0)
    for _ in range(requests):
        counts[arms[bisect.bisect_right(bounds, rng.random() * total)]] += 1
    return counts


def _successes(rng: random.Random, requests: int, rate: float) -> int:
    """Binomial(requests, rate), one Bernoulli draw per request (see common random numbers)."""
    return sum(rng.random() < rate for _ in range(requests))


def _regret(requests: int, weights: Mapping[str, int], rates: Mapping[str, float]) -> float:
    """Expected reward lost against sending every request to the best arm."""
    best = max(rates.values())
    return requests * sum(w / 100 * (best - rates[arm]) for arm, w in weights.items())


def rate_table(config: Config, rates: Rates) -> dict[str, dict[str, float]]:
    """Route -> arm -> true reward rate, checked against the config (see the module docstring
    for the default route of a contextual bandit)."""
    arms = set(config.arms)
    if not config.contextual:
        if any(isinstance(rate, Mapping) for rate in rates.values()):
            raise ValueError(
                f"this bandit has no segments: give {{arm: rate}} for the arms {sorted(arms)}"
            )
        return {DEFAULT_SEGMENT: _arm_rates(rates, arms, DEFAULT_SEGMENT)}
    if set(rates) - {DEFAULT_SEGMENT} != set(config.segments):
        raise ValueError(
            f"a contextual bandit needs {{segment: {{arm: rate}}}} for the segments "
            f"{sorted(config.segments)} (and optionally {DEFAULT_SEGMENT!r}); got {sorted(rates)}"
        )
    table = {s: _arm_rates(rates[s], arms, s) for s in config.segments}
    if DEFAULT_SEGMENT in rates:
        table[DEFAULT_SEGMENT] = _arm_rates(rates[DEFAULT_SEGMENT], arms, DEFAULT_SEGMENT)
    else:  # traffic outside every segment looks like the average segment
        table[DEFAULT_SEGMENT] = {
            a: sum(table[s][a] for s in config.segments) / len(config.segments) for a in arms
        }
    return {route: table[route] for route in config.routes}


def _arm_rates(rates: object, arms: set[str], where: str) -> dict[str, float]:
    if not isinstance(rates, Mapping) or set(rates) != arms:
        got = sorted(rates) if isinstance(rates, Mapping) else rates
        raise ValueError(f"{where}: give a reward rate for each arm {sorted(arms)}; got {got}")
    out = {}
    for arm, rate in rates.items():
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ValueError(f"{where}: the reward rate of {arm!r} must be in [0, 1], not {rate!r}")
        out[arm] = float(rate)
    return out


def _traffic(config: Config, requests: int | Mapping[str, int]) -> dict[str, int]:
    per_route = (
        dict.fromkeys(config.routes, requests) if isinstance(requests, int) else dict(requests)
    )
    if set(per_route) != set(config.routes):
        raise ValueError(f"give requests per interval for the routes {list(config.routes)}")
    for route, n in per_route.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"{route}: requests per interval must be a whole number >= 0")
    return per_route


def render_table(result: Result) -> str:
    """One line per interval (its number, the time at its end, the weights in effect on each
    route, the cumulative regret so far), then how the run ended, for a terminal."""
    columns = [(r, a) for r in result.routes for a in result.arms]
    labels = [a if len(result.routes) == 1 else f"{r}:{a}" for r, a in columns]
    widths = [max(len(label), 3) for label in labels]
    header = ["interval", "elapsed", *labels, "cum. regret"]
    rows = [
        [str(i.number), _duration(i.elapsed_seconds)]
        + [str(i.weights[r][a]) for r, a in columns]
        + [f"{i.cumulative_regret:.1f}"]
        for i in result.intervals
    ]
    widths = [8, max([7, *(len(row[1]) for row in rows)]), *widths, 11]
    lines = [f"{result.label}: {_describe(result)}"]
    for cells in [header, *rows]:
        lines.append("  ".join(cell.rjust(w) for cell, w in zip(cells, widths, strict=True)))
    lines += _ending(result)
    return "\n".join(lines) + "\n"


def render_comparison(results: Mapping[str, Result], horizon: int) -> str:
    """One line per run: where it stopped, its winners, and its regret over the same horizon."""
    lines = [f"regret over {horizon} intervals (a stopped run keeps its winners at 100%):"]
    width = max(len(label) for label in results)
    for label, result in results.items():
        regret = f"{label.ljust(width)}  {result.regret_over(horizon):10.1f}"
        if result.label == FIXED:
            lines.append(f"{regret}  the initial weights throughout")
            continue
        if result.stopped_at is not None:
            ending = f"stopped at interval {result.stopped_at}"
        else:
            ending = f"no stop in {len(result.intervals)} intervals"
        leaders = ", ".join(f"{r}={result.leader(r)}" for r in result.routes)
        lines.append(f"{regret}  {ending}; leaders {leaders}")
    return "\n".join(lines) + "\n"


def as_json(result: Result) -> dict[str, object]:
    """The run for tools (`mlspec simulate --format json`): every interval, the stops, the
    weights after the last interval."""
    return {
        "label": result.label,
        "algorithm": result.config.algorithm,
        "seed": result.seed,
        "interval_seconds": result.interval_seconds,
        "arms": list(result.arms),
        "routes": list(result.routes),
        "rates": result.rates,
        "requests_per_interval": result.traffic,
        "intervals": [dataclasses.asdict(interval) for interval in result.intervals],
        "stops": {route: dataclasses.asdict(stop) for route, stop in result.stops.items()},
        "stopped_at": result.stopped_at,
        "paused": list(result.paused),
        "weights": result.weights,
        "cumulative_regret": result.cumulative_regret,
    }


def comparison_json(results: Mapping[str, Result], horizon: int) -> dict[str, object]:
    """`render_comparison` for tools: each run's regret over the same horizon, its stop and
    each route's leader (the fixed split never stops)."""
    return {
        "horizon": horizon,
        "runs": [
            {
                "label": label,
                "regret": result.regret_over(horizon),
                "stopped_at": result.stopped_at,
                "leaders": {route: result.leader(route) for route in result.routes},
            }
            for label, result in results.items()
        ],
    }


def plot(result: Result, path: str | Path) -> None:
    """Write a PNG of each route's weights over time, a dotted line where the route stopped."""
    try:
        from matplotlib.figure import Figure  # an optional extra: imported only when asked
    except ImportError as error:
        raise ImportError(
            f"plotting needs matplotlib: install the optional extra, pip install '{PLOT_EXTRA}'"
        ) from error
    figure = Figure(figsize=(8, 2.5 * len(result.routes)), layout="constrained")
    axes = figure.subplots(len(result.routes), 1, sharex=True, squeeze=False)[:, 0]
    # Interval k runs from k-1 to k; the weights decided at its end hold from k on.
    x = range(len(result.intervals) + 1)
    for ax, route in zip(axes, result.routes, strict=True):
        for arm in result.arms:
            ys = [i.weights[route][arm] for i in result.intervals] + [result.weights[route][arm]]
            ax.step(x, ys, where="post", label=arm)
        if route in result.stops:
            ax.axvline(result.stops[route].interval, color="grey", linestyle=":")
        ax.set_ylim(-3, 103)  # lines at 0% and 100% stay visible
        ax.set_ylabel(f"{route} weight (%)")
        ax.legend(loc="upper left", fontsize="small")
    axes[-1].set_xlabel(f"intervals elapsed ({result.interval_seconds} s each)")
    axes[0].set_title(f"{result.label}: {_describe(result)}")
    figure.savefig(path, format="png")


def _describe(result: Result) -> str:
    traffic = ", ".join(f"{r} {result.traffic[r]}" for r in result.routes)
    return f"{len(result.arms)} arms; requests per interval: {traffic}"


def _ending(result: Result) -> list[str]:
    """The winner (per route for a contextual bandit), or 'no stop'."""
    out = []
    for route in result.routes:
        where = "" if len(result.routes) == 1 else f"{route}: "
        stop = result.stops.get(route)
        if stop is None:
            out.append(f"{where}no stop after {len(result.intervals)} intervals")
        else:
            elapsed = _duration(stop.interval * result.interval_seconds)
            out.append(
                f"{where}winner {stop.winner} at interval {stop.interval} ({elapsed}): "
                f"{stop.reason}"
            )
    if result.paused:
        out.append(
            f"paused (an arm's guardrails without data) at the end of intervals "
            f"{_spans(result.paused)}: no weight rose, no route stopped"
        )
    out.append(f"cumulative regret {result.cumulative_regret:.1f}")
    return out


def _spans(numbers: Sequence[int]) -> str:
    """1, 2, 3, 7 -> '1-3, 7'."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def _duration(seconds: int) -> str:
    return str(datetime.timedelta(seconds=seconds))
