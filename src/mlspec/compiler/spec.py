"""The spec language v1 as pydantic models: structure and per-field rules.

Rules that need more than one field of one mapping live in model validators here; rules that
follow references across the spec live in `checks/`. Shorthands (`train.model` for an input,
a plain string for an env value) are expanded by before-validators so that each model has one
canonical shape and pydantic reports one clear error per mistake.

The docstring under each field is its description in the JSON Schema (`mlspec schema`), shown
by editors on hover; each model's `json_schema_extra` says its validators' rules as far as JSON
Schema can (see `schema_rules.py`). Keep both in step with specs/README.md.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from mlspec.compiler.fields import (
    MALFORMED_PLACEHOLDER_PATTERN,
    PARAM_REFERENCE_RE,
    RESERVED_NAMES,
    RESERVED_PREFIXES,
    TIMEZONE_MAX,
    TIMEZONE_RE,
    Alias,
    Commit,
    Cpu,
    Cron,
    DataPath,
    DnsName,
    Duration,
    EnvName,
    GitUrl,
    Image,
    Memory,
    Name,
    Namespace,
    NotebookPath,
    Pause,
    PythonTarget,
    Reference,
    RegisteredModel,
    RepoPath,
    Requirement,
    RolloutThreshold,
    SecretKey,
    SecretName,
    ServiceName,
    Threshold,
    Version,
    WheelsUrl,
    error,
    type_name,
)
from mlspec.compiler.ir import (
    ANALYSIS_COUNT,
    ANALYSIS_FAILURE_LIMIT,
    ANALYSIS_INTERVAL_SECONDS,
    SCALE_DOWN_DELAY_SECONDS,
)
from mlspec.compiler.placement_fields import AcceleratorType, LabelKey, LabelValue
from mlspec.compiler.schema_rules import (
    Schema,
    at_least_one,
    each_value,
    exactly_one,
    field,
    has,
    has_item,
    is_empty,
    is_set,
    is_unset,
    not_matching,
    rules,
    some_value,
    unless,
    when,
)

API_VERSION = "mlspec/v1"

ScalarType = Literal["float", "int", "str", "bool"]
# A list parameter is read only by a loop: `for_each: params.NAME`.
ListType = Literal["list[str]", "list[int]", "list[float]"]
ArtifactType = Literal["dataset", "model", "metrics", "artifact"]
IOType = Literal["dataset", "model", "metrics", "artifact", "float", "int", "str", "bool"]
ColumnType = Literal["int", "float", "str", "bool"]


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True
    )


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


def _equals(key: str, value: Any) -> Schema:
    return {"required": [key], "properties": {key: {"const": value}}}


# --- metadata, params, defaults -------------------------------------------------------------


class Metadata(Model):
    """Who and what the pipeline is."""

    name: DnsName
    """The pipeline's name (a DNS-1123 label); it names the pipeline, DAG, flow and deployment
    on every target. Example: fraud-detector."""
    version: Version
    """MAJOR.MINOR.PIPELINE, e.g. 2.3.1: MAJOR when the data or target became incompatible,
    MINOR when the model improved, PIPELINE when the pipeline changed."""
    description: str = ""
    """Free text about the pipeline."""
    owners: list[str] = Field(default_factory=list)
    """Who answers for the pipeline, e.g. e-mail addresses."""
    labels: dict[
        Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$", max_length=63)],
        # Kubernetes label values: empty, or alphanumeric at both ends, at most 63 characters.
        Annotated[
            str, Field(pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$", max_length=63)
        ],
    ] = Field(default_factory=dict)
    """Kubernetes-style labels set on what the targets create, e.g. {team: risk}."""


# The longest for_each list (a list parameter's too): each element is an iteration of a loop.
MAX_FOR_EACH = 1000

# A parameter's JSON type for each declared type (an int default is fine for a float).
_PARAM_JSON_TYPES: dict[str, Schema] = {
    "float": {"type": "number"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
    "str": {"type": "string"},
    **{
        f"list[{kind}]": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_FOR_EACH,
            "uniqueItems": True,
            "items": {"type": json},
        }
        for kind, json in (("str", "string"), ("int", "integer"), ("float", "number"))
    },
}


class Param(Model):
    """A run-time parameter: set when a run starts, read as `params.NAME`."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            *(
                when(_equals("type", kind), field("default", json_type))
                for kind, json_type in _PARAM_JSON_TYPES.items()
            )
        )
    )

    type: ScalarType | ListType
    """The parameter's type: float, int, str or bool; or list[str], list[int], list[float],
    a list that only a loop reads (`for_each: params.NAME`)."""
    default: bool | int | float | str | list[int | float | str]
    """The value when a run does not set one; must match `type` (quote a str default that
    looks like a number or boolean)."""
    description: str = ""
    """Shown in the orchestrator's run form."""


class SecretRef(Model):
    """A key of a Kubernetes secret in the namespace the step runs in."""

    name: SecretName
    """The Kubernetes secret's name (a DNS-1123 subdomain), e.g. warehouse-creds."""
    key: SecretKey
    """The key within the secret, e.g. password."""


class EnvValue(Model):
    """One env value: a literal string, a Kubernetes secret, or a pipeline parameter."""

    model_config = ConfigDict(json_schema_extra=rules(exactly_one("value", "secret", "param")))

    value: str | None = None
    """A literal string (numbers and booleans must be quoted: "4"). Never a credential."""
    secret: SecretRef | None = None
    """Read the value from a Kubernetes secret: {name: SECRET, key: KEY}."""
    param: Name | None = None
    """Use the run's value of this pipeline parameter."""

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


Env = dict[EnvName, EnvEntry]


class Resources(Model):
    """Resource requests of a step or a serving pod."""

    cpu: Cpu | None = None
    """CPU request: cores ("1", "0.5", at most 3 decimals; a YAML number is fine) or millicores
    ("500m"); not zero."""
    memory: Memory | None = None
    """Memory request, a number with a unit: 512Mi, 2Gi, 1.5Gi (binary Ki..Ei) or 2G (decimal
    k..E). A bare number is refused."""
    gpu: Annotated[int, Field(ge=0, le=16)] | None = None
    """Number of GPUs, 0-16."""


class StepResources(Model):
    """CPU and memory of a step; its GPUs are placement (`accelerator`)."""

    cpu: Cpu | None = None
    """CPU request: cores ("1", "0.5", at most 3 decimals; a YAML number is fine) or millicores
    ("500m"); not zero."""
    memory: Memory | None = None
    """Memory request, a number with a unit: 512Mi, 2Gi, 1.5Gi (binary Ki..Ei) or 2G (decimal
    k..E). A bare number is refused."""

    @model_validator(mode="before")
    @classmethod
    def _gpu_moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "gpu" in data:
            count = data["gpu"]
            raise error(
                "MS101",
                "unknown field 'gpu' in a step's resources: GPUs are placement",
                f"write `accelerator: {{count: {count if isinstance(count, int) else 1}}}` "
                "beside `resources:` (type nvidia.com/gpu unless you name another)",
                at="gpu",
            )
        return data


# --- placement ------------------------------------------------------------------------------


class Accelerator(Model):
    """Accelerators a step's pod asks for: a Kubernetes extended resource and a count."""

    type: AcceleratorType = "nvidia.com/gpu"
    """The Kubernetes resource, DOMAIN/NAME: nvidia.com/gpu (default), amd.com/gpu,
    google.com/tpu. The GPU model is a node label: choose it with node_selector."""
    count: Annotated[int, Field(ge=0, le=16)]
    """How many, 0-16 (0: none, e.g. to drop the defaults' accelerator in one step)."""


class Toleration(Model):
    """A taint the step's pod tolerates, as the Kubernetes API has it."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            when(_equals("operator", "Exists"), is_unset("value")),
            when(is_unset("key"), _equals("operator", "Exists")),
            when(is_set("toleration_seconds"), _equals("effect", "NoExecute")),
        )
    )

    key: LabelKey | None = None
    """The taint's key; none (with operator Exists): every taint."""
    operator: Literal["Equal", "Exists"] = "Equal"
    """Equal: the taint's value must be `value`; Exists: any value."""
    value: LabelValue | None = None
    """The taint's value (operator Equal only)."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """The taint effect tolerated; none: every effect."""
    toleration_seconds: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None
    """How long the pod stays on a node after a NoExecute taint appears (effect NoExecute
    only); none: forever."""

    @model_validator(mode="after")
    def _rules(self) -> Toleration:
        if self.operator == "Exists" and self.value is not None:
            raise error(
                "MS124",
                "a toleration with operator Exists has no value",
                "remove `value:`, or use operator: Equal",
                at="value",
            )
        if self.key is None and self.operator != "Exists":
            raise error(
                "MS124",
                "a toleration without a key tolerates every taint, which needs operator: Exists",
                "add `key:`, or write operator: Exists",
                at="operator" if "operator" in self.model_fields_set else None,
            )
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise error(
                "MS124",
                "toleration_seconds applies to effect NoExecute only",
                "write effect: NoExecute, or remove toleration_seconds",
                at="toleration_seconds",
            )
        return self


class GitSource(Model):
    """A git repository at a reviewed commit, holding the compiled output and the step code."""

    url: GitUrl
    """The repository workers clone: https://host/org/repo.git (no credentials: workers use
    their own), or an absolute path / file:// URL of a repository they can read."""
    commit: Commit
    """The full 40-character commit id workers check out; it must contain this spec's compiled
    output (commit the output, then pin that commit)."""
    path: RepoPath = "."
    """The folder, within the repository at that commit, that holds the compiled output the
    workers run (where prefect.yaml is), e.g. deploy/prefect (default: the root)."""


