"""How fast `mlspec validate` is: cold start, scaling with spec size, and peak memory.

Run from the repository root: `uv run python benchmarks/bench_validate.py` (about 30 s).
Prints figures beside their targets; exits 0 whatever the figures are (it is a report, not a
test).
"""

from __future__ import annotations

import gc
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from mlspec.compiler import analyze_bytes, checks, lower, parse, source

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(ROOT.glob("examples/*/pipeline.yaml"))

COLD_RUNS = 7
SIZES = (10, 100, 1_000, 2_000)
REPEATS = 5
COLD_TARGET_S = 0.3
THOUSAND_TARGET_S = 1.0
GATE_EVERY = 50


# -- a realistic generated spec -------------------------------------------------------------


def generate_spec(n_steps: int) -> str:
    """A chain of `n_steps` Python steps with fan-in, params, resources and gates.

    Step i reads step i-1's dataset (the chain), and every fifth step also reads the dataset of
    step i-7 (fan-in). Every GATE_EVERY steps a data gate checks a dataset and a model gate
    checks a metric; the next step waits for both, so every gate guards something.
    """
    lines = [
        "apiVersion: mlspec/v1",
        "kind: Pipeline",
        "metadata:",
        f"  name: generated-{n_steps}-steps",
        "  version: 1.0.0",
        "  description: A generated chain for benchmarking the front end.",
        "  owners: [bench@example.com]",
        "  labels: {team: bench}",
        "",
        "params:",
        "  seed: {type: int, default: 7}",
        "  learning_rate: {type: float, default: 0.01, description: Step size.}",
        "  min_score: {type: float, default: 0.8}",
        "  max_null: {type: float, default: 0.05}",
        "  tag: {type: str, default: nightly}",
        "",
        "defaults:",
        "  image: python:3.11-slim",
        "  packages: [scikit-learn>=1.5]",
        "  retries: 1",
        "  timeout: 15m",
        '  resources: {cpu: "1", memory: 2Gi}',
        "",
        "steps:",
    ]
    gates: list[str] = []
    pending_gates: list[str] = []
    for i in range(n_steps):
        name = f"step_{i:05d}"
        lines.append(f"  {name}:")
        lines.append(f"    python: bench.steps:run_{i % 17}")
        lines.append(f"    description: Stage {i} of the generated chain.")
        inputs = ["seed: params.seed", "learning_rate: params.learning_rate"]
        if i > 0:
            inputs.append(f"upstream: step_{i - 1:05d}.data")
        if i >= 7 and i % 5 == 0:
            inputs.append(f"side: step_{i - 7:05d}.data")
        lines.append("    inputs: {" + ", ".join(inputs) + "}")
        outputs = ["data: dataset", "score: float"]
        if i % GATE_EVERY == GATE_EVERY - 1:
            outputs.append("model: model")
        lines.append("    outputs: {" + ", ".join(outputs) + "}")
        lines.append(f'    resources: {{cpu: "{1 + i % 4}", memory: {2 + i % 8}Gi}}')
        lines.append(f"    timeout: {10 + i % 50}m")
        if pending_gates:
            lines.append("    after: [" + ", ".join(pending_gates) + "]")
            pending_gates = []
        if i % GATE_EVERY == GATE_EVERY // 2 and i > 0:
            k = i // GATE_EVERY
            gates += [
                f"  data_check_{k}:",
                f"    description: The data of stage {i} is complete and has not drifted.",
                f"    dataset: {name}.data",
                "    checks:",
                "      - row_count: {min: 1000}",
                "      - columns: {id: int, value: float, label: str}",
                "      - null_fraction: {column: value, max: params.max_null}",
                "      - range: {column: value, min: 0, max: 100}",
                f"      - drift: {{column: value, reference: step_{i - 1:05d}.data, "
                "method: psi, max: 0.2}",
                f"  model_check_{k}:",
                "    require:",
                f"      - {{metric: {name}.score, min: params.min_score}}",
                f"      - {{metric: {name}.score, max: 1.0}}",
                "    on_fail: block",
            ]
            pending_gates = [f"data_check_{k}", f"model_check_{k}"]
    if gates:
        lines += ["", "gates:", *gates]
    return "\n".join(lines) + "\n"


# -- measurements ---------------------------------------------------------------------------


def _validate_command() -> list[str]:
    script = Path(sys.executable).parent / "mlspec"
    if script.is_file():
        return [str(script), "validate"]
    return [sys.executable, "-m", "mlspec.cli", "validate"]


def _median_wall(command: list[str], runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr.decode()}")
    return statistics.median(times), times


def _compile_bytecode() -> None:
    """Installed packages have bytecode (pip compiles at install; Python writes it on first
    import). Where PYTHONDONTWRITEBYTECODE is set and nothing compiled it, every start would
    recompile pydantic, click and mlspec (~0.8 s instead of ~0.3 s). Measure what users run."""
    import compileall
    import site
    import sysconfig

    folders = {sysconfig.get_paths()["purelib"], *site.getsitepackages(), str(ROOT / "src")}
    for folder in sorted(folders):
        compileall.compile_dir(folder, quiet=1, workers=0)


