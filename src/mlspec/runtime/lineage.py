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

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .datachecks import _conforms, load_table
from .registry import (
    REGISTRY_GATE_BLOCKED,
    REGISTRY_GATE_PASSED,
    RegistryError,
    _client,
    _guard,
    _quote,
    _redact,
)
from .report import gate_report_from_json

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import DatasetInput, Metric, Param, RunTag

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
# "<url>@<commit>:<path>"; not under TAG_CODE_PREFIX, where a step named `git` would collide
TAG_CODE_GIT = "mlspec.git_source"
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

# A flow that workers clone from git (Prefect's code.git) cannot hold the commit it is cloned at,
# nor the hash of the spec that pins that commit: its compiled identity leaves both out (None)
# and its deployment sets them in the environment (backends.lineage.deployment_env).
ENV_SPEC_SHA256 = "MLSPEC_SPEC_SHA256"
ENV_GIT_SOURCE = "MLSPEC_GIT_SOURCE"

# MLflow dataset of a dataset artifact: name "<step>.<output>"; digest: the first 32 hex digits
# of DATASET profile "sha256" (MLflow stores at most 36 characters); source_type "local" (or the
# URI's scheme), source JSON {"uri": ...}; schema JSON {"mlflow_colspec": [{"name", "type"}]};
# profile JSON {"sha256", "bytes", "files", "rows"} (rows/schema null when the file is no table
# mlspec reads: CSV or Parquet). A folder's sha256 is over its files' relative paths and hashes.
DATASET_CONTEXT_TAG = "mlflow.data.context"  # "<reader>,<reader>" (steps and gates, sorted)
# Beyond this size a table file's rows and columns are not read (datachecks loads a whole table
# into memory): its hash, bytes and files are still recorded, rows and columns are None.
TABLE_BYTES_MAX = 64 * 2**20
# A tag value longer than the tracking store keeps (MLflow: 8000 characters) is cut to this.
_TAG_VALUE_MAX = 8000
_BATCH = 100  # MLflow: at most 100 params and 100 tags per log_batch call
_CHUNK = 2**20
_COLUMN_TYPES = ("int", "float", "bool", "str")  # the data gate's, narrowest first
_DIGEST = 32
_PARAM_VALUE_MAX = 6000  # MLflow's longest param value
_INPUT_TAG_MAX = 500  # MLflow's longest dataset input tag value
_GIT = re.compile(r"^(?P<url>.*)@(?P<commit>[^@:]+):(?P<path>.*)$")  # "<url>@<commit>:<path>"
_T = TypeVar("_T")


def fingerprint(path: str) -> dict:
    """{"sha256", "bytes", "files", "rows", "columns": [[name, type], ...] | None} of a dataset
    file or folder. Hashing streams; rows and columns only within datachecks' read bounds.

    A file's sha256 is that of its bytes. A folder's is the sha256 of "<relative path>\\0<file
    sha256>\\n" for each file under it, sorted by relative path ("/"-separated); a folder has no
    rows or columns. A file's rows and columns are read when datachecks reads it as a table
    (CSV or Parquet, at most TABLE_BYTES_MAX bytes); a column's type is the first of int, float,
    bool, str that the data gate's `columns` check accepts for every non-null value.
    """
    sha256, size, files = _content(path)
    rows, columns = (None, None) if os.path.isdir(path) else _shape(path, size)
    return {"sha256": sha256, "bytes": size, "files": files, "rows": rows, "columns": columns}


def content_sha256(path: str) -> str:
    """The sha256 of a file or folder, as fingerprint() gives it (a model artifact's)."""
    return _content(path)[0]


