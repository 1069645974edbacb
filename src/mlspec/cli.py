"""The `mlspec` command: a thin Click shell over the compiler, back ends and output writer.

Exit codes are stable: 0 ok, 1 problems in a spec, 2 usage errors (Click's own included),
3 an operation refused or failed outside mlspec (e.g. a promotion whose gates did not pass).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NoReturn

import click
import click.shell_completion

from mlspec import __version__

# pydantic looks for plug-ins through importlib.metadata on the first model build (~30 ms of
# every start); mlspec uses none. A user can still opt in by setting the variable.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
from mlspec.diagnostics import Diagnostic, SpecError, render

if TYPE_CHECKING:
    from mlspec.backends.base import Backend
    from mlspec.compiler import Analysis

Format = Literal["text", "json", "github"]
EXIT_OK, EXIT_SPEC, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3

_format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="How to print diagnostics: for people, for tools, or as GitHub Actions annotations.",
)


class _Group(click.Group):
    """Lists each command with its whole first sentence (Click's default cuts it with "...")."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _complete_targets(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    """Shell completion of --target: every known target, plug-ins included."""
    from mlspec.backends.registry import targets

    return [
        click.shell_completion.CompletionItem(t.name, help=t.summary)
        for t in targets().values()
        if t.name.startswith(incomplete)
    ]


def _result_format(help_text: str):  # type: ignore[no-untyped-def]
    """`--format text|json` for a command that prints a result: one convention everywhere."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help=help_text,
    )


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="mlspec")
def main() -> None:
    """Check ML pipeline specs and compile them for Kubeflow, Airflow and Prefect."""


class _Report:
    """Collects diagnostics across files and prints them once, in the chosen format."""

    def __init__(self, fmt: Format) -> None:
        self.fmt = fmt
        self.diagnostics: list[Diagnostic] = []
        self.sources: dict[str, str] = {}

    def add(self, diagnostics: list[Diagnostic], name: str, raw: bytes) -> None:
        self.diagnostics += diagnostics
        self.sources[name] = raw.decode("utf-8", errors="replace")

    @property
    def failed(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    def emit(self) -> None:
        if self.fmt == "json":
            click.echo(render(self.diagnostics, "json", self.sources), nl=False)
        elif self.diagnostics:
            stream_err = self.fmt == "text"
            click.echo(render(self.diagnostics, self.fmt, self.sources), nl=False, err=stream_err)


def _analyze(path: str, report: _Report):  # type: ignore[no-untyped-def]
    """Run the front end on one file; None (and diagnostics in the report) if it failed."""
    from mlspec.compiler.source import read_bytes

    try:
        raw = read_bytes(path)
    except OSError as exc:
        raise click.UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    return _analyzed(raw, path, report)


def _analyzed(raw: bytes, path: str, report: _Report):  # type: ignore[no-untyped-def]
    """The front end on a spec's bytes; None (and diagnostics in the report) if it failed."""
    from mlspec.compiler import analyze_bytes

    try:
        analysis = analyze_bytes(raw, path)
    except SpecError as exc:
        report.add(exc.diagnostics, path, raw)
        return None
    report.add(list(analysis.warnings), path, raw)
    return analysis


def _unreadable(name: str, problem: str) -> Diagnostic:
    from mlspec.diagnostics import Span

    return Diagnostic(
        Span(name, 1, 1, 1, 1),
        "MS012",
        f"cannot read the file: {problem}",
        "check the path; a spec is a regular file of UTF-8 text",
    )


def _target_checked(spec: str, backend: Backend, analysis: Analysis) -> None:
    """Print what the target's back end says about the pipeline (warnings too: a step that
    will fail there is worth saying before it runs); exit with code 1 on an error."""
    problems = backend.check(analysis.pipeline)
    if problems:
        report = _Report("text")
        report.add(problems, spec, analysis.source.text.encode())
        report.emit()
        if report.failed:
            sys.exit(EXIT_SPEC)


def _checked(path: str):  # type: ignore[no-untyped-def]
    """The analysis of a spec that commands other than validate and compile act on: its
    problems are printed, and the command ends with exit code 1 if it has errors."""
    report = _Report("text")
    analysis = _analyze(path, report)
    report.emit()
    if analysis is None:
        sys.exit(EXIT_SPEC)
    return analysis


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(allow_dash=True, readable=False))
@click.option(
    "--target",
    "-t",
    "target_names",
    multiple=True,
    metavar="T[,T...]",
    help="Also report what compiling for these targets would (their MS3xx limits), without "
    "compiling. Repeat it or separate names with commas.",
)
@_format_option
def validate(specs: tuple[str, ...], target_names: tuple[str, ...], fmt: Format) -> None:
    """Check SPECS and report every problem at its line and column.

    SPECS are files, folders (searched for YAML files that declare `apiVersion: mlspec/v1`)
    or `-` for standard input. Every spec is checked; one that cannot be read is reported too.
    """
    from mlspec.specfiles import collect

    backends = [_backend(name) for name in _names(target_names)]
    report = _Report(fmt)
    summaries = []
    inputs, notes = collect(specs, sys.stdin.buffer)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    for spec in inputs:
        if spec.problem is not None:
            report.add([_unreadable(spec.name, spec.problem)], spec.name, b"")
            continue
        path = spec.name
        analysis = _analyzed(spec.raw, path, report)
        if analysis is None:
            continue
        problems = _target_problems(analysis.pipeline, backends)
        report.diagnostics += problems
        if any(d.severity == "error" for d in problems):
            continue
        steps, gates = len(analysis.spec.steps), len(analysis.spec.gates)
        checked = f"; {', '.join(b.name for b in backends)} checked" if backends else ""
        counts = f"{_count(steps, 'step')}, {_count(gates, 'gate')}{checked}"
        summaries.append(f"{path}: ok ({counts})")
    report.emit()
    if fmt == "text":
        for line in summaries:
            click.echo(line)
    sys.exit(EXIT_SPEC if report.failed else EXIT_OK)


