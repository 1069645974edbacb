"""What KFP would do differently from the spec: text it interprets, code it cannot import.

KFP placeholders: the driver, the launcher and kfp.local substitute `{{$}}` and `{{$.…}}`
(`{{$.pipeline_job_name}}`, `{{$.inputs.parameters['x']}}`, `{{$.pipeline_root}}`, …) in
container commands and args, the driver also in constant input values (`{{$.workspace_path}}`,
or a whole value such as `{{$.pipeline_job_name}}`), and kfp.local in parameter values. There is
no escape for them. The driver and kfp.local also read a command or args item that starts with
`{"IfPresent":` (kfp.local also `{"Concat":`) as a JSON placeholder. mlspec's own
`${inputs.x}` become such placeholders on purpose; spec text must stay text, so any of it that
goes into the IR and holds one of these is refused where it stands.

Lineage: where the steps sit in gate blocks that do not nest, no task can read them all, and
the run's MLflow run misses the outputs of those under a gate (a warning at each such step).

Code delivery: a Python step's component imports the user's module, which a public Python base
image does not contain; a step that gets it neither from its image, nor from the pinned wheel
(`code.wheels`), nor from `packages:` is an error at the step.
"""

from __future__ import annotations

import re

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlspec.backends.kubeflow.layout import KFP_COLLECTED_ERROR, layout, upstream
from mlspec.backends.kubeflow.plan import DEFAULT_PYTHON_IMAGE, Plan
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic
from mlspec.runtime.lineage import LINEAGE_TASK

NOT_EXPRESSIBLE = "MS301"
CHANGED_ON_TARGET = "MS302"
CODE_NOT_DELIVERED = "MS303"

# `{{$}}` or `{{$.` begins every placeholder KFP substitutes.
_PLACEHOLDER_RE = re.compile(r"\{\{\$(?:\}\}|\.[^}]*\}\}|\.)")
_STRUCTURED = ('{"IfPresent":', '{"Concat":')
_COMMAND_PARTS = (("container", "command"), ("container", "args"))
# Spec text that kfp 2.17 never writes into the IR ("*": any name): the rollout manifests are
# files of their own, owners and labels stay in the spec, kfp drops the components' docstrings.
_NOT_IN_IR = (
    ("rollout",),
    ("metadata", "owners"),
    ("metadata", "labels"),
    ("steps", "*", "description"),
    ("gates", "*", "description"),
)
# The official Python image on Docker Hub, in any of its spellings: no user code in it.
_PUBLIC_PYTHON_RE = re.compile(
    r"^(?:(?:docker\.io|index\.docker\.io|registry-1\.docker\.io)/)?(?:library/)?python(?:[:@]|$)"
)


def placeholder_problems(pipeline: ir.Pipeline) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    for text in pipeline.texts_with_braces:
        if any(_under(text.path, part) for part in _NOT_IN_IR):
            continue
        found = _PLACEHOLDER_RE.search(text.value)
        if found:
            problems.append(
                Diagnostic(
                    text.span,
                    NOT_EXPRESSIBLE,
                    f"kubeflow would replace {found.group()!r} in this text with a value of "
                    "its own: KFP reads it as its placeholder and has no escape for it",
                    "rewrite the text so that '{{$' does not occur in it (e.g. '{ {$'), or "
                    "compile for airflow or prefect, which keep it as text",
                )
            )
        elif _is_command_item(text.path) and text.value.strip().startswith(_STRUCTURED):
            construct = text.value.strip().split(":", 1)[0] + ":"
            problems.append(
                Diagnostic(
                    text.span,
                    NOT_EXPRESSIBLE,
                    f"kubeflow would read this container argument as its JSON placeholder "
                    f"{construct}, not pass it as text",
                    "KFP has no escape for it: pass the JSON after an option "
                    "('--config={...}') or in a file",
                )
            )
    return problems


def _under(path: tuple[str | int, ...], prefix: tuple[str, ...]) -> bool:
    head = path[: len(prefix)]
    return len(head) == len(prefix) and all(
        p in ("*", q) for p, q in zip(prefix, head, strict=True)
    )


def _is_command_item(path: tuple[str | int, ...]) -> bool:
    """steps.NAME.container.command[i] or steps.NAME.container.args[i]."""
    return len(path) == 5 and path[0] == "steps" and path[2:4] in _COMMAND_PARTS


