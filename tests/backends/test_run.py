"""`mlspec run` on the three real engines, and proof that they decide alike.

Starts, per run, one `mlspec run` subprocess that drives its engine: Prefect with a temporary
local server (PREFECT_HOME in the run's state folder) for the flagship's run and the terminated
one, on the worker's running server (`prefect_api`) for the others, kfp's SubprocessRunner in a
scratch virtualenv with pip, or Airflow's dag.test() in the separate Airflow environment
(tests/support/airflow_env.py). Each run has its own state folder with a fresh SQLite MLflow
registry. Every engine process belongs to the `mlspec run` process group and ends with it.
The flagship's passing run on each engine is made once per test run (tests/support/engines.py)
and shared with test_kubeflow_local.py and test_airflow_engine.py.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.engines import FLAGSHIP, MODEL, Run, mlspec_run, registry

from mlspec.run.local_registry import start_registered_model
from mlspec.runtime.registry import alias_metrics

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

ROOT = Path(__file__).resolve().parents[2]
CHURN = ROOT / "examples" / "churn-containers" / "pipeline.yaml"


# -- usage errors, before any engine starts ---------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--param", "min_auc=high"), "--param min_auc='high': expected a float"),
        (("--param", "min_aux=0.9"), "the spec has no such parameter"),
        (("--param", "min_auc"), "write NAME=VALUE"),
        (("--target", "airflow"), "--airflow-python PATH"),
    ],
)
def test_usage_errors_start_nothing(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MLSPEC_AIRFLOW_PYTHON"}
    state = str(tmp_path / "state")
    done = subprocess.run(
        [sys.executable, "-m", "mlspec.cli", "run", str(FLAGSHIP), *args, "--state", state],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert not (tmp_path / "state" / "registry.db").exists()


def _python_with_airflow(folder: Path, version: str) -> Path:
    """This interpreter, seeing a package `airflow` whose distribution says `version`."""
    site = folder / "site"
    (site / "airflow").mkdir(parents=True)
    (site / "airflow" / "__init__.py").write_text("")
    info = site / f"apache_airflow-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: apache-airflow\nVersion: {version}\n"
    )
    wrapper = folder / "python"
    python, path = shlex.quote(sys.executable), shlex.quote(str(site))
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={path} exec {python} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def test_a_wrong_airflow_python_is_a_usage_error_and_creates_no_run(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mlspec.cli import main

    not_executable = tmp_path / "python.txt"
    not_executable.write_text("print('hi')\n")
    cases = [
        (str(tmp_path / "no-such-python"), "does not exist"),
        (str(not_executable), "is not an executable file"),
        ("false", "did not run as Python: exit code 1"),
        (sys.executable, "cannot import airflow"),  # mlspec's own environment has no Airflow
        (str(_python_with_airflow(tmp_path / "two", "2.10.5")), "has apache-airflow 2.10.5"),
    ]
    state = tmp_path / "state"
    for python, message in cases:
        args = ["run", str(FLAGSHIP), "-t", "airflow", "--airflow-python", python]
        result = CliRunner().invoke(main, [*args, "--state", str(state)])
        assert result.exit_code == 2, (python, result.output)
        assert f"--airflow-python {python} {message}" in result.stderr
        assert not state.exists()  # no run folder, no registry
    from mlspec.run.engines import check_airflow_python

    check_airflow_python(str(_python_with_airflow(tmp_path / "three", "3.1.0")))  # accepted


KUBEFLOW = ("--target", "kubeflow", "--state")


def test_kubeflow_refuses_container_steps_before_running(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mlspec.cli", "run", str(CHURN), *KUBEFLOW, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "cannot run container steps (extract, featurize, train, evaluate)" in done.stderr


def test_the_local_registry_starts_the_models_first_run(tmp_path: Path, mlflow_env: None) -> None:
    # A gate takes only an existing, empty registered model for a first run; the runner owns
    # its registry, so it creates the model there (once) before the run.
    uri = f"sqlite:///{tmp_path / 'registry.db'}"
    start_registered_model(uri, MODEL)
    start_registered_model(uri, MODEL)
    assert registry(tmp_path) == ([], {})
    assert alias_metrics(uri, MODEL, "champion") is None


# Container steps run as Kubernetes Jobs (Prefect) or pods (Airflow): without a cluster they are
# refused before any engine starts, not failed later with the engine's own error.
@pytest.mark.parametrize("engine", ["prefect", "airflow"])
def test_container_steps_without_a_cluster_are_refused_before_running(
    tmp_path: Path, engine: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE")}
    env["KUBECONFIG"] = str(tmp_path / "no-kubeconfig")
    command = [sys.executable, "-m", "mlspec.cli", "run", str(CHURN), "--target", engine]
    # An interpreter that passes the --airflow-python check (checked first), not a real Airflow.
    airflow_python = _python_with_airflow(tmp_path / "airflow", "3.3.2")
    command += ["--airflow-python", str(airflow_python), "--state", str(tmp_path / "state")]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        "container steps (extract, featurize, train, evaluate) run on Kubernetes, but no "
        f"cluster is configured (no kubeconfig at {tmp_path / 'no-kubeconfig'};"
    ) in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "state").exists()


def test_the_cluster_is_the_kubeconfigs_current_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlspec.run.engines import EngineUnavailable, kubernetes_cluster

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: local, cluster: {server: 'https://127.0.0.1:6443'}}]\n"
        "users: [{name: me, user: {token: t}}]\n"
        "contexts: [{name: kind-dev, context: {cluster: local, user: me}}]\n"
        "current-context: kind-dev\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}{os.pathsep}{config}")
    assert kubernetes_cluster(["train"]) == f"context 'kind-dev' of {os.environ['KUBECONFIG']}"
    config.write_text("apiVersion: v1\nkind: Config\nclusters: []\n", encoding="utf-8")
    with pytest.raises(EngineUnavailable, match="Expected key current-context"):
        kubernetes_cluster(["train"])
    config.write_text("clusters: [local\n", encoding="utf-8")
    with pytest.raises(EngineUnavailable, match=r"no cluster is configured \(while parsing"):
        kubernetes_cluster(["train"])


# -- Prefect: the default engine ---------------------------------------------------------------


@pytest.mark.slow
def test_prefect_run_passes_its_gates_and_promotes(flagship_run: Callable[[str], Run]) -> None:
    run = flagship_run("prefect")  # `mlspec run` without --target: Prefect is the default
    assert run.summary["engine"] == "prefect"
    summary, output = run.summary, run.output
    assert summary["outcome"] == "passed"
    assert summary["gates"] == {
        "data_quality": {"passed": True, "failed": []},
        "model_quality": {"passed": True, "failed": []},
        "servable": {"passed": True, "failed": []},
    }
    assert summary["promoted"] == {"challenger": "1"}
    assert set(summary["tasks"].values()) == {"completed"}
    assert "mlspec run: breast-cancer-classifier on prefect: PASSED" in output
    assert "Task run 'train' - Finished in state Completed()" in output  # streamed progress
    assert registry(run.state) == (["1"], {"challenger": "1"})
    # Lineage: the flow run is an MLflow run, which the promoted version names as its source.
    from mlflow import MlflowClient

    from mlspec.runtime import lineage

    assert {lineage.TRACK_TASK, lineage.LINEAGE_TASK, lineage.CLOSE_TASK} <= set(summary["tasks"])
    uri = f"sqlite:///{run.state / 'registry.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("breast-cancer-classifier")
    assert experiment is not None
    [tracked] = client.search_runs([experiment.experiment_id])
    assert tracked.info.status == "FINISHED"
    assert tracked.data.tags[lineage.TAG_ENGINE_RUN_ID] == summary["engine_run_id"]
    for gate in ("data_quality", "model_quality", "servable"):
        assert tracked.data.tags[lineage.TAG_GATE_PREFIX + gate] == "passed"
    assert set(tracked.data.metrics) == {"evaluate.auc", "evaluate.accuracy"}
    datasets = {d.dataset.name for d in tracked.inputs.dataset_inputs}
    assert datasets == {"ingest.train", "ingest.test", "ingest.reference"}
    assert client.get_model_version(MODEL, "1").run_id == tracked.info.run_id


@pytest.mark.slow
def test_prefect_run_ends_blocked_and_leaves_the_registry_alone(
    tmp_path: Path, prefect_api: str
) -> None:
    code, summary, output = mlspec_run(
        tmp_path, str(FLAGSHIP), "--param", "min_auc=0.999", server=prefect_api
    )
    assert code == 0, output[-6000:]
    assert summary is not None
    assert summary["outcome"] == "blocked"
    assert summary["detail"] == (
        "GateBlocked: blocked by model_quality; not run: promote_challenger"
    )
    assert summary["gates"]["model_quality"] == {"passed": False, "failed": ["metric evaluate.auc"]}
    assert "promote_challenger" not in summary["tasks"]
    assert summary["promoted"] == {}
    assert registry(tmp_path) == ([], {})


FAILING = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: failing, version: 1.0.0}
steps:
  prepare:
    python: no_such_module:prepare
    outputs: {rows: int}
  score:
    python: no_such_module:score
    inputs: {rows: prepare.rows}
    outputs: {auc: float}
  publish:
    python: no_such_module:publish
    after: [quality]
gates:
  quality:
    require:
      - {metric: score.auc, min: 0.5}
"""


