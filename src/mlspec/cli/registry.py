"""The model registry: promote, rollback, resolve-model."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import TYPE_CHECKING, NoReturn

import click

from mlspec.cli.common import EXIT_REFUSED, checked, require, result_format

if TYPE_CHECKING:
    from mlspec.compiler import ir

PROMOTED_BY = "mlspec promote"  # who set an alias, as lineage records it


@click.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option("--alias", required=True, help="The alias whose promotion rule to apply.")
@click.option("--version", "version", help="The model version to promote.")
@click.option("--run-id", help="Or: the pipeline run whose registered version to promote.")
@click.option(
    "--tracking-uri",
    help="MLflow tracking URI [default: registry.mlflow.tracking_uri, then $MLFLOW_TRACKING_URI].",
)
@click.option(
    "--rollout-passed",
    is_flag=True,
    help="Confirm that the rollout finished successfully (for rules that wait for it).",
)
@result_format("What was promoted (or why not) for people, or as JSON on stdout.")
def promote(
    spec: str,
    alias: str,
    version: str | None,
    run_id: str | None,
    tracking_uri: str | None,
    rollout_passed: bool,
    fmt: str,
) -> None:
    """Set ALIAS on a model version if the spec's promotion rule for it is met.

    For rules the pipeline cannot apply itself, such as `champion after: [rollout]`: CI runs
    this once the rollout is done. The version must carry a passing tag for every gate the
    rule names; otherwise nothing changes and the exit code is 3.
    """
    if (version is None) == (run_id is None):
        raise click.UsageError("give exactly one of --version and --run-id")
    require("mlflow", why="mlspec promote")
    analysis = checked(spec)
    registry = analysis.pipeline.registry
    if registry is None:
        raise click.UsageError(f"{spec} has no registry section")
    rule = next((r for r in registry.rules if r.alias == alias), None)
    if rule is None:
        known = ", ".join(r.alias for r in registry.rules) or "none"
        raise click.UsageError(f"no promotion rule in {spec} sets alias {alias!r} (rules: {known})")
    if rule.after_rollout and not rollout_passed:
        raise click.UsageError(
            f"the rule for {alias!r} waits for the rollout: pass --rollout-passed once it "
            "finished successfully"
        )
    uri = _tracking_uri(registry, tracking_uri)
    from mlspec.runtime import registry as runtime_registry

    model = registry.registered_model
    outcome = {"model": model, "alias": alias, "version": version, "gates": list(rule.gates)}

    def refuse(reason: str) -> NoReturn:
        click.echo(f"refused: {reason}", err=True)
        if fmt == "json":
            click.echo(json.dumps({**outcome, "promoted": False, "reason": reason}, indent=2))
        sys.exit(EXIT_REFUSED)

    try:
        if run_id is not None:
            version = outcome["version"] = runtime_registry.find_version_by_run(uri, model, run_id)
            if version is None:
                refuse(f"no version of {model} was registered by run {run_id}")
        assert version is not None
        runtime_registry.promote(uri, model, version, alias, list(rule.gates))
    except (runtime_registry.PromotionRefused, runtime_registry.RegistryError) as exc:
        refuse(str(exc))
    _record_promotion(uri, model, version, alias, list(rule.gates), rollout_passed, run_id)
    if fmt == "json":
        click.echo(json.dumps({**outcome, "promoted": True, "reason": None}, indent=2))
        return
    gates = ", ".join(rule.gates) or "no gates"
    click.echo(f"{model} version {version} is now {alias!r} ({gates} passed)")


@click.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option("--alias", required=True, help="The alias to move back.")
@click.option(
    "--from-version",
    help="The version found wanting: a retried rollback of it changes nothing, and one whose "
    "alias moved elsewhere since is refused.",
)
@click.option("--reason", required=True, help="Why: recorded on the version rolled back from.")
@click.option(
    "--tracking-uri",
    help="MLflow tracking URI [default: registry.mlflow.tracking_uri, then $MLFLOW_TRACKING_URI].",
)
@result_format("What was rolled back (or why not) for people, or as JSON on stdout.")
def rollback(
    spec: str,
    alias: str,
    from_version: str | None,
    reason: str,
    tracking_uri: str | None,
    fmt: str,
) -> None:
    """Point ALIAS back at the model version it named before its current one.

    Promotion records that version on the one it promotes; the rollback follows it one step,
    tags the version it leaves with the reason, and exits 3 without changing anything when
    there is nothing to roll back to.
    """
    require("mlflow", why="mlspec rollback")
    analysis = checked(spec)
    registry = analysis.pipeline.registry
    if registry is None:
        raise click.UsageError(f"{spec} has no registry section")
    known = [r.alias for r in registry.rules]  # the aliases this spec's promotions set
    if alias not in known:
        names = ", ".join(known) or "none"
        raise click.UsageError(f"{spec} sets no alias {alias!r} (its aliases: {names})")
    uri = _tracking_uri(registry, tracking_uri)
    from mlspec.runtime import registry as runtime_registry
    from mlspec.runtime import rollback as runtime_rollback

    model = registry.registered_model
    outcome: dict[str, object] = {"model": model, "alias": alias, "from_version": from_version}
    try:
        version, moved = runtime_rollback.rollback(uri, model, alias, from_version, reason)
    except (runtime_registry.PromotionRefused, runtime_registry.RegistryError) as exc:
        click.echo(f"refused: {exc}", err=True)
        if fmt == "json":
            click.echo(json.dumps({**outcome, "rolled_back": False, "reason": str(exc)}, indent=2))
        sys.exit(EXIT_REFUSED)
    if fmt == "json":
        click.echo(
            json.dumps(
                {**outcome, "version": version, "rolled_back": moved, "reason": None}, indent=2
            )
        )
        return
    if moved:
        click.echo(f"{model} {alias!r} is back on version {version}")
    else:
        click.echo(
            f"{model} {alias!r} was already rolled back to version {version}: nothing changed"
        )


def _record_promotion(
    uri: str,
    model: str,
    version: str,
    alias: str,
    gates: list[str],
    rollout_passed: bool,
    run_id: str | None,
) -> None:
    """Who promoted, on the version and in its tracking run (lineage). Never changes the outcome:
    what could not be recorded is a tracking line, on stderr so that JSON on stdout stays JSON."""
    from mlspec.runtime import lineage

    actor = (
        os.environ.get("MLSPEC_ACTOR") or os.environ.get("GITHUB_ACTOR") or os.environ.get("USER")
    )
    promoted_by = lineage.promotion_record(
        PROMOTED_BY,
        rule=gates,
        pipeline_run=run_id,
        actor=actor,
        rollout="passed" if rollout_passed else None,
    )
    with contextlib.redirect_stdout(sys.stderr):
        lineage.record_promotion(
            uri,
            lineage.version_run(uri, model, version),
            model_name=model,
            version=version,
            alias=alias,
            promoted_by=promoted_by,
        )


def _tracking_uri(registry: ir.Registry, flag: str | None) -> str:
    # The spec's own URI beats the ambient environment; an explicit flag beats both.
    uri = flag or registry.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise click.UsageError(
            "no tracking URI: set registry.mlflow.tracking_uri, "
            "--tracking-uri or MLFLOW_TRACKING_URI"
        )
    return str(uri)


@click.command("resolve-model")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option("--alias", help="The alias to resolve [default: the rollout's model_alias].")
@click.option(
    "--tracking-uri",
    help="MLflow tracking URI [default: registry.mlflow.tracking_uri, then $MLFLOW_TRACKING_URI].",
)
@click.option(
    "--print",
    "field",
    type=click.Choice(["version", "uri"]),
    help="Print only this value (for `$(...)` in CI scripts).",
)
@result_format("For people, or JSON for tools.")
def resolve_model(
    spec: str, alias: str | None, tracking_uri: str | None, field: str | None, fmt: str
) -> None:
    """Print the model version an alias names and where its files are stored.

    CI pins a rollout with them: `compile --model-version` (and `--model-uri` for KServe,
    which loads the files from storage and cannot read `models:/` URIs).
    """
    require("mlflow", why="mlspec resolve-model")
    analysis = checked(spec)
    pipeline = analysis.pipeline
    if pipeline.registry is None:
        raise click.UsageError(f"{spec} has no registry section")
    alias = alias or (pipeline.rollout.model_alias if pipeline.rollout else None)
    if alias is None:
        raise click.UsageError("give --alias: the spec's rollout names no model_alias")
    from mlspec.runtime import registry as runtime_registry

    model = pipeline.registry.registered_model
    uri = _tracking_uri(pipeline.registry, tracking_uri)
    try:
        version, storage = runtime_registry.resolve_alias(uri, model, alias)
    except (runtime_registry.PromotionRefused, runtime_registry.RegistryError) as exc:
        click.echo(f"refused: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    found = {"model": model, "alias": alias, "version": version, "uri": storage}
    if fmt == "json":
        click.echo(json.dumps(found, indent=2))
    elif field is not None:
        click.echo(found[field])
    else:
        click.echo(f"{model}@{alias} is version {version}, stored at {storage}")
