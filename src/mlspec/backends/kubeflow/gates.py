"""Plans for the gate and promotion steps: components that run mlspec's runtime.

Each component is a small function that calls the runtime with plain values: artifact paths,
parameter values and the checks as a Python literal, where thresholds from pipeline parameters
and reference datasets are slots filled in at run time. The functions of all of them, the
runtime's modules and their helpers form one module that every such component runs
(`runtime.shared_module`), so the IR holds the runtime once; each function takes its own name
as its last, defaulted input, `RUNTIME_ENTRY`, which tells that module which function to run.
"""

from __future__ import annotations

import json
from typing import Literal

from mlspec.backends import lineage
from mlspec.backends.kubeflow.plan import (
    DEFAULT_PYTHON_IMAGE,
    Parameter,
    Plan,
    RunId,
    annotation,
    entry,
    output_type,
    registry_packages,
    returns,
    signature,
    tracking_uri_code,
)
from mlspec.backends.kubeflow.tracking import (
    TRACKING_RUN,
    gate_datasets_code,
    tracking_arg,
    tracking_run,
)
from mlspec.backends.runtime_args import (
    Slot,
    data_check_args,
    promotion_task_name,
    requirement_args,
    serving_args,
)
from mlspec.compiler import ir
from mlspec.diagnostics import Span

# A gate task's Bool output: its single return value. kfp.local resolves a condition's operand
# only when it is named `<task>-Output` (or `<task>--<output>`); a NamedTuple field such as
# `<task>-passed` silently reads as false there.
PASSED = "Output"
REPORT = "report"  # a gate task's report artifact
# Outside its loop, a per-item gate is its every_passed task, GATE + EVERY (layout.py).
EVERY = "__every"


def _slots_literal(items: object) -> str:
    """The items as a one-line Python literal, keys sorted; a slot is {'slot': [kind, name]}.

    Spec text in them (column names, categories) is in string literals (`repr`), never code.
    """

    def default(value: object) -> object:
        if isinstance(value, Slot):
            return {"slot": [value.kind, value.name]}
        raise TypeError(repr(value))

    return repr(json.loads(json.dumps(items, default=default, sort_keys=True)))


def _param_inputs(pipeline: ir.Pipeline, names: set[str]) -> tuple[Parameter, ...]:
    return tuple(
        Parameter(f"param_{p.name}", p.type, ir.ParamRef(p.name))
        for p in pipeline.params
        if p.name in names
    )


def _threshold_params(values: list[ir.Threshold | None]) -> set[str]:
    return {v.name for v in values if isinstance(v, ir.ParamRef)}


def _verdict(gate: ir.Gate) -> str:
    return f"    return _mlspec_verdict({gate.name!r}, {gate.on_fail!r}, _mlspec_passed)"


# A promotion's `promoted_by`: this pipeline run (lineage.record_promotion).
BY_PIPELINE = "'by': {'by': 'pipeline', 'pipeline_run': run_id}"


def _tracking_input(pipeline: ir.Pipeline, gate: ir.Gate | None = None) -> tuple[Parameter, ...]:
    """TRACK_TASK's run id, as an input of a tracked pipeline's gates and promotions; a per-item
    gate's is the pipeline run's id, by which it finds the MLflow run (kfp's local runner hands
    a ParallelFor's tasks the loop's item for any other task's output parameter)."""
    if not lineage.tracked(pipeline):
        return ()
    return (Parameter("run_id", "str", RunId()),) if gate and gate.loop else (tracking_run(),)


def _gate_tracking(
    pipeline: ir.Pipeline, gate: ir.Gate, parameters: tuple[Parameter, ...]
) -> list[str]:
    """A tracked gate records its verdict, report and datasets once the report is written."""
    if not lineage.tracked(pipeline):
        return []
    datasets = gate_datasets_code(pipeline, gate, parameters)
    uri = tracking_uri_code(pipeline)
    find = f"_mlspec_runtime('lineage').find_run({uri}, {pipeline.name!r}, run_id)"
    found = [f"    {TRACKING_RUN} = {find}"] if gate.loop else []
    return [
        *found,
        "    _mlspec_runtime('lineage').record_gate(",
        f"        {uri}, {TRACKING_RUN}, {REPORT}.path, {datasets},",
        "    )",
    ]


def gate_plan(pipeline: ir.Pipeline, gate: ir.Gate) -> Plan:
    if gate.kind == "data":
        return _data_gate_plan(pipeline, gate)
    if gate.kind == "serving":
        return _serving_gate_plan(pipeline, gate)
    return _model_gate_plan(pipeline, gate)


