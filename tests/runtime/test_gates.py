"""Model gates: thresholds, the champion comparison, first-run policies, failing closed."""

from __future__ import annotations

import json
import math

import pytest

from mlspec.runtime.gates import Baseline, evaluate_model_gate
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


def champion(**metrics: float) -> dict[str, Baseline]:
    return {"champion": Baseline(metrics={f"evaluate.{k}": v for k, v in metrics.items()})}


FIRST_RUN = {"champion": Baseline(first_run="registered model 'churn' has no versions yet")}


@pytest.mark.parametrize(
    ("value", "passed"),
    # 0.9 - 5e-10 passed under the former math.isclose(rel_tol=1e-9): the only slack is none.
    [(0.95, True), (0.9, True), (0.8999, False), (1, True), (0.9 - 5e-10, False)],
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
        ({"evaluate.auc": "nan"}, "metric evaluate.auc is nan"),
        ({"evaluate.auc": "-inf"}, "metric evaluate.auc is -inf"),
        ({"evaluate.auc": "1e400"}, "metric evaluate.auc is inf"),
        # An int beyond the float range used to end the step in an OverflowError traceback.
        (
            {"evaluate.auc": 10**400},
            "metric evaluate.auc is too large for a float: " + "1" + "0" * 36 + "...",
        ),
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
    ("candidate", "reference", "passed"),
    [
        (0.97, 0.96, True),  # better
        (0.955, 0.96, True),  # worse, exactly at the tolerance
        (0.9551, 0.96, True),  # worse, within the tolerance
        (0.97 - 0.005, 0.97, True),  # exactly at the tolerance, despite float noise
        (0.9549, 0.96, False),  # worse than the tolerance allows
    ],
)
def test_higher_is_better_with_tolerance(candidate: float, reference: float, passed: bool) -> None:
    report = evaluate_model_gate(
        "q", {"evaluate.auc": candidate}, [VS_CHAMPION], baselines=champion(auc=reference)
    )
    assert report.passed is passed


def test_lower_is_better() -> None:
    baselines = champion(loss=0.30)
    ok = evaluate_model_gate("q", {"evaluate.loss": 0.31}, [LOSS_VS_CHAMPION], baselines=baselines)
    bad = evaluate_model_gate(
        "q", {"evaluate.loss": 0.3101}, [LOSS_VS_CHAMPION], baselines=baselines
    )
    assert ok.passed
    assert not bad.passed
    assert bad.checks[0].threshold == "<= 0.31 (champion 0.3 + 0.01)"


def test_the_only_slack_is_the_declared_tolerance() -> None:
    # math.isclose(rel_tol=1e-9) let a candidate 8e-10 worse pass a 1e-10 tolerance, and the
    # report printed the bound as ">= 0.9".
    req = VS_CHAMPION | {"tolerance": 1e-10}
    worse = evaluate_model_gate(
        "q", {"evaluate.auc": 0.9 - 8e-10}, [req], baselines=champion(auc=0.9)
    )
    assert not worse.passed
    assert worse.checks[0].threshold == ">= 0.8999999999 (champion 0.9 - 1e-10)"
    at_bound = evaluate_model_gate(
        "q", {"evaluate.auc": 0.8999999999}, [req], baselines=champion(auc=0.9)
    )
    assert at_bound.passed


def test_the_bound_is_exact_where_float_arithmetic_is_not() -> None:
    # 1.1 - 0.2 is 0.9000000000000001 in floats, which would block a candidate of exactly 0.9.
    req = VS_CHAMPION | {"tolerance": 0.2}
    report = evaluate_model_gate("q", {"evaluate.auc": 0.9}, [req], baselines=champion(auc=1.1))
    assert report.passed
    assert report.checks[0].threshold == ">= 0.9 (champion 1.1 - 0.2)"
    tiny = VS_CHAMPION | {"tolerance": 1e-30}  # the bound no float can hold is printed in full
    below = math.nextafter(0.1, 0)  # 0.09999999999999999
    report = evaluate_model_gate("q", {"evaluate.auc": below}, [tiny], baselines=champion(auc=0.1))
    assert not report.passed
    assert report.checks[0].threshold == (
        ">= 0.099999999999999999999999999999 (champion 0.1 - 1e-30)"
    )


