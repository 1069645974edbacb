"""Gate verdicts and promotions of a deployed run, from the lines its tasks log.

The runtime prints one JSON line per gate and per promotion (runtime/report.py: GATE_LINE,
PROMOTION_LINE) beside its readable summary, and one per tracking call that could not record
(runtime/lineage.py: TRACKING_LINE). Only those lines count, and only whole: a step
that prints something like a readable verdict, or a summary quoting text that reads like one,
changes nothing. The gate reports themselves live in the artifact store the workers write to,
which the deploying machine need not see; the logs reach it through the orchestrator's API.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mlspec.run.summary import GateVerdict, tracking_problem
from mlspec.runtime.lineage import TRACKING_LINE
from mlspec.runtime.report import GATE_LINE, PROMOTION_LINE


@dataclass
class Outcomes:
    gates: dict[str, GateVerdict] = field(default_factory=dict)
    promoted: dict[str, str] = field(default_factory=dict)  # alias -> "<model> version <n>"
    promotions: set[str] = field(default_factory=set)  # aliases whose promotion step reported
    tracking: list[str] = field(default_factory=list)  # "task: what tracking did not record"


def parse(messages: Iterable[str]) -> Outcomes:
    """The outcomes in log messages; a later one for the same gate or alias wins.

    The runtime prints each outcome by itself, so a message counts only when it is one line:
    a line inside another message (a gate summary quoting a column name) is never read."""
    found = Outcomes()
    for message in messages:
        line = message.strip()
        if "\n" not in line:
            _read(line, found)
    return found


def is_outcome(message: str) -> bool:
    """Whether a log message carries a gate's or a promotion's outcome."""
    found = parse([message])
    return bool(found.gates or found.promotions)


def _read(line: str, found: Outcomes) -> None:
    if line.startswith(GATE_LINE):
        data = _object(line.removeprefix(GATE_LINE))
        gate, passed, failed = data.get("gate"), data.get("passed"), data.get("failed_checks")
        checks = failed if isinstance(failed, list) else [None]
        if isinstance(gate, str) and isinstance(passed, bool) and _strings(checks):
            found.gates[gate] = GateVerdict(passed, tuple(str(check) for check in checks))
    elif line.startswith(TRACKING_LINE):
        problem = tracking_problem(line)
        if problem is not None and problem not in found.tracking:
            found.tracking.append(problem)
    elif line.startswith(PROMOTION_LINE):
        data = _object(line.removeprefix(PROMOTION_LINE))
        alias, model, version = data.get("alias"), data.get("model"), data.get("version")
        if isinstance(alias, str) and isinstance(model, str):
            found.promotions.add(alias)
            if isinstance(version, str):
                found.promoted[alias] = f"{model} version {version}"
            else:
                found.promoted.pop(alias, None)


def _strings(items: list[object]) -> bool:
    return all(isinstance(item, str) for item in items)


def _object(text: str) -> dict[str, object]:
    """The JSON object of a line; {} for anything else (a cut or garbled line is no verdict)."""
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def render(gates: Sequence[str], outcomes: Outcomes) -> list[str]:
    """Every gate of the pipeline with its verdict, then what was promoted, then what tracking
    did not record (when anything)."""
    lines = ["gates"] if gates else []
    width = max((len(name) for name in gates), default=0)
    for name in gates:
        verdict = outcomes.gates.get(name)
        if verdict is None:
            text = "did not run"
        elif verdict.passed:
            text = "PASSED"
        else:
            failed = ", ".join(verdict.failed_checks)
            text = "BLOCKED" + (f": {failed}" if failed else "")
        lines.append(f"  {name:<{width}}  {text}")
    shown = "; ".join(f"{alias}: {what}" for alias, what in outcomes.promoted.items())
    lines.append(f"promoted  {shown or 'nothing'}")
    if outcomes.tracking:
        lines.append("tracking incomplete: " + "; ".join(outcomes.tracking))
    return lines
