"""Rollout changes: what makes reaching users riskier (bigger jumps, shorter pauses, fewer
analyses, automatic promotion, fewer guardrails, analyses that no longer act or no longer fail
without data, no smoke test or load) and what only changes how it is done."""

from __future__ import annotations

from collections.abc import Iterator

from mlspec.compiler import ir
from mlspec.diff.model import ANY, Bounds, Change, Path, Risk, at, duration, show

NODE = "rollout"
STRATEGY: Path = ("rollout", "strategy")
# Canary rules judge the step list as a whole (first step, largest jump, total pause): a change
# to it covers that aspect of every step, and what kind of step each is.
WEIGHTS = ((*STRATEGY, "steps", ANY, "weight"), (*STRATEGY, "steps", ANY, "action"))
PAUSES = ((*STRATEGY, "steps", ANY, "pause_seconds"), (*STRATEGY, "steps", ANY, "action"))


def _change(summary: str, risk: Risk, reason: str, *covers: Path) -> Change:
    return Change("rollout", summary, risk, reason, "pipeline", NODE, covers)


def _field(*names: str) -> Path:
    return (*STRATEGY, *names)


def compare_rollouts(old: ir.Pipeline, new: ir.Pipeline) -> Iterator[Change]:
    a, b = old.rollout, new.rollout
    if a is None or b is None:
        if a is not b:
            yield _change(
                "added" if b else "removed",
                "review",
                "models are " + ("now" if b else "no longer") + " rolled out by mlspec",
                ("rollout",),
            )
        return
    if a.controller != b.controller:
        yield _change(
            f"controller {a.controller} -> {b.controller}",
            "risky",
            "a different system moves traffic, with its own failure modes",
            ("rollout", "controller"),
        )
    if a.strategy_kind != b.strategy_kind:
        yield _change(
            f"strategy {a.strategy_kind} -> {b.strategy_kind}",
            "risky",
            "traffic reaches the new model in another way",
            ("rollout", "strategy_kind"),
            STRATEGY,
        )
    yield from _service(a.service, b.service)
    if a.prometheus != b.prometheus:
        yield _change(
            f"Prometheus {show(a.prometheus)} -> {show(b.prometheus)}",
            "review",
            "analyses that do not name their own address query another server",
            ("rollout", "prometheus"),
            *(("rollout", "analysis", at(name), "address") for name in _following(old, new)),
        )
    if a.model_alias != b.model_alias:
        yield _change(
            f"serves alias {show(a.model_alias)} -> {show(b.model_alias)}",
            "review",
            "another model version is rolled out",
            ("rollout", "model_alias"),
        )
    if a.strategy_kind == b.strategy_kind:
        yield from _strategy(a.strategy, b.strategy)
    yield from _analyses(old, new)
    yield from _checks_before_and_during(a, b)


# What removing each check lets through (risky); adding one is a review: it can stop a rollout.
_CHECKS = {
    "smoke": (
        "smoke test",
        "the new version gets traffic without answering the canned requests first",
        "the new version must answer the smoke requests before it gets traffic",
    ),
    "load": (
        "load",
        "an idle new version may give its analyses no data to judge",
        "traffic is generated at the new version while it is analysed",
    ),
}


def _checks_before_and_during(a: ir.Rollout, b: ir.Rollout) -> Iterator[Change]:
    for field, (what, removed, added) in _CHECKS.items():
        x, y = getattr(a, field), getattr(b, field)
        if (x is None) != (y is None):
            yield _change(
                f"{what} {'removed' if y is None else 'added'}",
                "risky" if y is None else "review",
                removed if y is None else added,
                ("rollout", field),
            )


def _service(a: ir.Service, b: ir.Service) -> Iterator[Change]:
    for field in ("name", "namespace", "port", "image", "model_format"):
        x, y = getattr(a, field), getattr(b, field)
        if x != y:
            yield _change(
                f"service {field} {show(x)} -> {show(y)}",
                "review",
                "what serves users, or where, changes",
                ("rollout", "service", field),
            )
    if a.replicas != b.replicas:
        fewer = b.replicas < a.replicas
        yield _change(
            f"replicas {a.replicas} -> {b.replicas}",
            "review" if fewer else "safe",
            "less capacity under load" if fewer else "more capacity",
            ("rollout", "service", "replicas"),
        )
    if a.resources != b.resources:
        yield _change(
            "serving resources changed",
            "review",
            "pods get other CPU or memory",
            ("rollout", "service", "resources"),
        )


