"""The flagship example's gates and promotion, end to end, on real data and a real registry.

Each run does what a generated pipeline does at its gates: the example's own step functions
train a real model on scikit-learn's bundled data, then the runtime's steps judge the data and
the model, read the champion from a real MLflow registry on SQLite and promote. `mlspec promote`
then applies the rule that waits for the rollout, as CI would.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from shipped import load

from mlspec.backends.runtime_args import data_check_args, requirement_args
from mlspec.cli import main
from mlspec.compiler import analyze_file
from mlspec.compiler.ir import OutputRef, Pipeline
from mlspec.runtime import embed, lineage
from mlspec.runtime.registry import (
    NoBaseline,
    alias_metrics,
    find_version_by_run,
    register_model_version,
)
from mlspec.runtime.report import gate_report_from_json
from mlspec.runtime.steps import data_gate_step, model_gate_step, promotion_step

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "breast-cancer"
SPEC = EXAMPLE / "pipeline.yaml"


def _without_serving_gates(pipeline: Pipeline) -> Pipeline:
    """The flagship's data and model gates and promotion: its serving gate, which starts a real
    model server, is run on every engine by tests/backends/test_serving_gate_engines.py and on
    its own by tests/runtime/test_serving.py."""
    serving = {g.name for g in pipeline.gates if g.kind == "serving"}
    registry = pipeline.registry
    assert registry is not None
    rules = tuple(
        replace(r, gates=tuple(g for g in r.gates if g not in serving)) for r in registry.rules
    )
    return replace(
        pipeline,
        gates=tuple(g for g in pipeline.gates if g.name not in serving),
        registry=replace(registry, rules=rules),
    )


PIPELINE: Pipeline = _without_serving_gates(analyze_file(SPEC).pipeline)
MODEL = PIPELINE.registry.registered_model  # type: ignore[union-attr]
WEAK = {"n_estimators": 1, "max_depth": 1}  # a model that the default one clearly beats

sys.path.insert(0, str(EXAMPLE))
from breast_cancer import steps as example_steps  # noqa: E402

sys.path.remove(str(EXAMPLE))


@dataclass
class Run:
    folder: Path
    params: dict
    artifacts: dict[OutputRef, str]
    metrics: dict[str, float]


def train(folder: Path, **overrides: object) -> Run:
    """ingest -> train -> evaluate with the example's functions, as the pipeline calls them."""
    folder.mkdir(parents=True, exist_ok=True)
    params = {p.name: p.default for p in PIPELINE.params} | overrides
    out = {name: str(folder / name) for name in ("train", "test", "reference", "model", "report")}
    example_steps.ingest(
        test_fraction=params["test_fraction"],
        seed=params["seed"],
        train=out["train"],
        test=out["test"],
        reference=out["reference"],
    )
    example_steps.train(
        train=out["train"],
        n_estimators=params["n_estimators"],
        max_depth=params["max_depth"],
        seed=params["seed"],
        model=out["model"],
    )
    scalars = example_steps.evaluate(model=out["model"], test=out["test"], report=out["report"])
    artifacts = {
        OutputRef(s, o): out[o]
        for s, o in [
            ("ingest", "train"),
            ("ingest", "test"),
            ("ingest", "reference"),
            ("train", "model"),
        ]
    }
    metrics = {f"evaluate.{name}": value for name, value in scalars.items()}
    return Run(folder, params, artifacts, metrics)


