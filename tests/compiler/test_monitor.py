"""A Monitor spec and the `monitor:` trigger are checked where they stand: each mistake is a
diagnostic at its line and column with a hint, and none is a traceback.

The specs are real files in a folder of their own (tmp), the monitor beside the pipeline it
watches, as `mlspec validate` and `mlspec compile` read them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli import main
from mlspec.compiler import analyze_file
from mlspec.diagnostics import SpecError

TRAINER = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {{name: trainer, version: 1.0.0}}
steps:
  ingest:
    image: busybox:1.36
    container: {{command: [sh, -c, "echo x > ${{outputs.train}}"]}}
    outputs: {{train: dataset}}
  train:
    image: busybox:1.36
    container: {{command: [sh, -c, "echo m > ${{outputs.model}}"]}}
    inputs: {{train: ingest.train}}
    outputs: {{model: model}}
gates:
  enough:
    dataset: ingest.train
    checks:
      - row_count: {{min: 1}}
{registry}"""

REGISTRY = """\
registry:
  mlflow: {registered_model: trainer-model, tracking_uri: http://localhost:5000}
  model: train.model
  reference: ingest.train
  promote:
    - {alias: champion, after: [enough]}
"""

MONITOR = """\
apiVersion: mlspec/v1
kind: Monitor
metadata: {{name: watch, version: 1.0.0}}
schedule: {{cron: "@hourly"}}
monitor:
  model: {{pipeline: {pipeline}, alias: {alias}}}
  inputs: {{path: /data/serving/in, window: 24h}}
  checks:
    - row_count: {{min: 10}}
    - drift: {{column: x, method: psi, max: 0.2}}
{rest}"""

FEEDBACK = """\
  feedback:
    path: /data/serving/feedback
    prediction: p
    label: y
    require:
      - {metric: accuracy, min: 0.9}
"""

CONSUMER = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {{name: retrainer, version: 1.0.0}}
triggers:
{triggers}steps:
  train:
    image: busybox:1.36
    container: {{command: [sh, -c, "echo trained"]}}
