"""Gate reports: every check with its measured value, threshold and verdict.

Runtime module: generated pipelines carry it as a file of its own (see embed.py), so it uses the
standard library only.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

# The lines tools read from a task's log (`mlspec deploy --wait`), one JSON object each, printed
# beside the readable summary: never parse the summary, whose text a step could imitate.
GATE_LINE = "MLSPEC-GATE "
PROMOTION_LINE = "MLSPEC-PROMOTION "


@dataclass
class CheckResult:
    """One check of a gate. `measured` is None when it could not be measured (then it fails)."""

    check: str  # e.g. "row_count", "null_fraction", "metric", "champion"
    subject: str  # the column, metric or dataset the check looked at
    measured: float | None
    threshold: str  # human-readable, e.g. ">= 300", "<= 0.2 (psi)"
    passed: bool
    detail: str = ""


@dataclass
class GateReport:
    gate: str
    kind: str  # "data", "model" or "serving"
    passed: bool
    checks: list[CheckResult] = field(default_factory=list)
    reason: str = ""  # why a gate that could not evaluate blocked (fail closed)

    def to_json(self) -> str:
        data = asdict(self)
        for check in data["checks"]:
            value = check["measured"]
            if isinstance(value, float) and not math.isfinite(value):
                check["measured"] = None  # JSON has no NaN; `detail` says what was measured
        return json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n"


def number_text(number: float) -> str:
    """A threshold as written: integral values without ".0", others as Python's shortest repr,
    which reads back as exactly the same float (0.8999999999, not a rounded 0.9)."""
    if math.isfinite(number) and number.is_integer() and abs(number) < 1e16:
        return str(int(number))
    return repr(float(number))


def gate_report_from_json(text: str) -> GateReport:
    data = json.loads(text)
    checks = [CheckResult(**c) for c in data.pop("checks")]
    return GateReport(checks=checks, **data)


def write_gate_report(report: GateReport, path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(report.to_json())


def summarize(report: GateReport) -> str:
    """A readable summary for the pipeline's logs."""
    verdict = "PASSED" if report.passed else "BLOCKED"
    lines = [f"gate {report.gate} ({report.kind}): {verdict}"]
    if report.reason:
        lines.append(f"  reason: {report.reason}")
    for c in report.checks:
        mark = "ok  " if c.passed else "FAIL"
        measured = "n/a" if c.measured is None else f"{c.measured:.6g}"
        line = f"  [{mark}] {c.check:<14} {c.subject:<28} measured {measured:<12} {c.threshold}"
        lines.append(line + (f"  ({c.detail})" if c.detail else ""))
    return "\n".join(lines)


def gate_line(report: GateReport) -> str:
    failed = [f"{c.check} {c.subject}".strip() for c in report.checks if not c.passed]
    verdict = {"gate": report.gate, "kind": report.kind, "passed": report.passed}
    return GATE_LINE + json.dumps({**verdict, "failed_checks": failed})


def promotion_line(alias: str, model_name: str, version: str | None) -> str:
    return PROMOTION_LINE + json.dumps({"alias": alias, "model": model_name, "version": version})
