"""Changes to what starts a run: data arrival, another pipeline's promotion, a monitor's alarm,
manual only.

Triggers are keyed by what they wait for (the path, the other pipeline, the monitor), so
reordering them changes nothing and a new alias or interval is a change of that trigger (a
monitor trigger has only its name: it is added or removed). Every change is `review`: the
pipeline runs at other moments. Removing the last trigger of a pipeline that has
no schedule left is `risky`: nothing starts it by itself any more (unless the spec now says so,
with `manual: true`). Removing the last `monitor:` trigger is `risky` too: the model is watched,
but no alarm retrains it any more (the loop from serving back to training is open).
"""

from __future__ import annotations

from collections.abc import Iterator

from mlspec.compiler import ir
from mlspec.diff.model import Change, Risk, duration, numbered

COVERS = (("triggers",),)


def compare_triggers(old: ir.Pipeline, new: ir.Pipeline) -> Iterator[Change]:
    before, after = numbered(old.triggers, trigger_key), numbered(new.triggers, trigger_key)
    by_itself = new.schedule is not None or any(t.kind != "manual" for t in new.triggers)
    manual = any(t.kind == "manual" for t in new.triggers)
    for key in sorted(before.keys() - after.keys()):
        trigger = before[key]
        if trigger.kind == "manual":
            yield _change(f"removed: {describe(trigger)}", "review", "runs may start by themselves")
        elif trigger.kind == "monitor" and not any(t.kind == "monitor" for t in new.triggers):
            yield _change(
                f"removed: {describe(trigger)}",
                "risky",
                f"no monitor's alarm retrains the model any more: a breach {trigger.monitor} "
                "finds in serving goes unanswered",
            )
        elif by_itself or manual:
            yield _change(
                f"removed: {describe(trigger)}", "review", f"no more runs {_when(trigger)}"
            )
        else:
            yield _change(
                f"removed: {describe(trigger)}",
                "risky",
                "no schedule or trigger is left: the pipeline never runs again by itself",
            )
    for key in sorted(after.keys() - before.keys()):
        trigger = after[key]
        reason = (
            "runs start only by hand or through the API"
            if trigger.kind == "manual"
            else f"the pipeline also runs {_when(trigger)}"
        )
        yield _change(f"added: {describe(trigger)}", "review", reason)
    for key in sorted(before.keys() & after.keys()):
        a, b = before[key], after[key]
        if describe(a) != describe(b):
            yield _change(
                f"changed: {describe(a)} -> {_detail(b)}",
                "review",
                "the pipeline runs at other moments",
            )


def describe(trigger: ir.Trigger) -> str:
    """In words: 'runs when pipeline feature-store promotes to champion'."""
    if trigger.kind == "manual":
        return "runs only by hand (manual: true)"
    return f"runs {_when(trigger)}" + (
        f" (looked at every {duration(trigger.every_seconds)})" if trigger.kind == "data" else ""
    )


def _when(trigger: ir.Trigger) -> str:
    if trigger.kind == "data":
        return f"when files arrive at {trigger.path}"
    if trigger.kind == "pipeline":
        promoted = f"to {trigger.alias}" if trigger.alias else "a model (to any alias)"
        return f"when pipeline {trigger.pipeline} promotes {promoted}"
    if trigger.kind == "monitor":
        return f"when monitor {trigger.monitor} raises its alarm"
    return "by hand"


def _detail(trigger: ir.Trigger) -> str:
    """What differs between two triggers with one key: the interval or the alias."""
    if trigger.kind == "data":
        return f"every {duration(trigger.every_seconds)}"
    return f"to {trigger.alias}" if trigger.alias else "to any alias"


def trigger_key(trigger: ir.Trigger) -> str:
    """What a trigger waits for: its kind and path, pipeline or monitor (its alias may be
    unset)."""
    return f"{trigger.kind} {trigger.path or trigger.pipeline or trigger.monitor or ''}"


def _change(summary: str, risk: Risk, reason: str) -> Change:
    return Change("trigger", summary, risk, reason, "pipeline", covers=COVERS)
