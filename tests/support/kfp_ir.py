"""A strict validator for KFP v2 IR files, for the kubeflow back end's tests.

Loading a file with kfp (`load_component_from_file`) misses most broken files, so each document
is parsed into the kfp protobuf messages with unknown fields rejected, each executor on its
own, and every reference between tasks, components and executors is checked.
"""

from __future__ import annotations

import ast
from typing import Any

import yaml
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s_pb2
from kfp.pipeline_spec import pipeline_spec_pb2 as pb2


def parse(message: Any, data: dict, where: str) -> Any:
    try:
        return json_format.ParseDict(data, message, ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise AssertionError(f"{where}: {exc}") from None


def validate(text: str) -> list[dict]:
    """The documents of an IR file; AssertionError on the first problem found."""
    docs = list(yaml.safe_load_all(text))
    assert 1 <= len(docs) <= 2, f"expected 1 or 2 documents, got {len(docs)}"
    spec = docs[0]
    parse(pb2.PipelineSpec(), spec, "PipelineSpec")
    executors = spec["deploymentSpec"]["executors"]
    for label, executor in executors.items():
        parse(pb2.PipelineDeploymentConfig.ExecutorSpec(), executor, f"executor {label}")
        _check_source(label, executor)
    components = spec["components"]
    used_executors = set()
    for name, component in components.items():
        if "executorLabel" in component:
            label = component["executorLabel"]
            assert label in executors, f"{name}: unknown executorLabel {label!r}"
            used_executors.add(label)
        if "dag" in component:
            _check_dag(name, component, components)
    assert set(executors) == used_executors, f"unused executors {set(executors) - used_executors}"
    _check_dag("root", spec["root"], components)
    if len(docs) == 2:
        platform = parse(pb2.PlatformSpec(), docs[1], "PlatformSpec")
        for key, single in platform.platforms.items():
            assert key == "kubernetes", f"unexpected platform {key!r}"
            config = json_format.MessageToDict(single.deployment_spec)
            for label, executor in config.get("executors", {}).items():
                assert label in executors, f"platform config for unknown executor {label!r}"
                parse(k8s_pb2.KubernetesExecutorConfig(), executor, f"kubernetes {label}")
    return docs


def _check_source(label: str, executor: dict) -> None:
    """A lightweight component's program is valid Python."""
    command = executor.get("container", {}).get("command", [])
    if command[:2] == ["sh", "-ec"] and len(command) > 2:
        try:
            ast.parse(command[2])
        except SyntaxError as exc:
            raise AssertionError(f"executor {label}: its Python source: {exc}") from None


def _check_dag(name: str, component: dict, components: dict) -> None:
    tasks = component["dag"]["tasks"]
    inputs = component.get("inputDefinitions", {})
    own_params = set(inputs.get("parameters", {}))
    own_artifacts = set(inputs.get("artifacts", {}))
    for task_name, task in tasks.items():
        ref = task["componentRef"]["name"]
        assert ref in components, f"{name}/{task_name}: unknown componentRef {ref!r}"
    for task_name, task in tasks.items():
        where = f"{name}/{task_name}"
        ref = task["componentRef"]["name"]
        for dep in task.get("dependentTasks", []):
            assert dep in tasks, f"{where}: unknown dependentTask {dep!r}"
        target = components[ref].get("inputDefinitions", {})
        task_inputs = task.get("inputs", {})
        for kind, own in (("parameters", own_params), ("artifacts", own_artifacts)):
            for input_name, spec in task_inputs.get(kind, {}).items():
                assert input_name in target.get(kind, {}), f"{where}: unknown input {input_name!r}"
                _check_source_ref(where, spec, tasks, components, own, kind)
        condition = task.get("triggerPolicy", {}).get("condition")
        if condition:
            for param in _condition_params(condition):
                assert param in task_inputs.get("parameters", {}), f"{where}: {param!r} unbound"
    for kind in ("parameters", "artifacts"):
        for out_name, spec in component["dag"].get("outputs", {}).get(kind, {}).items():
            # a parameter output has one selector (a loop's: every iteration's value as a list)
            one = spec.get("valueFromParameter")
            for selector in [one] if one else spec.get("artifactSelectors", []):
                assert selector["producerSubtask"] in tasks, f"{name}: output {out_name!r}"


def _check_source_ref(
    where: str, spec: dict, tasks: dict, components: dict, own: set[str], kind: str
) -> None:
    key = "taskOutputParameter" if kind == "parameters" else "taskOutputArtifact"
    if key in spec:
        producer = spec[key]["producerTask"]
        assert producer in tasks, f"{where}: unknown producerTask {producer!r}"
        output = spec[key]["outputParameterKey" if kind == "parameters" else "outputArtifactKey"]
        produced = components[tasks[producer]["componentRef"]["name"]].get("outputDefinitions", {})
        assert output in produced.get(kind, {}), f"{where}: {producer} has no output {output!r}"
    parent = "componentInputParameter" if kind == "parameters" else "componentInputArtifact"
    if parent in spec:
        assert spec[parent] in own, f"{where}: unknown component input {spec[parent]!r}"


def _condition_params(condition: str) -> list[str]:
    import re

    return re.findall(r"inputs\.parameter_values\['([^']+)'\]", condition)
