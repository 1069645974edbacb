"""The pipeline function: typed parameters, tasks in their condition blocks (needs kfp)."""

from __future__ import annotations

import dataclasses
import inspect
from types import ModuleType
from typing import Any, List  # noqa: UP035  (kfp's list type)

from mlspec.backends import lineage
from mlspec.backends.kubeflow import runtime, runtime_wheel, settings, tracking
from mlspec.backends.kubeflow.components import (
    OUTCOME_TASK,
    component,
    outcome_component,
    set_signature,
)
from mlspec.backends.kubeflow.gates import EVERY, PASSED
from mlspec.backends.kubeflow.layout import Layout, block_loop, loop_block
from mlspec.backends.kubeflow.plan import Plan, RunId
from mlspec.backends.pysource import google_docstring
from mlspec.compiler import ir

PARAM_TYPES: dict[str, Any] = {
    "float": float,
    "int": int,
    "str": str,
    "bool": bool,
    # kfp's list type: the KFP UI's run form takes a JSON list for it.
    "list[str]": List[str],  # noqa: UP006
    "list[int]": List[int],  # noqa: UP006
    "list[float]": List[float],  # noqa: UP006
}
RUNTIME_KINDS = ("gate", "promotion", "monitor", "tracking")


def pipeline_func(
    kfp: ModuleType, kubernetes: ModuleType, pipeline: ir.Pipeline, layout: Layout
) -> Any:
    dsl = kfp.dsl
    # A tracked run's exit task closes its MLflow run; it also prints the outcome.
    closing = tracking.close_plan(pipeline) if lineage.tracked(pipeline) else None
    components = _components(kfp, pipeline, layout, closing)
    names = [p.name for p in pipeline.params]

    def value(binding: Any, params: dict[str, Any], tasks: dict[str, Any], item: Any) -> Any:
        if isinstance(binding, ir.ParamRef):
            return params[binding.name]
        if isinstance(binding, ir.OutputRef):
            return tasks[binding.step].outputs[binding.output]
        if isinstance(binding, ir.FanIn):
            return dsl.Collected(tasks[binding.ref.step].outputs[binding.ref.output])
        if isinstance(binding, ir.Item):
            return item
        if isinstance(binding, RunId):
            return dsl.PIPELINE_JOB_ID_PLACEHOLDER
        return binding.value

    configured: list[tuple[Any, settings.Settings]] = []

    def body(*args: Any) -> None:
        if closing is None:
            exit_task = outcome_component(kfp)()
            exit_task.set_display_name(OUTCOME_TASK)
        else:  # takes the run id, a placeholder: no other task's output
            exit_task = components[closing.name](run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER)
            exit_task.set_display_name(closing.name)
        configured.append((exit_task, None))
        with dsl.ExitHandler(exit_task, name="mlspec-run"):
            place_tasks(dict(zip(names, args, strict=True)))
        settings.apply_all(kubernetes, configured, pipeline)

    def open_block(block: str, params: dict[str, Any], tasks: dict[str, Any]) -> Any:
        """A loop's ParallelFor (entered: its item) or a gate's dsl.If (entered: None)."""
        loop = block_loop(block)
        if loop is None:
            passed = tasks[block].outputs[PASSED] == True  # noqa: E712
            return dsl.If(passed, name=condition_name(block))
        items = pipeline.loop(loop).items
        return dsl.ParallelFor(
            params[items.name] if isinstance(items, ir.ParamRef) else list(items),
            name=loop_name(loop),
        )

    def place_tasks(params: dict[str, Any]) -> None:
        tasks: dict[str, Any] = {}
        blocks: list[tuple[str, Any]] = []  # the open blocks, outermost first
        items: dict[str, Any] = {}  # each open loop's item
        for placed in layout.tasks:
            # Close the blocks this task is not in, then open the ones it is in.
            keep = 0
            while keep < min(len(blocks), len(placed.gates)):
                if blocks[keep][0] != placed.gates[keep]:
                    break
                keep += 1
            while len(blocks) > keep:
                blocks.pop()[1].__exit__(None, None, None)
            for gate in placed.gates[keep:]:
                block = open_block(gate, params, tasks)
                entered = block.__enter__()
                if block_loop(gate) is not None:
                    items[gate] = entered
                blocks.append((gate, block))
            plan = placed.plan
            item = items.get(loop_block(plan.loop)) if plan.loop else None
            arguments = {
                p.name: value(p.binding, params, tasks, item)
                for p in plan.parameters
                if p.binding is not None
            }
            task = components[plan.name](**arguments)
            task.set_display_name(plan.name)
            for name in plan.after:
                task.after(tasks[name])
            configured.append((task, plan.step or plan.job))
            tasks[plan.name] = task
        while blocks:
            blocks.pop()[1].__exit__(None, None, None)

    body.__name__ = pipeline.name.replace("-", "_")
    # kfp reads the parameters' descriptions from the docstring's Args section.
    described = [(p.name, p.description) for p in pipeline.params if p.description]
    if described:
        body.__doc__ = google_docstring(pipeline.description or pipeline.name, described)
    set_signature(
        body,
        [
            inspect.Parameter(
                p.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=list(p.default) if isinstance(p.default, tuple) else p.default,
                annotation=PARAM_TYPES[p.type],
            )
            for p in pipeline.params
        ],
    )
    func = dsl.pipeline(
        name=pipeline.name,
        description=pipeline.description or None,
        pipeline_root=pipeline.artifact_root,
    )(body)
    runtime.share_executor(func)
    return func


def condition_name(gate: str) -> str:
    """What the KFP UI shows for the block of tasks that run once `gate` passed (a per-item
    gate's every_passed task: once every iteration passed)."""
    if gate.endswith(EVERY):
        return f"{gate.removesuffix(EVERY)} passed for every item"
    return f"{gate} passed"


def loop_name(loop: str) -> str:
    """What the KFP UI shows for a loop's ParallelFor."""
    return f"for each {loop}"


def _components(
    kfp: ModuleType, pipeline: ir.Pipeline, layout: Layout, closing: Plan | None
) -> dict[str, Any]:
    """Each task's component (and the `closing` exit task's); the gates, promotions and
    tracking tasks run one shared module (runtime.py), with every package any of them installs
    (and the runtime's pinned wheel, if it rides one), so that their executors are one."""
    plans = [t.plan for t in layout.tasks] + ([closing] if closing else [])
    shared = [plan for plan in plans if plan.kind in RUNTIME_KINDS]
    module = runtime.shared_module(pipeline, shared)
    installs = {p for plan in shared for p in plan.packages}
    packages = tuple(sorted(installs | set(runtime_wheel.requirements(pipeline))))
    components: dict[str, Any] = {}
    for plan in plans:
        if plan.kind in RUNTIME_KINDS:
            built = component(kfp, dataclasses.replace(plan, packages=packages))
            runtime.use_shared_module(built, plan, module)
        else:
            built = component(kfp, plan)
        components[plan.name] = built
    return components
