"""Strict offline validation of Kubernetes manifests, for the rollout back end's tests.

Custom resources (Argo Rollouts, Flagger, KServe, Istio) are validated against the
`openAPIV3Schema` of the published CRDs vendored in `schemas/crds/` (see SOURCES.md there),
converted to strict JSON Schema draft 4:

- `nullable: true` admits null; `x-kubernetes-int-or-string: true` admits an integer or a string;
- an object that lists `properties`, or lists neither `properties` nor `additionalProperties`,
  gets `additionalProperties: false` unless it sets `x-kubernetes-preserve-unknown-fields`: the
  API server silently prunes unknown fields, so a typo such as `setWieght` would otherwise vanish.
  Sub-schemas under `oneOf`/`anyOf`/`allOf`/`not` only add value checks (Kubernetes prunes by the
  structural part alone), so they never get it;
- the top-level `metadata` (the CRDs just say `type: object`) is checked as an ObjectMeta, and
  top-level `apiVersion` and `kind` are always allowed (Istio's CRDs do not list them);
- `x-kubernetes-list-type` `set` and `map` reject duplicate entries, as the API server does;
- `x-kubernetes-validations` (CEL) rules are not evaluated in general: the few rules that these
  CRDs use have Python equivalents in `KNOWN_RULES`; transition rules (`oldSelf`) only apply to
  updates. `test_crds.py` fails when a CRD brings a rule that is in neither table.

Core objects are validated with the strict schemas that the `kubernetes-validate` package ships
(no network), for Kubernetes `K8S_VERSION`.

Every function returns a list of messages, each led by the JSON path of the offending value
(`spec.strategy.canary.steps[0].setWieght: unknown field`); an empty list means valid.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
# Vendored into the repository (see schemas/crds/SOURCES.md): nothing outside it is read.
CRD_DIR = ROOT / "schemas" / "crds"
CRD_DIR_ENV = "MLSPEC_CRDS"

# API groups whose objects are custom resources with a CRD in CRD_DIR; all others are core.
CUSTOM_GROUPS = frozenset(
    {"argoproj.io", "flagger.app", "serving.kserve.io", "networking.istio.io"}
)

# Kubernetes version of the core schemas. 1.30 matches the kubernetes client that kfp pins
# (30.x); a manifest valid against it uses no field newer than 1.30.
K8S_VERSION = "1.30.0"

# The C parser loads the 3 MB of CRDs in about a second; the pure-Python one takes far longer.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SchemaNotFoundError(LookupError):
    """No schema for a document's apiVersion and kind: a test bug or an unsupported object."""


# ---------------------------------------------------------------------------------------------
# Finding and loading the CRDs


def crd_dir() -> Path:
    """The CRD folder: $MLSPEC_CRDS if set, else CRD_DIR; FileNotFoundError if it is missing."""
    override = os.environ.get(CRD_DIR_ENV)
    directory = Path(override) if override else CRD_DIR
    if not directory.is_dir():
        raise FileNotFoundError(
            f"CRD folder {directory} not found: the published CRDs are vendored in schemas/crds/ "
            f"(see SOURCES.md there); set {CRD_DIR_ENV} to point elsewhere"
        )
    return directory


