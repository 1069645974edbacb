"""The kubeflow target: every example compiles to KFP IR that a strict validator accepts.

Snapshots (one per example, found by glob) under __snapshots__/: update them with
`pytest --snapshot-update`, then read the diff.
"""

from __future__ import annotations

import copy
import shutil
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from support import generated, kfp_exec
from support.kfp_ir import validate

from mlspec.backends.kubeflow import KubeflowBackend, sdk
from mlspec.backends.kubeflow.runtime_wheel import runtime_wheel
from mlspec.backends.registry import find
from mlspec.cli import main
from mlspec.compiler import analyze_bytes, analyze_file
from mlspec.delivery import wheel

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/pipeline.yaml"))
BACKEND = KubeflowBackend()


def errors(pipeline: object) -> list:
    return [p for p in BACKEND.check(pipeline) if p.severity == "error"]  # type: ignore[arg-type]


def emit(spec: Path) -> str:
    pipeline = analyze_file(spec).pipeline
    assert errors(pipeline) == []
    [artifact] = generated.without_rollout(BACKEND.emit(pipeline))
    assert artifact.path == f"{pipeline.name}.kfp.yaml"
    return artifact.text


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda p: p.parent.name)
def compiled(request: pytest.FixtureRequest) -> tuple[Path, str]:
    return request.param, emit(request.param)


def test_registered_as_the_kubeflow_target() -> None:
    assert isinstance(find("kubeflow").load(), KubeflowBackend)  # type: ignore[union-attr]


def test_example_ir_is_valid(compiled: tuple[Path, str]) -> None:
    validate(compiled[1])


def test_example_snapshot(compiled: tuple[Path, str], snapshot: object) -> None:
    assert compiled[1] == snapshot


def test_every_task_sets_caching_explicitly(compiled: tuple[Path, str]) -> None:
    spec = yaml.safe_load_all(compiled[1]).__next__()
    dags = [spec["root"]["dag"]] + [c["dag"] for c in spec["components"].values() if "dag" in c]
    for dag in dags:
        for name, task in dag["tasks"].items():
            if not name.startswith(("condition-", "exit-handler-")):
                assert "cachingOptions" in task, name


def test_every_pod_carries_the_spec_labels_and_owners(compiled: tuple[Path, str]) -> None:
    from mlspec.backends.kubeflow.settings import OWNERS_ANNOTATION

    pipeline = analyze_file(compiled[0]).pipeline
    assert pipeline.labels and pipeline.owners
    spec, platform = yaml.safe_load_all(compiled[1])
    pods = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(pods) == set(spec["deploymentSpec"]["executors"])
    for pod in pods.values():
        assert pod["podMetadata"]["labels"] == dict(pipeline.labels)
        owners = ", ".join(pipeline.owners)
        assert pod["podMetadata"]["annotations"] == {OWNERS_ANNOTATION: owners}


