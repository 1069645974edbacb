"""The typed IR: frozen, fully resolved, topologically ordered. Back ends see only this.

Defaults are applied, references are resolved to typed nodes, durations are seconds, and every
node carries the span of the spec text it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal

from mlspec.diagnostics import Span

Scalar = bool | int | float | str


@dataclass(frozen=True)
class ParamRef:
    name: str


@dataclass(frozen=True)
class OutputRef:
    step: str
    output: str


@dataclass(frozen=True)
class Constant:
    value: Scalar


@dataclass(frozen=True)
class Item:
    """The current element of the loop the reading step runs in (`NAME: item`)."""


@dataclass(frozen=True)
class FanIn:
    """A fan-in: one output of a looped step, every iteration's value as one list in the
    order of the loop's elements (paths for artifacts, values for scalars). Read by a step
    or gate outside that loop; inside it, a plain OutputRef reads the same iteration's value."""

    ref: OutputRef


ValueSource = ParamRef | OutputRef | Constant | Item | FanIn
Threshold = float | ParamRef


@dataclass(frozen=True)
class Param:
    name: str
    # A list parameter (`list[str]`, ...) is read only by a loop (`for_each: params.NAME`).
    type: Literal["float", "int", "str", "bool", "list[str]", "list[int]", "list[float]"]
    default: Scalar | tuple[Scalar, ...]
    description: str
    span: Span

    @property
    def is_list(self) -> bool:
        return self.type.startswith("list[")


@dataclass(frozen=True)
class Input:
    name: str
    type: str
    source: ValueSource
    span: Span

    @property
    def is_artifact(self) -> bool:
        return self.type in ARTIFACT_TYPES


@dataclass(frozen=True)
class Output:
    name: str
    type: str
    span: Span

    @property
    def is_artifact(self) -> bool:
        return self.type in ARTIFACT_TYPES


ARTIFACT_TYPES = frozenset({"dataset", "model", "metrics", "artifact"})


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None
    secret: SecretRef | None
    param: str | None
    span: Span


@dataclass(frozen=True)
class Resources:
    cpu: str | None = None
    memory: str | None = None
    gpu: int | None = None  # serving pods only: a step's accelerators are its Placement


@dataclass(frozen=True)
class Toleration:
    key: str | None
    operator: Literal["Equal", "Exists"]
    value: str | None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None
    seconds: int | None


@dataclass(frozen=True)
class Placement:
    """Where a step's pod runs: its accelerators, node labels and tolerated taints."""

    accelerator_type: str | None = None  # a Kubernetes extended resource, e.g. nvidia.com/gpu
    accelerator_count: int = 0
    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    span: Span | None = None  # the first placement field that applies, for diagnostics

    def __bool__(self) -> bool:
        return bool(self.accelerator_count or self.node_selector or self.tolerations)


@dataclass(frozen=True)
class PackageFile:
    path: str  # relative to the package's parent folder, with '/': breast_cancer/steps.py
    data: bytes


@dataclass(frozen=True)
class CodePackage:
    """A step package found beside the spec, read once: what is hashed is what is shipped."""

    name: str  # the import name: breast_cancer
    digest: str  # sha256 of its files (code.py's package_digest): the pin
    files: tuple[PackageFile, ...] = field(metadata={"dump": False})


@dataclass(frozen=True)
class GitSource:
    url: str
    commit: str
    path: str  # the folder of the compiled output within the repository
    span: Span


@dataclass(frozen=True)
class Code:
    """How a Python step's code reaches the machine that runs it."""

    package: CodePackage | None  # None: not found beside the spec (an image or packages has it)
    wheels: str | None  # folder URL of published wheels, without a trailing '/'
    image: str | None  # an image that contains the package
    git: GitSource | None
    span: Span  # the `code:` that applies, else the step
    # A local run (`mlspec run`, passes.localize): the step imports the package from the spec's
    # folder, so nothing delivers it and no target requires a way to.
    local: bool = False


