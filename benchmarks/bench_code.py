"""What pinning step code costs: reading and hashing the package, and building its wheel.

Run from the repository root: `uv run python benchmarks/bench_code.py` (about 20 s). Prints
figures beside their targets; exits 0 whatever they are (a report, not a test).

- (a) `read_package` + digest of the flagship's package, and of a generated package of 500
  modules (~5 MiB, a large real-world step package), best of 5;
- (b) `build_wheel` of both: the first build in a fresh process (hatchling's import included),
  then warm, best of 5;
- (c) the wall time of `mlspec compile --target kubeflow` of the flagship in a fresh process,
  median of 5, with `code.image` and with `code.wheels` (with it, compile builds the wheel
  to pin its sha256).
"""

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlspec.compiler.code import folder_package_files, read_package
from mlspec.delivery import wheel
from mlspec.diagnostics import Span

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "examples" / "breast-cancer"
SPAN = Span("bench", 1, 1, 1, 1)


def best(fn, n: int = 5) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def big_package(folder: Path) -> None:
    pkg = folder / "bigsteps"
    for i in range(25):
        sub = pkg / f"part{i:02d}"
        sub.mkdir(parents=True)
        (sub / "__init__.py").write_text("")
        for j in range(20):
            body = "".join(f"def f{k}(x):\n    return x * {k} + {j}\n\n" for k in range(300))
            (sub / f"mod{j:02d}.py").write_text(body)
    (pkg / "__init__.py").write_text("")


def fresh_process_build(base: Path, name: str) -> float:
    code = (
        "import time, sys; t = time.perf_counter()\n"
        "from pathlib import Path\n"
        "from mlspec.compiler.code import folder_package_files, read_package\n"
        "from mlspec.delivery.wheel import build_wheel\n"
        "from mlspec.diagnostics import Span\n"
        f"p = read_package(folder_package_files(Path({str(base)!r})), '.', {name!r}, "
        "Span('b', 1, 1, 1, 1))\n"
        "build_wheel(p); print(time.perf_counter() - t)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout)


def spec_copy(folder: Path, wheels: str | None) -> Path:
    """The flagship with its package, with or without a wheel location."""
    import re
    import shutil

    shutil.copytree(FLAGSHIP, folder, ignore=shutil.ignore_patterns("__pycache__"))
    spec = folder / "pipeline.yaml"
    line = re.search(r"\n    wheels: .*", spec.read_text()).group()  # the flagship's own
    # Without a wheel location the steps need an image that holds the package (else MS303).
    other = f"\n    wheels: {wheels}" if wheels else "\n    image: ghcr.io/acme/bc-steps:1.0"
    text = spec.read_text().replace(line, other)
    spec.write_text(text)
    return spec


def compile_median(spec: Path, out: Path) -> float:
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(
            [
                str(Path(sys.executable).with_name("mlspec")),
                "compile",
                str(spec),
                "--target",
                "kubeflow",
                "-o",
                str(out),
            ],
            check=True,
            capture_output=True,
        )
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        big_package(Path(tmp))
        cases = [
            ("flagship breast_cancer", FLAGSHIP, "breast_cancer"),
            ("500 modules", Path(tmp), "bigsteps"),
        ]
        print("(a) read + digest            (b) wheel: fresh process | warm")
        for label, base, name in cases:
            files = folder_package_files(base)
            package = read_package(files, ".", name, SPAN)
            assert package is not None
            size = sum(len(f.data) for f in package.files)
            read = best(lambda f=files, n=name: read_package(f, ".", n, SPAN))
            cold = fresh_process_build(base, name)
            wheel.build_wheel.cache_clear()
            warm = best(lambda p=package: (wheel.build_wheel.cache_clear(), wheel.build_wheel(p)))
            print(
                f"  {label:24} {len(package.files):4} files {size / 1024:8.0f} KiB: "
                f"read {read * 1000:7.1f} ms   wheel {cold * 1000:7.0f} ms | {warm * 1000:6.1f} ms"
            )
    with tempfile.TemporaryDirectory() as tmp:
        medians = {}
        for label, wheels in (
            ("without code.wheels", None),
            ("with code.wheels", "https://w.example.com/bc"),
        ):
            spec = spec_copy(Path(tmp, label.replace(" ", "-")), wheels)
            medians[label] = compile_median(spec, Path(tmp, "out"))
        a, b = medians.values()
        print(
            f"(c) mlspec compile --target kubeflow, flagship, fresh process, median of 5: "
            f"{a:.2f} s with code.image, {b:.2f} s with code.wheels (+{b - a:.2f} s; "
            "target: < +0.3 s)"
        )
    print("targets: read + digest of a 5 MiB package < 0.2 s; a warm wheel build < 0.5 s")


if __name__ == "__main__":
    main()
