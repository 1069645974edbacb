"""Model gates: thresholds, the champion comparison, first-run policies, failing closed."""

from __future__ import annotations

import json
import math

import pytest

from mlspec.runtime.gates import evaluate_model_gate
from mlspec.runtime.report import gate_report_from_json, summarize

AUC_MIN = {"metric": "evaluate.auc", "min": 0.9}
VS_CHAMPION = {"metric": "evaluate.auc", "vs": "champion", "better": "higher", "tolerance": 0.005}
LOSS_VS_CHAMPION = {
    "metric": "evaluate.loss",
    "vs": "champion",
    "better": "lower",
    "tolerance": 0.01,
}


def verdicts(report) -> list[bool]:
    return [c.passed for c in report.checks]


@pytest.mark.parametrize(
    ("value", "passed"),
    [(0.95, True), (0.9, True), (0.8999, False), (1, True)],
)
def test_min_threshold_is_inclusive(value: float, passed: bool) -> None:
    report = evaluate_model_gate("q", {"evaluate.auc": value}, [AUC_MIN])
    assert report.passed is passed
    assert report.checks[0].threshold == ">= 0.9"


def test_min_and_max() -> None:
    req = {"metric": "evaluate.rate", "min": 0.1, "max": 0.2}
    assert evaluate_model_gate("q", {"evaluate.rate": 0.2}, [req]).passed
    assert not evaluate_model_gate("q", {"evaluate.rate": 0.2001}, [req]).passed
    assert evaluate_model_gate("q", {"evaluate.rate": 0.2}, [req]).checks[0].threshold == (
        ">= 0.1 and <= 0.2"
    )


@pytest.mark.parametrize(
    ("metrics", "detail"),
    [
        ({}, "metric evaluate.auc was not reported"),
        ({"evaluate.auc": None}, "metric evaluate.auc was not reported"),
        ({"evaluate.auc": math.nan}, "metric evaluate.auc is nan"),
        ({"evaluate.auc": math.inf}, "metric evaluate.auc is inf"),
        ({"evaluate.auc": "high"}, "metric evaluate.auc is not a number: 'high'"),
        ({"evaluate.auc": True}, "metric evaluate.auc is not a number: True"),
    ],
)
def test_unusable_metric_blocks_and_says_why(metrics: dict, detail: str) -> None:
    report = evaluate_model_gate("q", metrics, [AUC_MIN])
    assert not report.passed
    assert report.checks[0].measured is None
    assert report.checks[0].detail == detail
    assert report.reason == detail


def test_numeric_string_metric_is_read() -> None:  # scalar outputs may travel as text
    assert evaluate_model_gate("q", {"evaluate.auc": "0.93"}, [AUC_MIN]).passed


@pytest.mark.parametrize(
    ("candidate", "champion", "passed"),
    [
        (0.97, 0.96, True),  # better
        (0.955, 0.96, True),  # worse, within the tolerance
        (0.955, 0.96, True),
        (0.97 - 0.005, 0.97, True),  # exactly at the tolerance, despite float noise
        (0.9549, 0.96, False),  # worse than the tolerance allows
    ],
)
def test_higher_is_better_with_tolerance(candidate: float, champion: float, passed: bool) -> None:
    report = evaluate_model_gate(
        "q", {"evaluate.auc": candidate}, [VS_CHAMPION], champion={"evaluate.auc": champion}
    )
    assert report.passed is passed


def test_lower_is_better() -> None:
    champion = {"evaluate.loss": 0.30}
    ok = evaluate_model_gate("q", {"evaluate.loss": 0.31}, [LOSS_VS_CHAMPION], champion=champion)
    bad = evaluate_model_gate("q", {"evaluate.loss": 0.3101}, [LOSS_VS_CHAMPION], champion=champion)
    assert ok.passed
    assert not bad.passed
    assert bad.checks[0].threshold == "<= 0.31 (champion 0.3 + 0.01)"


@pytest.mark.parametrize(("policy", "passed"), [("pass", True), ("fail", False), (None, False)])
def test_first_run_policy_when_there_is_no_champion(policy: str | None, passed: bool) -> None:
    report = evaluate_model_gate(
        "q", {"evaluate.auc": 0.97}, [VS_CHAMPION], first_run=policy, champion=None
    )
    assert report.passed is passed
    assert report.checks[0].detail == f"no champion yet; first_run: {policy or 'fail'}"
    assert (report.reason == "") is passed


def test_unreachable_registry_blocks_even_under_first_run_pass() -> None:
    report = evaluate_model_gate(
        "q",
        {"evaluate.auc": 0.99},
        [AUC_MIN, VS_CHAMPION],
        first_run="pass",
        champion_error="http://127.0.0.1:9 refused the connection",
    )
    assert verdicts(report) == [True, False]
    assert report.reason == "registry unreachable: http://127.0.0.1:9 refused the connection"


def test_champion_without_the_metric_blocks() -> None:
    report = evaluate_model_gate(
        "q", {"evaluate.auc": 0.99}, [VS_CHAMPION], champion={"evaluate.accuracy": 0.9}
    )
    assert not report.passed
    assert "the champion has no usable value" in report.reason


def test_every_requirement_is_reported_even_after_a_failure() -> None:
    reqs = [{"metric": "evaluate.auc", "min": 0.99}, {"metric": "evaluate.accuracy", "min": 0.5}]
    report = evaluate_model_gate("q", {"evaluate.auc": 0.9, "evaluate.accuracy": 0.8}, reqs)
    assert verdicts(report) == [False, True]


def test_report_round_trips_through_json_and_reads_well() -> None:
    report = evaluate_model_gate(
        "model_quality",
        {"evaluate.auc": 0.97, "evaluate.accuracy": math.nan},
        [AUC_MIN, {"metric": "evaluate.accuracy", "min": 0.9}, VS_CHAMPION],
        first_run="pass",
    )
    text = report.to_json()
    assert json.loads(text)["passed"] is False
    assert gate_report_from_json(text) == report
    assert summarize(report).splitlines() == [
        "gate model_quality (model): BLOCKED",
        "  reason: metric evaluate.accuracy is nan",
        "  [ok  ] metric         evaluate.auc                 measured 0.97         >= 0.9",
        "  [FAIL] metric         evaluate.accuracy            measured n/a          >= 0.9  "
        "(metric evaluate.accuracy is nan)",
        "  [ok  ] champion       evaluate.auc                 measured 0.97         vs champion  "
        "(no champion yet; first_run: pass)",
    ]
