"""A Monitor spec: the model it watches exists, is promoted to the alias it names, and records
what the monitor's drift checks compare with."""

from __future__ import annotations

from mlspec.compiler import source
from mlspec.compiler.checks.base import Checker
from mlspec.compiler.checks.triggers import same_name_beside, unknown_name
from mlspec.compiler.parse import parse
from mlspec.compiler.siblings import SpecFolder, disk_folder, specs_beside
from mlspec.compiler.spec import MonitorCheck, Spec
from mlspec.diagnostics import Diagnostic, SpecError
from mlspec.names import suggest


def check_monitor(c: Checker) -> None:
    monitor = c.spec.monitor
    if monitor is None:
        return
    _check_thresholds(c, monitor.checks)
    at = ("monitor", "model")
    beside = specs_beside(c.source)
    pipelines = [n for n, s in beside.items() if s.kind == "Pipeline"]
    watched = beside.get(monitor.model.pipeline)
    if watched is not None and same_name_beside(c, (*at, "pipeline"), watched):
        return
    if watched is None or watched.kind != "Pipeline":
        unknown_name(c, (*at, "pipeline"), monitor.model.pipeline, "pipeline", pipelines)
        return
    spec, problem = _read_checked(c.source.folder or disk_folder(c.source.file), watched.path)
    if spec is None:
        c.error(
            (*at, "pipeline"),
            "MS207",
            f"the spec of pipeline {watched.name!r} ({watched.path}) has errors, first {problem}",
            f"fix them first: mlspec validate {watched.path}",
        )
        return
    registry = spec.registry
    if registry is None:
        c.error(
            (*at, "pipeline"),
            "MS244",
            f"pipeline {watched.name!r} registers no model for a monitor to watch",
            "give it a `registry:` that registers and promotes its model",
        )
        return
    # Serving may resolve an alias the pipeline sets, or one set outside it (after a rollout).
    known = {r.alias for r in registry.promote} | set(registry.external_aliases)
    if monitor.model.alias not in known:
        c.error(
            (*at, "alias"),
            "MS205",
            f"pipeline {watched.name!r} neither promotes to nor lists alias "
            f"{monitor.model.alias!r}",
            suggest(monitor.model.alias, known)
            or f"its aliases: {', '.join(sorted(known)) or 'none'}",
        )
    if registry.reference is None:
        for i, check in enumerate(monitor.checks):
            if check.drift is not None and check.drift.reference_uri is None:
                c.error(
                    ("monitor", "checks", i, "drift"),
                    "MS244",
                    f"pipeline {watched.name!r} records no training data for drift to compare with",
                    "add `reference: STEP.OUTPUT` (the dataset its model learned from) to its "
                    "registry, or give this check a `reference_uri`",
                )
    if "feedback" in monitor.on_breach.rollback and monitor.feedback is None:
        item = monitor.on_breach.rollback.index("feedback")
        c.error(
            ("monitor", "on_breach", "rollback", item),
            "MS244",
            "rollback on a feedback breach, but the monitor has no `feedback`",
            "add `feedback: {path, prediction, label, require}`, or remove `feedback` here",
        )


def _check_thresholds(c: Checker, checks: list[MonitorCheck]) -> None:
    """A Monitor has no params: a threshold naming one would reach the job unresolved."""
    for i, check in enumerate(checks):
        body = getattr(check, check.kind)
        for bound in ("min", "max"):
            value = getattr(body, bound, None)
            if isinstance(value, str):
                c.error(
                    ("monitor", "checks", i, check.kind, bound),
                    "MS202",
                    f"a Monitor has no params: {bound} {value!r} names one",
                    "write the number",
                )


def _read_checked(folder: SpecFolder, path: str) -> tuple[Spec | None, str]:
    """The spec at `path` in `folder` when it has no errors, else None and its first error."""
    from mlspec.compiler.checks import check as check_spec  # the checks, on the spec beside

    spec: Spec | None = None
    try:
        src = source.load_bytes(folder.read(path), path)
        src.folder = folder
        spec = parse(src)
        found = check_spec(spec, src)
    except SpecError as caught:
        found = caught.diagnostics
    except OSError as caught:
        return None, f"it cannot be read: {caught.strerror}"
    errors = sorted((d for d in found if d.severity == "error"), key=Diagnostic.sort_key)
    if not errors:
        return spec, ""
    first = errors[0]
    return None, f"{first.code} at {first.span.line}:{first.span.col}: {first.message}"