@functools.cache
def _crd_index(directory: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the version's openAPIV3Schema, for every served version."""
    index: dict[tuple[str, str], dict[str, Any]] = {}
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not files:
        raise FileNotFoundError(f"no CRD files (*.yaml) in {directory}")
    for path in files:
        for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                if not version.get("served", False):
                    continue
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                if key in index:
                    raise ValueError(f"{key} is defined twice in {directory}")
                index[key] = version["schema"]["openAPIV3Schema"]
    return index


def custom_resource_types() -> list[tuple[str, str]]:
    """Every (apiVersion, kind) that validate_custom_resource knows, sorted."""
    return sorted(_crd_index(crd_dir()))


# ---------------------------------------------------------------------------------------------
# OpenAPI v3 (structural schema) -> strict JSON Schema draft 4

_STRING: dict[str, Any] = {"type": "string"}
_STRING_MAP: dict[str, Any] = {"type": "object", "additionalProperties": _STRING}

# io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta, which the API server applies to the top-level
# metadata of every custom resource. test_crds.py checks the field names against the core schemas.
OBJECT_META: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": _STRING,
        "generateName": _STRING,
        "namespace": _STRING,
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
        "finalizers": {"type": "array", "items": _STRING},
        "ownerReferences": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["apiVersion", "kind", "name", "uid"],
                "properties": {
                    "apiVersion": _STRING,
                    "kind": _STRING,
                    "name": _STRING,
                    "uid": _STRING,
                    "controller": {"type": "boolean"},
                    "blockOwnerDeletion": {"type": "boolean"},
                },
            },
        },
        "uid": _STRING,
        "resourceVersion": _STRING,
        "selfLink": _STRING,
        "generation": {"type": "integer"},
        # Serialized Go objects carry `creationTimestamp: null`.
        "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": _STRING,
        "deletionGracePeriodSeconds": {"type": "integer"},
        "managedFields": {"type": "array", "items": {"type": "object"}},
    },
}

_JUNCTORS = ("allOf", "anyOf", "oneOf")
_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]


def _convert(node: Any, structural: bool) -> Any:
    """One schema node made strict; `structural` is False under oneOf/anyOf/allOf/not."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "description":
            continue  # only weight here
        if key in ("properties", "patternProperties"):
            out[key] = {name: _convert(sub, structural) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _convert(value, structural)
        elif key in _JUNCTORS:
            out[key] = [_convert(sub, False) for sub in value]
        elif key == "not":
            out[key] = _convert(value, False)
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        # The CRD says anyOf [integer, string]; a type list gives the same verdict, clearer errors.
        out["type"] = ["integer", "string"]
        if out.get("anyOf") == _INT_OR_STRING_ANY_OF:
            del out["anyOf"]
    if node.get("nullable") and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if (
        structural
        and out.get("type") == "object"
        and "additionalProperties" not in out
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        # Listed properties only; an object with neither properties nor additionalProperties is
        # pruned empty by the API server, so any field in it is unknown too.
        out["additionalProperties"] = False
    return out


@functools.cache
def _strict_schema(directory: Path, api_version: str, kind: str) -> dict[str, Any]:
    index = _crd_index(directory)
    if (api_version, kind) not in index:
        known = ", ".join(f"{a} {k}" for a, k in sorted(index))
        raise SchemaNotFoundError(
            f"no CRD in {directory} serves apiVersion {api_version!r} kind {kind!r}; known: {known}"
        )
    schema = _convert(index[(api_version, kind)], structural=True)
    # The API server accepts apiVersion, kind and metadata on every object, listed or not
    # (Istio's CRDs list spec and status only).
    properties = schema.setdefault("properties", {})
    properties.setdefault("apiVersion", _STRING)
    properties.setdefault("kind", _STRING)
    properties["metadata"] = OBJECT_META
    schema["additionalProperties"] = False
    return schema


def strict_schema(api_version: str, kind: str) -> dict[str, Any]:
    """The strict JSON Schema (draft 4) for a custom resource type; SchemaNotFoundError if none."""
    return _strict_schema(crd_dir(), api_version, kind)


# ---------------------------------------------------------------------------------------------
# Kubernetes extensions that jsonschema does not know

_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0}
_DURATION_UNITS |= {"m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def go_duration(text: str) -> float | None:
    """Seconds in a Go duration string ("1h30m", "1.5s", "0"), as CEL's duration() reads it."""
    sign = -1.0 if text.startswith("-") else 1.0
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    total, position = 0.0, 0
    while position < len(body):
        match = _DURATION_PART.match(body, position)
        if match is None:
            return None
        total += float(match[1]) * _DURATION_UNITS[match[2]]
        position = match.end()
    return sign * total if body else None


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


