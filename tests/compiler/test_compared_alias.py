"""`vs:` names the registry alias a model gate compares with; some process must set it.

A gate that compared with `champion` in a spec that promotes to `production` always saw a first
run (nothing ever held `champion`), so any model passed under `first_run: pass`.
"""

from __future__ import annotations

import pytest

from mlspec.backends.runtime_args import requirement_args
from mlspec.compiler import analyze_text
from mlspec.diagnostics import SpecError

SPEC = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {{name: tfx-style, version: 1.0.0}}
steps:
  train:
    python: steps:train
    outputs: {{model: model, accuracy: float}}
gates:
  blessing:
    require:
      - {{metric: train.accuracy, vs: {vs}, better: higher}}
    first_run: pass
registry:
  mlflow: {{registered_model: tfx-style}}
  model: train.model
  promote:
    - {{alias: production, after: [blessing]}}
{extra}"""


def spec(vs: str, extra: str = "") -> str:
    return SPEC.format(vs=vs, extra=extra)


def errors(text: str) -> list[tuple[str, int, int, str, str]]:
    with pytest.raises(SpecError) as caught:
        analyze_text(text, "p.yaml")
    return [
        (d.code, d.span.line, d.span.col, d.message, d.hint or "") for d in caught.value.diagnostics
    ]


def test_a_gate_compares_with_the_alias_the_spec_promotes() -> None:
    pipeline = analyze_text(spec("production"), "p.yaml").pipeline
    requirement = pipeline.gate("blessing").requirements[0]
    assert requirement.vs == "production"
    assert requirement_args(requirement, {}) == {
        "metric": "train.accuracy",
        "vs": "production",
        "better": "higher",
        "tolerance": 0.0,
    }


def test_comparing_with_an_alias_no_rule_sets_is_an_error_at_the_alias() -> None:
    assert errors(spec("champion")) == [
        (
            "MS205",
            11,
            38,
            "gate 'blessing' compares with alias 'champion', which no promotion rule sets",
            "compare with an alias under registry.promote, or list it in "
            "registry.external_aliases if another process sets it",
        )
    ]
    assert errors(spec("prodution"))[0][4] == "did you mean 'production'?"


def test_an_alias_another_process_sets_is_declared_external() -> None:
    pipeline = analyze_text(spec("champion", "  external_aliases: [champion]\n"), "p.yaml")
    assert pipeline.pipeline.gate("blessing").requirements[0].vs == "champion"


@pytest.mark.parametrize(
    ("vs", "aliases", "column"),
    [("production", "[production]", 22), ("champion", "[champion, champion]", 32)],
)
def test_an_alias_is_external_once_and_never_also_promoted(
    vs: str, aliases: str, column: int
) -> None:
    found = errors(spec(vs, f"  external_aliases: {aliases}\n"))
    assert [(code, line, col) for code, line, col, _, _ in found] == [("MS240", 18, column)]


def test_a_reserved_alias_cannot_be_compared_with() -> None:
    assert [code for code, *_ in errors(spec("latest"))] == ["MS118"]