@pytest.fixture(scope="module")
def strong(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return train(tmp_path_factory.mktemp("strong"))


@pytest.fixture(scope="module")
def weak(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return train(tmp_path_factory.mktemp("weak"), **WEAK)


@pytest.fixture
def uri(uri: str, create_model: Callable[[str, str], None]) -> str:
    """The registry, with the example's registered model created for its first run."""
    create_model(uri, MODEL)
    return uri


def gates_and_promotion(
    run: Run, uri: str, run_id: str, pipeline: Pipeline = PIPELINE
) -> tuple[dict[str, bool], str | None]:
    """The pipeline's gate steps and its `challenger` promotion step."""
    verdicts, reports = gates(run, uri, run_id, pipeline)
    return verdicts, promotion(run, uri, run_id, reports, pipeline)


def gates(run: Run, uri: str, run_id: str, pipeline: Pipeline) -> tuple[dict[str, bool], list[str]]:
    """The pipeline's gate steps: their verdicts and report files."""
    verdicts, reports = {}, []
    for gate in pipeline.gates:
        report_path = str(run.folder / f"{run_id}-{gate.name}.json")
        if gate.kind == "data":
            checks = [data_check_args(c, run.params, run.artifacts) for c in gate.checks]
            assert gate.dataset is not None
            passed = data_gate_step(gate.name, run.artifacts[gate.dataset], checks, report_path)
        else:
            requirements = [requirement_args(r, run.params) for r in gate.requirements]
            passed = model_gate_step(
                gate.name,
                run.metrics,
                requirements,
                report_path,
                first_run=gate.first_run,
                tracking_uri=uri,
                model_name=MODEL,
            )
        verdicts[gate.name] = passed
        reports.append(report_path)
    return verdicts, reports


def promotion(
    run: Run,
    uri: str,
    run_id: str,
    reports: list[str],
    pipeline: Pipeline,
    tracking: dict | None = None,
) -> str | None:
    """The pipeline's `challenger` promotion step."""
    rule = next(r for r in pipeline.registry.rules if r.alias == "challenger")  # type: ignore[union-attr]
    return promotion_step(
        uri,
        MODEL,
        run.artifacts[OutputRef("train", "model")],
        alias=rule.alias,
        rule_gates=list(rule.gates),
        report_paths=reports,
        run_id=run_id,
        spec_name=pipeline.name,
        spec_version=pipeline.version,
        metrics=run.metrics,
        tracking=tracking,
    )


def with_first_run(policy: str) -> Pipeline:
    gates = tuple(replace(g, first_run=policy) if g.kind == "model" else g for g in PIPELINE.gates)
    return replace(PIPELINE, gates=gates)


def aliases(uri: str) -> dict[str, str]:
    from mlflow import MlflowClient

    model = MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model(MODEL)
    return {alias: str(version) for alias, version in model.aliases.items()}


def promote_cli(uri: str, *args: str):
    return CliRunner().invoke(main, ["promote", str(SPEC), "--tracking-uri", uri, *args])


def test_first_run_promotes_challenger_under_first_run_pass(uri: str, strong: Run) -> None:
    verdicts, version = gates_and_promotion(strong, uri, "run-1")
    assert verdicts == {"data_quality": True, "model_quality": True}
    assert version == "1"
    assert aliases(uri) == {"challenger": "1"}
    # Until the rollout sets champion, a second run's comparison blocks: nothing to compare with.
    with pytest.raises(NoBaseline, match="has versions, but none holds alias 'champion'"):
        alias_metrics(uri, MODEL, "champion")


def test_first_run_is_blocked_under_first_run_fail(uri: str, strong: Run) -> None:
    verdicts, version = gates_and_promotion(strong, uri, "run-1", with_first_run("fail"))
    assert verdicts == {"data_quality": True, "model_quality": False}
    assert version is None
    assert find_version_by_run(uri, MODEL, "run-1") is None
    report = gate_report_from_json((strong.folder / "run-1-model_quality.json").read_text())
    assert report.reason == (
        f"first run: registered model {MODEL!r} has no versions yet; first_run: fail"
    )


def test_champion_after_the_rollout_is_applied_by_the_cli(uri: str, strong: Run) -> None:
    assert gates_and_promotion(strong, uri, "run-1")[1] == "1"
    refused = promote_cli(uri, "--alias", "champion", "--version", "1")
    assert refused.exit_code == 2
    assert "waits for the rollout" in refused.output
    result = promote_cli(uri, "--alias", "champion", "--version", "1", "--rollout-passed")
    assert result.exit_code == 0, result.output
    assert aliases(uri) == {"challenger": "1", "champion": "1"}
    assert alias_metrics(uri, MODEL, "champion") == pytest.approx(strong.metrics)


def test_promote_json_says_what_was_promoted_or_why_not(uri: str, strong: Run) -> None:
    assert gates_and_promotion(strong, uri, "run-1")[1] == "1"
    champion = ("--alias", "champion", "--rollout-passed", "--format", "json")
    refused = promote_cli(uri, *champion, "--run-id", "run-404")
    assert refused.exit_code == 3, refused.output
    assert json.loads(refused.stdout) == {
        "model": MODEL,
        "alias": "champion",
        "version": None,
        "gates": ["model_quality"],
        "promoted": False,
        "reason": f"no version of {MODEL} was registered by run run-404",
    }
    assert refused.stderr.startswith("refused: no version of")
    done = promote_cli(uri, *champion, "--run-id", "run-1")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {
        "model": MODEL,
        "alias": "champion",
        "version": "1",
        "gates": ["model_quality"],
        "promoted": True,
        "reason": None,
    }
    assert aliases(uri) == {"challenger": "1", "champion": "1"}


def test_a_better_model_beats_the_champion(uri: str, weak: Run, strong: Run) -> None:
    lenient = replace(
        PIPELINE,
        params=tuple(
            replace(p, default=0.5) if p.name == "min_auc" else p for p in PIPELINE.params
        ),
    )
    weak_run = replace(weak, params=weak.params | {"min_auc": 0.5})
    assert gates_and_promotion(weak_run, uri, "run-1", lenient)[1] == "1"
    assert (
        promote_cli(uri, "--alias", "champion", "--run-id", "run-1", "--rollout-passed").exit_code
        == 0
    )
    verdicts, version = gates_and_promotion(strong, uri, "run-2")
    assert strong.metrics["evaluate.auc"] > weak.metrics["evaluate.auc"] + 0.005
    assert verdicts["model_quality"] is True
    assert version == "2"
    assert aliases(uri) == {"challenger": "2", "champion": "1"}


def test_a_worse_model_is_blocked_by_the_champion_comparison(
    uri: str, weak: Run, strong: Run
) -> None:
    assert gates_and_promotion(strong, uri, "run-1")[1] == "1"
    assert (
        promote_cli(uri, "--alias", "champion", "--version", "1", "--rollout-passed").exit_code == 0
    )
    weak_run = replace(weak, params=weak.params | {"min_auc": 0.5})
    verdicts, version = gates_and_promotion(weak_run, uri, "run-2")
    assert verdicts == {"data_quality": True, "model_quality": False}
    assert version is None
    report = gate_report_from_json((weak.folder / "run-2-model_quality.json").read_text())
    failed = [(c.check, c.subject) for c in report.checks if not c.passed]
    assert failed == [("champion", "evaluate.auc")]  # the thresholds alone would have passed
    assert aliases(uri) == {"challenger": "1", "champion": "1"}


def test_a_retried_promotion_creates_no_second_version(uri: str, strong: Run) -> None:
    reports = gates(strong, uri, "run-1", PIPELINE)[1]
    first = promotion(strong, uri, "run-1", reports, PIPELINE)
    again = promotion(strong, uri, "run-1", reports, PIPELINE)  # the step retried
    assert first == again == "1"
    from mlflow import MlflowClient

    versions = MlflowClient(tracking_uri=uri, registry_uri=uri).search_model_versions(
        f"name = '{MODEL}'"
    )
    assert len(versions) == 1


def test_an_unreachable_registry_blocks_with_a_clear_message(strong: Run) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    model_gate = PIPELINE.gate("model_quality")
    report_path = str(strong.folder / "unreachable.json")
    passed = model_gate_step(
        "model_quality",
        strong.metrics,
        [requirement_args(r, strong.params) for r in model_gate.requirements],
        report_path,
        first_run="pass",
        tracking_uri=uri,
        model_name=MODEL,
    )
    assert passed is False
    report = json.loads(Path(report_path).read_text())
    assert report["reason"].startswith(
        f"registry {uri}: could not read alias 'champion' of model {MODEL!r}: "
    )


def test_cli_refuses_a_version_whose_gate_was_blocked(uri: str, strong: Run) -> None:
    from mlspec.runtime.report import CheckResult, GateReport

    blocked = GateReport(
        "model_quality",
        "model",
        False,
        [CheckResult("metric", "evaluate.auc", 0.5, ">= 0.95", False)],
    )
    passed = GateReport("data_quality", "data", True, [])
    version = register_model_version(
        uri,
        MODEL,
        strong.artifacts[OutputRef("train", "model")],
        run_id="run-x",
        spec_name=PIPELINE.name,
        spec_version=PIPELINE.version,
        gate_reports=[passed, blocked],
        metrics=strong.metrics,
    )
    result = promote_cli(uri, "--alias", "challenger", "--version", version)
    assert result.exit_code == 3
    assert "model_quality" in result.output
    assert aliases(uri) == {}


def test_the_shipped_package_judges_the_data_like_the_runtime(strong: Run, tmp_path: Path) -> None:
    package = embed.package(embed.needed_modules(("steps:data_gate_step",)), compact=True)
    steps = load(package, tmp_path / "shipped", "steps")
    gate = PIPELINE.gate("data_quality")
    checks = [data_check_args(c, strong.params, strong.artifacts) for c in gate.checks]
    dataset = strong.artifacts[OutputRef("ingest", "train")]
    assert steps.data_gate_step("d", dataset, checks, str(tmp_path / "a.json"))
    data_gate_step("d", dataset, checks, str(tmp_path / "b.json"))
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()


def test_ci_pins_the_rollout_to_the_version_the_pipeline_promoted(
    uri: str, strong: Run, tmp_path: Path
) -> None:
    """The documented CI flow: resolve the rollout's alias, compile the manifests pinned to it."""
    import yaml

    def resolve(*args: str):
        return CliRunner().invoke(main, ["resolve-model", str(SPEC), "--tracking-uri", uri, *args])

    missing = resolve()
    assert missing.exit_code == 3
    assert "has no alias 'challenger'" in missing.stderr
    assert gates_and_promotion(strong, uri, "run-1")[1] == "1"
    found = json.loads(resolve("--format", "json").output)
    assert found["version"] == "1"
    assert found["uri"] == Path(strong.artifacts[OutputRef("train", "model")]).resolve().as_uri()
    assert resolve("--print", "version").output == "1\n"
    out = tmp_path / "manifests"
    version, storage = found["version"], found["uri"]
    pins = ["--model-version", version, "--model-uri", storage]
    result = CliRunner().invoke(
        main, ["compile", str(SPEC), "-t", "rollout", "-o", str(out), *pins]
    )
    assert result.exit_code == 0, result.output
    rollout = yaml.safe_load((out / "rollout-breast-cancer-scorer.yaml").read_text())
    pod = rollout["spec"]["template"]
    assert pod["metadata"]["labels"]["mlspec.dev/model-version"] == "1"
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["MODEL_URI"] == f"models:/{MODEL}/1"


def test_mlspec_promote_records_who_promoted_on_the_version_and_its_run(
    uri: str, strong: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    identity = {"pipeline": PIPELINE.name, "spec_version": PIPELINE.version}
    tracking_run = lineage.open_run(
        uri, identity=identity, pipeline_run="run-1", engine="", engine_run_id="1", params={}
    )
    reports = gates(strong, uri, "run-1", PIPELINE)[1]
    by = {"by": "pipeline", "pipeline_run": "run-1"}
    tracking = {"uri": uri, "run": tracking_run, "by": by}
    assert promotion(strong, uri, "run-1", reports, PIPELINE, tracking) == "1"
    monkeypatch.delenv("MLSPEC_ACTOR", raising=False)
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    champion = ("--alias", "champion", "--rollout-passed", "--format", "json")
    done = promote_cli(uri, *champion, "--run-id", "run-1")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["promoted"] is True  # stdout stays JSON
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    tags = client.get_model_version(MODEL, "1").tags
    promoted_by = json.loads(tags[lineage.VERSION_TAG_PROMOTED_BY_PREFIX + "champion"])
    assert promoted_by.pop("at").endswith("+00:00")
    assert promoted_by == {
        "by": "mlspec promote",
        "pipeline_run": "run-1",
        "actor": "octocat",
        "rule": ["model_quality"],
        "rollout": "passed",
    }
    assert json.loads(tags[lineage.VERSION_TAG_PROMOTED_BY_PREFIX + "challenger"])["by"] == (
        "pipeline"
    )
    run_tags = client.get_run(tracking_run).data.tags
    assert run_tags[lineage.TAG_PROMOTED_PREFIX + "challenger"] == "1"
    assert run_tags[lineage.TAG_PROMOTED_PREFIX + "champion"] == "1"
    monkeypatch.setenv("MLSPEC_ACTOR", "release-bot")  # wins over GITHUB_ACTOR
    assert (
        promote_cli(uri, "--alias", "champion", "--version", "1", "--rollout-passed").exit_code == 0
    )
    tags = client.get_model_version(MODEL, "1").tags
    promoted_by = json.loads(tags[lineage.VERSION_TAG_PROMOTED_BY_PREFIX + "champion"])
    assert (promoted_by["actor"], promoted_by["pipeline_run"]) == ("release-bot", None)
