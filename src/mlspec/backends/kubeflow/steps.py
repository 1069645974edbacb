"""Plans for the spec's own steps: Python, notebook and container steps."""

from __future__ import annotations

from mlspec.backends.kubeflow.notebook import NOTEBOOK_PACKAGES, notebook_step_source
from mlspec.backends.kubeflow.plan import (
    DEFAULT_PYTHON_IMAGE,
    Parameter,
    Plan,
    annotation,
    returns,
    signature,
    value_code,
)
from mlspec.compiler import ir
from mlspec.delivery import wheel


def _parameter(item: ir.Input) -> Parameter:
    """An input's component parameter; a fan-in's takes every iteration's value as a list."""
    return Parameter(
        item.name, annotation(item.type, "in", isinstance(item.source, ir.FanIn)), item.source
    )


def step_plan(step: ir.Step) -> Plan:
    inputs = tuple(_parameter(i) for i in step.inputs)
    data_upstream = {r.step for i in step.inputs for r in ir.output_refs(i.source)}
    after = tuple(s for s in step.upstream if s not in data_upstream)
    if step.kind == "container":
        outputs = tuple(Parameter(o.name, annotation(o.type, "out"), None) for o in step.outputs)
        return Plan(
            name=step.name,
            kind="container",
            parameters=inputs + outputs,
            scalar_outputs=(),
            source=None,
            image=step.image or "",
            packages=(),
            step=step,
            after=after,
            span=step.span,
            description=step.description,
            loop=step.loop,
        )
    artifact_outputs = tuple(
        Parameter(o.name, annotation(o.type, "out"), None) for o in step.outputs if o.is_artifact
    )
    scalars = tuple((o.name, o.type) for o in step.outputs if not o.is_artifact)
    parameters = inputs + artifact_outputs
    notebook = step.kind == "notebook"
    return Plan(
        name=step.name,
        kind="python",
        parameters=parameters,
        scalar_outputs=scalars,
        source=notebook_step_source(step, parameters, scalars)
        if notebook
        else python_step_source(step, parameters, scalars),
        image=step.image or DEFAULT_PYTHON_IMAGE,
        packages=(NOTEBOOK_PACKAGES if notebook else ()) + step.packages + _wheel(step),
        step=step,
        after=after,
        span=step.span,
        description=step.description,
        loop=step.loop,
    )


def _wheel(step: ir.Step) -> tuple[str, ...]:
    """The pinned wheel of the step package, unless the step runs on the image that has it
    (pip refuses the wheel unless its sha256 is the one compiled in)."""
    code = step.code
    if code is None or code.package is None or code.wheels is None:
        return ()
    if code.image is not None and step.image == code.image:
        return ()
    return (wheel.requirement(code.package, code.wheels),)


def python_step_source(
    step: ir.Step, parameters: tuple[Parameter, ...], scalars: tuple[tuple[str, str], ...]
) -> str:
    """A function that imports the user's function and calls it by the calling convention."""
    assert step.function is not None
    module, _, function = step.function.partition(":")
    call = ", ".join(
        [f"{i.name}={value_code(_parameter(i), i.is_artifact)}" for i in step.inputs]
        + [f"{o.name}={o.name}.path" for o in step.outputs if o.is_artifact]
    )
    lines = [
        f"def {step.name}({signature(parameters)}){returns(scalars)}:",
        "    import importlib",
        "",
        f"    _mlspec_function = getattr(importlib.import_module({module!r}), {function!r})",
        f"    _mlspec_result = _mlspec_function({call})",
    ]
    if scalars:
        names = tuple(name for name, _ in scalars)
        lines += [
            f"    _mlspec_names = {names!r}",
            "    if not isinstance(_mlspec_result, dict) or any(",
            "        n not in _mlspec_result for n in _mlspec_names",
            "    ):",
            "        raise TypeError(",
            f"        {step.function + ' must return a dict with the keys '!r}",
            "            + ', '.join(_mlspec_names) + f', not {_mlspec_result!r}'",
            "        )",
            "    return tuple(_mlspec_result[n] for n in _mlspec_names)",
        ]
    return "\n".join(lines) + "\n"
