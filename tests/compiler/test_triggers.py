"""Triggers are checked where they stand: each mistake is a diagnostic at its line and column.

The specs are real files in a folder of their own (tmp), beside the pipelines they name, as
`mlspec validate` and `mlspec compile` read them; the CLI prints the positions a user sees.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli import main
from mlspec.compiler import analyze_file
from mlspec.diagnostics import SpecError

UPSTREAM = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: feature-store, version: 1.0.0}
steps:
  build:
    image: busybox:1.36
    container: {command: [sh, -c, "echo built > ${outputs.model}"]}
    outputs: {model: model}
registry:
  mlflow: {registered_model: features}
  model: build.model
  promote:
    - {alias: champion}
"""

CONSUMER = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {{name: retrainer, version: 1.0.0}}
{head}triggers:
{triggers}steps:
  train:
    image: busybox:1.36
    container: {{command: [sh, -c, "echo trained"]}}
"""


def folder(tmp_path: Path, triggers: str, head: str = "") -> Path:
    """A folder with the upstream spec and the consumer; returns the consumer's path."""
    (tmp_path / "feature-store.yaml").write_text(UPSTREAM, encoding="utf-8")
    (tmp_path / "notes.yaml").write_text("apiVersion: other/v1\nname: ignored\n")
    spec = tmp_path / "retrainer.yaml"
    spec.write_text(CONSUMER.format(head=head, triggers=triggers), encoding="utf-8")
    return spec


def errors(spec: Path) -> list[tuple[str, int, int, str, str]]:
    with pytest.raises(SpecError) as caught:
        analyze_file(spec)
    return [
        (d.code, d.span.line, d.span.col, d.message, d.hint or "") for d in caught.value.diagnostics
    ]


def test_a_trigger_on_a_pipeline_beside_it_compiles(tmp_path: Path) -> None:
    spec = folder(tmp_path, "  - pipeline: {name: feature-store, promoted: champion}\n")
    [trigger] = analyze_file(spec).pipeline.triggers
    assert (trigger.kind, trigger.pipeline, trigger.alias) == (
        "pipeline",
        "feature-store",
        "champion",
    )
    assert (trigger.span.line, trigger.span.col) == (5, 5)


def test_an_unknown_pipeline_is_ms206_at_its_name_with_did_you_mean(tmp_path: Path) -> None:
    spec = folder(tmp_path, "  - pipeline: {name: feature-stor}\n")
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS206", 5, 22)
    assert message == "no pipeline 'feature-stor' beside this spec"
    assert "feature-store" in hint
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 1
    assert f"{spec}:5:22: error[MS206]" in result.output


def test_an_unknown_pipeline_with_nothing_close_lists_the_pipelines_beside(
    tmp_path: Path,
) -> None:
    spec = folder(tmp_path, "  - pipeline: {name: billing}\n")
    [(code, line, col, _, hint)] = errors(spec)
    assert (code, line, col) == ("MS206", 5, 22)
    assert hint.endswith(": feature-store")  # itself and the file of another kind are not named


def test_an_alias_the_sibling_never_promotes_to_is_ms205_at_the_alias(tmp_path: Path) -> None:
    spec = folder(tmp_path, "  - pipeline: {name: feature-store, promoted: champoin}\n")
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS205", 5, 47)
    assert message == "pipeline 'feature-store' has no promotion rule to alias 'champoin'"
    assert "champion" in hint


def test_a_pipeline_triggering_itself_is_ms220(tmp_path: Path) -> None:
    spec = folder(tmp_path, "  - pipeline: {name: retrainer}\n")
    [(code, line, col, message, _)] = errors(spec)
    assert (code, line, col) == ("MS220", 5, 22)
    assert "would trigger itself" in message


def test_manual_with_a_schedule_is_ms105_at_manual(tmp_path: Path) -> None:
    spec = folder(tmp_path, "  - manual: true\n", head='schedule: {cron: "0 3 * * 1"}\n')
    [(code, line, col, message, _)] = errors(spec)
    assert (code, line, col) == ("MS105", 6, 13)
    assert "also has a schedule" in message


def test_manual_with_another_trigger_is_ms105_at_manual(tmp_path: Path) -> None:
    spec = folder(tmp_path, "  - data: {path: /data/in}\n  - manual: true\n")
    [(code, line, col, message, _)] = errors(spec)
    assert (code, line, col) == ("MS105", 6, 13)
    assert "also has other triggers" in message


def test_looking_more_often_than_every_minute_is_ms104_at_every(tmp_path: Path) -> None:
    spec = folder(tmp_path, "  - data: {path: /data/in, every: 30s}\n")
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS104", 5, 35)
    assert "every 30 s is too often" in message and "1m" in hint


def test_an_object_store_path_is_ms104_at_the_path(tmp_path: Path) -> None:
    spec = folder(tmp_path, "  - data:\n      path: s3://bucket/incoming\n")
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS104", 6, 13)
    assert "object-store" in message and "mount" in hint


def test_kubeflow_refuses_event_triggers_at_the_trigger_naming_the_alternative(
    tmp_path: Path,
) -> None:
    spec = folder(
        tmp_path,
        "  - data: {path: /data/in}\n  - pipeline: {name: feature-store, promoted: champion}\n",
    )
    result = CliRunner().invoke(
        main, ["compile", str(spec), "--target", "kubeflow", "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 1, result.output
    assert f"{spec}:5:5: error[MS301]" in result.output
    assert f"{spec}:6:5: error[MS301]" in result.output
    assert "when files arrive at /data/in" in result.output
    assert "when pipeline 'feature-store' promotes to champion" in result.output
    assert result.output.count("mlspec deploy --target kubeflow --run") == 2
    assert not (tmp_path / "out").exists()


def test_kubeflow_compiles_a_manual_only_pipeline(tmp_path: Path) -> None:
    spec = folder(tmp_path, "  - manual: true\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["compile", str(spec), "--target", "kubeflow", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "retrainer.kfp.yaml").is_file()


def test_a_pipeline_name_two_specs_share_is_ms221(tmp_path: Path) -> None:
    """Which promotion would start the run is unclear: the first file by name must not win."""
    spec = folder(tmp_path, "  - pipeline: {name: feature-store, promoted: champion}\n")
    (tmp_path / "feature-store-v2.yaml").write_text(UPSTREAM, encoding="utf-8")
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS221", 5, 22)
    assert message.startswith("2 specs beside this one are named 'feature-store': ")
    assert hint == "give each spec in a folder its own metadata.name"


def test_many_specs_sharing_a_name_are_listed_three_and_counted(tmp_path: Path) -> None:
    spec = folder(tmp_path, "  - pipeline: {name: feature-store}\n")
    for i in range(4):
        (tmp_path / f"feature-store-{i}.yaml").write_text(UPSTREAM, encoding="utf-8")
    [(code, _, _, message, _)] = errors(spec)
    assert code == "MS221"
    assert message.startswith("5 specs beside this one are named 'feature-store': ")
    assert message.endswith(" and 2 more")