def _data_gate_plan(pipeline: ir.Pipeline, gate: ir.Gate) -> Plan:
    assert gate.dataset is not None
    references: dict[ir.OutputRef, str] = {}
    for check in gate.checks:
        if check.reference is not None and check.reference not in references:
            references[check.reference] = f"reference_{len(references)}"
    param_names = _threshold_params([v for c in gate.checks for v in (c.min, c.max)])
    slots = {name: Slot("param", name) for name in param_names}
    ref_slots = {ref: Slot("artifact", name) for ref, name in references.items()}
    checks = [data_check_args(c, slots, ref_slots) for c in gate.checks]
    parameters = (
        Parameter("dataset", annotation(output_type(pipeline, gate.dataset), "in"), gate.dataset),
        *(
            Parameter(name, annotation(output_type(pipeline, ref), "in"), ref)
            for ref, name in references.items()
        ),
        *_param_inputs(pipeline, param_names),
        *_tracking_input(pipeline, gate),
        Parameter(REPORT, "Output[Artifact]", None),
    )
    params = ", ".join(f"{n!r}: param_{n}" for n in sorted(param_names))
    artifacts = ", ".join(f"{n!r}: {n}.path" for n in references.values())
    lines = [
        f"def {gate.name}({signature(parameters)}, {entry(gate.name)}) -> bool:",
        "    _mlspec_checks = _mlspec_filled(",
        f"        {_slots_literal(checks)},",
        f"        {{{params}}},",
        f"        {{{artifacts}}},",
        "    )",
        "    _mlspec_passed = _mlspec_runtime('steps').data_gate_step(",
        f"        {gate.name!r}, dataset.path, _mlspec_checks, {REPORT}.path,",
        "    )",
        *_gate_tracking(pipeline, gate, parameters),
        _verdict(gate),
    ]
    return _runtime_plan(gate.name, "gate", parameters, lines, (), gate.span, gate.description)


def _serving_gate_plan(pipeline: ir.Pipeline, gate: ir.Gate) -> Plan:
    check = gate.serving
    assert check is not None
    parameters = (
        Parameter("model", annotation(output_type(pipeline, check.model), "in"), check.model),
        *(
            (
                Parameter(
                    "dataset", annotation(output_type(pipeline, check.dataset), "in"), check.dataset
                ),
            )
            if check.dataset
            else ()
        ),
        *_tracking_input(pipeline, gate),
        Parameter(REPORT, "Output[Artifact]", None),
    )
    lines = [
        f"def {gate.name}({signature(parameters)}, {entry(gate.name)}) -> bool:",
        "    _mlspec_passed = _mlspec_runtime('steps').serving_gate_step(",
        f"        {gate.name!r},",
        "        model.path,",
        f"        {_slots_literal(serving_args(check))},",
        f"        {REPORT}.path,",
        f"        dataset_path={'dataset.path' if check.dataset else None},",
        "    )",
        *_gate_tracking(pipeline, gate, parameters),
        _verdict(gate),
    ]
    return _runtime_plan(gate.name, "gate", parameters, lines, (), gate.span, gate.description)


def model_metrics(gate: ir.Gate) -> list[ir.OutputRef]:
    seen: list[ir.OutputRef] = []
    for req in gate.requirements:
        if req.metric not in seen:
            seen.append(req.metric)
    return seen


def _model_gate_plan(pipeline: ir.Pipeline, gate: ir.Gate) -> Plan:
    metrics = model_metrics(gate)
    param_names = _threshold_params([v for r in gate.requirements for v in (r.min, r.max)])
    slots = {name: Slot("param", name) for name in param_names}
    requirements = [requirement_args(r, slots) for r in gate.requirements]
    parameters = (
        *(
            Parameter(f"metric_{i}", output_type(pipeline, ref), ref)
            for i, ref in enumerate(metrics)
        ),
        *_param_inputs(pipeline, param_names),
        *_tracking_input(pipeline, gate),
        Parameter(REPORT, "Output[Artifact]", None),
    )
    params = ", ".join(f"{n!r}: param_{n}" for n in sorted(param_names))
    values = ", ".join(f"{f'{r.step}.{r.output}'!r}: metric_{i}" for i, r in enumerate(metrics))
    model_name = pipeline.registry.registered_model if pipeline.registry else None
    champion = any(r.vs is not None for r in gate.requirements)
    lines = [
        f"def {gate.name}({signature(parameters)}, {entry(gate.name)}) -> bool:",
        "    _mlspec_requirements = _mlspec_filled(",
        f"        {_slots_literal(requirements)},",
        f"        {{{params}}},",
        "        {},",
        "    )",
        "    _mlspec_passed = _mlspec_runtime('steps').model_gate_step(",
        f"        {gate.name!r},",
        f"        {{{values}}},",
        "        _mlspec_requirements,",
        f"        {REPORT}.path,",
        f"        first_run={gate.first_run!r},",
        f"        tracking_uri={tracking_uri_code(pipeline)},",
        f"        model_name={model_name!r},",
        "    )",
        *_gate_tracking(pipeline, gate, parameters),
        _verdict(gate),
    ]
    packages = registry_packages(pipeline) if champion else ()
    return _runtime_plan(
        gate.name, "gate", parameters, lines, packages, gate.span, gate.description
    )


