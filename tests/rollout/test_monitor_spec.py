"""A Monitor spec has nothing to roll out: compiling it for the rollout target says so where the
spec starts and points to the pipeline targets, and writes nothing."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from mlspec.cli import main

MONITOR = Path(__file__).parents[2] / "examples" / "breast-cancer" / "monitor.yaml"


def test_a_monitor_compiled_for_rollout_is_refused_at_its_first_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compile", str(MONITOR), "-t", "rollout", "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "monitor.yaml:7:1: error[MS301]: a Monitor spec rolls nothing out" in result.output
    assert "compile the monitor for kubeflow, airflow or prefect" in result.output
    assert not out.exists()