def test_gates_guard_what_follows_them() -> None:
    text = emit(ROOT / "examples" / "breast-cancer" / "pipeline.yaml")
    spec = next(yaml.safe_load_all(text))
    top = spec["root"]["dag"]["tasks"]
    # A registry: the exit handler's task closes the run's MLflow run (test_kubeflow_lineage.py).
    assert set(top) == {"mlspec-close", "exit-handler-1"}
    outcome = top["mlspec-close"]
    assert outcome["dependentTasks"] == ["exit-handler-1"]
    assert outcome["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    root = body(spec)
    # kfp numbers groups in creation order: exit-handler-1, then condition-2 and -3.
    assert set(root) == {"mlspec-track", "ingest", "data-quality", "condition-2"}
    inner = spec["components"]["comp-condition-2"]["dag"]["tasks"]
    assert set(inner) == {
        "train",
        "evaluate",
        "model-quality",
        "servable",
        "mlspec-lineage",
        "condition-3",
    }
    assert "data-quality-Output'] == true" in root["condition-2"]["triggerPolicy"]["condition"]
    third = spec["components"]["comp-condition-3"]["dag"]["tasks"]
    assert set(third) == {"condition-4"}  # model_quality passed; then servable must pass
    assert "servable-Output'] == true" in third["condition-4"]["triggerPolicy"]["condition"]
    innermost = spec["components"]["comp-condition-4"]["dag"]["tasks"]
    assert set(innermost) == {"promote-challenger"}
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["min_auc"] == {
        "defaultValue": 0.95,
        "description": "The model gate's floor.",
        "isOptional": True,
        "parameterType": "NUMBER_DOUBLE",
    }


def test_container_steps_map_their_settings() -> None:
    text = emit(ROOT / "examples" / "churn-containers" / "pipeline.yaml")
    spec, platform = yaml.safe_load_all(text)
    train = spec["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert train["args"][-1] == "{{$.outputs.artifacts['model'].path}}"
    assert train["resources"]["accelerator"]["resourceCount"] == "1"
    assert train["resources"]["resourceMemoryLimit"] == "16Gi"
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
    assert k8s["activeDeadlineSeconds"] == "10800"
    assert k8s["secretAsEnv"][0]["secretName"] == "warehouse-creds"
    assert body(spec)["extract"]["retryPolicy"]["maxRetryCount"] == 2


# -- the validator itself catches broken files -----------------------------------------------


def body(spec: dict) -> dict:
    """The tasks inside the exit handler, which wraps the whole run."""
    return spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]


def _broken(text: str, change) -> str:
    docs = [copy.deepcopy(d) for d in yaml.safe_load_all(text)]
    change(docs)
    return yaml.safe_dump_all(docs, sort_keys=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: body(d[0])["ingest"].update(bogus=1), "bogus"),
        (
            lambda d: body(d[0])["ingest"]["componentRef"].update(name="x"),
            "componentRef",
        ),
        (lambda d: d[0]["components"]["comp-ingest"].update(executorLabel="x"), "executorLabel"),
        (
            lambda d: body(d[0])["data-quality"].update(dependentTasks=["x"]),
            "dependentTask",
        ),
        (
            lambda d: body(d[0])["data-quality"]["inputs"]["artifacts"]["dataset"][
                "taskOutputArtifact"
            ].update(producerTask="x"),
            "producerTask",
        ),
        (
            lambda d: d[0]["deploymentSpec"]["executors"]["exec-ingest"]["container"].update(
                imagePullPolicy=3
            ),
            "executor exec-ingest",
        ),
        (
            lambda d: d[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"][
                "exec-ingest"
            ].update(activeDeadline=3),
            "kubernetes exec-ingest",
        ),
    ],
)
def test_validator_rejects_broken_ir(change, message: str) -> None:
    text = emit(ROOT / "examples" / "breast-cancer" / "pipeline.yaml")
    with pytest.raises(AssertionError, match=message):
        validate(_broken(text, change))


# -- what the target cannot express, and a missing SDK ---------------------------------------

ENV_FROM_PARAM = b"""\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: env-param, version: 1.0.0}
params:
  level: {type: str, default: info}
steps:
  work:
    image: busybox:1.36
    container: {command: [echo, hi]}
    env:
      LOG_LEVEL: {param: level}
"""


def test_env_from_a_runtime_parameter_is_ms301() -> None:
    analysis = analyze_bytes(ENV_FROM_PARAM, "env.yaml")
    [problem] = BACKEND.check(analysis.pipeline)
    assert (problem.code, problem.span.line, problem.span.col) == ("MS301", 11, 7)
    assert "LOG_LEVEL" in problem.message


