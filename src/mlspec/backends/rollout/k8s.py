"""Kubernetes documents as plain dicts, in Kubernetes key order, and their YAML text.

Documents are built with keys already in the conventional order (apiVersion, kind, metadata,
spec; name, namespace, labels, annotations), and mlspec's YAML emitter keeps insertion order, so
the output reads like a hand-written manifest and is the same bytes on every run.
"""

from __future__ import annotations

from typing import Any

from mlspec.backends import yamlout

Doc = dict[str, Any]

MANAGED_BY = {"app.kubernetes.io/managed-by": "mlspec"}


def document(
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None,
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    spec: Doc | None = None,
) -> Doc:
    metadata: Doc = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    doc: Doc = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    if spec is not None:
        doc["spec"] = spec
    return doc


def duration(seconds: int) -> str:
    """A Go duration string in the largest whole unit: 600 -> '10m', 90 -> '90s'."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def to_yaml(doc: Doc) -> str:
    return yamlout.dump(doc)


def file_name(doc: Doc) -> str:
    return f"{doc['kind'].lower()}-{doc['metadata']['name']}.yaml"
