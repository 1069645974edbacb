"""Changes to the pipeline as a whole: its name and bookkeeping, parameters, schedule."""

from __future__ import annotations

from collections.abc import Iterator

from mlspec.compiler import ir
from mlspec.diff.changes.steps import model_steps
from mlspec.diff.model import Bump, Change, at, keyed, name_of, show


def compare_metadata(old: ir.Pipeline, new: ir.Pipeline) -> Iterator[Change]:
    if old.name != new.name:
        yield Change(
            "pipeline",
            f"renamed {old.name} -> {new.name}",
            "review",
            "deployed DAGs, flows and pipelines are named after it",
            "pipeline",
            covers=(("name",),),
        )
    # Neither order means anything: owners are a list of people, labels a mapping.
    if (sorted(old.owners), dict(old.labels)) != (sorted(new.owners), dict(new.labels)):
        yield Change(
            "pipeline",
            "owners or labels changed",
            "safe",
            "bookkeeping only",
            None,
            covers=(("owners",), ("labels",)),
        )
    if old.artifact_root != new.artifact_root:
        yield Change(
            "pipeline",
            f"artifact_root {show(old.artifact_root)} -> {show(new.artifact_root)}",
            "review",
            "runs read and write artifacts elsewhere",
            "pipeline",
            covers=(("artifact_root",),),
        )
    if old.runtime_wheels != new.runtime_wheels:

        def how(url: str | None) -> str:
            return f"a pinned wheel from {url}" if url else "text in each component"

        yield Change(
            "pipeline",
            f"mlspec's runtime reaches Kubeflow as {how(new.runtime_wheels)} "
            f"(was {how(old.runtime_wheels)})",
            "review",
            "Kubeflow components install the runtime from elsewhere: the wheel must be published",
            "pipeline",
            covers=(("runtime_wheels",),),
        )


def compare_params(old: ir.Pipeline, new: ir.Pipeline) -> Iterator[Change]:
    before, after = keyed(old.params, name_of), keyed(new.params, name_of)
    for name in sorted(before.keys() - after.keys()):
        yield Change(
            f"param {name}",
            "removed",
            "review",
            "runs or schedules that pass it will fail",
            "pipeline",
            covers=(("params", at(name)),),
        )
    for name in sorted(after.keys() - before.keys()):
        yield Change(
            f"param {name}",
            f"added (default {show(after[name].default)})",
            "safe",
            "a new parameter with a default changes no existing run",
            "pipeline",
            covers=(("params", at(name)),),
        )
    for name in sorted(before.keys() & after.keys()):
        a, b = before[name], after[name]
        if a.type != b.type:
            yield Change(
                f"param {name}",
                f"type {a.type} -> {b.type}",
                "review",
                "callers must pass the new type",
                "pipeline",
                covers=(("params", at(name), "type"),),
            )
        if a.default != b.default and not _feeds_threshold(new, name):
            bump: Bump = "minor" if name in _model_params(new) else "pipeline"
            yield Change(
                f"param {name}",
                f"default {show(a.default)} -> {show(b.default)}",
                "review",
                "scheduled runs loop over the new list"
                if b.is_list
                else "scheduled runs use the new default",
                bump,
                covers=(("params", at(name), "default"),),
            )


def _feeds_threshold(pipeline: ir.Pipeline, name: str) -> bool:
    """A parameter whose default is judged as a gate bound (reported with the gate)."""
    ref = ir.ParamRef(name)
    for gate in pipeline.gates:
        bounds = [(r.min, r.max) for r in gate.requirements] + [(c.min, c.max) for c in gate.checks]
        if any(ref in pair for pair in bounds):
            return True
    return False


def _model_params(pipeline: ir.Pipeline) -> set[str]:
    steps = model_steps(pipeline)
    return {
        i.source.name
        for s in pipeline.steps
        if s.name in steps
        for i in s.inputs
        if isinstance(i.source, ir.ParamRef)
    }


def compare_schedule(old: ir.Pipeline, new: ir.Pipeline) -> Iterator[Change]:
    a, b = old.schedule, new.schedule
    if _schedule(a) != _schedule(b):
        # Without a schedule or a trigger nothing starts the pipeline again, unless the spec
        # says that is the intent (`manual: true`).
        stranded = b is None and not new.triggers
        yield Change(
            "schedule",
            f"{_schedule(a)} -> {_schedule(b)}",
            "risky" if stranded else "review",
            "nothing starts the pipeline by itself any more (declare `manual: true` if that "
            "is the intent)"
            if stranded
            else "the pipeline runs at other times",
            "pipeline",
            covers=(("schedule",),),
        )


def _schedule(schedule: ir.Schedule | None) -> str:
    if schedule is None:
        return "none"
    return f"{schedule.cron} {schedule.timezone}" + (" paused" if schedule.paused else "")