class Code(Model):
    """Where the code of Python steps comes from when they run on a remote worker.

    The step package (the folder, beside the spec or under `root`, named by the first part of
    each Python step's module) is pinned by a hash of its files; each target delivers it the way
    its workers can receive it. See docs/code-delivery.md."""

    root: RepoPath = "."
    """The folder, relative to the spec, that holds the step packages (e.g. src)."""
    wheels: WheelsUrl | None = None
    """The folder URL where CI publishes the wheels `mlspec build` writes (https:// or
    file://): Kubeflow components install the pinned wheel from there."""
    image: Image | None = None
    """An image that already contains the step package and its packages: Python steps without
    an `image:` of their own run on it. Give it by digest (name@sha256:...) to pin it."""
    git: GitSource | None = None
    """The repository and commit that Prefect workers pull the compiled flow and its code from."""


class Defaults(Model):
    """Settings every step inherits; a step's own value wins."""

    image: Image | None = None
    """Image for steps without one, e.g. ghcr.io/acme/fraud:2.3.1. Python steps without any
    image run on the target's default Python image."""
    packages: list[Requirement] = Field(default_factory=list)
    """pip requirements installed for Python steps, e.g. scikit-learn>=1.5."""
    retries: Annotated[int, Field(ge=0, le=20)] | None = None
    """How often a failed step is retried, 0-20 (default 0)."""
    timeout: Duration | None = None
    """Longest run time of one attempt, e.g. 30m, 1h30m (default: no limit)."""
    caching: bool | None = None
    """Whether a step may reuse the outputs of an earlier run with the same inputs (default
    false)."""
    resources: StepResources = Field(default_factory=StepResources)
    """CPU and memory of every step, per field."""
    accelerator: Accelerator | None = None
    """GPUs (or other accelerators) of every step: {type, count}; a step's own replaces it."""
    node_selector: dict[LabelKey, LabelValue] | None = None
    """Node labels every step's pod must run on; a step's own replaces it as a whole."""
    tolerations: list[Toleration] | None = None
    """Taints every step's pod tolerates; a step's own list replaces it as a whole."""
    env: Env = Field(default_factory=dict)
    """Environment variables of every step: NAME: text, {secret: {name, key}} or {param: P}."""
    code: Code | None = None
    """Where Python steps' code comes from on remote workers: the step package's root folder,
    the wheel location, an image that holds it, a pinned git commit."""


# --- steps ----------------------------------------------------------------------------------


class InputBinding(Model):
    """Where an input comes from: a reference (`train.model`, `params.lr`) or a constant."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        populate_by_name=True,
        json_schema_extra=rules(exactly_one("from", "value", "item")),
    )

    from_: Reference | None = Field(default=None, alias="from")
    """A reference: step.output or params.NAME."""
    value: bool | int | float | str | None = None
    """A constant; the only way to pass a constant string."""
    item: Literal[True] | None = None
    """The current element of the step's for_each list (written `NAME: item`)."""
    type: IOType | None = None
    """The type the step expects; it must accept the source's type (float accepts int,
    artifact accepts any artifact)."""

    @model_validator(mode="after")
    def _one_source(self) -> Any:
        _exactly_one(self, ("from", "value", "item"), "an input")
        return self


# `NAME: item` reads the current element of a fanned step's for_each list.
ITEM = "item"


def _expand_input(value: Any) -> Any:
    if value == ITEM:
        return {"item": True}
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
    BeforeValidator(
        _expand_input,
        json_schema_input_type=Reference | Literal["item"] | int | float | bool | InputBinding,
    ),
]


class Container(Model):
    """The command of a container step. In its texts, ${inputs.NAME} and ${outputs.NAME} are
    replaced by the input's value (or path) and the output's path; $${ is a literal ${."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            *(
                field(part, {"items": not_matching(MALFORMED_PLACEHOLDER_PATTERN)})
                for part in ("command", "args")
            )
        )
    )

    command: list[str] = Field(min_length=1)
    """The entrypoint and its first arguments, e.g. [python, -m, fraud.evaluate]."""
    args: list[str] = Field(default_factory=list)
    """Further arguments."""


STEP_KINDS = ("python", "container", "notebook")


def _for_each_list(value: Any) -> Any:
    if isinstance(value, str) and not PARAM_REFERENCE_RE.match(value):
        raise error(
            "MS226",
            f"for_each {value!r} is neither a list nor a list parameter",
            "write the list, for_each: [eu, us], or name a list parameter: "
            "for_each: params.regions (declared with type: list[str])",
        )
    return value


StaticList = Annotated[
    list[int | float | str],
    Field(
        min_length=1,
        max_length=MAX_FOR_EACH,
        # One element type, none repeated (checks.fanout tells int from float, as YAML does).
        json_schema_extra={
            "uniqueItems": True,
            "anyOf": [{"items": {"type": t}} for t in ("string", "integer", "number")],
        },
    ),
]
ForEach = Annotated[
    StaticList | Annotated[str, Field(pattern=PARAM_REFERENCE_RE.pattern)],
    BeforeValidator(_for_each_list),
]
# An input that reads the element: `NAME: item` or {item: true}.
_ITEM_INPUT: Schema = {
    "anyOf": [
        {"const": ITEM},
        {"type": "object", "required": ["item"], "properties": {"item": {"const": True}}},
    ]
}


class Step(Model):
    """A unit of work: a Python function (`python`), a container (`container`) or a Jupyter
    notebook (`notebook`)."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            exactly_one(*STEP_KINDS),
            when(is_set("container"), is_empty("packages")),
            when(is_set("notebook"), is_unset("code")),
            when(has("inputs", some_value(_ITEM_INPUT)), is_set("for_each")),
        )
    )

    python: PythonTarget | None = None
    """The function to call, module:function (e.g. fraud.steps:train); it receives each input
    and output as a keyword argument. Exactly one of python, container."""
    container: Container | None = None
    """Run a container: its command and args. Exactly one of python, container."""
    notebook: NotebookPath | None = None
    """A Jupyter notebook to execute headless (e.g. notebooks/train.ipynb, relative to the
    spec): each input and output is injected as a variable after its `parameters` cell, and
    each scalar output is read back from the notebook's variable of that name. Exactly one of
    python, container, notebook."""
    image: Image | None = None
    """The image to run in (default: defaults.image). Container steps need one or the other."""
    packages: list[Requirement] = Field(default_factory=list)
    """Extra pip requirements, added after defaults.packages. Python and notebook steps."""
    inputs: dict[Name, InputEntry] = Field(default_factory=dict)
    """What the step reads: a reference (ingest.data, params.lr), a number or boolean, or
    {value: ...} for a constant string."""
    outputs: dict[Name, IOType] = Field(default_factory=dict)
    """What the step produces, by type: dataset, model, metrics, artifact (files) or float,
    int, str, bool (values)."""
    after: list[Name] = Field(default_factory=list)
    """Steps or gates to wait for besides those the step reads from."""
    env: Env = Field(default_factory=dict)
    """Environment variables, merged over defaults.env: NAME: text, {secret: {name, key}} or
    {param: P}."""
    resources: StepResources = Field(default_factory=StepResources)
    """CPU and memory, merged field by field over defaults.resources."""
    accelerator: Accelerator | None = None
    """GPUs (or other accelerators): {type: nvidia.com/gpu, count: 1}; replaces
    defaults.accelerator ({count: 0}: none)."""
    node_selector: dict[LabelKey, LabelValue] | None = None
    """Node labels the pod must run on, e.g. {cloud.google.com/gke-nodepool: gpu-pool};
    replaces defaults.node_selector as a whole ({}: none)."""
    tolerations: list[Toleration] | None = None
    """Taints the pod tolerates: [{key, operator, value, effect, toleration_seconds}];
    replaces defaults.tolerations as a whole ([]: none)."""
    retries: Annotated[int, Field(ge=0, le=20)] | None = None
    """Retries after a failure, 0-20 (default: defaults.retries, else 0)."""
    timeout: Duration | None = None
    """Limit per attempt, e.g. 2h (default: defaults.timeout, else none)."""
    caching: bool | None = None
    """Reuse the results of an identical earlier run (default: defaults.caching, else false)."""
    code: Code | None = None
    """Where this Python step's code comes from (replaces defaults.code as a whole)."""
    for_each: ForEach | None = None
    """Run the step once per element of this list (str, int or float, all one type), or of a
    list parameter (params.NAME); its inputs read the element as `item`. Steps with the same
    for_each that read each other run as one loop, element by element."""
    description: str = ""
    """Free text about the step."""

    @model_validator(mode="after")
    def _one_kind(self) -> Any:
        _exactly_one(self, STEP_KINDS, "a step")
        return self

    @model_validator(mode="after")
    def _rules(self) -> Step:
        if self.container is not None and self.packages:
            raise error(
                "MS105",
                "'packages' applies to python and notebook steps only",
                "install packages in the container image",
                at="packages",
            )
        if self.notebook is not None and self.code is not None:
            raise error(
                "MS105",
                "'code' applies to python steps only",
                "a notebook step ships its notebook file; its imports come from `packages`",
                at="code",
            )
        return self


