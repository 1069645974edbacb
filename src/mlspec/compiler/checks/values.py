"""Whole-spec values: the schedule's time zone, finite numbers, no literal secrets."""

from __future__ import annotations

import math
import zoneinfo

from mlspec.compiler import credentials
from mlspec.compiler.checks.base import Checker
from mlspec.compiler.fields import TIMEZONE_MAX, TIMEZONE_RE
from mlspec.compiler.source import PathKey


def check_schedule(c: Checker) -> None:
    schedule = c.spec.schedule
    if schedule is None:
        return
    if not _known_timezone(schedule.timezone):
        c.error(
            ("schedule", "timezone"),
            "MS104",
            f"unknown time zone {schedule.timezone!r}",
            "use an IANA name, e.g. 'UTC' or 'Europe/Berlin'",
        )


def check_values(c: Checker) -> None:
    """Every value: no NaN or infinity, no literal secret (MS117, see credentials.py)."""
    stack: list[tuple[PathKey, object]] = [((), c.source.data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack += [((*path, k), v) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [((*path, i), v) for i, v in enumerate(value)]
        elif isinstance(value, float) and not math.isfinite(value):
            c.error(
                path,
                "MS104",
                f"{value} is not a finite number",
                "no setting takes NaN or infinity; write a number",
            )
    c.found += credentials.check(c.spec, c.source)


def _known_timezone(name: str) -> bool:
    if len(name) > TIMEZONE_MAX or not TIMEZONE_RE.fullmatch(name):
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
