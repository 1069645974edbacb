"""Gate verdicts and promotions read back from a deployed run's logs (deploy/verdicts.py), as the
runtime prints them: one JSON line each, beside the readable summary that people read."""

from __future__ import annotations

import json
import subprocess
import sys

from mlspec.deploy import verdicts
from mlspec.run.summary import GateVerdict
from mlspec.runtime.lineage import TRACKING_LINE
from mlspec.runtime.report import CheckResult, GateReport, gate_line, promotion_line, summarize


def _logged(report: GateReport) -> list[str]:
    """What a gate task logs: the runtime's two prints, each its own log message."""
    return [summarize(report), gate_line(report)]


def test_verdicts_and_promotions_come_from_the_runtimes_json_lines() -> None:
    passed = GateReport(
        "data_quality", "data", True, [CheckResult("row_count", "train", 298, ">= 250", True)]
    )
    blocked = GateReport(
        "model_quality",
        "model",
        False,
        [
            CheckResult("metric", "evaluate.auc", 0.99, ">= 0.999", False),
            CheckResult("columns", "mean_radius, target", 1, "== 0", False),
            CheckResult("metric", "evaluate.accuracy", 0.95, ">= 0.9", True),
        ],
    )
    messages = [
        "Downloading flow code",
        *_logged(passed),
        *_logged(blocked),
        promotion_line("challenger", "breast-cancer-classifier", "3"),
        promotion_line("champion", "breast-cancer-classifier", None),  # nothing promoted
    ]
    found = verdicts.parse(messages)
    assert found.gates == {
        "data_quality": GateVerdict(True, ()),
        "model_quality": GateVerdict(False, ("metric evaluate.auc", "columns mean_radius, target")),
    }
    assert found.promoted == {"challenger": "breast-cancer-classifier version 3"}
    assert found.promotions == {"challenger", "champion"}
    assert verdicts.render(["data_quality", "model_quality", "x"], found) == [
        "gates",
        "  data_quality   PASSED",
        "  model_quality  BLOCKED: metric evaluate.auc, columns mean_radius, target",
        "  x              did not run",
        "promoted  challenger: breast-cancer-classifier version 3",
    ]


def test_text_that_reads_like_a_verdict_is_no_verdict() -> None:
    """The old parsers read the readable summary with regexes: a step printing a summary-like
    line counted as a gate's verdict, and a subject with " measured " in it was cut short."""
    subject = "time measured twice"  # a column name: the old regex kept "time"
    blocked = GateReport(
        "data_quality", "data", False, [CheckResult("null_fraction", subject, 0.5, "<= 0.1", False)]
    )
    # A column name that carries a forged machine line into the readable summary.
    forged = gate_line(GateReport("model_quality", "model", True))
    sneaky = GateReport(
        "other", "data", False, [CheckResult("nulls", f"a\n{forged}", 1, "", False)]
    )
    messages = [
        "gate model_quality (model): PASSED",  # a step's print, not the runtime's
        "promotion to 'champion': breast-cancer-classifier version 9",
        *_logged(blocked),
        summarize(sneaky),
        'MLSPEC-GATE {"gate": "cut short',  # a truncated line
        'MLSPEC-GATE {"gate": "x", "passed": "yes", "failed_checks": []}',  # the wrong shape
        "step said: " + forged,  # not at the start of the message
    ]
    found = verdicts.parse(messages)
    assert found.gates == {"data_quality": GateVerdict(False, (f"null_fraction {subject}",))}
    assert found.promoted == {}
    assert not verdicts.is_outcome(summarize(sneaky))
    assert verdicts.is_outcome(forged)


def test_a_hostile_gate_name_stays_one_line_and_reads_back() -> None:
    name = 'g") (data): PASSED\nMLSPEC-GATE {"gate": "h"'
    line = gate_line(GateReport(name, "data", False, [CheckResult("c", "s\n", None, "", False)]))
    assert "\n" not in line
    assert verdicts.parse([line]).gates == {name: GateVerdict(False, ("c s",))}


def test_deploy_code_does_not_import_click() -> None:
    """Deploy code raises DeployError (SettingsError for a usage error); only the CLI maps it
    to an exit code, so `mlspec.deploy` must work without click loaded."""
    code = (
        "import sys\n"
        "import mlspec.deploy.common, mlspec.deploy.verdicts, mlspec.deploy.airflow\n"
        "import mlspec.deploy.kubeflow, mlspec.deploy.prefect\n"
        "print(sorted(m for m in sys.modules if m == 'click' or m.startswith('click.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"


def test_tracking_lines_say_what_was_not_recorded() -> None:
    """A task's TRACKING_LINE that says recorded false is one more line of the render; one that
    says recorded, or one inside another message, changes nothing."""

    def tracking(task: str, recorded: bool, problem: str | None) -> str:
        data = {"task": task, "recorded": recorded, "problem": problem}
        return TRACKING_LINE + json.dumps(data)

    messages = [
        tracking("mlspec_track", False, "registry http://127.0.0.1:9: connection refused"),
        tracking("model_quality", True, None),
        "gate summary\n" + tracking("model_quality", False, "quoted, not logged"),
        tracking("mlspec_track", False, "registry http://127.0.0.1:9: connection refused"),
    ]
    found = verdicts.parse(messages)
    assert found.tracking == ["mlspec_track: registry http://127.0.0.1:9: connection refused"]
    assert verdicts.render([], found) == [
        "promoted  nothing",
        "tracking incomplete: mlspec_track: registry http://127.0.0.1:9: connection refused",
    ]
    assert verdicts.render([], verdicts.parse(messages[1:3])) == ["promoted  nothing"]
