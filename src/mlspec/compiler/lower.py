"""A checked `Spec` -> the IR: defaults applied, references resolved, steps ordered."""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from mlspec.compiler import fanout, ir
from mlspec.compiler import spec as s
from mlspec.compiler.code import PackageFiles, folder_package_files, read_package
from mlspec.compiler.dependencies import dependency_graph
from mlspec.compiler.fields import memory_bytes
from mlspec.compiler.notebook import read_notebook
from mlspec.compiler.siblings import specs_beside
from mlspec.compiler.source import PathKey, Source, portable_path


def lower(spec: s.Spec, source: Source, package_files: PackageFiles | None = None) -> ir.Pipeline:
    """`package_files` lists step packages' files (default: beside the spec on disk)."""
    files = package_files or folder_package_files(Path(source.file).parent)
    return _Lowering(spec, source, files).pipeline()


class _Lowering:
    def __init__(self, spec: s.Spec, source: Source, package_files: PackageFiles) -> None:
        self.spec = spec
        self.source = source
        self.package_files = package_files
        self.graph = dependency_graph(spec)
        self.loop_members = fanout.loops(spec, self.graph)
        self.order = self.step_order()
        # Each loop is named after its first member step.
        self.loop_of = {
            member: next(n for n in self.order if n in members)
            for members in self.loop_members
            for member in members
        }
        self.packages: dict[tuple[str, str], ir.CodePackage | None] = {}
        self.types = {
            (name, out): kind
            for name, step in spec.steps.items()
            for out, kind in step.outputs.items()
        }

    def span(self, *path: Any) -> Any:
        return self.source.span(path)

    def key_span(self, *path: Any) -> Any:
        return self.source.key_span(path)

    def pipeline(self) -> ir.Pipeline:
        spec = self.spec
        meta = spec.metadata
        return ir.Pipeline(
            name=meta.name,
            version=meta.version,
            description=meta.description,
            owners=tuple(meta.owners),
            labels=tuple(meta.labels.items()),
            artifact_root=spec.artifact_root,
            artifact_root_span=self.span("artifact_root") if spec.artifact_root else None,
            params=tuple(
                ir.Param(
                    n,
                    p.type,
                    tuple(p.default) if isinstance(p.default, list) else p.default,
                    p.description,
                    self.key_span("params", n),
                )
                for n, p in spec.params.items()
            ),
            steps=tuple(self.step(n) for n in self.order),
            gates=tuple(self.gate(n, g) for n, g in spec.gates.items()),
            registry=self.registry(),
            rollout=self.rollout(),
            schedule=ir.Schedule(
                spec.schedule.cron,
                spec.schedule.timezone,
                spec.schedule.paused,
                self.span("schedule"),
            )
            if spec.schedule is not None
            else None,
            triggers=tuple(self.trigger(i, t) for i, t in enumerate(spec.triggers)),
            monitor=self.monitor(),
            source_file=self.source.file,
            span=self.source.document_span(),
            texts_with_braces=self.texts_with_braces(),
            spec_sha256=hashlib.sha256(self.source.text.encode("utf-8")).hexdigest(),
            tests=tuple(self.test(n, t) for n, t in spec.tests.items()),
            spec_path=portable_path(self.source.file),
            runtime_wheels=spec.defaults.code.wheels if spec.defaults.code is not None else None,
            loops=self.loops(self.order),
        )

    def trigger(self, i: int, trigger: s.Trigger) -> ir.Trigger:
        span = self.span("triggers", i)
        if trigger.data is not None:
            return ir.Trigger("data", trigger.data.path, trigger.data.every, None, None, span)
        if trigger.pipeline is not None:
            after = trigger.pipeline
            return ir.Trigger("pipeline", None, None, after.name, after.promoted, span)
        if trigger.monitor is not None:
            return ir.Trigger("monitor", None, None, None, None, span, monitor=trigger.monitor.name)
        return ir.Trigger("manual", None, None, None, None, span)

    def monitor(self) -> ir.Monitor | None:
        monitor = self.spec.monitor
        if monitor is None:
            return None
        base = ("monitor",)
        watched = specs_beside(self.source)[monitor.model.pipeline]  # checked: it exists
        assert watched.registered_model is not None
        feedback = monitor.feedback
        return ir.Monitor(
            model=ir.WatchedModel(
                monitor.model.pipeline,
                monitor.model.alias,
                watched.registered_model,
                watched.tracking_uri,
                self.span(*base, "model"),
            ),
            inputs=self.logged(monitor.inputs, (*base, "inputs")),
            checks=self.checks(monitor.checks, base),
            feedback=ir.Feedback(
                data=self.logged(feedback, (*base, "feedback")),
                prediction=feedback.prediction,
                label=feedback.label,
                positive=feedback.positive,
                min_rows=feedback.min_rows,
                requirements=tuple(
                    ir.FeedbackRequirement(
                        r.metric, r.min, r.max, self.span(*base, "feedback", "require", i)
                    )
                    for i, r in enumerate(feedback.require)
                ),
                span=self.key_span(*base, "feedback"),
            )
            if feedback is not None
            else None,
            rollback_on=tuple(dict.fromkeys(monitor.on_breach.rollback)),
            span=self.key_span(*base),
            job=self.job_settings(),
        )

    def job_settings(self) -> ir.JobSettings:
        d = self.spec.defaults
        return ir.JobSettings(
            image=d.image,
            packages=tuple(dict.fromkeys(d.packages)),
            resources=ir.Resources(d.resources.cpu, d.resources.memory),
            retries=_first(d.retries, 0),
            timeout_seconds=d.timeout,
            span=self.key_span("defaults") if self.source.has(("defaults",)) else None,
        )

    def logged(self, data: s.ServedInputs | s.Feedback, path: PathKey) -> ir.LoggedData:
        return ir.LoggedData(data.path, data.window, self.span(*path, "path"))

    def texts_with_braces(self) -> tuple[ir.Text, ...]:
        return tuple(ir.Text(*found) for found in self.source.strings(ir.has_markup_braces))

    def step_order(self) -> list[str]:
        """Kahn's algorithm over step dependencies, a loop's members kept together (in their
        own order); among ready steps (or loops), spec order wins."""
        graph = self.graph
        steps = list(self.spec.steps)
        # A step waits for the steps behind the gates it waits for, too.
        waits = {n: {d for d in graph[n] if d in self.spec.steps} for n in steps}
        for name in steps:
            for dep in graph[name]:
                if dep in self.spec.gates:
                    waits[name] |= {d for d in graph[dep] if d in self.spec.steps}
        unit = {name: name for name in steps}  # a step, or the first member of its loop
        for members in self.loop_members:
            unit.update((m, members[0]) for m in members if m in self.spec.steps)
        inside = {u: [n for n in steps if unit[n] == u] for u in dict.fromkeys(unit.values())}
        outer = {u: {unit[d] for m in ms for d in waits[m]} - {u} for u, ms in inside.items()}
        return [
            name
            for u in _kahn(list(inside), outer)
            for name in _kahn(inside[u], {m: waits[m] & set(inside[u]) for m in inside[u]})
        ]

    def ref(self, text: str) -> ir.ParamRef | ir.OutputRef:
        head, _, tail = text.partition(".")
        return ir.ParamRef(tail) if head == "params" else ir.OutputRef(head, tail)

    def output(self, text: str) -> ir.OutputRef:
        """A reference that the checks proved names a step output (metric, dataset, model)."""
        step, _, name = text.partition(".")
        return ir.OutputRef(step, name)

    def input_source(self, binding: s.InputBinding, reader: str) -> ir.ValueSource:
        if binding.item:
            return ir.Item()
        if binding.from_ is not None:
            ref = self.ref(binding.from_)
            if isinstance(ref, ir.OutputRef) and self.loop_of.get(ref.step) not in (
                None,
                self.loop_of.get(reader),
            ):
                return ir.FanIn(ref)  # read from outside its loop: every iteration's
            return ref
        assert binding.value is not None  # the model holds exactly one of from, value and item
        return ir.Constant(binding.value)

    def guards(self, name: str) -> list[str]:
        """The gates a step waits for directly: those of the datasets it reads, and `after`."""
        step = self.spec.steps[name]
        gated = {g.dataset: n for n, g in self.spec.gates.items() if g.dataset is not None}
        found = [gated[b.from_] for b in step.inputs.values() if b.from_ in gated]
        return found + [a for a in step.after if a in self.spec.gates]

    def loop_guards(self, name: str) -> list[str]:
        """The per-item gates that an iteration of loop member `name` waits for, directly or
        through the members it waits for."""
        loop = self.loop_of[name]
        found = [g for g in self.guards(name) if self.loop_of.get(g) == loop]
        for dep in self.graph[name]:
            if dep in self.spec.steps and self.loop_of.get(dep) == loop:
                found += self.loop_guards(dep)
        return list(dict.fromkeys(found))

    def loops(self, order: list[str]) -> tuple[ir.Loop, ...]:
        found = []
        for members in self.loop_members:
            steps = [n for n in order if n in members]
            first = self.spec.steps[steps[0]]
            assert first.for_each is not None
            items = first.for_each
            param = fanout.list_param(items)
            found.append(
                ir.Loop(
                    name=steps[0],
                    items=ir.ParamRef(param) if param is not None else tuple(items),
                    item_type=fanout.item_type(self.spec, items),  # type: ignore[arg-type]
                    steps=tuple(steps),
                    gates=tuple(n for n in members if n in self.spec.gates),
                    span=self.span("steps", steps[0], "for_each"),
                )
            )
        return tuple(found)

    def threshold(self, value: float | str | None) -> ir.Threshold | None:
        if value is None or isinstance(value, float):
            return value
        return ir.ParamRef(value.partition(".")[2])

    def source_type(self, binding: s.InputBinding, step: s.Step) -> str:
        if binding.type is not None:
            return binding.type
        if binding.item:
            assert step.for_each is not None  # checked: MS227
            return fanout.item_type(self.spec, step.for_each)
        if binding.from_ is None:
            return {bool: "bool", int: "int", float: "float"}.get(type(binding.value), "str")
        head, _, tail = binding.from_.partition(".")
        return self.spec.params[tail].type if head == "params" else self.types[(head, tail)]

    def env(self, step: s.Step, base: PathKey) -> tuple[ir.EnvVar, ...]:
        merged: dict[str, tuple[s.EnvValue, PathKey]] = {
            k: (v, ("defaults", "env", k)) for k, v in self.spec.defaults.env.items()
        }
        merged.update({k: (v, (*base, "env", k)) for k, v in step.env.items()})
        return tuple(
            ir.EnvVar(
                name,
                value.value,
                ir.SecretRef(value.secret.name, value.secret.key) if value.secret else None,
                value.param,
                self.source.key_span(path),
            )
            for name, (value, path) in sorted(merged.items())
        )

    def step(self, name: str) -> ir.Step:
        step = self.spec.steps[name]
        d = self.spec.defaults
        base = ("steps", name)
        inputs = tuple(
            ir.Input(
                n,
                self.source_type(b, step),
                self.input_source(b, name),
                self.key_span(*base, "inputs", n),
            )
            for n, b in step.inputs.items()
        )
        upstream = [r.step for i in inputs for r in ir.output_refs(i.source)]
        upstream += [a for a in step.after if a in self.spec.steps]
        gates = self.guards(name)
        # Outside a loop, a fan-in needs every iteration: each per-item gate behind it passed.
        gates += [
            g
            for i in inputs
            if isinstance(i.source, ir.FanIn)
            for g in self.loop_guards(i.source.ref.step)
        ]
        resources = ir.Resources(
            cpu=step.resources.cpu or d.resources.cpu,
            memory=step.resources.memory or d.resources.memory,
        )
        return ir.Step(
            name=name,
            kind=_kind(step),
            function=step.python,
            packages=tuple(dict.fromkeys([*d.packages, *step.packages]))
            if step.container is None
            else (),
            image=step.image or self.code_image(step) or d.image,
            command=tuple(step.container.command) if step.container else (),
            args=tuple(step.container.args) if step.container else (),
            inputs=inputs,
            outputs=tuple(
                ir.Output(n, t, self.key_span(*base, "outputs", n)) for n, t in step.outputs.items()
            ),
            upstream=tuple(dict.fromkeys(upstream)),
            gates=tuple(dict.fromkeys(gates)),
            env=self.env(step, base),
            resources=resources,
            retries=_first(step.retries, d.retries, 0),
            timeout_seconds=_first(step.timeout, d.timeout, None),
            caching=_first(step.caching, d.caching, False),
            description=step.description,
            span=self.key_span(*base),
            code=self.code(step, base) if step.python is not None else None,
            placement=self.placement(step, base),
            notebook=read_notebook(self.package_files, step.notebook, self.span(*base, "notebook"))
            if step.notebook is not None
            else None,
            loop=self.loop_of.get(name),
        )

    def placement(self, step: s.Step, base: PathKey) -> ir.Placement:
        """Each placement field from the step, else from defaults, as a whole."""
        d = self.spec.defaults
        fields = ("accelerator", "node_selector", "tolerations")
        paths = {f: (*base, f) if getattr(step, f) is not None else ("defaults", f) for f in fields}
        accelerator = _first(step.accelerator, d.accelerator, None)
        tolerations = _first(step.tolerations, d.tolerations, [])
        spans = [self.key_span(*p) for p in paths.values() if self.source.has(p)]
        return ir.Placement(
            accelerator_type=accelerator.type if accelerator and accelerator.count else None,
            accelerator_count=accelerator.count if accelerator else 0,
            node_selector=tuple(_first(step.node_selector, d.node_selector, {}).items()),
            tolerations=tuple(
                ir.Toleration(t.key, t.operator, t.value, t.effect, t.toleration_seconds)
                for t in tolerations
            ),
            span=spans[0] if spans else None,
        )

    def code_image(self, step: s.Step) -> str | None:
        """A Python step without an image of its own runs on the image that holds its code."""
        code = step.code or self.spec.defaults.code
        return code.image if step.python is not None and code is not None else None

    def code(self, step: s.Step, base: PathKey) -> ir.Code:
        """The step's `code:` (else defaults.code), with its package read and pinned."""
        code, path = step.code, (*base, "code")
        if code is None:
            code, path = self.spec.defaults.code, ("defaults", "code")
        span = self.key_span(*path) if code is not None else self.key_span(*base)
        assert step.python is not None
        name = step.python.partition(":")[0].partition(".")[0]
        root = code.root if code is not None else "."
        key = (root, name)
        if key not in self.packages:
            self.packages[key] = read_package(self.package_files, root, name, span)
        git = code.git if code is not None else None
        return ir.Code(
            package=self.packages[key],
            wheels=code.wheels if code is not None else None,
            image=code.image if code is not None else None,
            git=ir.GitSource(git.url, git.commit, git.path, self.span(*path, "git"))
            if git is not None
            else None,
            span=span,
        )

    def test(self, name: str, test: s.StepTest) -> ir.StepTest:
        base = ("tests", name)
        return ir.StepTest(
            name=name,
            step=test.step,
            inputs=tuple(
                ir.TestInput(n, i.file, i.value, self.key_span(*base, "inputs", n))
                for n, i in test.inputs.items()
            ),
            expect=tuple(
                ir.TestExpectation(
                    name=n,
                    columns=tuple((e.columns or {}).items()),
                    min_rows=e.rows.min if e.rows else None,
                    max_rows=e.rows.max if e.rows else None,
                    min=e.min,
                    max=e.max,
                    span=self.key_span(*base, "expect", n),
                )
                for n, e in test.expect.items()
            ),
            gates=tuple(test.gates),
            description=test.description,
            span=self.key_span(*base),
            item=test.item,
        )

    def gate(self, name: str, gate: s.Gate) -> ir.Gate:
        base = ("gates", name)
        checks = self.checks(gate.checks or (), base)
        requirements = tuple(
            ir.Requirement(
                metric=self.output(r.metric),
                min=self.threshold(r.min),
                max=self.threshold(r.max),
                vs=r.vs,
                better=r.better,
                tolerance=r.tolerance or 0.0,
                span=self.span(*base, "require", i),
            )
            for i, r in enumerate(gate.require or ())
        )
        return ir.Gate(
            name=name,
            kind=gate.kind,
            dataset=self.output(gate.dataset) if gate.dataset else None,
            checks=checks,
            requirements=requirements,
            first_run=gate.first_run,
            on_fail=gate.on_fail,
            upstream=tuple(self.graph[name]),
            description=gate.description,
            span=self.key_span(*base),
            serving=self.serving(gate.serve, (*base, "serve")) if gate.serve else None,
            loop=self.loop_of.get(name),
        )

    def serving(self, serve: s.Serve, base: PathKey) -> ir.ServingCheck:
        requests = serve.requests
        requirements = (
            serve.requirements if serve.requirements is not None else self.spec.defaults.packages
        )
        return ir.ServingCheck(
            model=self.output(serve.model),
            runtime=serve.runtime,
            command=tuple(serve.command or ()),
            requirements=tuple(dict.fromkeys(requirements)),
            dataset=self.output(requests.dataset) if requests.dataset else None,
            rows=requests.rows,
            drop=tuple(requests.drop),
            examples=tuple(tuple(row) for row in requests.examples or ()),
            expect_type=serve.expect.type,
            expect_shape=tuple(serve.expect.shape) if serve.expect.shape else None,
            ready_seconds=serve.ready_within,
            max_p95_latency_ms=serve.max_p95_latency_ms,
            max_memory_bytes=memory_bytes(serve.max_memory) if serve.max_memory else None,
            span=self.key_span(*base),
        )

    def checks(self, checks: Sequence[s.DataCheck], base: PathKey) -> tuple[ir.DataCheck, ...]:
        """A check over a list of columns becomes one check per column, at its list item, so
        that every consumer (runtime, diff, graph) sees per-column checks."""
        out: list[ir.DataCheck] = []
        for i, check in enumerate(checks):
            path = (*base, "checks", i)
            lowered = self.check(check, path)
            listed = getattr(getattr(check, check.kind), "columns", None)  # not the columns kind
            if listed is None:
                out.append(lowered)
                continue
            items = (*path, check.kind, "columns")
            out += [
                replace(lowered, column=name, span=self.source.span((*items, j)))
                for j, name in enumerate(listed)
            ]
        return tuple(out)

    def check(self, check: s.DataCheck, path: PathKey) -> ir.DataCheck:
        kind = check.kind
        body: Any = getattr(check, kind)
        span = self.source.span(path)
        if kind == "columns":
            return ir.DataCheck(
                kind, None, None, None, None, tuple(body.items()), (), None, None, None, None, span
            )
        drift = check.drift
        return ir.DataCheck(
            kind=kind,
            column=body.column if kind != "row_count" else None,
            pattern=body.pattern if kind != "row_count" else None,
            min=self.threshold(getattr(body, "min", None)),
            max=self.threshold(getattr(body, "max", None)),
            columns=(),
            allowed=tuple(check.categories.allowed) if check.categories else (),
            reference=self.output(reference)
            if (reference := getattr(drift, "reference", None))
            else None,
            reference_uri=drift.reference_uri if drift else None,
            method=drift.method if drift else None,
            bins=(drift.bins or 10) if drift and drift.method == "psi" else None,
            span=span,
        )

    def registry(self) -> ir.Registry | None:
        reg = self.spec.registry
        if reg is None:
            return None
        rules = tuple(
            ir.PromotionRule(
                rule.alias,
                tuple(a for a in rule.after if a != "rollout"),
                "rollout" in rule.after,
                self.span("registry", "promote", i),
            )
            for i, rule in enumerate(reg.promote)
        )
        return ir.Registry(
            reg.mlflow.registered_model,
            reg.mlflow.tracking_uri,
            self.output(reg.model),
            tuple(reg.tags.items()),
            rules,
            self.key_span("registry"),
            self.output(reg.reference) if reg.reference else None,
        )

    def rollout(self) -> ir.Rollout | None:
        ro = self.spec.rollout
        if ro is None:
            return None
        svc = ro.service
        service = ir.Service(
            svc.name,
            svc.namespace,
            svc.port,
            svc.image,
            svc.model_format,
            svc.replicas,
            ir.Resources(svc.resources.cpu, svc.resources.memory, svc.resources.gpu),
            self.key_span("rollout", "service"),
        )
        analysis = tuple(
            ir.AnalysisMetric(
                name=n,
                provider="prometheus" if m.prometheus else "web",
                query=m.prometheus.query if m.prometheus else None,
                address=(m.prometheus.address or ro.prometheus) if m.prometheus else None,
                url=m.web.url if m.web else None,
                json_path=m.web.json_path if m.web else None,
                min=self.threshold(m.min),
                max=self.threshold(m.max),
                interval_seconds=m.interval,
                count=m.count,
                failure_limit=m.failure_limit,
                span=self.key_span("rollout", "analysis", n),
                no_data=m.no_data,
                dry_run=m.dry_run,
            )
            for n, m in ro.analysis.items()
        )
        kind = ro.strategy.kind
        return ir.Rollout(
            ro.controller,
            service,
            ro.model_alias,
            ro.prometheus,
            kind,
            self.strategy(ro.strategy, svc.name),
            analysis,
            self.key_span("rollout"),
            self.span("rollout", "controller"),
            smoke=ir.Smoke(
                ro.smoke.path,
                tuple(ro.smoke.requests),
                ro.smoke.timeout,
                self.key_span("rollout", "smoke"),
            )
            if ro.smoke
            else None,
            load=ir.Load(ro.load.rate, ro.load.duration, self.key_span("rollout", "load"))
            if ro.load
            else None,
        )

    def strategy(self, strategy: s.Strategy, service: str) -> ir.Strategy:
        base = ("rollout", "strategy", strategy.kind)
        span = self.key_span(*base)
        if strategy.canary is not None:
            steps = tuple(
                ir.CanaryStep(
                    action="weight"
                    if st.weight is not None
                    else ("pause" if st.pause is not None else "analysis"),
                    weight=st.weight,
                    pause_seconds=st.pause if isinstance(st.pause, int) else None,
                    analysis=tuple(st.analysis or ()),
                    span=self.span(*base, "steps", i),
                )
                for i, st in enumerate(strategy.canary.steps)
            )
            return ir.Canary(steps, tuple(strategy.canary.analysis), span)
        if strategy.blue_green is not None:
            bg = strategy.blue_green
            return ir.BlueGreen(
                bg.preview_service or f"{service}-preview",
                bg.auto_promote,
                bg.auto_promote_after,
                bg.scale_down_delay,
                tuple(bg.pre_promotion_analysis),
                tuple(bg.post_promotion_analysis),
                span,
            )
        if strategy.shadow is not None:
            sh = strategy.shadow
            return ir.Shadow(sh.percent, sh.duration, tuple(sh.analysis), span)
        if strategy.ab_test is not None:
            ab = strategy.ab_test
            header = None
            if ab.header is not None:
                match: Literal["exact", "prefix", "regex"] = next(
                    k for k in ("exact", "prefix", "regex") if getattr(ab.header, k) is not None
                )
                header = (ab.header.name, match, getattr(ab.header, match))
            cookie = (ab.cookie.name, ab.cookie.value) if ab.cookie else None
            return ir.AbTest(
                ab.weight,
                header,
                cookie,
                ab.duration,
                tuple(ab.analysis),
                span,
            )
        bandit = strategy.bandit or strategy.contextual_bandit
        assert bandit is not None
        context = getattr(bandit, "context", None)
        return ir.Bandit(
            arms=tuple(
                ir.Arm(n, a.image, a.model_alias, self.key_span(*base, "arms", n))
                for n, a in bandit.arms.items()
            ),
            algorithm=bandit.algorithm,
            reward_successes=bandit.reward.successes,
            reward_trials=bandit.reward.trials,
            interval_seconds=bandit.interval,
            exploration_floor=bandit.exploration_floor,
            max_step=bandit.max_step,
            epsilon=bandit.epsilon,
            guardrails=tuple(bandit.guardrails),
            no_data_pause_intervals=bandit.no_data_pause,
            stop_p_best=bandit.stop.p_best,
            stop_max_duration_seconds=bandit.stop.max_duration,
            context_header=context.header if context else None,
            segments=tuple(context.segments) if context else (),
            span=span,
        )


def _first(*values: Any) -> Any:
    """The first value that is set; the last argument is the built-in default."""
    return next((v for v in values if v is not None), values[-1])


def _kind(step: s.Step) -> Literal["python", "container", "notebook"]:
    if step.python is not None:
        return "python"
    return "notebook" if step.notebook is not None else "container"


def _kahn(nodes: list[str], waits: dict[str, set[str]]) -> list[str]:
    """`nodes` in dependency order (acyclic: checked); among ready ones, list order wins."""
    position = {name: i for i, name in enumerate(nodes)}
    waiting = {name: len(waits[name]) for name in nodes}
    dependents: dict[str, list[str]] = {name: [] for name in nodes}
    for name in nodes:
        for dep in waits[name]:
            dependents[dep].append(name)
    ready = [position[n] for n in nodes if not waiting[n]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = nodes[heapq.heappop(ready)]
        order.append(name)
        for dependent in dependents[name]:
            waiting[dependent] -= 1
            if not waiting[dependent]:
                heapq.heappush(ready, position[dependent])
    return order
