"""mlspec.names: one did-you-mean and one target form of a name for the compiler and back ends."""

from __future__ import annotations

import pytest

from mlspec.compiler import analyze_text
from mlspec.diagnostics import SpecError
from mlspec.names import suggest, target_key

SPEC = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: p, version: 1.0.0}
steps:
  train:
    python: steps:train
    outputs: {model: model}
  evaluate:
    python: steps:evaluate
    inputs: {model: trian.model}
    timout: 5m
rollout:
  controller: argo
  service: {name: scorer, namespace: ml, port: 8080, image: scorer:1}
  strategy:
    canary:
      steps: [{weight: 10}]
"""


@pytest.mark.parametrize(
    ("name", "key"),
    [("train_model", "train-model"), ("Train__Model_", "train-model"), ("a.b", "a-b")],
)
def test_target_key_is_the_form_kubernetes_and_kfp_names_take(name: str, key: str) -> None:
    assert target_key(name) == key


def test_suggest_names_the_closest_option_or_nothing() -> None:
    assert suggest("trian", ["train", "evaluate"]) == "did you mean 'train'?"
    assert suggest("zzz", ["train", "evaluate"]) is None
    assert suggest("argo", ["argo-rollouts", "flagger"]) is None
    assert suggest("argo", ["argo-rollouts", "flagger"], prefix=True) == (
        "did you mean 'argo-rollouts'?"
    )
    assert suggest("", ["argo-rollouts"], prefix=True) is None


def test_parse_and_checks_suggest_alike() -> None:
    """An unknown field and a value not in a list (parse.py) and an unknown step (checks)."""
    with pytest.raises(SpecError) as caught:
        analyze_text(SPEC, "p.yaml")
    hints = {(d.code, d.hint) for d in caught.value.diagnostics}
    assert ("MS101", "did you mean 'timeout'?") in hints
    assert ("MS104", "did you mean 'argo-rollouts'?") in hints
    fixed = SPEC.replace("timout", "timeout").replace("argo\n", "argo-rollouts\n")
    with pytest.raises(SpecError) as caught:
        analyze_text(fixed, "p.yaml")
    assert [(d.code, d.hint) for d in caught.value.diagnostics] == [
        ("MS201", "did you mean 'train'?")
    ]