def _require(*extras: str, why: str) -> None:
    """Exit 2 with the install command when an optional extra the command needs is missing."""
    from mlspec.extras import ExtraMissing, require

    try:
        require(*extras, why=why)
    except ExtraMissing as exc:
        raise click.UsageError(str(exc)) from None


def _to_stderr(line: str) -> None:
    """Progress, where --format json keeps stdout for the JSON."""
    click.echo(line, err=True)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _names(values: tuple[str, ...]) -> list[str]:
    """Target names from repeated and comma-separated options, each once, in order."""
    names = [n.strip() for value in values for n in value.split(",")]
    if any(not n for n in names):
        raise click.UsageError("--target: an empty target name")
    return list(dict.fromkeys(names))


def _backend(name: str):  # type: ignore[no-untyped-def]
    """The back end of a target; unknown or unavailable targets are usage errors."""
    from mlspec.backends.registry import TargetUnavailable, find, targets

    found = find(name)
    if found is None:
        import difflib

        close = difflib.get_close_matches(name, list(targets()), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise click.UsageError(f"unknown target {name!r}.{hint} See `mlspec targets`.")
    try:
        return found.load()
    except TargetUnavailable as exc:
        ready = ", ".join(n for n, t in targets().items() if t.location)
        raise click.UsageError(f"{exc}; available now: {ready}") from None


# `validate --target` checks the spec as CI compiles it, with the model pinned: KServe needs
# `compile --model-uri`, which is not part of the spec (compile reports it if it is missing).
_PINNED_FOR_CHECKS = "s3://pinned-by-mlspec-compile/model"


def _target_problems(pipeline, backends: list) -> list[Diagnostic]:  # type: ignore[no-untyped-def]
    """What `compile --target` would report for each back end, each problem once."""
    if not backends:
        return []
    from mlspec.backends.rollout.release import pin

    if pipeline.rollout is not None and pipeline.rollout.model_uri is None:
        pipeline = pin(pipeline, None, _PINNED_FOR_CHECKS)
    found = [d for backend in backends for d in backend.check(pipeline)]
    return list(dict.fromkeys(found))


@main.command("compile")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--target",
    "-t",
    required=True,
    shell_complete=_complete_targets,
    help="What to generate; see `mlspec targets`.",
)
@click.option(
    "--output",
    "-o",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder to write; replaced as a whole, only when everything succeeded.",
)
@click.option(
    "--model-version",
    metavar="N",
    help="Roll out this registered model version (CI: the version the pipeline registered); "
    "default: whatever the rollout's alias names when the pods start.",
)
@click.option(
    "--model-uri",
    metavar="URI",
    help="Where the model version is stored (s3://, gs://, pvc://...): KServe loads it from there.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing: compare OUTPUT with what would be generated; exit 0 if it is up to "
    "date, 1 with a diff if it is stale.",
)
@_format_option
def compile_(
    spec: str,
    target: str,
    out_dir: str,
    model_version: str | None,
    model_uri: str | None,
    check: bool,
    fmt: Format,
) -> None:
    """Check SPEC and generate the pipeline for TARGET into OUTPUT (with the rollout manifests
    under OUTPUT/rollout/ when the spec has a rollout section).

    With --check, for generated files committed to git: OUTPUT is compared with what would be
    generated now, and nothing is written.
    """
    from mlspec.backends.registry import TargetUnavailable
    from mlspec.output import OutputError, recover, write_tree

    try:
        if not check:  # --check writes nothing, not even a restored backup
            recover(Path(out_dir))
    except OutputError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.UsageError(f"cannot restore the previous {out_dir}: {_why(exc)}") from None

    backend = _backend(target)
    report = _Report(fmt)
    analysis = _analyze(spec, report)
    if analysis is not None:
        pipeline = _pinned(analysis.pipeline, model_version, model_uri)
        problems = backend.check(pipeline)
        report.diagnostics += problems
        if not report.failed:
            try:
                artifacts = backend.emit(pipeline)
            except TargetUnavailable as exc:  # e.g. the target's optional extra is missing
                report.emit()
                raise click.UsageError(str(exc)) from None
            if check:
                report.emit()
                pins = [("--model-version", model_version), ("--model-uri", model_uri)]
                again = ["mlspec", "compile", spec, "--target", target, "-o", out_dir]
                again += [part for flag, value in pins if value for part in (flag, value)]
                sys.exit(_check_drift(artifacts, out_dir, fmt, again))
            try:
                written = write_tree(artifacts, Path(out_dir))
            except OutputError as exc:
                report.emit()
                raise click.UsageError(str(exc)) from None
            except OSError as exc:
                report.emit()
                raise click.UsageError(f"cannot write {out_dir}: {_why(exc)}") from None
            report.emit()
            if fmt == "text":
                click.echo(f"{spec}: wrote {len(written)} file(s) to {out_dir} ({target})")
                for path in written:
                    click.echo(f"  {path}")
            sys.exit(EXIT_OK)
    report.emit()
    if check:
        click.echo(f"{spec} has errors, so {out_dir} was not compared", err=True)
    sys.exit(EXIT_SPEC)


