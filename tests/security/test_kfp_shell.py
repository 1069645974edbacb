"""Spec text in the KFP IR's shell commands stays text: nothing but the intended programs run.

kfp wraps a lightweight component in `sh -c` and quotes each `packages` entry with Python's
`repr()`: a package `x'$(touch PWNED)` used to run `touch`. mlspec now accepts only PEP 508
requirements without the characters that break that quoting (MS121). The second test runs every
executor of a spec that is hostile wherever the language lets it be, under `sh`, with stub
interpreters (see tests/support/kfp_exec.py), and checks that the stubs alone ran, with the text
verbatim.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import hostile, kfp_exec

from mlspec.backends.kubeflow import KubeflowBackend, sdk
from mlspec.backends.kubeflow.plan import REGISTRY_PACKAGES
from mlspec.cli import main
from mlspec.compiler import analyze_text
from mlspec.diagnostics import SpecError

PIP = ["python3", "-m", "pip", "install", "--quiet", "--no-warn-script-location"]
KFP_INSTALL = [
    *PIP,
    *(f"kfp=={sdk.KFP_VERSION}", "--no-deps", 'typing-extensions>=3.7.4,<5; python_version<"3.9"'),
]

EXECUTOR_MAIN = ["-m", "kfp.dsl.executor_main", "--component_module_path"]

SPEC = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {{name: shell, version: 1.0.0}}
steps:
  make:
    python: demo.steps:make
    packages:
      - {package}
"""


@pytest.mark.parametrize(
    "package",
    [
        "x'$(touch PWNED)",  # not PEP 508; kfp's repr() put it in double quotes: $() ran
        'demo; os_name == "\'$(touch PWNED)"',  # valid PEP 508, the same break-out
        'demo; os_name == "`touch PWNED`"',  # safe in kfp's quotes today; refused all the same
        "--index-url=https://mirror.example/simple",  # a pip option, not a requirement
    ],
)
def test_a_package_that_is_not_a_plain_requirement_is_refused(tmp_path: Path, package: str) -> None:
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(SPEC.format(package=json.dumps(package)), encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compile", str(spec), "-t", "kubeflow", "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert f"{spec}:8:9: error[MS121]: " in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("image", ["python:3.11-slim\n", "python:3.11-slim\u00e9", "python:\u0660"])
def test_an_image_with_a_line_break_or_non_ascii_tag_is_refused(image: str) -> None:
    spec = SPEC.format(package="demo").replace(
        "    python: demo", f"    image: {json.dumps(image)}\n    python: demo"
    )
    with pytest.raises(SpecError) as caught:
        analyze_text(spec, "pipeline.yaml")
    [problem] = caught.value.diagnostics
    assert (problem.code, problem.span.line, problem.span.col) == ("MS119", 6, 12)


# Every way for text to become a command in `sh`, each creating a file PWNED-* in the
# executor's folder (a relative name: a long path would make a mapping key too long for YAML).
SHELL_TEXT = hostile.HOSTILE + (
    " $(touch PWNED-dollar) `touch PWNED-backtick` ; touch PWNED-semicolon | touch PWNED-pipe"
    " && touch PWNED-and || touch PWNED-or & touch PWNED-background\n touch PWNED-newline"
    " '; touch PWNED-single; ' \"; touch PWNED-double; \" > PWNED-redirect $HOME $$ $0 $@ *"
)
# Valid requirements holding every shell character that PEP 508 and MS121 leave in.
PACKAGES = [
    hostile.PACKAGE,
    'hostile-pkg[extra]>=1.0; platform_machine != "x;touch PWNED-p1|touch PWNED-p2&&'
    'touch PWNED-p3>PWNED-p4 (y)*?~#"',
    "other-pkg @ https://example.com/o.whl#x;touch|PWNED-p5&(y)*?~<>",
]


def hostile_spec(text: str, packages: list[str]) -> str:
    document = json.loads(hostile.spec(text))
    document["steps"]["make"]["packages"] = packages
    run = document["steps"]["run"]["container"]
    run["command"].insert(0, "python3")  # the container's program (a stub), then the text
    return json.dumps(document, indent=1)


def test_every_executor_runs_only_its_programs_with_the_text_verbatim(tmp_path: Path) -> None:
    text = SHELL_TEXT
    pipeline = analyze_text(hostile_spec(text, PACKAGES), "hostile.yaml").pipeline
    backend = KubeflowBackend()
    assert [p for p in backend.check(pipeline) if p.severity == "error"] == []
    [ir_file] = [a for a in backend.emit(pipeline) if a.path.endswith(".kfp.yaml")]
    stubs = kfp_exec.write_stubs(tmp_path / "bin")
    root = pipeline.artifact_root
    assert root is not None and text in root
    # The gates, the promotion and the tracking tasks share one executor: each installs what
    # any of them needs.
    registry = list(REGISTRY_PACKAGES)
    tracking = ["mlspec-track", "mlspec-lineage", "mlspec-close"]
    expected_packages = {"make": PACKAGES, "promote-a": registry, "g": registry, "m": registry}
    expected_packages |= dict.fromkeys(tracking, registry)

    ran = []
    for executor in kfp_exec.executors(ir_file.text):
        work = tmp_path / executor.task
        work.mkdir()
        values = kfp_exec.executor_input(executor, text, root)
        argv = kfp_exec.resolve(executor, values, root)
        calls = kfp_exec.run(argv, kfp_exec.env_values(executor), stubs, work)
        ran.append(executor.task)
        if not executor.lightweight:  # exec form: the program gets exactly its argv
            assert calls == [argv]
            assert argv[1] == text and argv[3] == text * 3 and argv[5] == "${inputs.a}"
            continue
        own = len(executor.container["command"])
        wanted = [[*PIP, *p] for p in [expected_packages.get(executor.task, [])] if p]
        assert calls[:-1] == [*wanted, KFP_INSTALL], executor.task
        main_call = calls[-1]
        assert main_call[:4] == ["python3", *EXECUTOR_MAIN]
        assert main_call[5:] == argv[own:], executor.task
        program = Path(main_call[4]).read_text(encoding="utf-8")
        assert program == executor.container["command"][-1], executor.task
        sent = json.loads(main_call[main_call.index("--executor_input") + 1])
        assert sent == values, executor.task  # every hostile value and path, verbatim
        assert sorted(p.name for p in work.iterdir()) == ["calls.jsonl", "tmp"]
    assert sorted(ran) == sorted(["make", "run", "g", "m", "promote-a", *tracking])
    assert sorted(tmp_path.rglob("PWNED*")) == []
