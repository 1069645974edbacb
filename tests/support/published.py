"""The flagship as CI ships it to Kubeflow: its pinned wheels (its step package's and mlspec's
runtime's) published where code.wheels says.

`mlspec deploy --target kubeflow` refuses a pipeline whose wheel is not published (deploy/
wheels.py); tests that deploy the flagship to a (fake) Kubeflow use this copy, whose
code.wheels is a file:// folder holding the wheels `mlspec build` would write.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mlspec.backends.kubeflow.runtime_wheel import runtime_wheel
from mlspec.compiler import analyze_file
from mlspec.delivery.wheel import build_wheel

FLAGSHIP = Path(__file__).resolve().parents[2] / "examples" / "breast-cancer" / "pipeline.yaml"
WHEELS_LINE = "wheels: https://wheels.example.com/breast-cancer"


def publish_flagship(folder: Path) -> Path:
    """The flagship spec and its package in `folder`, its wheels published in folder/wheels."""
    shutil.copytree(FLAGSHIP.parent, folder, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = folder / "wheels"
    wheels.mkdir()
    spec = folder / FLAGSHIP.name
    text = spec.read_text(encoding="utf-8")
    assert text.count(WHEELS_LINE) == 1, WHEELS_LINE
    spec.write_text(text.replace(WHEELS_LINE, f"wheels: file://{wheels}"), encoding="utf-8")
    pipeline = analyze_file(spec).pipeline
    packages = {s.code.package for s in pipeline.steps if s.code} | {runtime_wheel(pipeline)}
    for package in packages:
        if package is not None:
            wheel = build_wheel(package)
            (wheels / wheel.filename).write_bytes(wheel.data)
    return spec
