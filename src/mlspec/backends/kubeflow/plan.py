"""What each KFP component and task is, as plain data: built from the IR without kfp.

A `Plan` is one task: the Python source of a lightweight component (or a container step), its
parameters with their annotations, and where each input's value comes from. `components.py`
turns a plan into a kfp component; `graph.py` wires the tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mlspec.compiler import ir
from mlspec.diagnostics import Span

# Python steps without an image of their own, and the gate and promotion steps, run on this.
DEFAULT_PYTHON_IMAGE = "python:3.11-slim"
# What the embedded runtime needs where it talks to the registry.
REGISTRY_PACKAGES = ("mlflow-skinny>=3.17,<3.18",)
# MLflow's SQL store, which mlflow-skinny leaves out (the pins of mlspec's mlflow extra).
SQL_STORE_PACKAGES = ("sqlalchemy>=2", "alembic>=1.13")

ARTIFACT_CLASSES = {
    "dataset": "Dataset",
    "model": "Model",
    "metrics": "Metrics",
    "artifact": "Artifact",
}
SCALAR_TYPES = ("float", "int", "str", "bool")


# The input naming the function that a runtime component runs (see gates.py).
RUNTIME_ENTRY = "mlspec_function"


@dataclass(frozen=True)
class RunId:
    """The pipeline run's id, filled in by the orchestrator."""


# Item: the loop's element (the ParallelFor's item); FanIn: every iteration's output, a
# `dsl.Collected` list.
Binding = ir.ParamRef | ir.OutputRef | ir.Constant | ir.Item | ir.FanIn | RunId


@dataclass(frozen=True)
class Parameter:
    name: str
    annotation: str  # as written in the component's source: "float", "Input[Dataset]", ...
    binding: Binding | None  # None: an output


@dataclass(frozen=True)
class Plan:
    name: str  # task and component name, a Python identifier
    kind: Literal["python", "container", "gate", "promotion", "monitor", "tracking"]
    parameters: tuple[Parameter, ...]
    scalar_outputs: tuple[tuple[str, str], ...]  # (name, type), returned as a NamedTuple
    source: str | None  # a lightweight component's function source
    image: str
    packages: tuple[str, ...]
    step: ir.Step | None  # for step settings (resources, env, retries...)
    after: tuple[str, ...]  # tasks it waits for without taking their outputs
    span: Span
    description: str = ""
    job: ir.JobSettings | None = None  # a monitor's settings (resources, retries, timeout)
    loop: str | None = None  # the loop (ir.Loop) whose ParallelFor it runs in, per element


def tracking_uri(pipeline: ir.Pipeline) -> str | None:
    """The registry's URI in the spec: its own, or a monitor's watched pipeline's."""
    if pipeline.registry is not None:
        return pipeline.registry.tracking_uri
    return pipeline.monitor.model.tracking_uri if pipeline.monitor is not None else None


def tracking_uri_code(pipeline: ir.Pipeline) -> str:
    """A component's expression for the registry's URI: the spec's, else the environment's."""
    uri = tracking_uri(pipeline)
    return repr(uri) if uri else "os.environ.get('MLFLOW_TRACKING_URI')"


def registry_packages(pipeline: ir.Pipeline) -> tuple[str, ...]:
    """What the runtime needs to reach the spec's registry: an MLflow server (or a URI known
    only at run time) takes mlflow-skinny; a registry in a SQLite file also its SQL store."""
    uri = tracking_uri(pipeline)
    if uri is not None and uri.startswith("sqlite:"):
        return REGISTRY_PACKAGES + SQL_STORE_PACKAGES
    return REGISTRY_PACKAGES


def annotation(type_: str, direction: Literal["in", "out"], collected: bool = False) -> str:
    """A parameter's annotation; `collected`: an input taking every iteration's value
    (`dsl.Collected`): a list of values, or of artifacts (`Input[List[Dataset]]`)."""
    if type_ in ARTIFACT_CLASSES:
        wrapper = "Input" if direction == "in" else "Output"
        cls = ARTIFACT_CLASSES[type_]
        return f"{wrapper}[{f'List[{cls}]' if collected else cls}]"
    if direction == "out":
        return f"OutputPath({type_})"
    return f"List[{type_}]" if collected else type_


def value_code(parameter: Parameter, artifact: bool) -> str:
    """The Python value a component passes on for an input: an artifact's path, a fan-in of
    artifacts' paths as a list (`Input[List[Dataset]]`), else the value itself."""
    if not artifact:
        return parameter.name
    if isinstance(parameter.binding, ir.FanIn):
        return f"[_mlspec_a.path for _mlspec_a in {parameter.name}]"
    return f"{parameter.name}.path"


def param_annotation(type_: str) -> str:
    """A pipeline parameter's annotation: a list parameter's is kfp's list type (`List[str]`),
    which the KFP UI's run form accepts as a JSON list."""
    return f"List[{type_[5:-1]}]" if type_.startswith("list[") else type_


def output_type(pipeline: ir.Pipeline, ref: ir.OutputRef) -> str:
    step = pipeline.step(ref.step)
    return next(o.type for o in step.outputs if o.name == ref.output)


def entry(name: str) -> str:
    """A runtime component's last, defaulted input: the function the shared module runs."""
    return f"{RUNTIME_ENTRY}: str = {name!r}"


def signature(parameters: tuple[Parameter, ...]) -> str:
    return ", ".join(f"{p.name}: {p.annotation}" for p in parameters)


def returns(scalar_outputs: tuple[tuple[str, str], ...]) -> str:
    if not scalar_outputs:
        return ""
    fields = ", ".join(f"({name!r}, {type_})" for name, type_ in scalar_outputs)
    return f" -> NamedTuple('Outputs', [{fields}])"
