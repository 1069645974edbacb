"""Version discipline: MAJOR.MINOR.PIPELINE, and the smallest bump a set of changes requires.

MAJOR: the data contract or the target changed (a dataset's required columns, a removed step
output, another registered model). MINOR: the model changed (the step that trains it, its
parameters, what is registered). PIPELINE: anything else that changes what runs or what is
promoted and rolled out. Bookkeeping (owners, labels, descriptions) needs no bump.
"""

from __future__ import annotations

from mlspec.diff.model import BUMPS, Bump, Change


def parse(version: str) -> tuple[int, int, int]:
    major, minor, pipeline = (int(part) for part in version.split("."))
    return major, minor, pipeline


def required(changes: list[Change]) -> Bump | None:
    present = {c.bump for c in changes}
    return next((bump for bump in BUMPS if bump in present), None)


def smallest(old: str, bump: Bump) -> str:
    """The smallest version after `old` that makes a `bump`: 1.4.2 + minor -> 1.5.0."""
    major, minor, pipeline = parse(old)
    if bump == "major":
        return f"{major + 1}.0.0"
    if bump == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{pipeline + 1}"


def check(old: str, new: str, changes: list[Change]) -> Change | None:
    """A risky change when `new` is not bumped enough for `changes` (or went backwards)."""
    if parse(new) < parse(old):
        return Change(
            "version",
            f"{old} -> {new}: lower than before",
            "risky",
            "registered versions and deployments would go backwards",
            None,
        )
    need = required(changes)
    if need is None or parse(new) >= parse(smallest(old, need)):
        return None
    moved = f"{old} unchanged" if new == old else f"{old} -> {new}"
    return Change(
        "version",
        f"{moved}: needs at least {smallest(old, need)} ({need.upper()} bump)",
        "risky",
        _why(need, changes),
        None,
    )


def _why(need: Bump, changes: list[Change]) -> str:
    first = next(c for c in changes if c.bump == need)
    return f"required by {first.subject}: {first.summary}"