# --- gates ----------------------------------------------------------------------------------


class Bounds(Model):
    """Inclusive bounds: min, max or both."""

    model_config = ConfigDict(json_schema_extra=rules(at_least_one("min", "max")))

    min: Threshold | None = None
    """The lowest value that passes: a number or params.NAME."""
    max: Threshold | None = None
    """The highest value that passes: a number or params.NAME."""

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


class CheckedColumns(Model):
    """The columns a check looks at: exactly one of column, columns, pattern. Each column is
    judged on its own (a result per column); lowering gives a list one check per column."""

    column: str | None = Field(default=None, min_length=1)
    """The column to check. Exactly one of column, columns, pattern."""
    columns: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None, min_length=1, json_schema_extra={"uniqueItems": True}
    )
    """Several columns, each checked alike, e.g. [age, income]."""
    pattern: str | None = Field(default=None, min_length=1)
    """A Python regular expression, applied with re.search (anchor it: ^feat_): every column of
    the dataset whose name it matches is checked; none matching fails the check."""

    @model_validator(mode="after")
    def _columns(self) -> Any:
        _exactly_one(self, ("column", "columns", "pattern"), "a column check")
        seen: set[str] = set()
        for name in self.columns or ():
            if name in seen:  # its results, and `mlspec diff`'s keys, would be ambiguous
                raise error("MS104", f"column {name!r} is listed twice", "list it once", "columns")
            seen.add(name)
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise error(
                    "MS104",
                    f"invalid regular expression: {exc}",
                    "a Python re pattern, matched with re.search, e.g. ^feat_",
                    at="pattern",
                ) from None
        return self


_ONE_COLUMN_CHOICE = exactly_one("column", "columns", "pattern")


class ColumnBounds(CheckedColumns):
    """The values of a column lie within inclusive bounds."""

    model_config = ConfigDict(
        json_schema_extra=rules(_ONE_COLUMN_CHOICE, at_least_one("min", "max"))
    )

    min: Threshold | None = None
    """The lowest value that passes: a number or params.NAME."""
    max: Threshold | None = None
    """The highest value that passes: a number or params.NAME."""

    @model_validator(mode="after")
    def _some_bound(self) -> ColumnBounds:
        if self.min is None and self.max is None:
            raise error("MS105", "give 'min', 'max' or both", "e.g. {column: age, min: 0}")
        _ordered(self.min, self.max)
        return self


class NullFraction(CheckedColumns):
    """The fraction of nulls in a column is at most `max`."""

    model_config = ConfigDict(
        json_schema_extra=rules(_ONE_COLUMN_CHOICE, field("max", {"minimum": 0, "maximum": 1}))
    )

    max: Threshold
    """The largest fraction of nulls that passes, 0-1 (e.g. 0.01), or params.NAME."""

    @model_validator(mode="after")
    def _fraction(self) -> NullFraction:
        if isinstance(self.max, float) and not 0 <= self.max <= 1:
            raise error(
                "MS104", f"null fraction {self.max:g} is outside 0..1", "e.g. 0.01", at="max"
            )
        return self


class Categories(CheckedColumns):
    """Every value of a column is one of `allowed`."""

    model_config = ConfigDict(json_schema_extra=rules(_ONE_COLUMN_CHOICE))

    allowed: list[str | int | bool] = Field(min_length=1)
    """The values allowed: strings, integers or booleans."""


_DRIFT_BOUNDS = (
    field("max", {"exclusiveMinimum": 0}),
    when(_equals("method", "psi"), field("max", {"exclusiveMaximum": 10})),
    when(_equals("method", "ks"), rules(is_unset("bins"), field("max", {"maximum": 1}))),
)


class _DriftMeasure(CheckedColumns):
    """What every drift check has: the column, the method and its threshold."""

    method: Literal["psi", "ks"]
    """psi: population stability index; ks: Kolmogorov-Smirnov statistic."""
    max: Threshold
    """The largest drift that passes, above 0: PSI below 10 (0.25 is usually a major shift),
    KS at most 1; or params.NAME."""
    bins: Annotated[int, Field(ge=2, le=100)] | None = None
    """PSI only: equal-frequency bins of the reference, 2-100 (default 10)."""

    @model_validator(mode="after")
    def _bins_for_psi(self) -> Any:
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


class Drift(_DriftMeasure):
    """A column's drift from a reference, as PSI or the KS statistic, is at most `max`."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            _ONE_COLUMN_CHOICE, exactly_one("reference", "reference_uri"), *_DRIFT_BOUNDS
        )
    )

    reference: Reference | None = None
    """An upstream dataset output to compare with, e.g. ingest.reference. Exactly one of
    reference, reference_uri."""
    reference_uri: str | None = None
    """A dataset file or URI to compare with. Exactly one of reference, reference_uri."""

    @model_validator(mode="after")
    def _one_reference(self) -> Any:
        _exactly_one(self, ("reference", "reference_uri"), "a drift check")
        return self


class MonitorDrift(_DriftMeasure):
    """A column of the served inputs has not drifted from the data the served model was trained
    on (the watched pipeline's `registry.reference`, recorded on the version), or from a
    fixed reference file."""

    model_config = ConfigDict(json_schema_extra=rules(_ONE_COLUMN_CHOICE, *_DRIFT_BOUNDS))

    reference_uri: str | None = None
    """A dataset file or URI to compare with instead of the served version's training data."""


CheckKind = Literal["row_count", "columns", "null_fraction", "range", "categories", "drift"]
_CHECK_KINDS: tuple[CheckKind, ...] = get_args(CheckKind)


class DataCheck(Model):
    """One data check; exactly one of its fields is set."""

    model_config = ConfigDict(json_schema_extra=rules(exactly_one(*_CHECK_KINDS)))

    row_count: Bounds | None = None
    """The number of rows lies within {min, max}."""
    columns: dict[Annotated[str, Field(min_length=1)], ColumnType] | None = Field(
        default=None, min_length=1
    )
    """Each listed column is present with its type (int, float, str, bool), e.g.
    {amount: float}."""
    null_fraction: NullFraction | None = None
    """The fraction of nulls in a column is at most max: {column, max} (or columns, pattern)."""
    range: ColumnBounds | None = None
    """A column's values lie within bounds: {column, min, max} (or columns, pattern)."""
    categories: Categories | None = None
    """Every value of a column is allowed: {column, allowed} (or columns, pattern)."""
    drift: Drift | None = None
    """A column has not drifted from a reference: {column, reference, method, max} (or columns,
    pattern)."""

    @model_validator(mode="after")
    def _one_check(self) -> Any:
        _exactly_one(self, _CHECK_KINDS, "a data check")
        return self

    @property
    def kind(self) -> CheckKind:
        return next(k for k in _CHECK_KINDS if getattr(self, k) is not None)


class MonitorCheck(DataCheck):
    """One check of the served inputs; exactly one of its fields is set. A drift check compares
    with the served version's training data unless it names a `reference_uri`."""

    drift: MonitorDrift | None = None  # type: ignore[assignment]
    """The column has not drifted from the served model's training data: {column, method,
    max}."""


OnFail = Literal["block", "fail"]


class ModelRequirement(Model):
    """A requirement on a metric: absolute bounds, or a comparison with the champion."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            field("metric", not_matching(PARAM_REFERENCE_RE.pattern)),
            unless(
                is_set("vs"),
                rules(is_unset("better"), is_unset("tolerance"), at_least_one("min", "max")),
            ),
            when(is_set("vs"), rules(is_unset("min"), is_unset("max"), is_set("better"))),
        )
    )

    metric: Reference
    """A float or int output of a step, e.g. evaluate.auc (not a parameter)."""
    min: Threshold | None = None
    """Passes when the metric is at least this: a number or params.NAME."""
    max: Threshold | None = None
    """Passes when the metric is at most this: a number or params.NAME."""
    vs: Alias | None = None
    """Compare with the same metric of the model version holding this registry alias, e.g.
    champion or production (set by a promotion rule or listed in registry.external_aliases).
    Needs `better`, and a registry; not combinable with min or max."""
    better: Literal["higher", "lower"] | None = None
    """With vs: which direction is an improvement."""
    tolerance: Annotated[float, Field(ge=0)] | None = None
    """With vs: how much worse than the champion the candidate may be, in the metric's units
    (default 0)."""

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


class ServingRequests(Model):
    """The canned requests a serving gate sends: rows of a dataset output, or inline rows."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            exactly_one("dataset", "examples"),
            unless(is_set("dataset"), rules(is_unset("rows"), is_unset("drop"))),
        )
    )

    dataset: Reference | None = None
    """A dataset output whose first `rows` rows are sent, one request each, e.g. ingest.test."""
    rows: Annotated[int, Field(ge=1, le=1000)] = 20
    """With dataset: how many rows are sent (1-1000, default 20)."""
    drop: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    """With dataset: columns left out of the requests, e.g. [target] (the label)."""
    examples: list[list[float | int | str | bool]] | None = Field(
        default=None, min_length=1, max_length=1000
    )
    """Inline rows, one request each, the features in the model's order, e.g. [[17.9, 10.3]]."""

    @model_validator(mode="after")
    def _one_source(self) -> Any:
        _exactly_one(self, ("dataset", "examples"), "the serving requests")
        if self.dataset is None:
            for key in ("rows", "drop"):
                if key in self.model_fields_set:
                    raise error(
                        "MS105",
                        f"'{key}' applies to requests from a dataset, not to inline examples",
                        f"remove '{key}': every example is sent, as written",
                        at=key,
                    )
        return self


