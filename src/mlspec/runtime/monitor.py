"""A monitor's job: judge what a served model was sent (and, once labels arrive, how well it
answered) against the data its version learned from, and act on a breach.

Runtime module: generated monitors carry it as a file of its own (standard library, the runtime's
other modules, and mlflow through registry.py). Every target runs the same `run_monitor`; only
how the alarm is raised differs (an Airflow asset event, a Prefect event, a Kubeflow output).

One run:
1. The registry: the version the watched alias names, and the training data it recorded
   (tag mlspec.reference, a URI), which drift checks without a reference compare with.
2. The served inputs: the CSV or Parquet files at the logged path (one file, or a folder's files
   by name, not recursive, dot-files skipped), only those changed within `window` when set.
   The tables are joined by column name; a column a file lacks is null in its rows.
3. The checks (datachecks.py rules) on those inputs: a failing check is a breach.
4. Feedback, when declared: quality metrics (quality.py) on labelled rows against bounds. Fewer
   labelled rows than `min_rows` is no breach: labels arrive late; the report says so.
5. On a breach: the alarm (the caller raises it when `run_monitor` returns True), a tag on the
   watched version saying why (mlspec.monitor.<name>), and, when the breach is of a kind in
   `rollback_on`, the alias rolled back to the version it named before (rollback.py: idempotent,
   refused when there is none; a refusal is recorded, and the alarm still goes out).

Anomalies fail the run instead, and nothing automatic happens: an unreachable registry, an alias
that is not set, a version without its training data, no served inputs in the window, too many
or too large files. An operator sees a failed run; neither a retraining nor a rollback starts
on a guess.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field

from .datachecks import load_table, run_checks
from .gates import evaluate_model_gate
from .quality import labelled_pairs, measure
from .registry import (
    PromotionRefused,
    _check_alias,
    _client,
    _expect,
    _get_or_none,
    _guard,
    _redact,
)
from .report import GateReport, summarize

# + monitor name: on the version a monitor watched, its last breach and what it did about it
REGISTRY_TAG_MONITOR_PREFIX = "mlspec.monitor."
# The key drift checks without a reference of their own use (datachecks' `references`).
TRAINED_ON = "mlspec:trained-on"
MONITOR_LINE = "MLSPEC-MONITOR "
MAX_FILES = 10_000
MAX_BYTES = 256 * 1024 * 1024  # held in memory as Python values: several times this
_TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


class MonitorError(Exception):
    """An anomaly: the monitor cannot judge, so it fails and does nothing automatic."""


@dataclass
class MonitorReport:
    monitor: str
    model: str
    alias: str
    version: str
    run_id: str
    inputs: dict  # files, rows, path, window_seconds
    checks: GateReport
    feedback: GateReport | None = None
    feedback_note: str = ""  # why quality was not judged, when it was not
    breached: list[str] = field(default_factory=list)  # "checks", "feedback"
    actions: list[dict] = field(default_factory=list)

    def to_json(self) -> str:
        data = asdict(self)
        data["checks"] = json.loads(self.checks.to_json())
        data["feedback"] = json.loads(self.feedback.to_json()) if self.feedback else None
        return json.dumps(data, indent=2, allow_nan=False) + "\n"


def run_monitor(
    config: dict,
    *,
    run_id: str,
    tracking_uri: str | None,
    report_path: str,
    now: float | None = None,
) -> bool:
    """One monitor run (see the module docstring); True when it breached and raised the alarm.
    Raises MonitorError (or the registry's errors) on an anomaly."""
    from .registry import REGISTRY_TAG_REFERENCE

    if not tracking_uri:
        raise MonitorError(
            "no MLflow tracking URI: set registry.mlflow.tracking_uri in the watched pipeline's "
            "spec or MLFLOW_TRACKING_URI"
        )
    name, model, alias = config["name"], config["registered_model"], config["alias"]
    version, tags = alias_version(tracking_uri, model, alias)
    now = time.time() if now is None else now
    inputs = config["inputs"]
    table, files = _load_logged(inputs["path"], inputs.get("window_seconds"), now, "served inputs")
    rows = max((len(v) for v in table.values()), default=0)
    if rows == 0:
        raise MonitorError(f"the served inputs at {inputs['path']} hold no rows")
    with tempfile.TemporaryDirectory(prefix="mlspec-monitor-") as scratch:
        references = {}
        if any(c.get("reference") == TRAINED_ON for c in config["checks"]):
            uri = tags.get(REGISTRY_TAG_REFERENCE)
            if not uri:
                raise MonitorError(
                    f"version {version} of model {model!r} records no training data "
                    f"(tag {REGISTRY_TAG_REFERENCE}): it was registered by a pipeline without "
                    "registry.reference, or before it had one"
                )
            references[TRAINED_ON] = _local_copy(uri, scratch)
            if not os.path.isfile(references[TRAINED_ON]):
                raise MonitorError(
                    f"the training data of version {version} of model {model!r} is gone: "
                    f"{uri} is not a file here"
                )
        checks = run_checks("checks", "served inputs", table, config["checks"], references)
    report = MonitorReport(
        monitor=name,
        model=model,
        alias=alias,
        version=version,
        run_id=run_id,
        inputs={**inputs, "files": len(files), "rows": rows},
        checks=checks,
    )
    if config.get("feedback"):
        report.feedback, report.feedback_note = _judge_feedback(config["feedback"], now)
    report.breached = [
        kind
        for kind, judged in (("checks", report.checks), ("feedback", report.feedback))
        if judged is not None and not judged.passed
    ]
    if report.breached:
        _act(config, report, tracking_uri, tags)
    _write(report, report_path)
    return bool(report.breached)


def _judge_feedback(feedback: dict, now: float) -> tuple[GateReport | None, str]:
    """Quality on labelled rows, or None and why it was not judged yet."""
    try:
        table, _ = _load_logged(feedback["path"], feedback.get("window_seconds"), now, "feedback")
    except _NothingLogged as exc:
        return None, f"no labelled feedback yet: {exc}"
    rows = max((len(v) for v in table.values()), default=0)
    problems = [c for c in (feedback["prediction"], feedback["label"]) if c not in table]
    if problems and rows:  # the columns are named in the spec: a file without them is wrong
        raise MonitorError(f"the feedback at {feedback['path']} has no column {problems[0]!r}")
    pairs, left_out = labelled_pairs(
        table.get(feedback["prediction"], []), table.get(feedback["label"], [])
    )
    if len(pairs) < feedback["min_rows"]:
        return None, (
            f"waiting for labels: {len(pairs)} labelled rows of the {feedback['min_rows']} "
            "needed to judge quality"
        )
    metrics: dict[str, object] = {}
    for requirement in feedback["requirements"]:
        metric = requirement["metric"]
        try:
            metrics[metric] = measure(metric, pairs, feedback["positive"])
        except ValueError as exc:
            metrics[metric] = f"unmeasurable: {exc}"  # fails its requirement, with the reason
    report = evaluate_model_gate("feedback", metrics, feedback["requirements"])
    note = f"{len(pairs)} labelled rows" + (f", {left_out} without a label" if left_out else "")
    return report, note


def _act(
    config: dict, report: MonitorReport, tracking_uri: str, version_tags: dict[str, str]
) -> None:
    """The alarm and what the spec says to do besides: each recorded with its reason."""
    from .rollback import REGISTRY_TAG_RESTORED_PREFIX, rollback

    reason = _reasons(report)
    report.actions.append({"action": "alarm", "reason": reason})
    if set(report.breached) & set(config.get("rollback_on", [])):
        why = f"monitor {report.monitor} run {report.run_id}: {reason}"
        restored = version_tags.get(REGISTRY_TAG_RESTORED_PREFIX + report.alias)
        try:
            if restored:
                raise PromotionRefused(
                    f"version {report.version} was itself restored by a rollback ({restored}); "
                    "a monitor does not roll back twice in a row: a person decides"
                )
            to, moved = rollback(tracking_uri, report.model, report.alias, report.version, why)
            report.actions.append(
                {"action": "rollback", "from": report.version, "to": to, "moved": moved}
            )
        except PromotionRefused as exc:
            report.actions.append({"action": "rollback", "refused": str(exc)})
    done = "; ".join(_action_text(a) for a in report.actions)
    tag_version(
        tracking_uri,
        report.model,
        report.version,
        REGISTRY_TAG_MONITOR_PREFIX + report.monitor,
        f"breach ({', '.join(report.breached)}) in run {report.run_id}: {reason}. {done}",
    )


def _action_text(action: dict) -> str:
    if action["action"] == "alarm":
        return "alarm raised"
    if "refused" in action:
        return f"rollback refused: {action['refused']}"
    return f"alias rolled back from version {action['from']} to {action['to']}"


def _reasons(report: MonitorReport) -> str:
    failed = []
    for judged in (report.checks, report.feedback):
        for check in judged.checks if judged else ():
            if not check.passed:
                measured = "n/a" if check.measured is None else f"{check.measured:.6g}"
                detail = f" ({check.detail})" if check.detail and check.measured is None else ""
                failed.append(
                    f"{check.check} {check.subject} {measured} vs {check.threshold}{detail}"
                )
    return "; ".join(failed)


def _write(report: MonitorReport, path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(report.to_json())
    print(f"monitor {report.monitor}: {report.model} version {report.version} ({report.alias})")
    print(summarize(report.checks))
    if report.feedback is not None:
        print(summarize(report.feedback))
    if report.feedback_note:
        print(f"  feedback: {report.feedback_note}")
    for action in report.actions:
        print(f"  action: {_action_text(action)}")
    verdict = {"monitor": report.monitor, "version": report.version, "breached": report.breached}
    print(MONITOR_LINE + json.dumps({**verdict, "actions": report.actions}))


# ---- the registry -------------------------------------------------------------------------
# Here, not in registry.py, which every promotion carries: only monitors need these.


def alias_version(tracking_uri: str, model_name: str, alias: str) -> tuple[str, dict[str, str]]:
    """The version `alias` names and its tags; PromotionRefused when the alias is not set."""
    _check_alias(alias)
    with _guard(tracking_uri, f"read alias {alias!r} of model {model_name!r}"):
        client = _client(tracking_uri)
        model = _get_or_none(lambda: client.get_registered_model(model_name))
        version = None if model is None else model.aliases.get(alias)
        if model is None or version is None:
            raise PromotionRefused(f"model {model_name!r} has no alias {alias!r}")
        _expect(model.name, model_name, f"registry {_redact(tracking_uri)}")
        found = _get_or_none(lambda: client.get_model_version(model_name, str(version)))
        if found is None:
            raise PromotionRefused(
                f"alias {alias!r} of model {model_name!r} names version {version}, "
                "which does not exist"
            )
        return str(version), dict(found.tags)


def tag_version(tracking_uri: str, model_name: str, version: str, key: str, value: str) -> None:
    """Set one tag on a version (the registry keeps at most 5000 characters of a value)."""
    with _guard(tracking_uri, f"tag version {version} of model {model_name!r}"):
        _client(tracking_uri).set_model_version_tag(model_name, version, key, value[:5000])


# ---- logged files ---------------------------------------------------------------------------


class _NothingLogged(MonitorError):
    """No file (or none within the window) at a logged path."""


def _load_logged(
    path: str, window: int | None, now: float, what: str
) -> tuple[dict[str, list], list[str]]:
    """The rows of the files at `path` (changed within `window` seconds), joined by column."""
    files = _logged_files(path, window, now, what)
    table: dict[str, list] = {}
    rows = 0
    for file in files:
        try:
            part = load_table(file)
        except Exception as exc:  # an unreadable log file is an anomaly, not a verdict
            raise MonitorError(f"cannot read {what} file {file}: {exc}") from exc
        count = max((len(v) for v in part.values()), default=0)
        for column in part:
            table.setdefault(column, [None] * rows)
        for column, values in table.items():
            values.extend(part.get(column, [None] * count))
        rows += count
    return table, files


def _logged_files(path: str, window: int | None, now: float, what: str) -> list[str]:
    if os.path.isfile(path):
        candidates = [path]
    elif os.path.isdir(path):
        candidates = [
            os.path.join(path, name)
            for name in sorted(os.listdir(path))
            if not name.startswith(".") and name.lower().endswith(_TABLE_SUFFIXES)
        ]
        candidates = [c for c in candidates if os.path.isfile(c)]
    else:
        raise _NothingLogged(f"{what}: {path} does not exist")
    if len(candidates) > MAX_FILES:
        raise MonitorError(
            f"{what}: {len(candidates)} files at {path}, more than {MAX_FILES}: set a `window` "
            "or move judged files away"
        )
    stats = {c: os.stat(c) for c in candidates}
    if window is not None:
        candidates = [c for c in candidates if stats[c].st_mtime >= now - window]
    if not candidates:
        within = f" changed within the last {window} s" if window is not None else ""
        raise _NothingLogged(f"{what}: no CSV or Parquet file at {path}{within}")
    size = sum(stats[c].st_size for c in candidates)
    if size > MAX_BYTES:
        raise MonitorError(
            f"{what}: {size} bytes at {path}, more than {MAX_BYTES}: set a shorter `window`"
        )
    return candidates


def _local_copy(uri: str, scratch: str) -> str:
    """A local path of the file at `uri`: a file:// URI as it is, others downloaded by MLflow."""
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return unquote(urlparse(uri).path)
    if "://" not in uri and not uri.startswith(("mlflow-artifacts:", "models:", "runs:")):
        return uri
    try:
        from mlflow.artifacts import download_artifacts

        return str(download_artifacts(artifact_uri=uri, dst_path=scratch))
    except Exception as exc:
        raise MonitorError(f"cannot fetch the training data {uri}: {exc}") from exc