def _strategy(a: ir.Strategy, b: ir.Strategy) -> Iterator[Change]:
    if isinstance(a, ir.Canary) and isinstance(b, ir.Canary):
        yield from _canary(a, b)
    elif isinstance(a, ir.BlueGreen) and isinstance(b, ir.BlueGreen):
        yield from _blue_green(a, b)
    elif isinstance(a, ir.Shadow) and isinstance(b, ir.Shadow):
        yield from _shadow(a, b)
    elif isinstance(a, ir.AbTest) and isinstance(b, ir.AbTest):
        yield from _ab_test(a, b)
    elif isinstance(a, ir.Bandit) and isinstance(b, ir.Bandit):
        yield from _bandit(a, b)


def _jump(steps: tuple[ir.CanaryStep, ...]) -> int:
    """The largest single increase of traffic to the new version, from 0 at the start."""
    last, largest = 0, 0
    for step in steps:
        if step.weight is not None:
            largest = max(largest, step.weight - last)
            last = step.weight
    return largest


def _waits(steps: tuple[ir.CanaryStep, ...]) -> list[int | None]:
    return [s.pause_seconds for s in steps if s.action == "pause"]


def _step_analyses(steps: tuple[ir.CanaryStep, ...]) -> list[str]:
    return [name for s in steps for name in s.analysis]


def _first(steps: tuple[ir.CanaryStep, ...]) -> int:
    return next((s.weight for s in steps if s.weight is not None), 0)


def _canary(a: ir.Canary, b: ir.Canary) -> Iterator[Change]:
    if _first(b.steps) > _first(a.steps):
        yield _change(
            f"first canary step {_first(a.steps)}% -> {_first(b.steps)}%",
            "risky",
            "more users meet the new version before anything is checked",
            *WEIGHTS,
        )
    if _jump(b.steps) > _jump(a.steps):
        yield _change(
            f"largest traffic jump {_jump(a.steps)}% -> {_jump(b.steps)}%",
            "risky",
            "traffic moves further at once before the next check",
            *WEIGHTS,
        )
    elif _jump(b.steps) < _jump(a.steps) and _first(b.steps) <= _first(a.steps):
        yield _change(
            f"largest traffic jump {_jump(a.steps)}% -> {_jump(b.steps)}%",
            "safe",
            "smaller steps",
            *WEIGHTS,
        )
    old_waits, new_waits = _waits(a.steps), _waits(b.steps)
    if None in old_waits and None not in new_waits:
        yield _change(
            "manual pause removed", "risky", "no person approves the rollout any more", *PAUSES
        )
    timed = (sum(w for w in old_waits if w), sum(w for w in new_waits if w))
    if timed[1] < timed[0]:
        yield _change(
            f"total pause {duration(timed[0])} -> {duration(timed[1])}",
            "risky",
            "less time to notice a problem before more traffic moves",
            *PAUSES,
        )
    elif timed[1] > timed[0]:
        yield _change(
            f"total pause {duration(timed[0])} -> {duration(timed[1])}",
            "safe",
            "more time to notice a problem",
            *PAUSES,
        )
    yield from _lists(
        "canary step analysis",
        _step_analyses(a.steps),
        _step_analyses(b.steps),
        _field("steps", ANY, "analysis"),
        _field("steps", ANY, "action"),
    )
    yield from _lists(
        "canary background analysis", list(a.analysis), list(b.analysis), _field("analysis")
    )
    weights = ([s.weight for s in a.steps if s.weight], [s.weight for s in b.steps if s.weight])
    if weights[0] != weights[1] and _jump(a.steps) == _jump(b.steps):
        yield _change(
            f"canary weights {weights[0]} -> {weights[1]}",
            "review",
            "traffic moves in other steps",
            *WEIGHTS,
        )


def _lists(what: str, old: list[str], new: list[str], *field: Path) -> Iterator[Change]:
    """Analyses (by name) a strategy runs; a name added or removed with its definition under
    `rollout.analysis` is one change."""
    removed = sorted(set(old) - set(new))
    added = sorted(set(new) - set(old))
    if removed:
        yield _change(
            f"{what} removed: {', '.join(removed)}",
            "risky",
            "a problem it would catch now goes unnoticed",
            *field,
            *(("rollout", "analysis", at(name)) for name in removed),
        )
    if added:
        yield _change(
            f"{what} added: {', '.join(added)}",
            "safe",
            "one more check on live traffic",
            *field,
            *(("rollout", "analysis", at(name)) for name in added),
        )


