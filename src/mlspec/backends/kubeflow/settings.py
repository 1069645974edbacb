"""A task's settings: caching, retries, resources, env, secrets, timeout, pod labels."""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any

from mlspec.compiler import ir

OWNERS_ANNOTATION = "mlspec.dev/owners"  # KFP has no pipeline owner; the pods carry it


Settings = ir.Step | ir.JobSettings | None  # a step's, a monitor's job's, or none (runtime tasks)


def apply_all(
    kubernetes: ModuleType, tasks: list[tuple[Any, Settings]], pipeline: ir.Pipeline
) -> None:
    """Apply every task's settings from a fresh thread.

    kfp's resource setters call `inspect.stack()`, whose cost grows with the depth of the
    caller's stack (and the number of loaded modules); inside a pipeline build that stack is
    ~40 frames deep, which made these setters most of a large compile. A new thread starts
    with an almost empty stack. The setters only record values on their task, so where they
    run changes nothing in the output.
    """
    failure: list[BaseException] = []

    def run() -> None:
        try:
            for task, step in tasks:
                apply(kubernetes, task, step)
                pod_metadata(kubernetes, task, pipeline)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="mlspec-kfp-settings")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]


def pod_metadata(kubernetes: ModuleType, task: Any, pipeline: ir.Pipeline) -> None:
    """The spec's labels on every task's pod, and its owners in an annotation."""
    for key, value in pipeline.labels:
        kubernetes.add_pod_label(task, key, value)
    if pipeline.owners:
        kubernetes.add_pod_annotation(task, OWNERS_ANNOTATION, ", ".join(pipeline.owners))


def apply(kubernetes: ModuleType, task: Any, step: Settings) -> None:
    """Set every setting explicitly: kfp's defaults depend on the environment (caching)."""
    # Gate, promotion and monitor tasks read live state: never cached.
    task.set_caching_options(enable_caching=isinstance(step, ir.Step) and step.caching)
    if step is None:
        return
    if step.retries:
        task.set_retry(num_retries=step.retries)
    resources = step.resources
    if resources.cpu:
        task.set_cpu_request(resources.cpu).set_cpu_limit(resources.cpu)
    if resources.memory:
        task.set_memory_request(resources.memory).set_memory_limit(resources.memory)
    if step.timeout_seconds:
        kubernetes.set_timeout(task, step.timeout_seconds)
    if isinstance(step, ir.JobSettings):
        return
    place(kubernetes, task, step.placement)
    secrets: dict[str, dict[str, str]] = {}
    for env in step.env:
        if env.value is not None:
            task.set_env_variable(env.name, env.value)
        elif env.secret is not None:
            secrets.setdefault(env.secret.name, {})[env.secret.key] = env.name
        # env.param: reported by `check` (MS301), never reaches emit
    for name in sorted(secrets):
        kubernetes.use_secret_as_env(task, secret_name=name, secret_key_to_env=secrets[name])


def place(kubernetes: ModuleType, task: Any, placement: ir.Placement) -> None:
    """Accelerators on the task's resources; node labels and tolerations as kfp-kubernetes
    platform settings (the second document of the compiled IR)."""
    if placement.accelerator_type:
        task.set_accelerator_type(placement.accelerator_type)
        task.set_accelerator_limit(placement.accelerator_count)
    for key, value in placement.node_selector:
        kubernetes.add_node_selector(task, key, value)
    for t in placement.tolerations:
        kubernetes.add_toleration(
            task,
            key=t.key,
            operator=t.operator,
            value=t.value,
            effect=t.effect,
            toleration_seconds=t.seconds,
        )
