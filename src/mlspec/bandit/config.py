"""The bandit controller's configuration: written by the rollout back end into a ConfigMap,
read by `mlspec bandit-controller --config FILE` and by `mlspec simulate`.

One JSON document. Reward and guardrail queries are PromQL with `$arm` (and, for a contextual
bandit, `$segment`) left in; the controller substitutes them per arm and segment.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from mlspec.bandit.policy import Algorithm

DEFAULT_SEGMENT = "default"  # the route for requests outside every listed segment
STATE_ANNOTATION = "mlspec.dev/bandit-state"
NO_DATA_PAUSE_INTERVALS = 3  # the default: 15 minutes blind at the default interval of 5m


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
        data = json.loads(text)
        data["guardrails"] = tuple(Guardrail(**g) for g in data.get("guardrails", ()))
        data["segments"] = tuple(data.get("segments", ()))
        return cls(**data)
