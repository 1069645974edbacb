"""Promotion across environments (issue #24): production serves the exact version that passed
staging, never a re-trained one. Real MLflow registries on SQLite: two files (a registry per
environment) and one file holding both environments' registered models (one shared server).
The staging versions are written by the runtime's own writers (the pipeline's promotion step
with tracking) and `mlspec promote --rollout-passed`, as CI does once staging's rollout passed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mlspec.api import compile_pipeline
from mlspec.backends.base import Artifact
from mlspec.backends.lineage import identity
from mlspec.cli import main
from mlspec.compiler import Analysis, analyze_file
from mlspec.runtime import lineage
from mlspec.runtime.report import GateReport, write_gate_report
from mlspec.runtime.steps import promotion_step

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

ROOT = Path(__file__).resolve().parents[1]
STAGING_MODEL, PROD_MODEL = "fraud-detector-staging", "fraud-detector"
ENVIRONMENTS = """\
environments:
  staging:
    registry: {{tracking_uri: "{staging}", registered_model: fraud-detector-staging}}
  prod:
    registry: {{tracking_uri: "{prod}"}}
    deploy:
      prefect: http://127.0.0.1:{port}/api
      airflow: http://127.0.0.1:{port}
      kubeflow: http://127.0.0.1:{port}
    promote_from: staging
