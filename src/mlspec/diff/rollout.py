"""Rollout changes: what makes reaching users riskier (bigger jumps, shorter pauses, fewer
analyses, automatic promotion, fewer guardrails) and what only changes how it is done."""

from __future__ import annotations

from collections.abc import Iterator

from mlspec.compiler import ir
from mlspec.diff.model import Bounds, Change, duration, show

NODE = "rollout"


def _change(summary: str, risk: str, reason: str, bump: str | None = "pipeline") -> Change:
    return Change("rollout", summary, risk, reason, bump, NODE)  # type: ignore[arg-type]


def compare_rollouts(old: ir.Pipeline, new: ir.Pipeline) -> Iterator[Change]:
    a, b = old.rollout, new.rollout
    if a is None or b is None:
        if a is not b:
            yield _change(
                "added" if b else "removed",
                "review",
                "models are " + ("now" if b else "no longer") + " rolled out by mlspec",
            )
        return
    if a.controller != b.controller:
        yield _change(
            f"controller {a.controller} -> {b.controller}",
            "risky",
            "a different system moves traffic, with its own failure modes",
        )
    if a.strategy_kind != b.strategy_kind:
        yield _change(
            f"strategy {a.strategy_kind} -> {b.strategy_kind}",
            "risky",
            "traffic reaches the new model in another way",
        )
    yield from _service(a.service, b.service)
    if a.model_alias != b.model_alias:
        yield _change(
            f"serves alias {show(a.model_alias)} -> {show(b.model_alias)}",
            "review",
            "another model version is rolled out",
        )
    if a.strategy_kind == b.strategy_kind:
        yield from _strategy(a.strategy, b.strategy)
    yield from _analyses(old, new)


def _service(a: ir.Service, b: ir.Service) -> Iterator[Change]:
    for field in ("name", "namespace", "port", "image", "model_format"):
        x, y = getattr(a, field), getattr(b, field)
        if x != y:
            yield _change(
                f"service {field} {show(x)} -> {show(y)}",
                "review",
                "what serves users, or where, changes",
            )
    if a.replicas != b.replicas:
        fewer = b.replicas < a.replicas
        yield _change(
            f"replicas {a.replicas} -> {b.replicas}",
            "review" if fewer else "safe",
            "less capacity under load" if fewer else "more capacity",
        )
    if a.resources != b.resources:
        yield _change("serving resources changed", "review", "pods get other CPU or memory")


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
        )
    if _jump(b.steps) > _jump(a.steps):
        yield _change(
            f"largest traffic jump {_jump(a.steps)}% -> {_jump(b.steps)}%",
            "risky",
            "traffic moves further at once before the next check",
        )
    elif _jump(b.steps) < _jump(a.steps) and _first(b.steps) <= _first(a.steps):
        yield _change(
            f"largest traffic jump {_jump(a.steps)}% -> {_jump(b.steps)}%", "safe", "smaller steps"
        )
    old_waits, new_waits = _waits(a.steps), _waits(b.steps)
    if None in old_waits and None not in new_waits:
        yield _change("manual pause removed", "risky", "no person approves the rollout any more")
    timed = (sum(w for w in old_waits if w), sum(w for w in new_waits if w))
    if timed[1] < timed[0]:
        yield _change(
            f"total pause {duration(timed[0])} -> {duration(timed[1])}",
            "risky",
            "less time to notice a problem before more traffic moves",
        )
    elif timed[1] > timed[0]:
        yield _change(
            f"total pause {duration(timed[0])} -> {duration(timed[1])}",
            "safe",
            "more time to notice a problem",
        )
    yield from _lists("canary step analysis", _step_analyses(a.steps), _step_analyses(b.steps))
    yield from _lists("canary background analysis", list(a.analysis), list(b.analysis))
    weights = ([s.weight for s in a.steps if s.weight], [s.weight for s in b.steps if s.weight])
    if weights[0] != weights[1] and _jump(a.steps) == _jump(b.steps):
        yield _change(
            f"canary weights {weights[0]} -> {weights[1]}", "review", "traffic moves in other steps"
        )


def _lists(what: str, old: list[str], new: list[str]) -> Iterator[Change]:
    removed = sorted(set(old) - set(new))
    added = sorted(set(new) - set(old))
    if removed:
        yield _change(
            f"{what} removed: {', '.join(removed)}",
            "risky",
            "a problem it would catch now goes unnoticed",
        )
    if added:
        yield _change(f"{what} added: {', '.join(added)}", "safe", "one more check on live traffic")


