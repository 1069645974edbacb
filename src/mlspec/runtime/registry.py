"""Model registry: register a model version with its gate verdicts, promote it by alias.

Runtime module: generated pipelines carry it as a file of its own, so it uses the standard library
and `mlflow` only, imported inside functions so that it loads where mlflow is not installed.
Verified against mlflow-skinny 3.17 (SQLite store and REST): promotion uses aliases, not the
deprecated stages; everything a later run must read back (gate verdicts, metrics, run id) is a
model version tag.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .report import CheckResult, GateReport

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import RegisteredModel

REGISTRY_TAG_SPEC = "mlspec.spec"
REGISTRY_TAG_SPEC_VERSION = "mlspec.spec_version"
REGISTRY_TAG_RUN_ID = "mlspec.run_id"
REGISTRY_TAG_GIT_COMMIT = "mlspec.git_commit"
# The dataset the version's model learned from (registry.reference), as a URI
REGISTRY_TAG_REFERENCE = "mlspec.reference"
REGISTRY_TAG_GATE_PREFIX = "mlspec.gate."  # + gate name: "passed" | "blocked"
REGISTRY_TAG_METRIC_PREFIX = "mlspec.metric."  # + "step.metric": decimal string of a float
# + alias: on the version an alias moved to, the version it named before (what rollback restores)
REGISTRY_TAG_PREVIOUS_PREFIX = "mlspec.previous."
# + alias: on a version an alias was rolled back from, to which version and why
REGISTRY_TAG_ROLLED_BACK_PREFIX = "mlspec.rolled_back."
REGISTRY_GATE_PASSED = "passed"
REGISTRY_GATE_BLOCKED = "blocked"

# MLflow's defaults (7 retries, backoff factor 2, 120 s timeout) retry an unreachable server for
# minutes; a pipeline step should fail within seconds (a closed port: ~2-3 s in total).
# Values an operator set in the environment win.
_HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}
# The registry reserves these alias names (rejects them with INVALID_PARAMETER_VALUE).
_RESERVED_ALIAS = re.compile(r"^(latest|[vV]\d+)$", re.IGNORECASE)
_ALIAS = re.compile(r"^[\w-]+$")
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")
_log = logging.getLogger("mlspec.runtime.registry")
_T = TypeVar("_T")


class RegistryError(Exception):
    """The registry could not be reached or answered unexpectedly."""


class PromotionRefused(Exception):
    """A required gate is missing or did not pass on the version to promote."""


class NoBaseline(Exception):
    """The registry answered, but holds no version to compare with, and it is no first run."""


def alias_metrics(tracking_uri: str, model_name: str, alias: str) -> dict[str, float] | None:
    """The `mlspec.metric.*` tags of the version holding `alias`, e.g. {"evaluate.auc": 0.97}.

    None only on a first run: the registered model exists, has no versions, and mlspec never
    registered one into it. A registered model that does not exist is no first run: a wrong name
    or tracking URI, or a deleted model, looks exactly like that, so the model must be created
    (empty) before its first run. NoBaseline for that, for versions none of which holds the
    alias, and for a model whose versions were all deleted; RegistryError when the registry is
    unreachable or does not answer like an MLflow registry. A version without mlspec metric tags
    gives {}: the caller's comparison then fails closed.
    """
    _check_alias(alias)  # a reserved alias can never exist
    where = f"registry {_redact(tracking_uri)}"
    with _guard(tracking_uri, f"read alias {alias!r} of model {model_name!r}"):
        client = _client(tracking_uri)
        model = _get_or_none(lambda: client.get_registered_model(model_name))
        if model is None:
            raise NoBaseline(
                f"registered model {model_name!r} does not exist in {where}: a wrong name or "
                "tracking URI, or a deleted model; for a first run, create it (empty) first"
            )
        _expect(model.name, model_name, where)
        # Aliases come from the registered model: search_model_versions returns them empty.
        version = model.aliases.get(alias)
        if version is None:
            _first_run(client, model, alias)
            return None
        found = _get_or_none(lambda: client.get_model_version(model_name, str(version)))
        if found is None:
            raise NoBaseline(
                f"alias {alias!r} of model {model_name!r} names version {version}, "
                "which does not exist"
            )
        _expect(f"{found.name} v{found.version}", f"{model_name} v{version}", where)
    return _parse_metrics(tracking_uri, model_name, str(version), found.tags)


def find_version_by_run(tracking_uri: str, model_name: str, run_id: str) -> str | None:
    """The version of `model_name` registered by pipeline run `run_id`, if any."""
    query = _run_query(model_name, run_id)
    with _guard(tracking_uri, f"search versions of model {model_name!r}"):
        return _find_by_run(_client(tracking_uri), query, run_id)


def register_model_version(
    tracking_uri: str,
    model_name: str,
    model_path: str,
    *,
    run_id: str,
    spec_name: str,
    spec_version: str,
    gate_reports: list[GateReport],
    metrics: dict[str, float],
    tags: dict[str, str] | None = None,
    git_commit: str | None = None,
    reference_path: str | None = None,
    tracking_run: str | None = None,
) -> str:
    """Register `model_path` as a new version with all mlspec tags; return its version number.

    Idempotent per `run_id`: a retried step returns the version the first attempt registered.
    `tracking_run` (a tracked pipeline, runtime/lineage.py): the version records the model
    file's sha256 and, unless it is "" (tracking unavailable), points back to that MLflow run:
    its source run and a tag. A registry that refuses the link gets the version without it.
    """
    source = _source(model_path)
    query = _run_query(model_name, run_id)
    version_tags = _version_tags(
        run_id=run_id,
        spec_name=spec_name,
        spec_version=spec_version,
        gate_reports=gate_reports,
        metrics=metrics,
        tags=tags,
        git_commit=git_commit,
    )
    if reference_path is not None:
        version_tags[REGISTRY_TAG_REFERENCE] = _source(reference_path)
    if tracking_run is not None:
        version_tags.update(_lineage_tags(model_path, tracking_run))
    description = f"mlspec spec {spec_name} {spec_version}, run {run_id}"
    with _guard(tracking_uri, f"register a version of model {model_name!r}"):
        client = _client(tracking_uri)
        _ensure_model(client, model_name)
        existing = _find_by_run(client, query, run_id)
        if existing is not None:
            return existing
        # Tags are written with the version in one call, so no version exists without its run id.
        # Two concurrent attempts of one run could still both register: runs are not concurrent.
        created = _create_version(
            client, model_name, source, version_tags, description, tracking_run or None
        )
        if created is None:  # the registry refused the link to the tracking run
            # The refused call may have created the version all the same.
            created = _find_by_run(client, query, run_id) or _create_version(
                client, model_name, source, version_tags, description, None
            )
        # Marks the model as having had versions: if all are deleted, it is no first run again.
        client.set_registered_model_tag(model_name, REGISTRY_TAG_SPEC, spec_name)
        return str(created)


def promote(
    tracking_uri: str, model_name: str, version: str, alias: str, required_gates: list[str]
) -> None:
    """Point `alias` at `version` if every gate in `required_gates` is tagged "passed" on it."""
    _check_alias(alias)
    with _guard(tracking_uri, f"promote version {version} of model {model_name!r}"):
        client = _client(tracking_uri)
        found = _get_or_none(lambda: client.get_model_version(model_name, str(version)))
        if found is None:
            raise PromotionRefused(f"model {model_name!r} has no version {version}")
        problems = _gate_problems(found.tags, required_gates)
        if problems:
            raise PromotionRefused(
                f"refusing to set alias {alias!r} on version {version} of model {model_name!r}: "
                + "; ".join(problems)
            )
        model = _get_or_none(lambda: client.get_registered_model(model_name))
        before = None if model is None else model.aliases.get(alias)
        if before is not None and str(before) != str(version):
            # Recorded before the alias moves: a rollback finds where the alias came from.
            client.set_model_version_tag(
                model_name, str(version), REGISTRY_TAG_PREVIOUS_PREFIX + alias, str(before)
            )
        client.set_registered_model_alias(model_name, alias, str(version))  # idempotent


def promote_after_gates(
    tracking_uri: str,
    model_name: str,
    model_path: str,
    *,
    alias: str,
    rule_gates: list[str],
    gate_reports: list[GateReport],
    run_id: str,
    spec_name: str,
    spec_version: str,
    metrics: dict[str, float],
    tags: dict[str, str] | None = None,
    git_commit: str | None = None,
    reference_path: str | None = None,
    tracking_run: str | None = None,
) -> str | None:
    """The pipeline's promotion step: register and promote only if every rule gate passed.

    Returns the promoted version, or None when a rule gate blocked or has no report (then
    nothing is registered, so a blocked model never appears in the registry).
    """
    _check_alias(alias)  # before registering: a bad alias must not leave a stray version
    blocked = _blocked_gates(rule_gates, gate_reports)
    if blocked:
        _log.warning("not promoting %s to %r: %s", model_name, alias, "; ".join(blocked))
        return None
    version = register_model_version(
        tracking_uri,
        model_name,
        model_path,
        run_id=run_id,
        spec_name=spec_name,
        spec_version=spec_version,
        gate_reports=gate_reports,
        metrics=metrics,
        tags=tags,
        git_commit=git_commit,
        reference_path=reference_path,
        tracking_run=tracking_run,
    )
    promote(tracking_uri, model_name, version, alias, rule_gates)
    return version


def resolve_alias(tracking_uri: str, model_name: str, alias: str) -> tuple[str, str]:
    """The version `alias` names and the URI its files can be downloaded from."""
    _check_alias(alias)
    with _guard(tracking_uri, f"resolve alias {alias!r} of model {model_name!r}"):
        client = _client(tracking_uri)
        # From the registered model: a SQL store reports a missing alias as an invalid parameter.
        model = _get_or_none(lambda: client.get_registered_model(model_name))
        version = None if model is None else model.aliases.get(alias)
        if model is None or version is None:
            raise PromotionRefused(f"model {model_name!r} has no alias {alias!r}")
        _expect(model.name, model_name, f"registry {_redact(tracking_uri)}")
        return str(version), client.get_model_version_download_uri(model_name, str(version))


def _client(tracking_uri: str) -> MlflowClient:
    from mlflow import MlflowClient

    _check_sqlite(tracking_uri)
    # An explicit registry URI: MLFLOW_REGISTRY_URI must not send versions somewhere else.
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _check_sqlite(tracking_uri: str) -> None:
    """Refuse a SQLite registry that is not there: MLflow would create the file (and folders)
    or its tables, and a mistyped path would silently be a new, empty registry."""
    if not tracking_uri.startswith("sqlite:"):
        return
    where = f"registry {_redact(tracking_uri)}"
    path = tracking_uri.removeprefix("sqlite:").removeprefix("///").split("?", 1)[0]
    if path in ("", "//", ":memory:"):
        raise RegistryError(f"{where}: an in-memory SQLite registry is empty in every process")
    if not os.path.isfile(path):
        raise RegistryError(f"{where}: the SQLite database file {path} does not exist")
    try:  # read-only: this check must not create or change anything either
        with contextlib.closing(
            sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        ) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.Error as exc:
        raise RegistryError(f"{where}: {path} is not a readable SQLite database: {exc}") from None
    if "registered_models" not in tables:
        raise RegistryError(
            f"{where}: {path} holds no MLflow model registry (no registered_models table)"
        )


@contextlib.contextmanager
def _http_limits() -> Iterator[None]:
    # Process-wide environment: fine for a pipeline step, which makes one call at a time.
    added = [name for name in _HTTP_LIMITS if name not in os.environ]
    for name in added:
        os.environ[name] = _HTTP_LIMITS[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@contextlib.contextmanager
def _guard(tracking_uri: str, action: str) -> Iterator[None]:
    """Bounded HTTP retries; any failure of the registry itself becomes a RegistryError."""
    with _http_limits():
        try:
            yield
        except (RegistryError, PromotionRefused, NoBaseline, ImportError):  # ImportError: no mlflow
            raise
        except Exception as exc:
            error = RegistryError(
                f"registry {_redact(tracking_uri)}: could not {action}: "
                f"{type(exc).__name__}: {_redact(str(exc))}"
            )
            # A chained original would print the URI's credentials in the traceback.
            has_userinfo = _redact(tracking_uri) != tracking_uri
            raise error from (None if has_userinfo else exc)


def _redact(text: str) -> str:
    """Drop userinfo ("user:password@") from every URI in `text`."""
    return _USERINFO.sub("", text)


def _get_or_none(call: Callable[[], _T]) -> _T | None:
    """`call()`, or None when the registry says the resource does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return call()
    except MlflowException as exc:
        # Only this code means "absent": a 404 from a proxy or non-MLflow server is
        # ENDPOINT_NOT_FOUND and must not pass for a first run.
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def _first_run(client: MlflowClient, model: RegisteredModel, alias: str) -> None:
    """None when the model, which no version of holds `alias`, is a first run; else NoBaseline."""
    name = model.name
    if client.search_model_versions(f"name = {_quote(name)}", max_results=1):
        raise NoBaseline(
            f"registered model {name!r} has versions, but none holds alias {alias!r}: it was "
            "never set, or its version was deleted"
        )
    spec = model.tags.get(REGISTRY_TAG_SPEC)
    if spec is not None:
        raise NoBaseline(
            f"registered model {name!r} has no versions, but mlspec registered versions of "
            f"spec {spec!r} into it before: they were deleted"
        )
    return None