def _why(exc: OSError) -> str:
    """An OSError for people: the reason, and the path it concerns."""
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def _check_drift(artifacts, out_dir: str, fmt: Format, again: list[str]) -> int:  # type: ignore[no-untyped-def]
    """`compile --check`: print the verdict (and the diff) and return the exit code.

    The report goes to stdout, except with --format json, whose stdout holds only the
    diagnostics: there it goes to stderr, and exit 1 without errors means stale.
    """
    import shlex

    from mlspec import drift
    from mlspec.output import OutputError, check_replaceable, read_whole

    try:
        check_replaceable(Path(out_dir))
        found = read_whole(Path(out_dir), lambda: drift.compare(artifacts, Path(out_dir), out_dir))
    except OutputError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.UsageError(f"cannot read {out_dir}: {_why(exc)}") from None
    update = shlex.join(again)
    if fmt == "github" and found.stale:
        click.echo(drift.github_annotation(found, update), nl=False)
    click.echo(drift.render(found, update), nl=False, err=fmt == "json")
    return EXIT_SPEC if found.stale else EXIT_OK


def _pinned(pipeline, version: str | None, uri: str | None):  # type: ignore[no-untyped-def]
    from mlspec.backends.rollout.release import pin

    if version is not None and not re.fullmatch(r"[1-9][0-9]{0,18}", version):
        raise click.UsageError(f"--model-version {version!r}: registry versions are numbers")
    if (version or uri) and pipeline.rollout is None:
        raise click.UsageError("--model-version and --model-uri apply to specs with a rollout")
    return pin(pipeline, version, uri)


