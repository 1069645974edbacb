"""Changes to a Monitor spec: the model it watches, the logged data it reads, its checks, the
quality it requires on labelled feedback, and the rollback rule.

A monitor protects what is served, so what makes it see less is `risky`: watching another
model or alias (the one served may go unwatched), a check or requirement removed or loosened,
feedback no longer judged, a rollback no longer made. What makes it see more is `review`, not
`safe` as in a gate: a tighter monitor raises more alarms, and each alarm starts retraining
runs (and, with a rollback rule, changes what is served). A rollback rule added is `review`: an
automatic change of what production serves, which a person should agree to.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from mlspec.compiler import ir
from mlspec.diff.changes.gates import data_checks
from mlspec.diff.model import Bounds, Change, Path, at, duration, numbered, show

BASE: Path = ("monitor",)
NODE = "monitor"  # the graph's node for the monitor's job (graph.py)


def compare_monitor(old: ir.Pipeline, new: ir.Pipeline) -> Iterator[Change]:
    a, b = old.monitor, new.monitor
    if a is None or b is None:
        if a is not b:
            yield Change(
                "monitor",
                "added" if b else "removed",
                "review",
                "the spec " + ("now is a Monitor" if b else "no longer is a Monitor"),
                "major",
                NODE,
                (BASE,),
            )
        return
    yield from _model(a.model, b.model)
    yield from _logged("inputs", a.inputs, b.inputs, ("inputs",))
    yield from _alarms(
        data_checks(a.checks, b.checks, Bounds(old, new), "monitor", NODE, BASE),
        "checks" in b.rollback_on,
    )
    yield from _feedback(a, b, Bounds(old, new))
    yield from _rollback(a.rollback_on, b.rollback_on)


def _model(a: ir.WatchedModel, b: ir.WatchedModel) -> Iterator[Change]:
    node, path = "monitor_model", (*BASE, "model")
    if (a.pipeline, a.alias) != (b.pipeline, b.alias):
        yield Change(
            "monitor",
            f"watches {a.pipeline}@{a.alias} -> {b.pipeline}@{b.alias}",
            "risky",
            f"{a.pipeline}@{a.alias} is no longer watched here, and what serves it may go on "
            "unwatched",
            "major" if a.pipeline != b.pipeline else "pipeline",
            node,
            (path,),
        )
        return
    if (a.registered_model, a.tracking_uri) != (b.registered_model, b.tracking_uri):
        yield Change(
            "monitor",
            f"watched registry {a.registered_model} at {show(a.tracking_uri)} -> "
            f"{b.registered_model} at {show(b.tracking_uri)}",
            "review",
            f"pipeline {b.pipeline}'s spec now registers elsewhere; this spec's text is the same",
            None,
            node,
            ((*path, "registered_model"), (*path, "tracking_uri")),
        )


def _logged(
    what: str, a: ir.LoggedData, b: ir.LoggedData, path: tuple[str, ...]
) -> Iterator[Change]:
    node, where = f"monitor_{what}", (*BASE, *path)
    if a.path != b.path:
        yield Change(
            "monitor",
            f"{what} read from {a.path} -> {b.path}",
            "review",
            f"it judges other {what}: the serving side must log there",
            "pipeline",
            node,
            ((*where, "path"),),
        )
    if a.window_seconds != b.window_seconds:
        yield Change(
            "monitor",
            f"{what} window {_window(a.window_seconds)} -> {_window(b.window_seconds)}",
            "review",
            "it judges a different span of what was served",
            "pipeline",
            node,
            ((*where, "window_seconds"),),
        )


def _window(seconds: int | None) -> str:
    return "all files" if seconds is None else f"last {duration(seconds)}"


def _alarms(changes: Iterator[Change], rolls_back: bool) -> Iterator[Change]:
    """Gate rules rate a tighter check `safe`; on a monitor it means more alarms."""
    more = "more alarms, each starting retraining runs" + (
        ", and rollbacks of what is served" if rolls_back else ""
    )
    for change in changes:
        if change.risk == "safe" and change.bump is not None:
            yield dataclasses.replace(change, risk="review", reason=f"{change.reason}: {more}")
        else:
            yield change


def _feedback(a: ir.Monitor, b: ir.Monitor, bounds: Bounds) -> Iterator[Change]:
    x, y, path = a.feedback, b.feedback, (*BASE, "feedback")
    node = "monitor_feedback"
    if x is None or y is None:
        if x is not y:
            yield Change(
                "monitor",
                "feedback " + ("added" if y else "removed"),
                "review" if y else "risky",
                "quality on labelled feedback is now judged: more alarms"
                if y
                else "quality on labelled feedback is no longer judged",
                "pipeline",
                node,
                (path,),
            )
        return
    yield from _logged("feedback", x.data, y.data, ("feedback", "data"))
    columns = ("prediction", "label", "positive")
    if any(getattr(x, f) != getattr(y, f) for f in columns):
        yield Change(
            "monitor",
            "feedback columns or positive class changed: "
            + ", ".join(f"{f} {show(getattr(x, f))} -> {show(getattr(y, f))}" for f in columns),
            "review",
            "quality is measured on other columns, or for another class",
            "pipeline",
            node,
            tuple((*path, f) for f in columns),
        )
    if x.min_rows != y.min_rows:
        later = y.min_rows > x.min_rows
        yield Change(
            "monitor",
            f"feedback min_rows {x.min_rows} -> {y.min_rows}",
            "risky" if later else "review",
            "quality is judged only once more labels are in"
            if later
            else "quality is judged on fewer labels: more alarms on noise",
            "pipeline",
            node,
            ((*path, "min_rows"),),
        )
    old, new = numbered(x.requirements, requirement_key), numbered(y.requirements, requirement_key)
    reqs = (*path, "requirements")
    for key in sorted(old.keys() - new.keys()):
        yield Change(
            "monitor",
            f"feedback requirement {key} removed",
            "risky",
            "served quality is no longer held to it",
            "pipeline",
            node,
            ((*reqs, at(key)),),
        )
    for key in sorted(new.keys() - old.keys()):
        yield Change(
            "monitor",
            f"feedback requirement {key} added",
            "review",
            "served quality is held to one more bound: more alarms",
            "pipeline",
            node,
            ((*reqs, at(key)),),
        )
    rolls_back = "feedback" in b.rollback_on
    for key in sorted(old.keys() & new.keys()):
        r, s, where = old[key], new[key], (*reqs, at(key))
        what = f"feedback {key}"
        yield from _alarms(
            bounds.compare("monitor", what, "min", r.min, s.min, node, where), rolls_back
        )
        yield from _alarms(
            bounds.compare("monitor", what, "max", r.max, s.max, node, where), rolls_back
        )


_BREACHES = {"checks": "the input checks", "feedback": "feedback quality"}


def _rollback(a: tuple[str, ...], b: tuple[str, ...]) -> Iterator[Change]:
    covers = ((*BASE, "rollback_on"),)
    for kind in sorted(set(b) - set(a)):
        yield Change(
            "monitor",
            f"a breach of {_BREACHES.get(kind, kind)} now rolls the alias back",
            "review",
            "an automatic change of what production serves (to the version the alias named "
            "before, never twice in a row)",
            "pipeline",
            "monitor_rollback",
            covers,
        )
    for kind in sorted(set(a) - set(b)):
        yield Change(
            "monitor",
            f"a breach of {_BREACHES.get(kind, kind)} no longer rolls the alias back",
            "risky",
            "the breaching model keeps serving until a person acts",
            "pipeline",
            "monitor_rollback",
            covers,
        )


def requirement_key(req: ir.FeedbackRequirement) -> str:
    return req.metric
