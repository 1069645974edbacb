"""The KFP IR file reads back as exactly the pipeline spec, whatever text the spec carries.

kfp's own writer put string parameter defaults raw into the header comment: a line break
ended the comment and the rest of the default became YAML (#15 item 3). Each file here is read
by kfp's loader, by the strict protobuf validator (tests/support/kfp_ir.py) and by three YAML
readers (tests/support/yaml_readers.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from support import generated
from support.kfp_ir import validate
from support.yaml_readers import assert_reads_back, yaml_string

from mlspec.backends.kubeflow import KubeflowBackend, irfile, sdk
from mlspec.backends.kubeflow.graph import pipeline_func
from mlspec.backends.kubeflow.layout import layout
from mlspec.compiler import analyze_file, analyze_text
from mlspec.diagnostics import SpecError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/pipeline.yaml"))
INJECTION = "week\ninjected_by_spec: {evil: true}"
SEPARATORS = ["\n", "\r\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x00"]

SPEC = """apiVersion: mlspec/v1
kind: Pipeline
metadata:
  name: texts
  version: 1.0.0
  description: {description}
params:
  p0: {{type: str, default: {t0}, description: {t1}}}
  p1: {{type: str, default: {t1}}}
steps:
  make:
    python: steps:make
    description: {t0}
    inputs: {{a: {{value: {t1}}}, b: params.p0}}
    outputs: {{data: dataset}}
    env: {{E: {t0}}}
  run:
    image: busybox:1.36
    container:
      command: [{t1}, "${{inputs.a}}"]
      args: [{t0}]
    inputs: {{a: {{value: {t0}}}, d: make.data}}
    outputs: {{o: dataset}}
    env: {{F: {t1}}}
"""


def compile_texts(t0: str, t1: str = "plain", description: str = "texts") -> str:
    text = SPEC.format(t0=yaml_string(t0), t1=yaml_string(t1), description=yaml_string(description))
    pipeline = analyze_text(text, "texts.yaml").pipeline
    [artifact] = generated.without_rollout(KubeflowBackend().emit(pipeline))
    return artifact.text


def check(text: str) -> dict:
    """The IR's pipeline spec, after every reader and kfp's loader had their say."""
    from kfp import components

    documents = validate(text)  # strict: unknown fields (an injected key) are errors
    assert_reads_back(text, documents)
    components.load_component_from_text(text)
    return documents[0]


@pytest.mark.parametrize(
    "default",
    [INJECTION, "week\n#x\ninjected: 1", *(f"a{s}b" for s in SEPARATORS), *SEPARATORS],
    ids=repr,
)
def test_a_line_break_in_a_default_stays_in_the_default(default: str) -> None:
    spec = check(compile_texts(default))
    assert spec["root"]["inputDefinitions"]["parameters"]["p0"]["defaultValue"] == default
    assert "injected_by_spec" not in spec


@pytest.mark.parametrize("text", ["y", "N", "1e3", "0o17", "0b101", "2001-2-3", "08", "1:30"])
def test_strings_other_readers_resolve_stay_strings(text: str) -> None:
    spec = check(compile_texts(text, text))
    assert spec["root"]["inputDefinitions"]["parameters"]["p1"]["defaultValue"] == text


def test_kfps_loader_reads_the_description_from_the_header() -> None:
    from kfp import components

    text = compile_texts("x", description="First line\n  second: line\nthird\u2028fourth")
    assert text.splitlines()[2:6] == [
        "# Description: First line",
        "#                second: line",
        "#              third",
        "#              fourth",
    ]
    loaded = components.load_component_from_text(text)
    assert loaded.description == "First line\n  second: line\nthird\nfourth"


def test_unprintable_header_text_is_escaped() -> None:
    text = compile_texts("a\x85b", description="bell\x07 here")
    header = text[: text.index("components:")]
    assert "# Description: 'bell\\x07 here'\n" in header
    assert "#    p0: str [Default: \"'a\\x85b'\"]\n" in header
    assert all(line.startswith("#") for line in header.splitlines())


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_the_file_is_the_one_kfp_writes_for_plain_text(spec: Path) -> None:
    """Same bytes as kfp's `Compiler().compile` where kfp's writer is safe: the layout is kfp's."""
    kfp, kubernetes = sdk.load()
    pipeline = analyze_file(spec).pipeline
    func = pipeline_func(kfp, kubernetes, pipeline, layout(pipeline))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pipeline.yaml"
        kfp.compiler.Compiler().compile(func, str(path))
        assert irfile.render(func) == path.read_text(encoding="utf-8")


def test_a_file_that_does_not_read_back_is_never_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    """The back end's own round trip: a header that ended early would be caught."""
    monkeypatch.setattr(irfile, "comment", lambda text: text)  # kfp's unescaped header
    with pytest.raises(RuntimeError, match="does not read back"):
        compile_texts("week\ninjected: x")


TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20) | st.sampled_from(
    [INJECTION, "y", "n", "1e3", "0o17", "1:30", "no", *SEPARATORS]
)


@settings(max_examples=12, deadline=None)
@given(TEXT, TEXT, TEXT)
def test_any_text_reads_back_under_every_reader(t0: str, t1: str, description: str) -> None:
    try:
        text = compile_texts(t0, t1, description or "x")
    except SpecError:
        assume(False)  # e.g. a `${...}` the spec refuses: nothing is written
    defaults = check(text)["root"]["inputDefinitions"]["parameters"]
    assert [defaults["p0"]["defaultValue"], defaults["p1"]["defaultValue"]] == [t0, t1]