"""


def folder(
    tmp_path: Path,
    *,
    registry: str = REGISTRY,
    pipeline: str = "trainer",
    alias: str = "champion",
    rest: str = "",
) -> Path:
    """The trainer pipeline and a monitor watching it, side by side; returns the monitor."""
    (tmp_path / "trainer.yaml").write_text(TRAINER.format(registry=registry), encoding="utf-8")
    spec = tmp_path / "watch.yaml"
    spec.write_text(MONITOR.format(pipeline=pipeline, alias=alias, rest=rest), encoding="utf-8")
    return spec


def errors(spec: Path) -> list[tuple[str, int, int, str, str]]:
    with pytest.raises(SpecError) as caught:
        analyze_file(spec)
    return [
        (d.code, d.span.line, d.span.col, d.message, d.hint or "") for d in caught.value.diagnostics
    ]


def validate(spec: Path) -> str:
    """`mlspec validate` as a user runs it: exit 1, positioned diagnostics, no traceback."""
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    return result.output


def test_a_monitor_beside_its_pipeline_lowers_with_the_watched_registry(tmp_path: Path) -> None:
    spec = folder(tmp_path, rest=f"{FEEDBACK}  on_breach: {{rollback: [checks, feedback]}}\n")
    pipeline = analyze_file(spec).pipeline
    monitor = pipeline.monitor
    assert monitor is not None and pipeline.kind == "Monitor"
    assert (pipeline.steps, pipeline.gates, pipeline.registry) == ((), (), None)
    watched = monitor.model
    assert (watched.pipeline, watched.alias, watched.registered_model, watched.tracking_uri) == (
        "trainer",
        "champion",
        "trainer-model",
        "http://localhost:5000",
    )
    assert [c.kind for c in monitor.checks] == ["row_count", "drift"]
    assert (monitor.checks[1].reference, monitor.checks[1].reference_uri) == (None, None)
    assert (monitor.inputs.path, monitor.inputs.window_seconds) == ("/data/serving/in", 86400)
    assert monitor.feedback is not None and monitor.feedback.requirements[0].min == 0.9
    assert monitor.rollback_on == ("checks", "feedback")


def test_an_unknown_watched_pipeline_is_ms206_at_its_name(tmp_path: Path) -> None:
    spec = folder(tmp_path, pipeline="trainr")
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS206", 6, 21)
    assert message == "no pipeline 'trainr' beside this spec"
    assert "trainer" in hint
    assert f"{spec}:6:21: error[MS206]" in validate(spec)


def test_watching_a_monitor_is_ms206_listing_the_pipelines(tmp_path: Path) -> None:
    spec = folder(tmp_path, pipeline="watch")
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS206", 6, 21)
    assert message == "no pipeline 'watch' beside this spec"
    assert hint.endswith(": trainer")


def test_an_alias_the_pipeline_never_promotes_to_is_ms205_at_the_alias(tmp_path: Path) -> None:
    spec = folder(tmp_path, alias="champoin")
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS205", 6, 37)
    assert message == "pipeline 'trainer' neither promotes to nor lists alias 'champoin'"
    assert "champion" in hint


def test_an_alias_set_outside_the_pipeline_can_be_watched(tmp_path: Path) -> None:
    """Serving may resolve an alias CI sets after a rollout: registry.external_aliases."""
    registry = REGISTRY + "  external_aliases: [production]\n"
    spec = folder(tmp_path, registry=registry, alias="production")
    assert analyze_file(spec).pipeline.monitor.model.alias == "production"


def test_a_watched_spec_with_errors_is_ms207_naming_its_first_error(tmp_path: Path) -> None:
    spec = folder(tmp_path, registry=REGISTRY.replace(", after: [enough]", ""))
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS207", 6, 21)
    trainer = tmp_path / "trainer.yaml"
    assert message == (
        f"the spec of pipeline 'trainer' ({trainer}) has errors, first MS102 at 24:7: "
        "missing required field 'after' in 'registry.promote[0]'"
    )
    assert hint == f"fix them first: mlspec validate {trainer}"


def test_drift_without_a_reference_needs_the_pipeline_to_record_one_ms244(
    tmp_path: Path,
) -> None:
    spec = folder(tmp_path, registry=REGISTRY.replace("  reference: ingest.train\n", ""))
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS244", 10, 14)
    assert message == "pipeline 'trainer' records no training data for drift to compare with"
    assert "reference: STEP.OUTPUT" in hint and "reference_uri" in hint
    # a fixed reference file needs nothing from the pipeline
    fixed = MONITOR.replace("max: 0.2}}", "max: 0.2, reference_uri: /data/ref.csv}}")
    spec.write_text(fixed.format(pipeline="trainer", alias="champion", rest=""), encoding="utf-8")
    assert analyze_file(spec).pipeline.monitor is not None


def test_a_pipeline_without_registry_is_ms244_at_the_pipeline(tmp_path: Path) -> None:
    spec = folder(tmp_path, registry="")
    found = errors(spec)
    assert [f[:3] for f in found] == [("MS244", 6, 21)]
    assert found[0][3] == "pipeline 'trainer' registers no model for a monitor to watch"
    assert "registry:" in found[0][4]


def test_rollback_on_feedback_without_feedback_is_ms244_at_the_item(tmp_path: Path) -> None:
    spec = folder(tmp_path, rest="  on_breach:\n    rollback: [checks, feedback]\n")
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS244", 12, 24)
    assert message == "rollback on a feedback breach, but the monitor has no `feedback`"
    assert "add `feedback:" in hint


def test_a_monitor_triggering_itself_is_ms220(tmp_path: Path) -> None:
    spec = folder(tmp_path, rest="triggers:\n  - monitor: {name: watch}\n")
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS220", 12, 21)
    assert "would trigger itself" in message
    assert "schedule" in hint


def test_a_threshold_naming_a_param_is_ms202_a_monitor_has_none(tmp_path: Path) -> None:
    spec = folder(tmp_path)
    spec.write_text(spec.read_text().replace("{min: 10}", "{min: params.rows}"), encoding="utf-8")
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS202", 9, 24)
    assert message == "a Monitor has no params: min 'params.rows' names one"
    assert hint == "write the number"


def test_registry_reference_must_be_a_dataset_ms212(tmp_path: Path) -> None:
    folder(tmp_path, registry=REGISTRY.replace("reference: ingest.train", "reference: train.model"))
    [(code, line, col, message, hint)] = errors(tmp_path / "trainer.yaml")
    assert (code, line, col) == ("MS212", 22, 14)
    assert message == "registry.reference 'train.model' is a model"
    assert "ingest.train" in hint


# -- the `monitor:` trigger, on a pipeline beside the monitor ---------------------------------


def consumer(tmp_path: Path, triggers: str) -> Path:
    folder(tmp_path)
    spec = tmp_path / "retrainer.yaml"
    spec.write_text(CONSUMER.format(triggers=triggers), encoding="utf-8")
    return spec


def test_a_monitor_trigger_lowers_to_its_name(tmp_path: Path) -> None:
    spec = consumer(tmp_path, "  - monitor: {name: watch}\n")
    [trigger] = analyze_file(spec).pipeline.triggers
    assert (trigger.kind, trigger.monitor, trigger.pipeline) == ("monitor", "watch", None)


def test_an_unknown_monitor_in_a_trigger_is_ms206_with_did_you_mean(tmp_path: Path) -> None:
    spec = consumer(tmp_path, "  - monitor: {name: wach}\n")
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS206", 5, 21)
    assert message == "no monitor 'wach' beside this spec"
    assert "watch" in hint
    assert f"{spec}:5:21: error[MS206]" in validate(spec)


def test_a_monitor_trigger_naming_a_pipeline_is_ms206_listing_the_monitors(
    tmp_path: Path,
) -> None:
    spec = consumer(tmp_path, "  - monitor: {name: trainer}\n")
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS206", 5, 21)
    assert message == "no monitor 'trainer' beside this spec"
    assert hint.endswith("Monitor spec in the same folder: watch")


def test_a_monitor_for_the_rollout_target_is_ms301_at_the_spec(tmp_path: Path) -> None:
    spec = folder(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compile", str(spec), "--target", "rollout", "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert f"{spec}:1:1: error[MS301]: a Monitor spec has nothing to roll out: it watches " in (
        result.output
    )
    assert "compile it for kubeflow, airflow or prefect" in result.output
    assert "Traceback" not in result.output and not out.exists()


# -- the kind's shape --------------------------------------------------------------------------

ROLLOUT = """\
rollout:
  controller: argo-rollouts
  model_alias: champion
  service: {name: scorer, namespace: ml, port: 8080, image: ghcr.io/acme/server:1.0}
  strategy: {blue_green: {}}
