"""Spec text in the KFP IR is not read as a KFP placeholder.

KFP substitutes `{{$}}` and `{{$.…}}` wherever they stand in commands, args and input values,
and has no escape for them: `--literal={{$.pipeline_job_name}}` became the job's name. mlspec
refuses such text for kubeflow at its place (MS301), and every other string of a hostile spec
comes out of kfp's own substitution (kfp.local's `replace_placeholders`) unchanged, while
mlspec's `${inputs.x}` / `${outputs.x}` still become their values.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import hostile, kfp_exec

from mlspec.backends.kubeflow import KubeflowBackend
from mlspec.cli import main
from mlspec.compiler import analyze_text

BACKEND = KubeflowBackend()

SPEC = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {{name: literal, version: 1.0.0}}
params:
  p: {{type: str, default: {default}}}
steps:
  make:
    python: demo.steps:make
    code: {{image: ghcr.io/acme/demo:1.0.0}}
    outputs: {{d: dataset, score: float, model: model}}
  run:
    image: busybox:1.36
    container:
      command: [echo, {command}]
      args: [{arg}]
    inputs: {{a: {{value: {constant}}}, s: params.p}}
    env: {{E: {env}}}
gates:
  g:
    dataset: make.d
    checks: [{{columns: {{{column}: str}}}}]
  m:
    require: [{{metric: make.score, min: 0.5}}]
registry:
  mlflow: {{registered_model: m, tracking_uri: {uri}}}
  model: make.model
  tags: {{k: {tag}}}
  promote: [{{alias: a, after: [g, m]}}]
"""
PLAIN = {
    "default": "x",
    "command": "hi",
    "arg": "--in=${inputs.a}",
    "constant": "c",
    "env": "e",
    "column": "c",
    "uri": "http://mlflow:5000",
    "tag": "t",
}


def spec(**texts: str) -> str:
    fields = {name: json.dumps(texts.get(name, plain)) for name, plain in PLAIN.items()}
    return SPEC.format(**fields)


def test_the_plain_spec_is_fine() -> None:
    problems = BACKEND.check(analyze_text(spec(), "literal.yaml").pipeline)
    assert [p for p in problems if p.severity == "error"] == []


@pytest.mark.parametrize(
    ("field", "text", "line", "col", "construct"),
    [
        ("arg", "--literal={{$.pipeline_job_name}}", 15, 14, "{{$.pipeline_job_name}}"),
        ("command", "{{$}}", 14, 23, "{{$}}"),
        ("constant", "{{$.workspace_path}}/data", 16, 25, "{{$.workspace_path}}"),
        ("default", "{{$.pipeline_root}}", 5, 27, "{{$.pipeline_root}}"),
        ("env", "{{$.inputs.parameters['s']}}", 17, 14, "{{$.inputs.parameters['s']}}"),
        ("column", "{{$.outputs.artifacts['report'].path}}", 21, 25, "{{$.outputs"),
        ("uri", "http://{{$.pipeline_task_name}}", 25, 47, "{{$.pipeline_task_name}}"),
        ("tag", "{{$.pipeline_job_uuid", 27, 13, "{{$."),
        ("arg", '{"IfPresent": {"InputName": "a", "Then": ["x"]}}', 15, 14, '{"IfPresent":'),
        ("command", ' {"Concat": ["a", "b"]}', 14, 23, '{"Concat":'),
    ],
)
def test_text_that_kfp_would_substitute_is_ms301_at_its_place(
    field: str, text: str, line: int, col: int, construct: str
) -> None:
    pipeline = analyze_text(spec(**{field: text}), "literal.yaml").pipeline
    [problem] = [p for p in BACKEND.check(pipeline) if p.severity == "error"]
    assert (problem.code, problem.span.line, problem.span.col) == ("MS301", line, col)
    assert construct in problem.message
    assert problem.hint


def test_the_compile_fails_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "literal.yaml"
    path.write_text(spec(arg="--literal={{$.pipeline_job_name}}"), encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compile", str(path), "-t", "kubeflow", "-o", str(out)])
    assert result.exit_code == 1
    assert f"{path}:15:14: error[MS301]: " in result.stderr
    assert not out.exists()


def test_a_local_kubeflow_run_refuses_it_before_starting(tmp_path: Path) -> None:
    """`mlspec run --target kubeflow` runs kfp.local, which substitutes the same placeholders."""
    path = tmp_path / "literal.yaml"
    path.write_text(spec(constant="{{$.pipeline_job_name}}"), encoding="utf-8")
    state = tmp_path / "state"
    result = CliRunner().invoke(main, ["run", str(path), "-t", "kubeflow", "--state", str(state)])
    assert result.exit_code == 1, result.output
    assert f"{path}:16:25: error[MS301]: " in result.stderr
    assert not state.exists()


# Braces that are not KFP placeholders, next to mlspec's own placeholders.
BRACES = hostile.HOSTILE + (
    ' {{${inputs.a}}} {{ $.pipeline_root }} {{$x}} {{$$}} {{$${inputs.a}}} x {"Concat": 1}'
    ' {"IfPresent" {{'
)
# What kfp (or the generator) puts into commands on purpose.
INTENDED = re.compile(
    r"\{\{\$(?:\.(?:inputs|outputs)\.(?:parameters|artifacts)\['[^']+'\]"
    r"(?:\.path|\.uri|\.output_file)?)?\}\}"
)


def substituted_values(values: dict) -> set[str]:
    """Everything kfp may put in place of an intended placeholder."""
    found = {json.dumps(values)}
    inputs, outputs = values.get("inputs", {}), values.get("outputs", {})
    for value in inputs.get("parameterValues", {}).values():
        found.add(value if isinstance(value, str) else json.dumps(value))
    for side in (inputs, outputs):
        for artifacts in side.get("artifacts", {}).values():
            found |= {a["uri"] for a in artifacts["artifacts"]}
    found |= {p["outputFile"] for p in outputs.get("parameters", {}).values()}
    return found


def test_every_command_string_survives_kfps_placeholder_substitution() -> None:
    pipeline = analyze_text(hostile.spec(BRACES), "hostile.yaml").pipeline
    assert [p for p in BACKEND.check(pipeline) if p.severity == "error"] == []
    [ir_file] = [a for a in BACKEND.emit(pipeline) if a.path.endswith(".kfp.yaml")]
    root = pipeline.artifact_root or ""
    checked = 0
    for executor in kfp_exec.executors(ir_file.text):
        values = kfp_exec.executor_input(executor, "VALUE", root)
        container = executor.container
        written = [*container["command"], *container.get("args", [])]
        resolved = kfp_exec.resolve(executor, values, root)
        allowed = substituted_values(values)
        assert len(resolved) == len(written), executor.label
        for before, after in zip(written, resolved, strict=True):
            pieces = INTENDED.split(before)
            pattern = "(.*?)".join(re.escape(piece) for piece in pieces)
            match = re.fullmatch(pattern, after, re.DOTALL)
            assert match, f"{executor.label}: kfp changed {before[:80]!r}"
            assert set(match.groups()) <= allowed, executor.label
            checked += 1
    assert checked > 20
    # mlspec's own placeholders became values: `${inputs.a}` of the container step.
    run = next(e for e in kfp_exec.executors(ir_file.text) if e.task == "run")
    resolved = kfp_exec.resolve(run, kfp_exec.executor_input(run, "VALUE", root), root)
    braces = BRACES.replace("{{${inputs.a}}}", "{{VALUE}}").replace("$${", "${")
    assert resolved[1] == "VALUE" and braces + "VALUE" + braces in resolved
