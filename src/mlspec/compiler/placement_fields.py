"""Kubernetes names of step placement, checked as the Kubernetes API checks them.

Label keys and values (node selectors, tolerations) follow apimachinery's IsQualifiedName and
IsValidLabelValue; an accelerator is an extended resource name (IsExtendedResourceName): a
qualified name with a domain outside kubernetes.io.
"""

from __future__ import annotations

import re
from typing import Annotated

from mlspec.compiler.fields import _require_str, _string, _validator, error

_NAME_PART = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)"
_DNS_SUBDOMAIN = r"(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*)"
LABEL_KEY_RE = re.compile(rf"^(?:({_DNS_SUBDOMAIN})/)?({_NAME_PART})$")
LABEL_VALUE_RE = re.compile(rf"^{_NAME_PART}?$")
RESOURCE_NAME_RE = re.compile(rf"^({_DNS_SUBDOMAIN})/({_NAME_PART})$")
NAME_MAX = 63  # the name part of a key, and a value
PREFIX_MAX = 253  # a key's DNS-subdomain prefix
GPU_MODEL_HINT = (
    "the GPU model is a node label: node_selector: {cloud.google.com/gke-accelerator: %s} "
    "(GKE) or {nvidia.com/gpu.product: ...} (NVIDIA GPU feature discovery)"
)


def _qualified(match: re.Match[str] | None) -> bool:
    """The lengths Kubernetes adds to the pattern: prefix <= 253, name <= 63."""
    if match is None:
        return False
    prefix, name = match.group(1), match.group(2)
    return len(name) <= NAME_MAX and (prefix is None or len(prefix) <= PREFIX_MAX)


@_validator(_string(LABEL_KEY_RE.pattern, maxLength=PREFIX_MAX + 1 + NAME_MAX))
def _check_label_key(value: object) -> str:
    value = _require_str(value, "a Kubernetes label key")
    if not _qualified(LABEL_KEY_RE.fullmatch(value)):
        raise error(
            "MS123",
            f"invalid Kubernetes label key {value!r}",
            "a key is [PREFIX/]NAME: NAME at most 63 letters, digits, '-', '_', '.', starting "
            "and ending with a letter or digit; PREFIX a lower-case DNS subdomain "
            "(cloud.google.com/gke-nodepool)",
        )
    return value


@_validator(_string(LABEL_VALUE_RE.pattern, maxLength=NAME_MAX))
def _check_label_value(value: object) -> str:
    value = _require_str(value, "a Kubernetes label value")
    if len(value) > NAME_MAX or not LABEL_VALUE_RE.fullmatch(value):
        raise error(
            "MS123",
            f"invalid Kubernetes label value {value!r}",
            "at most 63 letters, digits, '-', '_', '.', starting and ending with a letter or "
            "digit (or empty)",
        )
    return value


@_validator(_string(RESOURCE_NAME_RE.pattern, maxLength=PREFIX_MAX + 1 + NAME_MAX))
def _check_accelerator_type(value: object) -> str:
    value = _require_str(value, "an accelerator type")
    match = RESOURCE_NAME_RE.fullmatch(value)
    gpu_model = "/" not in value and LABEL_VALUE_RE.fullmatch(value) is not None
    if not _qualified(match):
        raise error(
            "MS123",
            f"invalid accelerator type {value!r}: it is the Kubernetes resource the pod asks "
            "for, DOMAIN/NAME (nvidia.com/gpu, amd.com/gpu, google.com/tpu)",
            GPU_MODEL_HINT % value if gpu_model else None,
        )
    assert match is not None
    domain = match.group(1)
    if domain == "kubernetes.io" or domain.endswith(".kubernetes.io"):
        raise error(
            "MS123",
            f"invalid accelerator type {value!r}: the kubernetes.io domain holds no accelerators",
            "use the device plugin's resource name, e.g. nvidia.com/gpu",
        )
    return value


LabelKey = Annotated[str, _check_label_key]
LabelValue = Annotated[str, _check_label_value]
AcceleratorType = Annotated[str, _check_accelerator_type]
