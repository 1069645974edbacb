"""A value that ends in a line break is refused by every checked field type.

Python's `re.match` with `$` accepts a trailing newline: `"make\\n"` passed as a name and would
have reached generated code, DNS names and pod labels. Every field type now matches whole.
"""

from __future__ import annotations

import pytest

from mlspec.compiler import analyze_bytes
from mlspec.diagnostics import SpecError

BASE = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: demo, version: 1.0.0}
params: {lr: {type: float, default: 0.1}}
defaults: {image: python:3.11-slim, timeout: 10m, resources: {cpu: "1", memory: 1Gi}}
steps:
  train:
    python: demo.steps:train
    inputs: {lr: params.lr}
    outputs: {model: model, auc: float}
    env: {LEVEL: debug}
gates:
  quality:
    require: [{metric: train.auc, min: 0.5}]
registry:
  mlflow: {registered_model: demo}
  model: train.model
  promote: [{alias: challenger, after: [quality]}]
schedule: {cron: "0 3 * * 1", timezone: UTC}
"""

# (what is changed, the text in BASE, the same with a YAML-escaped line break)
CASES = [
    ("pipeline name", "name: demo,", 'name: "demo\\n",'),
    ("version", "version: 1.0.0}", 'version: "1.0.0\\n"}'),
    ("python function", "python: demo.steps:train", 'python: "demo.steps:train\\n"'),
    ("step name", "  train:\n    python", '  "train\\n":\n    python'),
    ("duration", "timeout: 10m", 'timeout: "10m\\n"'),
    ("cpu", 'cpu: "1"', 'cpu: "1\\n"'),
    ("memory", "memory: 1Gi", 'memory: "1Gi\\n"'),
    ("reference", "lr: params.lr}", 'lr: "params.lr\\n"}'),
    ("env name", "env: {LEVEL:", 'env: {"LEVEL\\n":'),
    ("registered model", "registered_model: demo}", 'registered_model: "demo\\n"}'),
    ("alias", "alias: challenger", 'alias: "challenger\\n"'),
    ("time zone", "timezone: UTC}", 'timezone: "UTC\\n"}'),
    ("image", "image: python:3.11-slim", 'image: "python:3.11-slim\\n"'),
]


def test_the_base_spec_is_valid() -> None:
    analyze_bytes(BASE.encode(), "s.yaml")


@pytest.mark.parametrize(("what", "old", "new"), CASES, ids=[c[0] for c in CASES])
def test_a_trailing_line_break_is_refused(what: str, old: str, new: str) -> None:
    assert old in BASE
    with pytest.raises(SpecError) as caught:
        analyze_bytes(BASE.replace(old, new, 1).encode(), "s.yaml")
    errors = [d for d in caught.value.diagnostics if d.severity == "error"]
    assert errors, what