@main.command()
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
@_result_format("What was promoted (or why not) for people, or as JSON on stdout.")
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
    _require("mlflow", why="mlspec promote")
    analysis = _checked(spec)
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
    if fmt == "json":
        click.echo(json.dumps({**outcome, "promoted": True, "reason": None}, indent=2))
        return
    gates = ", ".join(rule.gates) or "no gates"
    click.echo(f"{model} version {version} is now {alias!r} ({gates} passed)")


def _tracking_uri(registry, flag: str | None) -> str:  # type: ignore[no-untyped-def]
    # The spec's own URI beats the ambient environment; an explicit flag beats both.
    uri = flag or registry.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise click.UsageError(
            "no tracking URI: set registry.mlflow.tracking_uri, "
            "--tracking-uri or MLFLOW_TRACKING_URI"
        )
    return str(uri)


@main.command("resolve-model")
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
@_result_format("For people, or JSON for tools.")
def resolve_model(
    spec: str, alias: str | None, tracking_uri: str | None, field: str | None, fmt: str
) -> None:
    """Print the model version an alias names and where its files are stored.

    CI pins a rollout with them: `compile --model-version` (and `--model-uri` for KServe,
    which loads the files from storage and cannot read `models:/` URIs).
    """
    _require("mlflow", why="mlspec resolve-model")
    analysis = _checked(spec)
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


@main.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot", "json"]),
    default="mermaid",
    show_default=True,
    help="Mermaid (GitHub renders it in markdown), Graphviz DOT, or JSON for tools.",
)
def graph(spec: str, fmt: str) -> None:
    """Print SPEC's steps, gates, promotions and rollout as a graph."""
    from mlspec import graph as graphs

    drawn = graphs.build(_checked(spec).pipeline)
    render = {"mermaid": graphs.mermaid, "dot": graphs.dot, "json": graphs.as_json}[fmt]
    click.echo(render(drawn), nl=False)