def test_any_alias_can_be_the_reference() -> None:
    req = VS_CHAMPION | {"vs": "production", "tolerance": 0.0}
    production = {"production": Baseline(metrics={"evaluate.auc": 0.9})}
    report = evaluate_model_gate("q", {"evaluate.auc": 0.7}, [req], baselines=production)
    assert not report.passed
    check = report.checks[0]
    assert (check.check, check.threshold) == ("production", ">= 0.9 (production 0.9 - 0)")
    # An alias the caller did not read from the registry blocks: it is never a first run.
    unread = evaluate_model_gate("q", {"evaluate.auc": 0.7}, [req], first_run="pass")
    assert not unread.passed
    assert unread.reason == "alias 'production' was not read from the registry"


@pytest.mark.parametrize(("policy", "passed"), [("pass", True), ("fail", False), (None, False)])
def test_first_run_policy_when_nothing_is_registered_yet(policy: str | None, passed: bool) -> None:
    report = evaluate_model_gate(
        "q", {"evaluate.auc": 0.97}, [VS_CHAMPION], first_run=policy, baselines=FIRST_RUN
    )
    assert report.passed is passed
    assert report.checks[0].detail == (
        f"first run: registered model 'churn' has no versions yet; first_run: {policy or 'fail'}"
    )
    assert (report.reason == "") is passed


def test_a_registry_problem_blocks_even_under_first_run_pass() -> None:
    problem = "registry http://127.0.0.1:9: could not read alias 'champion': connection refused"
    report = evaluate_model_gate(
        "q",
        {"evaluate.auc": 0.99},
        [AUC_MIN, VS_CHAMPION],
        first_run="pass",
        baselines={"champion": Baseline(problem=problem)},
    )
    assert verdicts(report) == [True, False]
    assert report.reason == problem


@pytest.mark.parametrize(
    ("metrics", "detail"),
    [
        ({"evaluate.accuracy": 0.9}, "metric evaluate.auc was not reported"),
        ({"evaluate.auc": math.nan}, "metric evaluate.auc is nan"),
        ({"evaluate.auc": math.inf}, "metric evaluate.auc is inf"),
    ],
)
def test_a_reference_without_a_usable_value_blocks(metrics: dict, detail: str) -> None:
    baselines = {"champion": Baseline(metrics=metrics)}
    report = evaluate_model_gate("q", {"evaluate.auc": 0.99}, [VS_CHAMPION], baselines=baselines)
    assert not report.passed
    assert report.reason == f"the champion version has no usable value: {detail}"


@pytest.mark.parametrize(
    ("requirement", "detail"),
    [
        # A threshold from a run parameter can be anything at run time; NaN passes nothing.
        ({"min": math.nan}, "threshold min is nan"),
        ({"max": math.inf}, "threshold max is inf"),
        (
            {"min": 10**400},
            "threshold min is too large for a float: " + "1" + "0" * 36 + "...",
        ),
        ({}, "no min or max"),  # passed before: no bound, nothing to fail
        (
            {"vs": "champion", "better": "sideways"},
            "invalid comparison: better must be higher or lower, not 'sideways'",
        ),
    ],
)
def test_an_unusable_threshold_blocks_and_says_why(requirement: dict, detail: str) -> None:
    req = {"metric": "evaluate.auc"} | requirement
    report = evaluate_model_gate("q", {"evaluate.auc": 0.95}, [req], baselines=champion(auc=0.9))
    assert not report.passed
    assert report.reason == detail


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
        baselines=FIRST_RUN,
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
        "(first run: registered model 'churn' has no versions yet; first_run: pass)",
    ]
