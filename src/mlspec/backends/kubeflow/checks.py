"""What KFP would do differently from the spec: text it interprets as its placeholders.

KFP placeholders: the driver, the launcher and kfp.local substitute `{{$}}` and `{{$.…}}`
(`{{$.pipeline_job_name}}`, `{{$.inputs.parameters['x']}}`, `{{$.pipeline_root}}`, …) in
container commands and args, the driver also in constant input values (`{{$.workspace_path}}`,
or a whole value such as `{{$.pipeline_job_name}}`), and kfp.local in parameter values. There is
no escape for them. The driver and kfp.local also read a command or args item that starts with
`{"IfPresent":` (kfp.local also `{"Concat":`) as a JSON placeholder. mlspec's own
`${inputs.x}` become such placeholders on purpose; spec text must stay text, so any of it that
goes into the IR and holds one of these is refused where it stands.
"""

from __future__ import annotations

import re

from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic

NOT_EXPRESSIBLE = "MS301"

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