# CEL rules of the CRDs in CRD_DIR, as Python predicates over the value (defaults applied). A
# value of the wrong type passes: the schema's `type` reports it already.
KNOWN_RULES: dict[str, Callable[[Any], bool]] = {
    # Istio durations (timeout, perTryTimeout, interval, ...).
    "duration(self) >= duration('1ms')": lambda v: (
        not _is_str(v) or ((d := go_duration(v)) is not None and d >= 1e-3)
    ),
    # Istio workloadSelector.matchLabels.
    'self.all(key, !key.contains("*"))': lambda v: (
        not isinstance(v, Mapping) or all("*" not in k for k in v)
    ),
    "self.all(key, key.size() != 0)": lambda v: not isinstance(v, Mapping) or all(k for k in v),
    '!self.contains("*")': lambda v: not _is_str(v) or "*" not in v,
    # Flagger service.mirror[].backendRef (group defaults to "", kind to Service).
    "(size(self.group) == 0 && self.kind == 'Service') ? has(self.port) : true": lambda v: (
        not isinstance(v, Mapping)
        or not (v.get("group") == "" and v.get("kind") == "Service")
        or "port" in v
    ),
}
# Rules that compare with the stored object: they only apply to updates, never to a new manifest.
TRANSITION_RULES = frozenset({"self == oldSelf"})


def _with_defaults(instance: Any, schema: Mapping[str, Any]) -> Any:
    """The API server applies defaults before it evaluates CEL rules."""
    if not isinstance(instance, Mapping):
        return instance
    defaults = {
        name: sub["default"]
        for name, sub in schema.get("properties", {}).items()
        if isinstance(sub, Mapping) and "default" in sub
    }
    return {**defaults, **instance}


