"""Commands on specs themselves: validate, compile, graph, schema, targets, init."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlspec.cli.common import (
    EXIT_OK,
    EXIT_SPEC,
    Format,
    Report,
    analyze,
    analyzed,
    backend,
    checked,
    complete_targets,
    format_option,
    in_environment,
    result_format,
    why,
)
from mlspec.diagnostics import Diagnostic

if TYPE_CHECKING:
    from mlspec.backends.base import Artifact
    from mlspec.backends.rollout.gitops import Repository
    from mlspec.compiler import Analysis


def _unreadable(name: str, problem: str) -> Diagnostic:
    from mlspec.diagnostics import Span

    return Diagnostic(
        Span(name, 1, 1, 1, 1),
        "MS012",
        f"cannot read the file: {problem}",
        "check the path; a spec is a regular file of UTF-8 text",
    )


@click.command()
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
@format_option
def validate(specs: tuple[str, ...], target_names: tuple[str, ...], fmt: Format) -> None:
    """Check SPECS and report every problem at its line and column.

    SPECS are files, folders (searched for YAML files that declare `apiVersion: mlspec/v1`)
    or `-` for standard input. Every spec is checked; one that cannot be read is reported too.
    """
    from mlspec.api import check_targets
    from mlspec.specfiles import collect

    names = _names(target_names)
    checkers = [backend(name) for name in names]  # usage errors before any spec is read
    report = Report(fmt)
    summaries = []
    inputs, notes = collect(specs, sys.stdin.buffer)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    for spec in inputs:
        if spec.problem is not None:
            report.add([_unreadable(spec.name, spec.problem)], spec.name, b"")
            continue
        path = spec.name
        analysis = analyzed(spec.raw, path, report)
        if analysis is None:
            continue
        problems = check_targets(analysis.pipeline, names)
        problems += [d for d in _in_environments(analysis, names) if d not in problems]
        report.diagnostics += problems
        if any(d.severity == "error" for d in problems):
            continue
        steps, gates = len(analysis.spec.steps), len(analysis.spec.gates)
        checked = f"; {', '.join(b.name for b in checkers)} checked" if checkers else ""
        envs = len(analysis.spec.environments)
        counts = f"{_count(steps, 'step')}, {_count(gates, 'gate')}"
        counts += f", {_count(envs, 'environment')}{checked}" if envs else checked
        if analysis.spec.monitor is not None:
            watched = analysis.spec.monitor.model
            counts = f"monitor of {watched.pipeline}@{watched.alias}{checked}"
        summaries.append(f"{path}: ok ({counts})")
    report.emit()
    if fmt == "text":
        for line in summaries:
            click.echo(line)
    sys.exit(EXIT_SPEC if report.failed else EXIT_OK)


def _in_environments(analysis: Analysis, targets: list[str]) -> list[Diagnostic]:
    """What the spec has, bound to each of its environments (and, for `targets`, what they
    say of it there), each problem once."""
    from mlspec.api import check_targets
    from mlspec.diagnostics import SpecError

    found: list[Diagnostic] = []
    for name in analysis.spec.environments:
        try:
            bound = analysis.for_environment(name)
        except SpecError as exc:
            found += exc.diagnostics
            continue
        found += check_targets(bound.pipeline, targets)
    return list(dict.fromkeys(found))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _names(values: tuple[str, ...]) -> list[str]:
    """Target names from repeated and comma-separated options, each once, in order."""
    names = [n.strip() for value in values for n in value.split(",")]
    if any(not n for n in names):
        raise click.UsageError("--target: an empty target name")
    return list(dict.fromkeys(names))


@click.command("compile")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--target",
    "-t",
    required=True,
    shell_complete=complete_targets,
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
    "--env",
    "env",
    metavar="NAME|all",
    help="Compile the spec as it runs in environment NAME (its `environments:` entry); `all`: "
    "every environment, each into OUTPUT/NAME/.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing: compare OUTPUT with what would be generated; exit 0 if it is up to "
    "date, 1 with a diff if it is stale.",
)
@click.option(
    "--gitops-repo",
    metavar="URL",
    help="--target rollout of a spec with environments: write one GitOps tree (a kustomize "
    "base, an overlay and an Argo CD Application per environment) that Argo CD syncs from this "
    "Git repository (repoURL).",
)
@click.option(
    "--gitops-revision",
    metavar="REV",
    help="The branch, tag or commit of --gitops-repo that Argo CD syncs (targetRevision).",
)
@click.option(
    "--gitops-path",
    metavar="PATH",
    help="Where OUTPUT is in --gitops-repo ('.': its root).",
)
@format_option
def compile_command(
    spec: str,
    target: str,
    out_dir: str,
    model_version: str | None,
    model_uri: str | None,
    env: str | None,
    check: bool,
    gitops_repo: str | None,
    gitops_revision: str | None,
    gitops_path: str | None,
    fmt: Format,
) -> None:
    """Check SPEC and generate the pipeline for TARGET into OUTPUT (with the rollout manifests
    under OUTPUT/rollout/ when the spec has a rollout section).

    With --env NAME, the spec as it runs in that environment; with --env all, every
    environment of the spec, each in OUTPUT/NAME/ (one write: all of them or none).

    With --gitops-repo, --gitops-revision and --gitops-path, a spec with environments compiles
    for --target rollout to one GitOps tree: OUTPUT/base/ (the spec as written),
    OUTPUT/overlays/ENV/ per environment and OUTPUT/argocd/ (an Argo CD Application per
    environment, syncing its overlay from that repository, revision and folder).

    With --check, for generated files committed to git: OUTPUT is compared with what would be
    generated now (with --env all, every environment's folder), and nothing is written.
    """
    from mlspec.compiler.checks.environments import ALL
    from mlspec.output import OutputError, recover, write_tree

    try:
        if not check:  # --check writes nothing, not even a restored backup
            recover(Path(out_dir))
    except OutputError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.UsageError(f"cannot restore the previous {out_dir}: {why(exc)}") from None

    backend(target)  # an unknown target is a usage error before the spec is read
    gitops = {"--gitops-repo": gitops_repo, "--gitops-revision": gitops_revision}
    gitops["--gitops-path"] = gitops_path
    report = Report(fmt)
    analysis = analyze(spec, report)
    artifacts = None
    if analysis is not None and any(gitops.values()):
        artifacts = _gitops_tree(analysis, target, env, gitops, model_version, model_uri, report)
    elif analysis is not None:
        artifacts = _generated(analysis, target, env, model_version, model_uri, report)
    if artifacts is None:
        report.emit()
        if check:
            click.echo(f"{spec} has errors, so {out_dir} was not compared", err=True)
        sys.exit(EXIT_SPEC)
    if check:
        report.emit()
        pins = [("--model-version", model_version), ("--model-uri", model_uri), ("--env", env)]
        pins += gitops.items()
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
        raise click.UsageError(f"cannot write {out_dir}: {why(exc)}") from None
    report.emit()
    if fmt == "text":
        where = f"{target}, environment {env}" if env and env != ALL else target
        where += ", every environment" if env == ALL else ""
        click.echo(f"{spec}: wrote {len(written)} file(s) to {out_dir} ({where})")
        for path in written:
            click.echo(f"  {path}")
    sys.exit(EXIT_OK)


def _gitops_tree(
    analysis: Analysis,
    target: str,
    env: str | None,
    gitops: dict[str, str | None],
    model_version: str | None,
    model_uri: str | None,
    report: Report,
) -> tuple[Artifact, ...] | None:
    """The GitOps tree of a spec with environments: base, an overlay per environment and the
    Argo CD Applications; None (and the problems in the report) if it has an error."""
    from mlspec.api import compile_gitops, emitted
    from mlspec.compiler.checks.environments import ALL
    from mlspec.compiler.passes import PassError

    if target != "rollout" or not analysis.spec.environments or env not in (None, ALL):
        raise click.UsageError(
            "--gitops-repo, --gitops-revision and --gitops-path apply to --target rollout of a "
            "spec with environments (every environment: without --env, or with --env all)"
        )
    try:
        compiled = compile_gitops(
            analysis, _repository(gitops), model_version=model_version, model_uri=model_uri
        )
    except PassError as exc:
        raise click.UsageError(str(exc)) from None
    report.diagnostics += compiled.diagnostics
    return None if report.failed else emitted(compiled).artifacts


def _repository(flags: dict[str, str | None]) -> Repository:
    """Where Argo CD reads the GitOps tree: all three flags, never a guess."""
    from pathlib import PurePosixPath

    from mlspec.backends.rollout.gitops import Repository

    missing = [flag for flag, value in flags.items() if not value]
    if missing:
        raise click.UsageError(
            f"the GitOps tree's Argo CD Applications also need {', '.join(missing)} (the "
            "repository, revision and folder Argo CD syncs OUTPUT from)"
        )
    url, revision, path = (value or "" for value in flags.values())
    if PurePosixPath(path).is_absolute() or ".." in PurePosixPath(path).parts:
        raise click.UsageError(f"--gitops-path {path!r}: a folder inside the repository")
    return Repository(url, revision, path)


def _generated(
    analysis: Analysis,
    target: str,
    env: str | None,
    model_version: str | None,
    model_uri: str | None,
    report: Report,
) -> tuple[Artifact, ...] | None:
    """What compile writes: the spec's files, one environment's, or every environment's under
    NAME/; None (and the problems in the report) if any of them has an error."""
    from dataclasses import replace

    from mlspec.api import compile_pipeline, emitted
    from mlspec.backends.registry import TargetUnavailable
    from mlspec.compiler.checks.environments import ALL
    from mlspec.compiler.passes import PassError

    bound = {"": analysis} if env is None else _environments(analysis, env, report)
    if bound is None:
        return None
    found: list[Artifact] = []
    for name, one in bound.items():
        try:
            compiled = compile_pipeline(
                one, target, model_version=model_version, model_uri=model_uri, emit=False
            )
        except PassError as exc:
            raise click.UsageError(str(exc)) from None
        new = [d for d in compiled.diagnostics if d not in report.diagnostics]
        report.diagnostics += new  # an environment repeats what the spec says everywhere
        if report.failed:
            continue
        try:
            artifacts = emitted(compiled).artifacts
        except TargetUnavailable as exc:  # e.g. the target's optional extra is missing
            report.emit()
            raise click.UsageError(str(exc)) from None
        folder = f"{name}/" if env == ALL else ""
        found += [replace(a, path=folder + a.path) for a in artifacts]
    return None if report.failed else tuple(sorted(found))


def _environments(analysis: Analysis, env: str, report: Report) -> dict[str, Analysis] | None:
    """The analysis bound to `env` (or to every environment), by name; None (and the
    problems in the report) if there is no such environment or a bound spec has an error."""
    from mlspec.compiler import environments
    from mlspec.compiler.checks.environments import ALL
    from mlspec.diagnostics import SpecError

    names = environments.names(analysis.spec) if env == ALL else (env,)
    if not names:
        names = (ALL,)  # not declared: for_environment says so, where environments would be
    bound: dict[str, Analysis] = {}
    for name in names:
        try:
            bound[name] = analysis.for_environment(name)
        except SpecError as exc:
            report.diagnostics += [d for d in exc.diagnostics if d not in report.diagnostics]
    return None if report.failed else bound


def _check_drift(
    artifacts: tuple[Artifact, ...], out_dir: str, fmt: Format, again: list[str]
) -> int:
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
        raise click.UsageError(f"cannot read {out_dir}: {why(exc)}") from None
    update = shlex.join(again)
    if fmt == "github" and found.stale:
        click.echo(drift.github_annotation(found, update), nl=False)
    click.echo(drift.render(found, update), nl=False, err=fmt == "json")
    return EXIT_SPEC if found.stale else EXIT_OK


@click.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot", "json"]),
    default="mermaid",
    show_default=True,
    help="Mermaid (GitHub renders it in markdown), Graphviz DOT, or JSON for tools.",
)
@click.option(
    "--env",
    "env",
    metavar="NAME",
    help="Draw the pipeline as it runs in this environment, with what the environment binds.",
)
def graph(spec: str, fmt: str, env: str | None) -> None:
    """Print SPEC's steps, gates, promotions and rollout as a graph.

    With --env, as it runs in that environment: its registry, artifact root, namespace and
    serving size in a box of their own, and the gates it makes stricter with the bounds there.
    """
    from mlspec import graph as graphs

    analysis = checked(spec)
    if env is None:
        drawn = graphs.build(analysis.pipeline)
    else:
        drawn = graphs.environment(in_environment(analysis, spec, env))
    render = {"mermaid": graphs.mermaid, "dot": graphs.dot, "json": graphs.as_json}[fmt]
    click.echo(render(drawn), nl=False)


@click.command()
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


@click.command()
def schema() -> None:
    """Print the JSON Schema of the spec language (for editors)."""
    from mlspec.schema import json_schema

    click.echo(json_schema(), nl=False)


@click.command("targets")
@result_format("For people, or JSON for tools.")
def list_targets(fmt: str) -> None:
    """List the targets: what each compiles to, and which `deploy` and `run` support."""
    from mlspec.backends.registry import plugin_problems, targets

    found = targets()
    for problem in plugin_problems():
        click.echo(f"warning: {problem}", err=True)
    rows = [
        {
            "name": t.name,
            "summary": t.summary,
            "deploy": t.deployer is not None,
            "run": t.engine is not None,
        }
        for t in found.values()
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    commands = {
        t.name: ", ".join(
            ["compile", *(["deploy"] if t.deployer else []), *(["run"] if t.engine else [])]
        )
        for t in found.values()
    }
    width = max(len(n) for n in found)
    does = max(len(c) for c in commands.values())
    for t in found.values():
        click.echo(f"{t.name:<{width}}  {commands[t.name]:<{does}}  {t.summary}")