def _expect(answered: str, asked: str, where: str) -> None:
    # A proxy or a stub that answers 200 `{}` to everything yields empty objects, not errors.
    if answered != asked:
        raise RegistryError(
            f"{where}: asked for {asked!r}, the answer is about {answered!r}: "
            "this does not answer like an MLflow model registry"
        )


def _lineage_tags(model_path: str, tracking_run: str) -> dict[str, str]:
    from .lineage import VERSION_TAG_MODEL_SHA256, VERSION_TAG_TRACKING_RUN, content_sha256

    tags = {}
    with contextlib.suppress(OSError):  # a URI's files are not here to hash
        tags[VERSION_TAG_MODEL_SHA256] = content_sha256(model_path)
    if tracking_run:
        tags[VERSION_TAG_TRACKING_RUN] = tracking_run
    return tags


def _create_version(
    client: MlflowClient,
    model_name: str,
    source: str,
    tags: dict[str, str],
    description: str,
    tracking_run: str | None,
) -> str | None:
    """The new version's number; None when the registry refuses its link to `tracking_run` (an
    MLflow server checks that a local source lies in the run's artifacts): tracking must not
    decide whether a model is promoted, so the caller registers it unlinked (the version's
    VERSION_TAG_TRACKING_RUN tag still names the run)."""
    from mlflow.exceptions import MlflowException

    from .lineage import tracking_line

    try:
        created = client.create_model_version(
            model_name, source, run_id=tracking_run, tags=tags, description=description
        )
    except MlflowException as exc:
        if tracking_run is None:
            raise
        problem = f"a version of {model_name!r} cannot name run {tracking_run} as its source: {exc}"
        tracking_line("register", False, _redact(problem))
        return None
    return str(created.version)  # int from a SQL store, str over REST