def _check_cel(
    validator: Any, rules: list[dict[str, Any]], instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    value = _with_defaults(instance, schema)
    for rule in rules:
        check = KNOWN_RULES.get(rule["rule"])
        if check is not None and not check(value):
            yield ValidationError(f"{rule.get('message') or rule['rule']} ({instance!r})")


def _check_list_type(
    validator: Any, list_type: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not isinstance(instance, list) or list_type not in ("set", "map"):
        return
    keys = schema.get("x-kubernetes-list-map-keys", [])
    items = schema.get("items", {})
    item_props = items.get("properties", {}) if isinstance(items, Mapping) else {}
    seen: set[str] = set()
    for i, item in enumerate(instance):
        if list_type == "set":
            identity: Any = item
        elif isinstance(item, Mapping):
            identity = {k: item.get(k, item_props.get(k, {}).get("default")) for k in keys}
        else:
            continue
        token = json.dumps(identity, sort_keys=True, default=str)
        if token in seen:
            yield ValidationError(
                f"duplicate entry {identity!r} in a list of type {list_type}", path=[i]
            )
        seen.add(token)


_CrdValidator = jsonschema.validators.extend(
    jsonschema.Draft4Validator,
    {"x-kubernetes-validations": _check_cel, "x-kubernetes-list-type": _check_list_type},
)


@functools.cache
def _crd_validator(directory: Path, api_version: str, kind: str) -> Any:
    return _CrdValidator(_strict_schema(directory, api_version, kind))


# ---------------------------------------------------------------------------------------------
# Core objects: kubernetes-validate's strict schemas


@functools.cache
def _core_schema_dir(version: str) -> Any:
    base = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    folder = base / f"v{version}-local-strict"
    if not folder.is_dir():
        shipped = sorted(p.name for p in base.iterdir() if p.name.endswith("-local-strict"))
        raise SchemaNotFoundError(f"kubernetes-validate has no schemas for {version}: {shipped}")
    return folder


@functools.cache
def _core_registry(version: str) -> Registry:
    folder = _core_schema_dir(version)
    definitions = json.loads((folder / "_definitions.json").read_text(encoding="utf-8"))
    return Resource.from_contents(definitions) @ Registry()


@functools.cache
def _core_validator(version: str, api_version: str, kind: str) -> Any:
    # Same file naming as kubernetes_validate.validate: rbac.authorization.k8s.io/v1 -> rbac-v1.
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _core_schema_dir(version) / f"{kind.lower()}-{api}.json"
    if not path.is_file():
        raise SchemaNotFoundError(
            f"kubernetes-validate has no {version} schema for apiVersion {api_version!r} "
            f"kind {kind!r}"
        )
    schema = json.loads(path.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, registry=_core_registry(version))


# ---------------------------------------------------------------------------------------------
# Messages

_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_MAX_MESSAGE = 240


def format_path(path: Iterable[str | int]) -> str:
    """JSON path as `spec.steps[0].setWeight`; keys that are not identifiers are quoted."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text or "(root)"


def _describe(alternative: Any) -> str:
    if isinstance(alternative, Mapping) and set(alternative) == {"required"}:
        return "+".join(alternative["required"])
    if isinstance(alternative, Mapping) and set(alternative) == {"not"}:
        return "none"
    return json.dumps(alternative, default=str)[:80]


def _messages(error: ValidationError) -> list[str]:
    where = format_path(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False:
        listed = error.schema.get("properties", {})
        patterns = error.schema.get("patternProperties", {})
        unknown = [
            key
            for key in error.instance
            if key not in listed and not any(re.search(p, key) for p in patterns)
        ]
        return [f"{format_path([*error.absolute_path, key])}: unknown field" for key in unknown]
    if error.validator in ("oneOf", "anyOf"):
        options = " | ".join(_describe(alt) for alt in error.validator_value)
        if error.validator == "oneOf" and "is valid under each of" in error.message:
            return [f"{where}: matches more than one of the alternatives ({options})"]
        # Name the nearest failure inside the alternatives too: often the real mistake.
        best = jsonschema.exceptions.best_match(error.context) if error.context else None
        hint = f"; e.g. {_messages(best)[0]}" if best is not None else ""
        return [f"{where}: matches none of the alternatives ({options}){hint}"]
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return [f"{where}: {message}"]


def _errors(validator: Any, doc: Mapping[str, Any]) -> list[str]:
    messages: list[str] = []
    for error in validator.iter_errors(doc):
        messages.extend(_messages(error))
    return sorted(messages)


def _api_version_and_kind(doc: Any) -> tuple[str, str]:
    if not isinstance(doc, Mapping):
        raise TypeError(f"a manifest is a mapping, not {type(doc).__name__}")
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise SchemaNotFoundError(f"manifest without apiVersion and kind strings: {doc!r:.200}")
    return api_version, kind


# ---------------------------------------------------------------------------------------------
# Public entry points


def validate_custom_resource(doc: Mapping[str, Any]) -> list[str]:
    """Errors of a custom resource against its CRD, strict; SchemaNotFoundError if no CRD."""
    api_version, kind = _api_version_and_kind(doc)
    return _errors(_crd_validator(crd_dir(), api_version, kind), doc)


def validate_core(doc: Mapping[str, Any], version: str = K8S_VERSION) -> list[str]:
    """Errors of a core Kubernetes object (strict kubernetes-validate schemas for `version`)."""
    api_version, kind = _api_version_and_kind(doc)
    return _errors(_core_validator(version, api_version, kind), doc)


def is_custom_resource(doc: Mapping[str, Any]) -> bool:
    api_version, _ = _api_version_and_kind(doc)
    return api_version.rpartition("/")[0] in CUSTOM_GROUPS


def validate(doc: Mapping[str, Any]) -> list[str]:
    """Errors of any manifest: against its CRD for CUSTOM_GROUPS, else as a core object."""
    return validate_custom_resource(doc) if is_custom_resource(doc) else validate_core(doc)


def validate_documents(docs: Iterable[Mapping[str, Any] | None]) -> list[str]:
    """Errors of a stream of manifests (empty YAML documents skipped), led by `Kind/name:`."""
    messages: list[str] = []
    for doc in docs:
        if doc is None:
            continue
        name = (doc.get("metadata") or {}).get("name", "?")
        messages.extend(f"{doc.get('kind')}/{name}: {message}" for message in validate(doc))
    return messages