def _blue_green(a: ir.BlueGreen, b: ir.BlueGreen) -> Iterator[Change]:
    if not a.auto_promote and b.auto_promote:
        yield _change(
            "auto-promotion turned on",
            "risky",
            "the new version takes all traffic without a person approving it",
        )
    elif a.auto_promote and not b.auto_promote:
        yield _change("auto-promotion turned off", "safe", "a person approves the switch")
    after = (a.auto_promote_after_seconds, b.auto_promote_after_seconds)
    if after[0] != after[1] and a.auto_promote and b.auto_promote:
        shorter = after[1] is None or (after[0] is not None and after[1] < after[0])
        yield _change(
            f"auto-promotion after {duration(after[0])} -> {duration(after[1])}",
            "risky" if shorter else "safe",
            "less time on the preview before the switch" if shorter else "more time",
        )
    if b.scale_down_delay_seconds < a.scale_down_delay_seconds:
        yield _change(
            f"scale-down delay {duration(a.scale_down_delay_seconds)} -> "
            f"{duration(b.scale_down_delay_seconds)}",
            "review",
            "less time to switch back to the old version",
        )
    yield from _lists(
        "pre-promotion analysis", list(a.pre_promotion_analysis), list(b.pre_promotion_analysis)
    )
    yield from _lists(
        "post-promotion analysis", list(a.post_promotion_analysis), list(b.post_promotion_analysis)
    )


def _shadow(a: ir.Shadow, b: ir.Shadow) -> Iterator[Change]:
    if a.percent != b.percent:
        yield _change(
            f"mirrored share {a.percent}% -> {b.percent}%",
            "review",
            "the candidate sees another share of real requests",
        )
    if b.duration_seconds < a.duration_seconds:
        yield _change(
            f"shadow duration {duration(a.duration_seconds)} -> {duration(b.duration_seconds)}",
            "risky",
            "less evidence before the candidate takes traffic",
        )
    yield from _lists("shadow analysis", list(a.analysis), list(b.analysis))


def _ab_test(a: ir.AbTest, b: ir.AbTest) -> Iterator[Change]:
    if (a.weight, a.header, a.cookie) != (b.weight, b.header, b.cookie):
        more = a.weight is not None and b.weight is not None and b.weight > a.weight
        yield _change(
            "A/B split changed",
            "risky" if more else "review",
            "more users get the candidate" if more else "other users get the candidate",
        )
    if b.duration_seconds < a.duration_seconds:
        yield _change(
            f"A/B duration {duration(a.duration_seconds)} -> {duration(b.duration_seconds)}",
            "risky",
            "less evidence to decide on",
        )
    yield from _lists("A/B analysis", list(a.analysis), list(b.analysis))


def _bandit(a: ir.Bandit, b: ir.Bandit) -> Iterator[Change]:
    if a.algorithm != b.algorithm:
        yield _change(
            f"bandit algorithm {a.algorithm} -> {b.algorithm}",
            "review",
            "traffic follows the evidence differently",
        )
    if b.max_step > a.max_step:
        yield _change(
            f"bandit max step {a.max_step} -> {b.max_step} points",
            "risky",
            "traffic can swing further in one interval",
        )
    if b.exploration_floor != a.exploration_floor:
        yield _change(
            f"exploration floor {a.exploration_floor}% -> {b.exploration_floor}%",
            "review",
            "every arm keeps another minimum share",
        )
    if {x.name for x in a.arms} != {x.name for x in b.arms}:
        yield _change("bandit arms changed", "review", "other models compete for traffic")
    yield from _lists("guardrail", list(a.guardrails), list(b.guardrails))
    if b.no_data_pause_intervals > a.no_data_pause_intervals:
        yield _change(
            f"bandit no-data pause {a.no_data_pause_intervals} -> "
            f"{b.no_data_pause_intervals} intervals",
            "risky",
            "the controller steers longer without guardrail data",
        )
    if (b.stop_p_best or 1) < (a.stop_p_best or 1):
        yield _change(
            f"stop at P(best) {show(a.stop_p_best)} -> {show(b.stop_p_best)}",
            "risky",
            "a winner is declared on weaker evidence",
        )
    if a.reward_successes != b.reward_successes or a.reward_trials != b.reward_trials:
        yield _change("reward queries changed", "review", "the bandit optimises something else")


def _analyses(old: ir.Pipeline, new: ir.Pipeline) -> Iterator[Change]:
    assert old.rollout is not None and new.rollout is not None
    a = {m.name: m for m in old.rollout.analysis}
    b = {m.name: m for m in new.rollout.analysis}
    bounds = Bounds(old, new)
    for name in sorted(a.keys() & b.keys()):
        x, y = a[name], b[name]
        what = f"analysis {name}"
        yield from bounds.compare("rollout", what, "min", x.min, y.min, NODE)
        yield from bounds.compare("rollout", what, "max", x.max, y.max, NODE)
        if (x.query, x.url, x.json_path, x.address) != (y.query, y.url, y.json_path, y.address):
            yield _change(f"{what}: query changed", "review", "it measures something else")
        if y.failure_limit > x.failure_limit:
            yield _change(
                f"{what}: failure limit {x.failure_limit} -> {y.failure_limit}",
                "risky",
                "more failed measurements are tolerated",
            )
        if y.count < x.count:
            yield _change(
                f"{what}: count {x.count} -> {y.count}", "review", "fewer measurements decide"
            )
