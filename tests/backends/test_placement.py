"""Placement (accelerator, node_selector, tolerations) on every target, checked by the consumers:
kfp's protobufs (both documents of the IR), the pods Airflow's KubernetesPodOperator builds
from the DAG a DagBag loads, the Jobs the Prefect flow's runtime starts, Prefect's loader, and
Kubernetes' own strict schemas (kubernetes-validate) for those pods and Jobs.

specs/valid/placement.yaml sets all three in defaults; `prepare` drops each ({count: 0}, {},
[]), `train` replaces each, `evaluate` inherits them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from support import airflow_env, generated
from support.crd_validation import validate_core
from support.kfp_ir import validate as validate_ir

from mlspec.backends import taskdata
from mlspec.backends.airflow import AirflowBackend
from mlspec.backends.kubeflow import KubeflowBackend
from mlspec.backends.prefect import PrefectBackend
from mlspec.cli import main
from mlspec.compiler import analyze_file, analyze_text
from mlspec.diff.changes import compare
from mlspec.runtime import tasks

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "valid" / "placement.yaml"
TRAIN_TOLERATIONS = [
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {"key": "team", "operator": "Equal", "value": "ml"},
]
DEFAULT_TOLERATIONS = [
    {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}
]
# What each step's pod gets: limits, nodeSelector, tolerations.
EXPECTED = {
    "prepare": ({}, {}, []),
    "train": (
        {"nvidia.com/gpu": "2"},
        {
            "cloud.google.com/gke-accelerator": "nvidia-tesla-t4",
            "cloud.google.com/gke-nodepool": "gpu-pool",
        },
        TRAIN_TOLERATIONS,
    ),
    "evaluate": (
        {"amd.com/gpu": "1"},
        {"cloud.google.com/gke-nodepool": "ml-pool"},
        DEFAULT_TOLERATIONS,
    ),
}


def emitted(backend: object) -> dict[str, str]:
    pipeline = analyze_file(SPEC).pipeline
    assert [d for d in backend.check(pipeline) if d.severity == "error"] == []  # type: ignore[attr-defined]
    return {a.path: a.text for a in generated.without_rollout(backend.emit(pipeline))}  # type: ignore[attr-defined]


def test_kubeflow_places_each_executor_in_both_documents() -> None:
    [text] = emitted(KubeflowBackend()).values()
    spec, platform = validate_ir(text)  # strict protobuf parse of both documents
    executors = spec["deploymentSpec"]["executors"]
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for step, (limits, selector, tolerations) in EXPECTED.items():
        resources = executors[f"exec-{step}"]["container"].get("resources", {})
        accelerator = resources.get("accelerator")
        if limits:
            [(kind, count)] = limits.items()
            assert accelerator["resourceType"] == kind and accelerator["resourceCount"] == count
        else:
            assert accelerator is None
        config = k8s.get(f"exec-{step}", {})
        assert config.get("nodeSelector", {}).get("labels", {}) == selector, step
        # kfp-kubernetes writes int64 as a string, as protobuf's JSON mapping does
        assert config.get("tolerations", []) == [
            {k: str(v) if k == "tolerationSeconds" else v for k, v in t.items()}
            for t in tolerations
        ], step


def _pod_placement(pod_spec: dict) -> tuple[dict, dict, list]:
    [container] = pod_spec["containers"]
    limits = container.get("resources", {}).get("limits", {})
    return limits, pod_spec.get("nodeSelector") or {}, pod_spec.get("tolerations") or []


def test_prefect_jobs_are_placed_and_valid_kubernetes_jobs(tmp_path: Path) -> None:
    """The steps' data the flow embeds, through the runtime that builds each Job."""
    pipeline = analyze_file(SPEC).pipeline
    steps = {s.name: taskdata.container_data(s) for s in pipeline.steps}
    run = tasks.TaskRun(
        pipeline="placed",
        spec_version="1.0.0",
        artifact_root=str(tmp_path),
        tracking_uri=None,
        registered_model=None,
        steps=steps,
        gates={},
        promotions={},
        run_id="manual__2026-01-01T00:00:00+00:00",
        params={},
        results={}.__getitem__,
    )
    for step, expected in EXPECTED.items():
        job = tasks.kubernetes_job(run, step, 1)
        assert validate_core(job) == [], step
        assert _pod_placement(job["spec"]["template"]["spec"]) == expected, step


def test_prefect_loads_the_flow_of_a_placed_spec(tmp_path: Path) -> None:
    from prefect.flows import load_flow_from_entrypoint

    files = emitted(PrefectBackend())
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    [entry] = yaml.safe_load(files["prefect.yaml"])["deployments"]
    assert load_flow_from_entrypoint(f"{tmp_path}/{entry['entrypoint']}").name == "placed"


