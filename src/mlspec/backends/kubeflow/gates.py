"""Plans for the gate and promotion steps: components that run the embedded runtime.

Each component's source nests `embed.function_source(...)` (the runtime bundle as a string
literal) and calls it with plain values: artifact paths, parameter values and the checks as
JSON, where thresholds from pipeline parameters and reference datasets are slots filled in at
run time.
"""

from __future__ import annotations

import json
import textwrap
from typing import Literal

from mlspec.backends.kubeflow.plan import (
    DEFAULT_PYTHON_IMAGE,
    REGISTRY_PACKAGES,
    Parameter,
    Plan,
    RunId,
    annotation,
    output_type,
    returns,
    signature,
)
from mlspec.backends.runtime_args import (
    Slot,
    data_check_args,
    promotion_task_name,
    requirement_args,
)
from mlspec.compiler import ir
from mlspec.diagnostics import Span
from mlspec.runtime import embed

# A gate task's Bool output: its single return value. kfp.local resolves a condition's operand
# only when it is named `<task>-Output` (or `<task>--<output>`); a NamedTuple field such as
# `<task>-passed` silently reads as false there.
PASSED = "Output"
REPORT = "report"  # a gate task's report artifact
PROMOTION_ARGS = [
    *("tracking_uri", "model_name", "model_path", "alias", "rule_gates", "report_paths"),
    *("run_id", "spec_name", "spec_version", "metrics", "tags"),
]

# Replaces the slots of each check or requirement with the run's values.
_FILL_SLOTS = """\
    for _mlspec_item in _mlspec_items:
        for _mlspec_key in ('min', 'max', 'reference'):
            _mlspec_slot = _mlspec_item.get(_mlspec_key)
            if isinstance(_mlspec_slot, dict):
                _mlspec_kind, _mlspec_name = _mlspec_slot['slot']
                _mlspec_item[_mlspec_key] = (
                    float(_mlspec_params[_mlspec_name])
                    if _mlspec_kind == 'param'
                    else _mlspec_artifacts[_mlspec_name]
                )
"""


def _slots_json(items: list[dict]) -> str:
    def default(value: object) -> object:
        if isinstance(value, Slot):
            return {"slot": [value.kind, value.name]}
        raise TypeError(repr(value))

    return json.dumps(items, default=default, sort_keys=True, separators=(",", ":"))


def _param_inputs(pipeline: ir.Pipeline, names: set[str]) -> tuple[Parameter, ...]:
    return tuple(
        Parameter(f"param_{p.name}", p.type, ir.ParamRef(p.name))
        for p in pipeline.params
        if p.name in names
    )


def _threshold_params(values: list[ir.Threshold | None]) -> set[str]:
    return {v.name for v in values if isinstance(v, ir.ParamRef)}


def _runtime(entry: str, parameters: list[str]) -> str:
    source = embed.function_source("_mlspec_run", entry, parameters, embed.GATE_MODULES)
    return textwrap.indent(source, "    ")


def _finish(gate: ir.Gate) -> list[str]:
    lines = [f"    print('gate {gate.name}: ' + ('passed' if _mlspec_passed else 'blocked'))"]
    if gate.on_fail == "fail":
        lines += [
            "    if not _mlspec_passed:",
            f"        raise RuntimeError({f'gate {gate.name!r} did not pass (on_fail: fail)'!r})",
        ]
    return [*lines, "    return bool(_mlspec_passed)"]


def gate_plan(pipeline: ir.Pipeline, gate: ir.Gate) -> Plan:
    if gate.kind == "data":
        return _data_gate_plan(pipeline, gate)
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
        Parameter(REPORT, "Output[Artifact]", None),
    )
    params = ", ".join(f"{n!r}: param_{n}" for n in sorted(param_names))
    artifacts = ", ".join(f"{n!r}: {n}.path" for n in references.values())
    lines = [
        f"def {gate.name}({signature(parameters)}) -> bool:",
        "    import json",
        "",
        _runtime("data_gate_step", ["gate", "dataset_path", "checks", "report_path"]),
        f"    _mlspec_params = {{{params}}}",
        f"    _mlspec_artifacts = {{{artifacts}}}",
        f"    _mlspec_items = json.loads({_slots_json(checks)!r})",
        _FILL_SLOTS,
        "    _mlspec_passed = _mlspec_run(",
        f"        gate={gate.name!r},",
        "        dataset_path=dataset.path,",
        "        checks=_mlspec_items,",
        f"        report_path={REPORT}.path,",
        "    )",
        *_finish(gate),
    ]
    return _runtime_plan(gate.name, "gate", parameters, lines, (), gate.span, gate.description)


