"""Lineage on the three real engines: the flagship twice per engine, read back field by field.

Per engine, in a copy of the state folder of the test run's flagship run (support/engines.py:
the run the other engine tests look at; its SQLite MLflow registry holds version 1, challenger):
`mlspec promote` of version 1 to champion (what CI does after the rollout), then `mlspec run` of
a copy whose ingest step changes one training row (version 2, challenger: its model gate
compares with champion). `mlspec lineage` of both versions must name
what the test computes itself (the datasets' sha256 from calling the steps' own ingest, the
spec's sha256, the model file's sha256), the gate verdicts and the promotion rules, show the
changed row as a changed fingerprint of version 2, and say the same on every engine once the
ids, times and paths each engine makes are set aside.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from support import airflow_env
from support.engines import FLAGSHIP, MODEL, Run, copied_state, mlspec_run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
]

ENGINES = ("prefect", "kubeflow", "airflow")
DATASETS = ("ingest.reference", "ingest.test", "ingest.train")
SPLIT = "    for path, part in ((train, train_rows)"
ONE_ROW = "    train_rows[0][0] += 0.001  # one training row changed\n"
CHALLENGER_RULE = ["data_quality", "model_quality", "servable"]


def changed_flagship(folder: Path) -> Path:
    """A copy of the flagship whose ingest changes one value of one training row."""
    shutil.copytree(FLAGSHIP.parent, folder, ignore=shutil.ignore_patterns("build", "__pycache__"))
    steps = folder / "breast_cancer" / "steps.py"
    text = steps.read_text(encoding="utf-8")
    assert text.count(SPLIT) == 1
    steps.write_text(text.replace(SPLIT, ONE_ROW + SPLIT), encoding="utf-8")
    return folder / "pipeline.yaml"


def ingest_hashes(spec: Path, folder: Path) -> dict[str, str]:
    """sha256 of each dataset the spec's own ingest writes with the flagship's defaults."""
    module = importlib.util.spec_from_file_location(
        f"steps_{folder.name}", spec.parent / "breast_cancer" / "steps.py"
    )
    assert module is not None and module.loader is not None
    steps = importlib.util.module_from_spec(module)
    module.loader.exec_module(steps)
    folder.mkdir()
    paths = {name: folder / name for name in ("train", "test", "reference")}
    steps.ingest(test_fraction=0.25, seed=7, **{k: str(v) for k, v in paths.items()})
    return {f"ingest.{k}": hashlib.sha256(p.read_bytes()).hexdigest() for k, p in paths.items()}


def mlspec(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlspec.cli", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def lineage(uri: str, selector: str) -> dict:
    done = mlspec("lineage", selector, "--tracking-uri", uri, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def comparable(found: dict) -> dict:
    """A lineage without what each engine makes its own: ids, times, paths, the model's bytes."""
    data = json.loads(json.dumps(found))
    for key in ("id", "engine", "engine_run_id", "pipeline_run", "start", "end", "experiment"):
        data["run"].pop(key)
    for key in ("source", "sha256", "pipeline_run"):
        data["model"].pop(key)
    for dataset in data["datasets"]:
        dataset.pop("source")
    for promotion in data["promotions"]:
        promotion.pop("at")
        promotion.pop("pipeline_run")
    data["spec"].pop("path")
    return data


