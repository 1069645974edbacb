"""Running the executors of a KFP IR file the way a cluster would, with stub interpreters.

Each executor's command and args go through kfp's own placeholder substitution (kfp.local's
`replace_placeholders`, over an executor input that kfp.local builds) and then run as the
container runtime runs them: exec form, no shell added. `python3`, `python` and `pip` are stubs
first on PATH that record their argv (as JSON, one line a call) and exit 0, so the only code
that runs is the generated shell code and the stubs.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from kfp import dsl
from kfp.local import executor_input_utils, placeholder_utils
from kfp.pipeline_spec import pipeline_spec_pb2

STUBS = ("python3", "python", "pip")
JOB_NAME = "hostile-job"
# A value for each input parameter type (strings get the test's text).
_VALUES: dict[str, Any] = {
    "NUMBER_DOUBLE": 0.5,
    "NUMBER_INTEGER": 1,
    "BOOLEAN": True,
    "TASK_FINAL_STATUS": {"state": "SUCCEEDED", "pipelineJobResourceName": JOB_NAME},
}


@dataclass(frozen=True)
class Executor:
    label: str  # exec-NAME (exec-mlspec-runtime for every gate and promotion)
    task: str  # NAME, with - for _
    component: pipeline_spec_pb2.ComponentSpec
    container: dict[str, Any]  # the IR's command, args, env, image

    @property
    def lightweight(self) -> bool:
        return self.container["command"][:2] == ["sh", "-c"]


def executors(ir_text: str) -> Iterator[Executor]:
    # From the document's first key: kfp's own header comment repeats parameter defaults, and a
    # multi-line one spills out of the comment (the header is not what these tests are about).
    spec = next(yaml.safe_load_all(ir_text[ir_text.index("\ncomponents:") :]))
    # One per task's component: the gates and promotions share one executor (one module).
    executors = spec["deploymentSpec"]["executors"]
    for name, found in spec["components"].items():
        if "executorLabel" in found:
            label = found["executorLabel"]
            component = json_format.ParseDict(found, pipeline_spec_pb2.ComponentSpec())
            task = name.removeprefix("comp-")
            yield Executor(label, task, component, executors[label]["container"])


def executor_input(executor: Executor, text: str, pipeline_root: str) -> dict[str, Any]:
    """What kfp.local hands the task: `text` for every string input, artifacts under the root."""
    inputs = executor.component.input_definitions
    arguments: dict[str, Any] = {}
    for name, spec in inputs.parameters.items():
        kind = pipeline_spec_pb2.ParameterType.ParameterTypeEnum.Name(spec.parameter_type)
        arguments[name] = text if kind == "STRING" else _VALUES[kind]
    for name in inputs.artifacts:
        uri = f"{pipeline_root}/upstream/{name}"
        arguments[name] = dsl.Artifact(name=name, uri=uri, metadata={})
    task_root = f"{pipeline_root}/{JOB_NAME}/{executor.task}"
    message = executor_input_utils.construct_executor_input(
        executor.component, arguments, task_root, block_input_artifact=False
    )
    return executor_input_utils.executor_input_to_dict(message, executor.component)


def resolve(executor: Executor, values: dict[str, Any], pipeline_root: str) -> list[str]:
    """The executor's argv after kfp.local's placeholder substitution."""
    container = executor.container
    return placeholder_utils.replace_placeholders(
        full_command=[*container["command"], *container.get("args", [])],
        executor_input_dict=values,
        pipeline_resource_name=JOB_NAME,
        task_resource_name=executor.task,
        pipeline_root=pipeline_root,
        unique_pipeline_id="job-uuid",
    )


def write_stubs(folder: Path) -> Path:
    """A bin folder of interpreter stubs that record their argv to $MLSPEC_STUB_LOG."""
    folder.mkdir(parents=True)
    record = folder / "record.py"
    record.write_text(
        "import json, os, sys\n"
        "with open(os.environ['MLSPEC_STUB_LOG'], 'a', encoding='utf-8') as log:\n"
        "    log.write(json.dumps([os.path.basename(sys.argv[1]), *sys.argv[2:]]) + '\\n')\n",
        encoding="utf-8",
    )
    # A shell script, not a `#!python` line: a shebang cannot hold a path with a space.
    python, script = shlex.quote(sys.executable), shlex.quote(str(record))
    for name in STUBS:
        stub = folder / name
        stub.write_text(f'#!/bin/sh\nexec {python} {script} "$0" "$@"\n', encoding="utf-8")
        stub.chmod(0o755)
    return folder


def run(argv: list[str], env_values: dict[str, str], stubs: Path, work: Path) -> list[list[str]]:
    """Run argv in exec form in `work`; the stubs' calls, in order."""
    log = work / "calls.jsonl"
    log.unlink(missing_ok=True)
    temp = work / "tmp"
    temp.mkdir(exist_ok=True)
    env = {
        **env_values,
        "PATH": f"{stubs}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "MLSPEC_STUB_LOG": str(log),
        "TMPDIR": str(temp),
        "HOME": str(work),
    }
    done = subprocess.run(
        argv, env=env, cwd=work, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{argv[:2]}: {done.stderr}"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def env_values(executor: Executor) -> dict[str, str]:
    return {e["name"]: e["value"] for e in executor.container.get("env", [])}
