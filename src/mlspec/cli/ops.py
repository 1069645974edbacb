"""Operating a pipeline: deploy it to an orchestrator, or run it locally on a real engine."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from click.core import ParameterSource

from mlspec.backends import registry
from mlspec.cli.common import (
    EXIT_OK,
    EXIT_REFUSED,
    TargetChoice,
    checked,
    env_option,
    in_environment,
    require,
    result_format,
    target_checked,
    to_stderr,
)


class _DeployCommand(click.Command):
    """`deploy`, with one option per connection setting that a deployer declares, read from
    its environment variable when not given. The deployers are imported only when the
    options are needed (to parse, help or complete `deploy`), not to build the command line."""

    settings_added = False

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if not self.settings_added:
            self.params += _setting_options()
            self.settings_added = True
        return super().get_params(ctx)


def _setting_options() -> list[click.Parameter]:
    """One option per setting name (a name two deployers declare is one option)."""
    options: dict[str, click.Parameter] = {}
    for name in registry.deployable():
        for setting in registry.get(name).load_deployer().SETTINGS:
            flag = "--" + setting.name.replace("_", "-")
            options.setdefault(
                setting.name,
                click.Option(
                    [flag, setting.name], envvar=setting.env, show_envvar=True, help=setting.help
                ),
            )
    return list(options.values())


@click.command(cls=_DeployCommand)
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option("--target", "-t", required=True, type=TargetChoice(registry.deployable))
@click.option(
    "--dry-run", is_flag=True, help="Print the plan from the server's state; change nothing."
)
@click.option(
    "--offline",
    is_flag=True,
    help="With --dry-run: plan from the compiled files alone, without contacting the server.",
)
@click.option("--run", "run_after", is_flag=True, help="Trigger a run after deploying.")
@click.option("--wait", is_flag=True, help="With --run: follow the run to its end.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Stop waiting after this long in all: retries, parsing, --wait (exit 3). "
    "[default: each call retries for up to 60 s, --wait waits for the run's end]",
)
@env_option
@result_format("The plan for people, or as JSON on stdout (progress goes to stderr).")
def deploy(
    spec: str,
    target: str,
    dry_run: bool,
    offline: bool,
    run_after: bool,
    wait: bool,
    timeout: float | None,
    environment: str | None,
    fmt: str,
    **settings: str | None,
) -> None:
    """Deploy SPEC to a running orchestrator, safely and idempotently.

    Everything is compiled and checked locally before the first remote call; what is uploaded
    is named by a hash of the generated files, so deploying an unchanged spec changes nothing.
    Connection settings come from the flags or the environment variables shown. Retries are
    reported on stderr; a refused connection fails after a few seconds. With --env, the spec as
    it runs in that environment goes to that environment's server (its `deploy` URLs).
    """
    from mlspec.deploy.common import Deadline, DeployError, Request, SettingsError, content_version

    if wait and not run_after:
        raise click.UsageError("--wait follows a run: add --run")
    if offline and not dry_run:
        raise click.UsageError("--offline plans without changing anything: add --dry-run")
    if offline and run_after:
        raise click.UsageError("--run needs the server: drop --offline")
    deployer = registry.get(target).deployer
    assert deployer is not None  # the --target choices are the targets with one
    require(*deployer.extras, why=f"mlspec deploy --target {target}")
    analysis = in_environment(checked(spec), spec, environment)
    module = deployer.load()
    if environment is not None:
        servers = analysis.spec.environments[environment].deploy
        server = getattr(servers, target, None)  # a plug-in target has no field there
        for setting in module.SETTINGS:
            flagged = click.get_current_context().get_parameter_source(setting.name)
            if setting.server and server and flagged != ParameterSource.COMMANDLINE:
                settings[setting.name] = server
    compiled = target_checked(spec, target, analysis, emit=True)
    assert compiled.pipeline is not None
    request = Request(
        spec_path=spec,
        pipeline=compiled.pipeline,
        artifacts=compiled.artifacts,
        version=content_version(compiled.artifacts),
        settings=settings,
        dry_run=dry_run,
        run=run_after,
        wait=wait,
        echo=to_stderr if fmt == "json" else click.echo,
        deadline=Deadline(timeout, notice=to_stderr),
    )
    try:
        plan = module.offline_plan(request) if offline else module.deploy(request)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    except DeployError as exc:
        click.echo(f"deploy failed: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    if fmt == "json":
        click.echo(json.dumps({**plan.as_json(), "dry_run": dry_run}, indent=2))
    else:
        click.echo(plan.render(), nl=False)


@click.command("run")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--target",
    "-t",
    type=TargetChoice(registry.runnable),
    default="prefect",
    show_default=True,
    help="The engine to run on, locally.",
)
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False),
    help="Folder for runs, artifacts and the local registry [default: .mlspec/run/NAME; a "
    "monitor's: its watched pipeline's].",
)
@click.option("--param", "-p", "params", multiple=True, help="NAME=VALUE; repeat for more.")
@click.option(
    "--airflow-python",
    envvar="MLSPEC_AIRFLOW_PYTHON",
    help="An interpreter with apache-airflow 3, for --target airflow [env MLSPEC_AIRFLOW_PYTHON].",
)
@click.option("--verbose", "-v", is_flag=True, help="Stream everything the engine prints.")
@result_format("The summary for people, or as JSON on stdout (progress goes to stderr).")
def run(
    spec: str,
    target: str,
    state_dir: str | None,
    params: tuple[str, ...],
    airflow_python: str | None,
    verbose: bool,
    fmt: str,
) -> None:
    """Run SPEC locally on a real engine and summarise what it decided.

    The run uses a SQLite MLflow registry and an artifact folder under the state folder (never
    the spec's servers); the spec's folder is on the Python path for its step modules. A
    monitor judges the registry its watched pipeline's runs filled. Exit code 0 when the run
    finished (gates passed, one blocked, or a monitor breached), 3 when it failed, 2 when it is
    refused before anything starts (e.g. container steps and no Kubernetes cluster configured).
    """
    engine = registry.get(target).engine
    assert engine is not None  # the --target choices are the targets with one
    require(*engine.extras, why=f"mlspec run --target {target}")
    from mlspec.run import EngineUnavailable, RunRequest, parse_params, run_pipeline
    from mlspec.run.state import default_folder
    from mlspec.run.summary import render

    analysis = checked(spec)
    pipeline = analysis.pipeline
    try:
        values = parse_params(pipeline, params)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    target_checked(spec, target, analysis)  # e.g. text kfp.local would read as placeholders
    folder = Path(state_dir) if state_dir else default_folder(pipeline)
    request = RunRequest(
        pipeline,
        Path(spec),
        target,
        values,
        echo=lambda line: click.echo(
            f"  | {line}" if not line.startswith("mlspec") else line, err=fmt == "json"
        ),
        verbose=verbose,
        airflow_python=airflow_python,
    )
    try:
        result = run_pipeline(request, folder)
    except EngineUnavailable as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(render(result), nl=False, err=fmt == "json")
    if fmt == "json":
        click.echo(json.dumps(result.as_json(), indent=2))
    sys.exit(EXIT_REFUSED if result.outcome == "failed" else EXIT_OK)
