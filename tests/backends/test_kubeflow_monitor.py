"""Monitors on the kubeflow target (issue 20), and the training data a promotion records.

The IR is read with kfp's own loader and protobufs (support/kfp_ir.py); the monitor runs under
kfp's local runner (SubprocessRunner) against a real SQLite MLflow registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kfp import components
from support import generated
from support.kfp_ir import validate

from mlspec.backends.kubeflow import KubeflowBackend
from mlspec.compiler import analyze_file

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
BACKEND = KubeflowBackend()


def emit(spec: Path) -> str:
    pipeline = analyze_file(spec).pipeline
    assert pipeline is not None
    assert [p for p in BACKEND.check(pipeline) if p.severity == "error"] == []
    [artifact] = generated.without_rollout(BACKEND.emit(pipeline))
    return artifact.text


def tasks(dag: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """Every task of a DAG, those in condition blocks too, by name."""
    found: dict[str, Any] = {}
    for name, task in dag["tasks"].items():
        found[name] = task
        inner = components[task["componentRef"]["name"]]
        if "dag" in inner:
            found.update(tasks(inner["dag"], components))
    return found


def test_the_promotion_takes_the_training_data_as_an_input_artifact() -> None:
    """registry.reference: ingest.train reaches the promotion component as a Dataset, whose
    path the runtime's promotion records (tag mlspec.reference)."""
    text = emit(FLAGSHIP)
    [spec, _] = validate(text)
    assert components.load_component_from_text(text).name == "breast-cancer-classifier"
    inputs = spec["components"]["comp-promote-challenger"]["inputDefinitions"]["artifacts"]
    assert inputs["reference"]["artifactType"]["schemaTitle"] == "system.Dataset"
    task = tasks(spec["root"]["dag"], spec["components"])["promote-challenger"]
    channel = task["inputs"]["artifacts"]["reference"]["componentInputArtifact"]
    assert channel == "pipelinechannel--ingest-train"  # ingest's train, through the gates' blocks
    assert "reference_path=reference.path," in text