@dataclass(frozen=True)
class Notebook:
    """A notebook step's file, read once and validated: what is hashed is what is shipped."""

    path: str  # as the spec gives it, relative to the spec's folder
    digest: str  # sha256 of its bytes: the pin, and the step's code in a diff
    text: str = field(metadata={"dump": False})


@dataclass(frozen=True)
class Step:
    name: str
    kind: Literal["python", "container", "notebook"]
    function: str | None  # module:function, for python steps
    packages: tuple[str, ...]
    image: str | None  # None: a python step on the target's default image
    command: tuple[str, ...]  # ${inputs.x} / ${outputs.y} placeholders; $${ is a literal ${
    args: tuple[str, ...]
    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...]
    upstream: tuple[str, ...]  # steps this one waits for (data and explicit `after`)
    gates: tuple[str, ...]  # gates that must pass before it runs (directly)
    env: tuple[EnvVar, ...]
    resources: Resources
    retries: int
    timeout_seconds: int | None
    caching: bool
    description: str
    span: Span
    code: Code | None = None  # python steps only
    placement: Placement = Placement()
    notebook: Notebook | None = None  # notebook steps only
    # The loop (Pipeline.loops) this step runs in, once per element; None for most steps.
    loop: str | None = field(default=None, metadata={"dump": "unless None"})


@dataclass(frozen=True)
class Loop:
    """Steps (and their per-item gates) that run once per element of one list: the spec's
    `for_each`. Steps with the same list that read each other's outputs form one loop; engines
    emit it natively (KFP ParallelFor, Airflow mapped task group, Prefect map).

    Its members are contiguous in Pipeline.steps (topological order inside); a member reads
    another member's output per iteration with a plain OutputRef, the element with Item, and
    anything outside the loop as usual. Outside the loop, FanIn reads a member's output as a
    list; `after` a member or a per-item gate waits for every iteration.
    """

    name: str  # the first member step's name (unique among steps and gates)
    items: tuple[Scalar, ...] | ParamRef  # a static list, or a list parameter
    item_type: Literal["int", "float", "str"]
    steps: tuple[str, ...]  # member steps, in Pipeline.steps order
    gates: tuple[str, ...]  # per-item gates: they judge each iteration on its own
    span: Span  # the first member's for_each


def output_refs(source: ValueSource) -> tuple[OutputRef, ...]:
    """The step outputs a value comes from: one, several (a fan-in) or none."""
    if isinstance(source, OutputRef):
        return (source,)
    return (source.ref,) if isinstance(source, FanIn) else ()


@dataclass(frozen=True)
class DataCheck:
    kind: Literal["row_count", "columns", "null_fraction", "range", "categories", "drift"]
    column: str | None
    # A regular expression (re.search) instead of `column`: the runtime checks every column it
    # matches, each on its own, and fails when none does. (A spec's list of `columns` is lowered
    # to one check per column.)
    pattern: str | None
    min: Threshold | None
    max: Threshold | None
    columns: tuple[tuple[str, str], ...]  # required columns and their types
    allowed: tuple[Scalar, ...]
    reference: OutputRef | None
    reference_uri: str | None
    method: Literal["psi", "ks"] | None
    bins: int | None
    span: Span


@dataclass(frozen=True)
class Requirement:
    metric: OutputRef
    min: Threshold | None
    max: Threshold | None
    vs: str | None  # the registry alias to compare with, e.g. champion
    better: Literal["higher", "lower"] | None
    tolerance: float
    span: Span


@dataclass(frozen=True)
class ServingCheck:
    """A serving gate: serve `model` with `runtime` in an environment of `requirements`, send
    the canned requests, judge the answers, the latency and the memory."""

    model: OutputRef
    runtime: Literal["mlserver", "mlflow", "command"]
    command: tuple[str, ...]  # runtime command: ${model} and ${port} are filled in
    requirements: tuple[str, ...]  # the gate's, else defaults.packages
    dataset: OutputRef | None  # rows of this dataset, or `examples`
    rows: int
    drop: tuple[str, ...]
    examples: tuple[tuple[Scalar, ...], ...]
    expect_type: Literal["int", "float", "str", "bool"] | None
    expect_shape: tuple[int, ...] | None  # -1: any length
    ready_seconds: int
    max_p95_latency_ms: float | None
    max_memory_bytes: int | None
    span: Span


