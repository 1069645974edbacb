"""The spec language v1 as pydantic models: structure and per-field rules.

Rules that need more than one field of one mapping live in model validators here; rules that
follow references across the spec live in `checks.py`. Shorthands (`train.model` for an input,
a plain string for an env value) are expanded by before-validators so that each model has one
canonical shape and pydantic reports one clear error per mistake.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from mlspec.compiler.fields import (
    Alias,
    Cpu,
    Cron,
    DnsName,
    Duration,
    EnvName,
    Image,
    Memory,
    Name,
    Namespace,
    Pause,
    PythonTarget,
    Reference,
    RegisteredModel,
    Requirement,
    RolloutThreshold,
    SecretKey,
    SecretName,
    ServiceName,
    Threshold,
    Version,
    error,
    type_name,
)

API_VERSION = "mlspec/v1"

ScalarType = Literal["float", "int", "str", "bool"]
ArtifactType = Literal["dataset", "model", "metrics", "artifact"]
IOType = Literal["dataset", "model", "metrics", "artifact", "float", "int", "str", "bool"]
ColumnType = Literal["int", "float", "str", "bool"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _exactly_one(model: BaseModel, keys: tuple[str, ...], what: str) -> None:
    """Raise unless exactly one of the fields `keys` is set (reported at the second one).

    Called from after-validators, so that the fields' own errors are all reported first.
    """
    present = [k for k in keys if getattr(model, k.replace("from", "from_")) is not None]
    options = ", ".join(f"'{k}'" for k in keys)
    if len(present) > 1:
        raise error(
            "MS105",
            f"{what} has both '{present[0]}' and '{present[1]}'",
            f"keep exactly one of {options}",
            at=present[1],
        )
    if not present:
        raise error("MS105", f"{what} needs one of {options}", f"add exactly one of {options}")


# --- metadata, params, defaults -------------------------------------------------------------


class Metadata(Model):
    name: DnsName = Field(description="DNS-1123 label; names the pipeline, DAG, flow, deployment.")
    version: Version = Field(description="MAJOR.MINOR.PIPELINE.")
    description: str = ""
    owners: list[str] = Field(default_factory=list)
    labels: dict[
        Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$", max_length=63)],
        # Kubernetes label values: empty, or alphanumeric at both ends, at most 63 characters.
        Annotated[
            str, Field(pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$", max_length=63)
        ],
    ] = Field(default_factory=dict)


class Param(Model):
    type: ScalarType
    default: bool | int | float | str
    description: str = ""


class SecretRef(Model):
    name: SecretName
    key: SecretKey


class EnvValue(Model):
    """One env value: a literal string, a Kubernetes secret, or a pipeline parameter."""

    value: str | None = None
    secret: SecretRef | None = None
    param: Name | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Any:
        _exactly_one(self, ("value", "secret", "param"), "an env value")
        return self


def _expand_env_value(value: Any) -> Any:
    if isinstance(value, str):
        return {"value": value}
    if isinstance(value, bool | int | float) or value is None:
        raise error(
            "MS103",
            f"env values are strings, not {type_name(value)}",
            f'quote it: "{value if value is not None else ""}"',
        )
    return value


EnvEntry = Annotated[
    EnvValue, BeforeValidator(_expand_env_value, json_schema_input_type=str | EnvValue)
]


Env = Annotated[dict[EnvName, EnvEntry], Field(default_factory=dict)]


class Resources(Model):
    cpu: Cpu | None = None
    memory: Memory | None = None
    gpu: Annotated[int, Field(ge=0, le=16)] | None = None


class Defaults(Model):
    image: Image | None = None
    packages: list[Requirement] = Field(default_factory=list)
    retries: Annotated[int, Field(ge=0, le=20)] | None = None
    timeout: Duration | None = None
    caching: bool | None = None
    resources: Resources = Field(default_factory=Resources)
    env: Env


# --- steps ----------------------------------------------------------------------------------


class InputBinding(Model):
    """Where an input comes from: a reference (`train.model`, `params.lr`) or a constant."""

    from_: Reference | None = Field(default=None, alias="from")
    value: bool | int | float | str | None = None
    type: IOType | None = None

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_source(self) -> Any:
        _exactly_one(self, ("from", "value"), "an input")
        return self


def _expand_input(value: Any) -> Any:
    if isinstance(value, str):
        return {"from": value}
    if isinstance(value, bool | int | float):
        return {"value": value}
    if value is None:
        raise error(
            "MS103",
            "an input needs a value",
            "write a reference ('train.model', 'params.lr') or {value: CONSTANT}",
        )
    return value


InputEntry = Annotated[
    InputBinding,
    BeforeValidator(_expand_input, json_schema_input_type=str | int | float | bool | InputBinding),
]


class Container(Model):
    command: list[str] = Field(min_length=1)
    args: list[str] = Field(default_factory=list)


class Step(Model):
    python: PythonTarget | None = Field(default=None, description="module:function to call.")
    container: Container | None = None
    image: Image | None = None
    packages: list[Requirement] = Field(default_factory=list)
    inputs: dict[Name, InputEntry] = Field(default_factory=dict)
    outputs: dict[Name, IOType] = Field(default_factory=dict)
    after: list[Name] = Field(default_factory=list)
    env: Env
    resources: Resources = Field(default_factory=Resources)
    retries: Annotated[int, Field(ge=0, le=20)] | None = None
    timeout: Duration | None = None
    caching: bool | None = None
    description: str = ""

    @model_validator(mode="after")
    def _one_kind(self) -> Any:
        _exactly_one(self, ("python", "container"), "a step")
        return self

    @model_validator(mode="after")
    def _rules(self) -> Step:
        if self.container is not None and self.packages:
            raise error(
                "MS105",
                "'packages' applies to python steps only",
                "install packages in the container image",
                at="packages",
            )
        return self


# --- gates ----------------------------------------------------------------------------------


class Bounds(Model):
    min: Threshold | None = None
    max: Threshold | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Bounds:
        if self.min is None and self.max is None:
            raise error("MS105", "give 'min', 'max' or both", "e.g. {min: 1000}")
        _ordered(self.min, self.max)
        return self


def _ordered(low: Any, high: Any) -> None:
    if isinstance(low, float) and isinstance(high, float) and low > high:
        raise error(
            "MS104",
            f"min {low:g} is greater than max {high:g}",
            "nothing could pass; swap the bounds",
            at="min",
        )


class ColumnBounds(Model):
    column: str = Field(min_length=1)
    min: Threshold | None = None
    max: Threshold | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> ColumnBounds:
        if self.min is None and self.max is None:
            raise error("MS105", "give 'min', 'max' or both", "e.g. {column: age, min: 0}")
        _ordered(self.min, self.max)
        return self


class NullFraction(Model):
    column: str = Field(min_length=1)
    max: Threshold = Field(description="A fraction in 0..1, or params.NAME.")

    @model_validator(mode="after")
    def _fraction(self) -> NullFraction:
        if isinstance(self.max, float) and not 0 <= self.max <= 1:
            raise error(
                "MS104", f"null fraction {self.max:g} is outside 0..1", "e.g. 0.01", at="max"
            )
        return self


class Categories(Model):
    column: str = Field(min_length=1)
    allowed: list[str | int | bool] = Field(min_length=1)


class Drift(Model):
    column: str = Field(min_length=1)
    reference: Reference | None = Field(default=None, description="An upstream dataset output.")
    reference_uri: str | None = Field(default=None, description="A dataset file or URI.")
    method: Literal["psi", "ks"]
    max: Threshold = Field(description="PSI value or KS statistic above which drift fails.")
    bins: Annotated[int, Field(ge=2, le=100)] | None = Field(
        default=None, description="PSI only: equal-frequency bins of the reference (default 10)."
    )

    @model_validator(mode="after")
    def _one_reference(self) -> Any:
        _exactly_one(self, ("reference", "reference_uri"), "a drift check")
        return self

    @model_validator(mode="after")
    def _bins_for_psi(self) -> Drift:
        if self.method == "ks" and self.bins is not None:
            raise error(
                "MS105", "'bins' applies to PSI; the KS test uses no bins", "remove it", at="bins"
            )
        if not isinstance(self.max, float):
            return self
        if self.max <= 0:
            raise error("MS104", f"drift threshold {self.max:g} must be above 0", at="max")
        if self.method == "psi" and self.max >= 10:
            raise error(
                "MS104",
                f"PSI threshold {self.max:g} would accept any drift",
                "PSI above 0.25 is usually read as a major shift",
                at="max",
            )
        if self.method == "ks" and self.max > 1:
            raise error(
                "MS104",
                f"KS statistic threshold {self.max:g} is above 1",
                "the KS statistic lies in 0..1",
                at="max",
            )
        return self


_CHECK_KINDS = ("row_count", "columns", "null_fraction", "range", "categories", "drift")


class DataCheck(Model):
    """One data check; exactly one of its fields is set."""

    row_count: Bounds | None = None
    columns: dict[Annotated[str, Field(min_length=1)], ColumnType] | None = Field(
        default=None, min_length=1
    )
    null_fraction: NullFraction | None = None
    range: ColumnBounds | None = None
    categories: Categories | None = None
    drift: Drift | None = None

    @model_validator(mode="after")
    def _one_check(self) -> Any:
        _exactly_one(self, _CHECK_KINDS, "a data check")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in _CHECK_KINDS if getattr(self, k) is not None)


OnFail = Literal["block", "fail"]


class ModelRequirement(Model):
    metric: Reference
    min: Threshold | None = None
    max: Threshold | None = None
    vs: Alias | None = Field(
        default=None, description="Compare with the version holding this alias, e.g. champion."
    )
    better: Literal["higher", "lower"] | None = None
    tolerance: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _shape(self) -> ModelRequirement:
        if self.vs is None:
            for extra in ("better", "tolerance"):
                if getattr(self, extra) is not None:
                    raise error(
                        "MS105",
                        f"'{extra}' applies to a comparison with the champion",
                        "add 'vs: champion', or remove it",
                        at=extra,
                    )
            if self.min is None and self.max is None:
                raise error(
                    "MS105",
                    "a requirement needs 'min', 'max' or 'vs: champion'",
                    "e.g. {metric: evaluate.auc, min: 0.9}",
                )
            _ordered(self.min, self.max)
        else:
            for extra in ("min", "max"):
                if getattr(self, extra) is not None:
                    raise error(
                        "MS105",
                        f"'{extra}' cannot be combined with 'vs: champion'",
                        "write the threshold as its own requirement",
                        at=extra,
                    )
            if self.better is None:
                raise error(
                    "MS102",
                    "a comparison with the champion needs 'better: higher' or 'better: lower'",
                    "say which direction is an improvement",
                    at="vs",
                )
        return self


class Gate(Model):
    """A data gate (`dataset` + `checks`) or a model gate (`require`)."""

    dataset: Reference | None = Field(default=None, description="Data gate: the dataset output.")
    checks: list[DataCheck] | None = Field(default=None, min_length=1)
    require: list[ModelRequirement] | None = Field(default=None, min_length=1)
    first_run: Literal["pass", "fail"] | None = None
    on_fail: OnFail = "block"
    description: str = ""

    @model_validator(mode="after")
    def _shape(self) -> Gate:
        if self.dataset is None and self.require is None:
            raise error(
                "MS105",
                "a gate needs 'dataset' and 'checks' (a data gate) or 'require' (a model gate)",
                "see specs/README.md#gates",
            )
        _exactly_one(self, ("dataset", "require"), "a gate")
        if self.dataset is not None:
            if self.checks is None:
                raise error(
                    "MS102",
                    "a data gate needs 'checks'",
                    "e.g. checks: [{row_count: {min: 100}}]",
                    at="dataset",
                )
            if self.first_run is not None:
                raise error(
                    "MS105",
                    "'first_run' applies to model gates",
                    "remove it from this data gate",
                    at="first_run",
                )
        elif self.checks is not None:
            raise error(
                "MS105",
                "'checks' belong to a data gate, which needs 'dataset'",
                "use 'require' for model metrics",
                at="checks",
            )
        return self

    @property
    def kind(self) -> Literal["data", "model"]:
        return "data" if self.dataset is not None else "model"


# --- registry -------------------------------------------------------------------------------


class Mlflow(Model):
    registered_model: RegisteredModel
    tracking_uri: str | None = None


class PromotionRule(Model):
    alias: Alias
    after: list[Name] = Field(min_length=1, description="Gates (or 'rollout') that must pass.")


class Registry(Model):
    mlflow: Mlflow
    model: Reference = Field(description="The model artifact to register, e.g. train.model.")
    tags: dict[str, str] = Field(default_factory=dict)
    promote: list[PromotionRule] = Field(default_factory=list)
    external_aliases: list[Alias] = Field(
        default_factory=list,
        description="Aliases that a process outside this spec sets; gates may compare with them.",
    )


# --- rollout --------------------------------------------------------------------------------


class PrometheusQuery(Model):
    query: str = Field(min_length=1)
    address: str | None = Field(default=None, pattern=r"^https?://\S+$")


class WebCheck(Model):
    url: str = Field(pattern=r"^https?://\S+$")
    json_path: str = Field(min_length=1, description="e.g. '{$.data.error_rate}'")


class AnalysisMetric(Model):
    prometheus: PrometheusQuery | None = None
    web: WebCheck | None = None
    # Numbers only: the manifests are applied outside any pipeline run, with no parameters.
    min: RolloutThreshold | None = None
    max: RolloutThreshold | None = None
    interval: Duration = 60
    count: Annotated[int, Field(ge=1, le=1000)] = 5
    failure_limit: Annotated[int, Field(ge=0)] = 1

    @model_validator(mode="after")
    def _one_provider(self) -> Any:
        _exactly_one(self, ("prometheus", "web"), "an analysis metric")
        return self

    @model_validator(mode="after")
    def _bounds(self) -> AnalysisMetric:
        if self.min is None and self.max is None:
            raise error(
                "MS105",
                "an analysis metric needs 'min', 'max' or both",
                "e.g. max: 0.01 for an error rate",
            )
        _ordered(self.min, self.max)
        if self.failure_limit >= self.count:
            raise error(
                "MS104",
                f"failure_limit {self.failure_limit} is not below count {self.count}",
                "the analysis could never fail",
                at="failure_limit",
            )
        return self


class CanaryStep(Model):
    weight: Annotated[int, Field(ge=1, le=100)] | None = None
    pause: Pause | None = Field(default=None, description="A duration, or 'manual'.")
    analysis: list[Name] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_action(self) -> Any:
        _exactly_one(self, ("weight", "pause", "analysis"), "a canary step")
        return self


class Canary(Model):
    steps: list[CanaryStep] = Field(min_length=1)
    analysis: list[Name] = Field(default_factory=list, description="Background analysis.")


class BlueGreen(Model):
    preview_service: ServiceName | None = None
    auto_promote: bool = False
    auto_promote_after: Duration | None = None
    scale_down_delay: Duration = 30
    pre_promotion_analysis: list[Name] = Field(default_factory=list)
    post_promotion_analysis: list[Name] = Field(default_factory=list)

    @model_validator(mode="after")
    def _auto(self) -> BlueGreen:
        if self.auto_promote_after is not None and not self.auto_promote:
            raise error(
                "MS105", "'auto_promote_after' needs 'auto_promote: true'", at="auto_promote_after"
            )
        return self


class Shadow(Model):
    percent: Annotated[int, Field(ge=1, le=100)]
    duration: Duration
    analysis: list[Name] = Field(default_factory=list)


class HeaderMatch(Model):
    name: str = Field(pattern=r"^[A-Za-z0-9-]+$")
    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _one_match(self) -> Any:
        _exactly_one(self, ("exact", "prefix", "regex"), "a header match")
        return self

    @model_validator(mode="after")
    def _valid_regex(self) -> HeaderMatch:
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise error("MS104", f"invalid regular expression: {exc}", at="regex") from None
            if re.search(r"\(\?<?[=!]|\\[1-9]", self.regex):
                raise error(
                    "MS104",
                    "the regular expression uses a lookaround or a backreference",
                    "Istio and Envoy match headers with RE2, which supports neither",
                    at="regex",
                )
        return self


class CookieMatch(Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    value: str = Field(min_length=1)


class AbTest(Model):
    weight: Annotated[int, Field(ge=1, le=99)] | None = Field(
        default=None, description="Percent of traffic sent to the candidate."
    )
    header: HeaderMatch | None = None
    cookie: CookieMatch | None = None
    duration: Duration
    analysis: list[Name] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_split(self) -> Any:
        _exactly_one(self, ("weight", "header", "cookie"), "an A/B test")
        return self


class Arm(Model):
    image: Image | None = None
    model_alias: Alias | None = None

    @model_validator(mode="after")
    def _something(self) -> Arm:
        if self.image is None and self.model_alias is None:
            raise error(
                "MS105", "an arm needs 'image', 'model_alias' or both", "say what this arm serves"
            )
        return self


class Reward(Model):
    successes: str = Field(min_length=1, description="PromQL; '$arm' is replaced by the arm.")
    trials: str = Field(min_length=1, description="PromQL; '$arm' is replaced by the arm.")


class StopRule(Model):
    p_best: Annotated[float, Field(gt=0.5, lt=1)] | None = None
    max_duration: Duration | None = None

    @model_validator(mode="after")
    def _some_rule(self) -> StopRule:
        if self.p_best is None and self.max_duration is None:
            raise error(
                "MS105",
                "a stopping rule needs 'p_best', 'max_duration' or both",
                "e.g. {p_best: 0.95, max_duration: 14d}",
            )
        return self


class Bandit(Model):
    arms: dict[Name, Arm] = Field(min_length=2)
    algorithm: Literal["thompson", "epsilon_greedy", "ucb1"]
    reward: Reward
    interval: Duration = 300
    exploration_floor: Annotated[int, Field(ge=0, le=50)] = 5
    max_step: Annotated[int, Field(ge=1, le=100)] = 10
    epsilon: Annotated[float, Field(gt=0, lt=1)] | None = None
    guardrails: list[Name] = Field(default_factory=list)
    no_data_pause: Annotated[int, Field(ge=1, le=1000)] = 3  # intervals: see docs/targets/bandit.md
    stop: StopRule

    @model_validator(mode="after")
    def _consistent(self) -> Bandit:
        if self.exploration_floor * len(self.arms) > 100:
            raise error(
                "MS104",
                f"exploration floor {self.exploration_floor}% for "
                f"{len(self.arms)} arms adds up to more than 100%",
                f"use at most {100 // len(self.arms)}",
                at="exploration_floor",
            )
        if self.epsilon is not None and self.algorithm != "epsilon_greedy":
            raise error(
                "MS105", f"'epsilon' applies to epsilon_greedy, not {self.algorithm}", at="epsilon"
            )
        if self.algorithm == "epsilon_greedy" and self.epsilon is None:
            raise error(
                "MS102", "epsilon_greedy needs 'epsilon'", "e.g. epsilon: 0.1", at="algorithm"
            )
        for text in (self.reward.successes, self.reward.trials):
            if "$arm" not in text:
                raise error(
                    "MS104",
                    "a reward query must contain '$arm'",
                    "each arm's query is this text with '$arm' replaced by its name",
                    at="reward",
                )
        return self


class ContextSegments(Model):
    header: str = Field(pattern=r"^[A-Za-z0-9-]+$")
    segments: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]] = Field(min_length=1)


class ContextualBandit(Bandit):
    context: ContextSegments

    @model_validator(mode="after")
    def _per_segment_rewards(self) -> ContextualBandit:
        for text in (self.reward.successes, self.reward.trials):
            if "$segment" not in text:
                raise error(
                    "MS104",
                    "a contextual bandit's reward query must contain '$segment'",
                    "each segment learns from its own rewards: '$segment' is replaced by the "
                    'segment, e.g. {segment="$segment"}',
                    at="reward",
                )
        return self


class Strategy(Model):
    blue_green: BlueGreen | None = None
    canary: Canary | None = None
    shadow: Shadow | None = None
    ab_test: AbTest | None = None
    bandit: Bandit | None = None
    contextual_bandit: ContextualBandit | None = None

    @model_validator(mode="after")
    def _one_strategy(self) -> Any:
        _exactly_one(
            self,
            ("blue_green", "canary", "shadow", "ab_test", "bandit", "contextual_bandit"),
            "a rollout strategy",
        )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in type(self).model_fields if getattr(self, k) is not None)


class Service(Model):
    name: ServiceName
    namespace: Namespace
    port: Annotated[int, Field(ge=1, le=65535)]
    image: Image | None = None
    model_format: str | None = Field(default=None, description="KServe model format.")
    replicas: Annotated[int, Field(ge=1, le=1000)] = 2
    resources: Resources = Field(default_factory=Resources)


class Rollout(Model):
    controller: Literal["argo-rollouts", "flagger", "kserve", "istio"]
    service: Service
    model_alias: Alias | None = Field(default=None, description="Registry alias rolled out.")
    prometheus: str | None = Field(default=None, pattern=r"^https?://\S+$")
    strategy: Strategy
    analysis: dict[Name, AnalysisMetric] = Field(default_factory=dict)


class Schedule(Model):
    cron: Cron
    timezone: str = "UTC"
    paused: bool = False


# --- the pipeline ---------------------------------------------------------------------------


class Spec(Model):
    """An mlspec pipeline spec."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, title="mlspec pipeline spec (mlspec/v1)"
    )

    api_version: Literal["mlspec/v1"] = Field(alias="apiVersion")
    kind: Literal["Pipeline"]
    metadata: Metadata
    params: dict[Name, Param] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    artifact_root: str | None = Field(default=None, description="Where artifacts are stored.")
    steps: dict[Name, Step] = Field(min_length=1)
    gates: dict[Name, Gate] = Field(default_factory=dict)
    registry: Registry | None = None
    rollout: Rollout | None = None
    schedule: Schedule | None = None