@pytest.mark.slow
def test_prefect_failure_shows_the_root_cause_and_the_step_names(
    tmp_path: Path, prefect_api: str
) -> None:
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(FAILING, encoding="utf-8")
    code, summary, output = mlspec_run(tmp_path / "state", str(spec), server=prefect_api)
    assert code == 3, output[-6000:]
    assert summary is not None
    assert summary["outcome"] == "failed"
    assert summary["detail"] == (
        "Failed: task prepare failed: ModuleNotFoundError: No module named 'no_such_module'"
    )
    # Tasks by their names, not Prefect's `score-4d3`; publish waits for a gate that never ran.
    assert summary["tasks"] == {"prepare": "failed", "score": "pending", "quality": "pending"}
    assert summary["gates"] == {"quality": None}
    assert "UnfinishedRun" not in output


@pytest.mark.slow
def test_prefect_container_step_on_an_unreachable_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_api: str
) -> None:
    """A kubeconfig is there, its cluster is not (a closed port): the run starts, the Job cannot
    be created, and the summary says so, and where the step was sent, without claiming it ran."""
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: local, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: me, user: {token: t}}]\n"
        "contexts: [{name: kind-dev, context: {cluster: local, user: me}}]\n"
        "current-context: kind-dev\n",
        encoding="utf-8",
    )
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(
        "apiVersion: mlspec/v1\nkind: Pipeline\nmetadata: {name: unreachable, version: 1.0.0}\n"
        "steps:\n  fetch:\n    image: busybox:1.36\n"
        "    container: {command: [sh, -c, 'echo hi > ${outputs.rows}']}\n"
        "    outputs: {rows: dataset}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("KUBECONFIG", str(config))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code, summary, output = mlspec_run(tmp_path / "state", str(spec), server=prefect_api)
    assert code == 3, output[-6000:]
    assert summary is not None
    assert summary["tasks"] == {"fetch": "failed"}
    assert summary["detail"].startswith("Failed: task fetch failed: ClientConnectorError: ")
    assert "Cannot connect to host 127.0.0.1:1" in summary["detail"]
    assert f"container steps run on Kubernetes, in context 'kind-dev' of {config}: fetch" in output


# -- one spec, three engines, the same decisions ----------------------------------------------

# The flagship's model is a seeded random forest and every engine runs the same scikit-learn
# (1.9.1, pinned in uv.lock and tests/airflow/requirements.txt), so metrics must agree exactly;
# the tolerance only absorbs float formatting through JSON.
METRIC_TOLERANCE = 1e-12
ENGINES = ("prefect", "kubeflow", "airflow")


@pytest.fixture
def runs(flagship_run: Callable[[str], Run]) -> dict[str, tuple[dict, Path]]:
    return {e: (flagship_run(e).summary, flagship_run(e).state) for e in ENGINES}


@pytest.mark.slow
def test_every_engine_runs_every_task(runs: dict[str, tuple[dict, Path]]) -> None:
    expected = ["ingest", "data_quality", "train", "evaluate", "model_quality", "servable"]
    expected.append("promote_challenger")
    for engine, (summary, _) in runs.items():
        assert summary["outcome"] == "passed", engine
        # mlspec's own tasks (`mlspec_`: the outcome on Kubeflow, tracking) are tested per engine
        assert [t for t in summary["tasks"] if not t.startswith("mlspec_")] == expected, engine


@pytest.mark.slow
def test_every_engine_gives_the_same_verdicts_metrics_and_registry_outcome(
    runs: dict[str, tuple[dict, Path]],
) -> None:
    (reference, reference_state), *others = [runs[e] for e in ENGINES]
    assert reference["metrics"].keys() == {"evaluate.auc", "evaluate.accuracy"}
    for summary, state in others:
        assert summary["gates"] == reference["gates"]
        assert summary["metrics"].keys() == reference["metrics"].keys()
        for name, value in summary["metrics"].items():
            assert value == pytest.approx(reference["metrics"][name], abs=METRIC_TOLERANCE)
        assert summary["promoted"] == reference["promoted"] == {"challenger": "1"}
        assert registry(state) == registry(reference_state) == (["1"], {"challenger": "1"})


def _processes_mentioning(text: str) -> list[int]:
    """Processes whose command line or environment mentions `text` (e.g. a state folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            seen = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:  # it ended meanwhile, or is not ours to read
            continue
        if text.encode() in seen:
            found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_a_terminated_run_leaves_no_engine_behind(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "mlspec.cli", "run", str(FLAGSHIP), "--state", str(tmp_path)]
    print(f"\nstarting: mlspec run (state {tmp_path}), stopped once Prefect's server is up")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 300
    for line in process.stdout:
        if "Starting temporary server" in line or time.monotonic() > deadline:
            break
    assert _processes_mentioning(str(tmp_path)), "the engine should be running now"
    process.terminate()
    process.communicate(timeout=60)
    assert process.returncode != 0
    time.sleep(1)
    assert _processes_mentioning(str(tmp_path)) == []
