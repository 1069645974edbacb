"""`mlspec build`: the step package's wheel and image build context, byte for byte the same on
every machine, installable by real pip, and the pinned references it prints.

No Docker daemon is needed: the tests point the real docker client at a socket where none
answers, so `build` must say so and stop after the Dockerfiles.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from click.testing import CliRunner, Result

from mlspec.cli import main

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "examples" / "breast-cancer"
NO_DAEMON = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def run(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args], env={**NO_DAEMON, **(env or {})})
    assert "Traceback" not in result.output, result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`mlspec` in a process of its own: nothing cached from an earlier build."""
    return subprocess.run(
        [sys.executable, "-m", "mlspec.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **NO_DAEMON, **env},
        check=False,
    )


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _with_code(text: str, field: str) -> str:
    """The flagship's spec text with one more field in its defaults.code."""
    assert text.count("\n  code:\n") == 1
    return text.replace("\n  code:\n", f"\n  code:\n    {field}\n")


def test_two_builds_write_the_same_bytes_whatever_source_date_epoch_says(tmp_path: Path) -> None:
    spec = str(FLAGSHIP / "pipeline.yaml")
    outputs = []
    for n, epoch in enumerate(("0", "1700000000")):
        out = tmp_path / f"out{n}"
        done = _cli(
            ["build", spec, "-o", str(out), "--format", "json"], {"SOURCE_DATE_EPOCH": epoch}
        )
        assert done.returncode == 0, done.stderr
        outputs.append((_files(out), json.loads(done.stdout)))
    (first, refs), (second, refs2) = outputs
    assert first == second
    assert [w["sha256"] for w in refs["wheels"]] == [w["sha256"] for w in refs2["wheels"]]
    assert [i["tag"] for i in refs["images"]] == [i["tag"] for i in refs2["images"]]
    [wheel] = refs["wheels"]
    name = Path(wheel["file"]).name
    assert first[f"wheels/{name}"] == (Path(wheel["file"])).read_bytes()
    [image] = refs["images"]
    assert image["tag"].startswith("breast_cancer:") and len(image["tag"].split(":")[1]) == 12
    assert image["state"] == "dockerfile only"
    assert "no Docker daemon answers" in done.stderr


def test_the_wheel_installs_with_pip_into_a_fresh_venv_and_imports(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("build", FLAGSHIP / "pipeline.yaml", "-o", out).exit_code == 0
    [wheel] = (out / "wheels").glob("breast_cancer-*.whl")  # beside it, the runtime's
    uv = shutil.which("uv")
    assert uv is not None, "the tests run under uv"
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "-q", "--offline", "--python", str(python), str(wheel)],
        check=True,
        timeout=120,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shown = subprocess.run(
        [str(python), "-c", "import breast_cancer.steps as s; print(s.__file__)"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env={"PATH": "/usr/bin:/bin"},
        check=True,
        timeout=60,
    ).stdout.strip()
    installed = Path(shown)
    assert installed.is_relative_to(venv), installed
    assert installed.read_bytes() == (FLAGSHIP / "breast_cancer" / "steps.py").read_bytes()


def test_the_dockerfile_installs_the_declared_packages_and_the_wheel_on_the_base(
    tmp_path: Path,
) -> None:
    shutil.copytree(FLAGSHIP, tmp_path / "p")
    spec = tmp_path / "p" / "pipeline.yaml"
    text = spec.read_text(encoding="utf-8")
    marker = 'pandas; python_version >= "3.9"'
    text = text.replace(
        "  packages: [scikit-learn>=1.5]\n", f"  packages: [scikit-learn>=1.5, '{marker}']\n"
    )
    spec.write_text(_with_code(text, "image: 'registry.local:5000/acme/steps:old'"), "utf-8")
    result = run("build", spec, "-o", tmp_path / "out", "--format", "json")
    assert result.exit_code == 0, result.output
    [image] = json.loads(result.stdout)["images"]
    # code.image names the repository; the base is the image the step had before it.
    assert image["tag"].startswith("registry.local:5000/acme/steps:")
    assert image["base"] == "python:3.11-slim"
    dockerfile = (Path(image["context"]) / "Dockerfile").read_text(encoding="utf-8")
    lines = dockerfile.splitlines()
    assert "FROM python:3.11-slim" in lines
    [run_line] = [line for line in lines if "pip" in line]
    wheel = next(Path(image["context"]).glob("*.whl")).name
    mount, _, command = run_line.partition(" [")
    # The wheel is mounted for this RUN only: no layer keeps it.
    assert mount == f"RUN --mount=type=bind,source={wheel},target=/tmp/mlspec-wheel/{wheel}"
    install = json.loads(f"[{command}")  # exec form: no shell reads the text
    assert install[-3:] == ["scikit-learn>=1.5", marker, f"/tmp/mlspec-wheel/{wheel}"]
    assert not [line for line in lines if line.startswith(("COPY", "ADD"))]
    text_out = run("build", spec, "-o", tmp_path / "out").output
    assert "pin the pushed digest once pushed: code.image: registry.local:5000/acme/steps@" in (
        text_out
    )


def test_push_needs_a_repository_and_a_daemon(tmp_path: Path) -> None:
    out = tmp_path / "out"
    unnamed = run("build", FLAGSHIP / "pipeline.yaml", "-o", out, "--push")
    assert unnamed.exit_code == 2 and "no code.image names a repository" in unnamed.output
    assert not out.exists()
    shutil.copytree(FLAGSHIP, tmp_path / "p")
    spec = tmp_path / "p" / "pipeline.yaml"
    text = spec.read_text(encoding="utf-8")
    spec.write_text(_with_code(text, "image: ghcr.io/acme/s:1"), encoding="utf-8")
    refused = run("build", spec, "-o", out, "--push")
    assert refused.exit_code == 3, refused.output  # asked to push, and nothing can
    assert "no Docker daemon answers" in refused.output
    assert "(Dockerfile only;" in refused.output and len(list(out.glob("images/*/Dockerfile"))) == 1


def test_a_bad_spec_or_package_is_a_diagnostic_and_writes_nothing(tmp_path: Path) -> None:
    shutil.copytree(FLAGSHIP, tmp_path / "p")
    spec = tmp_path / "p" / "pipeline.yaml"
    (tmp_path / "p" / "breast_cancer" / "link.py").symlink_to("/etc/hostname")
    out = tmp_path / "out"
    result = run("build", spec, "-o", out)
    assert result.exit_code == 1
    assert f"{spec}:" in result.stderr and "MS104" in result.stderr
    assert "symbolic link" in result.stderr
    assert not out.exists()
    spec.write_text(spec.read_text(encoding="utf-8").replace("retries:", "retires:", 1))
    result = run("build", spec, "-o", out, "--format", "json")
    assert result.exit_code == 1
    assert any(
        d["code"] == "MS101" or d["code"].startswith("MS1") for d in json.loads(result.stdout)
    )
    assert not out.exists()


def test_a_spec_without_a_step_package_builds_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(
        textwrap.dedent(
            """\
            apiVersion: mlspec/v1
            kind: Pipeline
            metadata: {name: demo, version: 1.0.0}
            steps:
              make: {python: not_here.steps:make}
            """
        ),
        encoding="utf-8",
    )
    result = run("build", spec, "-o", tmp_path / "out")
    assert result.exit_code == 0
    assert "nothing to build" in result.output
    assert "step make: its module not_here.steps:make is not beside the spec" in result.stderr
    assert not (tmp_path / "out").exists()
