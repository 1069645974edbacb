"""The JSON patch (RFC 6902) that turns one manifest into another: what an overlay says.

Only what differs becomes an operation: a mapping is compared key by key, a list item by item
(extra items are appended or removed from the end), anything else is replaced. Applied in order
to the first document, the operations give the second exactly; kustomize applies them so.
"""

from __future__ import annotations

from typing import Any

Op = dict[str, Any]


def diff(old: Any, new: Any, path: str = "") -> list[Op]:
    if isinstance(old, dict) and isinstance(new, dict):
        ops = [
            op
            for key, value in new.items()
            for op in (
                diff(old[key], value, f"{path}/{pointer(key)}")
                if key in old
                else [{"op": "add", "path": f"{path}/{pointer(key)}", "value": value}]
            )
        ]
        return ops + [{"op": "remove", "path": f"{path}/{pointer(k)}"} for k in old if k not in new]
    if isinstance(old, list) and isinstance(new, list):
        common = min(len(old), len(new))
        ops = [op for i in range(common) for op in diff(old[i], new[i], f"{path}/{i}")]
        ops += [{"op": "add", "path": f"{path}/-", "value": value} for value in new[common:]]
        ops += [{"op": "remove", "path": f"{path}/{i}"} for i in reversed(range(common, len(old)))]
        return ops
    if old == new and type(old) is type(new):
        return []
    return [{"op": "replace", "path": path, "value": new}]


def pointer(key: str) -> str:
    """A key as a JSON pointer segment: labels such as app.kubernetes.io/name hold a '/'."""
    return key.replace("~", "~0").replace("/", "~1")
