"""Gates: what data gates read, what model gates compare, what serving gates serve and send,
and gates that guard nothing."""

from __future__ import annotations

from mlspec.compiler.checks.base import Checker
from mlspec.compiler.fields import PLACEHOLDER_RE
from mlspec.compiler.source import PathKey
from mlspec.compiler.spec import Gate, Serve
from mlspec.names import suggest

# What a serving gate's runtime command may hold: the model file and the port to listen on.
SERVING_PLACEHOLDERS = ("model", "port")

NUMERIC = ("float", "int")


def check_gates(c: Checker) -> None:
    for name, gate in c.spec.gates.items():
        _check_gate(c, name, gate)


def _check_gate(c: Checker, name: str, gate: Gate) -> None:
    base: PathKey = ("gates", name)
    if gate.serve is not None:
        _check_serving(c, name, gate.serve, (*base, "serve"))
        return
    if gate.dataset is not None:
        _dataset_ref(c, gate.dataset, (*base, "dataset"), f"gate {name!r}")
        for i, check in enumerate(gate.checks or ()):
            path = (*base, "checks", i, check.kind)
            for bound in ("min", "max"):
                parts = (check.row_count, check.range, check.null_fraction, check.drift)
                for part in parts:
                    if part is not None and hasattr(part, bound):
                        what = f"{bound} threshold of gate {name!r}"
                        _numeric(c, getattr(part, bound), (*path, bound), what)
            if check.drift is not None and check.drift.reference is not None:
                _dataset_ref(
                    c,
                    check.drift.reference,
                    (*path, "reference"),
                    f"drift reference of gate {name!r}",
                )
        return
    compares = False
    for i, req in enumerate(gate.require or ()):
        path = (*base, "require", i)
        if req.metric.startswith("params."):
            c.error(
                (*path, "metric"),
                "MS211",
                f"metric of gate {name!r} is a parameter, not a step output",
                "a gate judges what a step measured, e.g. evaluate.auc",
            )
        else:
            _numeric(c, req.metric, (*path, "metric"), f"metric of gate {name!r}")
        _numeric(c, req.min, (*path, "min"), f"min threshold of gate {name!r}")
        _numeric(c, req.max, (*path, "max"), f"max threshold of gate {name!r}")
        if req.vs is not None:
            compares = True
            _compared_alias(c, req.vs, (*path, "vs"), name)
    if not compares and gate.first_run is not None:
        c.error(
            (*base, "first_run"),
            "MS105",
            f"gate {name!r} has a first-run policy but never compares with the champion",
            "remove 'first_run', or add a requirement with 'vs: champion'",
            key=True,
        )
    if compares and gate.first_run is None:
        c.error(
            base,
            "MS230",
            f"gate {name!r} compares with the champion but says nothing about the first run",
            "add 'first_run: pass' (promote when no champion exists yet) or 'first_run: fail'",
            key=True,
        )
    if compares and c.spec.registry is None:
        c.error(
            base,
            "MS244",
            f"gate {name!r} compares with the champion, but the spec has no registry",
            "add a 'registry' section naming the MLflow model",
            key=True,
        )


def _check_serving(c: Checker, name: str, serve: Serve, base: PathKey) -> None:
    kind = c.output_type(serve.model, (*base, "model"), f"serving gate {name!r}")
    if kind is not None and kind != "model":
        c.error(
            (*base, "model"),
            "MS213",
            f"serving gate {name!r} serves {serve.model!r}, {_describe_type(kind)}",
            "a serving gate serves an output of type model, e.g. train.model",
        )
    dataset = serve.requests.dataset
    if dataset is not None:
        path = (*base, "requests", "dataset")
        kind = c.output_type(dataset, path, f"requests of serving gate {name!r}")
        if kind is not None and kind != "dataset":
            c.error(
                path,
                "MS212",
                f"serving gate {name!r} sends rows of {dataset!r}, {_describe_type(kind)}",
                "requests come from a dataset output, e.g. ingest.test",
            )
    if serve.command is not None:
        _serving_command(c, name, serve.command, (*base, "command"))


def _serving_command(c: Checker, name: str, command: list[str], path: PathKey) -> None:
    """The runtime command gets the model file and the port, and nothing else, filled in."""
    found: set[str] = set()
    for i, text in enumerate(command):
        for match in PLACEHOLDER_RE.finditer(text):
            inner = match.group(1)
            found.add(inner)
            if inner not in SERVING_PLACEHOLDERS:
                c.error(
                    (*path, i),
                    "MS224",
                    f"unknown placeholder ${{{inner}}} in the command of serving gate {name!r}",
                    suggest(inner, SERVING_PLACEHOLDERS)
                    or "a serving command holds ${model} (the model file) and ${port}",
                )
    if not found <= set(SERVING_PLACEHOLDERS):
        return  # a misspelt placeholder, reported: its fix may well be the missing one
    for needed in SERVING_PLACEHOLDERS:
        if needed not in found:
            c.error(
                path,
                "MS224",
                f"the command of serving gate {name!r} never names ${{{needed}}}",
                f"pass '${{{needed}}}' to the server: "
                + ("the model file it loads" if needed == "model" else "the port it listens on"),
                key=True,
            )


def _numeric(c: Checker, ref: str | float | None, path: PathKey, what: str) -> None:
    """A threshold or metric: a number, or a reference to a numeric param or output."""
    if not isinstance(ref, str):
        return
    kind = c.output_type(ref, path, what)
    if kind is not None and kind not in NUMERIC:
        c.error(
            path,
            "MS211",
            f"{what} is {ref!r}, {_describe_type(kind)}, not a number",
            "gates compare numbers: use a float or int output or param",
        )


def _compared_alias(c: Checker, alias: str, path: PathKey, gate: str) -> None:
    """A gate compares with an alias: some process must set it, or the gate would always see
    a first run (an alias nobody sets never has a version)."""
    registry = c.spec.registry
    if registry is None:
        return  # MS244, reported for the gate
    promoted = [rule.alias for rule in registry.promote]
    if alias in promoted or alias in registry.external_aliases:
        return
    c.error(
        path,
        "MS205",
        f"gate {gate!r} compares with alias {alias!r}, which no promotion rule sets",
        suggest(alias, [*promoted, *registry.external_aliases])
        or "compare with an alias under registry.promote, or list it in "
        "registry.external_aliases if another process sets it",
    )


def _dataset_ref(c: Checker, ref: str, path: PathKey, what: str) -> None:
    kind = c.output_type(ref, path, what)
    if kind is not None and kind != "dataset":
        c.error(
            path,
            "MS212",
            f"{what} reads {ref!r}, which is a {kind}",
            "data gates check dataset outputs",
        )


def check_unguarded_gates(c: Checker) -> None:
    spec = c.spec
    used = {dep for step in spec.steps.values() for dep in step.after}
    if spec.registry:
        used |= {dep for rule in spec.registry.promote for dep in rule.after}
    consumed = {b.from_ for step in spec.steps.values() for b in step.inputs.values()}
    for name, gate in spec.gates.items():
        if name not in used and gate.dataset not in consumed:
            c.warning(
                ("gates", name),
                "MS231",
                f"gate {name!r} guards nothing",
                "name it in a promotion rule's 'after' or a step's 'after'",
            )


def _describe_type(kind: str) -> str:
    if kind in ("dataset", "model", "metrics", "artifact"):
        return f"an artifact ({kind})"
    return {"str": "a string", "bool": "a boolean"}.get(kind, f"a {kind}")
