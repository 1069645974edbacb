"""Entry points that generated gate and promotion steps call, the same on every target.

Runtime module: generated pipelines carry it as a file of its own (standard library and the
runtime's other modules). Each step writes its gate report as an artifact, logs a readable
summary, and returns whether the gate passed. Each entry point imports the modules it uses, so
that a Kubeflow component running one kind of step carries only those (embed.needed_modules).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .report import (
    GateReport,
    gate_line,
    gate_report_from_json,
    promotion_line,
    summarize,
    write_gate_report,
)

if TYPE_CHECKING:
    from .gates import Baseline


def data_gate_step(
    gate: str,
    dataset_path: str,
    checks: list[dict],
    report_path: str,
) -> bool:
    from .datachecks import run_data_gate

    report = run_data_gate(gate, dataset_path, checks)
    return _finish(report, report_path)


def model_gate_step(
    gate: str,
    metrics: dict[str, object],
    requirements: list[dict],
    report_path: str,
    *,
    first_run: str | None = None,
    tracking_uri: str | None = None,
    model_name: str | None = None,
) -> bool:
    """Read what the registry holds for each alias a requirement compares with, then judge."""
    from .gates import evaluate_model_gate

    aliases = sorted({r["vs"] for r in requirements if r.get("vs")})
    report = evaluate_model_gate(
        gate,
        metrics,
        requirements,
        first_run=first_run,
        baselines={a: _baseline(tracking_uri, model_name, a) for a in aliases},
    )
    return _finish(report, report_path)


def serving_gate_step(
    gate: str,
    model_path: str,
    config: dict,
    report_path: str,
    dataset_path: str | None = None,
) -> bool:
    """Serve the model with the real serving runtime and judge its answers to canned requests
    (`config`: backends.runtime_args.serving_args); fails closed."""
    from .serving import run_serving_gate

    report = run_serving_gate(gate, model_path, config, dataset_path)
    return _finish(report, report_path)


def promotion_step(
    tracking_uri: str,
    model_name: str,
    model_path: str,
    *,
    alias: str,
    rule_gates: list[str],
    report_paths: list[str],
    run_id: str,
    spec_name: str,
    spec_version: str,
    metrics: dict[str, float],
    tags: dict[str, str] | None = None,
    git_commit: str | None = None,
    reference_path: str | None = None,
    tracking: dict | None = None,
) -> str | None:
    """Register and promote when every gate of the rule passed; returns the version or None.

    `tracking` (a tracked pipeline): {"uri", "run", "by"}, the MLflow run the version points
    back to ("" when tracking is unavailable) and who promotes ({"by": "pipeline",
    "pipeline_run": ...}), recorded with the rule on the version and in the run.
    """
    from .registry import promote_after_gates

    reports = []
    for path in report_paths:
        with open(path, encoding="utf-8") as handle:
            reports.append(gate_report_from_json(handle.read()))
    version = promote_after_gates(
        tracking_uri,
        model_name,
        model_path,
        alias=alias,
        rule_gates=rule_gates,
        gate_reports=reports,
        run_id=run_id,
        spec_name=spec_name,
        spec_version=spec_version,
        metrics=metrics,
        tags=tags,
        git_commit=git_commit,
        reference_path=reference_path,
        tracking_run=None if tracking is None else tracking["run"],
    )
    if version is not None and tracking is not None:
        _record_promotion(tracking, model_name, version, alias, rule_gates)
    if version is None:
        print(f"promotion to {alias!r}: nothing promoted, a gate of the rule did not pass")
    else:
        print(f"promotion to {alias!r}: {model_name} version {version}")
    print(promotion_line(alias, model_name, version))
    return version


def _baseline(tracking_uri: str | None, model_name: str | None, alias: str) -> Baseline:
    from .gates import Baseline
    from .registry import NoBaseline, RegistryError, alias_metrics

    if not tracking_uri or not model_name:
        return Baseline(problem=f"no tracking URI or registered model to read {alias!r} from")
    try:
        found = alias_metrics(tracking_uri, model_name, alias)
    except (RegistryError, NoBaseline, ValueError) as exc:  # ValueError: an invalid alias
        return Baseline(problem=str(exc))
    if found is None:
        return Baseline(first_run=f"registered model {model_name!r} has no versions yet")
    return Baseline(metrics=found)


def _record_promotion(
    tracking: dict, model_name: str, version: str, alias: str, rule_gates: list[str]
) -> None:
    from .lineage import promotion_record, record_promotion

    by = tracking.get("by") or {}
    record_promotion(
        tracking["uri"],
        tracking["run"],
        model_name=model_name,
        version=version,
        alias=alias,
        promoted_by=promotion_record(
            str(by.get("by", "pipeline")), rule=rule_gates, pipeline_run=by.get("pipeline_run")
        ),
    )


def _finish(report: GateReport, report_path: str) -> bool:
    """Write the report and say the verdict. A tracked pipeline's caller then records it
    (lineage.record_gate): the gate itself does not know tracking, so an untracked pipeline's
    components carry no lineage code (embed.needed_modules)."""
    write_gate_report(report, report_path)
    print(summarize(report))
    print(gate_line(report))
    return report.passed
