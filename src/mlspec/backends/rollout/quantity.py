"""Resource quantities in Kubernetes' canonical form ('0.5' -> '500m', '1024Mi' -> '1Gi').

The API server stores core objects' quantities canonically, and KServe's webhook rewrites its
InferenceService the same way; Argo CD compares custom resources as raw strings, so a quantity
written any other way would show as drift forever. Written canonically, git and cluster agree.
"""

from __future__ import annotations

import math
from decimal import Decimal

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


def cpu(value: str) -> str:
    """'0.5' -> '500m', '1000m' -> '1', '1.25' -> '1250m'."""
    millis = Decimal(value[:-1]) if value.endswith("m") else Decimal(value) * 1000
    return f"{millis // 1000}" if millis % 1000 == 0 else f"{millis.normalize():f}m"


def memory(value: str) -> str:
    """'1024Mi' -> '1Gi', '1.5Gi' -> '1536Mi', '1000M' -> '1G', '2000' -> '2k'."""
    suffix = value.lstrip("0123456789.")
    units = _BINARY if suffix in _BINARY else _DECIMAL
    size = Decimal(value[: len(value) - len(suffix)]) * units.get(suffix, 1)
    for name, factor in sorted(units.items(), key=lambda item: -item[1]):
        if size % factor == 0:
            return f"{size // factor}{name}"
    return str(math.ceil(size))  # Kubernetes rounds fractional bytes up