def run_twice(engine: str, first: Run, state: Path, changed: Path) -> tuple[dict, dict, dict]:
    """Version 1 from the flagship (the test run's flagship run, in a copy of its state),
    champion by `mlspec promote`, version 2 from the changed copy; (lineage of 1, lineage of
    2, `mlspec runs`)."""
    target: tuple[str, ...] = () if engine == "prefect" else ("--target", engine)
    if engine == "airflow":
        target += ("--airflow-python", str(airflow_env.environment()))
    assert first.summary["promoted"] == {"challenger": "1"}, first.output[-6000:]
    copied_state(first, state)
    uri = f"sqlite:///{state / 'registry.db'}"
    promoted = mlspec(
        "promote", str(FLAGSHIP), "--alias", "champion", "--version", "1", "--rollout-passed",
        "--tracking-uri", uri,
        env={"MLSPEC_ACTOR": "release-bot"},
    )  # fmt: skip
    assert promoted.returncode == 0, promoted.stderr
    code, summary, output = mlspec_run(state, str(changed), *target, timeout=1800)
    assert code == 0 and summary is not None and summary["promoted"] == {"challenger": "2"}, output[
        -6000:
    ]
    assert "tracking_incomplete" not in summary or not summary["tracking_incomplete"], summary
    listed = mlspec("runs", str(changed), "--tracking-uri", uri, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    return lineage(uri, f"{MODEL}/1"), lineage(uri, f"{MODEL}/2"), json.loads(listed.stdout)


def file_sha256(uri: str) -> str:
    path = Path(unquote(urlparse(uri).path))
    if path.is_dir():  # a model saved as a folder: not the flagship's pickle
        pytest.fail(f"the flagship's model is one file, not the folder {path}")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_version(found: dict, version: str, hashes: dict[str, str], spec_sha256: str) -> None:
    """One version's lineage against what the test computed itself."""
    assert found["missing"] == [], found["missing"]
    assert found["model"]["version"] == version
    assert found["model"]["sha256"] == file_sha256(found["model"]["source"])
    run = found["run"]
    assert run["status"] == "FINISHED" and run["lineage_recorded"] is True
    assert run["pipeline_run"] == found["model"]["pipeline_run"]
    assert run["params"] == {
        "n_estimators": "200", "max_depth": "6", "test_fraction": "0.25", "seed": "7",
        "min_auc": "0.95",
    }  # fmt: skip
    assert set(run["metrics"]) == {"evaluate.auc", "evaluate.accuracy"}
    assert found["spec"]["name"] == MODEL and found["spec"]["version"] == "1.0.0"
    assert found["spec"]["sha256"] == spec_sha256
    assert {d["name"]: d["sha256"] for d in found["datasets"]} == hashes
    readers = {d["name"]: d["readers"] for d in found["datasets"]}
    assert readers == {
        "ingest.reference": ["data_quality"],
        "ingest.test": ["evaluate", "servable"],
        "ingest.train": ["data_quality", "train"],
    }
    train = next(d for d in found["datasets"] if d["name"] == "ingest.train")
    assert train["rows"] == 298 and train["columns"][-1] == ["target", "int"]
    assert {g["name"]: g["verdict"] for g in found["gates"]} == dict.fromkeys(
        CHALLENGER_RULE, "passed"
    )
    challenger = next(p for p in found["promotions"] if p["alias"] == "challenger")
    assert challenger["by"] == "pipeline" and challenger["rule"] == CHALLENGER_RULE


def test_lineage_of_two_versions_is_recorded_alike_on_every_engine(
    tmp_path: Path, flagship_run: Callable[[str], Run]
) -> None:
    changed = changed_flagship(tmp_path / "changed")
    original_hashes = ingest_hashes(FLAGSHIP, tmp_path / "data-original")
    changed_hashes = ingest_hashes(changed, tmp_path / "data-changed")
    assert original_hashes["ingest.train"] != changed_hashes["ingest.train"]
    assert {k: v for k, v in original_hashes.items() if k != "ingest.train"} == {
        k: v for k, v in changed_hashes.items() if k != "ingest.train"
    }
    spec_sha256 = hashlib.sha256(FLAGSHIP.read_bytes()).hexdigest()
    assert hashlib.sha256(changed.read_bytes()).hexdigest() == spec_sha256  # steps changed only

    seen: dict[str, tuple[dict, dict]] = {}
    for engine in ENGINES:
        state = tmp_path / f"state-{engine}"
        first, second, runs = run_twice(engine, flagship_run(engine), state, changed)
        check_version(first, "1", original_hashes, spec_sha256)
        check_version(second, "2", changed_hashes, spec_sha256)
        assert first["run"]["engine"] == second["run"]["engine"] == engine
        # The changed row is a changed fingerprint and a changed code pin of version 2.
        assert first["code"]["steps"]["ingest"] != second["code"]["steps"]["ingest"]
        champion = next(p for p in first["promotions"] if p["alias"] == "champion")
        assert champion["by"] == "mlspec promote" and champion["actor"] == "release-bot"
        assert champion["rollout"] == "passed" and champion["rule"] == ["model_quality"]
        assert [r["id"] for r in runs["runs"]] == [second["run"]["id"], first["run"]["id"]]
        for listed in runs["runs"]:
            assert listed["gates"] == dict.fromkeys(CHALLENGER_RULE, "passed"), listed
        seen[engine] = (comparable(first), comparable(second))
        uri = f"sqlite:///{tmp_path / f'state-{engine}' / 'registry.db'}"
        shown = mlspec("lineage", f"{MODEL}@challenger", "--tracking-uri", uri)
        assert shown.returncode == 0, shown.stderr
        assert f"sha256 {changed_hashes['ingest.train'][:12]}" in shown.stdout
        assert original_hashes["ingest.train"][:12] not in shown.stdout

    reference = seen[ENGINES[0]]
    for engine, found in seen.items():
        assert found == reference, engine
