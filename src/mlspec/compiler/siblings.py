"""The specs a trigger or a monitor can name: the specs in the same folder as the spec.

A trigger `pipeline: {name: X}` waits for another pipeline's promotion, `monitor: {name: Y}`
for a monitor's alarm, and a monitor watches the model a pipeline serves; what they name must
sit beside them (one folder per team or product is how specs are kept in a GitOps repository),
so a typo is an error where it is written, not a run that never starts. Only what those need is
read from each sibling (name, kind, registry), within the bounds of a spec file.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlspec.compiler import source
from mlspec.diagnostics import SpecError

MAX_SIBLINGS = 500
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DECLARES = re.compile(rb"^apiVersion:[ \t]*(['\"]?)mlspec/v1\1[ \t]*(#.*)?\r?$", re.MULTILINE)


@dataclass(frozen=True)
class Sibling:
    """What a spec beside this one declares, as far as triggers and monitors need it."""

    name: str
    path: str  # the spec file, as its folder names it
    kind: str  # "Pipeline" or "Monitor"
    aliases: frozenset[str]  # the aliases its promotion rules set
    registered_model: str | None
    tracking_uri: str | None
    reference: str | None  # registry.reference: the dataset its model learned from
    also: tuple[str, ...] = ()  # other specs beside with the same metadata.name (an error)


@dataclass(frozen=True)
class SpecFolder:
    """The YAML files beside a spec: on disk, or at a git revision (`mlspec diff`'s old side)."""

    names: Callable[[], list[str]]  # the files' labels (paths), sorted
    read: Callable[[str], bytes]  # a file's bytes within a spec's bounds; OSError if unreadable


def disk_folder(spec_file: str) -> SpecFolder:
    folder = Path(spec_file).parent

    def names() -> list[str]:
        try:
            return [str(p) for p in sorted(folder.iterdir()) if p.suffix in (".yaml", ".yml")]
        except OSError:
            return []

    return SpecFolder(names, source.read_bytes)


def specs_beside(src: source.Source) -> dict[str, Sibling]:
    """metadata.name -> what each spec beside `src` (itself included) declares, read from its
    folder (`src.folder`, else the folder of `src.file` on disk); files that cannot be read or
    parsed are left out."""
    folder = src.folder or disk_folder(src.file)
    found: dict[str, Sibling] = {}
    for path in folder.names()[:MAX_SIBLINGS]:
        try:  # read and composed within a spec's bounds (size, file kind, aliases, depth)
            raw = folder.read(path)
            if not _DECLARES.search(raw):
                continue
            data = source.load_bytes(raw, path).data
        except (OSError, SpecError):
            continue
        name = _get(data, "metadata", "name")
        if isinstance(name, str) and _NAME.fullmatch(name):
            if name in found:  # the first file by name stands; the others are named on it
                first = found[name]
                found[name] = dataclasses.replace(first, also=(*first.also, path))
            else:
                found[name] = _sibling(name, path, data)
    return found


def _sibling(name: str, path: str, data: object) -> Sibling:
    rules = _get(data, "registry", "promote")
    aliases = (
        {r.get("alias") for r in rules if isinstance(r, dict)} if isinstance(rules, list) else set()
    )
    return Sibling(
        name=name,
        path=path,
        kind="Monitor" if _get(data, "kind") == "Monitor" else "Pipeline",
        aliases=frozenset(a for a in aliases if isinstance(a, str)),
        registered_model=_text(_get(data, "registry", "mlflow", "registered_model")),
        tracking_uri=_text(_get(data, "registry", "mlflow", "tracking_uri")),
        reference=_text(_get(data, "registry", "reference")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _get(data: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
