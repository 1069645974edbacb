"""A Kubeflow deploy refuses when a pinned wheel (a step package's, mlspec's runtime's) is not
where its components fetch it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlspec.backends.kubeflow.runtime_wheel import runtime_wheel
from mlspec.compiler import analyze_file
from mlspec.compiler.ir import Pipeline
from mlspec.delivery.wheel import build_wheel
from mlspec.deploy.common import DeployError
from mlspec.deploy.wheels import check_published, pinned, require_published

FLAGSHIP = Path(__file__).parents[2] / "examples" / "breast-cancer"


def pipeline_with_wheels(tmp_path: Path) -> tuple[Pipeline, Path]:
    spec_dir = tmp_path / "bc"
    shutil.copytree(FLAGSHIP, spec_dir, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "published"
    wheels.mkdir()
    spec = spec_dir / "pipeline.yaml"
    text = spec.read_text()
    line = "wheels: https://wheels.example.com/breast-cancer"
    assert text.count(line) == 1
    text = text.replace(line, f"wheels: 'file://{wheels}'")
    spec.write_text(text)
    return analyze_file(spec).pipeline, wheels


def test_a_published_wheel_passes(tmp_path: Path) -> None:
    pipeline, wheels = pipeline_with_wheels(tmp_path)
    [package] = {s.code.package for s in pipeline.steps if s.code and s.code.package}
    runtime = runtime_wheel(pipeline)
    assert runtime is not None and runtime.name.startswith("mlspec_runtime_")
    built = [build_wheel(package), build_wheel(runtime)]
    for wheel in built:
        (wheels / wheel.filename).write_bytes(wheel.data)
    assert pinned(pipeline) == sorted((f"file://{wheels}/{w.filename}", w.sha256) for w in built)
    assert check_published(pipeline) == []
    require_published(pipeline)


@pytest.mark.parametrize("published", [None, b"other bytes"])
def test_a_missing_or_different_runtime_wheel_is_refused(
    tmp_path: Path, published: bytes | None
) -> None:
    """The step wheel is published; the runtime's, which every gate installs, is not as pinned."""
    pipeline, wheels = pipeline_with_wheels(tmp_path)
    [package] = {s.code.package for s in pipeline.steps if s.code and s.code.package}
    step_wheel = build_wheel(package)
    (wheels / step_wheel.filename).write_bytes(step_wheel.data)
    runtime = runtime_wheel(pipeline)
    assert runtime is not None
    wheel = build_wheel(runtime)
    if published is not None:
        (wheels / wheel.filename).write_bytes(published)
    with pytest.raises(DeployError) as refused:
        require_published(pipeline)
    [problem] = check_published(pipeline)
    assert problem.startswith(f"file://{wheels}/{wheel.filename}: ")
    assert ("its sha256 is" if published else "cannot be read") in problem
    assert problem in str(refused.value) and "mlspec's runtime" in str(refused.value)


def test_a_missing_or_different_wheel_is_refused_before_the_server_is_touched(
    tmp_path: Path,
) -> None:
    pipeline, _ = pipeline_with_wheels(tmp_path)
    [(url, sha256), runtime] = pinned(pipeline)
    assert "/breast_cancer-" in url and "/mlspec_runtime_" in runtime[0]
    with pytest.raises(DeployError) as missing:
        require_published(pipeline)
    assert url in str(missing.value) and "cannot be read" in str(missing.value)
    assert "mlspec build" in str(missing.value) and "nothing was changed" in str(missing.value)
    Path(url.removeprefix("file://")).write_bytes(b"not the wheel")
    [problem, _] = check_published(pipeline)
    assert sha256 in problem and "its sha256 is" in problem


def test_a_pipeline_without_wheels_needs_nothing_published(tmp_path: Path) -> None:
    spec_dir = tmp_path / "bc"
    shutil.copytree(FLAGSHIP / "breast_cancer", spec_dir / "breast_cancer")
    (spec_dir / "pipeline.yaml").write_text(
        "apiVersion: mlspec/v1\nkind: Pipeline\nmetadata: {name: bc, version: 1.0.0}\n"
        "steps:\n  ingest: {python: 'breast_cancer.steps:ingest'}\n"
    )
    pipeline = analyze_file(spec_dir / "pipeline.yaml").pipeline
    assert pipeline.steps[0].code is not None and pipeline.steps[0].code.package is not None
    assert pinned(pipeline) == [] and check_published(pipeline) == []
