"""The flagship, end to end under kfp's local runner: real steps, real gates, a real registry.

Starts: a scratch virtualenv (kfp.local runs each task with the driver's own interpreter and
first runs `python3 -m pip install ...` from the component, so that interpreter needs pip; the
dev environment's packages are visible through a .pth file, nothing is downloaded), then one
`SubprocessRunner(use_venv=False)` pipeline run per test against a SQLite MLflow registry.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Callable
from pathlib import Path

import generated
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "breast-cancer"
MODEL = "breast-cancer-classifier"

DRIVER = textwrap.dedent(
    """
    import sys

    import kfp.local

    from mlspec.backends.kubeflow import sdk
    from mlspec.backends.kubeflow.graph import pipeline_func
    from mlspec.backends.kubeflow.layout import layout
    from mlspec.compiler import analyze_file

    spec, root, min_auc = sys.argv[1], sys.argv[2], float(sys.argv[3])
    pipeline = analyze_file(spec).pipeline
    kfp_, kubernetes = sdk.load()
    func = pipeline_func(kfp_, kubernetes, pipeline, layout(pipeline))
    kfp.local.init(runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=root)
    func(min_auc=min_auc)
    """
)


@pytest.fixture(scope="module")
def python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kfp-venv")
    print(f"starting: a scratch virtualenv with pip in {folder}")
    subprocess.run([sys.executable, "-m", "venv", str(folder / "venv")], check=True, timeout=120)
    exe = folder / "venv" / "bin" / "python"
    purelib = subprocess.run(
        [exe, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    paths = [sysconfig.get_paths()["purelib"], str(ROOT / "src"), str(EXAMPLE)]
    (Path(purelib) / "mlspec-dev.pth").write_text("\n".join(paths) + "\n")
    return exe


def run_pipeline(python: Path, uri: str, folder: Path, min_auc: float) -> str:
    """One local run against the registry `uri`; returns the run's log."""
    (folder / "driver.py").write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "KFP_"))}
    env |= {"MLFLOW_TRACKING_URI": uri, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    print(f"starting: kfp.local pipeline run (min_auc={min_auc}) in {folder}")
    result = subprocess.run(
        [python, folder / "driver.py", EXAMPLE / "pipeline.yaml", folder / "root", str(min_auc)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    return log


@pytest.fixture
def uri(uri: str, create_model: Callable[[str, str], None]) -> str:
    """The registry, with the example's registered model created for its first run."""
    create_model(uri, MODEL)
    return uri


def test_flagship_passes_its_gates_and_promotes_a_challenger(
    python: Path, uri: str, tmp_path: Path
) -> None:
    log = run_pipeline(python, uri, tmp_path, min_auc=0.95)
    assert "gate data_quality: passed" in log
    assert "gate model_quality: passed" in log
    assert f"promotion to 'challenger': {MODEL} version 1" in log
    assert generated.registry_state(uri, MODEL) == (["1"], {"challenger": "1"})


def test_flagship_promotes_nothing_when_the_model_gate_blocks(
    python: Path, uri: str, tmp_path: Path
) -> None:
    log = run_pipeline(python, uri, tmp_path, min_auc=0.999)
    assert "gate data_quality: passed" in log
    assert "gate model_quality: blocked" in log
    assert "promote-challenger" not in log
    assert generated.registry_state(uri, MODEL) == ([], {})
