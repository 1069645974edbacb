"""Semantic checks across a parsed spec: references, types, the graph, names, consistency.

Every check reports at the position of the offending text and collects all problems of the
stage; `lower.py` may then assume a spec that passed is consistent.
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise

from mlspec.compiler import credentials
from mlspec.compiler.fields import (
    PLACEHOLDER_OK,
    PLACEHOLDER_RE,
    RESERVED_NAMES,
    RESERVED_PREFIXES,
    TIMEZONE_MAX,
    TIMEZONE_RE,
)
from mlspec.compiler.source import PathKey, Source
from mlspec.compiler.spec import Gate, Spec
from mlspec.diagnostics import Diagnostic, Span
from mlspec.names import suggest, target_key

NUMERIC = ("float", "int")
NO_LOOPS = (
    "loops are not part of the language: a pipeline runs each step once, in dependency order. "
    "Remove this dependency; to repeat work, re-run the pipeline, on a `schedule` or triggered "
    "from outside (CI, the engine's API)"
)


@dataclass
class Checker:
    spec: Spec
    source: Source
    found: list[Diagnostic] = field(default_factory=list)

    # -- reporting ------------------------------------------------------------------------

    def error(
        self, path: PathKey, code: str, message: str, hint: str | None = None, *, key: bool = False
    ) -> None:
        self.found.append(Diagnostic(self.source.span(path, key=key), code, message, hint))

    def warning(self, path: PathKey, code: str, message: str, hint: str | None = None) -> None:
        self.found.append(
            Diagnostic(self.source.span(path, key=True), code, message, hint, severity="warning")
        )

    # -- reference resolution -------------------------------------------------------------

    def output_type(self, ref: str, path: PathKey, what: str) -> str | None:
        """Resolve 'step.output' or 'params.name' to its type, reporting if it does not exist."""
        head, _, tail = ref.partition(".")
        if head == "params":
            return self.param_type(tail, path, what)
        step = self.spec.steps.get(head)
        if step is None:
            hint = suggest(head, self.spec.steps)
            if head in self.spec.gates:
                hint = f"'{head}' is a gate; gates have no outputs, name it in 'after'"
            self.error(path, "MS201", f"unknown step {head!r} in {what}", hint)
            return None
        if tail not in step.outputs:
            outputs = ", ".join(step.outputs) or "none"
            self.error(
                path,
                "MS201",
                f"step {head!r} has no output {tail!r} ({what})",
                suggest(tail, step.outputs) or f"its outputs: {outputs}",
            )
            return None
        return step.outputs[tail]

    def param_type(self, name: str, path: PathKey, what: str) -> str | None:
        param = self.spec.params.get(name)
        if param is None:
            declared = ", ".join(self.spec.params) or "none declared"
            self.error(
                path,
                "MS202",
                f"unknown parameter {name!r} in {what}",
                suggest(name, self.spec.params) or f"params: {declared}",
            )
            return None
        return param.type

    def numeric(self, ref: str | float | None, path: PathKey, what: str) -> None:
        """A threshold or metric: a number, or a reference to a numeric param or output."""
        if not isinstance(ref, str):
            return
        kind = self.output_type(ref, path, what)
        if kind is not None and kind not in NUMERIC:
            self.error(
                path,
                "MS211",
                f"{what} is {ref!r}, {describe_type(kind)}, not a number",
                "gates compare numbers: use a float or int output or param",
            )

    # -- the checks -----------------------------------------------------------------------

    def run(self) -> list[Diagnostic]:
        self.check_names()
        self.check_params()
        self.check_defaults()
        for name in self.spec.steps:
            self.check_step(name)
        for name, gate in self.spec.gates.items():
            self.check_gate(name, gate)
        self.check_cycles()
        self.check_registry()
        self.check_rollout()
        self.check_schedule()
        self.check_unguarded_gates()
        self.check_values()
        return self.found

    def check_names(self) -> None:
        tasks = [(("steps", n), n, "step") for n in self.spec.steps]
        tasks += [(("gates", n), n, "gate") for n in self.spec.gates]
        self.collisions(tasks, "as task names on Kubeflow and Kubernetes")
        for path, name, kind in tasks:
            if name.startswith(RESERVED_PREFIXES) or name in RESERVED_NAMES:
                self.error(
                    path,
                    "MS222",
                    f"{kind} name {name!r} is reserved",
                    "mlspec names its own tasks mlspec_* and promote_*, and reads "
                    "'params.' and 'rollout' as keywords; choose another name",
                    key=True,
                )
        params = [(("params", n), n, "parameter") for n in self.spec.params]
        self.collisions(params, "as pipeline parameters on Kubeflow")
        for step_name, step in self.spec.steps.items():
            base = ("steps", step_name)
            self.collisions(
                [((*base, "inputs", n), n, "input") for n in step.inputs]
                + [((*base, "outputs", n), n, "output") for n in step.outputs],
                "in the step's function signature, which receives inputs and outputs alike",
            )
        bandit = self.spec.rollout and (
            self.spec.rollout.strategy.bandit or self.spec.rollout.strategy.contextual_bandit
        )
        if bandit:
            kind = self.spec.rollout.strategy.kind  # type: ignore[union-attr]
            arms = [(("rollout", "strategy", kind, "arms", n), n, "arm") for n in bandit.arms]
            self.collisions(arms, "as Deployment and Service names on Kubernetes")
        if self.spec.rollout:
            self.collisions(
                [(("rollout", "analysis", n), n, "analysis") for n in self.spec.rollout.analysis],
                "as AnalysisTemplate names on Kubernetes",
            )

    def collisions(self, entries: list[tuple[PathKey, str, str]], where: str) -> None:
        """Report names that one target would turn into the same identifier."""
        seen: dict[str, tuple[PathKey, str, str]] = {}
        for path, name, kind in entries:
            key = target_key(name)
            if key not in seen:
                seen[key] = (path, name, kind)
                continue
            first_path, first, first_kind = seen[key]
            line = self.source.key_span(first_path).line
            clash = "share the name" if first == name else "both become"
            self.error(
                path,
                "MS221",
                f"{kind} {name!r} and {first_kind} {first!r} (line {line}) {clash} {key!r} {where}",
                "rename one of them",
                key=True,
            )

    def check_params(self) -> None:
        for name, param in self.spec.params.items():
            value = param.default
            ok = {
                "float": isinstance(value, int | float) and not isinstance(value, bool),
                "int": isinstance(value, int) and not isinstance(value, bool),
                "bool": isinstance(value, bool),
                "str": isinstance(value, str),
            }[param.type]
            if not ok:
                hint = {
                    "str": 'quote it for a str param: "..."',
                    "bool": "write true or false (YAML 1.2 reads yes/no/on/off as strings)",
                    "int": "write a whole number, or declare the param as float",
                }.get(param.type)
                self.error(
                    ("params", name, "default"),
                    "MS223",
                    f"default {value!r} of parameter {name!r} does not match its type {param.type}",
                    hint,
                )

    def check_defaults(self) -> None:
        for env_name, entry in self.spec.defaults.env.items():
            if entry.param is not None:
                self.param_type(entry.param, ("defaults", "env", env_name), f"env {env_name}")

    def check_step(self, name: str) -> None:
        step = self.spec.steps[name]
        base: PathKey = ("steps", name)
        for input_name, binding in step.inputs.items():
            path = (*base, "inputs", input_name)
            what = f"input {input_name!r} of step {name!r}"
            if binding.from_ is not None:
                ref_path = (*path, "from") if self.source.has((*path, "from")) else path
                if binding.from_.split(".")[0] == name:
                    self.error(
                        ref_path,
                        "MS220",
                        f"step {name!r} reads its own output in {what}",
                        NO_LOOPS,
                    )
                    continue
                actual = self.output_type(binding.from_, ref_path, what)
            else:
                actual = _constant_type(binding.value)
            if (
                binding.type is not None
                and actual is not None
                and not _accepts(binding.type, actual)
            ):
                self.error(
                    (*path, "type"),
                    "MS210",
                    f"{what} is declared {binding.type} but receives {actual}",
                    f"declare it as {actual}, or wire another output",
                )
        for i, dep in enumerate(step.after):
            if dep not in self.spec.steps and dep not in self.spec.gates:
                self.error(
                    (*base, "after", i),
                    "MS201",
                    f"unknown step or gate {dep!r} in 'after' of step {name!r}",
                    suggest(dep, [*self.spec.steps, *self.spec.gates]),
                )
            elif dep == name:
                self.error(
                    (*base, "after", i), "MS220", f"step {name!r} waits for itself", NO_LOOPS
                )
        for env_name, entry in step.env.items():
            if entry.param is not None:
                self.param_type(entry.param, (*base, "env", env_name), f"env {env_name}")
        if step.container is not None:
            if step.image is None and self.spec.defaults.image is None:
                self.error(
                    base,
                    "MS225",
                    f"container step {name!r} has no image",
                    "set 'image' on the step, or 'defaults.image'",
                    key=True,
                )
            lines = [("command", step.container.command), ("args", step.container.args)]
            for part, texts in lines:
                for i, text in enumerate(texts):
                    self.check_placeholders(name, text, (*base, "container", part, i))

    def check_placeholders(self, step_name: str, text: str, path: PathKey) -> None:
        step = self.spec.steps[step_name]
        for match in PLACEHOLDER_RE.finditer(text):
            inner = match.group(1)
            ok = PLACEHOLDER_OK.fullmatch(inner)
            if not ok:
                self.error(
                    path,
                    "MS224",
                    f"unknown placeholder ${{{inner}}} in step {step_name!r}",
                    "placeholders are ${inputs.NAME} and ${outputs.NAME}",
                )
                continue
            group, name = ok.groups()
            names = step.inputs if group == "inputs" else step.outputs
            if name not in names:
                self.error(
                    path,
                    "MS224",
                    f"${{{inner}}}: step {step_name!r} has no {group[:-1]} {name!r}",
                    suggest(name, names) or f"declare it under '{group}'",
                )

    def check_gate(self, name: str, gate: Gate) -> None:
        base: PathKey = ("gates", name)
        if gate.dataset is not None:
            self.dataset_ref(gate.dataset, (*base, "dataset"), f"gate {name!r}")
            for i, check in enumerate(gate.checks or ()):
                path = (*base, "checks", i, check.kind)
                for bound in ("min", "max"):
                    parts = (check.row_count, check.range, check.null_fraction, check.drift)
                    for part in parts:
                        if part is not None and hasattr(part, bound):
                            what = f"{bound} threshold of gate {name!r}"
                            self.numeric(getattr(part, bound), (*path, bound), what)
                if check.drift is not None and check.drift.reference is not None:
                    self.dataset_ref(
                        check.drift.reference,
                        (*path, "reference"),
                        f"drift reference of gate {name!r}",
                    )
            return
        compares = False
        for i, req in enumerate(gate.require or ()):
            path = (*base, "require", i)
            if req.metric.startswith("params."):
                self.error(
                    (*path, "metric"),
                    "MS211",
                    f"metric of gate {name!r} is a parameter, not a step output",
                    "a gate judges what a step measured, e.g. evaluate.auc",
                )
            else:
                self.numeric(req.metric, (*path, "metric"), f"metric of gate {name!r}")
            self.numeric(req.min, (*path, "min"), f"min threshold of gate {name!r}")
            self.numeric(req.max, (*path, "max"), f"max threshold of gate {name!r}")
            if req.vs is not None:
                compares = True
                self.compared_alias(req.vs, (*path, "vs"), name)
        if not compares and gate.first_run is not None:
            self.error(
                (*base, "first_run"),
                "MS105",
                f"gate {name!r} has a first-run policy but never compares with the champion",
                "remove 'first_run', or add a requirement with 'vs: champion'",
                key=True,
            )
        if compares and gate.first_run is None:
            self.error(
                base,
                "MS230",
                f"gate {name!r} compares with the champion but says nothing about the first run",
                "add 'first_run: pass' (promote when no champion exists yet) or 'first_run: fail'",
                key=True,
            )
        if compares and self.spec.registry is None:
            self.error(
                base,
                "MS244",
                f"gate {name!r} compares with the champion, but the spec has no registry",
                "add a 'registry' section naming the MLflow model",
                key=True,
            )

    def compared_alias(self, alias: str, path: PathKey, gate: str) -> None:
        """A gate compares with an alias: some process must set it, or the gate would always see
        a first run (an alias nobody sets never has a version)."""
        registry = self.spec.registry
        if registry is None:
            return  # MS244, reported for the gate
        promoted = [rule.alias for rule in registry.promote]
        if alias in promoted or alias in registry.external_aliases:
            return
        self.error(
            path,
            "MS205",
            f"gate {gate!r} compares with alias {alias!r}, which no promotion rule sets",
            suggest(alias, [*promoted, *registry.external_aliases])
            or "compare with an alias under registry.promote, or list it in "
            "registry.external_aliases if another process sets it",
        )

    def dataset_ref(self, ref: str, path: PathKey, what: str) -> None:
        kind = self.output_type(ref, path, what)
        if kind is not None and kind != "dataset":
            self.error(
                path,
                "MS212",
                f"{what} reads {ref!r}, which is a {kind}",
                "data gates check dataset outputs",
            )

    def check_cycles(self) -> None:
        edges = dependency_edges(self.spec)
        graph = dependency_graph(self.spec)

        def place(node: str) -> Span:
            return self.source.key_span(("steps" if node in self.spec.steps else "gates", node))

        for cycle in find_cycles(graph):
            # Every cycle has a node that waits for one written below it: that reference closes
            # the cycle for a reader going down the file (the first such one, if several).
            hops = list(pairwise(cycle))
            waiter, waited = min(
                ((a, b) for a, b in hops if place(b) > place(a)), key=lambda hop: place(hop[0])
            )
            start = cycle.index(waiter)
            path = [*cycle[start:-1], *cycle[:start], waiter]
            ref = next(p for dep, p in edges[waiter] if dep == waited)
            self.error(
                ref,
                "MS220",
                f"dependency cycle: {' -> '.join(path)} (each waits for the next); this "
                f"reference makes {waiter!r} wait for {waited!r}",
                NO_LOOPS,
            )

    def check_registry(self) -> None:
        registry = self.spec.registry
        if registry is None:
            return
        kind = self.output_type(registry.model, ("registry", "model"), "registry.model")
        if kind is not None and kind != "model":
            self.error(
                ("registry", "model"),
                "MS213",
                f"registry.model {registry.model!r} is a {kind}",
                "register an output of type model",
            )
        promoted = {rule.alias for rule in registry.promote}
        for i, alias in enumerate(registry.external_aliases):
            if alias in promoted or alias in registry.external_aliases[:i]:
                self.error(
                    ("registry", "external_aliases", i),
                    "MS240",
                    f"alias {alias!r} is listed twice, or also has a promotion rule",
                    "an alias is set by this spec's promotion rule or by another process, "
                    "not both: list it once",
                )
        seen: dict[str, int] = {}
        for i, rule in enumerate(registry.promote):
            path = ("registry", "promote", i)
            if rule.alias in seen:
                self.error(
                    (*path, "alias"),
                    "MS240",
                    f"alias {rule.alias!r} has two promotion rules",
                    f"merge them with rule {seen[rule.alias] + 1}",
                )
            seen.setdefault(rule.alias, i)
            for j, dep in enumerate(rule.after):
                if dep == "rollout":
                    if self.spec.rollout is None:
                        self.error(
                            (*path, "after", j),
                            "MS244",
                            f"promotion to {rule.alias!r} "
                            "waits for the rollout, but the spec has no rollout section",
                        )
                elif dep not in self.spec.gates:
                    self.error(
                        (*path, "after", j),
                        "MS203",
                        f"unknown gate {dep!r} in promotion to {rule.alias!r}",
                        suggest(dep, [*self.spec.gates, "rollout"])
                        or f"gates: {', '.join(self.spec.gates) or 'none'}, or 'rollout'",
                    )

    def check_rollout(self) -> None:
        rollout = self.spec.rollout
        if rollout is None:
            return
        strategy = rollout.strategy
        kind = strategy.kind
        base: PathKey = ("rollout", "strategy", kind)
        for ref_path, name in self.analysis_refs():
            if name not in rollout.analysis:
                self.error(
                    ref_path,
                    "MS204",
                    f"unknown analysis {name!r}",
                    suggest(name, rollout.analysis) or "declare it under rollout.analysis",
                )
        for name, metric in rollout.analysis.items():
            if metric.prometheus and not (metric.prometheus.address or rollout.prometheus):
                self.error(
                    ("rollout", "analysis", name, "prometheus"),
                    "MS242",
                    f"analysis {name!r} has no Prometheus address",
                    "set 'address' here or 'rollout.prometheus'",
                    key=True,
                )
        aliases = (
            {rule.alias: rule for rule in self.spec.registry.promote}
            if (self.spec.registry)
            else {}
        )
        if rollout.model_alias is not None:
            rule = aliases.get(rollout.model_alias)
            if rule is None:
                self.error(
                    ("rollout", "model_alias"),
                    "MS205",
                    f"rollout serves alias {rollout.model_alias!r}, which no promotion rule sets",
                    suggest(rollout.model_alias, aliases) or "add a rule under registry.promote",
                )
            elif "rollout" in rule.after:
                self.error(
                    ("rollout", "model_alias"),
                    "MS243",
                    f"the rollout serves "
                    f"{rollout.model_alias!r}, whose promotion waits for the rollout",
                    "roll out the alias the pipeline promotes (e.g. challenger) and "
                    "promote champion after the rollout",
                )
        service = rollout.service
        if rollout.controller == "kserve":
            for needed in ("model_format",):
                if getattr(service, needed) is None:
                    self.error(
                        ("rollout", "service"),
                        "MS242",
                        f"KServe needs service.{needed}",
                        "e.g. model_format: sklearn",
                        key=True,
                    )
            if rollout.model_alias is None:
                self.error(
                    ("rollout", "controller"),
                    "MS242",
                    "KServe serves a registry model: set rollout.model_alias",
                    "e.g. model_alias: challenger",
                )
        elif service.image is None:
            self.error(
                ("rollout", "service"),
                "MS242",
                "the service needs an 'image' to roll out",
                "the serving image, e.g. ghcr.io/acme/scorer:1.0.0",
                key=True,
            )
        if strategy.canary is not None:
            self.check_canary(base)
        if strategy.blue_green is not None:
            preview = strategy.blue_green.preview_service
            if preview is None and len(service.name) > 63 - len("-preview"):
                self.error(
                    ("rollout", "service", "name"),
                    "MS111",
                    f"the default preview service {service.name}-preview is longer than 63 "
                    "characters",
                    "set blue_green.preview_service, or shorten the service name",
                )
            if preview == service.name:
                self.error(
                    (*base, "preview_service"),
                    "MS242",
                    "the preview service must differ from the active service",
                    f"e.g. {service.name}-preview",
                )
        bandit = strategy.bandit or strategy.contextual_bandit
        if bandit is not None:
            if rollout.prometheus is None:
                self.error(
                    base,
                    "MS242",
                    "a bandit reads rewards from Prometheus: set rollout.prometheus",
                    key=True,
                )
            for arm_name, arm in bandit.arms.items():
                if arm.model_alias is not None and arm.model_alias not in aliases:
                    self.error(
                        (*base, "arms", arm_name, "model_alias"),
                        "MS205",
                        f"arm {arm_name!r} serves alias {arm.model_alias!r}, which no "
                        "promotion rule sets",
                        suggest(arm.model_alias, aliases),
                    )

    def analysis_refs(self) -> Iterator[tuple[PathKey, str]]:
        strategy = self.spec.rollout.strategy  # type: ignore[union-attr]
        kind = strategy.kind
        base: PathKey = ("rollout", "strategy", kind)
        spec = getattr(strategy, kind)
        if strategy.canary is not None:
            for i, step in enumerate(strategy.canary.steps):
                for j, name in enumerate(step.analysis or ()):
                    yield (*base, "steps", i, "analysis", j), name
        lists = ("analysis", "pre_promotion_analysis", "post_promotion_analysis", "guardrails")
        for field_name in lists:
            for j, name in enumerate(getattr(spec, field_name, None) or ()):
                yield (*base, field_name, j), name

    def check_canary(self, base: PathKey) -> None:
        canary = self.spec.rollout.strategy.canary  # type: ignore[union-attr]
        assert canary is not None
        last = 0
        weights = 0
        for i, step in enumerate(canary.steps):
            if step.weight is None:
                continue
            weights += 1
            if step.weight <= last:
                self.error(
                    (*base, "steps", i, "weight"),
                    "MS241",
                    f"canary weight {step.weight} does not rise above the previous {last}",
                    "canary weights rise step by step towards 100",
                )
            last = max(last, step.weight)
        if not weights:
            self.error(
                (*base, "steps"),
                "MS242",
                "the canary never sends traffic to the new version",
                "add steps with 'weight', e.g. {weight: 10}",
            )

    def check_schedule(self) -> None:
        schedule = self.spec.schedule
        if schedule is None:
            return
        if not _known_timezone(schedule.timezone):
            self.error(
                ("schedule", "timezone"),
                "MS104",
                f"unknown time zone {schedule.timezone!r}",
                "use an IANA name, e.g. 'UTC' or 'Europe/Berlin'",
            )

    def check_values(self) -> None:
        """Every value: no NaN or infinity, no literal secret (MS117, see credentials.py)."""
        stack: list[tuple[PathKey, object]] = [((), self.source.data)]
        while stack:
            path, value = stack.pop()
            if isinstance(value, dict):
                stack += [((*path, k), v) for k, v in value.items()]
            elif isinstance(value, list):
                stack += [((*path, i), v) for i, v in enumerate(value)]
            elif isinstance(value, float) and not math.isfinite(value):
                self.error(
                    path,
                    "MS104",
                    f"{value} is not a finite number",
                    "no setting takes NaN or infinity; write a number",
                )
        self.found += credentials.check(self.spec, self.source)

    def check_unguarded_gates(self) -> None:
        used = {dep for step in self.spec.steps.values() for dep in step.after}
        if self.spec.registry:
            used |= {dep for rule in self.spec.registry.promote for dep in rule.after}
        consumed = {b.from_ for step in self.spec.steps.values() for b in step.inputs.values()}
        for name, gate in self.spec.gates.items():
            if name not in used and gate.dataset not in consumed:
                self.warning(
                    ("gates", name),
                    "MS231",
                    f"gate {name!r} guards nothing",
                    "name it in a promotion rule's 'after' or a step's 'after'",
                )


def _known_timezone(name: str) -> bool:
    if len(name) > TIMEZONE_MAX or not TIMEZONE_RE.fullmatch(name):
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def describe_type(kind: str) -> str:
    if kind in ("dataset", "model", "metrics", "artifact"):
        return f"an artifact ({kind})"
    return {"str": "a string", "bool": "a boolean"}.get(kind, f"a {kind}")


def _constant_type(value: object) -> str:
    return {bool: "bool", int: "int", float: "float"}.get(type(value), "str")


def _accepts(declared: str, actual: str) -> bool:
    return (
        declared == actual
        or (declared == "float" and actual == "int")
        or (declared == "artifact" and actual in ("dataset", "model", "metrics", "artifact"))
    )


def dependency_edges(spec: Spec) -> dict[str, list[tuple[str, PathKey]]]:
    """Node -> (a node it waits for, the reference that makes it wait), in spec order.

    Nodes are step and gate names. A reference's path may end in a key the spec does not have
    (`from` of a shorthand input): `Source.span` then falls back to the value that is there.
    """
    edges: dict[str, list[tuple[str, PathKey]]] = {}
    gated = {g.dataset: n for n, g in spec.gates.items() if g.dataset is not None}
    for name, step in spec.steps.items():
        base: PathKey = ("steps", name)
        found: list[tuple[str, PathKey]] = []
        for input_name, binding in step.inputs.items():
            if binding.from_ and not binding.from_.startswith("params."):
                path = (*base, "inputs", input_name, "from")
                found.append((binding.from_.split(".")[0], path))
                if binding.from_ in gated:
                    found.append((gated[binding.from_], path))
        found += [(dep, (*base, "after", i)) for i, dep in enumerate(step.after)]
        edges[name] = found
    for name, gate in spec.gates.items():
        base = ("gates", name)
        refs: list[tuple[object, PathKey]] = [(gate.dataset, (*base, "dataset"))]
        for i, check in enumerate(gate.checks or ()):
            if check.drift is not None:
                refs.append((check.drift.reference, (*base, "checks", i, "drift", "reference")))
        for i, req in enumerate(gate.require or ()):
            refs += [(getattr(req, f), (*base, "require", i, f)) for f in ("metric", "min", "max")]
        edges[name] = [
            (ref.split(".")[0], path)
            for ref, path in refs
            if isinstance(ref, str) and ref and not ref.startswith("params.")
        ]
    return {
        node: [(dep, path) for dep, path in found if dep in edges and dep != node]
        for node, found in edges.items()
    }


def dependency_graph(spec: Spec) -> dict[str, list[str]]:
    """Node -> the nodes it waits for; nodes are step and gate names, in spec order."""
    return {
        node: list(dict.fromkeys(dep for dep, _ in found))
        for node, found in dependency_edges(spec).items()
    }


def find_cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """One cycle per strongly connected group, each as a path that returns to its start."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []
    for start in graph:
        if state.get(start):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(graph[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, deps = stack[-1]
            dep = next(deps, None)
            if dep is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(dep) == 1:
                cycle = path[path.index(dep) :]
                cycles.append([*cycle, dep])
            elif not state.get(dep):
                state[dep] = 1
                path.append(dep)
                stack.append((dep, iter(graph[dep])))
    return cycles


def check(spec: Spec, source: Source) -> list[Diagnostic]:
    return Checker(spec, source).run()
