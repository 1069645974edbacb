"""How large the generated pipelines are, beside their budgets: the runtime's share above all.

Run from the repository root: `uv run python benchmarks/bench_sizes.py` (a few seconds; needs
the kubeflow extra). Prints, for the flagship and for generated specs with 1 to 15 gates, the
size of each target's files: the KFP IR file; the Airflow DAG and the Prefect flow file, and
the runtime package beside them. The flagship has `code.wheels` in defaults, so its Kubeflow
gates install the runtime as a pinned wheel (published beside the step wheels, not counted):
its KFP file holds no runtime text; the row "flagship, rt as text" is the same pipeline with the
runtime embedded, as without `code.wheels` and in `mlspec run`. The generated specs deliver their
code by image, so their KFP files carry the runtime as text. Budgets (issue 18), both in KiB:
the flagship's KFP file at most 80 KiB (81,920 bytes) and a spec with 15 gates below 256 KiB
(262,144 bytes). Exits 0 whatever the figures are (a report, not a test); also prints how long
compiling took and how many distinct runtime packages were built (one per module set and form:
beside DAGs and flows, the flagship's wheel).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from mlspec.backends.airflow import AirflowBackend
from mlspec.backends.base import Artifact
from mlspec.backends.kubeflow import KubeflowBackend
from mlspec.backends.prefect import PrefectBackend
from mlspec.compiler import analyze_file, analyze_text
from mlspec.compiler.ir import Pipeline
from mlspec.runtime import embed

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
FLAGSHIP_BUDGET = 80 * 1024
GATES_BUDGET = 256 * 1024
GATE_COUNTS = (1, 2, 4, 8, 15)


def gated_spec(gates: int) -> str:
    """Three Python steps and `gates` gates, alternating data and model gates; the promotion
    of the model waits for the first model gate (or the only gate)."""
    lines = [
        "apiVersion: mlspec/v1",
        "kind: Pipeline",
        f"metadata: {{name: gates-{gates}, version: 1.0.0}}",
        "params:",
        "  min_auc: {type: float, default: 0.9}",
        # An image that holds the step package: the components install nothing more.
        "defaults: {code: {image: 'ghcr.io/acme/demo-steps:1.0'}}",
        "steps:",
        "  ingest: {python: demo.steps:ingest, outputs: {train: dataset, reference: dataset}}",
        "  train:",
        "    python: demo.steps:train",
        "    inputs: {train: ingest.train}",
        "    outputs: {model: model}",
        "  evaluate:",
        "    python: demo.steps:evaluate",
        "    inputs: {model: train.model}",
        "    outputs: {auc: float, accuracy: float}",
        "gates:",
    ]
    for i in range(gates):
        if i % 2 == 0:
            lines += [
                f"  data_{i}:",
                "    dataset: ingest.train",
                "    checks:",
                f"      - row_count: {{min: {100 + i}}}",
                "      - null_fraction: {column: age, max: 0.05}",
                "      - drift: {column: age, reference: ingest.reference, method: psi, max: 0.2}",
            ]
        else:
            lines += [
                f"  model_{i}:",
                "    require:",
                "      - {metric: evaluate.auc, min: params.min_auc}",
                f"      - {{metric: evaluate.accuracy, min: 0.{80 + i}}}",
            ]
    promoted_after = "model_1" if gates > 1 else "data_0"
    lines += [
        "registry:",
        "  mlflow: {registered_model: demo, tracking_uri: 'sqlite:///mlflow.db'}",
        "  model: train.model",
        "  promote:",
        f"    - {{alias: challenger, after: [{promoted_after}]}}",
    ]
    return "\n".join(lines) + "\n"


def sizes(artifacts: list[Artifact]) -> tuple[int, int]:
    """(the pipeline file, the runtime package beside it), in bytes."""
    own = sum(
        len(a.text.encode())
        for a in artifacts
        if not a.path.startswith(("rollout/", embed.PACKAGE_PREFIX)) and a.path != "prefect.yaml"
    )
    runtime = sum(
        len(a.text.encode()) for a in artifacts if a.path.startswith(embed.PACKAGE_PREFIX)
    )
    return own, runtime


def row(name: str, pipeline: Pipeline) -> tuple[int, str]:
    for backend in (KubeflowBackend(), AirflowBackend(), PrefectBackend()):
        errors = [d.message for d in backend.check(pipeline) if d.severity == "error"]
        if errors:
            raise SystemExit(f"{name}: {backend.name}: {errors}")
    started = time.perf_counter()
    kfp, _ = sizes(KubeflowBackend().emit(pipeline))
    airflow, airflow_runtime = sizes(AirflowBackend().emit(pipeline))
    prefect, prefect_runtime = sizes(PrefectBackend().emit(pipeline))
    seconds = time.perf_counter() - started
    text = (
        f"{name:<22} {kfp:>10,} {kfp / 1024:>8.1f} {airflow:>10,} {prefect:>10,} "
        f"{airflow_runtime:>10,} {prefect_runtime:>10,} {seconds:>7.2f}"
    )
    return kfp, text


def main() -> None:
    header = (
        f"{'spec':<22} {'KFP bytes':>10} {'KFP KiB':>8} {'DAG':>10} {'flow':>10} "
        f"{'DAG rt':>10} {'flow rt':>10} {'emit s':>7}"
    )
    print(header)
    print("-" * len(header))
    pipeline = analyze_file(FLAGSHIP).pipeline
    flagship, text = row("flagship", pipeline)
    print(text)
    print(row("flagship, rt as text", dataclasses.replace(pipeline, runtime_wheels=None))[1])
    per_count: dict[int, int] = {}
    for count in GATE_COUNTS:
        pipeline = analyze_text(gated_spec(count), f"gates-{count}.yaml").pipeline
        per_count[count], text = row(f"{count} gates", pipeline)
        print(text)
    step = (per_count[15] - per_count[1]) / 14
    print()
    print("rt: the runtime package beside the DAG or flow (Airflow adds its .airflowignore)")
    print(f"each further gate adds about {step:,.0f} bytes of KFP IR")
    ok = "within" if flagship <= FLAGSHIP_BUDGET else "OVER"
    print(f"flagship KFP file: {flagship:,} bytes, {ok} the budget of {FLAGSHIP_BUDGET:,}")
    ok = "within" if per_count[15] < GATES_BUDGET else "OVER"
    print(f"15 gates KFP file: {per_count[15]:,} bytes, {ok} the budget of {GATES_BUDGET:,}")
    info = embed.package.cache_info()
    print(f"runtime packages built: {info.currsize} distinct, {info.hits} reused from the cache")


if __name__ == "__main__":
    main()