def _content(path: str) -> tuple[str, int, int]:
    """sha256, bytes and files of a file or folder."""
    if not os.path.isdir(path):
        return (*_hash_file(path), 1)
    files = sorted(
        os.path.relpath(os.path.join(folder, name), path).replace(os.sep, "/")
        for folder, _, names in os.walk(path)
        for name in names
    )
    digest = hashlib.sha256()
    size = 0
    for relative in files:
        file_hash, file_size = _hash_file(os.path.join(path, relative))
        digest.update(f"{relative}\0{file_hash}\n".encode())
        size += file_size
    return digest.hexdigest(), size, len(files)


def _hash_file(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _shape(path: str, size: int) -> tuple[int | None, list[list[str]] | None]:
    """Rows and [[name, type], ...] of a table file; (None, None) for anything else."""
    if size > TABLE_BYTES_MAX:
        return None, None
    try:
        table = load_table(path)
    except (OSError, ImportError, ValueError):  # ValueError: datachecks' _Unreadable
        return None, None
    rows = max((len(values) for values in table.values()), default=0)
    return rows, [[name, _column_type(values)] for name, values in table.items()]


def _column_type(values: list) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "str"
    return next(t for t in _COLUMN_TYPES if all(_conforms(v, t) for v in present))


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
    pipeline = str(identity["pipeline"])
    tags = _identity_tags(identity, pipeline_run, engine, engine_run_id)

    def create(client: MlflowClient) -> str:
        from mlflow.entities import Param

        experiment = _experiment(client, tracking_uri or "", pipeline)
        run_id = _search(client, experiment, pipeline_run)
        if not run_id:
            run_id = client.create_run(experiment, tags=tags, run_name=engine_run_id).info.run_id
        # Again on a retry: the first attempt may have stopped before logging them.
        values = [Param(str(k), _text(v, _PARAM_VALUE_MAX)) for k, v in sorted(params.items())]
        _log_batch(client, run_id, params=values)
        return run_id

    return _attempt(tracking_uri, TRACK_TASK, "open the pipeline run", create) or ""


def find_run(tracking_uri: str | None, pipeline: str, pipeline_run: str) -> str:
    """The MLflow run of a pipeline run ("" if none or unreachable): for a task that cannot be
    handed TRACK_TASK's result (Kubeflow's exit handler)."""

    def find(client: MlflowClient) -> str:
        found = client.get_experiment_by_name(pipeline)
        return "" if found is None else _search(client, found.experiment_id, pipeline_run)

    action = f"find the run of {pipeline_run}"
    found = _attempt(tracking_uri, CLOSE_TASK, action, find, quiet=True)
    if found == "":
        tracking_line(CLOSE_TASK, False, f"no tracking run of pipeline run {pipeline_run!r}")
    return found or ""


def version_run(tracking_uri: str | None, model_name: str, version: str) -> str:
    """The tracking run a model version points back to (VERSION_TAG_TRACKING_RUN; "" if it has
    none or the registry cannot say): for a promotion outside the pipeline (`mlspec promote`)."""

    def read(client: MlflowClient) -> str:
        found = client.get_model_version(model_name, str(version))
        return str(found.tags.get(VERSION_TAG_TRACKING_RUN) or "")

    action = f"read the tracking run of version {version} of model {model_name!r}"
    return _attempt(tracking_uri, "version", action, read, quiet=True) or ""


def record_datasets(tracking_uri: str | None, tracking_run: str, datasets: list[dict]) -> None:
    """Log dataset inputs: each {"name": "step.output", "path": ..., "readers": [...]}."""
    _record(tracking_uri, tracking_run, LINEAGE_TASK, "log dataset inputs", datasets=datasets)


def record_gate(
    tracking_uri: str | None,
    tracking_run: str,
    report_path: str,
    datasets: list[dict],
    iteration: int | None = None,
) -> None:
    """A gate's verdict tag, its report artifact, and the datasets it read (record_datasets);
    a per-item gate's as `GATE.INDEX`, one per iteration."""
    try:
        with open(report_path, encoding="utf-8") as handle:
            report = gate_report_from_json(handle.read())
    except Exception as exc:  # tracking never decides: a report it cannot read is a problem
        tracking_line("gate", False, f"gate report {report_path} not recorded: {exc}")
        return
    verdict = REGISTRY_GATE_PASSED if report.passed else REGISTRY_GATE_BLOCKED
    name = report.gate if iteration is None else f"{report.gate}.{iteration}"

    def artifact(client: MlflowClient, run_id: str) -> None:
        with tempfile.TemporaryDirectory() as folder:
            copy = os.path.join(folder, f"{name}.json")
            shutil.copyfile(report_path, copy)
            client.log_artifact(run_id, copy, artifact_path="gates")

    _record(
        tracking_uri,
        tracking_run,
        report.gate,
        f"record gate {name!r}",
        tags={TAG_GATE_PREFIX + name: verdict},
        datasets=datasets,
        then=artifact,
    )


def record_steps(
    tracking_uri: str | None,
    tracking_run: str,
    outputs: dict[str, object],
    datasets: list[dict],
) -> None:
    """LINEAGE_TASK: scalar outputs {"step.output": value} (numbers as metrics, the rest as
    TAG_OUTPUT_PREFIX tags) and every dataset (record_datasets)."""
    metrics: dict[str, float] = {}
    tags: dict[str, str] = {}
    for name, value in sorted(outputs.items()):
        if isinstance(value, int | float) and not isinstance(value, bool):
            metrics[name] = float(value)
        else:
            tags[TAG_OUTPUT_PREFIX + name] = _text(value, _TAG_VALUE_MAX)
    _record(
        tracking_uri,
        tracking_run,
        LINEAGE_TASK,
        "record the steps' outputs and datasets",
        metrics=metrics,
        tags=tags,
        datasets=datasets,
        done={TAG_LINEAGE: "recorded"},
    )


def record_promotion(
    tracking_uri: str | None,
    tracking_run: str,
    *,
    model_name: str,
    version: str,
    alias: str,
    promoted_by: dict,
) -> None:
    """TAG_PROMOTED_PREFIX on the run, VERSION_TAG_PROMOTED_BY_PREFIX on the version.

    The version's tag is the registry's, so it is set even when `tracking_run` is "" (a version
    registered while tracking was unavailable still says who promoted it).
    """
    task = _promotion_task(alias, promoted_by)
    text = json.dumps(promoted_by, sort_keys=True)

    def tag_version(client: MlflowClient) -> bool:
        client.set_model_version_tag(
            model_name, str(version), VERSION_TAG_PROMOTED_BY_PREFIX + alias, text
        )
        return True

    action = f"tag version {version} of model {model_name!r} with who promoted it"
    if not _attempt(tracking_uri, task, action, tag_version, quiet=True):
        return
    _record(
        tracking_uri,
        tracking_run,
        task,
        f"record the promotion to {alias!r}",
        tags={TAG_PROMOTED_PREFIX + alias: str(version)},
    )


def promotion_record(
    by: str,
    *,
    rule: list[str],
    pipeline_run: str | None = None,
    actor: str | None = None,
    rollout: str | None = None,
) -> dict:
    """The `promoted_by` of record_promotion, stamped now."""
    return {
        "by": by,
        "pipeline_run": pipeline_run,
        "actor": actor,
        "rule": list(rule),
        "rollout": rollout,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def close_run(tracking_uri: str | None, tracking_run: str, *, succeeded: bool) -> None:
    """End the run: FINISHED or FAILED."""
    status = "FINISHED" if succeeded else "FAILED"

    def end(client: MlflowClient, run_id: str) -> None:
        client.set_terminated(run_id, status)

    _record(tracking_uri, tracking_run, CLOSE_TASK, f"end the run as {status}", then=end)


def _record(
    tracking_uri: str | None,
    tracking_run: str,
    task: str,
    action: str,
    *,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    datasets: list[dict] | None = None,
    then: Callable[[MlflowClient, str], None] | None = None,
    done: dict[str, str] | None = None,
) -> None:
    """Log into an open run; `done` tags only once everything else was recorded."""
    if not tracking_run:
        tracking_line(task, False, f"could not {action}: tracking unavailable (no run was opened)")
        return
    missing: list[str] = []
    inputs = []
    for dataset in datasets or []:
        try:
            inputs.append(_dataset_input(dataset))
        except Exception as exc:  # a missing file, say: the rest is still recorded
            missing.append(f"dataset {dataset.get('name')}: {type(exc).__name__}: {exc}")

    def log(client: MlflowClient) -> bool:
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        _log_batch(
            client,
            tracking_run,
            metrics=[Metric(k, v, now, 0) for k, v in sorted((metrics or {}).items())],
            tags=[RunTag(k, v) for k, v in sorted((tags or {}).items())],
        )
        if inputs:
            client.log_inputs(tracking_run, datasets=inputs)
        if then is not None:
            then(client, tracking_run)
        if done and not missing:
            _log_batch(client, tracking_run, tags=[RunTag(k, v) for k, v in done.items()])
        return True

    recorded = _attempt(tracking_uri, task, action, log, quiet=bool(missing))
    if recorded and missing:
        tracking_line(task, False, f"could not {action} completely: " + "; ".join(missing))


def _dataset_input(dataset: dict) -> DatasetInput:
    from mlflow.entities import Dataset, DatasetInput, InputTag

    path = str(dataset["path"])
    found = fingerprint(path)
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]+):/", path)  # 2+ letters: not "C:/"
    uri = path if scheme else Path(path).resolve().as_uri()
    columns = found["columns"]
    schema = None
    if columns is not None:
        schema = json.dumps({"mlflow_colspec": [{"name": n, "type": t} for n, t in columns]})
    profile = {k: found[k] for k in ("sha256", "bytes", "files", "rows")}
    readers = ",".join(sorted(dataset.get("readers") or []))
    return DatasetInput(
        Dataset(
            name=str(dataset["name"]),
            digest=found["sha256"][:_DIGEST],
            source_type=scheme.group(1) if scheme else "local",
            source=json.dumps({"uri": uri}),
            schema=schema,
            profile=json.dumps(profile),
        ),
        tags=[InputTag(DATASET_CONTEXT_TAG, readers[:_INPUT_TAG_MAX])],
    )


