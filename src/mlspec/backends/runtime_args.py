"""IR gates -> the plain arguments that the embedded runtime's gate steps take.

One translation for every back end, so that all targets hand the runtime the same checks.
Parameters are resolved from `params` (their run-time values); artifact references from
`artifacts` (where the run stored each output). A back end that only learns those at run time
passes `Slot`s instead: they are kept as they are, for the generated code to fill in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mlspec.compiler import ir


@dataclass(frozen=True)
class Slot:
    """A value that generated code fills in at run time: a parameter or an artifact's path."""

    kind: Literal["param", "artifact"]
    name: str


def promotion_task_name(alias: str) -> str:
    """The task that applies a promotion rule, on every target (`promote_` is reserved)."""
    return "promote_" + "".join(c if c.isalnum() else "_" for c in alias)


Params = Mapping[str, ir.Scalar | Slot]


def threshold(value: ir.Threshold | None, params: Params) -> float | Slot | None:
    if isinstance(value, ir.ParamRef):
        resolved = params[value.name]
        return resolved if isinstance(resolved, Slot) else float(resolved)
    return value


def data_check_args(
    check: ir.DataCheck, params: Params, artifacts: Mapping[ir.OutputRef, str | Slot]
) -> dict:
    out: dict = {"kind": check.kind}
    if check.column is not None:
        out["column"] = check.column
    if check.pattern is not None:  # the runtime checks each column it matches
        out["pattern"] = check.pattern
    if check.kind in ("row_count", "range"):
        out["min"] = threshold(check.min, params)
    if check.kind in ("row_count", "range", "null_fraction", "drift"):
        out["max"] = threshold(check.max, params)
    if check.kind == "columns":
        out["columns"] = dict(check.columns)
    if check.kind == "categories":
        out["allowed"] = list(check.allowed)
    if check.kind == "drift":
        out["reference"] = artifacts[check.reference] if check.reference else check.reference_uri
        out["method"] = check.method
        if check.bins is not None:
            out["bins"] = check.bins
    return out


def requirement_args(req: ir.Requirement, params: Params) -> dict:
    metric = f"{req.metric.step}.{req.metric.output}"
    if req.vs is not None:
        return {
            "metric": metric,
            "vs": req.vs,
            "better": req.better,
            "tolerance": req.tolerance,
        }
    return {"metric": metric, "min": threshold(req.min, params), "max": threshold(req.max, params)}


def serving_args(check: ir.ServingCheck) -> dict:
    """A serving gate's settings as `runtime.steps.serving_gate_step` takes them (`config`)."""
    return {
        "runtime": check.runtime,
        "command": list(check.command),
        "requirements": list(check.requirements),
        "rows": check.rows,
        "drop": list(check.drop),
        "examples": [list(row) for row in check.examples],
        "expect_type": check.expect_type,
        "expect_shape": list(check.expect_shape) if check.expect_shape is not None else None,
        "ready_seconds": check.ready_seconds,
        "max_p95_latency_ms": check.max_p95_latency_ms,
        "max_memory_bytes": check.max_memory_bytes,
    }
