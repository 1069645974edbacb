"""Promotion across environments: production serves the exact version that passed staging.

A version passed an environment when the alias of the spec's rule that waits for the rollout
(champion) names it there and it carries that rule's promotion record with `rollout: passed`
(`mlspec promote --rollout-passed` wrote it once the rollout there finished), a `passed` tag for
every gate of the rules involved, the spec's name and its model's sha256. Such a version is
registered into the next environment's registered model (on the same server from its
`models:/` URI, as MLflow's copy_model_version does; on another server from the same storage
URI), with its lineage tags and `mlspec.promoted_from.*` tags, in one call: a re-run finds it
and registers nothing twice. Not shipped with compiled pipelines (only `mlspec promote` runs it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from .lineage import (
    VERSION_TAG_MODEL_SHA256,
    VERSION_TAG_PROMOTED_BY_PREFIX,
    content_sha256,
)
from .registry import (
    REGISTRY_TAG_PREVIOUS_PREFIX,
    REGISTRY_TAG_ROLLED_BACK_PREFIX,
    REGISTRY_TAG_SPEC,
    PromotionRefused,
    _check_alias,
    _client,
    _ensure_model,
    _gate_problems,
    _get_or_none,
    _guard,
    _quote,
    _redact,
    promote,
)
from .rollback import REGISTRY_TAG_RESTORED_PREFIX

if TYPE_CHECKING:
    from mlflow import MlflowClient

# + environment, registry, model, version, alias, actor, at: where a version came from
PROMOTED_FROM_PREFIX = "mlspec.promoted_from."
# What happened to the version in the environment it comes from, not in this one: not copied.
_LOCAL_PREFIXES = (
    VERSION_TAG_PROMOTED_BY_PREFIX,
    REGISTRY_TAG_PREVIOUS_PREFIX,
    REGISTRY_TAG_ROLLED_BACK_PREFIX,
    REGISTRY_TAG_RESTORED_PREFIX,
    PROMOTED_FROM_PREFIX,
)


@dataclass(frozen=True)
class Registered:
    """One registry's registered model, as an environment binds it."""

    environment: str
    uri: str
    model: str


@dataclass(frozen=True)
class Handover:
    source_version: str  # the version that passed the source environment
    version: str  # its copy in the target's registered model
    changed: bool  # False: a re-run, the alias already named the copy


