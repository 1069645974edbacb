"""`mlspec init`: a new project that validate, pytest and `mlspec run` accept as it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlspec.cli import main
from mlspec.schema import json_schema


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "Fraud Model 2"  # a space and capitals: the names are derived safely
    result = CliRunner().invoke(main, ["init", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def test_init_writes_a_valid_project(project: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(project / "pipeline.yaml")])
    assert result.exit_code == 0, result.output
    assert "ok (3 steps, 2 gates)" in result.output
    spec = yaml.safe_load((project / "pipeline.yaml").read_text())
    assert spec["metadata"]["name"] == "fraud-model-2"
    assert spec["steps"]["train"]["python"] == "fraud_model_2_steps.steps:train"
    assert (project / "mlspec.schema.json").read_text() == json_schema()
    json.loads((project / "mlspec.schema.json").read_text())
    hooks = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    assert hooks["repos"][0]["hooks"][0]["entry"] == "mlspec validate"
    workflow = yaml.safe_load((project / ".github" / "workflows" / "mlspec.yml").read_text())
    assert "mlspec validate --format github pipeline.yaml" in str(workflow["jobs"])


def test_the_projects_own_tests_pass(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_init_refuses_a_folder_with_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    result = CliRunner().invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == 2
    assert "not an empty folder" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.slow
def test_mlspec_run_accepts_the_new_project(project: Path, prefect_api: str) -> None:
    print(f"\nstarting: mlspec run (Prefect, the server at {prefect_api}) in {project}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREFECT_"))}
    env["PREFECT_API_URL"] = prefect_api
    done = subprocess.run(
        [sys.executable, "-m", "mlspec.cli", "run", "pipeline.yaml", "--format", "json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    summary = json.loads(done.stdout)  # with --format json, stdout holds only the JSON
    assert summary["outcome"] == "passed"
    assert summary["promoted"] == {"champion": "1"}