@pytest.mark.slow
def test_airflow_pods_are_placed_and_valid_kubernetes_pods(tmp_path: Path) -> None:
    """The DAG loads in a real DagBag; each KubernetesPodOperator builds its pod."""
    python = airflow_env.environment()
    dags = tmp_path / "dags"
    dags.mkdir()
    for path, text in emitted(AirflowBackend()).items():
        (dags / path).parent.mkdir(parents=True, exist_ok=True)
        (dags / path).write_text(text)
    # the operator reads a kube config to label the pod; nothing connects to this server
    config = tmp_path / "kubeconfig"
    config.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    env = airflow_env.base_env(tmp_path / "home") | {"KUBECONFIG": str(config)}
    done = subprocess.run(
        [str(python), str(ROOT / "tests" / "support" / "airflow_pods.py"), str(dags)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    found = [line for line in done.stdout.splitlines() if line.startswith("PODS ")]
    assert done.returncode == 0 and found, done.stderr[-4000:]
    pods = json.loads(found[-1].removeprefix("PODS "))
    assert set(pods) == {f"placed.{step}" for step in EXPECTED}
    for step, expected in EXPECTED.items():
        pod = pods[f"placed.{step}"]
        assert validate_core(pod) == [], step
        assert _pod_placement(pod["spec"]) == expected, step


PYTHON_STEP = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: demo, version: 1.0.0}
defaults:
  tolerations: [{key: gpu, operator: Exists}]
steps:
  train:
    python: demo.steps:train
    packages: [demo]
    accelerator: {count: 1}
"""


@pytest.mark.parametrize(
    "backend", [AirflowBackend(), PrefectBackend()], ids=["airflow", "prefect"]
)
def test_a_placed_python_step_is_ms302_where_it_runs_in_the_worker(backend: object) -> None:
    pipeline = analyze_text(PYTHON_STEP, "spec.yaml").pipeline
    found = [d for d in backend.check(pipeline) if "not applied" in d.message]  # type: ignore[attr-defined]
    [warning] = [d for d in found if "accelerator" in d.message]
    assert warning.code == "MS302" and warning.severity == "warning"
    assert "accelerator and tolerations are not applied" in warning.message
    assert (warning.span.line, warning.span.col) == (10, 5)  # the step's accelerator


def test_kubeflow_places_a_python_step_too() -> None:
    pipeline = analyze_text(PYTHON_STEP, "spec.yaml").pipeline
    backend = KubeflowBackend()
    assert [d for d in backend.check(pipeline) if d.code in ("MS301", "MS302")] == []
    [artifact] = generated.without_rollout(backend.emit(pipeline))
    spec, platform = validate_ir(artifact.text)
    resources = spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]
    assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
    assert k8s["tolerations"] == [{"key": "gpu", "operator": "Exists"}]


@pytest.mark.parametrize(
    ("old", "new", "summary"),
    [
        (
            "    accelerator: {type: nvidia.com/gpu, count: 2}",
            "    accelerator: {count: 0}",
            "accelerator 2 nvidia.com/gpu -> none",
        ),
        (
            "      cloud.google.com/gke-nodepool: gpu-pool",
            "      cloud.google.com/gke-nodepool: big-pool",
            "node selector {cloud.google.com/gke-accelerator: nvidia-tesla-t4, "
            "cloud.google.com/gke-nodepool: gpu-pool} -> {cloud.google.com/gke-accelerator: "
            "nvidia-tesla-t4, cloud.google.com/gke-nodepool: big-pool}",
        ),
        ("      - {key: team, value: ml}", "", "tolerations 3 -> 2 (changed)"),
    ],
)
def test_moving_a_step_or_removing_its_gpu_is_for_review(old: str, new: str, summary: str) -> None:
    text = SPEC.read_text()
    assert old in text
    before = analyze_text(text, "a.yaml").pipeline
    after = analyze_text(text.replace(old, new), "b.yaml").pipeline
    changes = [c for c in compare(before, after) if c.subject == "step train"]
    assert [(c.summary, c.risk) for c in changes] == [(summary, "review")]


def test_the_gpu_model_as_accelerator_type_points_at_the_node_label(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        SPEC.read_text().replace("nvidia.com/gpu, count: 2", "nvidia-tesla-t4, count: 2")
    )
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 1
    assert "error[MS123]: invalid accelerator type 'nvidia-tesla-t4'" in result.output
    assert "node_selector: {cloud.google.com/gke-accelerator: nvidia-tesla-t4}" in result.output