def promote_from(
    source: Registered,
    target: Registered,
    *,
    proven_alias: str,
    proven_gates: list[str],
    alias: str,
    gates: list[str],
    spec_name: str,
    promoted_by: dict,
    expected_version: str | None = None,
) -> Handover:
    """Set `alias` in `target` on the version `proven_alias` names in `source`, once it passed
    there (the module's docstring); PromotionRefused, changing nothing, otherwise.
    `promoted_by`: lineage.promotion_record of who promotes, recorded on the copy."""
    _check_alias(proven_alias)
    _check_alias(alias)
    if (source.uri, source.model) == (target.uri, target.model):
        raise PromotionRefused(
            f"environments {source.environment!r} and {target.environment!r} share registered "
            f"model {target.model!r} on one server: give each its own registry.registered_model"
        )
    version, tags, storage, run_id = _proven(
        source, proven_alias, proven_gates + gates, spec_name, expected_version
    )
    copied = {k: v for k, v in tags.items() if not k.startswith(_LOCAL_PREFIXES)}
    origin = {
        "environment": source.environment,
        "registry": _redact(source.uri),
        "model": source.model,
        "version": version,
        "alias": proven_alias,
        "actor": promoted_by.get("actor") or "",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    same_server = source.uri == target.uri
    with _guard(target.uri, f"register version {version} of {source.model!r} in {target.model!r}"):
        client = _client(target.uri)
        found = _copy_of(client, target.model, origin, tags[VERSION_TAG_MODEL_SHA256])
        if found is None:
            _ensure_model(client, target.model)
            created = client.create_model_version(
                target.model,
                f"models:/{source.model}/{version}" if same_server else storage,
                run_id=run_id if same_server else None,
                tags=copied | {PROMOTED_FROM_PREFIX + k: v for k, v in origin.items()},
                description=f"promoted from {source.environment}: {source.model} v{version}",
            )
            found = str(created.version)
            client.set_registered_model_tag(target.model, REGISTRY_TAG_SPEC, spec_name)
        model = client.get_registered_model(target.model)
        changed = str(model.aliases.get(alias)) != found
    if changed:
        promote(target.uri, target.model, found, alias, gates)
        record = json.dumps(promoted_by, sort_keys=True)
        with _guard(target.uri, f"record who promoted version {found}"):
            _client(target.uri).set_model_version_tag(
                target.model, found, VERSION_TAG_PROMOTED_BY_PREFIX + alias, record
            )
    return Handover(version, found, changed)


def require_promoted_from(target: Registered, version: str, source_environment: str) -> None:
    """In an environment that serves only versions proven in `source_environment`: refuse a
    version that was not promoted from there."""
    with _guard(target.uri, f"read version {version} of model {target.model!r}"):
        client = _client(target.uri)
        found = _get_or_none(lambda: client.get_model_version(target.model, str(version)))
    came_from = None if found is None else found.tags.get(PROMOTED_FROM_PREFIX + "environment")
    if came_from != source_environment:
        raise PromotionRefused(
            f"environment {target.environment!r} serves only versions promoted from "
            f"{source_environment!r}, and version {version} of model {target.model!r} "
            + ("does not exist" if found is None else "was not promoted from there")
        )


def _proven(
    source: Registered,
    alias: str,
    gates: list[str],
    spec_name: str,
    expected: str | None,
) -> tuple[str, dict[str, str], str, str | None]:
    """The version that passed `source`: (version, its tags, its storage URI, its run id)."""
    where = f"in environment {source.environment!r}, model {source.model!r}"
    with _guard(source.uri, f"read alias {alias!r} of model {source.model!r}"):
        client = _client(source.uri)
        model = _get_or_none(lambda: client.get_registered_model(source.model))
        version = None if model is None else model.aliases.get(alias)
        if model is None or version is None:
            missing = "does not exist" if model is None else f"has no alias {alias!r}"
            raise PromotionRefused(f"{where} {missing}: no version passed its rollout there")
        version = str(version)
        if expected is not None and str(expected) != version:
            raise PromotionRefused(
                f"{where}: {alias!r} names version {version}, not {expected}: only the version "
                "that passed there now is promoted"
            )
        found = _get_or_none(lambda: client.get_model_version(source.model, version))
        if found is None:
            raise PromotionRefused(f"{where}: {alias!r} names version {version}, which is gone")
        storage = client.get_model_version_download_uri(source.model, version)
    tags = dict(found.tags)
    problems = _unproven(tags, alias, gates, spec_name)
    problems += _changed_files(storage, tags.get(VERSION_TAG_MODEL_SHA256))
    if problems:
        raise PromotionRefused(
            f"refusing version {version} {where}, which {alias!r} names: " + "; ".join(problems)
        )
    return version, tags, storage, found.run_id or None


def _unproven(tags: dict[str, str], alias: str, gates: list[str], spec_name: str) -> list[str]:
    """Why a version's tags do not prove it passed its environment's gates and rollout."""
    problems = []
    record_tag = VERSION_TAG_PROMOTED_BY_PREFIX + alias
    try:
        record = json.loads(tags.get(record_tag) or "null")
    except json.JSONDecodeError:
        record = None
    if not isinstance(record, dict) or record.get("rollout") != "passed":
        problems.append(f"no record that its rollout passed there ({record_tag}: rollout passed)")
    problems += _gate_problems(tags, gates)
    if tags.get(REGISTRY_TAG_SPEC) != spec_name:
        problems.append(f"it was not registered by spec {spec_name!r} ({REGISTRY_TAG_SPEC})")
    if not tags.get(VERSION_TAG_MODEL_SHA256):
        problems.append(f"no {VERSION_TAG_MODEL_SHA256}: its files cannot be vouched for")
    return problems


def _changed_files(storage: str, sha256: str | None) -> list[str]:
    """A local model whose files no longer hash to the version's sha256 is not the one that
    passed (a remote URI's files are not here to hash: its tag travels as it is)."""
    parts = urlsplit(storage)
    path = unquote(parts.path) if parts.scheme == "file" else None
    if sha256 is None or path is None or not os.path.exists(path):
        return []
    found = content_sha256(path)
    if found == sha256:
        return []
    return [f"its files at {storage} changed since (sha256 {found}, the version's {sha256})"]


def _copy_of(
    client: MlflowClient, model_name: str, origin: dict[str, str], sha256: str
) -> str | None:
    """The version of `model_name` an earlier promotion registered from the same version."""
    tag = f"tags.`{PROMOTED_FROM_PREFIX}version`"
    query = f"name = {_quote(model_name)} AND {tag} = {_quote(origin['version'])}"
    same = [
        int(v.version)
        for v in client.search_model_versions(query)
        if all(v.tags.get(PROMOTED_FROM_PREFIX + k) == origin[k] for k in ("environment", "model"))
        and v.tags.get(VERSION_TAG_MODEL_SHA256) == sha256
    ]
    return str(min(same)) if same else None
