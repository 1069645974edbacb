"""Compiles that write one output folder at the same time take turns (issue #15, item 1).

Each compile holds a lock beside the folder from before it looks at the folder to after its
final rename, so none removes a temporary folder that another is still filling: the folder is
always exactly one compile's complete output, and nothing is left beside it. Real `mlspec
compile` processes race here; the slow writer below makes the interleaving deterministic.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHURN = ROOT / "examples" / "churn-containers" / "pipeline.yaml"
BREAST_CANCER = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
TARGET = "rollout"  # one file per analysis: the fastest way to many files


def many_analyses(count: int) -> str:
    """The churn example with `count` more analyses after promotion: as many more files."""
    text = CHURN.read_text(encoding="utf-8")
    names = ", ".join(f"extra{i}" for i in range(count))
    old_list = "post_promotion_analysis: [error_rate]"
    assert text.count(old_list) == 1
    text = text.replace(old_list, f"post_promotion_analysis: [error_rate, {names}]")
    extra = "".join(
        f"    extra{i}:\n      prometheus:\n        query: sum(rate(extra_{i}[5m]))\n"
        "      max: 0.01\n"
        for i in range(count)
    )
    assert text.count("\nschedule:") == 1
    return text.replace("\nschedule:", f"{extra}\nschedule:")


def command(spec: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "mlspec.cli", "compile", str(spec), "-t", TARGET, "-o", str(out)]


def compile_alone(spec: Path, out: Path) -> dict[str, bytes]:
    done = subprocess.run(command(spec, out), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return folder(out)


def folder(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
    }


def leftovers(out: Path) -> list[str]:
    """Whatever a compile left beside the folder: temporaries, backups, lock files."""
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, bytes]]]:
    """name -> (spec file, what it compiles to alone)."""
    base = tmp_path_factory.mktemp("specs")
    found = {}
    for name, text in {
        "large": many_analyses(500),
        "churn": CHURN.read_text(encoding="utf-8"),
        "breast-cancer": BREAST_CANCER.read_text(encoding="utf-8"),
    }.items():
        spec = base / f"{name}.yaml"
        spec.write_text(text, encoding="utf-8")
        found[name] = (spec, compile_alone(spec, base / f"alone-{name}"))
    assert len(found["large"][1]) > 500  # the files, the kustomization and the manifest
    return found


def assert_one_complete_output(out: Path, specs: dict[str, tuple[Path, dict[str, bytes]]]) -> str:
    have = folder(out)
    manifest = have[".mlspec-manifest"].decode().splitlines()[1:]
    assert sorted(manifest) == sorted(p for p in have if p != ".mlspec-manifest"), (
        f"{len(have)} files, the manifest lists {len(manifest)}"
    )
    matches = [name for name, (_, alone) in specs.items() if have == alone]
    assert matches, f"{out} holds {len(have)} files: no compile's complete output"
    return matches[0]


@pytest.mark.parametrize(
    ("names", "rounds"),
    [(("large", "churn"), 3), (("large", "churn", "large", "breast-cancer"), 2)],
    ids=["two", "four"],
)
def test_concurrent_compiles_leave_one_complete_output(
    tmp_path: Path,
    specs: dict[str, tuple[Path, dict[str, bytes]]],
    names: tuple[str, ...],
    rounds: int,
) -> None:
    out = tmp_path / "out"
    for round_ in range(rounds):
        processes = []
        for i, name in enumerate(names):
            processes.append(
                subprocess.Popen(
                    command(specs[name][0], out),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
            time.sleep(0.15 * ((i + round_) % 3))  # vary which one reaches the folder first
        for process in processes:
            _, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
        assert assert_one_complete_output(out, specs) in names
        assert leftovers(out) == []


# A writer that takes its time: it fills its temporary folder one file every 10 ms.
SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    from mlspec import output
    from mlspec.backends.base import Artifact

    class Slow(str):
        def encode(self, *args):
            time.sleep(0.01)
            return str(self).encode(*args)

    out, count = Path(sys.argv[1]), int(sys.argv[2])
    artifacts = [Artifact(f"slow/{i:04}.txt", Slow(f"{i}\\n")) for i in range(count)]
    output.write_tree(artifacts, out)
    print("written")
    """
)


