"""What KFP would do differently from the spec: text it interprets, code it cannot import.

KFP placeholders: the driver, the launcher and kfp.local substitute `{{$}}` and `{{$.…}}`
(`{{$.pipeline_job_name}}`, `{{$.inputs.parameters['x']}}`, `{{$.pipeline_root}}`, …) in
container commands and args, the driver also in constant input values (`{{$.workspace_path}}`,
or a whole value such as `{{$.pipeline_job_name}}`), and kfp.local in parameter values. There is
no escape for them. The driver and kfp.local also read a command or args item that starts with
`{"IfPresent":` (kfp.local also `{"Concat":`) as a JSON placeholder. mlspec's own
`${inputs.x}` become such placeholders on purpose; spec text must stay text, so any of it that
goes into the IR and holds one of these is refused where it stands.

Code delivery: a Python step's component imports the user's module, which a public Python base
image does not contain; until mlspec ships code to the cluster, that is a warning at the step.
"""

from __future__ import annotations

import re

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlspec.backends.kubeflow.plan import DEFAULT_PYTHON_IMAGE
from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic

NOT_EXPRESSIBLE = "MS301"
CHANGED_ON_TARGET = "MS302"

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


def code_delivery_problems(pipeline: ir.Pipeline) -> list[Diagnostic]:
    """A Python step on a public Python image, with no package named after its module."""
    problems: list[Diagnostic] = []
    for step in pipeline.steps:
        if step.kind != "python" or step.function is None:
            continue
        image = step.image or DEFAULT_PYTHON_IMAGE
        if not _PUBLIC_PYTHON_RE.match(image):
            continue
        module = step.function.partition(":")[0]
        top = module.partition(".")[0]
        names = {canonicalize_name(Requirement(p).name) for p in step.packages}
        if canonicalize_name(top) in names:
            continue
        where = "the default image" if step.image is None else "the public image"
        problems.append(
            Diagnostic(
                step.span,
                CHANGED_ON_TARGET,
                f"kubeflow runs Python step {step.name!r} in {where} {image!r}, which does not "
                f"contain your module {module!r}: the step will fail to import it on the "
                "cluster (local runs with `mlspec run` import it from this checkout)",
                f"set `image:` to an image that contains {top!r} (e.g. built from this "
                f"repository), or list the distribution that provides it, named {top!r}, in "
                "`packages:` (from your package index, or an https URL of its wheel)",
                severity="warning",
            )
        )
    return problems