def bench_cold() -> float:
    _compile_bytecode()
    print(f"(a) cold start: fresh process, median of {COLD_RUNS} runs (bytecode compiled)")
    baseline, _ = _median_wall([sys.executable, "-c", "pass"], COLD_RUNS)
    command = [*_validate_command(), *(str(p.relative_to(ROOT)) for p in EXAMPLES)]
    shown = " ".join(["mlspec" if Path(command[0]).name == "mlspec" else command[0], *command[1:]])
    median, times = _median_wall(command, COLD_RUNS)
    verdict = "ok" if median < COLD_TARGET_S else "MISSED"
    print(f"    python -c pass (interpreter alone)   {baseline * 1000:7.0f} ms")
    print(f"    {shown}")
    print(
        f"      median {median * 1000:7.0f} ms   (min {min(times) * 1000:.0f}, "
        f"max {max(times) * 1000:.0f})   target < {COLD_TARGET_S * 1000:.0f} ms: {verdict}"
    )
    return median


def _best_of(raw: bytes, name: str, repeats: int, *, gc_on: bool = True) -> float:
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        if not gc_on:
            gc.disable()
        try:
            start = time.perf_counter()
            analyze_bytes(raw, name)
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
    return best


def _stages(raw: bytes, repeats: int) -> dict[str, float]:
    """Best time of each front-end stage (the steps of mlspec.compiler._analyze)."""
    best: dict[str, float] = {}
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        src = source.load_bytes(raw, "stages.yaml")
        t1 = time.perf_counter()
        spec = parse.parse(src)
        t2 = time.perf_counter()
        checks.check(spec, src)
        t3 = time.perf_counter()
        lower.lower(spec, src)
        t4 = time.perf_counter()
        laps = {"load": t1 - t0, "parse": t2 - t1, "check": t3 - t2, "lower": t4 - t3}
        for stage, seconds in laps.items():
            best[stage] = min(best.get(stage, float("inf")), seconds)
    return best


def bench_scaling() -> dict[int, float]:
    print(f"(b) in process: analyze_bytes on generated specs, best of {REPEATS}")
    specs = {n: generate_spec(n).encode("utf-8") for n in SIZES}
    gates = {}
    for n, raw in specs.items():  # every generated spec is valid and warning-free
        analysis = analyze_bytes(raw, f"generated-{n}.yaml")
        assert len(analysis.pipeline.steps) == n, n
        assert not analysis.warnings, analysis.warnings
        gates[n] = len(analysis.pipeline.gates)
    print(f"    {'steps':>6} {'gates':>6} {'KiB':>7} {'time':>10} {'per step':>11}")
    per_step: dict[int, float] = {}
    for n, raw in specs.items():
        seconds = _best_of(raw, f"generated-{n}.yaml", REPEATS)
        per_step[n] = seconds / n
        note = ""
        if n == 1_000:
            verdict = "ok" if seconds < THOUSAND_TARGET_S else "MISSED"
            note = f"   target < {THOUSAND_TARGET_S * 1000:.0f} ms: {verdict}"
        print(
            f"    {n:>6} {gates[n]:>6} {len(raw) / 1024:>7.0f} {seconds * 1000:>8.1f} ms "
            f"{per_step[n] * 1e6:>8.0f} us{note}"
        )
    ratio = per_step[2_000] / per_step[100]
    print(
        f"    growth: per-step time at 2,000 steps / at 100 steps = {ratio:.2f} -> "
        f"{_shape(ratio)} (1.0 is perfectly linear; below 1.5 counts as linear)"
    )
    quiet = {n: _best_of(specs[n], "gc-off.yaml", 3, gc_on=False) / n for n in (100, 2_000)}
    print(
        f"    the same with the garbage collector off (best of 3): "
        f"{quiet[100] * 1e6:.0f} us -> {quiet[2_000] * 1e6:.0f} us per step, "
        f"ratio {quiet[2_000] / quiet[100]:.2f} -> {_shape(quiet[2_000] / quiet[100])}"
    )
    print("    per-step time of each stage (best of 3):")
    stages = {n: _stages(specs[n], 3) for n in (100, 2_000)}
    for stage in stages[100]:
        small, large = stages[100][stage] / 100, stages[2_000][stage] / 2_000
        print(
            f"      {stage:<6} {small * 1e6:6.0f} us at 100 steps, {large * 1e6:6.0f} us at "
            f"2,000 (ratio {large / small:.2f})"
        )
    return per_step


def _shape(ratio: float) -> str:
    if ratio < 1.5:
        return "linear"
    return "slightly super-linear" if ratio < 3 else "SUPER-LINEAR"


def bench_memory() -> int:
    print("(c) peak memory (tracemalloc) of analyze_bytes on the 1,000-step spec")
    raw = generate_spec(1_000).encode("utf-8")
    analyze_bytes(raw, "warm-up.yaml")  # imports and caches are not the spec's cost
    gc.collect()
    tracemalloc.start()
    analysis = analyze_bytes(raw, "generated-1000.yaml")
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    steps = len(analysis.pipeline.steps)
    print(f"    spec {len(raw) / 1024:.0f} KiB -> peak {peak / 2**20:.1f} MiB during analysis,")
    print(f"    {current / 2**20:.1f} MiB still held by the Analysis ({steps} steps)")
    return peak


def main() -> None:
    start = time.perf_counter()
    print(f"mlspec validate benchmark  (python {sys.version.split()[0]}, {sys.platform})")
    print()
    bench_cold()
    print()
    bench_scaling()
    print()
    bench_memory()
    print()
    print(f"total benchmark time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