def test_env_from_a_runtime_parameter_fails_the_compile(tmp_path: Path) -> None:
    spec = tmp_path / "env.yaml"
    spec.write_bytes(ENV_FROM_PARAM)
    result = CliRunner().invoke(
        main, ["compile", str(spec), "-t", "kubeflow", "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 1
    assert "error[MS301]" in result.output
    assert not (tmp_path / "out").exists()


def test_missing_kfp_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "kfp", None)
    with pytest.raises(sdk.KfpUnavailable, match=r"pip install 'mlspec-gitops\[kubeflow\]'"):
        sdk.load()
    result = CliRunner().invoke(
        main, ["compile", str(EXAMPLES[0]), "-t", "kubeflow", "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert "pip install 'mlspec-gitops[kubeflow]'" in result.output


def test_the_kfp_pin_is_the_one_the_backend_builds_with() -> None:
    import kfp

    assert kfp.__version__ == sdk.KFP_VERSION
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert f"kfp=={sdk.KFP_VERSION}" in extras["kubeflow"]
    assert f"kfp-kubernetes=={sdk.KFP_KUBERNETES_VERSION}" in extras["kubeflow"]
    assert f"sdkVersion: kfp-{sdk.KFP_VERSION}" in emit(EXAMPLES[0])


def test_settings_errors_raised_in_the_worker_thread_reach_the_caller() -> None:
    from mlspec.backends.kubeflow import settings

    class Task:
        def set_caching_options(self, enable_caching: bool) -> None:
            raise ValueError("caching refused")

    with pytest.raises(ValueError, match="caching refused"):
        settings.apply_all(None, [(Task(), None)], None)  # type: ignore[arg-type]


NESTING_SPEC = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: nest, version: 1.0.0}
defaults:
  code: {image: ghcr.io/acme/demo:1.0.0}
steps:
  ingest:
    python: demo.steps:ingest
    outputs: {left: dataset, right: dataset}
  use_left:
    python: demo.steps:use
    inputs: {data: ingest.left}
    outputs: {result: dataset}
  use_right:
    python: demo.steps:use
    inputs: {data: ingest.right}
    outputs: {result: dataset}
  join:
    python: demo.steps:join
    inputs: {left: use_left.result, right: use_right.result}
gates:
  left_ok:
    dataset: ingest.left
    checks: [{row_count: {min: 1}}]
  right_ok:
    dataset: ingest.right
    checks: [{row_count: {min: 1}}]
"""


def test_gates_that_cannot_nest_are_ms301() -> None:
    from mlspec.compiler import analyze_text

    pipeline = analyze_text(NESTING_SPEC, "nest.yaml").pipeline
    (problem,) = errors(pipeline)
    assert (problem.code, problem.span.line, problem.span.col) == ("MS301", 18, 3)
    assert "'join' reads 'use_right'" in problem.message
    assert problem.hint and "after:" in problem.hint


def test_the_ms301_hint_gives_a_spec_that_compiles() -> None:
    """The hint's fix: the right branch also waits for left_ok; one nesting covers all."""
    from mlspec.compiler import analyze_text

    fixed = NESTING_SPEC.replace(
        "    inputs: {data: ingest.right}\n",
        "    inputs: {data: ingest.right}\n    after: [left_ok]\n",
    )
    pipeline = analyze_text(fixed, "nest.yaml").pipeline
    assert errors(pipeline) == []
    (artifact,) = generated.without_rollout(BACKEND.emit(pipeline))
    validate(artifact.text)


# -- code delivery: a Python step's code reaches its container, or MS303 ---------------------

FLAGSHIP = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
FLAGSHIP_WHEELS = "wheels: https://wheels.example.com/breast-cancer"
IMAGE_WITH_CODE = "ghcr.io/acme/fraud@sha256:" + "f" * 64
DELIVERY_SPEC = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {{name: delivery, version: 1.0.0}}
steps:
  work:
    python: fraud.steps:work
{settings}"""


def flagship_copy(folder: Path, code: str = FLAGSHIP_WHEELS) -> Path:
    """The flagship and its step package in `folder`, with `code` for its defaults' code."""
    shutil.copytree(FLAGSHIP.parent, folder)
    spec = folder / FLAGSHIP.name
    text = spec.read_text(encoding="utf-8")
    assert text.count(FLAGSHIP_WHEELS) == 1
    spec.write_text(text.replace(FLAGSHIP_WHEELS, code), encoding="utf-8")
    return spec


def test_the_flagship_without_code_is_ms303_at_each_python_step(tmp_path: Path) -> None:
    spec = flagship_copy(tmp_path / "flagship", code="root: .")
    problems = errors(analyze_file(spec).pipeline)
    lines = spec.read_text(encoding="utf-8").splitlines()
    assert [(p.code, p.span.line, p.span.col) for p in problems] == [
        ("MS303", lines.index(f"  {step}:") + 1, 3) for step in ("ingest", "train", "evaluate")
    ]
    first = problems[0]
    assert "'python:3.11-slim'" in first.message and "'breast_cancer.steps'" in first.message
    assert first.hint and "`code.wheels`" in first.hint and "`mlspec build`" in first.hint
    assert "`code.image`" in first.hint and "`packages:`" in first.hint


def test_a_compile_without_a_way_to_the_code_fails_and_writes_nothing(tmp_path: Path) -> None:
    spec = flagship_copy(tmp_path / "flagship", code="root: .")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compile", str(spec), "-t", "kubeflow", "-o", str(out)])
    assert result.exit_code == 1, result.output
    line = spec.read_text(encoding="utf-8").splitlines().index("  ingest:") + 1
    assert f"{spec}:{line}:3: error[MS303]: " in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("settings", "refused"),
    [
        ("", True),  # the default image
        ("    image: python:3.12\n", True),
        ("    image: docker.io/library/python:3.12-slim@sha256:" + "a" * 64 + "\n", True),
        ("    packages: [scikit-learn]\n", True),
        # Wheels of a package that is not beside the spec: nothing to build them from.
        ("    code: {wheels: https://wheels.example/fraud}\n", True),
        # The image with the code is not where a step with an image of its own runs.
        ("    image: python:3.12\n    code: {image: " + IMAGE_WITH_CODE + "}\n", True),
        ("    code: {image: " + IMAGE_WITH_CODE + "}\n", False),
        ("    image: ghcr.io/acme/fraud:1.4.0\n", False),  # the team's own image
        ("    image: ghcr.io/acme/python:3.12\n", False),
        ("    packages: [Fraud==1.4.0]\n", False),  # the module's own distribution
        ('    packages: ["fraud @ https://wheels.example/fraud-1.4.0-py3-none-any.whl"]\n', False),
    ],
)
def test_a_python_step_is_refused_unless_its_code_can_be_there(
    settings: str, refused: bool
) -> None:
    from mlspec.compiler import analyze_text

    pipeline = analyze_text(DELIVERY_SPEC.format(settings=settings), "delivery.yaml").pipeline
    found = [(p.code, p.severity, p.span.line) for p in BACKEND.check(pipeline)]
    assert found == ([("MS303", "error", 5)] if refused else [])


def test_wheels_without_the_package_name_the_missing_folder() -> None:
    from mlspec.compiler import analyze_text

    settings = "    code: {wheels: https://wheels.example/fraud}\n"
    pipeline = analyze_text(DELIVERY_SPEC.format(settings=settings), "delivery.yaml").pipeline
    (problem,) = errors(pipeline)
    assert "no package 'fraud' is beside the spec" in problem.message
    assert problem.hint and "fraud/" in problem.hint and "`code.image`" in problem.hint


def pip_calls(
    ir_text: str, folder: Path, tasks: tuple[str, ...] = ("ingest", "train", "evaluate")
) -> dict[str, list[list[str]]]:
    """The tasks' pip installs, run as the cluster runs their executors: kfp's placeholder
    substitution, then `sh -c` with stub interpreters (support/kfp_exec.py)."""
    stubs = kfp_exec.write_stubs(folder / "bin")
    calls = {}
    for executor in kfp_exec.executors(ir_text):
        if executor.task not in tasks:
            continue
        work = folder / executor.task
        work.mkdir()
        values = kfp_exec.executor_input(executor, "x", str(folder / "root"))
        argv = kfp_exec.resolve(executor, values, str(folder / "root"))
        ran = kfp_exec.run(argv, kfp_exec.env_values(executor), stubs, work)
        calls[executor.task] = [c[6:] for c in ran if c[:4] == ["python3", "-m", "pip", "install"]]
    return calls


def test_each_python_step_installs_the_pinned_wheel_after_its_packages(tmp_path: Path) -> None:
    pipeline = analyze_file(flagship_copy(tmp_path / "flagship")).pipeline
    assert errors(pipeline) == []
    package = pipeline.step("train").code.package  # type: ignore[union-attr]
    assert package is not None and package.name == "breast_cancer"
    built = wheel.build_wheel(package)
    pinned = (
        f"breast_cancer @ https://wheels.example.com/breast-cancer/{built.filename}"
        f"#sha256={built.sha256}"
    )
    (ir_file,) = generated.without_rollout(BACKEND.emit(pipeline))
    calls = pip_calls(ir_file.text, tmp_path / "run")
    assert sorted(calls) == ["evaluate", "ingest", "train"]
    for task, installs in calls.items():
        assert installs[0] == ["scikit-learn>=1.5", pinned], task  # one argument, verbatim


def test_a_step_on_the_image_with_its_code_installs_no_wheel(tmp_path: Path) -> None:
    code = f"wheels: https://wheels.example.com/breast-cancer\n    image: {IMAGE_WITH_CODE}"
    spec = flagship_copy(tmp_path / "flagship", code=code)
    text = spec.read_text(encoding="utf-8").replace("  image: python:3.11-slim\n", "", 1)
    spec.write_text(text, encoding="utf-8")
    pipeline = analyze_file(spec).pipeline
    assert errors(pipeline) == []
    (ir_file,) = generated.without_rollout(BACKEND.emit(pipeline))
    assert f"image: {IMAGE_WITH_CODE}" in ir_file.text
    calls = pip_calls(ir_file.text, tmp_path / "run")
    assert {task: installs[0] for task, installs in calls.items()} == {
        task: ["scikit-learn>=1.5"] for task in ("ingest", "train", "evaluate")
    }


def test_a_local_run_needs_no_code_delivery_and_installs_no_wheel(tmp_path: Path) -> None:
    from mlspec.compiler.passes import localize

    local_root = str(tmp_path / "artifacts")
    bare = analyze_file(flagship_copy(tmp_path / "bare", code="root: .")).pipeline
    assert errors(localize(bare, "sqlite:///r.db", local_root)) == []
    pipeline = localize(
        analyze_file(flagship_copy(tmp_path / "wheels")).pipeline, "sqlite:///r.db", local_root
    )
    for step in pipeline.steps:
        assert step.code is not None and step.code.local and step.code.wheels is None
    assert errors(pipeline) == []
    (ir_file,) = generated.without_rollout(BACKEND.emit(pipeline))
    assert "breast_cancer @" not in ir_file.text


@pytest.mark.parametrize(
    ("uri", "store"),
    [("sqlite:///registry.db", ["sqlalchemy>=2", "alembic>=1.13"]), ("https://mlflow.acme", [])],
)
def test_the_registry_steps_install_the_sql_store_for_a_sqlite_registry(
    tmp_path: Path, uri: str, store: list[str]
) -> None:
    spec = flagship_copy(tmp_path / "flagship")
    line = "mlflow: {registered_model: breast-cancer-classifier}"
    text = spec.read_text(encoding="utf-8")
    spec.write_text(text.replace(line, line[:-1] + f", tracking_uri: {uri!r}}}"), "utf-8")
    pipeline = analyze_file(spec).pipeline
    (ir_file,) = generated.without_rollout(BACKEND.emit(pipeline))
    calls = pip_calls(ir_file.text, tmp_path / "run", ("promote-challenger",))
    runtime = runtime_wheel(pipeline)  # with the runtime's pinned wheel (code.wheels)
    assert runtime is not None
    built = wheel.build_wheel(runtime)
    pinned = f"{runtime.name} @ {pipeline.runtime_wheels}/{built.filename}#sha256={built.sha256}"
    assert calls["promote-challenger"][0] == sorted(["mlflow-skinny>=3.17,<3.18", *store, pinned])