class ServingExpect(Model):
    """What every answer must look like."""

    type: Literal["int", "float", "str", "bool"] | None = None
    """The type of each predicted value (an int answer passes `float`)."""
    shape: list[Annotated[int, Field(ge=-1)]] | None = Field(default=None, min_length=1)
    """The shape of one request's prediction, -1 for any length, e.g. [1] or [-1]."""


# A placeholder other than ${model} and ${port} in a serving command (checks/gates.py says which).
SERVING_OTHER_PLACEHOLDER = r"(?<!\$)\$\{(?!(?:model|port)\})"


class Serve(Model):
    """A serving gate: the model is loaded by the serving runtime the rollout uses, in an
    environment of its own, and answers canned requests within bounds."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            when(_equals("runtime", "command"), is_set("command")),
            unless(_equals("runtime", "command"), is_unset("command")),
            field(
                "command",
                {
                    "items": not_matching(SERVING_OTHER_PLACEHOLDER),
                    "allOf": [
                        {"contains": {"type": "string", "pattern": r"\$\{model\}"}},
                        {"contains": {"type": "string", "pattern": r"\$\{port\}"}},
                    ],
                },
            ),
        )
    )

    model: Reference
    """The model output to serve, e.g. train.model."""
    runtime: Literal["mlserver", "mlflow", "command"] = "mlserver"
    """mlserver: MLServer with its scikit-learn runtime (what KServe runs for sklearn and
    mlflow models, V2 inference protocol); mlflow: MLflow's scoring server (an MLflow model
    folder); command: your own server, `command`."""
    command: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, min_length=1)
    """runtime: command only: the server's command line; ${model} is the model file and
    ${port} the port it must listen on (V2 inference protocol)."""
    requirements: list[Requirement] | None = None
    """What the model needs installed beside the server, e.g. [scikit-learn>=1.5] (default:
    defaults.packages)."""
    requests: ServingRequests
    """The canned requests: {dataset, rows, drop} or {examples}."""
    expect: ServingExpect = Field(default_factory=ServingExpect)
    """What every answer must look like: {type, shape}."""
    ready_within: Duration = Field(120, json_schema_extra={"default": "2m"})
    """How long the server may take to load the model and answer ready (default 2m)."""
    max_p95_latency_ms: Annotated[float, Field(gt=0)] | None = None
    """The slowest 5% of answers may take at most this many milliseconds."""
    max_memory: Memory | None = None
    """The server's peak resident memory may be at most this, e.g. 1Gi."""

    @model_validator(mode="after")
    def _command(self) -> Serve:
        if self.runtime == "command" and self.command is None:
            raise error(
                "MS102",
                "runtime: command needs 'command'",
                "e.g. command: [python, -m, scorer, --model, '${model}', --port, '${port}']",
                at="runtime",
            )
        if self.runtime != "command" and self.command is not None:
            raise error(
                "MS105",
                f"'command' applies to runtime: command, not {self.runtime}",
                "remove it, or set runtime: command",
                at="command",
            )
        return self


# A model gate that compares with the champion.
_COMPARES = has_item("require", is_set("vs"))


class Gate(Model):
    """A data gate (`dataset` + `checks`) or a model gate (`require`)."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            exactly_one("dataset", "require", "serve"),
            when(is_set("dataset"), rules(is_set("checks"), is_unset("first_run"))),
            when(is_set("checks"), is_set("dataset")),
            when(_COMPARES, is_set("first_run")),
            when(is_set("first_run"), _COMPARES),
        )
    )

    dataset: Reference | None = None
    """Data gate: the dataset output to check, e.g. ingest.transactions."""
    checks: list[DataCheck] | None = Field(default=None, min_length=1)
    """Data gate: the checks, each with one kind: row_count, columns, null_fraction, range,
    categories or drift."""
    require: list[ModelRequirement] | None = Field(default=None, min_length=1)
    """Model gate: requirements on metrics, e.g. {metric: evaluate.auc, min: 0.9}."""
    serve: Serve | None = None
    """Serving gate: the model is served by the real serving runtime and answers canned
    requests, e.g. {model: train.model, requests: {dataset: ingest.test, drop: [target]}}."""
    first_run: Literal["pass", "fail"] | None = None
    """Model gates that compare with the champion (and only they) say what happens while the
    registry has no champion yet: pass or fail."""
    on_fail: OnFail = "block"
    """block: what waits for the gate does not run, the run succeeds; fail: the run fails."""
    description: str = ""
    """Free text about the gate."""

    @model_validator(mode="after")
    def _shape(self) -> Gate:
        if self.dataset is None and self.require is None and self.serve is None:
            raise error(
                "MS105",
                "a gate needs 'dataset' and 'checks' (a data gate), 'require' (a model gate) "
                "or 'serve' (a serving gate)",
                "see specs/README.md#gates",
            )
        _exactly_one(self, ("dataset", "require", "serve"), "a gate")
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
    def kind(self) -> Literal["data", "model", "serving"]:
        if self.serve is not None:
            return "serving"
        return "data" if self.dataset is not None else "model"


# --- registry -------------------------------------------------------------------------------


class Mlflow(Model):
    """The MLflow model registry."""

    registered_model: RegisteredModel
    """The registered model: letters, digits, '.', '_', '-', e.g. fraud-detector."""
    tracking_uri: str | None = None
    """The MLflow server, e.g. http://mlflow:5000 (default: the tracking URI of the
    environment the pipeline runs in). Never with a password in it."""


class PromotionRule(Model):
    """Point an alias at the new model version once everything in `after` passed."""

    alias: Alias
    """The alias to set, e.g. challenger; not latest or v<digits>, which MLflow reserves."""
    after: list[Name] = Field(min_length=1)
    """The gates that must pass, and rollout to wait for a successful rollout."""


class Registry(Model):
    """Registration of the model in MLflow and its promotion by alias."""

    mlflow: Mlflow
    """The MLflow registry and registered model."""
    model: Reference
    """The model output to register, e.g. train.model."""
    tags: dict[str, str] = Field(default_factory=dict)
    """Tags set on the new model version."""
    promote: list[PromotionRule] = Field(default_factory=list)
    """Aliases to set, and what each waits for, e.g. {alias: challenger, after: [quality]}."""
    external_aliases: list[Alias] = Field(default_factory=list)
    """Aliases a process outside this spec sets (another pipeline, a person); model gates may
    compare with them (`vs:`)."""
    reference: Reference | None = None
    """The dataset output the model learned from, e.g. ingest.train: recorded on the version
    (tag mlspec.reference) so that a monitor compares served inputs with it."""


# --- rollout --------------------------------------------------------------------------------


class PrometheusQuery(Model):
    """A Prometheus query."""

    query: str = Field(min_length=1)
    """A PromQL query, e.g. sum(rate(http_errors_total[5m]))."""
    address: str | None = Field(default=None, pattern=r"^https?://\S+$")
    """The Prometheus to ask (default: rollout.prometheus)."""


class WebCheck(Model):
    """An HTTP endpoint returning JSON."""

    url: str = Field(pattern=r"^https?://\S+$")
    """The endpoint, http(s)://..."""
    json_path: str = Field(min_length=1)
    """Where the value is in the response, e.g. '{$.data.error_rate}'."""


