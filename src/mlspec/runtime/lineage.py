"""Lineage: every pipeline run is an MLflow run, and a registered version points back to it.

Runtime module: generated pipelines carry it as a file of its own (standard library and mlflow,
imported inside functions; pyarrow only to read a Parquet dataset's shape).

The structure, the same on every engine: ONE MLflow run per pipeline run, in the experiment named
after the pipeline, on the tracking server of the spec's registry; no nested runs. Keys are
namespaced instead, so a reader finds everything about a run in one place:
- params: the run's parameters, as the engine resolved them;
- metrics: every numeric scalar output of a step as "<step>.<output>" (evaluate.auc);
- tags: the run's identity (TAG_*), every other scalar output (TAG_OUTPUT_PREFIX), each gate's
  verdict (TAG_GATE_PREFIX, as on model versions), each promotion (TAG_PROMOTED_PREFIX), and
  TAG_LINEAGE once LINEAGE_TASK recorded the steps;
- artifacts: each gate's report as `gates/<gate>.json`;
- dataset inputs: every dataset artifact a gate or step reads, as an MLflow dataset named
  "<step>.<output>" (DATASET_* below), its input tag `mlflow.data.context` naming the readers.

Tracking never decides a run's outcome: every function here catches the tracking server's
failures, prints a TRACKING_LINE saying what was not recorded, and returns. Gates that need the
registry still fail closed through registry.py, which is not this module.
"""

from __future__ import annotations

# mlspec's own tasks (names with the reserved prefix `mlspec_`).
TRACK_TASK = "mlspec_track"  # first: opens the run, returns its MLflow run id ("" if it could not)
LINEAGE_TASK = "mlspec_lineage"  # after every step: step outputs and every dataset
CLOSE_TASK = "mlspec_close"  # last, however the run ended: FINISHED or FAILED

# One JSON object per line in a task's log: {"task": ..., "recorded": bool, "problem": str|None}.
# `mlspec run` and `mlspec deploy --wait` read them to say that tracking was incomplete.
TRACKING_LINE = "MLSPEC-TRACKING "

# Run tags. TAG_PIPELINE_RUN is the value the registry's version tag `mlspec.run_id` holds for a
# version the run registered (see open_run): the join between the two.
TAG_PIPELINE_RUN = "mlspec.pipeline_run"
TAG_SPEC = "mlspec.spec"  # the pipeline's name
TAG_SPEC_VERSION = "mlspec.spec_version"
TAG_SPEC_SHA256 = "mlspec.spec_sha256"
TAG_SPEC_PATH = "mlspec.spec_path"
TAG_ENGINE = "mlspec.engine"  # "airflow" | "prefect" | "kubeflow"
TAG_ENGINE_RUN_ID = "mlspec.engine_run_id"
# identity["git"]'s commit, else $MLSPEC_GIT_COMMIT on the worker; also `mlflow.source.git.commit`
TAG_GIT_COMMIT = "mlspec.git_commit"
TAG_CODE_PREFIX = "mlspec.code."  # + step: "<package>@sha256:<digest>"
TAG_CODE_GIT = "mlspec.code.git"  # "<url>@<commit>:<path>"
TAG_GATE_PREFIX = "mlspec.gate."  # + gate: "passed" | "blocked"
TAG_OUTPUT_PREFIX = "mlspec.output."  # + "<step>.<output>": a str or bool scalar output
TAG_PROMOTED_PREFIX = "mlspec.promoted."  # + alias: the version number the run's model got
TAG_LINEAGE = "mlspec.lineage"  # "recorded": LINEAGE_TASK logged every step output and dataset

# Model version tags (beside registry.py's): the MLflow run, the model file's hash, and for each
# alias set on the version, who or what set it: JSON {"by": "pipeline" | "mlspec promote",
# "pipeline_run": ..., "actor": ..., "rule": [gates], "rollout": "passed" | None, "at": ISO time}.
VERSION_TAG_TRACKING_RUN = "mlspec.tracking_run"
VERSION_TAG_MODEL_SHA256 = "mlspec.model_sha256"
VERSION_TAG_PROMOTED_BY_PREFIX = "mlspec.promoted_by."

# MLflow dataset of a dataset artifact: name "<step>.<output>"; digest: the first 32 hex digits
# of DATASET profile "sha256" (MLflow stores at most 36 characters); source_type "local" (or the
# URI's scheme), source JSON {"uri": ...}; schema JSON {"mlflow_colspec": [{"name", "type"}]};
# profile JSON {"sha256", "bytes", "files", "rows"} (rows/schema null when the file is no table
# mlspec reads: CSV or Parquet). A folder's sha256 is over its files' relative paths and hashes.
DATASET_CONTEXT_TAG = "mlflow.data.context"  # "<reader>,<reader>" (steps and gates, sorted)


def fingerprint(path: str) -> dict:
    """{"sha256", "bytes", "files", "rows", "columns": [[name, type], ...] | None} of a dataset
    file or folder. Hashing streams; rows and columns only within datachecks' read bounds."""
    raise NotImplementedError


def open_run(
    tracking_uri: str | None,
    *,
    identity: dict,
    pipeline_run: str,
    engine: str,
    engine_run_id: str,
    params: dict,
) -> str:
    """Create the pipeline run's MLflow run (a retried task finds the one it created, by
    TAG_PIPELINE_RUN) and return its id; "" when tracking is unavailable (no URI, unreachable,
    refused), after printing a TRACKING_LINE. `identity`: backends.lineage.identity();
    `pipeline_run`: what the target's promotion passes as its run id (version tag mlspec.run_id:
    "<pipeline>/<run id>" on Airflow and Prefect, the pipeline job's id on Kubeflow)."""
    raise NotImplementedError


def find_run(tracking_uri: str | None, pipeline: str, pipeline_run: str) -> str:
    """The MLflow run of a pipeline run ("" if none or unreachable): for a task that cannot be
    handed TRACK_TASK's result (Kubeflow's exit handler)."""
    raise NotImplementedError


def record_datasets(tracking_uri: str | None, tracking_run: str, datasets: list[dict]) -> None:
    """Log dataset inputs: each {"name": "step.output", "path": ..., "readers": [...]}."""
    raise NotImplementedError


def record_gate(
    tracking_uri: str | None,
    tracking_run: str,
    report_path: str,
    datasets: list[dict],
) -> None:
    """A gate's verdict tag, its report artifact, and the datasets it read (record_datasets)."""
    raise NotImplementedError


def record_steps(
    tracking_uri: str | None,
    tracking_run: str,
    outputs: dict[str, object],
    datasets: list[dict],
) -> None:
    """LINEAGE_TASK: scalar outputs {"step.output": value} (numbers as metrics, the rest as
    TAG_OUTPUT_PREFIX tags) and every dataset (record_datasets)."""
    raise NotImplementedError


def record_promotion(
    tracking_uri: str | None,
    tracking_run: str,
    *,
    model_name: str,
    version: str,
    alias: str,
    promoted_by: dict,
) -> None:
    """TAG_PROMOTED_PREFIX on the run, VERSION_TAG_PROMOTED_BY_PREFIX on the version."""
    raise NotImplementedError


def close_run(tracking_uri: str | None, tracking_run: str, *, succeeded: bool) -> None:
    """End the run: FINISHED or FAILED."""
    raise NotImplementedError