@main.command("diff")
@click.argument("sides", nargs=-1, metavar="[OLD NEW | PATHS]")
@click.option(
    "--base",
    metavar="REV",
    help="Compare every spec changed since REV (git), optionally under PATHS only.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="For terminals, a pull-request comment, or tools.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["risky", "any", "never"]),
    default="never",
    show_default=True,
    help="Exit 1 when there is a risky change, any change, or never.",
)
def diff_(sides: tuple[str, ...], base: str | None, fmt: str, fail_on: str) -> None:
    """Say what a spec change does, in domain terms, with a risk level for each change.

    OLD and NEW are files or REV:path read from git, e.g.
    `mlspec diff origin/main:specs/fraud.yaml specs/fraud.yaml`; `--base REV [PATHS]` compares
    every spec that changed since REV (under PATHS). Also checks that the version was bumped
    enough for what changed. When no spec changed, it says so on stderr and prints nothing
    (JSON: no files), so CI can skip its comment.
    """
    from mlspec.diff import diff
    from mlspec.diff import render as show
    from mlspec.diff.sources import SourceError, changed_since, read

    if base is None and len(sides) != 2:
        raise click.UsageError("give OLD and NEW, or --base REV [PATHS]")
    report = _Report("text")
    try:
        pairs = changed_since(base, sides) if base else [(read(sides[0]), read(sides[1]))]
    except SourceError as exc:
        raise click.UsageError(str(exc)) from None
    except SpecError as exc:  # a side too large or not UTF-8
        report.add(exc.diagnostics, exc.diagnostics[0].span.file, b"")
        report.emit()
        sys.exit(EXIT_SPEC)
    if not pairs:  # --base, and no spec changed: stdout stays empty (JSON: no files)
        under = f" under {' '.join(sides)}" if sides else ""
        click.echo(f"no spec changed since {base}{under}", err=True)
        if fmt == "json":
            click.echo(show.as_json([]), nl=False)
        sys.exit(EXIT_OK)
    diffs = []
    for old, new in pairs:
        try:
            diffs.append(diff(old, new))
        except SpecError as exc:
            for side in (old, new):
                report.add(
                    [d for d in exc.diagnostics if d.span.file == side.label],
                    side.label,
                    (side.text or "").encode(),
                )
    report.emit()
    if report.failed:
        sys.exit(EXIT_SPEC)
    click.echo(
        {"text": show.text, "markdown": show.markdown, "json": show.as_json}[fmt](diffs), nl=False
    )
    changes = [c for d in diffs for c in d.changes]
    failed = {"risky": any(c.risk == "risky" for c in changes), "any": bool(changes)}
    sys.exit(EXIT_SPEC if failed.get(fail_on, False) else EXIT_OK)


_DEPLOY_SETTINGS = {
    # option name: (environment variable, help)
    "prefect_api_url": ("PREFECT_API_URL", "Prefect API, e.g. http://127.0.0.1:4200/api."),
    "prefect_work_pool": ("MLSPEC_PREFECT_WORK_POOL", "Prefect work pool [default: mlspec]."),
    "prefect_flow_dir": (
        "MLSPEC_PREFECT_FLOW_DIR",
        "Folder the Prefect workers load the flow from (a shared volume or checkout).",
    ),
    "airflow_url": ("AIRFLOW_API_URL", "Airflow API server, e.g. http://127.0.0.1:8080."),
    "airflow_token": ("AIRFLOW_API_TOKEN", "Airflow API bearer token (or username/password)."),
    "airflow_username": ("AIRFLOW_USERNAME", "Airflow user, to get a token."),
    "airflow_password": ("AIRFLOW_PASSWORD", "Airflow password, to get a token."),
    "airflow_dags_folder": ("MLSPEC_AIRFLOW_DAGS_FOLDER", "Folder the dag processor reads."),
    "kfp_host": ("KF_PIPELINES_ENDPOINT", "Kubeflow Pipelines API host."),
    "kfp_token": ("KF_PIPELINES_TOKEN", "Kubeflow Pipelines bearer token."),
    "kfp_namespace": ("KF_PIPELINES_NAMESPACE", "Kubeflow namespace for recurring runs."),
}


def _deploy_options(command):  # type: ignore[no-untyped-def]
    """One option per connection setting, read from its environment variable when not given."""
    for name, (env, help_text) in reversed(_DEPLOY_SETTINGS.items()):
        flag = "--" + name.replace("_", "-")
        command = click.option(flag, name, envvar=env, show_envvar=True, help=help_text)(command)
    return command