class AnalysisMetric(Model):
    """A health check: measured `count` times every `interval`; fails when more than
    `failure_limit` measurements lie outside `min`/`max`."""

    model_config = ConfigDict(
        json_schema_extra=rules(exactly_one("prometheus", "web"), at_least_one("min", "max"))
    )

    prometheus: PrometheusQuery | None = None
    """Measure with a Prometheus query. Exactly one of prometheus, web."""
    web: WebCheck | None = None
    """Measure with an HTTP endpoint returning JSON. Exactly one of prometheus, web."""
    # Numbers only: the manifests are applied outside any pipeline run, with no parameters.
    min: RolloutThreshold | None = None
    """A measurement passes when at least this (a number, not a parameter)."""
    max: RolloutThreshold | None = None
    """A measurement passes when at most this (a number, not a parameter), e.g. 0.01."""
    interval: Duration = Field(ANALYSIS_INTERVAL_SECONDS, json_schema_extra={"default": "1m"})
    """Time between measurements."""
    count: Annotated[int, Field(ge=1, le=1000)] = ANALYSIS_COUNT
    """Number of measurements, 1-1000."""
    failure_limit: Annotated[int, Field(ge=0)] = ANALYSIS_FAILURE_LIMIT
    """Failed measurements tolerated; below count."""
    no_data: Literal["inconclusive", "fail"] = "inconclusive"
    """A measurement with no data (an idle canary: an empty result or NaN): inconclusive
    pauses the rollout for a person, fail counts as a failed measurement. Never a pass."""
    dry_run: bool = False
    """Measure and report, but never act on the result: to observe a new check first."""

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
    """One canary action: exactly one of weight, pause, analysis."""

    model_config = ConfigDict(json_schema_extra=rules(exactly_one("weight", "pause", "analysis")))

    weight: Annotated[int, Field(ge=1, le=100)] | None = None
    """Percent of traffic to the new version, 1-100; weights rise step by step."""
    pause: Pause | None = None
    """Wait: a duration (10m), or manual to wait until a person promotes."""
    analysis: list[Name] | None = Field(default=None, min_length=1)
    """Run these analyses; the rollout aborts if one fails."""

    @model_validator(mode="after")
    def _one_action(self) -> Any:
        _exactly_one(self, ("weight", "pause", "analysis"), "a canary step")
        return self


class Canary(Model):
    """Traffic moves to the new version step by step."""

    model_config = ConfigDict(
        json_schema_extra=rules(field("steps", {"contains": is_set("weight")}))
    )

    steps: list[CanaryStep] = Field(min_length=1)
    """The actions in order: {weight: W}, {pause: P} or {analysis: [names]}; at least one
    weight."""
    analysis: list[Name] = Field(default_factory=list)
    """Background analyses that run throughout the canary."""


class BlueGreen(Model):
    """The new version runs beside the old behind a preview service; traffic switches at once."""

    model_config = ConfigDict(
        json_schema_extra=rules(when(is_set("auto_promote_after"), _equals("auto_promote", True)))
    )

    preview_service: ServiceName | None = None
    """The service in front of the new version (default: <service.name>-preview); not the
    active service."""
    auto_promote: bool = False
    """Switch without a person's approval."""
    auto_promote_after: Duration | None = None
    """With auto_promote: wait this long before switching, e.g. 30m."""
    scale_down_delay: Duration = Field(
        SCALE_DOWN_DELAY_SECONDS, json_schema_extra={"default": "30s"}
    )
    """How long the old version keeps running after the switch."""
    pre_promotion_analysis: list[Name] = Field(default_factory=list)
    """Analyses against the preview before the switch."""
    post_promotion_analysis: list[Name] = Field(default_factory=list)
    """Analyses after the switch."""

    @model_validator(mode="after")
    def _auto(self) -> BlueGreen:
        if self.auto_promote_after is not None and not self.auto_promote:
            raise error(
                "MS105", "'auto_promote_after' needs 'auto_promote: true'", at="auto_promote_after"
            )
        return self


class Shadow(Model):
    """A copy of live traffic is mirrored to the new version; its answers are not served."""

    percent: Annotated[int, Field(ge=1, le=100)]
    """Percent of traffic mirrored, 1-100."""
    duration: Duration
    """How long to shadow, e.g. 2h."""
    analysis: list[Name] = Field(default_factory=list)
    """Analyses during the shadow period."""


# Regex features that RE2 (Istio, Envoy) lacks: lookaround and backreferences.
_RE2_UNSUPPORTED = r"\(\?<?[=!]|\\[1-9]"


class HeaderMatch(Model):
    """Requests whose header matches: exactly one of exact, prefix, regex."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            exactly_one("exact", "prefix", "regex"),
            field("regex", not_matching(_RE2_UNSUPPORTED)),
        )
    )

    name: str = Field(pattern=r"^[A-Za-z0-9-]+$")
    """The header's name: letters, digits, '-'."""
    exact: str | None = None
    """The header's value equals this."""
    prefix: str | None = None
    """The header's value starts with this."""
    regex: str | None = None
    """The header's value matches this RE2 regular expression (no lookaround or
    backreference)."""

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
            if re.search(_RE2_UNSUPPORTED, self.regex):
                raise error(
                    "MS104",
                    "the regular expression uses a lookaround or a backreference",
                    "Istio and Envoy match headers with RE2, which supports neither",
                    at="regex",
                )
        return self


class CookieMatch(Model):
    """Requests carrying a cookie with a value."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    """The cookie's name: letters, digits, '_', '-'."""
    value: str = Field(min_length=1)
    """The cookie's value."""


class AbTest(Model):
    """A fixed split between the current and the new version for a fixed time."""

    model_config = ConfigDict(json_schema_extra=rules(exactly_one("weight", "header", "cookie")))

    weight: Annotated[int, Field(ge=1, le=99)] | None = None
    """Percent of traffic sent to the new version, 1-99. Exactly one of weight, header,
    cookie."""
    header: HeaderMatch | None = None
    """Send requests whose header matches to the new version: {name, exact|prefix|regex}."""
    cookie: CookieMatch | None = None
    """Send requests carrying this cookie to the new version: {name, value}."""
    duration: Duration
    """How long the test runs, e.g. 7d."""
    analysis: list[Name] = Field(default_factory=list)
    """Analyses during the test."""

    @model_validator(mode="after")
    def _one_split(self) -> Any:
        _exactly_one(self, ("weight", "header", "cookie"), "an A/B test")
        return self


class Arm(Model):
    """What a bandit arm serves: an image, a registry alias or both."""

    model_config = ConfigDict(json_schema_extra=rules(at_least_one("image", "model_alias")))

    image: Image | None = None
    """The serving image of this arm."""
    model_alias: Alias | None = None
    """The registry alias this arm serves, e.g. champion; a promotion rule must set it."""

    @model_validator(mode="after")
    def _something(self) -> Arm:
        if self.image is None and self.model_alias is None:
            raise error(
                "MS105", "an arm needs 'image', 'model_alias' or both", "say what this arm serves"
            )
        return self


class Reward(Model):
    """A bandit's reward: successes out of trials, per arm, over one interval."""

    successes: str = Field(min_length=1)
    """PromQL counting successes over one interval; '$arm' is replaced by the arm's name."""
    trials: str = Field(min_length=1)
    """PromQL counting trials over one interval; '$arm' is replaced by the arm's name."""


class StopRule(Model):
    """When a bandit stops: p_best, max_duration or both."""

    model_config = ConfigDict(json_schema_extra=rules(at_least_one("p_best", "max_duration")))

    p_best: Annotated[float, Field(gt=0.5, lt=1)] | None = None
    """Stop when one arm is the best with this probability, 0.5 < p < 1, e.g. 0.95."""
    max_duration: Duration | None = None
    """Stop after this long, e.g. 14d."""

    @model_validator(mode="after")
    def _some_rule(self) -> StopRule:
        if self.p_best is None and self.max_duration is None:
            raise error(
                "MS105",
                "a stopping rule needs 'p_best', 'max_duration' or both",
                "e.g. {p_best: 0.95, max_duration: 14d}",
            )
        return self


def _reward_mentions(word: str) -> Schema:
    """Both reward queries contain `word`."""
    mention = {"pattern": re.escape(word)}
    return field("reward", {"properties": {"successes": mention, "trials": mention}})


_BANDIT_RULES = (
    when(is_set("epsilon"), _equals("algorithm", "epsilon_greedy")),
    when(_equals("algorithm", "epsilon_greedy"), is_set("epsilon")),
    _reward_mentions("$arm"),
)


