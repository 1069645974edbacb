"""Analysis queries: `${canary}` / `${stable}` are the only placeholders (MS224), and a canary
analysis whose query names the service without either gets a warning (MS250, issue #21).

The corpus (specs/invalid/MS224-unknown-query-placeholder.yaml, MS250-...) pins the message and
position; these cases pin where the warning does and does not apply.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlspec.compiler import analyze_text
from mlspec.diagnostics import SpecError

SPEC = Path(__file__).parents[2] / "specs" / "valid" / "canary.yaml"
ERROR_RATE = (
    "sum(rate(http_errors_total{${canary}}[5m])) / sum(rate(http_requests_total{${canary}}[5m]))"
)


def _with_query(query: str, text: str | None = None) -> str:
    text = text or SPEC.read_text(encoding="utf-8")
    assert ERROR_RATE in text
    return text.replace(ERROR_RATE, query)


def _codes(text: str) -> list[str]:
    return [d.code for d in analyze_text(text, "spec.yaml").warnings]


@pytest.mark.parametrize(
    "query",
    [
        'sum(rate(http_errors_total{service="fraud-scorer"}[5m]))',
        "sum(rate(http_errors_total{service=~'fraud-scorer'}[5m]))",
        'sum(rate(istio_requests_total{destination_workload="fraud-scorer"}[5m]))',
    ],
)
def test_a_canary_query_naming_the_service_alone_is_warned(query: str) -> None:
    assert _codes(_with_query(query)) == ["MS250"]


@pytest.mark.parametrize(
    "query",
    [
        'sum(rate(http_errors_total{service="fraud-scorer",${canary}}[5m]))',
        'sum(rate(http_errors_total{${stable}}[5m])) - sum(rate(x{service="fraud-scorer"}[5m]))',
        # another service whose name begins with this one's: not this service
        'sum(rate(http_errors_total{service="fraud-scorer-preview"}[5m]))',
        # a query that does not name the service at all selects nothing by it
        "sum(rate(http_errors_total[5m]))",
    ],
)
def test_a_canary_query_with_a_placeholder_or_without_the_service_is_not(query: str) -> None:
    assert _codes(_with_query(query)) == []


def test_an_analysis_no_canary_step_names_is_not_warned() -> None:
    """Only a canary mixes the two versions' traffic under one service; an analysis that the
    canary does not name (here: none does) is not one of the canary's."""
    text = _with_query('sum(rate(http_errors_total{service="fraud-scorer"}[5m]))')
    text = text.replace("      analysis: [error_rate]\n", "")
    text = text.replace("        - analysis: [error_rate, p95_latency]\n", "")
    assert "MS250" not in _codes(text)


@pytest.mark.parametrize("placeholder", ["${pod}", "${ canary }", "${}", "${Canary}"])
def test_any_other_placeholder_in_a_query_is_an_error(placeholder: str) -> None:
    text = _with_query(f"sum(rate(http_errors_total{{{placeholder}}}[5m]))")
    with pytest.raises(SpecError) as caught:
        analyze_text(text, "spec.yaml")
    [found] = caught.value.diagnostics
    assert found.code == "MS224" and placeholder in found.message
    assert found.hint is not None and "${canary}" in found.hint
