"""The bandit controller's configuration: written by the rollout back end into a ConfigMap,
read by `mlspec bandit-controller --config FILE` and by `mlspec simulate`.

One JSON document. Reward and guardrail queries are PromQL with `$arm` (and, for a contextual
bandit, `$segment`) left in; the controller substitutes them per arm and segment. A file that is
not such a document (not JSON, a wrong type, a value out of range) is a ConfigError naming the
key, before the controller contacts anything.
"""

from __future__ import annotations

import json
import math
import os
import typing
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from mlspec.bandit.policy import Algorithm

DEFAULT_SEGMENT = "default"  # the route for requests outside every listed segment
STATE_ANNOTATION = "mlspec.dev/bandit-state"
NO_DATA_PAUSE_INTERVALS = 3  # the default: 15 minutes blind at the default interval of 5m


class ConfigError(ValueError):
    """The configuration file cannot be read or is not a configuration this controller runs."""


@dataclass(frozen=True)
class Guardrail:
    name: str
    query: str  # PromQL with `$arm`
    min: float | None
    max: float | None

    def breached(self, value: float) -> bool:
        return (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max
        )


@dataclass(frozen=True)
class Config:
    namespace: str
    virtual_service: str
    prometheus: str
    algorithm: Algorithm
    arms: dict[str, str]  # arm -> the host its route destination names
    successes: str  # PromQL per interval: successes of `$arm` (in `$segment`)
    trials: str
    interval_seconds: int
    exploration_floor: int
    max_step: int
    epsilon: float | None = None
    guardrails: tuple[Guardrail, ...] = ()
    stop_p_best: float | None = None
    stop_max_duration_seconds: int | None = None
    context_header: str | None = None  # contextual bandits: the header that picks the segment
    segments: tuple[str, ...] = ()
    seed: int = 0
    # Consecutive intervals an arm may have a guardrail without data before the controller
    # pauses (no weight rises, no route stops) until the data is back: see policy.paused.
    no_data_pause_intervals: int = NO_DATA_PAUSE_INTERVALS

    def route(self, segment: str) -> str:
        """The VirtualService route name that carries a segment's weights."""
        return DEFAULT_SEGMENT if segment == DEFAULT_SEGMENT else f"segment-{segment}"

    @property
    def contextual(self) -> bool:
        return self.context_header is not None

    @property
    def queried_segments(self) -> tuple[str, ...]:
        """Segments whose rewards are queried. A plain bandit has one, `default`; a contextual
        bandit queries each listed segment, and its `default` route (requests in no listed
        segment) is weighted by the pooled evidence of all of them."""
        return self.segments if self.contextual else (DEFAULT_SEGMENT,)

    @property
    def routes(self) -> tuple[str, ...]:
        """Every segment that has a route of its own in the VirtualService."""
        return (*self.segments, DEFAULT_SEGMENT) if self.contextual else (DEFAULT_SEGMENT,)

    def query(self, template: str, arm: str, segment: str) -> str:
        return template.replace("$arm", arm).replace("$segment", segment)

    def to_json(self) -> str:
        data = asdict(self)
        data["guardrails"] = [asdict(g) for g in self.guardrails]
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Config:
        """The configuration in `text`, checked key by key (a ConfigError names the first bad
        one): the controller must never start on a half-understood configuration."""
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ConfigError(f"not JSON: {error}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"expected a JSON object of settings, found {_kind(data)}")
        known = {f.name: f for f in fields(cls)}
        if unknown := sorted(set(data) - set(known)):
            raise ConfigError(f"unknown key {unknown[0]!r}")
        values = {}
        for name, spec in known.items():
            if name in data:
                values[name] = _CHECKS[name](name, data[name])
            elif spec.default is MISSING:
                raise ConfigError(f"{name!r} is missing")
        config = cls(**values)
        config._check_together()
        return config

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Config:
        """`from_json` of a file; one that cannot be read is a ConfigError too."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"cannot read {os.fspath(path)}: {error}") from None
        try:
            return cls.from_json(text)
        except ConfigError as error:
            raise ConfigError(f"{os.fspath(path)}: {error}") from None

    def _check_together(self) -> None:
        if self.exploration_floor * len(self.arms) > 100:
            raise ConfigError(
                f"'exploration_floor' {self.exploration_floor} for {len(self.arms)} arms adds up "
                "to more than 100"
            )
        if (self.algorithm == "epsilon_greedy") != (self.epsilon is not None):
            raise ConfigError("'epsilon' is required by epsilon_greedy and only allowed there")
        if self.contextual != bool(self.segments):
            raise ConfigError("'context_header' and 'segments' go together")


# ---------------------------------------------------------------------------------------------
# Checks of single values, one per key: the JSON value -> the field's value, or ConfigError.


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    names |= {int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name!r} must be a non-empty string, not {_kind(value)}")
    return value


def _optional(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda name, value: None if value is None else check(name, value)


def _whole(low: int, high: int | None = None) -> Callable[[str, Any], int]:
    def check(name: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name!r} must be a whole number, not {_kind(value)}")
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise ConfigError(f"{name!r} must be {bounds}, not {value}")
        return value

    return check


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name!r} must be a finite number, not {value!r}")
    return float(value)


def _between(low: float, high: float) -> Callable[[str, Any], float]:
    def check(name: str, value: object) -> float:
        number = _number(name, value)
        if not low < number < high:
            raise ConfigError(f"{name!r} must be above {low} and below {high}, not {number}")
        return number

    return check


def _algorithm(name: str, value: object) -> str:
    allowed = typing.get_args(Algorithm)
    if value not in allowed:
        raise ConfigError(f"{name!r} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _arms(name: str, value: object) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) < 2:
        raise ConfigError(f"{name!r} must be an object of two or more arm -> host")
    for arm, host in value.items():
        _text(f"{name}.{arm}", host)
    if len(set(value.values())) != len(value):
        raise ConfigError(f"{name!r}: two arms name the same host")
    return dict(value)


def _segments(name: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{name!r} must be a list of strings, not {_kind(value)}")
    return tuple(_text(f"{name}[{i}]", item) for i, item in enumerate(value))


def _guardrails(name: str, value: object) -> tuple[Guardrail, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{name!r} must be a list of guardrails, not {_kind(value)}")
    out = []
    for i, item in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(item, dict) or set(item) != {"name", "query", "min", "max"}:
            raise ConfigError(f"{where} must be an object with name, query, min and max")
        low, high = (_optional(_number)(f"{where}.{k}", item[k]) for k in ("min", "max"))
        if low is None and high is None:
            raise ConfigError(f"{where} needs 'min', 'max' or both")
        query = _text(f"{where}.query", item["query"])
        out.append(Guardrail(_text(f"{where}.name", item["name"]), query, low, high))
    return tuple(out)


_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "namespace": _text,
    "virtual_service": _text,
    "prometheus": _text,
    "algorithm": _algorithm,
    "arms": _arms,
    "successes": _text,
    "trials": _text,
    "interval_seconds": _whole(1),
    "exploration_floor": _whole(0, 50),
    "max_step": _whole(1, 100),
    "epsilon": _optional(_between(0, 1)),
    "guardrails": _guardrails,
    "stop_p_best": _optional(_between(0.5, 1)),
    "stop_max_duration_seconds": _optional(_whole(1)),
    "context_header": _optional(_text),
    "segments": _segments,
    "seed": _whole(-(2**63)),
    "no_data_pause_intervals": _whole(1, 1000),
}