def _runtime_plan(
    name: str,
    kind: Literal["gate", "promotion"],
    parameters: tuple[Parameter, ...],
    lines: list[str],
    packages: tuple[str, ...],
    span: Span,
    description: str,
    scalar_outputs: tuple[tuple[str, str], ...] = (),  # a gate returns PASSED, unnamed
) -> Plan:
    """A lightweight component that runs mlspec's runtime (a gate or a promotion)."""
    return Plan(
        name=name,
        kind=kind,
        parameters=parameters,
        scalar_outputs=scalar_outputs,
        source="\n".join(lines) + "\n",
        image=DEFAULT_PYTHON_IMAGE,
        packages=packages,
        step=None,
        after=(),
        span=span,
        description=description,
    )


def _outside(gate: ir.Gate) -> str:
    """The task that stands for a gate outside its loop: a per-item gate's every_passed."""
    return gate.name + EVERY if gate.loop is not None else gate.name


def _looped(pipeline: ir.Pipeline, ref: ir.OutputRef) -> bool:
    return pipeline.step(ref.step).loop is not None


def _metric_item(ref: ir.OutputRef, name: str, looped: bool) -> str:
    """A promotion's metric in its `metrics` mapping; a looped step's, one per iteration as
    lineage names them (`STEP.INDEX.OUTPUT`)."""
    if not looped:
        return f"{f'{ref.step}.{ref.output}'!r}: {name}"
    key = f"{ref.step}.{{_mlspec_i}}.{ref.output}"
    return f"**{{f{key!r}: _mlspec_v for _mlspec_i, _mlspec_v in enumerate({name})}}"


def promotion_plan(pipeline: ir.Pipeline, rule: ir.PromotionRule) -> Plan:
    registry = pipeline.registry
    assert registry is not None
    gates = [pipeline.gate(name) for name in rule.gates]
    metrics: list[ir.OutputRef] = []
    for gate in gates:
        metrics += [m for m in model_metrics(gate) if m not in metrics]
    reference = registry.reference  # the training data, recorded as tag mlspec.reference
    parameters = (
        Parameter("model", annotation(output_type(pipeline, registry.model), "in"), registry.model),
        *(
            (Parameter("reference", annotation(output_type(pipeline, reference), "in"), reference),)
            if reference
            else ()
        ),
        *(
            Parameter(f"report_{i}", "Input[Artifact]", ir.OutputRef(_outside(g), REPORT))
            for i, g in enumerate(gates)
        ),
        *(
            Parameter(
                f"metric_{i}",
                annotation(output_type(pipeline, ref), "in", _looped(pipeline, ref)),
                ir.FanIn(ref) if _looped(pipeline, ref) else ref,
            )
            for i, ref in enumerate(metrics)
        ),
        Parameter("run_id", "str", RunId()),
        *_tracking_input(pipeline),
    )
    name = promotion_task_name(rule.alias)
    values = ", ".join(
        _metric_item(r, f"metric_{i}", _looped(pipeline, r)) for i, r in enumerate(metrics)
    )
    reports = ", ".join(f"report_{i}.path" for i in range(len(gates)))
    lines = [
        f"def {name}({signature(parameters)}, {entry(name)}){returns((('version', 'str'),))}:",
        f"    _mlspec_uri = {tracking_uri_code(pipeline)}",
        "    if not _mlspec_uri:",
        "        raise RuntimeError('no MLflow tracking URI: set registry.mlflow.tracking_uri in "
        "the spec or MLFLOW_TRACKING_URI')",
        "    _mlspec_version = _mlspec_runtime('steps').promotion_step(",
        "        tracking_uri=_mlspec_uri,",
        f"        model_name={registry.registered_model!r},",
        "        model_path=model.path,",
        f"        alias={rule.alias!r},",
        f"        rule_gates={list(rule.gates)!r},",
        f"        report_paths=[{reports}],",
        "        run_id=run_id,",
        f"        spec_name={pipeline.name!r},",
        f"        spec_version={pipeline.version!r},",
        f"        metrics={{{values}}},",
        f"        tags={dict(registry.tags)!r},",
        *(["        reference_path=reference.path,"] if reference else []),
        *([f"        {tracking_arg(pipeline, BY_PIPELINE)}"] if lineage.tracked(pipeline) else []),
        "    )",
        "    return (_mlspec_version or '',)",
    ]
    return _runtime_plan(
        name,
        "promotion",
        parameters,
        lines,
        registry_packages(pipeline),
        rule.span,
        f"Promote the model to {rule.alias!r} once {', '.join(rule.gates)} passed.",
        scalar_outputs=(("version", "str"),),
    )