class Bandit(Model):
    """Traffic shares of two or more arms adapt to a measured reward."""

    model_config = ConfigDict(json_schema_extra=rules(*_BANDIT_RULES))

    arms: dict[Name, Arm] = Field(min_length=2)
    """The arms, at least two, e.g. {current: {model_alias: champion}, candidate:
    {model_alias: challenger}}."""
    algorithm: Literal["thompson", "epsilon_greedy", "ucb1"]
    """How shares are chosen: thompson, epsilon_greedy (needs epsilon) or ucb1."""
    reward: Reward
    """The reward queries; each contains '$arm'."""
    interval: Duration = Field(300, json_schema_extra={"default": "5m"})
    """How often shares are recomputed."""
    exploration_floor: Annotated[int, Field(ge=0, le=50)] = 5
    """Minimum percent of traffic every arm keeps, 0-50; times the number of arms at most
    100."""
    max_step: Annotated[int, Field(ge=1, le=100)] = 10
    """Largest change of an arm's share per interval, in percentage points, 1-100."""
    epsilon: Annotated[float, Field(gt=0, lt=1)] | None = None
    """epsilon_greedy only: the exploration rate, 0 < epsilon < 1, e.g. 0.1."""
    guardrails: list[Name] = Field(default_factory=list)
    """Analyses checked per arm every interval; an arm that breaches one gets no more
    traffic."""
    no_data_pause: Annotated[int, Field(ge=1, le=1000)] = 3
    """Intervals in a row in which a guardrail answers no data before the experiment pauses
    (no weight rises, no route stops) until data returns, 1-1000. See docs/targets/bandit.md."""
    stop: StopRule
    """When to stop: {p_best, max_duration}."""

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
    """Where a contextual bandit reads the segment of a request."""

    header: str = Field(pattern=r"^[A-Za-z0-9-]+$")
    """The request header that carries the segment, e.g. x-client-segment."""
    segments: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]] = Field(min_length=1)
    """The segments, e.g. [mobile, web, partner]."""


class ContextualBandit(Bandit):
    """A bandit that learns one allocation per segment of traffic."""

    model_config = ConfigDict(json_schema_extra=rules(*_BANDIT_RULES, _reward_mentions("$segment")))

    context: ContextSegments
    """The header that carries the segment, and the segments."""

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


_STRATEGIES = ("blue_green", "canary", "shadow", "ab_test", "bandit", "contextual_bandit")


class Strategy(Model):
    """How traffic moves to the new version: exactly one strategy."""

    model_config = ConfigDict(json_schema_extra=rules(exactly_one(*_STRATEGIES)))

    blue_green: BlueGreen | None = None
    """Run the new version behind a preview service, then switch all traffic at once."""
    canary: Canary | None = None
    """Move traffic to the new version step by step."""
    shadow: Shadow | None = None
    """Mirror a copy of live traffic to the new version."""
    ab_test: AbTest | None = None
    """Split traffic by weight, header or cookie for a fixed time."""
    bandit: Bandit | None = None
    """Adapt the traffic shares of two or more arms to a measured reward (istio)."""
    contextual_bandit: ContextualBandit | None = None
    """A bandit with one allocation per segment of traffic (istio)."""

    @model_validator(mode="after")
    def _one_strategy(self) -> Any:
        _exactly_one(self, _STRATEGIES, "a rollout strategy")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in type(self).model_fields if getattr(self, k) is not None)


class Service(Model):
    """The serving deployment."""

    name: ServiceName
    """The Kubernetes service (a DNS-1123 label), e.g. fraud-scorer."""
    namespace: Namespace
    """Its namespace (a DNS-1123 label)."""
    port: Annotated[int, Field(ge=1, le=65535)]
    """The serving port, 1-65535."""
    image: Image | None = None
    """The serving image; required unless the controller is kserve."""
    model_format: str | None = None
    """KServe model format, e.g. sklearn; required with kserve."""
    replicas: Annotated[int, Field(ge=1, le=1000)] = 2
    """Pods of the serving deployment, 1-1000."""
    resources: Resources = Field(default_factory=Resources)
    """CPU, memory and GPUs per pod."""


class Smoke(Model):
    """A smoke test against the new version's service, before it gets any traffic."""

    path: str = Field(pattern=r"^/[A-Za-z0-9._~/-]*$", max_length=200)
    """The HTTP path requests are POSTed to, e.g. /v2/models/breast-cancer/infer."""
    requests: list[Annotated[str, Field(min_length=2, max_length=4096)]] = Field(
        min_length=1, max_length=20
    )
    """JSON bodies, one request each; every answer must be a 2xx."""
    timeout: Duration = Field(10, json_schema_extra={"default": "10s"})
    """How long one request may take (default 10s)."""

    @model_validator(mode="after")
    def _json(self) -> Smoke:
        import json

        for i, body in enumerate(self.requests):
            try:
                json.loads(body)
            except ValueError as exc:
                raise error(
                    "MS104",
                    f"request {i + 1} is not JSON: {exc}",
                    "write each request as a JSON text, e.g. '{\"inputs\": []}'",
                    at=("requests", str(i)),
                ) from None
        return self


class Load(Model):
    """Load generated at the new version during its analysis."""

    rate: Annotated[int, Field(ge=1, le=1000)] = 10
    """Requests per second (default 10)."""
    duration: Duration = Field(60, json_schema_extra={"default": "1m"})
    """How long each burst lasts (default 1m)."""


class Rollout(Model):
    """Progressive delivery of the new version to serving."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            when(
                _equals("controller", "kserve"),
                rules(has("service", is_set("model_format")), is_set("model_alias")),
            ),
            unless(_equals("controller", "kserve"), has("service", is_set("image"))),
            when(
                has("strategy", at_least_one("bandit", "contextual_bandit")), is_set("prometheus")
            ),
            unless(
                is_set("prometheus"),
                field(
                    "analysis",
                    each_value(when(is_set("prometheus"), field("prometheus", is_set("address")))),
                ),
            ),
        )
    )

    controller: Literal["argo-rollouts", "flagger", "kserve", "istio"]
    """What runs the rollout: argo-rollouts, flagger, kserve or istio."""
    service: Service
    """The Kubernetes service and deployment that serve the model: name, namespace, port,
    image."""
    model_alias: Alias | None = None
    """The registry alias this rollout serves, e.g. challenger; a promotion rule that does
    not wait for the rollout must set it. Required with kserve."""
    prometheus: str | None = Field(default=None, pattern=r"^https?://\S+$")
    """The Prometheus address for analyses without their own, and for bandit rewards."""
    strategy: Strategy
    """How traffic moves: blue_green, canary, shadow, ab_test, bandit or contextual_bandit."""
    analysis: dict[Name, AnalysisMetric] = Field(default_factory=dict)
    """Health checks the strategy names, e.g. error_rate: {prometheus: {query: ...}, max:
    0.01}."""
    smoke: Smoke | None = None
    """Requests the new version must answer before it gets traffic: {path, requests,
    timeout}."""
    load: Load | None = None
    """Traffic generated at the new version while it is analysed (an idle canary measures
    nothing): {rate, duration}."""


class Schedule(Model):
    """When the pipeline runs."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            field("timezone", {"pattern": TIMEZONE_RE.pattern, "maxLength": TIMEZONE_MAX})
        )
    )

    cron: Cron
    """Five fields, minute hour day-of-month month day-of-week, e.g. '0 3 * * 1'; or @hourly,
    @daily, @weekly, @monthly, @yearly."""
    timezone: str = "UTC"
    """The IANA time zone cron is read in, e.g. Europe/Berlin."""
    paused: bool = False
    """Deploy the schedule paused."""


class DataArrival(Model):
    """New or changed files at a path start a run."""

    path: DataPath
    """An absolute folder or file path the workers see (a mounted volume), e.g.
    /data/incoming/breast-cancer. A run starts when the files there are new or changed."""
    every: Duration = Field(300, json_schema_extra={"default": "5m"})
    """How often the path is looked at, e.g. 5m (default 5m, at least 1m)."""


class AfterPipeline(Model):
    """Another pipeline's outcome starts a run."""

    name: DnsName
    """The other pipeline's metadata.name: a spec in this spec's folder, or this spec itself
    is refused (a pipeline cannot trigger itself)."""
    promoted: Alias | None = None
    """Start when that pipeline promoted a model to this alias (default: to any alias)."""


class AfterMonitor(Model):
    """A monitor's alarm starts a run."""

    name: DnsName
    """The metadata.name of a Monitor spec in this spec's folder."""


_TRIGGER_KINDS = ("data", "pipeline", "monitor", "manual")


class Trigger(Model):
    """One thing besides `schedule` that starts a run: exactly one of data, pipeline, monitor,
    manual."""

    model_config = ConfigDict(json_schema_extra=rules(exactly_one(*_TRIGGER_KINDS)))

    data: DataArrival | None = None
    """Data arrival: {path, every}."""
    pipeline: AfterPipeline | None = None
    """Another pipeline's outcome: {name, promoted}."""
    monitor: AfterMonitor | None = None
    """A monitor's alarm (a breach of its checks or quality bounds): {name}."""
    manual: Literal[True] | None = None
    """`manual: true`: runs start only by hand or through the API (no schedule, no other
    trigger)."""

    @model_validator(mode="after")
    def _one_kind(self) -> Any:
        _exactly_one(self, _TRIGGER_KINDS, "a trigger")
        return self


