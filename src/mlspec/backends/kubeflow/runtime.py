"""The one module that runs every gate and promotion of a pipeline, and the executor they share.

KFP runs a lightweight component by writing its source to a file and calling one function of it,
named in the executor's arguments. Here every gate and promotion component gets the same source
(the runtime's loader, the helpers below and the functions of all of them), the same packages
and the same arguments, whose function name is a placeholder for the component's `RUNTIME_ENTRY`
input. Their executors are then identical, and `share_executor` keeps one: the IR holds the
runtime once, however many gates the pipeline has. Per component the IR keeps its own typed
inputs and outputs, and the gate's configuration is in its function.

How the runtime travels (runtime_wheel.py): with `code.wheels` in the spec's defaults, as a
pinned wheel the component installs and imports; otherwise (and in local runs) as the runtime's
modules in the source, written to a temporary folder and imported from there when the component
runs, each as a file of its own, so a traceback shows the file and line. Those texts travel
without docstrings and comments (`embed.component_package`): KFP installations refuse large
pipelines, and the documented source is mlspec's.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from mlspec.backends.kubeflow.plan import RUNTIME_ENTRY, Plan
from mlspec.backends.kubeflow.runtime_wheel import entries, runtime_wheel
from mlspec.backends.pysource import literal, text_block
from mlspec.compiler import ir
from mlspec.runtime import embed

EXECUTOR = "exec-mlspec-runtime"
# The executor's last argument: the function to run, from the component's defaulted input.
ENTRY_PLACEHOLDER = f"{{{{$.inputs.parameters['{RUNTIME_ENTRY}']}}}}"

# The runtime's module `module`: from the texts in the source, written to files first.
_EMBEDDED_LOADER = """

def _mlspec_runtime(module):
    import importlib
    import sys
    import tempfile

    if _MLSPEC_PACKAGE not in sys.modules:
        folder = os.path.join(tempfile.mkdtemp(prefix='mlspec-'), _MLSPEC_PACKAGE)
        os.mkdir(folder)
        for name, text in _MLSPEC_FILES.items():
            with open(os.path.join(folder, name), 'w', encoding='utf-8') as handle:
                handle.write(text)
        sys.path.insert(0, os.path.dirname(folder))
    return importlib.import_module(f'{_MLSPEC_PACKAGE}.{module}')
"""
# ... from the pinned wheel the component installed.
_INSTALLED_LOADER = """

def _mlspec_runtime(module):
    import importlib

    return importlib.import_module(f'{_MLSPEC_PACKAGE}.{module}')
"""

_HELPERS = """

def _mlspec_filled(items, params, artifacts):
    # The checks or requirements, their slots replaced by this run's values.
    for item in items:
        for key in ('min', 'max', 'reference'):
            slot = item.get(key)
            if isinstance(slot, dict):
                kind, name = slot['slot']
                item[key] = float(params[name]) if kind == 'param' else artifacts[name]
    return items


def _mlspec_verdict(gate, on_fail, passed):
    print(f'gate {gate}: ' + ('passed' if passed else 'blocked'))
    if not passed and on_fail == 'fail':
        raise RuntimeError(f'gate {gate!r} did not pass (on_fail: fail)')
    return bool(passed)
"""


def shared_module(pipeline: ir.Pipeline, plans: list[Plan]) -> str:
    """The source every gate and promotion component runs: the runtime (its texts, or the
    name of the pinned wheel's package), helpers, functions."""
    functions = "".join(f"\n\n{plan.source}" for plan in plans)
    head = (
        f"# mlspec's runtime and the gate and promotion functions of this pipeline, generated:\n"
        f"# edit the spec. Each gate and promotion runs the function its {RUNTIME_ENTRY!r} names.\n"
        "import os\n"
        "\n"
    )
    installed = runtime_wheel(pipeline)
    if installed is not None:
        package = f"_MLSPEC_PACKAGE = {literal(installed.name)}\n"
        return f"{head}{package}{_INSTALLED_LOADER}{_HELPERS}{functions}"
    pkg = embed.component_package(entries(pipeline))
    files = "".join(f"    {literal(name)}: {text_block(text)},\n" for name, text in pkg.files)
    return (
        f"{head}_MLSPEC_PACKAGE = {literal(pkg.name)}\n"
        f"_MLSPEC_FILES = {{\n{files}}}\n"
        f"{_EMBEDDED_LOADER}{_HELPERS}{functions}"
    )


def use_shared_module(component: Any, plan: Plan, module: str) -> None:
    """Make a runtime component run `module` and the function its RUNTIME_ENTRY input names."""
    container = component.component_spec.implementation.container
    source = container.command[-1]
    assert plan.source is not None and plan.source in source
    container.command = [*container.command[:-1], source[: source.index(plan.source)] + module]
    container.args = [*container.args[:-1], ENTRY_PLACEHOLDER]


def share_executor(func: Any) -> None:
    """Keep one executor for the runtime components (a kfp GraphComponent's), whose executors
    are identical, and their platform configuration (the same pod labels and annotations)."""
    spec = func.pipeline_spec
    deployment = json_format.MessageToDict(spec.deployment_spec)
    shared = sorted(
        label
        for label, executor in deployment["executors"].items()
        if executor.get("container", {}).get("args", [])[-1:] == [ENTRY_PLACEHOLDER]
    )
    if not shared:
        return
    executors = deployment["executors"]
    if any(executors[label] != executors[shared[0]] for label in shared):
        raise RuntimeError("the runtime components' executors differ")
    executors[EXECUTOR] = executors[shared[0]]
    for label in shared:
        del executors[label]
    deployment["executors"] = dict(sorted(executors.items()))
    spec.deployment_spec.Clear()
    spec.deployment_spec.update(deployment)
    for component in spec.components.values():
        if component.executor_label in shared:
            component.executor_label = EXECUTOR
    for platform in func.platform_spec.platforms.values():
        settings = platform.deployment_spec.executors  # a map of Structs
        found = [json_format.MessageToDict(settings[n]) for n in shared if n in settings]
        if not found:
            continue
        if len(found) != len(shared) or any(entry != found[0] for entry in found):
            raise RuntimeError("the runtime components' pod settings differ")
        settings[EXECUTOR].CopyFrom(settings[shared[0]])
        for label in shared:
            del settings[label]
