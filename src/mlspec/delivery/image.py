"""The image of a step package: a Dockerfile that installs the pinned wheel and the step's
declared packages onto its base image, named by a hash of what goes into it.

The build context is the Dockerfile and the wheel, nothing else, so the tag (a sha256 over the
two) names the image's content before any image exists: CI builds and pushes it, and the spec
pins the pushed digest (`code.image: repo@sha256:...`). RUN uses the exec form, so the
packages (spec text) reach pip as arguments and never pass through a shell; the wheel is
bind-mounted for that one RUN (BuildKit, Docker's default builder since 23.0), so no layer
keeps a copy of it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from mlspec.compiler import ir
from mlspec.delivery.wheel import Wheel, build_wheel

WHEEL_DIR = "/tmp/mlspec-wheel"  # where the wheel is mounted while pip installs it


@dataclass(frozen=True)
class ImagePlan:
    package: ir.CodePackage
    base: str  # the image the step would run on without its code: step, defaults, else default
    packages: tuple[str, ...]  # the step's declared packages (pip requirements)
    repository: str | None  # the repository code.image names, if any
    steps: tuple[str, ...]  # the steps that run on it

    @property
    def wheel(self) -> Wheel:
        return build_wheel(self.package)

    @property
    def dockerfile(self) -> str:
        wheel = self.wheel.filename
        install = [
            "python",
            "-m",
            "pip",
            "install",
            "--no-cache-dir",
            "--disable-pip-version-check",
            *self.packages,
            f"{WHEEL_DIR}/{wheel}",
        ]
        return (
            f"# Written by mlspec build: step package {self.package.name} "
            f"(digest {self.package.digest[:12]}), for steps {', '.join(self.steps)}.\n"
            f"FROM {self.base}\n"
            f"RUN --mount=type=bind,source={wheel},target={WHEEL_DIR}/{wheel} "
            f"{json.dumps(install)}\n"
        )

    @property
    def content_hash(self) -> str:
        """sha256 over the build context, each part length-prefixed so no two contexts meet."""
        h = hashlib.sha256()
        for part in (self.dockerfile.encode("utf-8"), self.wheel.data):
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
        return h.hexdigest()

    @property
    def folder(self) -> str:
        """The build context's folder under images/: the package and the content hash."""
        return f"{self.package.name}-{self.content_hash[:12]}"

    @property
    def tag(self) -> str:
        return f"{self.repository or self.package.name}:{self.content_hash[:12]}"


def repository(image: str) -> str:
    """An image reference without its tag and digest: ghcr.io/acme/steps@sha256:... ->
    ghcr.io/acme/steps (a registry's port stays: its ':' comes before the last '/')."""
    name = image.partition("@")[0]
    head, slash, last = name.rpartition("/")
    return f"{head}{slash}{last.partition(':')[0]}"


def plans(steps: list[tuple[ir.Step, str]]) -> list[ImagePlan]:
    """One image per distinct (package, base image, packages, repository) among Python steps
    that have a package beside the spec; `steps` pairs each step with its base image."""
    groups: dict[tuple[str, str, tuple[str, ...], str | None], list[ir.Step]] = {}
    packages: dict[str, ir.CodePackage] = {}
    for step, base in steps:
        code = step.code
        if code is None or code.package is None:
            continue
        repo = repository(code.image) if code.image else None
        key = (code.package.digest, base, step.packages, repo)
        groups.setdefault(key, []).append(step)
        packages[code.package.digest] = code.package
    return [
        ImagePlan(packages[digest], base, pkgs, repo, tuple(s.name for s in members))
        for (digest, base, pkgs, repo), members in groups.items()
    ]