def _blue_green(a: ir.BlueGreen, b: ir.BlueGreen) -> Iterator[Change]:
    if not a.auto_promote and b.auto_promote:
        yield _change(
            "auto-promotion turned on",
            "risky",
            "the new version takes all traffic without a person approving it",
            _field("auto_promote"),
        )
    elif a.auto_promote and not b.auto_promote:
        yield _change(
            "auto-promotion turned off",
            "safe",
            "a person approves the switch",
            _field("auto_promote"),
        )
    after = (a.auto_promote_after_seconds, b.auto_promote_after_seconds)
    if after[0] != after[1] and a.auto_promote and b.auto_promote:
        shorter = after[1] is None or (after[0] is not None and after[1] < after[0])
        yield _change(
            f"auto-promotion after {duration(after[0])} -> {duration(after[1])}",
            "risky" if shorter else "safe",
            "less time on the preview before the switch" if shorter else "more time",
            _field("auto_promote_after_seconds"),
        )
    if b.scale_down_delay_seconds < a.scale_down_delay_seconds:
        yield _change(
            f"scale-down delay {duration(a.scale_down_delay_seconds)} -> "
            f"{duration(b.scale_down_delay_seconds)}",
            "review",
            "less time to switch back to the old version",
            _field("scale_down_delay_seconds"),
        )
    yield from _lists(
        "pre-promotion analysis",
        list(a.pre_promotion_analysis),
        list(b.pre_promotion_analysis),
        _field("pre_promotion_analysis"),
    )
    yield from _lists(
        "post-promotion analysis",
        list(a.post_promotion_analysis),
        list(b.post_promotion_analysis),
        _field("post_promotion_analysis"),
    )


def _shadow(a: ir.Shadow, b: ir.Shadow) -> Iterator[Change]:
    if a.percent != b.percent:
        yield _change(
            f"mirrored share {a.percent}% -> {b.percent}%",
            "review",
            "the candidate sees another share of real requests",
            _field("percent"),
        )
    if b.duration_seconds < a.duration_seconds:
        yield _change(
            f"shadow duration {duration(a.duration_seconds)} -> {duration(b.duration_seconds)}",
            "risky",
            "less evidence before the candidate takes traffic",
            _field("duration_seconds"),
        )
    yield from _lists("shadow analysis", list(a.analysis), list(b.analysis), _field("analysis"))


def _ab_test(a: ir.AbTest, b: ir.AbTest) -> Iterator[Change]:
    if (a.weight, a.header, a.cookie) != (b.weight, b.header, b.cookie):
        more = a.weight is not None and b.weight is not None and b.weight > a.weight
        yield _change(
            "A/B split changed",
            "risky" if more else "review",
            "more users get the candidate" if more else "other users get the candidate",
            _field("weight"),
            _field("header"),
            _field("cookie"),
        )
    if b.duration_seconds < a.duration_seconds:
        yield _change(
            f"A/B duration {duration(a.duration_seconds)} -> {duration(b.duration_seconds)}",
            "risky",
            "less evidence to decide on",
            _field("duration_seconds"),
        )
    yield from _lists("A/B analysis", list(a.analysis), list(b.analysis), _field("analysis"))


def _bandit(a: ir.Bandit, b: ir.Bandit) -> Iterator[Change]:
    if a.algorithm != b.algorithm:
        yield _change(
            f"bandit algorithm {a.algorithm} -> {b.algorithm}",
            "review",
            "traffic follows the evidence differently",
            _field("algorithm"),
        )
    if b.max_step > a.max_step:
        yield _change(
            f"bandit max step {a.max_step} -> {b.max_step} points",
            "risky",
            "traffic can swing further in one interval",
            _field("max_step"),
        )
    if b.exploration_floor != a.exploration_floor:
        yield _change(
            f"exploration floor {a.exploration_floor}% -> {b.exploration_floor}%",
            "review",
            "every arm keeps another minimum share",
            _field("exploration_floor"),
        )
    arms = {x.name for x in a.arms} ^ {x.name for x in b.arms}
    if arms:
        yield _change(
            "bandit arms changed",
            "review",
            "other models compete for traffic",
            *(_field("arms", at(name)) for name in sorted(arms)),
        )
    yield from _lists("guardrail", list(a.guardrails), list(b.guardrails), _field("guardrails"))
    if b.no_data_pause_intervals > a.no_data_pause_intervals:
        yield _change(
            f"bandit no-data pause {a.no_data_pause_intervals} -> "
            f"{b.no_data_pause_intervals} intervals",
            "risky",
            "the controller steers longer without guardrail data",
            _field("no_data_pause_intervals"),
        )
    if (b.stop_p_best or 1) < (a.stop_p_best or 1):
        yield _change(
            f"stop at P(best) {show(a.stop_p_best)} -> {show(b.stop_p_best)}",
            "risky",
            "a winner is declared on weaker evidence",
            _field("stop_p_best"),
        )
    if a.reward_successes != b.reward_successes or a.reward_trials != b.reward_trials:
        yield _change(
            "reward queries changed",
            "review",
            "the bandit optimises something else",
            _field("reward_successes"),
            _field("reward_trials"),
        )


