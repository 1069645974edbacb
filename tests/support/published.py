"""The flagship as CI ships it to Kubeflow: its pinned wheel published where code.wheels says.

`mlspec deploy --target kubeflow` refuses a pipeline whose wheel is not published (deploy/
wheels.py); tests that deploy the flagship to a (fake) Kubeflow use this copy, whose
code.wheels is a file:// folder holding the wheel `mlspec build` would write.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mlspec.compiler import analyze_file
from mlspec.delivery.wheel import build_wheel

FLAGSHIP = Path(__file__).resolve().parents[2] / "examples" / "breast-cancer" / "pipeline.yaml"
WHEELS_LINE = "wheels: https://wheels.example.com/breast-cancer"


def publish_flagship(folder: Path) -> Path:
    """The flagship spec and its package in `folder`, its wheel published in folder/wheels."""
    shutil.copytree(FLAGSHIP.parent, folder, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = folder / "wheels"
    wheels.mkdir()
    spec = folder / FLAGSHIP.name
    text = spec.read_text(encoding="utf-8")
    assert text.count(WHEELS_LINE) == 1, WHEELS_LINE
    spec.write_text(text.replace(WHEELS_LINE, f"wheels: file://{wheels}"), encoding="utf-8")
    for package in {s.code.package for s in analyze_file(spec).pipeline.steps if s.code}:
        if package is not None:
            wheel = build_wheel(package)
            (wheels / wheel.filename).write_bytes(wheel.data)
    return spec