@main.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--target", "-t", required=True, type=click.Choice(["prefect", "airflow", "kubeflow"])
)
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
@_result_format("The plan for people, or as JSON on stdout (progress goes to stderr).")
@_deploy_options
def deploy(
    spec: str,
    target: str,
    dry_run: bool,
    offline: bool,
    run_after: bool,
    wait: bool,
    timeout: float | None,
    fmt: str,
    **settings: str | None,
) -> None:
    """Deploy SPEC to a running orchestrator, safely and idempotently.

    Everything is compiled and checked locally before the first remote call; what is uploaded
    is named by a hash of the generated files, so deploying an unchanged spec changes nothing.
    Connection settings come from the flags or the environment variables shown. Retries are
    reported on stderr; a refused connection fails after a few seconds.
    """
    import importlib

    from mlspec.backends.registry import find
    from mlspec.deploy.common import Deadline, DeployError, Request, SettingsError, content_version

    if wait and not run_after:
        raise click.UsageError("--wait follows a run: add --run")
    if offline and not dry_run:
        raise click.UsageError("--offline plans without changing anything: add --dry-run")
    if offline and run_after:
        raise click.UsageError("--run needs the server: drop --offline")
    _require(target, why=f"mlspec deploy --target {target}")
    analysis = _checked(spec)
    backend = find(target).load()  # type: ignore[union-attr]
    _target_checked(spec, backend, analysis)
    artifacts = tuple(backend.emit(analysis.pipeline))
    request = Request(
        spec_path=spec,
        pipeline=analysis.pipeline,
        artifacts=artifacts,
        version=content_version(artifacts),
        settings=settings,
        dry_run=dry_run,
        run=run_after,
        wait=wait,
        echo=_to_stderr if fmt == "json" else click.echo,
        deadline=Deadline(timeout, notice=_to_stderr),
    )
    module = importlib.import_module(f"mlspec.deploy.{target}")
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


@main.command("bandit-controller")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The controller's config.json (the ConfigMap that `compile` writes).",
)
@click.option("--once", is_flag=True, help="Run one interval now and exit (e.g. from a CronJob).")
def bandit_controller(config_path: str, once: bool) -> None:
    """Steer a bandit rollout's VirtualService until its stopping rule holds.

    Runs in the cluster (see docker/bandit-controller/Dockerfile): each interval it reads
    rewards and guardrails from Prometheus and patches the route weights; it prints a JSON
    report when it stops.
    """
    import logging

    from mlspec.bandit.config import ConfigError
    from mlspec.bandit.controller import ControllerError, run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        run(config_path, once=once)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="'--config'") from None
    except ControllerError as exc:
        click.echo(f"failed: {exc}", err=True)
        sys.exit(EXIT_REFUSED)


def _rates(values: tuple[str, ...]) -> dict:  # type: ignore[type-arg]
    """ARM=P or SEGMENT:ARM=P -> {arm: p} or {segment: {arm: p}}."""
    flat: dict[str, float] = {}
    nested: dict[str, dict[str, float]] = {}
    for value in values:
        key, sep, number = value.partition("=")
        try:
            rate = float(number)
        except ValueError:
            raise click.UsageError(f"--rate {value!r}: write ARM=P or SEGMENT:ARM=P") from None
        if not sep:
            raise click.UsageError(f"--rate {value!r}: write ARM=P or SEGMENT:ARM=P")
        segment, colon, arm = key.rpartition(":")
        into = nested.setdefault(segment, {}) if colon else flat
        if arm in into:
            raise click.UsageError(f"--rate {value!r}: {key} has a rate already")
        into[arm] = rate
    if flat and nested:
        raise click.UsageError("--rate: use ARM=P for a bandit or SEGMENT:ARM=P, not both")
    return nested or flat