def _analyses(old: ir.Pipeline, new: ir.Pipeline) -> Iterator[Change]:
    assert old.rollout is not None and new.rollout is not None
    a = {m.name: m for m in old.rollout.analysis}
    b = {m.name: m for m in new.rollout.analysis}
    bounds = Bounds(old, new)
    for name in sorted(a.keys() & b.keys()):
        x, y, base = a[name], b[name], ("rollout", "analysis", at(name))
        what = f"analysis {name}"
        yield from bounds.compare("rollout", what, "min", x.min, y.min, NODE, base)
        yield from bounds.compare("rollout", what, "max", x.max, y.max, NODE, base)
        source: tuple[str, ...] = ("provider", "query", "url", "json_path", "address")
        if name in _following(old, new):  # reported with `rollout.prometheus`
            source = source[:-1]
        if any(getattr(x, f) != getattr(y, f) for f in source):
            yield _change(
                f"{what}: query changed",
                "review",
                "it measures something else",
                *((*base, f) for f in source),
            )
        yield from _measuring(what, base, x, y)


def _following(old: ir.Pipeline, new: ir.Pipeline) -> list[str]:
    """Analyses on both sides whose address is the rollout's `prometheus` on each side."""
    assert old.rollout is not None and new.rollout is not None
    before = {m.name for m in old.rollout.analysis if m.address == old.rollout.prometheus}
    return sorted(
        m.name
        for m in new.rollout.analysis
        if m.name in before and m.address == new.rollout.prometheus
    )


def _measuring(
    what: str, base: Path, x: ir.AnalysisMetric, y: ir.AnalysisMetric
) -> Iterator[Change]:
    """How an analysis measures: every `interval`, `count` times, failing after more than
    `failure_limit` failed measurements. Loosening any of them lets a bad version serve longer
    or with less evidence (risky); tightening costs only rollout time or a false abort."""
    if x.interval_seconds != y.interval_seconds:
        longer = y.interval_seconds > x.interval_seconds
        yield _change(
            f"{what}: interval {duration(x.interval_seconds)} -> {duration(y.interval_seconds)}",
            "risky" if longer else "review",
            "a failing version serves longer before each measurement can catch it"
            if longer
            else "problems are caught sooner, but the same count now covers a shorter window",
            (*base, "interval_seconds"),
        )
    if x.count != y.count:
        fewer = y.count < x.count
        yield _change(
            f"{what}: count {x.count} -> {y.count}",
            "risky" if fewer else "safe",
            "fewer measurements decide: less evidence before it passes"
            if fewer
            else "more measurements decide",
            (*base, "count"),
        )
    if x.no_data != y.no_data:
        paused = y.no_data == "inconclusive"
        yield _change(
            f"{what}: no data {x.no_data} -> {y.no_data}",
            "risky" if paused else "review",
            "a measurement without data no longer fails: the rollout waits with the new version "
            "serving until a person decides"
            if paused
            else "a measurement without data now counts as failed: an idle version can abort",
            (*base, "no_data"),
        )
    if x.dry_run != y.dry_run:
        yield _change(
            f"{what}: dry run {str(x.dry_run).lower()} -> {str(y.dry_run).lower()}",
            "risky" if y.dry_run else "review",
            "it is measured but no longer acts: a failing version passes it"
            if y.dry_run
            else "its result now acts: it can abort the rollout",
            (*base, "dry_run"),
        )
    if x.failure_limit != y.failure_limit:
        more = y.failure_limit > x.failure_limit
        yield _change(
            f"{what}: failure limit {x.failure_limit} -> {y.failure_limit}",
            "risky" if more else "safe",
            "more failed measurements are tolerated"
            if more
            else "fewer failed measurements are tolerated",
            (*base, "failure_limit"),
        )