def code_problems(pipeline: ir.Pipeline) -> list[Diagnostic]:
    """Python steps whose code nothing brings into their container (MS303, at the step).

    A step has its code if it runs on an image other than the official Python one (`code.image`
    or an image of its own: the user built it with the code), installs the pinned wheel of a
    package found beside the spec (`code.wheels`), names its top-level module in `packages:`,
    or runs locally (`mlspec run`: `Code.local`, the spec's folder is on the path).
    """
    problems: list[Diagnostic] = []
    for step in pipeline.steps:
        code = step.code
        if step.kind != "python" or step.function is None or (code is not None and code.local):
            continue
        image = step.image or DEFAULT_PYTHON_IMAGE
        module = step.function.partition(":")[0]
        top = module.partition(".")[0]
        if not _PUBLIC_PYTHON_RE.match(image) or _in_packages(top, step.packages):
            continue
        if code is not None and code.wheels is not None and code.package is not None:
            continue
        where = "the default image" if step.image is None else "the public image"
        if code is not None and code.wheels is not None:
            message = (
                f"kubeflow would install the package {top!r} of step {step.name!r} from "
                f"{code.wheels!r}, but no package {top!r} is beside the spec to build that "
                "wheel from"
            )
            hint = (
                f"put the folder {top}/ (or {top}.py) under `code.root` beside the spec, or "
                f"set `code.image` to an image that contains {top!r}"
            )
        else:
            message = (
                f"kubeflow runs Python step {step.name!r} in {where} {image!r}, which does not "
                f"contain its module {module!r}, and nothing installs it there (`mlspec run` "
                "imports it from the spec's folder, a cluster cannot)"
            )
            hint = (
                "set `code.wheels` (in defaults or the step) to the folder URL where CI "
                "publishes the wheel `mlspec build` writes, or `code.image` to an image that "
                f"contains {top!r} (pinned by @sha256:...), or list the distribution that "
                f"provides it, named {top!r}, in `packages:`"
            )
        problems.append(Diagnostic(step.span, CODE_NOT_DELIVERED, message, hint))
    return problems


def _in_packages(top: str, packages: tuple[str, ...]) -> bool:
    """Whether `packages:` names a distribution called like the step's top-level module."""
    return canonicalize_name(top) in {canonicalize_name(Requirement(p).name) for p in packages}


def lineage_problems(pipeline: ir.Pipeline) -> list[Diagnostic]:
    """Step outputs LINEAGE_TASK cannot read (MS302 warnings, at each step), and readers of a
    loop's collected artifacts that a failed element fails rather than blocks."""
    found = layout(pipeline)
    placed = {p.plan.name: p for p in found.tasks}
    problems = [_fails_not_blocks(pipeline, p, gate, step) for p, gate, step in found.failing]
    if LINEAGE_TASK not in placed:
        return problems
    lineage = placed[LINEAGE_TASK].plan
    read = set(upstream(lineage, ()))
    collected = {p.binding.ref for p in lineage.parameters if isinstance(p.binding, ir.FanIn)}
    for step in pipeline.steps:
        if step.name not in read and step.loop is None:
            problems.append(_not_recorded(step, placed[step.name].gates))
            continue
        datasets = [
            o.name
            for o in step.outputs
            if o.type == "dataset" and ir.OutputRef(step.name, o.name) not in collected
        ]
        if step.loop is not None and (datasets or step.name not in read):
            problems.append(_looped_not_recorded(step, datasets))
    return problems


def _not_recorded(step: ir.Step, blocks: tuple[str, ...]) -> Diagnostic:
    return Diagnostic(
        step.span,
        CHANGED_ON_TARGET,
        f"kubeflow records no outputs of step {step.name!r} in the run's MLflow run: it runs "
        f"under the gates {', '.join(blocks)}, other steps under gates "
        "whose blocks do not nest with these, so no task sees every step (the gates still "
        "record the datasets they read)",
        "let the steps under one gate also wait for the other (`after: [GATE]` on a step), "
        "so that one order of the gates covers every step",
        severity="warning",
    )


def _looped_not_recorded(step: ir.Step, datasets: list[str]) -> Diagnostic:
    what = f"the datasets {', '.join(datasets)}" if datasets else "the outputs"
    return Diagnostic(
        step.span,
        CHANGED_ON_TARGET,
        f"kubeflow records {what} of looped step {step.name!r} in no iteration of the run's "
        "MLflow run: the task that records them runs inside a gate's dsl.If that the loop is "
        "not in, and kfp cannot pass a loop's collected artifacts into a dsl.If "
        f"({KFP_COLLECTED_ERROR}; a per-item gate still records the dataset it judges)",
        "compile for airflow or prefect to record every iteration's datasets, or let the "
        "steps after the loop wait for no gate",
        severity="warning",
    )


def _fails_not_blocks(pipeline: ir.Pipeline, plan: Plan, gate: str, step: str) -> Diagnostic:
    return Diagnostic(
        pipeline.gate(gate).span,
        CHANGED_ON_TARGET,
        f"kubeflow fails the run, where the other targets block {plan.name!r}, when gate "
        f"{gate!r} fails for an element: {plan.name!r} reads the outputs of every iteration "
        f"of {step!r}, which {gate!r} guards, and kfp cannot collect the output of an "
        "iteration that skipped the step (kfp's local runner: \"Tried to get output ... but "
        "task 'condition-N' not found\"; nor pass collected artifacts into a dsl.If: "
        f"{KFP_COLLECTED_ERROR})",
        f"compile for airflow or prefect to block {plan.name!r} instead, or give the gate "
        "`on_fail: fail` to fail the run on every target",
        severity="warning",
    )