def _ensure_model(client: MlflowClient, model_name: str) -> None:
    from mlflow.exceptions import MlflowException

    if _get_or_none(lambda: client.get_registered_model(model_name)) is not None:
        return
    try:
        client.create_registered_model(model_name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":  # created meanwhile by another run
            raise


def _run_query(model_name: str, run_id: str) -> str:
    run_tag = f"tags.`{REGISTRY_TAG_RUN_ID}`"
    return f"name = {_quote(model_name)} AND {run_tag} = {_quote(run_id)}"


def _find_by_run(client: MlflowClient, query: str, run_id: str) -> str | None:
    versions = [
        int(v.version)
        for v in client.search_model_versions(query)
        if v.tags.get(REGISTRY_TAG_RUN_ID) == run_id  # the filter's quoting is easy to get wrong
    ]
    return str(min(versions)) if versions else None


def _quote(value: str) -> str:
    # MLflow's filter parser has no escapes: "name = 'it''s'" silently matches nothing.
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ValueError(f"{value!r} holds both quote characters; the registry cannot search for it")


def _check_alias(alias: str) -> None:
    if not _ALIAS.match(alias) or _RESERVED_ALIAS.match(alias):
        raise ValueError(
            f"invalid alias {alias!r}: use letters, digits, '_' and '-'; "
            "'latest' and 'v<digits>' are reserved by the registry"
        )


def _source(model_path: str) -> str:
    """The model version source for a local artifact path (URIs pass through unchanged).

    A SQL-backed registry stores any source string unchecked, even a relative path that no
    other machine could resolve, so it becomes an absolute file:// URI here. An MLflow server
    (REST) rejects local sources unless an MLflow run that contains them is given: there, pass
    the URI of an uploaded artifact (s3://, gs://, mlflow-artifacts:/, models:/, runs:/...).
    """
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:/", model_path):  # a scheme of 2+ letters, not "C:/"
        return model_path
    if not os.path.exists(model_path):
        raise FileNotFoundError(f"model artifact {model_path!r} does not exist")
    return Path(model_path).resolve().as_uri()


def _version_tags(
    *,
    run_id: str,
    spec_name: str,
    spec_version: str,
    gate_reports: list[GateReport],
    metrics: dict[str, float],
    tags: dict[str, str] | None,
    git_commit: str | None,
) -> dict[str, str]:
    forged = sorted(k for k in tags or {} if k.startswith("mlspec."))
    if forged:  # a user tag must not be able to claim a gate verdict
        raise ValueError(f"user tags may not use the reserved prefix 'mlspec.': {forged}")
    result = {str(k): str(v) for k, v in (tags or {}).items()}
    result[REGISTRY_TAG_SPEC] = spec_name
    result[REGISTRY_TAG_SPEC_VERSION] = str(spec_version)
    result[REGISTRY_TAG_RUN_ID] = run_id
    if git_commit:
        result[REGISTRY_TAG_GIT_COMMIT] = git_commit
    for report in gate_reports:
        key = REGISTRY_TAG_GATE_PREFIX + report.gate
        # A gate reported twice passes only if every report passed.
        blocked = result.get(key) == REGISTRY_GATE_BLOCKED or not report.passed
        result[key] = REGISTRY_GATE_BLOCKED if blocked else REGISTRY_GATE_PASSED
    for name, value in metrics.items():
        result[REGISTRY_TAG_METRIC_PREFIX + name] = _format_metric(value)
    return result


def _format_metric(value: float) -> str:
    """Shortest round-trip decimal: 0.9731 -> "0.9731", 1e-05 -> "0.00001"; no exponent."""
    number = float(value)  # numpy scalars would otherwise tag as "np.float64(0.97)"
    if not math.isfinite(number):
        return str(number)  # "nan", "inf", "-inf": float() reads them back
    return format(Decimal(repr(number)), "f")


def _parse_metrics(
    tracking_uri: str, model_name: str, version: str, tags: dict[str, str]
) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for key, value in tags.items():
        if not key.startswith(REGISTRY_TAG_METRIC_PREFIX):
            continue
        try:
            metrics[key.removeprefix(REGISTRY_TAG_METRIC_PREFIX)] = float(value)
        except ValueError:
            # Fail closed: a champion metric that cannot be read must not be skipped silently.
            raise RegistryError(
                f"registry {_redact(tracking_uri)}: version {version} of model "
                f"{model_name!r} has a non-numeric metric tag {key}={value!r}"
            ) from None
    return metrics


def _gate_problems(version_tags: dict[str, str], required_gates: list[str]) -> list[str]:
    problems = []
    for gate in dict.fromkeys(required_gates):
        verdict = version_tags.get(REGISTRY_TAG_GATE_PREFIX + gate)
        if verdict is None:
            problems.append(f"gate {gate!r} is missing")
        elif verdict != REGISTRY_GATE_PASSED:
            problems.append(f"gate {gate!r} is {verdict!r}, not 'passed'")
    return problems


def _blocked_gates(rule_gates: list[str], gate_reports: list[GateReport]) -> list[str]:
    blocked = []
    for gate in dict.fromkeys(rule_gates):
        reports = [r for r in gate_reports if r.gate == gate]
        if not reports:
            blocked.append(f"gate {gate!r} has no report")
        for report in (r for r in reports if not r.passed):
            failed = [_describe_check(c) for c in report.checks if not c.passed]
            why = ", ".join(([report.reason] if report.reason else []) + failed)
            blocked.append(f"gate {gate!r} blocked" + (f" ({why})" if why else ""))
    return blocked


def _describe_check(check: CheckResult) -> str:
    measured = "n/a" if check.measured is None else f"{check.measured:.6g}"
    return f"{check.check} {check.subject} measured {measured}, needs {check.threshold}"
