"""The pipelines a trigger can name: the specs in the same folder as the spec.

A trigger `pipeline: {name: X}` waits for another pipeline's promotion; that pipeline's spec
must sit beside this one (one folder per team or product is how specs are kept in a GitOps
repository), so a typo is an error at the trigger, not a run that never starts. Only each
sibling's name and promotion aliases are read, within the bounds of a spec file.
"""

from __future__ import annotations

import re
from pathlib import Path

from mlspec.compiler import source
from mlspec.diagnostics import SpecError

MAX_SIBLINGS = 500
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DECLARES = re.compile(rb"^apiVersion:[ \t]*(['\"]?)mlspec/v1\1[ \t]*(#.*)?\r?$", re.MULTILINE)


def pipelines_beside(spec_file: str) -> dict[str, frozenset[str]]:
    """metadata.name -> the aliases its registry promotes to, of each spec beside `spec_file`
    (itself included); files that cannot be read or parsed are left out."""
    folder = Path(spec_file).parent
    found: dict[str, frozenset[str]] = {}
    try:
        candidates = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))
    except OSError:
        return found
    for path in candidates[:MAX_SIBLINGS]:
        try:  # read and composed within a spec's bounds (size, file kind, aliases, depth)
            raw = source.read_bytes(path)
            if not _DECLARES.search(raw):
                continue
            data = source.load_bytes(raw, str(path)).data
        except (OSError, SpecError):
            continue
        name = _get(data, "metadata", "name")
        if isinstance(name, str) and _NAME.fullmatch(name):
            rules = _get(data, "registry", "promote")
            aliases = (
                {r.get("alias") for r in rules if isinstance(r, dict)}
                if isinstance(rules, list)
                else set()
            )
            found[name] = frozenset(a for a in aliases if isinstance(a, str))
    return found


def _get(data: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
