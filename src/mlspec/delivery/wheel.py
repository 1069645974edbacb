"""The wheel of a step package (or of mlspec's runtime, for Kubeflow), built by hatchling the
same way on every machine.

The compiled Kubeflow files pin the wheel's sha256, and `mlspec build` writes the wheel CI
publishes, so both must get the same bytes from the same files: the package is copied into a
fresh folder with a generated pyproject.toml, and the build's timestamp is fixed (a
SOURCE_DATE_EPOCH set by the caller's CI would otherwise change every hash).
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from mlspec.compiler import ir
from mlspec.compiler.code import package_digest
from mlspec.runtime import embed

# 1980-01-01, the earliest time a zip entry can carry.
SOURCE_DATE_EPOCH = "315532800"
_ENV_LOCK = threading.Lock()


@dataclass(frozen=True)
class Wheel:
    filename: str
    data: bytes
    sha256: str

    @property
    def version(self) -> str:
        return self.filename.split("-")[1]


def version(package: ir.CodePackage) -> str:
    """The wheel's version names its content: a new digest, a new file name."""
    return f"0+{package.digest[:16]}"


def filename(package: ir.CodePackage) -> str:
    return f"{package.name}-{version(package)}-py3-none-any.whl"


def requirement(package: ir.CodePackage, wheels: str) -> str:
    """A PEP 508 direct reference that pip installs only if the wheel's sha256 matches."""
    wheel = build_wheel(package)
    return f"{package.name} @ {wheels}/{wheel.filename}#sha256={wheel.sha256}"


def runtime_package(pkg: embed.Package) -> ir.CodePackage:
    """mlspec's runtime package as a step package is: its folder's files, pinned by digest."""
    files = tuple(ir.PackageFile(f"{pkg.name}/{name}", text.encode()) for name, text in pkg.files)
    return ir.CodePackage(pkg.name, package_digest(files), files)


@functools.cache
def build_wheel(package: ir.CodePackage) -> Wheel:
    with tempfile.TemporaryDirectory(prefix="mlspec-wheel-") as tmp:
        root = Path(tmp, "project")
        for f in package.files:
            path = root / f.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f.data)
        (root / "pyproject.toml").write_text(_pyproject(package), encoding="utf-8")
        out = Path(tmp, "dist")
        built = Path(_build(root, out))
        data = built.read_bytes()
    wheel = Wheel(built.name, data, hashlib.sha256(data).hexdigest())
    assert wheel.filename == filename(package), wheel.filename
    return wheel


def _pyproject(package: ir.CodePackage) -> str:
    is_module = len(package.files) == 1 and package.files[0].path == f"{package.name}.py"
    target = (
        f'only-include = ["{package.name}.py"]' if is_module else f'packages = ["{package.name}"]'
    )
    return (
        "[build-system]\n"
        'requires = ["hatchling"]\n'
        'build-backend = "hatchling.build"\n\n'
        "[project]\n"
        f'name = "{package.name}"\n'
        f'version = "{version(package)}"\n'
        'requires-python = ">=3"\n\n'
        "[tool.hatch.build.targets.wheel]\n"
        f"{target}\n"
        "reproducible = true\n"
    )


def _build(root: Path, out: Path) -> str:
    from hatchling.builders.wheel import WheelBuilder

    with _ENV_LOCK:
        saved = os.environ.get("SOURCE_DATE_EPOCH")
        os.environ["SOURCE_DATE_EPOCH"] = SOURCE_DATE_EPOCH
        try:
            return next(WheelBuilder(str(root)).build(directory=str(out), versions=["standard"]))
        finally:
            if saved is None:
                del os.environ["SOURCE_DATE_EPOCH"]
            else:
                os.environ["SOURCE_DATE_EPOCH"] = saved