def _no_data(values: tuple[str, ...], intervals: int) -> dict[str, set[int]]:
    """ARM=FIRST[-LAST] -> {arm: {FIRST, ..., LAST}}, up to the last simulated interval."""
    out: dict[str, set[int]] = {}
    for value in values:
        arm, sep, span = value.partition("=")
        first, _, last = span.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            low = high = 0
        if not sep or not arm or low < 1 or high < low:
            raise click.UsageError(
                f"--no-data {value!r}: write ARM=FIRST or ARM=FIRST-LAST, intervals from 1"
            )
        out.setdefault(arm, set()).update(range(low, min(high, intervals) + 1))
    return out


@main.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--rate",
    "rate_values",
    multiple=True,
    required=True,
    metavar="[SEGMENT:]ARM=P",
    help="True reward rate of an arm (per segment for a contextual bandit); repeat for each.",
)
@click.option(
    "--requests", default=1000, show_default=True, help="Requests per route per interval."
)
@click.option("--intervals", default=200, show_default=True, help="Intervals to simulate at most.")
@click.option("--seed", type=int, help="Random seed [default: the controller's, from the spec].")
@click.option(
    "--no-data",
    "no_data_values",
    multiple=True,
    metavar="ARM=FIRST[-LAST]",
    help="The arm's metrics are missing in these intervals (1-based); repeat for more.",
)
@click.option("--compare", is_flag=True, help="Also run the other algorithms and a fixed split.")
@click.option(
    "--plot", "plot_path", type=click.Path(dir_okay=False), help="Write a PNG of weights."
)
@_result_format("Tables for people, or every interval and the comparison as JSON.")
def simulate(
    spec: str,
    rate_values: tuple[str, ...],
    requests: int,
    intervals: int,
    seed: int | None,
    no_data_values: tuple[str, ...],
    compare: bool,
    plot_path: str | None,
    fmt: str,
) -> None:
    """Run SPEC's bandit offline against simulated arms and print weights, regret and the stop.

    It makes the deployed controller's decisions (same policy, same seeding) on simulated
    rewards: e.g. `--rate incumbent=0.05 --rate candidate=0.07`.
    """
    if plot_path is not None:
        _require("plot", why="mlspec simulate --plot")
    analysis = _checked(spec)
    from mlspec.backends.rollout.bandit import bandit_config
    from mlspec.backends.rollout.release import Release
    from mlspec.bandit import simulate as sim
    from mlspec.compiler import ir

    pipeline = analysis.pipeline
    rollout = pipeline.rollout
    if rollout is None or not isinstance(rollout.strategy, ir.Bandit):
        raise click.UsageError(f"{spec} has no bandit or contextual_bandit rollout")
    if rollout.prometheus is None:
        raise click.UsageError(f"{spec}: set rollout.prometheus (`mlspec validate` says more)")
    config = bandit_config(Release(pipeline, rollout))
    rates = _rates(rate_values)
    gaps = _no_data(no_data_values, intervals)
    found: dict[str, object] = {"run": None, "comparison": None}
    try:
        result = sim.simulate(
            config, rates, requests=requests, max_intervals=intervals, seed=seed, no_data=gaps
        )
        found["run"] = sim.as_json(result)
        if fmt == "text":
            click.echo(sim.render_table(result))
        if compare:
            others = [a for a in ("thompson", "epsilon_greedy", "ucb1") if a != config.algorithm]
            runs = sim.compare(
                config,
                rates,
                [config.algorithm, *others],  # type: ignore[list-item]
                requests=requests,
                max_intervals=intervals,
                seed=seed,
                no_data=gaps,
            )
            found["comparison"] = sim.comparison_json(runs, intervals)
            if fmt == "text":
                click.echo(sim.render_comparison(runs, intervals))
        if plot_path is not None:
            sim.plot(result, plot_path)
            click.echo(f"wrote {plot_path}", err=fmt == "json")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except ImportError as exc:
        raise click.UsageError(str(exc)) from None
    if fmt == "json":
        click.echo(json.dumps(found, indent=2))