def start_slow_writer(out: Path, count: int = 200) -> subprocess.Popen[str]:
    writer = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(out), str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(out.parent.glob(f".{out.name}.mlspec-tmp-*")):
        assert writer.poll() is None, writer.communicate()
        assert time.monotonic() < deadline, "the slow writer never started writing"
        time.sleep(0.01)
    return writer


def test_a_compile_waits_for_the_writer_it_would_have_disturbed(
    tmp_path: Path, specs: dict[str, tuple[Path, dict[str, bytes]]]
) -> None:
    out = tmp_path / "out"
    writer = start_slow_writer(out)
    # The writer's temporary folder is half full: this compile must neither remove it nor
    # swap in its own output before the writer is done.
    done = subprocess.run(command(specs["churn"][0], out), capture_output=True, text=True)
    stdout, stderr = writer.communicate(timeout=60)
    assert (writer.returncode, stdout) == (0, "written\n"), stderr
    assert done.returncode == 0, done.stderr
    assert folder(out) == specs["churn"][1]  # the compile that came second wins, complete
    assert leftovers(out) == []


def test_check_waits_for_a_writer(
    tmp_path: Path, specs: dict[str, tuple[Path, dict[str, bytes]]]
) -> None:
    out = tmp_path / "out"
    assert compile_alone(specs["churn"][0], out) == specs["churn"][1]
    writer = start_slow_writer(out)
    # While the writer fills its temporary folder, the folder is still up to date; --check
    # must report the folder as it is once the writer is done, not a state about to vanish.
    check = subprocess.run(
        [*command(specs["churn"][0], out), "--check"], capture_output=True, text=True
    )
    assert writer.wait(timeout=60) == 0
    assert check.returncode == 1, check.stdout + check.stderr
    assert "is stale" in check.stdout
    assert "extra    " in check.stdout and "slow/0000.txt" in check.stdout
    assert leftovers(out) == []


def test_check_ignores_what_a_killed_compile_left_beside_the_folder(
    tmp_path: Path, specs: dict[str, tuple[Path, dict[str, bytes]]]
) -> None:
    out = tmp_path / "out"
    compile_alone(specs["churn"][0], out)
    (tmp_path / ".out.mlspec-lock").write_text("")
    (tmp_path / ".out.mlspec-tmp-abc123").mkdir()
    (tmp_path / ".out.mlspec-tmp-abc123" / "half.yaml").write_text("kind: Half\n")
    check = subprocess.run(
        [*command(specs["churn"][0], out), "--check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "is up to date" in check.stdout
    # The next compile takes the lock file over and removes the killed compile's temporary.
    assert compile_alone(specs["churn"][0], out) == specs["churn"][1]
    assert leftovers(out) == []


def _as_ordinary_user() -> list[str]:
    """A command prefix under which file permissions apply: root (CI runs as root) drops the
    capabilities that let it write into read-only folders."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to run this test as root"
    caps = "-dac_override,-dac_read_search,-fowner"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


def _read_only(tree: Path) -> None:
    for path in [tree, *tree.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def test_a_read_only_previous_output_leaves_no_temporary(
    tmp_path: Path, specs: dict[str, tuple[Path, dict[str, bytes]]]
) -> None:
    out = tmp_path / "out"
    user = _as_ordinary_user()
    first = subprocess.run([*user, *command(specs["churn"][0], out)], capture_output=True)
    assert first.returncode == 0, first.stderr
    _read_only(out)
    second = subprocess.run(
        [*user, *command(specs["breast-cancer"][0], out)], capture_output=True, text=True
    )
    assert second.returncode == 0, second.stderr
    assert folder(out) == specs["breast-cancer"][1]
    assert leftovers(out) == []
    # A temporary that an earlier compile could not remove is removed by the next one.
    stale = tmp_path / ".out.mlspec-tmp-old"
    shutil.copytree(out, stale)
    _read_only(stale)
    third = subprocess.run([*user, *command(specs["churn"][0], out)], capture_output=True)
    assert third.returncode == 0, third.stderr
    assert leftovers(out) == []
