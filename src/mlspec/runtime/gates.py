"""Model gates: metric thresholds and the comparison with the registry's champion.

Runtime module: embedded verbatim into generated pipelines, so it uses the standard library only.
Gates fail closed: a missing or non-numeric metric, an unreachable registry, or no champion under
`first_run: fail` blocks, and the report says which and why.
"""

from __future__ import annotations

import math

from mlspec.runtime.report import CheckResult, GateReport

# Thresholds are inclusive; this absorbs float noise such as 0.97 - 0.005 = 0.9649999999999999.
_GATE_REL_TOL = 1e-9


def evaluate_model_gate(
    gate: str,
    metrics: dict[str, object],
    requirements: list[dict],
    *,
    first_run: str | None = None,
    champion: dict[str, float] | None = None,
    champion_error: str | None = None,
) -> GateReport:
    """Judge `metrics` ({"evaluate.auc": 0.97}) against `requirements`:
    {"metric": m, "min": x, "max": y} or {"metric": m, "vs": "champion", "better": "higher" |
    "lower", "tolerance": t}. `champion` holds the champion's metrics, None when there is no
    champion yet; `champion_error` says why the registry could not be read."""
    results = [
        _gate_compare(r, metrics, first_run, champion, champion_error)
        if r.get("vs") == "champion"
        else _gate_threshold(r, metrics)
        for r in requirements
    ]
    unevaluated = [c.detail for c in results if not c.passed and c.detail]
    return GateReport(
        gate=gate,
        kind="model",
        passed=all(c.passed for c in results),
        checks=results,
        reason="; ".join(unevaluated),
    )


def _gate_number(metrics: dict[str, object], name: str) -> tuple[float | None, str]:
    """The metric as a finite float, or None and why not."""
    if name not in metrics or metrics[name] is None:
        return None, f"metric {name} was not reported"
    value = metrics[name]
    if isinstance(value, bool):
        return None, f"metric {name} is not a number: {value!r}"
    if not isinstance(value, int | float):
        try:
            value = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None, f"metric {name} is not a number: {metrics[name]!r}"
    if not math.isfinite(value):
        return None, f"metric {name} is {value}"
    return float(value), ""


def _gate_at_least(value: float, bound: float) -> bool:
    return value >= bound or math.isclose(value, bound, rel_tol=_GATE_REL_TOL, abs_tol=1e-12)


def _gate_threshold(req: dict, metrics: dict[str, object]) -> CheckResult:
    name = req["metric"]
    low, high = req.get("min"), req.get("max")
    parts = ([f">= {low:g}"] if low is not None else []) + (
        [f"<= {high:g}"] if high is not None else []
    )
    threshold = " and ".join(parts)
    value, problem = _gate_number(metrics, name)
    if value is None:
        return CheckResult("metric", name, None, threshold, False, problem)
    passed = (low is None or _gate_at_least(value, low)) and (
        high is None or _gate_at_least(high, value)
    )
    return CheckResult("metric", name, value, threshold, passed)


def _gate_compare(
    req: dict,
    metrics: dict[str, object],
    first_run: str | None,
    champion: dict[str, float] | None,
    champion_error: str | None,
) -> CheckResult:
    name, better = req["metric"], req["better"]
    tolerance = float(req.get("tolerance") or 0.0)
    value, problem = _gate_number(metrics, name)
    if value is None:
        return CheckResult("champion", name, None, "vs champion", False, problem)
    if champion_error:
        return CheckResult(
            "champion", name, None, "vs champion", False, f"registry unreachable: {champion_error}"
        )
    if champion is None:
        passed = first_run == "pass"
        policy = first_run or "fail"
        detail = f"no champion yet; first_run: {policy}"
        return CheckResult("champion", name, value, "vs champion", passed, detail)
    baseline, problem = _gate_number(champion, name)
    if baseline is None:
        detail = f"the champion has no usable value: {problem}"
        return CheckResult("champion", name, None, "vs champion", False, detail)
    if better == "higher":
        bound = baseline - tolerance
        passed = _gate_at_least(value, bound)
        threshold = f">= {bound:g} (champion {baseline:g} - {tolerance:g})"
    else:
        bound = baseline + tolerance
        passed = _gate_at_least(bound, value)
        threshold = f"<= {bound:g} (champion {baseline:g} + {tolerance:g})"
    return CheckResult("champion", name, value, threshold, passed)
