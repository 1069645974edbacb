"""Lineage: lineage (a model version's chain back to its run, spec, code and data), runs."""

from __future__ import annotations

import sys

import click

from mlspec.cli.common import EXIT_REFUSED, checked, require, result_format
from mlspec.cli.registry import resolve_tracking_uri

_URI_HELP = (
    "MLflow tracking URI [default: --spec's registry.mlflow.tracking_uri, "
    "then $MLFLOW_TRACKING_URI]."
)


@click.command()
@click.argument("model")
@click.option(
    "--spec", type=click.Path(exists=True, dir_okay=False), help="A spec whose registry to read."
)
@click.option("--tracking-uri", help=_URI_HELP)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "mermaid"]),
    default="text",
    show_default=True,
    help="For people, as JSON for tools, or as a Mermaid flowchart for a PR or an incident report.",
)
def lineage(model: str, spec: str | None, tracking_uri: str | None, fmt: str) -> None:
    """Print where a model version came from: MODEL, MODEL@ALIAS or MODEL/VERSION.

    The chain from the version to the MLflow run that registered it, the spec and git commit,
    the code, the datasets with their fingerprints, the gate verdicts, and the promotions and
    rollbacks of the version. What the registry does not hold is said, not left out. MODEL
    alone is its latest version. Exit code 3 when the model, alias or version is unknown or
    the registry cannot be read.
    """
    from mlspec import lineage as reading

    try:
        name, alias, version = reading.parse_selector(model)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    require("mlflow", why="mlspec lineage")
    registry = checked(spec).pipeline.registry if spec is not None else None
    uri = resolve_tracking_uri(registry, tracking_uri)
    from mlspec.runtime.registry import RegistryError

    try:
        found = reading.read(uri, name, alias, version)
    except RegistryError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    if fmt == "json":
        click.echo(reading.as_json(found), nl=False)
    elif fmt == "mermaid":
        click.echo(reading.mermaid(found), nl=False)
    else:
        click.echo(reading.text(found), nl=False)


@click.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option("--tracking-uri", help=_URI_HELP.replace("--spec's", "the spec's"))
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="At most this many runs.",
)
@result_format("For people, or JSON for tools.")
def runs(spec: str, tracking_uri: str | None, limit: int, fmt: str) -> None:
    """List the pipeline's tracked runs, newest first, with their gate verdicts and promotions.

    Each pipeline run is an MLflow run in the experiment named after the pipeline, on the
    tracking server of the spec's registry. Exit code 3 when the registry cannot be read.
    """
    require("mlflow", why="mlspec runs")
    pipeline = checked(spec).pipeline
    if pipeline.registry is None:
        raise click.UsageError(f"{spec} has no registry section: its runs are not tracked")
    uri = resolve_tracking_uri(pipeline.registry, tracking_uri)
    from mlspec import lineage as reading
    from mlspec.runtime.registry import RegistryError

    try:
        found = reading.list_runs(uri, pipeline.name, limit)
    except RegistryError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    if fmt == "json":
        click.echo(reading.as_json({"pipeline": pipeline.name, "runs": found}), nl=False)
    else:
        click.echo(reading.runs_text(pipeline.name, found), nl=False)
