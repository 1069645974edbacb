"""What a spec change does, in domain terms: one `Change` per thing a reviewer should know.

Both sides are compared as resolved IR, keyed by name, so reordering keys or steps, comments,
quoting and spelling a default out change nothing. Each change carries a risk (`risky`: it makes
production riskier, e.g. a loosened gate; `review`: it changes behaviour; `safe`: it adds
protection or changes nothing that runs) with the reason, and the smallest version bump it
requires under MAJOR.MINOR.PIPELINE (data or target / model / pipeline).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from mlspec.compiler import ir
from mlspec.diff import fields
from mlspec.diff.model import (
    Bounds,
    Bump,
    Change,
    Path,
    Risk,
    at,
    duration,
    keyed,
    numbered,
    show,
)
from mlspec.diff.rollout import compare_rollouts


def compare(old: ir.Pipeline, new: ir.Pipeline) -> list[Change]:
    """Every semantic difference between two pipelines: what the rules below say, in the order
    a spec reads, then every other IR field that differs (fields.py)."""
    reported = rules(old, new)
    return reported + fields.remaining(old, new, reported, KEYS)


def rules(old: ir.Pipeline, new: ir.Pipeline) -> list[Change]:
    """The changes the hand-written rules know the meaning (and risk) of."""
    c = _Comparison(old, new)
    return [
        *c.metadata(),
        *c.params(),
        *c.steps(),
        *c.gates(),
        *c.registry(),
        *c.rollout(),
        *c.schedule(),
    ]


class _Comparison:
    def __init__(self, old: ir.Pipeline, new: ir.Pipeline) -> None:
        self.old, self.new = old, new
        self.bounds = Bounds(old, new)

    # -- sections --------------------------------------------------------------------------

    def metadata(self) -> Iterator[Change]:
        old, new = self.old, self.new
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

    def params(self) -> Iterator[Change]:
        old, new = keyed(self.old.params, _name), keyed(self.new.params, _name)
        for name in sorted(old.keys() - new.keys()):
            yield Change(
                f"param {name}",
                "removed",
                "review",
                "runs or schedules that pass it will fail",
                "pipeline",
                covers=(("params", at(name)),),
            )
        for name in sorted(new.keys() - old.keys()):
            yield Change(
                f"param {name}",
                f"added (default {show(new[name].default)})",
                "safe",
                "a new parameter with a default changes no existing run",
                "pipeline",
                covers=(("params", at(name)),),
            )
        for name in sorted(old.keys() & new.keys()):
            a, b = old[name], new[name]
            if a.type != b.type:
                yield Change(
                    f"param {name}",
                    f"type {a.type} -> {b.type}",
                    "review",
                    "callers must pass the new type",
                    "pipeline",
                    covers=(("params", at(name), "type"),),
                )
            if a.default != b.default and not self._feeds_threshold(name):
                bump: Bump = "minor" if name in self._model_params() else "pipeline"
                yield Change(
                    f"param {name}",
                    f"default {show(a.default)} -> {show(b.default)}",
                    "review",
                    "scheduled runs use the new default",
                    bump,
                    covers=(("params", at(name), "default"),),
                )

    def _feeds_threshold(self, name: str) -> bool:
        """A parameter whose default is judged as a gate bound (reported with the gate)."""
        ref = ir.ParamRef(name)
        for gate in self.new.gates:
            bounds = [(r.min, r.max) for r in gate.requirements] + [
                (c.min, c.max) for c in gate.checks
            ]
            if any(ref in pair for pair in bounds):
                return True
        return False

    def _model_steps(self, pipeline: ir.Pipeline) -> set[str]:
        return {pipeline.registry.model.step} if pipeline.registry else set()

    def _model_params(self) -> set[str]:
        steps = self._model_steps(self.new)
        return {
            i.source.name
            for s in self.new.steps
            if s.name in steps
            for i in s.inputs
            if isinstance(i.source, ir.ParamRef)
        }

    def steps(self) -> Iterator[Change]:
        old, new = keyed(self.old.steps, _name), keyed(self.new.steps, _name)
        for name in sorted(old.keys() - new.keys()):
            yield Change(
                f"step {name}",
                "removed",
                "review",
                "the pipeline no longer runs it",
                "pipeline",
                f"step_{name}",
                (("steps", at(name)),),
            )
        for name in sorted(new.keys() - old.keys()):
            yield Change(
                f"step {name}",
                "added",
                "review",
                "the pipeline runs new code",
                "pipeline",
                f"step_{name}",
                (("steps", at(name)),),
            )
        model_steps = self._model_steps(self.old) | self._model_steps(self.new)
        for name in sorted(old.keys() & new.keys()):
            yield from self._step(old[name], new[name], name in model_steps)

    def _step(self, a: ir.Step, b: ir.Step, trains_model: bool) -> Iterator[Change]:
        subject, node, base = f"step {a.name}", f"step_{a.name}", ("steps", at(a.name))
        code_bump: Bump = "minor" if trains_model else "pipeline"
        why_code = "the model is trained differently" if trains_model else "it runs other code"

        def change(
            summary: str, risk: Risk, reason: str, bump: Bump | None, *covers: Path
        ) -> Change:
            return Change(subject, summary, risk, reason, bump, node, covers)

        for field in ("function", "image"):
            if getattr(a, field) != getattr(b, field):
                yield change(
                    f"{field} {show(getattr(a, field))} -> {show(getattr(b, field))}",
                    "review",
                    why_code,
                    code_bump,
                    (*base, field),
                )
        if (a.command, a.args) != (b.command, b.args):
            yield change(
                "command or arguments changed",
                "review",
                why_code,
                code_bump,
                (*base, "command"),
                (*base, "args"),
            )
        if a.packages != b.packages:
            yield change(
                f"packages {show(a.packages)} -> {show(b.packages)}",
                "review",
                "it runs with other libraries",
                code_bump,
                (*base, "packages"),
            )
        yield from self._wiring(a, b, change, base)
        yield from self._limits(a, b, change, base)
        if set(a.gates) - set(b.gates):
            lost = ", ".join(sorted(set(a.gates) - set(b.gates)))
            yield change(
                f"no longer waits for gate {lost}",
                "risky",
                "it now runs even when that gate says no",
                "pipeline",
                (*base, "gates"),
            )
        if set(b.gates) - set(a.gates):
            gained = ", ".join(sorted(set(b.gates) - set(a.gates)))
            yield change(
                f"now waits for gate {gained}",
                "safe",
                "it runs only when that gate says yes",
                "pipeline",
                (*base, "gates"),
            )
        if {(e.name, e.value, e.secret, e.param) for e in a.env} != {
            (e.name, e.value, e.secret, e.param) for e in b.env
        }:
            yield change(
                "environment changed",
                "review",
                "the step's configuration differs",
                "pipeline",
                (*base, "env"),
            )

    def _wiring(
        self, a: ir.Step, b: ir.Step, change: Callable[..., Change], base: Path
    ) -> Iterator[Change]:
        old_in, new_in = keyed(a.inputs, _name), keyed(b.inputs, _name)
        for name in sorted(old_in.keys() | new_in.keys()):
            before = show(old_in[name].source) if name in old_in else None
            after = show(new_in[name].source) if name in new_in else None
            if before != after:
                # The steps it waits for follow from what it reads.
                yield change(
                    f"input {name}: {show(before)} -> {show(after)} (rewired)",
                    "review",
                    "it reads different data",
                    "pipeline",
                    (*base, "inputs", at(name)),
                    (*base, "upstream"),
                )
        old_out = {o.name: o.type for o in a.outputs}
        new_out = {o.name: o.type for o in b.outputs}
        if old_out != new_out:
            removed = sorted(old_out.keys() - new_out.keys())
            bump: Bump = "major" if removed else "pipeline"
            yield change(
                f"outputs {show(tuple(old_out))} -> {show(tuple(new_out))}",
                "review",
                "what downstream steps and gates can read changed",
                bump,
                (*base, "outputs"),
            )
        after_a, after_b = _explicit_after(a), _explicit_after(b)
        if after_a != after_b:
            yield change(
                f"waits for {show(tuple(sorted(after_a)))} -> {show(tuple(sorted(after_b)))}",
                "review",
                "the order of the run changes",
                "pipeline",
                (*base, "upstream"),
            )

    def _limits(
        self, a: ir.Step, b: ir.Step, change: Callable[..., Change], base: Path
    ) -> Iterator[Change]:
        if a.resources != b.resources:
            yield change(
                f"resources {_resources(a.resources)} -> {_resources(b.resources)}",
                "review",
                "pods get other CPU, memory or GPUs",
                "pipeline",
                (*base, "resources"),
            )
        if a.retries != b.retries:
            fewer = b.retries < a.retries
            yield change(
                f"retries {a.retries} -> {b.retries}",
                "review" if fewer else "safe",
                "a transient failure now fails the run"
                if fewer
                else "more transient failures are ridden out",
                "pipeline",
                (*base, "retries"),
            )
        if a.timeout_seconds != b.timeout_seconds:
            shorter = b.timeout_seconds is not None and (
                a.timeout_seconds is None or b.timeout_seconds < a.timeout_seconds
            )
            yield change(
                f"timeout {duration(a.timeout_seconds)} -> {duration(b.timeout_seconds)}",
                "review",
                "slow runs are cut off sooner"
                if shorter
                else "a hung step holds its worker longer",
                "pipeline",
                (*base, "timeout_seconds"),
            )
        if a.caching != b.caching:
            yield change(
                f"caching {a.caching} -> {b.caching}",
                "review" if b.caching else "safe",
                "results may be reused from an earlier run"
                if b.caching
                else "it always runs afresh",
                "pipeline",
                (*base, "caching"),
            )

    def gates(self) -> Iterator[Change]:
        old, new = keyed(self.old.gates, _name), keyed(self.new.gates, _name)
        for name in sorted(old.keys() - new.keys()):
            yield Change(
                f"gate {name}",
                "removed",
                "risky",
                "nothing checks what it checked",
                "pipeline",
                f"gate_{name}",
                (("gates", at(name)),),
            )
        for name in sorted(new.keys() - old.keys()):
            yield Change(
                f"gate {name}",
                "added",
                "safe",
                "one more check before promotion",
                "pipeline",
                f"gate_{name}",
                (("gates", at(name)),),
            )
        for name in sorted(old.keys() & new.keys()):
            yield from self._gate(old[name], new[name])

    def _gate(self, a: ir.Gate, b: ir.Gate) -> Iterator[Change]:
        subject, node, base = f"gate {a.name}", f"gate_{a.name}", ("gates", at(a.name))
        # The steps a gate waits for follow from what it reads: its dataset, metrics, references.
        upstream = (*base, "upstream")
        if a.dataset != b.dataset:
            yield Change(
                subject,
                f"checks {show(a.dataset)} -> {show(b.dataset)}",
                "review",
                "it judges other data",
                "pipeline",
                node,
                ((*base, "dataset"), upstream),
            )
        yield from self._data_checks(a, b, subject, node, base)
        yield from self._requirements(a, b, subject, node, base)
        if a.first_run != b.first_run:
            risky = b.first_run == "pass"
            yield Change(
                subject,
                f"first_run {a.first_run} -> {b.first_run}",
                "risky" if risky else "safe",
                "a first model now passes without a champion to beat"
                if risky
                else "a first model must now be promoted by hand",
                "pipeline",
                node,
                ((*base, "first_run"),),
            )
        if a.on_fail != b.on_fail:
            yield Change(
                subject,
                f"on_fail {a.on_fail} -> {b.on_fail}",
                "review",
                "a failed gate now "
                + ("only skips what follows" if b.on_fail == "block" else "fails the run"),
                "pipeline",
                node,
                ((*base, "on_fail"),),
            )

    def _data_checks(
        self, a: ir.Gate, b: ir.Gate, subject: str, node: str, base: Path
    ) -> Iterator[Change]:
        old = numbered(a.checks, _check_key)
        new = numbered(b.checks, _check_key)
        for key in sorted(old.keys() - new.keys()):
            yield Change(
                subject,
                f"check {key} removed",
                "risky",
                "that data is no longer checked",
                "major" if key.startswith("columns") else "pipeline",
                node,
                ((*base, "checks", at(key)), (*base, "upstream")),
            )
        for key in sorted(new.keys() - old.keys()):
            yield Change(
                subject,
                f"check {key} added",
                "safe",
                "the data is checked more",
                "major" if key.startswith("columns") else "pipeline",
                node,
                ((*base, "checks", at(key)), (*base, "upstream")),
            )
        for key in sorted(old.keys() & new.keys()):
            x, y, check = old[key], new[key], (*base, "checks", at(key))
            what = f"check {key}"
            yield from self.bounds.compare(subject, what, "min", x.min, y.min, node, check)
            yield from self.bounds.compare(subject, what, "max", x.max, y.max, node, check)
            if x.columns != y.columns:
                yield Change(
                    subject,
                    f"check {key}: required columns changed",
                    "review",
                    "the dataset's schema changed",
                    "major",
                    node,
                    ((*check, "columns"),),
                )
            if set(y.allowed) > set(x.allowed):
                yield Change(
                    subject,
                    f"check {key}: more categories allowed",
                    "risky",
                    "values that failed before now pass",
                    "pipeline",
                    node,
                    ((*check, "allowed"),),
                )
            elif set(y.allowed) != set(x.allowed):
                yield Change(
                    subject,
                    f"check {key}: allowed categories changed",
                    "review",
                    "other values pass",
                    "pipeline",
                    node,
                    ((*check, "allowed"),),
                )
            drift = ("method", "reference", "reference_uri", "bins")
            if any(getattr(x, f) != getattr(y, f) for f in drift):
                yield Change(
                    subject,
                    f"check {key}: drift method, reference or bins changed",
                    "review",
                    "drift is measured differently, or against something else",
                    "pipeline",
                    node,
                    (
                        (*check, "method"),
                        (*check, "reference"),
                        (*check, "reference_uri"),
                        (*check, "bins"),
                        (*base, "upstream"),
                    ),
                )

    def _requirements(
        self, a: ir.Gate, b: ir.Gate, subject: str, node: str, base: Path
    ) -> Iterator[Change]:
        old = numbered(a.requirements, _requirement_key)
        new = numbered(b.requirements, _requirement_key)
        for key in sorted(old.keys() - new.keys()):
            yield Change(
                subject,
                f"requirement {key} removed",
                "risky",
                "models are no longer held to it",
                "pipeline",
                node,
                ((*base, "requirements", at(key)), (*base, "upstream")),
            )
        for key in sorted(new.keys() - old.keys()):
            yield Change(
                subject,
                f"requirement {key} added",
                "safe",
                "models must meet one more requirement",
                "pipeline",
                node,
                ((*base, "requirements", at(key)), (*base, "upstream")),
            )
        for key in sorted(old.keys() & new.keys()):
            x, y, req = old[key], new[key], (*base, "requirements", at(key))
            yield from self.bounds.compare(subject, key, "min", x.min, y.min, node, req)
            yield from self.bounds.compare(subject, key, "max", x.max, y.max, node, req)
            if x.tolerance != y.tolerance:
                wider = y.tolerance > x.tolerance
                yield Change(
                    subject,
                    f"{key}: tolerance {x.tolerance:g} -> {y.tolerance:g}",
                    "risky" if wider else "safe",
                    "a model may now be worse than the champion by more"
                    if wider
                    else "a model may trail the champion by less",
                    "pipeline",
                    node,
                    ((*req, "tolerance"),),
                )
            if x.better != y.better:
                yield Change(
                    subject,
                    f"{key}: better {x.better} -> {y.better}",
                    "risky",
                    "the comparison with the champion is reversed",
                    "pipeline",
                    node,
                    ((*req, "better"),),
                )

    def registry(self) -> Iterator[Change]:
        a, b = self.old.registry, self.new.registry
        if a is None or b is None:
            if a is not b:
                yield Change(
                    "registry",
                    "added" if b else "removed",
                    "review",
                    "models are " + ("now" if b else "no longer") + " registered",
                    "pipeline",
                    covers=(("registry",),),
                )
            return
        if a.registered_model != b.registered_model:
            yield Change(
                "registry",
                f"registered model {a.registered_model} -> {b.registered_model}",
                "review",
                "versions go to another model: a new target",
                "major",
                covers=(("registry", "registered_model"),),
            )
        if a.model != b.model:
            yield Change(
                "registry",
                f"registers {show(a.model)} -> {show(b.model)}",
                "review",
                "another artifact becomes the model",
                "minor",
                covers=(("registry", "model"),),
            )
        if a.tracking_uri != b.tracking_uri:
            yield Change(
                "registry",
                f"tracking_uri {show(a.tracking_uri)} -> {show(b.tracking_uri)}",
                "review",
                "another registry",
                "pipeline",
                covers=(("registry", "tracking_uri"),),
            )
        yield from self._rules(a, b)

    def _rules(self, a: ir.Registry, b: ir.Registry) -> Iterator[Change]:
        old, new = keyed(a.rules, _alias), keyed(b.rules, _alias)
        for alias in sorted(old.keys() - new.keys()):
            yield Change(
                f"promotion {alias}",
                "removed",
                "review",
                "nothing sets that alias now",
                "pipeline",
                f"promote_{alias}",
                (("registry", "rules", at(alias)),),
            )
        for alias in sorted(new.keys() - old.keys()):
            yield Change(
                f"promotion {alias}",
                "added",
                "review",
                "a new alias is set",
                "pipeline",
                f"promote_{alias}",
                (("registry", "rules", at(alias)),),
            )
        for alias in sorted(old.keys() & new.keys()):
            x, y, node = old[alias], new[alias], f"promote_{alias}"
            rule = ("registry", "rules", at(alias))
            for gate in sorted(set(x.gates) - set(y.gates)):
                yield Change(
                    f"promotion {alias}",
                    f"gate {gate} no longer required",
                    "risky",
                    "a model that fails it can now be promoted",
                    "pipeline",
                    node,
                    ((*rule, "gates"),),
                )
            for gate in sorted(set(y.gates) - set(x.gates)):
                yield Change(
                    f"promotion {alias}",
                    f"gate {gate} now required",
                    "safe",
                    "one more gate must pass",
                    "pipeline",
                    node,
                    ((*rule, "gates"),),
                )
            if x.after_rollout != y.after_rollout:
                yield Change(
                    f"promotion {alias}",
                    "waits for the rollout"
                    if y.after_rollout
                    else "no longer waits for the rollout",
                    "safe" if y.after_rollout else "risky",
                    "promoted only after a successful rollout"
                    if y.after_rollout
                    else "promoted before serving has proven it",
                    "pipeline",
                    node,
                    ((*rule, "after_rollout"),),
                )

    def rollout(self) -> Iterator[Change]:
        yield from compare_rollouts(self.old, self.new)

    def schedule(self) -> Iterator[Change]:
        a, b = self.old.schedule, self.new.schedule
        if _schedule(a) != _schedule(b):
            yield Change(
                "schedule",
                f"{_schedule(a)} -> {_schedule(b)}",
                "review",
                "the pipeline runs at other times",
                "pipeline",
                covers=(("schedule",),),
            )


def _explicit_after(step: ir.Step) -> set[str]:
    """Steps waited for beyond those whose outputs it reads (those show as rewiring)."""
    reads = {i.source.step for i in step.inputs if isinstance(i.source, ir.OutputRef)}
    return set(step.upstream) - reads


def _schedule(schedule: ir.Schedule | None) -> str:
    if schedule is None:
        return "none"
    return f"{schedule.cron} {schedule.timezone}" + (" paused" if schedule.paused else "")


def _name(item: ir.Param | ir.Step | ir.Gate | ir.Input) -> str:
    return item.name


def _alias(rule: ir.PromotionRule) -> str:
    return rule.alias


def _check_key(check: ir.DataCheck) -> str:
    return f"{check.kind}({check.column})" if check.column else check.kind


def _requirement_key(req: ir.Requirement) -> str:
    metric = show(req.metric)
    return f"{metric} vs {req.vs}" if req.vs is not None else metric


# How the rules key a gate's checks and requirements; the generic comparison keys them alike.
KEYS: fields.Keys = {ir.DataCheck: _check_key, ir.Requirement: _requirement_key}


def _resources(res: ir.Resources) -> str:
    parts = [f"{k}={v}" for k, v in (("cpu", res.cpu), ("memory", res.memory), ("gpu", res.gpu))]
    return "{" + ", ".join(p for p in parts if not p.endswith("=None")) + "}"
