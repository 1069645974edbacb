"""The bandit's decisions, as pure functions shared by the controller and the simulator.

Each interval: rewards so far -> target shares (the algorithm) -> whole-percent weights that keep
every live arm at the exploration floor, move no arm by more than `max_step` points, give a
guardrail-breaching arm nothing, and never raise a held arm (one whose data is missing: no data
is never evidence of health). Randomness comes only from the `random.Random` passed in, so a
seeded run repeats exactly.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from mlspec.bandit.config import Config

Algorithm = Literal["thompson", "epsilon_greedy", "ucb1"]
DRAWS = 4000  # Monte Carlo draws for P(best): standard error below 0.8 percentage points


@dataclass(frozen=True)
class Stats:
    """Rewards of one arm so far: successes out of trials (a Bernoulli reward)."""

    successes: float = 0.0
    trials: float = 0.0

    @property
    def failures(self) -> float:
        return max(self.trials - self.successes, 0.0)

    @property
    def mean(self) -> float:
        """The posterior mean under a uniform Beta(1, 1) prior."""
        return (1 + self.successes) / (2 + self.trials)

    def add(self, successes: float, trials: float) -> Stats:
        return Stats(self.successes + successes, self.trials + trials)


def p_best(stats: Mapping[str, Stats], rng: random.Random, draws: int = DRAWS) -> dict[str, float]:
    """The probability that each arm has the highest reward rate, under Beta(1+S, 1+F)."""
    arms = sorted(stats)
    wins = dict.fromkeys(arms, 0)
    for _ in range(draws):
        sample = {a: rng.betavariate(1 + stats[a].successes, 1 + stats[a].failures) for a in arms}
        wins[max(arms, key=lambda a: (sample[a], a))] += 1
    return {a: wins[a] / draws for a in arms}


def target_shares(
    algorithm: Algorithm,
    stats: Mapping[str, Stats],
    rng: random.Random,
    epsilon: float | None = None,
) -> dict[str, float]:
    """The share of traffic each arm should get, before floors and step limits (sums to 1)."""
    arms = sorted(stats)
    if algorithm == "thompson":
        # Probability matching: each request would go to the arm whose posterior sample is
        # highest, so an arm's share is its probability of being best.
        return p_best(stats, rng)
    if algorithm == "epsilon_greedy":
        assert epsilon is not None
        best = _best(stats, {a: stats[a].mean for a in arms})
        return {a: epsilon / len(arms) + (1 - epsilon if a == best else 0.0) for a in arms}
    # Prometheus counts can be fractional (increase() extrapolates): below 1, log(total) would
    # be negative and its square root undefined, so the bonus bottoms out at zero instead.
    total = max(sum(stats[a].trials for a in arms), 1.0)
    untried = [a for a in arms if stats[a].trials == 0]
    if untried:  # UCB1 plays every arm once before it trusts any index
        return {a: (1 / len(untried) if a in untried else 0.0) for a in arms}
    index = {
        a: stats[a].successes / stats[a].trials + math.sqrt(2 * math.log(total) / stats[a].trials)
        for a in arms
    }
    best = _best(stats, index)
    return {a: 1.0 if a == best else 0.0 for a in arms}


def _best(stats: Mapping[str, Stats], score: Mapping[str, float]) -> str:
    # Ties go to the arm with more evidence, then to the name: deterministic.
    return max(sorted(stats), key=lambda a: (score[a], stats[a].trials, a))


def initial_weights(arms: Iterable[str], floor: int) -> dict[str, int]:
    """Where every route starts, in the manifests and in a simulation: an equal split, the
    remainder one point each to the first arms by name."""
    names = sorted(arms)
    base, rest = divmod(100, len(names))
    if base < floor:
        raise ValueError(f"{len(names)} arms cannot all get the exploration floor {floor}%")
    return {arm: base + (1 if i < rest else 0) for i, arm in enumerate(names)}


def weights(
    target: Mapping[str, float],
    current: Mapping[str, int],
    *,
    floor: int,
    max_step: int,
    zeroed: frozenset[str] = frozenset(),
    held: frozenset[str] = frozenset(),
) -> dict[str, int]:
    """Whole-percent weights summing to 100: each live arm within `max_step` points of its
    current weight and at least `floor`; zeroed arms (guardrail breached) get 0 at once; held
    arms (data missing) may fall but never rise above their current weight."""
    arms = sorted(target)
    live = [a for a in arms if a not in zeroed]
    if not live:
        raise ValueError("every arm breached a guardrail: no arm can take the traffic")
    low = {a: max(floor, current.get(a, 0) - max_step) for a in live}
    high = {a: min(100, current.get(a, 0) + (0 if a in held else max_step)) for a in live}
    for a in live:  # the floor wins over the step limit (an arm below it is lifted at once)
        high[a] = max(high[a], low[a])
    # When the step limit cannot add up to 100 (a zeroed arm's traffic must go somewhere, or
    # floors lift several arms at once), it gives way; the floor never does (the spec keeps
    # floor x arms <= 100). The traffic goes to arms that are not held; to held ones only
    # when every live arm is held (a breached arm's traffic must still go somewhere).
    wider = [a for a in live if a not in held] or live
    while sum(high.values()) < 100:  # widen those arms' limits evenly, just enough
        extra = math.ceil((100 - sum(high.values())) / len(wider))
        high = {a: min(100, high[a] + extra) if a in wider else high[a] for a in live}
    while sum(low.values()) > 100 and any(low[a] > floor for a in live):  # the same, downwards
        extra = math.ceil((sum(low.values()) - 100) / len(live))
        low = {a: max(floor, low[a] - extra) for a in live}
    wanted = {a: 100 * target[a] for a in live}
    share = _fit(wanted, low, high)
    return {a: share.get(a, 0) for a in arms}


def _fit(wanted: dict[str, float], low: dict[str, int], high: dict[str, int]) -> dict[str, int]:
    """Integers within [low, high] summing to 100, as close to `wanted` as the bounds allow.

    Water-filling: find the level t such that clamp(wanted + t) sums to 100, then round by
    largest remainder within the bounds. The bounds must admit 100 (see `weights`).
    """
    arms = sorted(wanted)

    def total(t: float) -> float:
        return sum(min(high[a], max(low[a], wanted[a] + t)) for a in arms)

    lo, hi = -200.0, 200.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if total(mid) < 100:
            lo = mid
        else:
            hi = mid
    exact = {a: min(high[a], max(low[a], wanted[a] + hi)) for a in arms}
    out = {a: math.floor(exact[a] + 1e-9) for a in arms}
    # Largest remainder first; ties by name, so the result is deterministic.
    order = sorted(arms, key=lambda a: (-(exact[a] - out[a]), a))
    short = 100 - sum(out.values())
    for a in order:
        if short <= 0:
            break
        if out[a] < high[a]:
            out[a] += 1
            short -= 1
    for a in sorted(arms, key=lambda a: (out[a] - exact[a], a)):  # overshoot (rounding up)
        while short < 0 and out[a] > low[a]:
            out[a] -= 1
            short += 1
    return out


def winner(
    stats: Mapping[str, Stats],
    rng: random.Random,
    *,
    p_best_threshold: float | None,
    elapsed_seconds: float,
    max_duration_seconds: float | None,
    zeroed: frozenset[str] = frozenset(),
    held: frozenset[str] = frozenset(),
) -> tuple[str, str] | None:
    """(winning arm, why) once the stopping rule holds, else None. A held arm (data missing)
    does not win now: winning would raise it to 100%; the rule is asked again next interval."""
    live = {a: s for a, s in stats.items() if a not in zeroed}
    if len(live) == 1:
        lone = next(iter(live))
        return None if lone in held else (lone, "every other arm breached a guardrail")
    probabilities = p_best(live, rng)
    best = max(sorted(live), key=lambda a: (probabilities[a], live[a].mean, a))
    if best in held:
        return None
    if p_best_threshold is not None and probabilities[best] >= p_best_threshold:
        return best, f"P(best) {probabilities[best]:.3f} >= {p_best_threshold}"
    if max_duration_seconds is not None and elapsed_seconds >= max_duration_seconds:
        return best, f"maximum duration reached; P(best) {probabilities[best]:.3f}"
    return None


def interval_rng(seed: int, interval: int, segment: str) -> random.Random:
    """A generator fixed by the run's seed, the interval number and the segment: a restarted
    controller draws the same numbers as the one it replaced."""
    return random.Random(f"{seed}/{interval}/{segment}")


def decide(
    config: Config,
    stats: Mapping[str, Stats],
    current: Mapping[str, int],
    *,
    seed: int,
    interval: int,
    segment: str,
    elapsed_seconds: float,
    zeroed: frozenset[str] = frozenset(),
    held: frozenset[str] = frozenset(),
) -> tuple[dict[str, int], tuple[str, str] | None]:
    """One route's decision at the end of an interval: its next weights, and (winner, why) if
    its stopping rule holds, in which case the winner gets all of the route's traffic. Held
    arms (`route_held`) are never raised and never win.

    The controller and `mlspec simulate` both call this. One generator per (seed, interval,
    segment) feeds the algorithm, then the stop rule, so a restarted controller repeats it.
    """
    rng = interval_rng(seed, interval, segment)
    target = target_shares(config.algorithm, stats, rng, config.epsilon)
    new = weights(
        target,
        current,
        floor=config.exploration_floor,
        max_step=config.max_step,
        zeroed=zeroed,
        held=held,
    )
    limit = config.stop_max_duration_seconds
    live = len(set(stats) - zeroed)
    if config.stop_p_best is None and (limit is None or elapsed_seconds < limit) and live > 1:
        return new, None  # `winner` would say no: skip its P(best) draws (the last use of rng)
    won = winner(
        stats,
        rng,
        p_best_threshold=config.stop_p_best,
        elapsed_seconds=elapsed_seconds,
        max_duration_seconds=limit,
        zeroed=zeroed,
        held=held,
    )
    if won is None:
        return new, None
    return {a: 100 if a == won[0] else 0 for a in new}, won


def route_evidence(
    config: Config, stats: Mapping[str, Mapping[str, Stats]], segment: str
) -> dict[str, Stats]:
    """What a route decides on: its segment's evidence, or, for the `default` route of a
    contextual bandit (requests in no listed segment), the pooled evidence of every segment."""
    if segment in config.queried_segments:
        return dict(stats[segment])
    pooled = dict.fromkeys(config.arms, Stats())
    for arms in stats.values():
        for arm, s in arms.items():
            pooled[arm] = pooled[arm].add(s.successes, s.trials)
    return pooled


@dataclass(frozen=True)
class Missing:
    """One interval's missing data: an answer without a number (an empty vector, NaN, +-Inf),
    or reward numbers that cannot be counts (negative, more successes than trials)."""

    guardrails: Mapping[str, tuple[str, ...]]  # live arm -> its guardrails that had no data
    rewards: Mapping[str, frozenset[str]]  # queried segment -> arms without valid rewards


def no_data_streaks(
    before: Mapping[str, int], missing: Missing, live: Iterable[str]
) -> dict[str, int]:
    """Each live arm's count of consecutive intervals with a guardrail that had no data."""
    return {a: before.get(a, 0) + 1 if missing.guardrails.get(a) else 0 for a in sorted(live)}


def paused(config: Config, streaks: Mapping[str, int]) -> bool:
    """Some arm has had a guardrail without data for `no_data_pause_intervals` intervals in a
    row: nobody can tell whether it is healthy, so no weight rises and no route stops."""
    return any(n >= config.no_data_pause_intervals for n in streaks.values())


def route_held(config: Config, segment: str, missing: Missing, *, pause: bool) -> frozenset[str]:
    """The arms a route must not raise this interval: every arm while paused; else those with a
    guardrail without data (in every route) or without valid rewards in the route's segment
    (for the pooled `default` route of a contextual bandit: in any segment)."""
    if pause:
        return frozenset(config.arms)
    held = {a for a, names in missing.guardrails.items() if names}
    if segment in config.queried_segments:
        held |= missing.rewards.get(segment, frozenset())
    else:
        for arms in missing.rewards.values():
            held |= arms
    return frozenset(held)
