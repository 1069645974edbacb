"""Issue #15: `mlspec deploy` against a server that answers 200 with something its API never
sends (`{}`, `[]`, a login page) ended in a traceback (pydantic's "15 validation errors for
DAGResponse", json's "Expecting value"), or planned as if the server were empty. Each is now
a DeployError naming the server and what was wrong: "deploy failed: ...", exit 3.

The server is `stubs.answering`: one body to every request, on 127.0.0.1, stopped at the end of
each test. Every deploy goes through the whole CLI.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support.published import publish_flagship
from support.stubs import answering

from mlspec.cli import EXIT_REFUSED, main

SPEC = Path()  # set by _published: the flagship, its wheel published


@pytest.fixture(scope="module", autouse=True)
def _published(tmp_path_factory: pytest.TempPathFactory) -> None:
    global SPEC
    SPEC = publish_flagship(tmp_path_factory.mktemp("flagship") / "bc")


UNEXPECTED = "answered with something its API does not send"
BODIES = {"{}": b"{}", "[]": b"[]", "a login page": b"<html><body>Sign in</body></html>"}
PROBLEMS = {"{}": "problems as", "[]": "1 problem as", "a login page": "not JSON: '<html>"}


def failure(stderr: str) -> str:
    """The failure report: the spec's warnings (MS302 on the flagship's steps) come before it."""
    return stderr[stderr.index("deploy failed: ") :]


def deploy(target: str, *args: str, env: dict[str, str | None]) -> Result:
    result = CliRunner().invoke(main, ["deploy", str(SPEC), "--target", target, *args], env=env)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.mark.parametrize("login", [False, True], ids=["token", "username and password"])
@pytest.mark.parametrize("body", BODIES, ids=BODIES.keys())
def test_airflow_dry_run_against_a_server_that_is_not_airflow(
    tmp_path: Path, body: str, login: bool
) -> None:
    credentials = (
        {"AIRFLOW_USERNAME": "admin", "AIRFLOW_PASSWORD": "pw-7f3a", "AIRFLOW_API_TOKEN": None}
        if login
        else {"AIRFLOW_API_TOKEN": "tok-9c2e", "AIRFLOW_USERNAME": None, "AIRFLOW_PASSWORD": None}
    )
    with answering(BODIES[body]) as url:
        env = {"AIRFLOW_API_URL": url, "MLSPEC_AIRFLOW_DAGS_FOLDER": str(tmp_path), **credentials}
        result = deploy("airflow", "--dry-run", env=env)
    assert result.exit_code == EXIT_REFUSED, result.output
    what = f"logging in to {url}" if login else "reading DAG breast-cancer-classifier"
    assert failure(result.stderr).startswith(f"deploy failed: {what}: ")
    assert f"the Airflow API at {url} {UNEXPECTED}" in result.stderr
    problem = "no access_token" if login and body == "{}" else PROBLEMS[body]
    if login and body == "[]":
        problem = "not an object"
    assert problem in result.stderr
    assert "pw-7f3a" not in result.output and "tok-9c2e" not in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("body", BODIES, ids=BODIES.keys())
def test_prefect_dry_run_against_a_server_that_is_not_prefect(tmp_path: Path, body: str) -> None:
    with answering(BODIES[body]) as url:
        env = {
            "PREFECT_API_URL": f"{url}/api",
            "MLSPEC_PREFECT_FLOW_DIR": str(tmp_path),
            "MLSPEC_PREFECT_WORK_POOL": None,
        }
        result = deploy("prefect", "--dry-run", env=env)
    assert result.exit_code == EXIT_REFUSED, result.output
    assert failure(result.stderr).startswith(
        f"deploy failed: reaching the Prefect API at {url}/api: "
    )
    assert f"it {UNEXPECTED}" in result.stderr
    problem = PROBLEMS[body] if body == "a login page" else f"a server version of {body}"
    assert problem in result.stderr
    assert "Nothing was changed" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_prefect_models_that_do_not_validate_are_named_in_one_line(tmp_path: Path) -> None:
    """A version string, then `{}`-like answers: pydantic's complaint, shortened to its first."""
    with answering(b'"3.4.1"') as url:
        env = {"PREFECT_API_URL": f"{url}/api", "MLSPEC_PREFECT_FLOW_DIR": str(tmp_path)}
        result = deploy("prefect", "--dry-run", env=env)
    assert result.exit_code == EXIT_REFUSED, result.output
    assert failure(result.stderr).startswith("deploy failed: reading work pool mlspec: ")
    assert f"the Prefect API at {url}/api {UNEXPECTED} (1 problem as WorkPool" in result.stderr
    assert len(failure(result.stderr).splitlines()) == 1


@pytest.fixture
def kfp_isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str | None]:
    """No KFP settings or kfp context file from the machine."""
    from kfp.client import client

    monkeypatch.setattr(client.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "kfp-context.json"))
    return {"KF_PIPELINES_TOKEN": None, "KF_PIPELINES_NAMESPACE": None}


@pytest.mark.parametrize("body", ["[]", "a login page"])
def test_kubeflow_dry_run_against_a_server_that_is_not_kfp(
    kfp_isolated: dict[str, str | None], body: str
) -> None:
    with answering(BODIES[body]) as url:
        result = deploy("kubeflow", "--dry-run", env={**kfp_isolated, "KF_PIPELINES_ENDPOINT": url})
    assert result.exit_code == EXIT_REFUSED, result.output
    # The target's warnings (MS302 for the flagship's Python steps) come first.
    assert "\ndeploy failed: looking up pipeline breast-cancer-classifier: " in result.stderr
    assert f"Kubeflow Pipelines at {url} {UNEXPECTED}" in result.stderr
    problem = "a JSON list for a V2beta1ListPipelinesResponse" if body == "[]" else PROBLEMS[body]
    assert problem in result.stderr
    assert "nothing was changed on the server" in result.stderr


def test_kubeflow_answering_empty_objects_fails_at_the_first_id_it_needs(
    kfp_isolated: dict[str, str | None],
) -> None:
    """`{}` is what KFP answers for an empty list, so reads take such a server for one without
    pipelines (the dry run plans to create everything); the create that must return an id
    is where it shows, with the server named."""
    with answering(b"{}") as url:
        env = {**kfp_isolated, "KF_PIPELINES_ENDPOINT": url}
        planned = deploy("kubeflow", "--dry-run", env=env)
        result = deploy("kubeflow", env=env)
    assert planned.exit_code == 0, planned.output
    assert "create    pipeline breast-cancer-classifier" in planned.stdout
    assert result.exit_code == EXIT_REFUSED, result.output
    assert (
        "\ndeploy failed: creating pipeline "
        f"breast-cancer-classifier: Kubeflow Pipelines at {url} {UNEXPECTED} (no pipeline_id)"
    ) in result.stderr
    assert "done before the failure: nothing" in result.stderr
