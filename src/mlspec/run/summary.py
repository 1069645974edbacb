"""What a local run decided, read from what it left behind: gate reports and the registry.

Every engine writes the same gate reports (the embedded runtime) and uses the same registry,
so the summary is built the same way whichever engine ran: that is what makes runs comparable.
The registry's aliases are read by the engine's driver (local_registry.py), which imports
MLflow for the run anyway, and come back in its result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mlspec.compiler import ir
from mlspec.runtime.lineage import TRACKING_LINE
from mlspec.runtime.monitor import _action_text  # the words the monitor's log uses

MONITOR_TASK = "monitor"  # the task of a Monitor spec's run, on every target


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    failed_checks: tuple[str, ...]


@dataclass(frozen=True)
class MonitorVerdict:
    """What a monitor run decided (its `monitor` task's report)."""

    version: str  # the watched version
    breached: tuple[str, ...]  # "checks", "feedback"
    failed_checks: tuple[str, ...]
    actions: tuple[str, ...]  # as the runtime words them
    note: str  # why quality was not judged, when it was not


@dataclass
class RunReport:
    pipeline: str
    engine: str
    outcome: str  # passed | blocked | failed; a monitor's: passed | breached | failed
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
    kind: str = "Pipeline"  # the spec's: "Monitor" for a monitor's run
    monitor: MonitorVerdict | None = None  # a monitor's verdict; None: it wrote no report
    tracking_incomplete: list[str] = field(default_factory=list)  # "task: what was not recorded"

    def as_json(self) -> dict:
        shown: dict[str, object] = {}
        if self.kind == "Monitor":
            m = self.monitor
            shown["monitor"] = m and {
                "version": m.version,
                "breached": list(m.breached),
                "failed": list(m.failed_checks),
                "actions": list(m.actions),
                "note": m.note,
            }
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
            "tracking_incomplete": self.tracking_incomplete,
            **shown,
        }


def _task_report(task: str, artifacts: Path) -> dict | None:
    """The report a task wrote in this run's artifact folder (every engine names it
    <task>/report), or None when it wrote none."""
    names = {task, task.replace("_", "-")}  # kfp names task folders with dashes
    paths = sorted(p for p in artifacts.rglob("report") if p.parent.name in names)
    if not paths:
        return None
    with paths[0].open(encoding="utf-8") as handle:
        report: dict = json.load(handle)
    return report


def tracking_problem(text: str) -> str | None:
    """ "task: problem" of a TRACKING_LINE in `text` that says recorded false; None for anything
    else (no such line, a cut or garbled one, or one that says recorded)."""
    at = text.find(TRACKING_LINE)
    if at < 0:
        return None
    try:
        data, _ = json.JSONDecoder().raw_decode(text, at + len(TRACKING_LINE))
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("recorded") is not False:
        return None
    task, problem = data.get("task"), data.get("problem")
    if not isinstance(task, str):
        return None
    return f"{task}: {problem if isinstance(problem, str) and problem else 'not recorded'}"


def tracking_problems(lines: Iterable[str]) -> list[str]:
    """What tracking did not record, from the TRACKING_LINE lines of the run's tasks (the
    engine's log holds every task's output, each line behind the engine's own prefix)."""
    found = (tracking_problem(line) for line in lines)
    return list(dict.fromkeys(problem for problem in found if problem is not None))


def gate_reports(pipeline: ir.Pipeline, artifacts: Path) -> dict[str, dict | None]:
    """Each gate's report from this run's artifact folder; a per-item gate's one per
    iteration, as `GATE.INDEX` (its name alone, None, if no iteration wrote one)."""
    found: dict[str, dict | None] = {}
    for gate in pipeline.gates:
        if gate.loop is None:
            found[gate.name] = _task_report(gate.name, artifacts)
        else:
            iterations = _iteration_reports(gate.name, artifacts)
            found.update(iterations if iterations else {gate.name: None})
    return found


# kfp's local runner keeps a ParallelFor iteration's tasks in `for-loop-N-iteration-INDEX/`.
_KFP_ITERATION = re.compile(r"for-loop-\d+-iteration-(\d+)")


def _iteration_reports(gate: str, artifacts: Path) -> dict[str, dict | None]:
    """A per-item gate's reports, <gate>/<index>/report (kfp's local runner:
    for-loop-N-iteration-<index>/<gate>/report), in element order."""
    names = {gate, gate.replace("_", "-")}
    paths: list[tuple[int, Path]] = []
    for p in artifacts.rglob("report"):
        if p.parent.name.isdigit() and p.parent.parent.name in names:
            paths.append((int(p.parent.name), p))
        elif p.parent.name in names and (kfp := _KFP_ITERATION.fullmatch(p.parent.parent.name)):
            paths.append((int(kfp.group(1)), p))
    found: dict[str, dict | None] = {}
    for index, path in sorted(paths):
        with path.open(encoding="utf-8") as handle:
            found.setdefault(f"{gate}.{index}", json.load(handle))
    return found


def monitor_verdict(artifacts: Path) -> MonitorVerdict | None:
    """What a monitor run decided, from its `monitor` task's report; None: it wrote none (it
    failed before judging)."""
    report = _task_report(MONITOR_TASK, artifacts)
    if report is None:
        return None
    failed = [
        f"{c['check']} {c['subject']}".strip()
        for judged in (report["checks"], report.get("feedback"))
        if judged
        for c in judged["checks"]
        if not c["passed"]
    ]
    return MonitorVerdict(
        version=str(report["version"]),
        breached=tuple(report["breached"]),
        failed_checks=tuple(failed),
        actions=tuple(_action_text(a) for a in report["actions"]),
        note=report.get("feedback_note", ""),
    )


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
    if report.kind == "Monitor":
        lines += _monitor_lines(report.monitor)
    else:
        promoted = ", ".join(f"{a} -> version {v}" for a, v in report.promoted.items())
        lines.append(f"  promoted  {promoted or 'nothing'}")
    lines.append(f"  engine    {report.detail}")
    lines.append(f"  registry  {report.registry_uri}")
    lines.append(f"  run       {report.run_folder}  (log: {report.log.name})")
    lines += [f"  note      {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def _monitor_lines(verdict: MonitorVerdict | None) -> list[str]:
    if verdict is None:
        return ["  monitor   did not judge: it failed before writing its report (nothing was done)"]
    if verdict.breached:
        judged = f"BREACHED ({', '.join(verdict.breached)}): {', '.join(verdict.failed_checks)}"
    else:
        judged = "no breach"
    lines = [f"  monitor   version {verdict.version}: {judged}"]
    if verdict.note:
        lines.append(f"  feedback  {verdict.note}")
    lines.append(f"  actions   {'; '.join(verdict.actions) or 'none'}")
    return lines