@dataclass(frozen=True)
class Gate:
    name: str
    kind: Literal["data", "model", "serving"]
    dataset: OutputRef | None
    checks: tuple[DataCheck, ...]
    requirements: tuple[Requirement, ...]
    first_run: Literal["pass", "fail"] | None
    on_fail: Literal["block", "fail"]
    upstream: tuple[str, ...]  # steps whose outputs it reads
    description: str
    span: Span
    serving: ServingCheck | None = None  # kind serving
    # A per-item gate (Loop.gates): judged once per element. Inside its loop, a step it guards
    # runs for the iterations it passed; outside, what waits for it needs every one passed.
    loop: str | None = field(default=None, metadata={"dump": "unless None"})


@dataclass(frozen=True)
class PromotionRule:
    alias: str
    gates: tuple[str, ...]
    after_rollout: bool
    span: Span


@dataclass(frozen=True)
class Registry:
    registered_model: str
    tracking_uri: str | None
    model: OutputRef
    tags: tuple[tuple[str, str], ...]
    rules: tuple[PromotionRule, ...]
    span: Span
    reference: OutputRef | None = None  # the dataset the model learned from (tag mlspec.reference)


@dataclass(frozen=True)
class AnalysisMetric:
    name: str
    provider: Literal["prometheus", "web"]
    query: str | None
    address: str | None
    url: str | None
    json_path: str | None
    min: Threshold | None
    max: Threshold | None
    interval_seconds: int
    count: int
    failure_limit: int
    span: Span
    no_data: Literal["inconclusive", "fail"] = "inconclusive"  # never "pass"
    dry_run: bool = False


# What the spec fills in when these are left out (spec.py uses them as its defaults): a back end
# compares with them to tell a setting its target ignores from one the author left alone.
ANALYSIS_INTERVAL_SECONDS = 60
ANALYSIS_COUNT = 5
ANALYSIS_FAILURE_LIMIT = 1
SCALE_DOWN_DELAY_SECONDS = 30


@dataclass(frozen=True)
class CanaryStep:
    action: Literal["weight", "pause", "analysis"]
    weight: int | None
    pause_seconds: int | None  # None with action 'pause': wait for a manual promotion
    analysis: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class Canary:
    steps: tuple[CanaryStep, ...]
    analysis: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class BlueGreen:
    preview_service: str
    auto_promote: bool
    auto_promote_after_seconds: int | None
    scale_down_delay_seconds: int
    pre_promotion_analysis: tuple[str, ...]
    post_promotion_analysis: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class Shadow:
    percent: int
    duration_seconds: int
    analysis: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class AbTest:
    weight: int | None
    header: tuple[str, Literal["exact", "prefix", "regex"], str] | None  # name, match, value
    cookie: tuple[str, str] | None  # name, value
    duration_seconds: int
    analysis: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class Arm:
    name: str
    image: str | None
    model_alias: str | None
    span: Span


@dataclass(frozen=True)
class Bandit:
    arms: tuple[Arm, ...]
    algorithm: Literal["thompson", "epsilon_greedy", "ucb1"]
    reward_successes: str
    reward_trials: str
    interval_seconds: int
    exploration_floor: int
    max_step: int
    epsilon: float | None
    guardrails: tuple[str, ...]
    no_data_pause_intervals: int
    stop_p_best: float | None
    stop_max_duration_seconds: int | None
    context_header: str | None  # contextual bandits only
    segments: tuple[str, ...]
    span: Span


Strategy = Canary | BlueGreen | Shadow | AbTest | Bandit


@dataclass(frozen=True)
class Service:
    name: str
    namespace: str
    port: int
    image: str | None
    model_format: str | None
    replicas: int
    resources: Resources
    span: Span


@dataclass(frozen=True)
class Smoke:
    """Requests the new version must answer (2xx) before it gets traffic."""

    path: str
    requests: tuple[str, ...]  # JSON bodies
    timeout_seconds: int
    span: Span