@main.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False))
def init(folder: str) -> None:
    """Create a new project in FOLDER (new or empty): a spec, its steps, a test and CI.

    `mlspec validate` and `mlspec run` accept what it writes as it is; the step module uses the
    standard library only.
    """
    import shlex

    from mlspec.scaffold import InitError, create

    try:
        written = create(Path(folder))
    except (InitError, OSError) as exc:
        raise click.UsageError(str(exc)) from None
    for path in written:
        click.echo(f"wrote {Path(folder) / path}")
    spec = shlex.quote(str(Path(folder) / "pipeline.yaml"))
    click.echo(f"next: mlspec validate {spec}  (then `mlspec run {spec}` to run it locally)")


@main.command()
def schema() -> None:
    """Print the JSON Schema of the spec language (for editors)."""
    from mlspec.schema import json_schema

    click.echo(json_schema(), nl=False)


@main.command("targets")
@_result_format("For people, or JSON for tools.")
def list_targets(fmt: str) -> None:
    """List the compile targets and whether they are available."""
    from mlspec.backends.registry import targets

    found = targets()
    if fmt == "json":
        rows = [
            {"name": t.name, "summary": t.summary, "available": t.location is not None}
            for t in found.values()
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(n) for n in found)
    for t in found.values():
        status = "" if t.location else "  (planned)"
        click.echo(f"{t.name:<{width}}  {t.summary}{status}")


@main.command("run")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--target",
    "-t",
    type=click.Choice(["prefect", "kubeflow", "airflow"]),
    default="prefect",
    show_default=True,
    help="The engine to run on, locally.",
)
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False),
    help="Folder for runs, artifacts and the local registry [default: .mlspec/run/NAME].",
)
@click.option("--param", "-p", "params", multiple=True, help="NAME=VALUE; repeat for more.")
@click.option(
    "--airflow-python",
    envvar="MLSPEC_AIRFLOW_PYTHON",
    help="An interpreter with apache-airflow 3, for --target airflow [env MLSPEC_AIRFLOW_PYTHON].",
)
@click.option("--verbose", "-v", is_flag=True, help="Stream everything the engine prints.")
@_result_format("The summary for people, or as JSON on stdout (progress goes to stderr).")
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
    the spec's servers); the spec's folder is on the Python path for its step modules. Exit
    code 0 when the run finished (gates passed, or one blocked), 3 when it failed, 2 when it is
    refused before anything starts (e.g. container steps and no Kubernetes cluster configured).
    """
    engine_extras = {"prefect": ("prefect",), "kubeflow": ("kubeflow",), "airflow": ()}
    _require("mlflow", *engine_extras[target], why=f"mlspec run --target {target}")
    from mlspec.backends.registry import TargetUnavailable, find
    from mlspec.run import EngineUnavailable, parse_params, run_pipeline
    from mlspec.run.summary import render

    analysis = _checked(spec)
    pipeline = analysis.pipeline
    try:
        values = parse_params(pipeline, params)
        backend = find(target).load()  # type: ignore[union-attr]
    except (ValueError, TargetUnavailable) as exc:
        raise click.UsageError(str(exc)) from None
    _target_checked(spec, backend, analysis)  # e.g. text kfp.local would read as placeholders
    folder = Path(state_dir) if state_dir else Path(".mlspec") / "run" / pipeline.name
    try:
        result = run_pipeline(
            pipeline,
            Path(spec),
            engine=target,
            state_folder=folder,
            params=values,
            echo=lambda line: click.echo(
                f"  | {line}" if not line.startswith("mlspec") else line, err=fmt == "json"
            ),
            verbose=verbose,
            airflow_python=airflow_python,
        )
    except EngineUnavailable as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(render(result), nl=False, err=fmt == "json")
    if fmt == "json":
        click.echo(json.dumps(result.as_json(), indent=2))
    sys.exit(EXIT_REFUSED if result.outcome == "failed" else EXIT_OK)


if __name__ == "__main__":  # pragma: no cover
    main()