"""


def write_spec(folder: Path, staging: str, prod: str, port: int = 9) -> Path:
    """specs/valid/canary.yaml (challenger by the pipeline, champion after the rollout) with a
    staging and a prod environment."""
    spec = folder / "pipeline.yaml"
    text = (ROOT / "specs" / "valid" / "canary.yaml").read_text(encoding="utf-8")
    spec.write_text(text + ENVIRONMENTS.format(staging=staging, prod=prod, port=port))
    return spec


def copy_db(template_db: Path, path: Path) -> str:
    shutil.copyfile(template_db, path)
    return f"sqlite:///{path}"


@pytest.fixture
def two(template_db: Path, tmp_path: Path) -> tuple[Path, str, str]:
    """A spec whose staging and prod have a registry each (two SQLite files)."""
    staging = copy_db(template_db, tmp_path / "staging.db")
    prod = copy_db(template_db, tmp_path / "prod.db")
    return write_spec(tmp_path, staging, prod), staging, prod


@pytest.fixture
def shared(template_db: Path, tmp_path: Path) -> tuple[Path, str, str]:
    """A spec whose staging and prod share one server, a registered model each."""
    uri = copy_db(template_db, tmp_path / "shared.db")
    return write_spec(tmp_path, uri, uri), uri, uri


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def aliases(uri: str, model: str) -> dict[str, str]:
    return {a: str(v) for a, v in client(uri).get_registered_model(model).aliases.items()}


def staging_run(spec: Path, uri: str, folder: Path, number: int) -> Path:
    """One tracked pipeline run in staging: its gate passed, the pipeline's promotion step
    registered the model and set challenger. Returns the model file."""
    pipeline = analyze_file(str(spec)).for_environment("staging").pipeline
    folder.mkdir()
    model = folder / "model.pkl"
    model.write_text(f"model of run {number}")
    report = folder / "model_quality.json"
    write_gate_report(GateReport("model_quality", "model", True, []), str(report))
    pipeline_run = f"{pipeline.name}/{number}"
    run = lineage.open_run(
        uri,
        identity=identity(pipeline),
        pipeline_run=pipeline_run,
        engine="prefect",
        engine_run_id=f"flow-{number}",
        params={},
    )
    assert run
    version = promotion_step(
        uri,
        STAGING_MODEL,
        str(model),
        alias="challenger",
        rule_gates=["model_quality"],
        report_paths=[str(report)],
        run_id=pipeline_run,
        spec_name=pipeline.name,
        spec_version=pipeline.version,
        metrics={"train.auc": 0.95, "train.error_rate": 0.01},
        tracking={"uri": uri, "run": run, "by": {"by": "pipeline", "pipeline_run": pipeline_run}},
    )
    assert version == str(number)
    return model


def rolled_out(spec: Path, version: int) -> None:
    """Staging's rollout of `version` passed: CI sets champion there."""
    result = invoke(
        "promote", spec, "--env", "staging", "--alias", "champion", "--version", version,
        "--rollout-passed",
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def to_prod(spec: Path, *more: object) -> Result:
    return invoke("promote", spec, "--env", "prod", "--from", "staging", "--alias", "challenger",
                  "--format", "json", *more)  # fmt: skip


@pytest.mark.parametrize("registries", ["two", "shared"])
def test_the_version_that_passed_staging_is_promoted_with_its_lineage(
    registries: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch
) -> None:
    spec, staging, prod = request.getfixturevalue(registries)
    monkeypatch.setenv("MLSPEC_ACTOR", "alice")
    model = staging_run(spec, staging, tmp_path / "1", 1)
    rolled_out(spec, 1)
    staging_run(spec, staging, tmp_path / "2", 2)  # a newer challenger, not rolled out yet

    result = to_prod(spec)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "model": PROD_MODEL,
        "alias": "challenger",
        "version": "1",
        "gates": ["model_quality"],
        "environment": "prod",
        "from": {"environment": "staging", "version": "1"},
        "changed": True,
        "promoted": True,
        "reason": None,
    }
    assert aliases(prod, PROD_MODEL) == {"challenger": "1"}
    source = client(staging).get_model_version(STAGING_MODEL, "1")
    copy = client(prod).get_model_version(PROD_MODEL, "1")
    # The lineage tags travel; what happened to the version in staging does not.
    lineage_tags = {
        k: v for k, v in source.tags.items() if not k.startswith(("mlspec.promoted_by.",))
    }
    assert {k: copy.tags[k] for k in lineage_tags} == lineage_tags
    assert copy.tags["mlspec.model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert copy.tags["mlspec.tracking_run"] == source.tags["mlspec.tracking_run"]
    assert copy.tags["mlspec.gate.model_quality"] == "passed"
    origin = {k.removeprefix("mlspec.promoted_from."): v for k, v in copy.tags.items()
              if k.startswith("mlspec.promoted_from.")}  # fmt: skip
    assert origin.pop("at")
    assert origin == {
        "environment": "staging",
        "registry": staging,
        "model": STAGING_MODEL,
        "version": "1",
        "alias": "champion",
        "actor": "alice",
    }
    promoted_by = json.loads(copy.tags["mlspec.promoted_by.challenger"])
    assert (promoted_by["by"], promoted_by["actor"], promoted_by["rule"]) == (
        "mlspec promote", "alice", ["model_quality"])  # fmt: skip
    assert "mlspec.promoted_by.champion" not in copy.tags
    # The same files: the copy's storage is the staging version's.
    resolved = invoke("resolve-model", spec, "--env", "prod", "--format", "json")
    assert resolved.exit_code == 0, resolved.output
    assert json.loads(resolved.stdout)["version"] == "1"
    assert json.loads(resolved.stdout)["uri"] == Path(model).resolve().as_uri()
    if registries == "shared":  # MLflow's copy: a models:/ source, linked to the same run
        assert copy.source == f"models:/{STAGING_MODEL}/1"
        assert copy.run_id == source.run_id
    staged = invoke("resolve-model", spec, "--env", "staging", "--alias", "champion", "--print",
                    "version")  # fmt: skip
    assert staged.output == "1\n"

    again = to_prod(spec)  # a re-run (a retried CI job) changes nothing
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["changed"] is False
    assert len(client(prod).search_model_versions(f"name = '{PROD_MODEL}'")) == 1
    text = invoke("promote", spec, "--env", "prod", "--from", "staging", "--alias", "challenger")
    assert text.stdout == (
        f"{PROD_MODEL} version 1 (staging's version 1) was already 'challenger' in prod: "
        "nothing changed\n"
    )
    assert json.loads(client(prod).get_model_version(PROD_MODEL, "1").tags[
        "mlspec.promoted_by.challenger"]) == promoted_by  # fmt: skip

    # Prod's own rollout of it passed: champion there, on the version promoted from staging.
    champion = invoke("promote", spec, "--env", "prod", "--alias", "champion", "--version", "1",
                      "--rollout-passed")  # fmt: skip
    assert champion.exit_code == 0, champion.output
    assert aliases(prod, PROD_MODEL) == {"challenger": "1", "champion": "1"}


def test_a_version_that_did_not_pass_staging_is_refused_with_the_reason(
    two: tuple[Path, str, str], tmp_path: Path
) -> None:
    spec, staging, prod = two

    def refused(*more: object) -> str:
        result = to_prod(spec, *more)
        assert result.exit_code == 3, result.output
        outcome = json.loads(result.stdout)
        assert (outcome["promoted"], outcome["reason"]) == (False, result.stderr[9:].strip())
        assert client(prod).search_registered_models() == []  # nothing written into prod
        return str(outcome["reason"])

    assert refused() == (  # a fresh staging registry: the model does not even exist
        f"in environment 'staging', model {STAGING_MODEL!r} does not exist: no version passed "
        "its rollout there"
    )
    model = staging_run(spec, staging, tmp_path / "1", 1)
    assert refused() == (  # registered and challenger, never rolled out
        f"in environment 'staging', model {STAGING_MODEL!r} has no alias 'champion': no version "
        "passed its rollout there"
    )
    # champion set by hand, without `mlspec promote --rollout-passed`: no proof of the rollout
    client(staging).set_registered_model_alias(STAGING_MODEL, "champion", "1")
    assert refused() == (
        f"refusing version 1 in environment 'staging', model {STAGING_MODEL!r}, which "
        "'champion' names: no record that its rollout passed there "
        "(mlspec.promoted_by.champion: rollout passed)"
    )
    rolled_out(spec, 1)
    assert refused("--version", "2") == (  # CI expected another version than the one proven
        f"in environment 'staging', model {STAGING_MODEL!r}: 'champion' names version 1, not 2: "
        "only the version that passed there now is promoted"
    )
    model.write_text("retrained in place")  # the files are no longer those that passed
    assert refused().endswith("changed since (sha256 "
        f"{hashlib.sha256(b'retrained in place').hexdigest()}, the version's "
        f"{hashlib.sha256(b'model of run 1').hexdigest()})")  # fmt: skip
    model.write_text("model of run 1")
    client(staging).delete_model_version_tag(STAGING_MODEL, "1", "mlspec.gate.model_quality")
    client(staging).delete_model_version_tag(STAGING_MODEL, "1", "mlspec.model_sha256")
    assert refused().endswith(
        "'champion' names: gate 'model_quality' is missing; no mlspec.model_sha256: its files "
        "cannot be vouched for"
    )


def test_only_promotion_from_staging_sets_prod_aliases(two: tuple[Path, str, str]) -> None:
    spec, _, prod = two
    # A version registered in prod by anything else (a pipeline run there, a person).
    client(prod).create_registered_model(PROD_MODEL)
    passed = {"mlspec.gate.model_quality": "passed"}
    client(prod).create_model_version(PROD_MODEL, "file:///m", tags=passed)
    direct = invoke("promote", spec, "--env", "prod", "--alias", "challenger", "--version", "1")
    assert direct.exit_code == 2
    assert "environment 'prod' serves only versions that passed 'staging' (its promote_from): " \
        "set 'challenger' there with --from staging" in direct.output  # fmt: skip
    champion = invoke("promote", spec, "--env", "prod", "--alias", "champion", "--version", "1",
                      "--rollout-passed")  # fmt: skip
    assert champion.exit_code == 3
    assert champion.stderr == (
        "refused: environment 'prod' serves only versions promoted from 'staging', and "
        f"version 1 of model {PROD_MODEL!r} was not promoted from there\n"
    )
    assert aliases(prod, PROD_MODEL) == {}
    # The pipeline as it runs in prod sets no alias: its promotion rule would serve a model
    # trained there. Staging's pipeline keeps it.
    analysis = analyze_file(str(spec))
    rules = {e: [r.alias for r in analysis.for_environment(e).pipeline.registry.rules]
             for e in ("staging", "prod")}  # fmt: skip
    assert rules == {"staging": ["challenger", "champion"], "prod": ["champion"]}
    for target in ("prefect", "airflow", "kubeflow"):
        tasks = {
            e: "promote_challenger" in "".join(a.text for a in compiled(analysis, e, target))
            for e in ("staging", "prod")
        }
        assert tasks == {"staging": True, "prod": False}, target


def compiled(analysis: Analysis, environment: str, target: str) -> list[Artifact]:
    result = compile_pipeline(analysis.for_environment(environment), target, emit=True)
    assert result.pipeline is not None, result.diagnostics
    return list(result.artifacts)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--env", "prod", "--from", "dev"),
         "environment 'prod' promotes from 'staging', not 'dev'"),
        (("--env", "staging", "--from", "prod"),
         "environment 'staging' declares no promote_from, not 'prod'"),
        (("--from", "staging"), "--from promotes into an environment: add --env"),
        (("--env", "prod", "--from", "staging", "--run-id", "r"),
         "--from promotes the version that passed there: drop --run-id"),
    ],
)  # fmt: skip
def test_from_misuse_is_a_usage_error(
    two: tuple[Path, str, str], args: tuple[str, ...], message: str
) -> None:
    result = invoke("promote", two[0], "--alias", "challenger", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_champion_waits_for_prods_own_rollout(two: tuple[Path, str, str]) -> None:
    result = invoke("promote", two[0], "--env", "prod", "--from", "staging", "--alias", "champion")
    assert result.exit_code == 2, result.output
    assert "the rule for 'champion' waits for 'prod''s own rollout" in result.output


@pytest.mark.parametrize(
    "command",
    [
        ("promote", "--alias", "challenger", "--version", "1"),
        ("resolve-model",),
        ("deploy", "--target", "prefect", "--dry-run", "--offline"),
    ],
)
def test_an_unknown_environment_is_ms270_at_its_line(
    two: tuple[Path, str, str], command: tuple[str, ...]
) -> None:
    spec = two[0]
    result = invoke(command[0], spec, *command[1:], "--env", "prdo")
    assert result.exit_code == 1, result.output
    line = spec.read_text().splitlines().index("environments:") + 1
    assert f"{spec}:{line}:1: error[MS270]: no environment 'prdo' in the spec" in result.stderr
    assert "hint: did you mean 'prod'?" in result.stderr


@pytest.mark.parametrize("target", ["prefect", "airflow", "kubeflow"])
def test_deploy_env_uses_the_environments_server(
    target: str, template_db: Path, tmp_path: Path, monkeypatch
) -> None:
    """Offline plans: nothing listens on these ports and nothing is contacted."""
    uri = copy_db(template_db, tmp_path / "r.db")
    spec = write_spec(tmp_path, uri, uri, port=9)
    for name in ("PREFECT_API_URL", "AIRFLOW_API_URL", "KF_PIPELINES_ENDPOINT"):
        monkeypatch.setenv(name, "http://127.0.0.1:7")  # another environment's: the spec wins

    def head(*more: str) -> str:
        result = invoke("deploy", spec, "--target", target, "--dry-run", "--offline", *more)
        assert result.exit_code == 0, result.output
        return next(line for line in result.stdout.splitlines() if line.startswith("deploy to"))

    assert head("--env", "prod").startswith(f"deploy to {target} at http://127.0.0.1:9")
    flag = {"prefect": "--prefect-api-url", "airflow": "--airflow-url", "kubeflow": "--kfp-host"}
    url = "http://127.0.0.1:6" + ("/api" if target == "prefect" else "")
    assert head("--env", "prod", flag[target], url).startswith(f"deploy to {target} at {url}")
    assert head().startswith(f"deploy to {target} at http://127.0.0.1:7")  # no --env: as before
