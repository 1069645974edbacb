"""What a local run decided, read from what it left behind: gate reports and the registry.

Every engine writes the same gate reports (the embedded runtime) and uses the same registry,
so the summary is built the same way whichever engine ran: that is what makes runs comparable.
The registry's aliases are read by the engine's driver (local_registry.py), which imports
MLflow for the run anyway, and come back in its result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from mlspec.compiler import ir


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    failed_checks: tuple[str, ...]


@dataclass
class RunReport:
    pipeline: str
    engine: str
    outcome: str  # passed | blocked | failed
    detail: str
    engine_run_id: str  # the engine's own id of the run ("" where it has none to give)
    tasks: dict[str, str]
    gates: dict[str, GateVerdict | None]  # None: the gate did not run
    metrics: dict[str, float]
    promoted: dict[str, str]  # alias -> version set by this run
    registry_uri: str
    run_folder: Path
    log: Path
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "pipeline": self.pipeline,
            "engine": self.engine,
            "outcome": self.outcome,
            "detail": self.detail,
            "engine_run_id": self.engine_run_id,
            "tasks": self.tasks,
            "gates": {
                name: None if v is None else {"passed": v.passed, "failed": list(v.failed_checks)}
                for name, v in self.gates.items()
            },
            "metrics": self.metrics,
            "promoted": self.promoted,
            "registry": self.registry_uri,
            "run_folder": str(self.run_folder),
        }


def gate_reports(pipeline: ir.Pipeline, artifacts: Path) -> dict[str, dict | None]:
    """Each gate's report from this run's artifact folder (every engine names it <gate>/report)."""
    found: dict[str, dict | None] = {}
    for gate in pipeline.gates:
        # kfp names task folders with dashes
        names = {gate.name, gate.name.replace("_", "-")}
        paths = sorted(p for p in artifacts.rglob("report") if p.parent.name in names)
        if not paths:
            found[gate.name] = None
            continue
        with paths[0].open(encoding="utf-8") as handle:
            found[gate.name] = json.load(handle)
    return found


def verdicts(reports: dict[str, dict | None]) -> dict[str, GateVerdict | None]:
    out: dict[str, GateVerdict | None] = {}
    for name, report in reports.items():
        if report is None:
            out[name] = None
            continue
        failed = tuple(
            f"{c['check']} {c['subject']}".strip() for c in report["checks"] if not c["passed"]
        )
        out[name] = GateVerdict(bool(report["passed"]), failed)
    return out


def metrics(reports: dict[str, dict | None]) -> dict[str, float]:
    """The model metrics the gates judged, as measured in this run."""
    found: dict[str, float] = {}
    for report in reports.values():
        if report is None or report.get("kind") != "model":
            continue
        for check in report["checks"]:
            if check["check"] == "metric" and isinstance(check.get("measured"), int | float):
                found[check["subject"]] = float(check["measured"])
    return dict(sorted(found.items()))


def render(report: RunReport) -> str:
    width = max(len(name) for name in [*report.tasks, *report.gates, *report.metrics, "promoted"])
    lines = [f"mlspec run: {report.pipeline} on {report.engine}: {report.outcome.upper()}"]
    if report.tasks:
        lines.append("  tasks")
        lines += [f"    {name:<{width}}  {state}" for name, state in report.tasks.items()]
    if report.gates:
        lines.append("  gates")
        for name, verdict in report.gates.items():
            if verdict is None:
                text = "did not run"
            elif verdict.passed:
                text = "PASSED"
            else:
                text = "BLOCKED: " + ", ".join(verdict.failed_checks)
            lines.append(f"    {name:<{width}}  {text}")
    if report.metrics:
        lines.append("  metrics")
        lines += [f"    {name:<{width}}  {value:.6g}" for name, value in report.metrics.items()]
    promoted = ", ".join(f"{a} -> version {v}" for a, v in report.promoted.items())
    lines.append(f"  promoted  {promoted or 'nothing'}")
    lines.append(f"  engine    {report.detail}")
    lines.append(f"  registry  {report.registry_uri}")
    lines.append(f"  run       {report.run_folder}  (log: {report.log.name})")
    lines += [f"  note      {note}" for note in report.notes]
    return "\n".join(lines) + "\n"