"""

EXTRA = {
    "steps": "steps:\n  s:\n    image: busybox:1.36\n    container: {command: [sh]}\n",
    "params": "params:\n  x: {type: int, default: 1}\n",
    "gates": "gates:\n  g:\n    dataset: s.d\n    checks: [{row_count: {min: 1}}]\n",
    "registry": "registry:\n  mlflow: {registered_model: m}\n  model: s.m\n",
    "rollout": ROLLOUT,  # complete: its own checks pass, the kind refuses it
}


@pytest.mark.parametrize("section", sorted(EXTRA))
def test_a_monitor_with_a_pipeline_section_is_ms105_at_it(tmp_path: Path, section: str) -> None:
    spec = folder(tmp_path)
    spec.write_text(spec.read_text() + EXTRA[section], encoding="utf-8")
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS105", 11, 1)
    assert message.startswith(f"a Monitor spec has no '{section}'")
    assert "kind: Pipeline" in hint


def test_a_pipeline_with_a_monitor_section_is_ms105_at_it(tmp_path: Path) -> None:
    folder(tmp_path)
    spec = tmp_path / "other.yaml"
    body = MONITOR.format(pipeline="trainer", alias="champion", rest="").split("monitor:\n", 1)
    spec.write_text(
        CONSUMER.format(triggers="  - manual: true\n") + "monitor:\n" + body[1], encoding="utf-8"
    )
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS105", 10, 1)
    assert message == "'monitor' belongs to a Monitor spec"
    assert "kind: Monitor" in hint


def test_a_monitor_without_monitor_is_ms102(tmp_path: Path) -> None:
    spec = folder(tmp_path)
    spec.write_text(spec.read_text().split("monitor:\n")[0], encoding="utf-8")
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS102", 1, 1)
    assert message == "missing required field 'monitor' in the Monitor spec"
    assert "monitor: {model:" in hint


# -- no bad input is a traceback ---------------------------------------------------------------

BAD = {
    "model-string": ("model: {pipeline: trainer, alias: champion}", "model: trainer"),
    "no-alias": (", alias: champion", ""),
    "no-checks": (
        "    - row_count: {min: 10}\n    - drift: {column: x, method: psi, max: 0.2}\n",
        "",
    ),
    "drift-with-step-reference": ("max: 0.2}", "max: 0.2, reference: ingest.train}"),
    "ks-bins": ("method: psi, max: 0.2}", "method: ks, max: 0.2, bins: 5}"),
    "window": ("24h", "soon"),
    "relative-path": ("/data/serving/in", "data/in"),
    "object-store": ("/data/serving/in", "s3://bucket/in"),
    "pipeline-int": ("pipeline: trainer", "pipeline: 3"),
    "monitor-list": ("  model:", "  - model:"),
    "alias-form": ("alias: champion", "alias: 'Not An Alias'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_monitor_input_is_a_positioned_diagnostic(tmp_path: Path, case: str) -> None:
    spec = folder(tmp_path)
    old, new = BAD[case]
    assert old in spec.read_text()
    spec.write_text(spec.read_text().replace(old, new), encoding="utf-8")
    output = validate(spec)
    assert f"{spec}:" in output and "error[MS" in output


@pytest.mark.parametrize(
    "rest",
    [
        "  on_breach: {rollback: [drift]}\n",
        "  on_breach: {rollback: feedback}\n",
        FEEDBACK.replace("min: 0.9}", "}"),
        FEEDBACK.replace("min: 0.9}", "min: 0.9, max: 0.1}"),
        FEEDBACK.replace("accuracy", "auc"),
        FEEDBACK.replace("    require:\n      - {metric: accuracy, min: 0.9}\n", ""),
        FEEDBACK + "    min_rows: 0\n",
        FEEDBACK + "    positive: [1]\n",
        "triggers:\n  - monitor: null\n",
        "triggers:\n  - monitor: {name: Watch}\n",
    ],
)
def test_bad_feedback_rollback_or_trigger_is_a_positioned_diagnostic(
    tmp_path: Path, rest: str
) -> None:
    spec = folder(tmp_path, rest=rest)
    output = validate(spec)
    assert f"{spec}:" in output and "error[MS" in output


# -- two specs in one folder with one name: what a trigger or monitor names is unclear ---------


def test_a_watched_name_two_specs_share_is_ms221_naming_both_files(tmp_path: Path) -> None:
    spec = folder(tmp_path)
    twin = tmp_path / "zz-trainer-copy.yaml"
    twin.write_text((tmp_path / "trainer.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    [(code, line, col, message, hint)] = errors(spec)
    assert (code, line, col) == ("MS221", 6, 21)
    assert message == (
        f"2 specs beside this one are named 'trainer': {tmp_path / 'trainer.yaml'}, {twin}"
    )
    assert hint == "give each spec in a folder its own metadata.name"


def test_a_monitor_trigger_naming_a_shared_name_is_ms221(tmp_path: Path) -> None:
    spec = consumer(tmp_path, "  - monitor: {name: watch}\n")
    (tmp_path / "watch-again.yaml").write_text(
        (tmp_path / "watch.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    [(code, line, col, message, _)] = errors(spec)
    assert (code, line, col) == ("MS221", 5, 21)
    assert "2 specs beside this one are named 'watch'" in message
