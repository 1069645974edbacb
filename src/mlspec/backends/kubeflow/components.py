"""Plans -> kfp components (needs kfp: called from `emit` only).

Lightweight components: kfp reads the function's source with `inspect.getsource`, so the
generated source is compiled under a file name registered in `linecache`, with nothing on disk.
Container components: a function with a synthetic `__signature__` returning a ContainerSpec.
"""

from __future__ import annotations

import inspect
import linecache
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from mlspec.backends import placeholders
from mlspec.backends.kubeflow.plan import ARTIFACT_CLASSES, DEFAULT_PYTHON_IMAGE, Plan


def set_signature(func: Callable[..., Any], parameters: Sequence[inspect.Parameter]) -> None:
    """Give `func` the signature kfp reads (inspect.signature honours `__signature__`, which
    the type of functions does not declare)."""
    func.__dict__["__signature__"] = inspect.Signature(parameters)


def _namespace(dsl: ModuleType) -> dict[str, Any]:
    """What kfp puts before a lightweight component's source: `from kfp.dsl import *` etc."""
    namespace: dict[str, Any] = {"__name__": "mlspec_kfp_components"}
    exec("from kfp.dsl import *\nfrom typing import *\n", namespace)
    return namespace


def python_component(kfp: ModuleType, plan: Plan) -> Any:
    assert plan.source is not None
    return _lightweight(kfp, plan.name, plan.source, plan.description, plan.image, plan.packages)


def _lightweight(
    kfp: ModuleType,
    name: str,
    source: str,
    description: str,
    image: str,
    packages: tuple[str, ...] = (),
) -> Any:
    filename = f"<mlspec-kfp-{name}>"
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    namespace = _namespace(kfp.dsl)
    exec(compile(source, filename, "exec", dont_inherit=True), namespace)
    func = namespace[name]
    func.__doc__ = description or None
    return kfp.dsl.component(func, base_image=image, packages_to_install=list(packages) or None)


OUTCOME_TASK = "mlspec_outcome"
# The exit handler's task: it runs however the run ended and records the outcome in its log.
# (An exit task may take no other task's output, so gate verdicts are in the gates' own logs.)
_OUTCOME_SOURCE = f"""def {OUTCOME_TASK}(status: PipelineTaskFinalStatus):
    print(f"mlspec: run {{status.pipeline_job_resource_name}} ended {{status.state}}")
    if status.error_code or status.error_message:
        print(f"mlspec: error {{status.error_code}}: {{status.error_message}}")
"""


def outcome_component(kfp: ModuleType) -> Any:
    return _lightweight(
        kfp, OUTCOME_TASK, _OUTCOME_SOURCE, "Records how the run ended.", DEFAULT_PYTHON_IMAGE
    )


def container_component(kfp: ModuleType, plan: Plan) -> Any:
    dsl = kfp.dsl
    step = plan.step
    assert step is not None
    namespace = _namespace(dsl)
    parameters = [
        inspect.Parameter(
            p.name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=eval(p.annotation, namespace),  # built from our own type names only
        )
        for p in plan.parameters
    ]
    artifacts = {p.name for p in plan.parameters if _is_artifact(p.annotation)}

    def render(text: str, values: dict[str, Any]) -> str:
        out: list[str] = []
        for piece in placeholders.split(text):
            if isinstance(piece, str):
                out.append(piece)
            else:
                value = values[piece[1]]
                out.append(str(value.path if piece[1] in artifacts else value))
        return "".join(out)

    def build(*args: Any) -> Any:
        values = dict(zip([p.name for p in parameters], args, strict=True))
        return dsl.ContainerSpec(
            image=plan.image,
            command=[render(c, values) for c in step.command] or None,
            args=[render(a, values) for a in step.args] or None,
        )

    build.__name__ = build.__qualname__ = plan.name
    build.__doc__ = plan.description or None
    set_signature(build, parameters)
    return dsl.container_component(build)


def _is_artifact(annotation: str) -> bool:
    return any(annotation.endswith(f"[{cls}]") for cls in ARTIFACT_CLASSES.values())


def component(kfp: ModuleType, plan: Plan) -> Any:
    if plan.kind == "container":
        return container_component(kfp, plan)
    return python_component(kfp, plan)
