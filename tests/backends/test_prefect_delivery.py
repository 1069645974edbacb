"""How the prefect target gets the flow to the worker: prefect.yaml's pull steps (code.git), the
work pool's image (code.image), and the warnings when neither is given.

The pull steps are read back with PyYAML, as `prefect deploy` reads prefect.yaml, and run by
Prefect's own step machinery (`run_steps`) against a real local repository: the clone at the
pinned commit, then its compiled folder as the working directory.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
import yaml

from mlspec.backends.prefect import PrefectBackend
from mlspec.compiler import analyze_file

BACKEND = PrefectBackend()
SPEC = """apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: pulled, version: 1.0.0}
defaults:
CODE
steps:
  make:
    python: steps:make
    outputs: {score: float}
"""


def git(repo: Path, *args: str) -> str:
    command = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@localhost"]
    done = subprocess.run([*command, *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def spec_with(folder: Path, code: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "steps.py").write_text("def make():\n    return {'score': 1.0}\n")
    (folder / "spec.yaml").write_text(SPEC.replace("CODE\n", code))
    return folder / "spec.yaml"


def compiled(spec: Path) -> tuple[dict[str, str], list]:
    pipeline = analyze_file(spec).pipeline
    return {a.path: a.text for a in BACKEND.emit(pipeline)}, BACKEND.check(pipeline)


def git_code(url: str, commit: str, path: str) -> str:
    return f"  code:\n    git: {{url: '{url}', commit: {commit}, path: {path}}}\n"


def test_pull_steps_clone_the_pinned_commit_and_enter_its_compiled_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prefect's run_steps on the generated `pull`: the clone is at the pinned commit (not the
    branch tip), and the working directory is the compiled folder in it. The repository's
    path has braces, which stay text."""
    repo = tmp_path / "a{b}" / "ml-pipelines"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "deploy" / "flow").mkdir(parents=True)
    (repo / "deploy" / "flow" / "marker.txt").write_text("pinned\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "pinned")
    pinned = git(repo, "rev-parse", "HEAD")
    (repo / "deploy" / "flow" / "marker.txt").write_text("later\n")
    git(repo, "commit", "-q", "-am", "later")

    files, problems = compiled(
        spec_with(tmp_path / "spec", git_code(f"file://{repo}", pinned, "deploy/flow"))
    )
    assert [d for d in problems if d.code in ("MS301", "MS302") and "flow" in d.message] == []
    data = yaml.safe_load(files["prefect.yaml"])
    assert data["build"] is None and data["push"] is None
    assert data["pull"] == [
        {
            "prefect.deployments.steps.git_clone": {
                "id": "clone",
                "repository": f"file://{repo}",
                "commit_sha": pinned,
                "include_submodules": False,
            }
        },
        {
            "prefect.deployments.steps.set_working_directory": {
                "directory": "{{ clone.directory }}/deploy/flow"
            }
        },
    ]
    from prefect.deployments.steps.core import run_steps
    from prefect.settings import PREFECT_API_URL, temporary_settings

    worker = tmp_path / "worker"
    worker.mkdir()
    monkeypatch.chdir(worker)
    # No server: the steps name no block or variable, so the client Prefect makes for them
    # sends nothing (without an API URL it would start a temporary server for it).
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        outputs = asyncio.run(run_steps(data["pull"]))
    folder = worker / "ml-pipelines" / "deploy" / "flow"
    assert Path.cwd() == folder
    assert Path(outputs["directory"]) == folder
    assert (folder / "marker.txt").read_text() == "pinned\n"


def test_without_git_the_flow_folder_is_a_warning_and_pull_is_empty(tmp_path: Path) -> None:
    files, problems = compiled(spec_with(tmp_path, "  retries: 0\n"))
    assert yaml.safe_load(files["prefect.yaml"])["pull"] is None
    [warning] = [d for d in problems if "--prefect-flow-dir" in d.message]
    assert (warning.code, warning.severity) == ("MS302", "warning")
    assert "code: {git:" in (warning.hint or "")


def test_code_image_goes_to_the_work_pool(tmp_path: Path) -> None:
    image = "ghcr.io/acme/steps@sha256:" + "a" * 64
    files, _ = compiled(spec_with(tmp_path, f"  code: {{image: '{image}'}}\n"))
    pool = yaml.safe_load(files["prefect.yaml"])["deployments"][0]["work_pool"]
    assert pool["job_variables"] == {"image": image}


def test_a_git_url_prefect_would_template_is_ms301(tmp_path: Path) -> None:
    code = git_code("https://example.com/{{HOME}}.git", "a" * 40, ".")
    _, problems = compiled(spec_with(tmp_path, code))
    [problem] = [d for d in problems if d.severity == "error"]
    assert problem.code == "MS301" and "placeholder" in problem.message
    assert problem.span.line == 6  # the git: line


def test_steps_pulling_other_commits_are_ms301(tmp_path: Path) -> None:
    text = SPEC.replace("CODE\n", git_code("https://example.com/r.git", "a" * 40, "."))
    text += "  other:\n    python: steps:make\n    outputs: {score: float}\n"
    text += "    code: {git: {url: 'https://example.com/r.git', commit: " + "b" * 40 + "}}\n"
    (tmp_path / "steps.py").write_text("def make():\n    return {'score': 1.0}\n")
    (tmp_path / "spec.yaml").write_text(text)
    _, problems = compiled(tmp_path / "spec.yaml")
    [problem] = [d for d in problems if d.severity == "error"]
    assert problem.code == "MS301" and "one git source" in problem.message
    assert problem.span.line == 14  # the second step's git:


def test_a_step_package_not_beside_the_spec_warns(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "  retries: 0\n")
    (tmp_path / "steps.py").unlink()
    _, problems = compiled(spec)
    [warning] = [d for d in problems if "installed" in d.message]
    assert (warning.code, warning.severity) == ("MS302", "warning")
    assert "'steps'" in warning.message and warning.span.line == 7
