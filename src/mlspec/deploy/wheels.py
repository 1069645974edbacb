"""Before a Kubeflow deploy: every pinned wheel (a step package's, the runtime's) is where its
components will fetch it.

A component installs `name @ URL#sha256=...`; a wheel missing from that URL, or one whose bytes
differ, fails every run on the cluster at its first step. The deploy refuses first, naming the
wheel and how to publish it, before anything is changed on the server.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request

from mlspec.backends.kubeflow.runtime_wheel import runtime_wheel
from mlspec.compiler import ir
from mlspec.delivery.wheel import build_wheel
from mlspec.deploy.common import DeployError

MAX_WHEEL_BYTES = 512 * 1024 * 1024
_CHUNK = 1 << 20


def pinned(pipeline: ir.Pipeline) -> list[tuple[str, str]]:
    """(URL, sha256) of each wheel the compiled components install, once each, sorted: the
    step packages' and the runtime's (runtime_wheel.py)."""
    found = {
        (f"{s.code.wheels}/{wheel.filename}", wheel.sha256)
        for s in pipeline.steps
        if s.code is not None and s.code.package is not None and s.code.wheels is not None
        for wheel in [build_wheel(s.code.package)]
    }
    runtime = runtime_wheel(pipeline)
    if runtime is not None:
        wheel = build_wheel(runtime)
        found.add((f"{pipeline.runtime_wheels}/{wheel.filename}", wheel.sha256))
    return sorted(found)


def check_published(pipeline: ir.Pipeline, timeout: float = 30.0) -> list[str]:
    """The wheels that are missing or differ from the pin, one line each (empty: all good)."""
    problems = []
    for url, sha256 in pinned(pipeline):
        try:
            found = _sha256(url, timeout)
        except (OSError, urllib.error.URLError) as exc:
            problems.append(f"{url}: cannot be read ({getattr(exc, 'reason', exc)})")
            continue
        if found != sha256:
            problems.append(f"{url}: its sha256 is {found}, the pipeline pins {sha256}")
    return problems


def require_published(pipeline: ir.Pipeline) -> None:
    problems = check_published(pipeline)
    if problems:
        raise DeployError(
            "the code the components install (step packages, mlspec's runtime) is not published "
            "as pinned:\n    "
            + "\n    ".join(problems)
            + "\n  run `mlspec build SPEC` and publish its wheels/ folder to code.wheels, then "
            "deploy again\n  nothing was changed on the server"
        )


def _sha256(url: str, timeout: float) -> str:
    h = hashlib.sha256()
    total = 0
    # urlopen reads file:// URLs too; only https and file reach here (compiler/fields.py).
    with urllib.request.urlopen(url, timeout=timeout) as stream:
        while chunk := stream.read(_CHUNK):
            total += len(chunk)
            if total > MAX_WHEEL_BYTES:
                raise OSError(f"larger than {MAX_WHEEL_BYTES >> 20} MiB")
            h.update(chunk)
    return h.hexdigest()