@dataclass(frozen=True)
class Load:
    """Traffic generated at the new version during its analysis."""

    rate: int  # requests per second
    duration_seconds: int
    span: Span


# Placeholders an analysis query may hold; each controller fills in its own selector of the
# canary's (or the stable version's) pods.
CANARY_PLACEHOLDER = "${canary}"
STABLE_PLACEHOLDER = "${stable}"


@dataclass(frozen=True)
class Rollout:
    controller: Literal["argo-rollouts", "flagger", "kserve", "istio"]
    service: Service
    model_alias: str | None
    prometheus: str | None
    strategy_kind: str
    strategy: Strategy
    analysis: tuple[AnalysisMetric, ...]
    span: Span
    controller_span: Span
    # Set by `mlspec compile --model-version/--model-uri` (CI, after the pipeline registered a
    # version), never by the spec: which version to serve, and where KServe loads it from.
    model_version: str | None = None
    model_uri: str | None = None
    smoke: Smoke | None = None
    load: Load | None = None


@dataclass(frozen=True)
class Trigger:
    """Something besides the schedule that starts a run."""

    kind: Literal["data", "pipeline", "monitor", "manual"]
    path: str | None  # data: the absolute path watched
    every_seconds: int | None  # data: how often it is looked at
    pipeline: str | None  # pipeline: the other pipeline's name
    alias: str | None  # pipeline: the alias its promotion sets (None: any)
    span: Span
    monitor: str | None = None  # monitor: the monitor whose alarm starts a run


@dataclass(frozen=True)
class WatchedModel:
    """The served model a monitor watches, with the registry its pipeline's spec names."""

    pipeline: str
    alias: str
    registered_model: str
    tracking_uri: str | None
    span: Span


@dataclass(frozen=True)
class LoggedData:
    """Files the serving side writes (inputs, or feedback with labels), CSV or Parquet."""

    path: str  # an absolute file or folder
    window_seconds: int | None  # only files changed this recently; None: all
    span: Span


@dataclass(frozen=True)
class FeedbackRequirement:
    metric: Literal["accuracy", "precision", "recall", "f1", "mae", "rmse"]
    min: float | None
    max: float | None
    span: Span


@dataclass(frozen=True)
class Feedback:
    data: LoggedData
    prediction: str
    label: str
    positive: Scalar
    min_rows: int
    requirements: tuple[FeedbackRequirement, ...]
    span: Span


@dataclass(frozen=True)
class JobSettings:
    """Where a monitor's job runs: the spec's `defaults`, as a Python step would get them."""

    image: str | None  # None: the target's default Python image
    packages: tuple[str, ...]
    resources: Resources
    retries: int
    timeout_seconds: int | None
    span: Span | None = None  # the spec's `defaults:`, where its settings are


@dataclass(frozen=True)
class Monitor:
    """A Monitor spec's job. Drift checks without a reference (both `reference` and
    `reference_uri` None) compare with the served version's training data."""

    model: WatchedModel
    inputs: LoggedData
    checks: tuple[DataCheck, ...]
    feedback: Feedback | None
    rollback_on: tuple[Literal["checks", "feedback"], ...]
    span: Span
    job: JobSettings = JobSettings(None, (), Resources(), 0, None)


@dataclass(frozen=True)
class Schedule:
    cron: str
    timezone: str
    paused: bool
    span: Span


def has_markup_braces(text: str) -> bool:
    """`{{` (KFP placeholders, Jinja, Argo expressions) or a leading `{` (JSON, which KFP reads
    as a structured placeholder)."""
    return "{" in text and ("{{" in text or text.lstrip().startswith("{"))


@dataclass(frozen=True)
class Text:
    """A string the spec holds (a value, or a key of a mapping), where it stands."""

    path: tuple[str | int, ...]
    value: str
    span: Span


@dataclass(frozen=True)
class TestInput:
    """A step test's value for one input: a fixture file (relative to the spec's folder), or a
    constant."""

    name: str
    file: str | None
    value: Scalar | None
    span: Span