# --- step tests -----------------------------------------------------------------------------


# A fixture beside the spec: a relative path, '/' between parts ('..' may leave the folder).
FixturePath = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")]


class StepTestInput(Model):
    """A step test's value for one input of its step: a file beside the spec, or a constant."""

    model_config = ConfigDict(json_schema_extra=rules(exactly_one("file", "value")))

    file: FixturePath | None = None
    """A fixture file (or folder) relative to the spec's folder, e.g. tests/fixtures/train.csv;
    the step gets a copy of it as its artifact input."""
    value: bool | int | float | str | None = None
    """A constant for a scalar input (a parameter, a constant or an upstream scalar)."""

    @model_validator(mode="after")
    def _one_source(self) -> Any:
        _exactly_one(self, ("file", "value"), "a test input")
        return self


def _expand_test_input(value: Any) -> Any:
    if isinstance(value, bool | int | float):
        return {"value": value}
    if isinstance(value, str) or value is None:
        raise error(
            "MS103",
            f"a test input is a number, a boolean or a mapping, not {type_name(value)}",
            "write {value: TEXT} for a string or {file: PATH} for a fixture file",
        )
    return value


StepTestInputEntry = Annotated[
    StepTestInput,
    BeforeValidator(_expand_test_input, json_schema_input_type=int | float | bool | StepTestInput),
]


class RowBounds(Model):
    """Inclusive bounds on a dataset's number of rows: min, max or both."""

    model_config = ConfigDict(json_schema_extra=rules(at_least_one("min", "max")))

    min: Annotated[int, Field(ge=0)] | None = None
    """At least this many rows."""
    max: Annotated[int, Field(ge=0)] | None = None
    """At most this many rows."""

    @model_validator(mode="after")
    def _rules(self) -> RowBounds:
        if self.min is None and self.max is None:
            raise error("MS105", "row bounds need 'min', 'max' or both", "add min or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise error(
                "MS104",
                f"min {self.min} is greater than max {self.max}",
                "nothing could pass; swap the bounds",
                at="min",
            )
        return self


class StepTestExpectation(Model):
    """What a step test expects of one output: a dataset's columns and rows, a number's range.
    Every artifact output must exist after the step, whatever is expected of it."""

    columns: dict[Annotated[str, Field(min_length=1)], ColumnType] | None = Field(
        default=None, min_length=1
    )
    """Dataset outputs: each listed column present with that type (as a data gate's `columns`)."""
    rows: RowBounds | None = None
    """Dataset outputs: the number of rows, {min, max}."""
    min: float | None = None
    """float and int outputs: the value is at least this."""
    max: float | None = None
    """float and int outputs: the value is at most this."""

    @model_validator(mode="after")
    def _rules(self) -> StepTestExpectation:
        _ordered(self.min, self.max)
        return self


class StepTest(Model):
    """A test of one Python step on fixture data, run by `mlspec test` (never compiled)."""

    step: Name
    """The Python step under test."""
    inputs: dict[Name, StepTestInputEntry] = Field(default_factory=dict)
    """Its inputs by name: {file: PATH} for an artifact input (required for each one that reads
    an upstream step), a number, a boolean or {value: ...} for a scalar; parameters and
    constants not given keep the spec's values."""
    expect: dict[Name, StepTestExpectation] = Field(default_factory=dict)
    """Expectations per output of the step."""
    gates: list[Name] = Field(default_factory=list)
    """Data gates that must pass on the step's outputs (their dataset an output of the step;
    a drift reference an output of the step or a fixture of one of its inputs)."""
    item: int | float | str | None = None
    """A step in a loop (for_each): the element of the one iteration the test runs (required
    there, an error elsewhere); its inputs reading `item` get it."""
    description: str = ""
    """Free text about the test."""


# --- monitors -------------------------------------------------------------------------------

FeedbackMetric = Literal["accuracy", "precision", "recall", "f1", "mae", "rmse"]


class WatchedModel(Model):
    """The served model a monitor watches: a pipeline beside the monitor and the alias serving
    uses."""

    pipeline: DnsName
    """The metadata.name of the pipeline that trains and promotes the model: a spec in this
    spec's folder. Its registry is read from there."""
    alias: Alias
    """The alias serving resolves, e.g. champion: one the pipeline's promotion rules set."""


class ServedInputs(Model):
    """Where the serving side logs the inputs it was sent."""

    path: DataPath
    """An absolute file or folder the monitor's workers see (a mounted volume), holding CSV or
    Parquet files, e.g. /data/serving/fraud/inputs."""
    window: Duration | None = None
    """Only files changed within this long before the run, e.g. 24h (default: every file)."""


class FeedbackRequirement(Model):
    """A bound on a quality metric measured on labelled feedback."""

    model_config = ConfigDict(json_schema_extra=rules(at_least_one("min", "max")))

    metric: FeedbackMetric
    """accuracy, precision, recall, f1 (classification: `positive` is the positive class), mae
    or rmse (regression)."""
    min: float | None = None
    """Passes when the metric is at least this."""
    max: float | None = None
    """Passes when the metric is at most this."""

    @model_validator(mode="after")
    def _some_bound(self) -> FeedbackRequirement:
        if self.min is None and self.max is None:
            raise error("MS105", "give 'min', 'max' or both", "e.g. {metric: accuracy, min: 0.9}")
        _ordered(self.min, self.max)
        return self


class Feedback(Model):
    """Labelled feedback: served predictions joined with the labels that came back later."""

    path: DataPath
    """An absolute file or folder of CSV or Parquet files with a prediction and a label
    column, e.g. /data/serving/fraud/feedback."""
    window: Duration | None = None
    """Only files changed within this long before the run (default: every file)."""
    prediction: str = Field(min_length=1)
    """The column holding what the model answered."""
    label: str = Field(min_length=1)
    """The column holding the true outcome."""
    positive: str | int | bool = 1
    """The positive class, for precision, recall and f1 (default 1)."""
    min_rows: Annotated[int, Field(ge=1)] = 1
    """Fewer labelled rows than this: quality is not judged yet (labels arrive late), and the
    report says so; it is no breach."""
    require: list[FeedbackRequirement] = Field(min_length=1)
    """Bounds on quality metrics, e.g. {metric: accuracy, min: 0.9}."""


BreachKind = Literal["checks", "feedback"]


class OnBreach(Model):
    """What a monitor does besides raising its alarm (which `monitor:` triggers listen to)."""

    rollback: list[BreachKind] = Field(default_factory=list)
    """Roll the watched alias back to the version it named before when these breach: checks
    (the served inputs), feedback (quality on labels). Default: never."""


class Monitor(Model):
    """What a Monitor spec watches and how it judges it."""

    model: WatchedModel
    """The served model: {pipeline, alias}."""
    inputs: ServedInputs
    """The logged serving inputs: {path, window}."""
    checks: list[MonitorCheck] = Field(min_length=1)
    """Checks of the served inputs, as in a data gate: row_count, columns, null_fraction, range,
    categories, drift (against the served version's training data)."""
    feedback: Feedback | None = None
    """Quality on labelled feedback: {path, prediction, label, require, ...}."""
    on_breach: OnBreach = Field(default_factory=OnBreach)
    """Actions besides the alarm: {rollback: [checks, feedback]}."""


# --- the pipeline ---------------------------------------------------------------------------


_NOTHING: Schema = {"anyOf": [{"type": "null"}, {"type": "object", "maxProperties": 0}]}


def _spec_rules(schema: Schema) -> None:
    """The rules of `checks/` that JSON Schema can say: reserved names (MS222, and `all` for an
    environment), a container
    step's image (MS225), a champion comparison's registry and a promotion's rollout (MS244);
    and the sections each kind has (`Spec._kind_shape`: MS102, MS105).
    (Literal credentials, MS117, are not among them: credentials.py judges a name by its last
    word and a value by token shapes that no schema pattern matches alike.)"""
    reserved = "|".join(
        [*(f"^{p}" for p in RESERVED_PREFIXES), *(f"^{n}$" for n in RESERVED_NAMES)]
    )
    task_names = {"propertyNames": not_matching(reserved)}
    waits_for_rollout = has_item("promote", has_item("after", {"const": "rollout"}))
    schema["allOf"] = [
        field("steps", task_names),
        field("gates", task_names),
        field("environments", {"propertyNames": not_matching("^all$")}),  # compile --env all
        unless(
            has("defaults", is_set("image")),
            field("steps", each_value(when(is_set("container"), is_set("image")))),
        ),
        when(has("gates", some_value(_COMPARES)), is_set("registry")),
        when(has("registry", waits_for_rollout), is_set("rollout")),
        when(
            _equals("kind", "Pipeline"),
            rules(is_set("steps"), field("steps", {"minProperties": 1}), is_unset("monitor")),
        ),
        when(
            _equals("kind", "Monitor"),
            rules(
                is_set("monitor"),
                *(
                    field(key, _NOTHING)
                    for key in ("params", "steps", "gates", "registry", "rollout", "tests")
                ),
            ),
        ),
    ]


