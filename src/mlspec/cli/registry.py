"""The model registry: promote, rollback, resolve-model."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import TYPE_CHECKING, NoReturn

import click

from mlspec.cli.common import (
    EXIT_REFUSED,
    checked,
    env_option,
    in_environment,
    require,
    result_format,
)

if TYPE_CHECKING:
    from mlspec.compiler import Analysis, ir
    from mlspec.runtime.crossenv import Handover

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
@env_option
@click.option(
    "--from",
    "from_env",
    metavar="NAME",
    help="With --env: promote the version that passed this environment (its promote_from) into "
    "--env's registry; --version then names the version expected there.",
)
@result_format("What was promoted (or why not) for people, or as JSON on stdout.")
def promote(
    spec: str,
    alias: str,
    version: str | None,
    run_id: str | None,
    tracking_uri: str | None,
    rollout_passed: bool,
    environment: str | None,
    from_env: str | None,
    fmt: str,
) -> None:
    """Set ALIAS on a model version if the spec's promotion rule for it is met.

    For rules the pipeline cannot apply itself, such as `champion after: [rollout]`: CI runs
    this once the rollout is done. The version must carry a passing tag for every gate the
    rule names; otherwise nothing changes and the exit code is 3. With `--env prod --from
    staging`: the version that passed staging's gates and rollout is registered into prod's
    registry with its lineage, and ALIAS set on it there.
    """
    if from_env is None and (version is None) == (run_id is None):
        raise click.UsageError("give exactly one of --version and --run-id")
    require("mlflow", why="mlspec promote")
    analysis = checked(spec)
    bound = in_environment(analysis, spec, environment)
    registry = bound.pipeline.registry
    if registry is None:
        raise click.UsageError(f"{spec} has no registry section")
    # The spec's rules: the same in every environment (one that promotes from another leaves
    # the pipeline's own out of its pipeline, environments.promoted_only).
    rules = analysis.pipeline.registry.rules if analysis.pipeline.registry else ()
    rule = next((r for r in rules if r.alias == alias), None)
    if rule is None:
        known = ", ".join(r.alias for r in rules) or "none"
        raise click.UsageError(f"no promotion rule in {spec} sets alias {alias!r} (rules: {known})")
    source = _promoted_from(analysis, spec, environment, from_env, rule, run_id)
    if rule.after_rollout and not rollout_passed:
        raise click.UsageError(
            f"the rule for {alias!r} waits for the rollout: pass --rollout-passed once it "
            "finished successfully"
        )
    uri = resolve_tracking_uri(registry, tracking_uri)
    from mlspec.runtime import crossenv, lineage
    from mlspec.runtime import registry as runtime_registry

    model = registry.registered_model
    outcome: dict[str, object] = {
        "model": model,
        "alias": alias,
        "version": version,
        "gates": list(rule.gates),
    }
    if environment is not None:
        outcome["environment"] = environment

    def refuse(reason: str) -> NoReturn:
        click.echo(f"refused: {reason}", err=True)
        if fmt == "json":
            click.echo(json.dumps({**outcome, "promoted": False, "reason": reason}, indent=2))
        sys.exit(EXIT_REFUSED)

    target = crossenv.Registered(environment or "", uri, model)
    try:
        if source is not None:
            assert source.environment is not None and source.pipeline.registry is not None
            # The checks (MS280) make sure that a rule records the rollout there.
            stable = next(r for r in rules if r.after_rollout)
            handover = crossenv.promote_from(
                crossenv.Registered(
                    source.environment,
                    resolve_tracking_uri(source.pipeline.registry, None),
                    source.pipeline.registry.registered_model,
                ),
                target,
                proven_alias=stable.alias,
                proven_gates=list(stable.gates),
                alias=alias,
                gates=list(rule.gates),
                spec_name=bound.pipeline.name,
                promoted_by=lineage.promotion_record(
                    PROMOTED_BY, rule=list(rule.gates), actor=_actor()
                ),
                expected_version=version,
            )
            _promoted_across(outcome, handover, source.environment, fmt)
            return
        if run_id is not None:
            version = outcome["version"] = runtime_registry.find_version_by_run(uri, model, run_id)
            if version is None:
                refuse(f"no version of {model} was registered by run {run_id}")
        assert version is not None
        served_from = bound.spec.environments[environment].promote_from if environment else None
        if served_from is not None:
            crossenv.require_promoted_from(target, version, served_from)
        runtime_registry.promote(uri, model, version, alias, list(rule.gates))
    except (runtime_registry.PromotionRefused, runtime_registry.RegistryError) as exc:
        refuse(str(exc))
    _record_promotion(uri, model, version, alias, list(rule.gates), rollout_passed, run_id)
    if fmt == "json":
        click.echo(json.dumps({**outcome, "promoted": True, "reason": None}, indent=2))
        return
    gates = ", ".join(rule.gates) or "no gates"
    click.echo(f"{model} version {version} is now {alias!r} ({gates} passed)")


def _promoted_from(
    analysis: Analysis,
    spec: str,
    environment: str | None,
    from_env: str | None,
    rule: ir.PromotionRule,
    run_id: str | None,
) -> Analysis | None:
    """The source environment's analysis for `--from` (None without it), after the checks that
    keep an environment served only from the one it promotes from (usage errors, exit 2)."""
    declared = analysis.spec.environments[environment].promote_from if environment else None
    if from_env is None:
        if declared is not None and not rule.after_rollout:
            raise click.UsageError(
                f"environment {environment!r} serves only versions that passed {declared!r} "
                f"(its promote_from): set {rule.alias!r} there with --from {declared}"
            )
        return None
    if environment is None:
        raise click.UsageError("--from promotes into an environment: add --env")
    if declared != from_env:
        said = f"promotes from {declared!r}" if declared else "declares no promote_from"
        raise click.UsageError(f"environment {environment!r} {said}, not {from_env!r}")
    if run_id is not None:
        raise click.UsageError("--from promotes the version that passed there: drop --run-id")
    if rule.after_rollout:
        raise click.UsageError(
            f"the rule for {rule.alias!r} waits for {environment!r}'s own rollout: promote into "
            "it the alias that rollout serves, then this one with --version and --rollout-passed"
        )
    return in_environment(analysis, spec, from_env)


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
    uri = resolve_tracking_uri(registry, tracking_uri)
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


def _actor() -> str | None:
    """Who promotes: $MLSPEC_ACTOR, else $GITHUB_ACTOR, else $USER."""
    return (
        os.environ.get("MLSPEC_ACTOR") or os.environ.get("GITHUB_ACTOR") or os.environ.get("USER")
    )


def _promoted_across(outcome: dict[str, object], handover: Handover, source: str, fmt: str) -> None:
    """What `promote --from` did, for people or as JSON."""
    moved = {"from": {"environment": source, "version": handover.source_version}}
    done = {**outcome, "version": handover.version, **moved, "changed": handover.changed}
    if fmt == "json":
        click.echo(json.dumps({**done, "promoted": True, "reason": None}, indent=2))
        return
    model, alias, env = outcome["model"], outcome["alias"], outcome["environment"]
    what = f"{model} version {handover.version} ({source}'s version {handover.source_version})"
    if handover.changed:
        click.echo(f"{what} is now {alias!r} in {env}")
    else:
        click.echo(f"{what} was already {alias!r} in {env}: nothing changed")


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

    promoted_by = lineage.promotion_record(
        PROMOTED_BY,
        rule=gates,
        pipeline_run=run_id,
        actor=_actor(),
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


def resolve_tracking_uri(registry: ir.Registry | None, flag: str | None) -> str:
    """The flag, else the spec's registry's URI, else $MLFLOW_TRACKING_URI; a usage error for
    none: the spec's own URI beats the ambient environment, an explicit flag beats both."""
    spec_uri = registry.tracking_uri if registry is not None else None
    uri = flag or spec_uri or os.environ.get("MLFLOW_TRACKING_URI")
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
@env_option
@result_format("For people, or JSON for tools.")
def resolve_model(
    spec: str,
    alias: str | None,
    tracking_uri: str | None,
    field: str | None,
    environment: str | None,
    fmt: str,
) -> None:
    """Print the model version an alias names and where its files are stored.

    CI pins a rollout with them: `compile --model-version` (and `--model-uri` for KServe,
    which loads the files from storage and cannot read `models:/` URIs). With --env, in that
    environment's registry.
    """
    require("mlflow", why="mlspec resolve-model")
    pipeline = in_environment(checked(spec), spec, environment).pipeline
    if pipeline.registry is None:
        raise click.UsageError(f"{spec} has no registry section")
    alias = alias or (pipeline.rollout.model_alias if pipeline.rollout else None)
    if alias is None:
        raise click.UsageError("give --alias: the spec's rollout names no model_alias")
    from mlspec.runtime import registry as runtime_registry

    model = pipeline.registry.registered_model
    uri = resolve_tracking_uri(pipeline.registry, tracking_uri)
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