@dataclass(frozen=True)
class TestExpectation:
    """What a step test expects of one output (`name`)."""

    name: str
    columns: tuple[tuple[str, str], ...]  # dataset: column -> int | float | str | bool
    min_rows: int | None
    max_rows: int | None
    min: float | None  # float and int outputs
    max: float | None
    span: Span


@dataclass(frozen=True)
class StepTest:
    """A test of one Python step on fixtures (`mlspec test`); not part of what targets run."""

    name: str
    step: str
    inputs: tuple[TestInput, ...]
    expect: tuple[TestExpectation, ...]
    gates: tuple[str, ...]  # data gates that must pass on the step's outputs
    description: str
    span: Span
    item: Scalar | None = None  # a looped step's: the element of the iteration it runs


@dataclass(frozen=True)
class Pipeline:
    name: str
    version: str
    description: str
    owners: tuple[str, ...]
    labels: tuple[tuple[str, str], ...]
    artifact_root: str | None
    artifact_root_span: Span | None
    params: tuple[Param, ...]
    steps: tuple[Step, ...]  # topological order; ties keep spec order
    gates: tuple[Gate, ...]  # in spec order
    registry: Registry | None
    rollout: Rollout | None
    schedule: Schedule | None
    triggers: tuple[Trigger, ...]
    source_file: str  # as the user named it, for diagnostics
    spec_path: str  # as generated files name it: the same in every clone (portable_path)
    span: Span  # the spec's first key: where diagnostics about the whole spec point
    monitor: Monitor | None = None  # a Monitor spec: no steps, gates, registry or rollout
    loops: tuple[Loop, ...] = field(default=(), metadata={"dump": "unless empty"})
    # The environment the spec was bound to (compile --env), None: the spec as written.
    environment: str | None = field(default=None, metadata={"dump": "unless None"})
    # defaults.code.wheels: where a Kubeflow pipeline's runtime wheel is published (None: the
    # components carry the runtime as text; a local run, passes.localize, always).
    runtime_wheels: str | None = None
    # Every string of the spec that `has_markup_braces`: a target that cannot escape such text
    # refuses it where it stands. An index of the spec's text rather than part of the pipeline:
    # `to_data` leaves it out.
    texts_with_braces: tuple[Text, ...] = field(default=(), metadata={"dump": False})
    # sha256 of the spec's text in UTF-8 (its file's bytes less a byte-order mark): the spec
    # version a run's lineage names. Not part of the pipeline either: a comment changes it.
    spec_sha256: str = field(default="", metadata={"dump": False})
    # Step tests (`mlspec test`): no target compiles them, so the dump leaves them out; `mlspec
    # diff` rates their changes with its own rule (diff/changes/tests.py).
    tests: tuple[StepTest, ...] = field(default=(), metadata={"dump": False})

    @property
    def kind(self) -> Literal["Pipeline", "Monitor"]:
        return "Monitor" if self.monitor is not None else "Pipeline"

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def gate(self, name: str) -> Gate:
        return next(g for g in self.gates if g.name == name)

    def loop(self, name: str) -> Loop:
        return next(loop for loop in self.loops if loop.name == name)


def to_data(node: Any, *, spans: bool = True) -> Any:
    """A JSON-ready view of an IR node: dataclasses become mappings in field order."""
    if is_dataclass(node) and not isinstance(node, type):
        if isinstance(node, Span):
            return f"{node.line}:{node.col}"
        out: dict[str, Any] = {}
        if isinstance(node, ParamRef | OutputRef | Constant | Item | FanIn):
            out["ref"] = type(node).__name__
        for f in fields(node):
            dump = f.metadata.get("dump")
            if (f.name == "span" and not spans) or dump is False:
                continue
            if dump == "unless None" and getattr(node, f.name) is None:
                continue
            if dump == "unless empty" and not getattr(node, f.name):
                continue
            out[f.name] = to_data(getattr(node, f.name), spans=spans)
        return out
    if isinstance(node, tuple | list):
        return [to_data(item, spans=spans) for item in node]
    return node
