"""How a Prefect worker gets the flow and its step code: prefect.yaml's pull steps.

With `code.git`, prefect.yaml's `pull` clones the repository at the pinned commit with
Prefect's own `git_clone` step and moves into `code.git.path` of the clone, the compiled folder:
the flow, its runtime and the pinned step packages all come from the reviewed commit. With
`code.image`, the work pool's job variables name the image (a Docker or Kubernetes pool runs
the flow in it). Without either, workers load the flow from a folder they share with the deploy.

Prefect substitutes `{{ ... }}` in every pull step's text (from earlier steps' outputs, blocks,
variables and the environment) and has no escape for it: spec text with `{{` is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlspec.compiler import ir
from mlspec.diagnostics import Diagnostic, Span

NOT_EXPRESSIBLE = "MS301"
CHANGED_ON_TARGET = "MS302"

GIT_CLONE = "prefect.deployments.steps.git_clone"
SET_WORKING_DIRECTORY = "prefect.deployments.steps.set_working_directory"
# The clone step's id: the next step reads the clone's folder as `{{ clone.directory }}`.
CLONE_ID = "clone"


def _codes(pipeline: ir.Pipeline) -> list[tuple[ir.Step, ir.Code]]:
    return [(s, s.code) for s in pipeline.steps if s.code is not None]


def git_source(pipeline: ir.Pipeline) -> ir.GitSource | None:
    """The one repository and commit the flow is pulled from (check refuses several)."""
    sources = [code.git for _, code in _codes(pipeline) if code.git is not None]
    return sources[0] if sources else None


def image(pipeline: ir.Pipeline) -> str | None:
    """The image the flow runs on: the one `code.image` of its Python steps."""
    images = [code.image for _, code in _codes(pipeline) if code.image is not None]
    return images[0] if images else None


def pull_steps(git: ir.GitSource) -> list[dict[str, object]]:
    """Prefect's git clone at the pinned commit, then the compiled folder in the clone."""
    directory = f"{{{{ {CLONE_ID}.directory }}}}"
    if git.path != ".":
        directory += f"/{git.path}"
    return [
        {
            GIT_CLONE: {
                "id": CLONE_ID,
                "repository": git.url,
                "commit_sha": git.commit,
                "include_submodules": False,
            }
        },
        {SET_WORKING_DIRECTORY: {"directory": directory}},
    ]


_PIN_COMMIT = (
    "commit the compiled output and pin it with `code: {git: {url, commit, path}}` in defaults: "
    "prefect.yaml then clones that commit on the worker"
)
_MONITOR_FOLDER = (
    "mount that folder at one path on every worker (a Monitor spec has no code to pin)"
)


def problems(pipeline: ir.Pipeline) -> list[Diagnostic]:
    found = _one_each(pipeline)
    git = git_source(pipeline)
    if git is not None and "{{" in git.url:
        found.append(
            Diagnostic(
                git.span,
                NOT_EXPRESSIBLE,
                "the git repository contains '{{', which Prefect would replace as a "
                "placeholder when it runs the pull step",
                "Prefect has no escape for '{{' in prefect.yaml: use a URL without it",
            )
        )
    if git is None:
        found.append(
            Diagnostic(
                pipeline.span,
                CHANGED_ON_TARGET,
                "prefect workers load this flow from the folder `mlspec deploy` writes it to "
                "(--prefect-flow-dir): every worker must see that folder at the same path",
                _MONITOR_FOLDER if pipeline.monitor is not None else _PIN_COMMIT,
                severity="warning",
            )
        )
    found += _not_shipped(pipeline)
    return found


def _one_each(pipeline: ir.Pipeline) -> list[Diagnostic]:
    """One flow run pulls one commit and runs on one image: other values are refused."""
    codes = [code for _, code in _codes(pipeline)]
    gits = [(c.git.span, (c.git.url, c.git.commit, c.git.path)) for c in codes if c.git]
    images = [(c.span, c.image) for c in codes if c.image is not None]
    return _differing("git source", gits) + _differing("code image", images)


def _differing(what: str, values: Sequence[tuple[Span, object]]) -> list[Diagnostic]:
    return [
        Diagnostic(
            span,
            NOT_EXPRESSIBLE,
            f"prefect runs every step in one flow run, which has one {what}; this step's "
            "differs from another's",
            "give the steps one `code:` (in defaults), or compile for kubeflow, which runs "
            "each step in its own container",
        )
        for span, value in values
        if value != values[0][1]
    ]


def _not_shipped(pipeline: ir.Pipeline) -> list[Diagnostic]:
    """A Python step whose package is neither beside the spec, in an image, nor in packages."""
    found: list[Diagnostic] = []
    for step, code in _codes(pipeline):
        if code.package is not None or code.image is not None or step.function is None:
            continue
        top = step.function.partition(":")[0].partition(".")[0]
        if canonicalize_name(top) in {
            canonicalize_name(Requirement(p).name) for p in step.packages
        }:
            continue
        found.append(
            Diagnostic(
                step.span,
                CHANGED_ON_TARGET,
                f"the step package {top!r} of Python step {step.name!r} is not beside the "
                "spec, so the compiled flow does not carry it: the worker must have it installed",
                f"put the folder {top!r} beside the spec (or under `code.root`), or set "
                "`code.image` to an image that contains it",
                severity="warning",
            )
        )
    return found
