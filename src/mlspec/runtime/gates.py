"""Model gates: metric thresholds and the comparison with a registry alias (e.g. the champion).

Runtime module: generated pipelines carry it as a file of its own, so it uses the standard library
only. Gates fail closed: a missing, non-numeric or non-finite metric or threshold, a registry that
cannot be read or holds nothing to compare with, or a first run under `first_run: fail` blocks,
and the report says which and why.

Comparisons are exact: the only slack is the declared tolerance. A comparison with an alias
computes its bound in decimal from the numbers as written (their shortest repr), so champion
1.1 with tolerance 0.2 admits exactly 0.9 and up, where float arithmetic would give
0.9000000000000001.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Mapping
from dataclasses import dataclass

from .report import CheckResult, GateReport, number_text

# Wide enough for the exact sum of any two finite floats; Inexact is a trap, never a rounding.
_EXACT = decimal.Context(prec=1000, traps=[decimal.Inexact, decimal.Rounded])


@dataclass(frozen=True)
class Baseline:
    """What the registry holds for an alias that a gate compares with. Exactly one is set."""

    metrics: dict[str, float] | None = None  # the metric tags of the version holding the alias
    first_run: str = ""  # nothing registered yet: what the registry showed
    problem: str = ""  # why nothing can be compared although it is no first run


def evaluate_model_gate(
    gate: str,
    metrics: dict[str, object],
    requirements: list[dict],
    *,
    first_run: str | None = None,
    baselines: dict[str, Baseline] | None = None,
) -> GateReport:
    """Judge `metrics` ({"evaluate.auc": 0.97}) against `requirements`:
    {"metric": m, "min": x, "max": y} or {"metric": m, "vs": alias, "better": "higher" |
    "lower", "tolerance": t}. `baselines` holds, per alias compared with, what the registry
    holds for it; an alias missing there blocks its comparison."""
    results = [
        _compare(r, metrics, first_run, (baselines or {}).get(r["vs"]))
        if r.get("vs")
        else _threshold(r, metrics)
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


def _number(
    values: Mapping[str, object], name: str, what: str = "metric"
) -> tuple[float | None, str]:
    """The value as a finite float, or None and why not."""
    if name not in values or values[name] is None:
        return None, f"{what} {name} was not reported"
    value = values[name]
    if isinstance(value, bool):
        return None, f"{what} {name} is not a number: {value!r}"
    if not isinstance(value, int | float | str | decimal.Decimal):  # e.g. a list from JSON
        return None, f"{what} {name} is not a number: {_short(value)}"
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range, e.g. 10**400
        return None, f"{what} {name} is too large for a float: {_short(value)}"
    except ValueError:
        return None, f"{what} {name} is not a number: {_short(value)}"
    if not math.isfinite(number):  # NaN fails every bound, inf passes all on one side
        return None, f"{what} {name} is {number}"
    return number, ""


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _bound(req: dict, key: str) -> tuple[float | None, str]:
    """A threshold of the requirement (None when absent), or why it is unusable."""
    if req.get(key) is None:
        return None, ""
    return _number(req, key, "threshold")


def _threshold(req: dict, metrics: dict[str, object]) -> CheckResult:
    name = req["metric"]
    (low, low_problem), (high, high_problem) = _bound(req, "min"), _bound(req, "max")
    parts = [f">= {number_text(low)}"] if low is not None else []
    parts += [f"<= {number_text(high)}"] if high is not None else []
    threshold = " and ".join(parts) or "?"
    value, problem = _number(metrics, name)
    problem = low_problem or high_problem or problem or ("" if parts else "no min or max")
    if value is None or problem:
        return CheckResult("metric", name, value, threshold, False, problem)
    passed = (low is None or value >= low) and (high is None or value <= high)
    return CheckResult("metric", name, value, threshold, passed)


def _compare(
    req: dict, metrics: dict[str, object], first_run: str | None, baseline: Baseline | None
) -> CheckResult:
    name, alias, better = req["metric"], req["vs"], req.get("better")
    value, problem = _number(metrics, name)
    if value is None:
        return CheckResult(alias, name, None, f"vs {alias}", False, problem)
    tolerance, problem = _bound(req, "tolerance")
    if problem or better not in ("higher", "lower"):
        detail = problem or f"invalid comparison: better must be higher or lower, not {better!r}"
        return CheckResult(alias, name, value, f"vs {alias}", False, detail)
    if baseline is None:
        baseline = Baseline(problem=f"alias {alias!r} was not read from the registry")
    if baseline.problem:
        return CheckResult(alias, name, value, f"vs {alias}", False, baseline.problem)
    if baseline.metrics is None:
        policy = first_run or "fail"
        detail = f"first run: {baseline.first_run}; first_run: {policy}"
        return CheckResult(alias, name, value, f"vs {alias}", policy == "pass", detail)
    reference, problem = _number(baseline.metrics, name)
    if reference is None:
        detail = f"the {alias} version has no usable value: {problem}"
        return CheckResult(alias, name, value, f"vs {alias}", False, detail)
    slack = _decimal(tolerance or 0.0)
    if better == "higher":
        bound = _EXACT.subtract(_decimal(reference), slack)
        passed = _decimal(value) >= bound
        sign, relation = "-", ">="
    else:
        bound = _EXACT.add(_decimal(reference), slack)
        passed = _decimal(value) <= bound
        sign, relation = "+", "<="
    threshold = (
        f"{relation} {_decimal_text(bound)} "
        f"({alias} {number_text(reference)} {sign} {number_text(tolerance or 0.0)})"
    )
    return CheckResult(alias, name, value, threshold, passed)


def _decimal(number: float) -> decimal.Decimal:
    """The float as the decimal it is written as (its shortest repr), exactly."""
    return decimal.Decimal(repr(float(number)))


def _decimal_text(bound: decimal.Decimal) -> str:
    """The bound as a float's shortest repr when that is exact, else every digit it has."""
    as_float = float(bound)
    if math.isfinite(as_float) and _decimal(as_float) == bound:
        return number_text(as_float)
    return str(bound)