def _attempt(
    tracking_uri: str | None,
    task: str,
    action: str,
    call: Callable[[MlflowClient], _T],
    *,
    quiet: bool = False,
) -> _T | None:
    """`call(client)`, or None after a TRACKING_LINE saying why; `quiet`: no line on success
    (the caller says more)."""
    if not tracking_uri:
        tracking_line(task, False, f"could not {action}: no tracking URI")
        return None
    try:
        with _guard(tracking_uri, action):
            result = call(_client(tracking_uri))
    except RegistryError as exc:  # says what it could not do, credentials redacted
        tracking_line(task, False, str(exc))
        return None
    except Exception as exc:  # tracking never decides a run's outcome; ImportError: no mlflow
        tracking_line(task, False, _redact(f"could not {action}: {type(exc).__name__}: {exc}"))
        return None
    if not quiet:
        tracking_line(task, True, None)
    return result


def tracking_line(task: str, recorded: bool, problem: str | None) -> None:
    """Print the TRACKING_LINE of `task`: what it recorded, or why not."""
    print(TRACKING_LINE + json.dumps({"task": task, "recorded": recorded, "problem": problem}))


def _experiment(client: MlflowClient, tracking_uri: str, name: str) -> str:
    """The experiment named after the pipeline, created on its first run."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name, artifact_location=_artifacts(tracking_uri)))
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":  # created meanwhile by another run
            raise
    again = client.get_experiment_by_name(name)
    if again is None:
        raise RuntimeError(f"experiment {name!r} exists and cannot be found")
    return str(again.experiment_id)


def _artifacts(tracking_uri: str) -> str | None:
    """Beside a SQLite database, `mlruns/`: MLflow's default is the current folder of whichever
    process creates the experiment, a different one for every worker. A server chooses its own."""
    if not tracking_uri.startswith("sqlite:"):
        return None
    database = tracking_uri.removeprefix("sqlite:").removeprefix("///").split("?", 1)[0]
    return (Path(database).resolve().parent / "mlruns").as_uri()


def _search(client: MlflowClient, experiment_id: str, pipeline_run: str) -> str:
    query = f"tags.`{TAG_PIPELINE_RUN}` = {_quote(pipeline_run)}"
    runs = client.search_runs([experiment_id], filter_string=query, order_by=["start_time ASC"])
    found = [r.info.run_id for r in runs if r.data.tags.get(TAG_PIPELINE_RUN) == pipeline_run]
    return found[0] if found else ""


def _identity_tags(
    identity: dict, pipeline_run: str, engine: str, engine_run_id: str
) -> dict[str, str]:
    identity = deployed_identity(identity)
    git = _GIT.match(str(identity.get("git") or ""))
    commit = git_commit(identity)
    tags = {
        TAG_PIPELINE_RUN: pipeline_run,
        TAG_SPEC: str(identity["pipeline"]),
        TAG_SPEC_VERSION: str(identity.get("spec_version") or ""),
        TAG_SPEC_SHA256: str(identity.get("spec_sha256") or ""),
        TAG_SPEC_PATH: str(identity.get("spec_path") or ""),
        TAG_ENGINE: engine,
        TAG_ENGINE_RUN_ID: engine_run_id,
        "mlflow.source.name": str(identity.get("spec_path") or ""),
    }
    if commit:
        tags[TAG_GIT_COMMIT] = tags["mlflow.source.git.commit"] = commit
    if git:
        tags[TAG_CODE_GIT] = git.group(0)
    for step, package in (identity.get("code") or {}).items():
        tags[TAG_CODE_PREFIX + step] = str(package)
    return {k: _text(v, _TAG_VALUE_MAX) for k, v in tags.items() if v != ""}


def deployed_identity(identity: dict | None) -> dict:
    """`identity` with what its deployment gives through the environment where the compiled
    files leave it out (ENV_SPEC_SHA256, ENV_GIT_SOURCE: backends.lineage.deployment_env)."""
    found = dict(identity or {})
    for key, variable in (("spec_sha256", ENV_SPEC_SHA256), ("git", ENV_GIT_SOURCE)):
        if not found.get(key):
            found[key] = os.environ.get(variable) or None
    return found


def git_commit(identity: dict | None) -> str:
    """The commit a run's code came from: identity["git"]'s, else $MLSPEC_GIT_COMMIT ("")."""
    git = _GIT.match(str(deployed_identity(identity).get("git") or ""))
    return git.group("commit") if git else os.environ.get("MLSPEC_GIT_COMMIT", "")


def _promotion_task(alias: str, promoted_by: dict) -> str:
    """The task a promotion runs in: the pipeline's promote_<alias> (backends.runtime_args
    names it so), or what promoted it ("mlspec promote")."""
    if promoted_by.get("by") == "pipeline":
        return "promote_" + "".join(c if c.isalnum() else "_" for c in alias)
    return str(promoted_by.get("by") or "promotion")


def _text(value: object, limit: int) -> str:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return text[:limit]


def _log_batch(
    client: MlflowClient,
    run_id: str,
    *,
    metrics: list[Metric] | None = None,
    params: list[Param] | None = None,
    tags: list[RunTag] | None = None,
) -> None:
    metrics, params, tags = metrics or [], params or [], tags or []
    for start in range(0, max(len(metrics), len(params), len(tags)), _BATCH):
        end = start + _BATCH
        client.log_batch(
            run_id, metrics=metrics[start:end], params=params[start:end], tags=tags[start:end]
        )
