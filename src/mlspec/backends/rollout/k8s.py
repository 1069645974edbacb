"""Kubernetes documents as plain dicts, in Kubernetes key order, and their YAML text.

Documents are built with keys already in the conventional order (apiVersion, kind, metadata,
spec; name, namespace, labels, annotations), and the dumper keeps insertion order, so the
output reads like a hand-written manifest and is the same bytes on every run.
"""

from __future__ import annotations

from typing import Any

import yaml

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


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper resolves scalars as YAML 1.1, as Kubernetes (go-yaml) reads them:
    strings such as 'on', 'yes', '1:30' or '0755' are quoted, so they stay strings."""

    def ignore_aliases(self, data: object) -> bool:
        return True  # a dict used twice is written twice, never as a YAML anchor and alias

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent block sequences under their key, as kubectl and most linters do.
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(doc: Doc) -> str:
    return yaml.dump(
        doc,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 16,  # one line per value: long PromQL stays greppable and diffs by line
    )


def file_name(doc: Doc) -> str:
    return f"{doc['kind'].lower()}-{doc['metadata']['name']}.yaml"
