"""Building what a spec's Python steps run: build."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mlspec.cli.common import EXIT_OK, EXIT_REFUSED, EXIT_SPEC, Report, analyze, result_format, why
from mlspec.diagnostics import SpecError

if TYPE_CHECKING:
    from mlspec.compiler import Analysis
    from mlspec.compiler.ir import Step
    from mlspec.delivery.image import ImagePlan
    from mlspec.delivery.wheel import Wheel

DOCKER_WAIT = 10.0  # seconds `docker info` may take before the daemon counts as absent


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--output",
    "-o",
    "out_dir",
    default="build/mlspec",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder to write (wheels/, images/); replaced as a whole, only when all succeeded.",
)
@click.option(
    "--push",
    is_flag=True,
    help="Also push each built image to the repository its step's code.image names.",
)
@result_format("For people, or JSON for CI scripts.")
def build(spec: str, out_dir: str, push: bool, fmt: str) -> None:
    """Build the wheel of each step package of SPEC and a Dockerfile per image its Python steps
    need, and print their pinned references.

    OUTPUT/wheels/ holds the wheels to publish where `code.wheels` points (with `code.wheels`
    in defaults, also mlspec's runtime, which Kubeflow gates and promotions install); each
    OUTPUT/images/<package>-<hash>/ is a build context (Dockerfile and wheel) whose tag is a
    hash of its content. The bytes are the same on every machine. Where a Docker daemon
    answers, the images are built (and pushed with --push); where none does, it says so and
    stops after the Dockerfiles.
    """
    from mlspec.output import OutputError, recover, write_tree

    try:
        recover(Path(out_dir))
    except OutputError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.UsageError(f"cannot restore the previous {out_dir}: {why(exc)}") from None
    report = Report("json" if fmt == "json" else "text")
    analysis = analyze(spec, report)
    images = _plans(analysis, spec, report) if analysis is not None else None
    if images is None:
        report.emit()
        sys.exit(EXIT_SPEC)
    assert analysis is not None
    runtime = _runtime_wheel(analysis)
    warnings = Report("text")  # on stderr whatever the format: stdout holds the result
    warnings.add(report.diagnostics, spec, analysis.source.text.encode())
    warnings.emit()
    if not images and runtime is None:
        _say(fmt, f"{spec}: no Python step has a step package beside the spec; nothing to build")
        if fmt == "json":
            click.echo(
                json.dumps(
                    {"wheels": [], "runtime_wheel": None, "images": [], "docker": None}, indent=2
                )
            )
        sys.exit(EXIT_OK)
    if push and not all(i.repository for i in images):
        unnamed = ", ".join(sorted({i.package.name for i in images if not i.repository}))
        raise click.UsageError(
            f"--push: no code.image names a repository for {unnamed}; set code.image to "
            "the repository to push to"
        )
    try:
        written = write_tree(_files(images, runtime), Path(out_dir))
    except OutputError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.UsageError(f"cannot write {out_dir}: {why(exc)}") from None
    docker = _docker()
    built: dict[str, str] = {}  # tag -> what happened
    failed = False
    if docker is None:
        _say(fmt, "no Docker daemon answers (`docker info`): wrote the Dockerfiles, built nothing")
    else:
        for image in images:
            context = Path(out_dir, "images", image.folder)
            commands = [["docker", "build", "--tag", image.tag, str(context)]]
            if push:
                commands.append(["docker", "push", image.tag])
            for command in commands:
                if not _run(command):
                    failed = True
                    break
                built[image.tag] = "pushed" if command[1] == "push" else "built"
    _result(spec, out_dir, images, runtime, written, built, docker, push, fmt)
    sys.exit(EXIT_REFUSED if failed or (push and docker is None) else EXIT_OK)


def _plans(analysis: Analysis, spec: str, report: Report) -> list[ImagePlan] | None:
    """The images to build; None (and diagnostics in the report) if the package is unreadable."""
    from mlspec.backends.kubeflow.plan import DEFAULT_PYTHON_IMAGE
    from mlspec.delivery.image import plans

    try:
        pipeline = analysis.pipeline  # lowering reads the step packages
    except SpecError as exc:
        report.add(exc.diagnostics, spec, analysis.source.text.encode())
        return None
    d = analysis.spec.defaults

    def base(step: Step) -> str:
        # The image the step names itself, before code.image (which this build makes).
        return analysis.spec.steps[step.name].image or d.image or DEFAULT_PYTHON_IMAGE

    python = [step for step in pipeline.steps if step.code is not None]
    for step in python:
        if step.code is not None and step.code.package is None:
            click.echo(
                f"note: step {step.name}: its module {step.function} is not beside the spec, so "
                "nothing is built for it (its image or packages must provide it)",
                err=True,
            )
    return plans([(step, base(step)) for step in python])


def _runtime_wheel(analysis: Analysis) -> Wheel | None:
    """The wheel of mlspec's runtime that the spec's Kubeflow components install, if any."""
    from mlspec.backends.kubeflow.runtime_wheel import runtime_wheel
    from mlspec.delivery.wheel import build_wheel

    package = runtime_wheel(analysis.pipeline)
    return build_wheel(package) if package is not None else None


def _files(images: list[ImagePlan], runtime: Wheel | None) -> list[Any]:
    from mlspec.output import Blob

    files: dict[str, Blob] = {}
    if runtime is not None:
        files[f"wheels/{runtime.filename}"] = Blob(f"wheels/{runtime.filename}", runtime.data)
    for image in images:
        wheel = image.wheel
        files[f"wheels/{wheel.filename}"] = Blob(f"wheels/{wheel.filename}", wheel.data)
        folder = f"images/{image.folder}"
        files[f"{folder}/Dockerfile"] = Blob(f"{folder}/Dockerfile", image.dockerfile.encode())
        files[f"{folder}/{wheel.filename}"] = Blob(f"{folder}/{wheel.filename}", wheel.data)
    return list(files.values())


def _docker() -> str | None:
    """The Docker server's version when a daemon answers in time, else None."""
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=DOCKER_WAIT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or "unknown" if done.returncode == 0 else None


def _run(command: list[str]) -> bool:
    """Run a docker command, its output on stderr (stdout may be JSON); True if it worked."""
    import shlex

    click.echo(f"$ {shlex.join(command)}", err=True)
    try:
        done = subprocess.run(command, stdout=sys.stderr, check=False)
    except OSError as exc:
        click.echo(f"error: {why(exc)}", err=True)
        return False
    if done.returncode != 0:
        click.echo(f"error: {command[0]} {command[1]} failed (exit {done.returncode})", err=True)
    return done.returncode == 0


def _say(fmt: str, line: str) -> None:
    click.echo(line, err=fmt == "json")


def _result(
    spec: str,
    out_dir: str,
    images: list[ImagePlan],
    runtime: Wheel | None,
    written: list[Path],
    built: dict[str, str],
    docker: str | None,
    push: bool,
    fmt: str,
) -> None:
    wheels = {i.package.digest: i for i in images}.values()
    rows: dict[str, Any] = {
        "wheels": [
            {
                "package": i.package.name,
                "digest": i.package.digest,
                "file": f"{out_dir}/wheels/{i.wheel.filename}",
                "sha256": i.wheel.sha256,
            }
            for i in wheels
        ],
        "runtime_wheel": None
        if runtime is None
        else {"file": f"{out_dir}/wheels/{runtime.filename}", "sha256": runtime.sha256},
        "images": [
            {
                "package": i.package.name,
                "steps": list(i.steps),
                "base": i.base,
                "packages": list(i.packages),
                "context": f"{out_dir}/images/{i.folder}",
                "tag": i.tag,
                "state": built.get(i.tag, "dockerfile only"),
            }
            for i in images
        ],
        "docker": docker,
    }
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{spec}: wrote {len(written)} file(s) to {out_dir}")
    for w in wheels:
        click.echo(f"wheel  {w.package.name}  digest {w.package.digest}")
        click.echo(f"       {out_dir}/wheels/{w.wheel.filename}  sha256 {w.wheel.sha256}")
    if runtime is not None:
        click.echo("wheel  mlspec's runtime (the Kubeflow gates and promotions install it)")
        click.echo(f"       {out_dir}/wheels/{runtime.filename}  sha256 {runtime.sha256}")
    for i in images:
        state = built.get(i.tag, "Dockerfile only")
        click.echo(f"image  {i.tag}  ({state}; steps {', '.join(i.steps)}; FROM {i.base})")
        click.echo(f"       {out_dir}/images/{i.folder}/Dockerfile")
        if i.repository:
            after = "" if push and built.get(i.tag) == "pushed" else " once pushed"
            click.echo(
                f"       pin the pushed digest{after}: code.image: {i.repository}@sha256:..."
            )
