"""Issue #15: the no-data pause is set in the spec (`no_data_pause`, intervals, default 3),
reaches the controller's configuration, and `mlspec diff` calls a longer one risky."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from support.stubs import TESTS

from mlspec.backends.rollout.bandit import bandit_config
from mlspec.backends.rollout.release import Release
from mlspec.cli import main
from mlspec.compiler import analyze_text
from mlspec.diff import diff
from mlspec.diff.sources import Side

SPEC = TESTS.parent / "specs" / "valid" / "bandit.yaml"
GUARDRAILS = "      guardrails: [error_rate]\n"


def config_of(text: str):  # type: ignore[no-untyped-def]
    pipeline = analyze_text(text, "bandit.yaml").pipeline
    assert pipeline.rollout is not None
    return bandit_config(Release(pipeline, pipeline.rollout))


def test_the_pause_defaults_to_three_intervals_and_can_be_set() -> None:
    text = SPEC.read_text(encoding="utf-8")
    assert config_of(text).no_data_pause_intervals == 3
    assert GUARDRAILS in text
    longer = text.replace(GUARDRAILS, GUARDRAILS + "      no_data_pause: 6\n")
    assert config_of(longer).no_data_pause_intervals == 6


@pytest.mark.parametrize("value", ["0", "1001", "two"])
def test_a_pause_out_of_range_is_a_spec_error(tmp_path: Path, value: str) -> None:
    text = SPEC.read_text(encoding="utf-8")
    spec = tmp_path / "bandit.yaml"
    spec.write_text(text.replace(GUARDRAILS, f"{GUARDRAILS}      no_data_pause: {value}\n"))
    line = text[: text.index(GUARDRAILS)].count("\n") + 2
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 1, result.output
    assert f"{spec}:{line}:22" in result.output and "no_data_pause" in result.output


def test_a_longer_pause_is_a_risky_change() -> None:
    old = SPEC.read_text(encoding="utf-8")
    new = old.replace(GUARDRAILS, GUARDRAILS + "      no_data_pause: 10\n")
    changes = diff(Side("bandit.yaml", old), Side("bandit.yaml", new)).changes
    [change] = [c for c in changes if "no-data pause" in c.summary]
    assert (change.risk, change.summary) == ("risky", "bandit no-data pause 3 -> 10 intervals")
    shorter = diff(Side("bandit.yaml", new), Side("bandit.yaml", old)).changes
    assert not [c for c in shorter if "no-data pause" in c.summary]