# --- environments ---------------------------------------------------------------------------


class EnvRegistry(Model):
    """This environment's MLflow registry."""

    tracking_uri: str | None = None
    """The MLflow server of this environment, e.g. http://mlflow.prod:5000."""
    registered_model: RegisteredModel | None = None
    """The registered model in it (default: the spec's); give environments that share one
    server a model each, so that their aliases never meet."""


class Serving(Model):
    """The serving deployment's size in this environment."""

    replicas: Annotated[int, Field(ge=1, le=1000)] | None = None
    """Pods of the serving deployment, 1-1000."""
    resources: Resources | None = None
    """CPU, memory and GPUs per serving pod (replaces the spec's as a whole)."""


class ImageMirror(Model):
    """Pull images from this environment's registry: every image that starts with `from`
    starts with `to` instead (steps, defaults, the serving image)."""

    from_: str = Field(alias="from", min_length=1)
    """The prefix the spec's images start with, e.g. ghcr.io/acme."""
    to: str = Field(min_length=1)
    """This environment's prefix, e.g. registry.prod.acme.io/acme."""


class EnvSchedule(Model):
    """The schedule in this environment (its cron is the spec's)."""

    paused: bool
    """Deploy the schedule paused (true) or running (false)."""


class EnvDeploy(Model):
    """The servers `mlspec deploy --env` talks to in this environment."""

    kubeflow: str | None = Field(default=None, pattern=r"^https?://\S+$")
    """The Kubeflow Pipelines API, e.g. https://kfp.prod.acme.io."""
    airflow: str | None = Field(default=None, pattern=r"^https?://\S+$")
    """The Airflow REST API, e.g. https://airflow.prod.acme.io."""
    prefect: str | None = Field(default=None, pattern=r"^https?://\S+$")
    """The Prefect API, e.g. https://prefect.prod.acme.io/api."""
    cluster: str | None = Field(default=None, pattern=r"^https://\S+$")
    """The Kubernetes API server this environment's rollout is deployed to: the destination of
    its Argo CD Application (`compile --target rollout`), e.g. https://prod.k8s.acme.io, or
    https://kubernetes.default.svc for the cluster Argo CD runs in."""


class Tightened(Model):
    """Stricter bounds for one check or requirement: a higher min, a lower max."""

    model_config = ConfigDict(json_schema_extra=rules(at_least_one("min", "max")))

    min: float | None = None
    """The lowest value that passes here; at least the spec's."""
    max: float | None = None
    """The highest value that passes here; at most the spec's."""


class GateOverride(Model):
    """A gate made stricter in one environment; never looser than the spec's."""

    require: dict[Annotated[str, Field(min_length=1)], Tightened] = Field(default_factory=dict)
    """Model gates: metric (step.output) -> stricter bounds, e.g. {train.auc: {min: 0.95}}."""
    checks: dict[Annotated[str, Field(min_length=1)], Tightened] = Field(default_factory=dict)
    """Data gates: row_count, or KIND.COLUMN (null_fraction.age, range.amount) -> stricter
    bounds."""


def _secret_reference(value: Any) -> Any:
    if isinstance(value, str | bool | int | float):
        raise error(
            "MS272",
            "a secret given as a literal value",
            "name a Kubernetes secret instead: {name: SECRET, key: KEY}; values never belong "
            "in a spec",
        )
    return value


class Environment(Model):
    """Where the pipeline runs in one environment (dev, staging, prod): what legitimately
    differs between environments. What runs (steps, their wiring, gate checks, promotion rules,
    the rollout strategy) is the spec's in every environment."""

    registry: EnvRegistry | None = None
    """This environment's MLflow server and registered model."""
    artifact_root: str | None = None
    """Where this environment's artifacts are stored, e.g. s3://acme-prod/fraud."""
    namespace: Namespace | None = None
    """The Kubernetes namespace of the serving deployment and rollout objects."""
    images: ImageMirror | None = None
    """Pull images from this environment's registry: {from: ghcr.io/acme, to: ...}."""
    serving: Serving | None = None
    """The serving deployment's replicas and resources."""
    prometheus: str | None = Field(default=None, pattern=r"^https?://\S+$")
    """This environment's Prometheus (analyses without their own address, bandit rewards)."""
    schedule: EnvSchedule | None = None
    """{paused: true} to keep the schedule off here (e.g. in dev)."""
    secrets: dict[
        EnvName,
        Annotated[SecretRef, BeforeValidator(_secret_reference, json_schema_input_type=SecretRef)],
    ] = Field(default_factory=dict)
    """Env variables read from this environment's Kubernetes secrets: NAME: {name, key}. Only
    variables that read a secret in the spec; names only, never values."""
    deploy: EnvDeploy | None = None
    """The orchestrator servers of this environment (`mlspec deploy --env`)."""
    gates: dict[Name, GateOverride] = Field(default_factory=dict)
    """Gates made stricter here, e.g. {quality: {require: {train.auc: {min: 0.95}}}}."""
    promote_from: Name | None = None
    """The environment whose proven versions this one serves: only `mlspec promote --env
    THIS --from THAT` sets its serving alias, with the exact version that passed there."""


class Spec(Model):
    """An mlspec pipeline spec."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        title="mlspec pipeline spec (mlspec/v1)",
        json_schema_extra=_spec_rules,
    )

    api_version: Literal["mlspec/v1"] = Field(alias="apiVersion")
    """The language version: mlspec/v1."""
    kind: Literal["Pipeline", "Monitor"]
    """Pipeline: steps, gates, promotion and rollout. Monitor: mlspec's monitoring job for a
    served model, declared in `monitor:`."""
    metadata: Metadata
    """The pipeline's name, version, owners and labels."""
    params: dict[Name, Param] = Field(default_factory=dict)
    """Run-time parameters, e.g. learning_rate: {type: float, default: 0.05}."""
    defaults: Defaults = Field(default_factory=Defaults)
    """Settings every step inherits: image, packages, retries, timeout, caching, resources,
    env."""
    artifact_root: str | None = None
    """Where artifacts are stored, one folder per run, step and output, e.g.
    s3://acme-ml-artifacts/fraud (default: the target's own location)."""
    steps: dict[Name, Step] = Field(default_factory=dict)
    """The work of a Pipeline, at least one step: each a Python function or a container."""
    gates: dict[Name, Gate] = Field(default_factory=dict)
    """Data and model validation: data gates check a dataset, model gates check metrics."""
    registry: Registry | None = None
    """Registration of the model in MLflow and promotion by alias."""
    rollout: Rollout | None = None
    """Progressive delivery to serving."""
    schedule: Schedule | None = None
    """When the pipeline runs: {cron, timezone, paused}."""
    triggers: list[Trigger] = Field(default_factory=list)
    """What else starts a run: data arrival ({data: {path, every}}), another pipeline's
    promotion ({pipeline: {name, promoted}}), a monitor's alarm ({monitor: {name}}), or
    {manual: true} for manual runs only."""
    monitor: Monitor | None = None
    """A Monitor's job: the served model, its logged inputs, the checks, labelled feedback and
    what a breach does."""
    tests: dict[Name, StepTest] = Field(default_factory=dict)
    """Step tests on fixture data, run by `mlspec test` (never compiled): per test, a step, its
    fixture inputs and what its outputs must be."""
    environments: dict[Name, Environment] = Field(default_factory=dict)
    """Where the pipeline runs: per environment (dev, staging, prod) its registry, artifact
    root, namespace, image registry, serving size, Prometheus, schedule, secrets, servers and
    stricter gates. `compile --env NAME` binds one."""

    @model_validator(mode="after")
    def _kind_shape(self) -> Spec:
        if self.kind == "Pipeline":
            if self.monitor is not None:
                raise error(
                    "MS105",
                    "'monitor' belongs to a Monitor spec",
                    "declare the monitor in a spec of its own with `kind: Monitor`, beside "
                    "this one",
                    at="monitor",
                )
            if not self.steps:
                raise error(
                    "MS102",
                    "missing required field 'steps' in the spec",
                    "add `steps:` with at least one step; see specs/README.md",
                )
            return self
        if self.monitor is None:
            raise error(
                "MS102",
                "missing required field 'monitor' in the Monitor spec",
                "add `monitor: {model: {pipeline, alias}, inputs: {path}, checks: [...]}`",
            )
        for name in ("params", "steps", "gates", "registry", "rollout", "tests"):
            if getattr(self, name):
                raise error(
                    "MS105",
                    f"a Monitor spec has no '{name}': it runs mlspec's monitoring job on the "
                    "model its pipeline serves",
                    f"remove '{name}', or make this a `kind: Pipeline` spec",
                    at=name,
                )
        return self