def _tracking_uri(pipeline: ir.Pipeline) -> str:
    uri = pipeline.registry.tracking_uri if pipeline.registry else None
    return repr(uri) if uri else "os.environ.get('MLFLOW_TRACKING_URI')"


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
        Parameter(REPORT, "Output[Artifact]", None),
    )
    params = ", ".join(f"{n!r}: param_{n}" for n in sorted(param_names))
    values = ", ".join(f"{f'{r.step}.{r.output}'!r}: metric_{i}" for i, r in enumerate(metrics))
    model_name = pipeline.registry.registered_model if pipeline.registry else None
    champion = any(r.vs is not None for r in gate.requirements)
    lines = [
        f"def {gate.name}({signature(parameters)}) -> bool:",
        "    import json",
        "    import os",
        "",
        _runtime(
            "model_gate_step",
            [
                *[
                    "gate",
                    "metrics",
                    "requirements",
                    "report_path",
                    "first_run",
                    "tracking_uri",
                    "model_name",
                ]
            ],
        ),
        f"    _mlspec_params = {{{params}}}",
        "    _mlspec_artifacts = {}",
        f"    _mlspec_items = json.loads({_slots_json(requirements)!r})",
        _FILL_SLOTS,
        "    _mlspec_passed = _mlspec_run(",
        f"        gate={gate.name!r},",
        f"        metrics={{{values}}},",
        "        requirements=_mlspec_items,",
        f"        report_path={REPORT}.path,",
        f"        first_run={gate.first_run!r},",
        f"        tracking_uri={_tracking_uri(pipeline)},",
        f"        model_name={model_name!r},",
        "    )",
        *_finish(gate),
    ]
    packages = REGISTRY_PACKAGES if champion else ()
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
    """A lightweight component that runs the embedded runtime (a gate or a promotion)."""
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


def promotion_plan(pipeline: ir.Pipeline, rule: ir.PromotionRule) -> Plan:
    registry = pipeline.registry
    assert registry is not None
    gates = [pipeline.gate(name) for name in rule.gates]
    metrics: list[ir.OutputRef] = []
    for gate in gates:
        metrics += [m for m in model_metrics(gate) if m not in metrics]
    parameters = (
        Parameter("model", annotation(output_type(pipeline, registry.model), "in"), registry.model),
        *(
            Parameter(f"report_{i}", "Input[Artifact]", ir.OutputRef(g.name, REPORT))
            for i, g in enumerate(gates)
        ),
        *(
            Parameter(f"metric_{i}", output_type(pipeline, ref), ref)
            for i, ref in enumerate(metrics)
        ),
        Parameter("run_id", "str", RunId()),
    )
    name = promotion_task_name(rule.alias)
    values = ", ".join(f"{f'{r.step}.{r.output}'!r}: metric_{i}" for i, r in enumerate(metrics))
    reports = ", ".join(f"report_{i}.path" for i in range(len(gates)))
    lines = [
        f"def {name}({signature(parameters)}){returns((('version', 'str'),))}:",
        "    import os",
        "",
        _runtime(
            "promotion_step",
            PROMOTION_ARGS,
        ),
        f"    _mlspec_uri = {_tracking_uri(pipeline)}",
        "    if not _mlspec_uri:",
        "        raise RuntimeError('no MLflow tracking URI: set registry.mlflow.tracking_uri in "
        "the spec or MLFLOW_TRACKING_URI')",
        "    _mlspec_version = _mlspec_run(",
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
        "    )",
        "    return (_mlspec_version or '',)",
    ]
    return _runtime_plan(
        name,
        "promotion",
        parameters,
        lines,
        REGISTRY_PACKAGES,
        rule.span,
        f"Promote the model to {rule.alias!r} once {', '.join(rule.gates)} passed.",
        scalar_outputs=(("version", "str"),),
    )
