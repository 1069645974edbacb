"""Triggers: what else starts a run. Each names something that exists and can happen."""

from __future__ import annotations

from mlspec.compiler.checks.base import Checker
from mlspec.compiler.siblings import pipelines_beside
from mlspec.names import suggest

MIN_EVERY = 60


def check_triggers(c: Checker) -> None:
    spec = c.spec
    if not spec.triggers:
        return
    manual = [i for i, t in enumerate(spec.triggers) if t.manual]
    if manual and (len(spec.triggers) > 1 or spec.schedule is not None):
        c.error(
            ("triggers", manual[0], "manual"),
            "MS105",
            "`manual: true` says runs start only by hand, but the spec also has "
            + ("a schedule" if spec.schedule is not None else "other triggers"),
            "remove `manual: true`, or the schedule and the other triggers",
        )
    beside: dict[str, frozenset[str]] | None = None
    for i, trigger in enumerate(spec.triggers):
        path = ("triggers", i)
        if trigger.data is not None and trigger.data.every < MIN_EVERY:
            c.error(
                (*path, "data", "every"),
                "MS104",
                f"looking at a path every {trigger.data.every} s is too often",
                "at least every 1m: each look lists the folder",
            )
        after = trigger.pipeline
        if after is None:
            continue
        if after.name == spec.metadata.name:
            c.error(
                (*path, "pipeline", "name"),
                "MS220",
                f"pipeline {after.name!r} would trigger itself: every promotion would start "
                "another run",
                "retrain on a `schedule`, on data arrival, or after another pipeline",
            )
            continue
        if beside is None:
            beside = pipelines_beside(c.source.file)
        if after.name not in beside:
            known = sorted(n for n in beside if n != spec.metadata.name)
            c.error(
                (*path, "pipeline", "name"),
                "MS206",
                f"no pipeline {after.name!r} beside this spec",
                suggest(after.name, known)
                or "a trigger names the metadata.name of a spec in the same folder"
                + (f": {', '.join(known)}" if known else " (there is none)"),
            )
        elif after.promoted is not None and after.promoted not in beside[after.name]:
            aliases = ", ".join(sorted(beside[after.name])) or "none"
            c.error(
                (*path, "pipeline", "promoted"),
                "MS205",
                f"pipeline {after.name!r} has no promotion rule to alias {after.promoted!r}",
                suggest(after.promoted, beside[after.name]) or f"its aliases: {aliases}",
            )
