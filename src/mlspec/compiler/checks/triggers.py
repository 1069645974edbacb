"""Triggers: what else starts a run. Each names something that exists and can happen."""

from __future__ import annotations

from collections.abc import Iterable

from mlspec.compiler.checks.base import Checker
from mlspec.compiler.siblings import Sibling, specs_beside
from mlspec.compiler.source import PathKey
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
    beside: dict[str, Sibling] | None = None
    for i, trigger in enumerate(spec.triggers):
        path = ("triggers", i)
        if trigger.data is not None and trigger.data.every < MIN_EVERY:
            c.error(
                (*path, "data", "every"),
                "MS104",
                f"looking at a path every {trigger.data.every} s is too often",
                "at least every 1m: each look lists the folder",
            )
        if trigger.monitor is not None:
            beside = beside if beside is not None else specs_beside(c.source)
            _check_monitor_name(c, (*path, "monitor", "name"), trigger.monitor.name, beside)
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
        beside = beside if beside is not None else specs_beside(c.source)
        pipelines = {n: s.aliases for n, s in beside.items() if s.kind == "Pipeline"}
        if after.name in beside and same_name_beside(
            c, (*path, "pipeline", "name"), beside[after.name]
        ):
            continue  # which spec it names is unclear: nothing more to say about it
        if after.name not in pipelines:
            unknown_name(c, (*path, "pipeline", "name"), after.name, "pipeline", pipelines)
        elif after.promoted is not None and after.promoted not in pipelines[after.name]:
            unknown_alias(c, (*path, "pipeline", "promoted"), after.name, after.promoted, beside)


def unknown_name(c: Checker, path: PathKey, name: str, kind: str, known: Iterable[str]) -> None:
    """MS206: no `kind` (pipeline, monitor) called `name` beside the spec."""
    others = sorted(n for n in known if n != c.spec.metadata.name)
    c.error(
        path,
        "MS206",
        f"no {kind} {name!r} beside this spec",
        suggest(name, others)
        or f"name the metadata.name of a {kind.capitalize()} spec in the same folder"
        + (f": {', '.join(others)}" if others else " (there is none)"),
    )


def unknown_alias(
    c: Checker, path: PathKey, pipeline: str, alias: str, beside: dict[str, Sibling]
) -> None:
    """MS205: the pipeline beside has no promotion rule to `alias`."""
    aliases = beside[pipeline].aliases
    c.error(
        path,
        "MS205",
        f"pipeline {pipeline!r} has no promotion rule to alias {alias!r}",
        suggest(alias, aliases) or f"its aliases: {', '.join(sorted(aliases)) or 'none'}",
    )


def _check_monitor_name(c: Checker, path: PathKey, name: str, beside: dict[str, Sibling]) -> None:
    monitors = [n for n, s in beside.items() if s.kind == "Monitor"]
    if name == c.spec.metadata.name:
        c.error(
            path,
            "MS220",
            f"monitor {name!r} would trigger itself: every alarm would start another run",
            "run the monitor on a `schedule`, on data arrival, or after a promotion",
        )
    elif name in beside and same_name_beside(c, path, beside[name]):
        return
    elif name not in monitors:
        unknown_name(c, path, name, "monitor", monitors)


def same_name_beside(c: Checker, path: PathKey, sibling: Sibling) -> bool:
    """MS221 when more than one spec beside is called `sibling.name`: what it names is unclear."""
    if not sibling.also:
        return False
    named = (sibling.path, *sibling.also)
    files = ", ".join(named[:3]) + (f" and {len(named) - 3} more" if len(named) > 3 else "")
    c.error(
        path,
        "MS221",
        f"{len(sibling.also) + 1} specs beside this one are named {sibling.name!r}: {files}",
        "give each spec in a folder its own metadata.name",
    )
    return True
