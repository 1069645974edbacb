"""How long Airflow takes to parse the DAG file mlspec generates, beside dag-factory and by hand.

Run from the repository root: `uv run python benchmarks/bench_airflow.py` (a few minutes; the
first run also builds a benchmark environment with uv). Options: `--sizes 5,50,500`,
`--repeats N`, `--quick` (sizes 5,50, 3 repeats). Prints figures beside their targets; exits 0
whatever the figures are (it is a report, not a test), but stops with an error when a DAG does
not load or the variants are not the same DAG.

Three ways to get one DAG, a linear chain of N PythonOperator tasks `step_001 ... step_N`
(retries 2, owner, a float run parameter `x`, each step reading the previous step's `y`):

- mlspec: the file `AirflowBackend().emit` writes for a spec of N Python steps;
- dag-factory 1.1.0: a small loader file calling `load_yaml_dags(globals_dict=globals(),
  config_filepath=...)` on a YAML file, with the callable in a module beside it;
- hand-written: an `airflow.sdk` DAG with one PythonOperator per step, a small callable in the
  file, `a >> b` edges.

Each parse is timed once in a fresh process forked, as Airflow 3's DAG processor forks its
parsers, from a process that has imported Airflow, DagBag and the operator modules (untimed).
Every cell is measured with the DAG files compiled from source and again with their bytecode
cached in __pycache__ (DagBag writes it unless PYTHONDONTWRITEBYTECODE is set; every process
here runs with it set, so nothing is written behind the benchmark's back). dag-factory runs
with `import dagfactory` inside the timed parse (a fresh parser pays it), with it imported
beforehand, and with no .pyc for the modules it imports. dag-factory's rows run in an
environment of their own (the test pins plus dag-factory, built with uv under .cache/), because
dag-factory installs an Airflow plugin; mlspec and hand-written run in the test environment.
The parse driver is airflow_parse_driver.py, run by the Airflow environments' interpreters.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from mlspec.backends.airflow import AirflowBackend
from mlspec.compiler import analyze_text

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).with_name("airflow_parse_driver.py")
DAG_FACTORY = "dag-factory==1.1.0"
OPERATOR_MODULE = "airflow.providers.standard.operators.python"

SIZES = (5, 50, 500)
REPEATS = 7
QUICK_SIZES = (5, 50)
QUICK_REPEATS = 3
TARGET_DAG_FACTORY = 5.0  # dag-factory / mlspec, at least
TARGET_HAND = 1.2  # mlspec / hand-written, at most

RETRIES = 2
OWNER = "bench@example.com"
CALLABLES = "bench_callables"  # the module dag-factory's YAML names the callable in


# "source": no __pycache__, Python compiles each DAG file from its text (PYTHONDONTWRITEBYTECODE
# is set everywhere, so nothing is ever written). "bytecode": the files' __pycache__ exists, as
# Airflow's DagBag leaves it after a parse when bytecode writing is on (checked below).
MODES = {
    "source": "DAG files compiled from source (no __pycache__)",
    "bytecode": "DAG files' bytecode cached in __pycache__",
}


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    env: str  # "test" (no dag-factory) or "bench" (with it)
    ratio: str  # its row of ratios, against mlspec ("" for none)
    pre_import: tuple[str, ...] = ()  # imported in the parser before the timed parse
    modes: tuple[str, ...] = tuple(MODES)
    # False: modules the parse imports (dagfactory and what it pulls in) have no .pyc either,
    # as after `uv pip install` without --compile-bytecode under PYTHONDONTWRITEBYTECODE.
    library_bytecode: bool = True


VARIANTS = (
    Variant("mlspec", "mlspec", "test", ""),
    Variant("hand", "hand-written", "test", ""),
    Variant("dagfactory", "dag-factory", "bench", "dag-factory / mlspec"),
    Variant(
        "dagfactory_pre",
        "dag-factory, dagfactory pre-imported",
        "bench",
        "pre-imported / mlspec",
        pre_import=("dagfactory",),
    ),
    Variant(
        "dagfactory_nopyc",
        "dag-factory, no .pyc for its modules",
        "bench",
        "no .pyc / mlspec",
        modes=("source",),
        library_bytecode=False,
    ),
)


# -- the three DAG files ---------------------------------------------------------------------


def dag_id(n: int) -> str:
    return f"chain-{n}-steps"


def step(i: int, n: int) -> str:
    return f"step_{i:0{max(3, len(str(n)))}d}"


def spec_text(n: int) -> str:
    """The mlspec spec: a chain of `n` Python steps, x from a param, then each step's y."""
    lines = [
        "apiVersion: mlspec/v1",
        "kind: Pipeline",
        "metadata:",
        f"  name: {dag_id(n)}",
        "  version: 1.0.0",
        f"  owners: [{OWNER}]",
        "params:",
        "  x: {type: float, default: 1.0}",
        "defaults:",
        f"  retries: {RETRIES}",
        "steps:",
    ]
    for i in range(1, n + 1):
        source = "params.x" if i == 1 else f"{step(i - 1, n)}.y"
        lines += [
            f"  {step(i, n)}:",
            "    python: bench_steps:work",
            f"    inputs: {{x: {source}}}",
            "    outputs: {y: float}",
        ]
    return "\n".join(lines) + "\n"


def mlspec_dag(n: int) -> tuple[str, str]:
    analysis = analyze_text(spec_text(n), f"{dag_id(n)}.yaml")
    (artifact,) = AirflowBackend().emit(analysis.pipeline)
    return str(artifact.path), artifact.text


# The callable, as an engineer would write it: mlspec's calling convention for bench_steps.work.
RUN_STEP = '''\
def run_step(upstream: str | None = None, **context):
    """x from the run parameter (first step) or the upstream step's y; returns {"y": float}."""
    import bench_steps  # at run time only: parsing the DAG never needs it

    ti = context["ti"]
    x = context["params"]["x"] if upstream is None else ti.xcom_pull(task_ids=upstream)["y"]
    return {"y": float(bench_steps.work(x=float(x))["y"])}
'''


def hand_dag(n: int) -> str:
    lines = [
        f'"""{dag_id(n)}: {n} Python steps in a chain, each calling bench_steps.work."""',
        "",
        "from __future__ import annotations",
        "",
        "import datetime",
        "",
        f"from {OPERATOR_MODULE} import PythonOperator",
        "from airflow.sdk import DAG, Param",
        "",
        "",
        RUN_STEP,
        "",
        "with DAG(",
        f'    dag_id="{dag_id(n)}",',
        "    schedule=None,",
        "    start_date=datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc),",
        "    catchup=False,",
        '    tags=["mlspec"],',
        f'    default_args={{"owner": "{OWNER}", "retries": {RETRIES}}},',
        '    params={"x": Param(1.0, type="number")},',
        "):",
    ]
    for i in range(1, n + 1):
        name = step(i, n)
        if i == 1:
            lines.append(f'    {name} = PythonOperator(task_id="{name}", python_callable=run_step)')
        else:
            lines += [
                f"    {name} = PythonOperator(",
                f'        task_id="{name}",',
                "        python_callable=run_step,",
                f'        op_kwargs={{"upstream": "{step(i - 1, n)}"}},',
                "    )",
            ]
    lines.append("")
    lines += [f"    {step(i - 1, n)} >> {step(i, n)}" for i in range(2, n + 1)]
    return "\n".join(lines) + "\n"


def dagfactory_yaml(n: int) -> str:
    lines = [
        f"# {dag_id(n)} for dag-factory 1.1.0: {n} Python steps in a chain.",
        f"{dag_id(n)}:",
        "  default_args:",
        f"    owner: {OWNER}",
        f"    retries: {RETRIES}",
        "  start_date: 2025-01-01",
        "  schedule: null",
        "  catchup: false",
        "  tags: [mlspec]",
        "  params:",
        "    x: {__type__: airflow.sdk.Param, __args__: [1.0], type: number}",
        "  tasks:",
    ]
    for i in range(1, n + 1):
        lines += [
            f"    {step(i, n)}:",
            f"      operator: {OPERATOR_MODULE}.PythonOperator",
            f"      python_callable: {CALLABLES}.run_step",
        ]
        if i > 1:
            lines += [
                f"      op_kwargs: {{upstream: {step(i - 1, n)}}}",
                f"      dependencies: [{step(i - 1, n)}]",
            ]
    return "\n".join(lines) + "\n"


def dagfactory_loader(yaml_name: str) -> str:
    # DagBag's safe mode skips files whose text lacks "airflow" and "dag": the docstring has both.
    return (
        f'"""Airflow DAG file: dag-factory builds the DAG from {yaml_name} beside it."""\n'
        "\n"
        "from pathlib import Path\n"
        "\n"
        "from dagfactory import load_yaml_dags\n"
        "\n"
        "load_yaml_dags(\n"
        "    globals_dict=globals(),\n"
        f'    config_filepath=str(Path(__file__).with_name("{yaml_name}")),\n'
        ")\n"
    )


@dataclass(frozen=True)
class DagFiles:
    """One size's files (names relative to a mode's folder), and the bytes each variant reads."""

    files: dict[str, str]  # variant key -> the DAG file DagBag is given
    sizes: dict[str, int]
    runtime_bytes: int  # of the mlspec file, its _MLSPEC_RUNTIME assignment


def write_dags(folder: Path, sizes: tuple[int, ...]) -> dict[int, DagFiles]:
    folder.mkdir(parents=True)
    callables = f'"""The callable the dag-factory YAML names."""\n\n\n{RUN_STEP}'
    (folder / f"{CALLABLES}.py").write_text(callables, encoding="utf-8")
    out: dict[int, DagFiles] = {}
    for n in sizes:
        mlspec_name, mlspec_text = mlspec_dag(n)
        stem = Path(mlspec_name).stem
        texts = {
            mlspec_name: mlspec_text,
            f"{stem}_hand.py": hand_dag(n),
            f"{stem}_dagfactory.yml": dagfactory_yaml(n),
            f"{stem}_dagfactory.py": dagfactory_loader(f"{stem}_dagfactory.yml"),
        }
        for name, text in texts.items():
            (folder / name).write_text(text, encoding="utf-8")
        dagfactory = len(texts[f"{stem}_dagfactory.yml"]) + len(texts[f"{stem}_dagfactory.py"])
        cut = mlspec_text.find("\n_MLSPEC_RUNTIME = ")
        out[n] = DagFiles(
            files={
                "mlspec": mlspec_name,
                "hand": f"{stem}_hand.py",
                "dagfactory": f"{stem}_dagfactory.py",
                "dagfactory_pre": f"{stem}_dagfactory.py",
                "dagfactory_nopyc": f"{stem}_dagfactory.py",
            },
            sizes={
                "mlspec": len(mlspec_text.encode()),
                "hand": len(texts[f"{stem}_hand.py"].encode()),
                "dagfactory": dagfactory + len(callables),
            },
            runtime_bytes=len(mlspec_text[cut:].encode()) if cut >= 0 else 0,
        )
    return out


# -- environments ----------------------------------------------------------------------------


def load_airflow_env() -> ModuleType:
    """tests/support/airflow_env.py: it builds and configures the test environment."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support import airflow_env

    return airflow_env


def bench_environment(airflow_env: ModuleType, test_python: Path) -> Path:
    """The test pins plus dag-factory, in a folder of its own (dag-factory adds an Airflow plugin).

    Bytecode is compiled at install, as pip does by default: otherwise each parse would compile
    dagfactory and the modules it imports from source, which no real deployment does.
    """
    requirements: Path = airflow_env.REQUIREMENTS
    digest = hashlib.sha256(requirements.read_bytes() + DAG_FACTORY.encode()).hexdigest()[:12]
    folder = ROOT / ".cache" / f"airflow-bench-{digest}"
    python = folder / "bin" / "python"
    done = folder / ".complete"
    if done.exists():
        return python
    uv = os.environ.get("UV") or shutil.which("uv")
    if not uv:
        raise SystemExit("the benchmark builds its environment with uv: pip install uv")
    shutil.rmtree(folder, ignore_errors=True)  # a half-built one from an interrupted run
    print(
        f"building the benchmark environment in {folder} (uv, {requirements.name} + {DAG_FACTORY})"
    )
    # The test environment's interpreter, so that both sides run the same Python.
    base = subprocess.run(
        [str(test_python), "-c", "import sys; print(sys._base_executable)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run([uv, "venv", "--quiet", "--python", base, str(folder)], check=True)
    install = ["pip", "install", "--quiet", "--compile-bytecode", "--python", str(python)]
    subprocess.run([uv, *install, "-r", str(requirements), DAG_FACTORY], check=True)
    done.write_text(digest + "\n")
    return python


def run_driver(python: Path, env: dict[str, str], plan: dict[str, Any], work: Path) -> dict:
    plan_path, results_path = work / "plan.json", work / "results.json"
    plan_path.write_text(json.dumps(plan), encoding="utf-8")
    results_path.unlink(missing_ok=True)
    done = subprocess.run(
        [str(python), str(DRIVER), str(plan_path), str(results_path)],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0 or not results_path.exists():
        raise SystemExit(
            f"the parse driver failed in {python} (exit {done.returncode})\n{done.stderr[-4000:]}"
        )
    report = json.loads(results_path.read_text(encoding="utf-8"))
    for job, result in zip(plan["jobs"], report["results"], strict=True):
        if "error" in result:
            raise SystemExit(f"job {job} failed in {python}:\n{result['error']}")
    return report


# -- the measurement -------------------------------------------------------------------------


@dataclass
class Results:
    # (variant, mode, size) -> per process: parse seconds, modules first imported in the parse
    times: dict[tuple[str, str, int], list[float]] = field(
        default_factory=lambda: defaultdict(list)
    )
    modules: dict[tuple[str, str, int], list[int]] = field(
        default_factory=lambda: defaultdict(list)
    )
    signatures: dict[tuple[str, str, int], str] = field(default_factory=dict)  # canonical JSON
    warnings: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # by variant
    # (variant, size) -> per process: first compile, exec, compile of each part
    split: dict[tuple[str, int], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    pyc: dict[str, Any] = field(default_factory=dict)  # what DagBag wrote beside a DAG file
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)  # env -> versions, import time


def plans(home: Path, dags: dict[int, DagFiles], round_index: int) -> dict[str, dict[str, Any]]:
    """One driver plan per environment, jobs in an order shuffled per round (same load for all)."""
    jobs: dict[str, list[dict[str, Any]]] = {"test": [], "bench": []}
    for mode in MODES:
        folder = home / "dags" / mode
        for n, files in dags.items():
            for variant in VARIANTS:
                if mode not in variant.modes:
                    continue
                jobs[variant.env].append(
                    {
                        "kind": "parse",
                        "key": [variant.key, mode, n],
                        "file": str(folder / files.files[variant.key]),
                        "folder": str(folder),
                        "dag_id": dag_id(n),
                        "tasks": n,
                        "pre_import": list(variant.pre_import),
                        # a folder that does not exist: no .pyc is found there, none written
                        "pycache_prefix": None
                        if variant.library_bytecode
                        else str(home / "no-pycache"),
                    }
                )
    for n, files in dags.items():
        for key in ("mlspec", "hand"):
            file = home / "dags" / "source" / files.files[key]
            jobs["test"].append({"kind": "compile", "key": [key, n], "file": str(file)})
    rng = random.Random(round_index)
    for items in jobs.values():
        rng.shuffle(items)
    if round_index == 0:
        first = home / "dags" / "source" / dags[min(dags)].files["mlspec"]
        jobs["test"].append({"kind": "pyc_check", "key": [], "file": str(first)})
    # Both drivers pre-import the same modules: those the processor would for any of the files.
    files = sorted({j["file"] for items in jobs.values() for j in items if j["kind"] == "parse"})
    return {
        env: {"files": files, "pre_import": [OPERATOR_MODULE], "jobs": items}
        for env, items in jobs.items()
    }


def measure(
    pythons: dict[str, Path],
    env: dict[str, str],
    home: Path,
    dags: dict[int, DagFiles],
    repeats: int,
) -> Results:
    results = Results()
    for round_index in range(repeats):
        for env_name, plan in plans(home, dags, round_index).items():
            report = run_driver(pythons[env_name], env, plan, home)
            results.meta[env_name] = report["meta"]
            for job, result in zip(plan["jobs"], report["results"], strict=True):
                if job["kind"] == "parse":
                    where = (job["key"][0], job["key"][1], job["key"][2])
                    results.times[where].append(result["seconds"])
                    results.modules[where].append(result["modules"])
                    results.warnings[where[0]].update(result["warnings"])
                    results.signatures[where] = json.dumps(result["signature"], sort_keys=True)
                elif job["kind"] == "compile":
                    results.split[(job["key"][0], job["key"][1])].append(result)
                else:
                    results.pyc = result
        print(f"  round {round_index + 1}/{repeats} done")
    return results


def check_same_dag(results: Results, sizes: tuple[int, ...]) -> None:
    """Every variant must have produced the same DAG, or the comparison means nothing."""
    for mode in MODES:
        for n in sizes:
            reference = results.signatures[("mlspec", mode, n)]
            for variant in VARIANTS[1:]:
                if (
                    mode in variant.modes
                    and results.signatures[(variant.key, mode, n)] != reference
                ):
                    raise SystemExit(
                        f"{variant.label} and mlspec built different DAGs at {n} tasks ({mode}):\n"
                        f"mlspec: {reference[:600]}\n"
                        f"{variant.label}: {results.signatures[(variant.key, mode, n)][:600]}"
                    )


# -- the report ------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def cell(values: list[float]) -> str:
    return f"{ms(statistics.median(values))} ({ms(min(values))})"


def report_times(results: Results, sizes: tuple[int, ...], repeats: int) -> None:
    width, label_width = 16, 40

    def row(label: str, values: list[str], note: str = "") -> None:
        print(f"    {label:<{label_width - 2}}" + "".join(f"{v:>{width}}" for v in values) + note)

    def verdict(ratios: list[float], target: float, at_least: bool) -> str:
        missed = [str(n) for n, r in zip(sizes, ratios, strict=True) if (r < target) == at_least]
        goal = f"{'>=' if at_least else '<='} {target:g}x"
        return f"   target {goal}: " + (f"MISSED at {', '.join(missed)}" if missed else "ok")

    print(f"parse time, ms: median (min) of {repeats} fresh processes")
    print(f"  {'':<{label_width}}" + "".join(f"{f'{n} tasks':>{width}}" for n in sizes))
    for mode, title in MODES.items():
        print(f"  {title}")
        present = [v for v in VARIANTS if mode in v.modes]
        for variant in present:
            row(variant.label, [cell(results.times[(variant.key, mode, n)]) for n in sizes])

        def ratios(top: str, bottom: str, mode: str = mode) -> list[float]:
            return [
                statistics.median(results.times[(top, mode, n)])
                / statistics.median(results.times[(bottom, mode, n)])
                for n in sizes
            ]

        for variant in present:
            if variant.ratio:
                values = ratios(variant.key, "mlspec")
                note = (
                    verdict(values, TARGET_DAG_FACTORY, True) if variant.key == "dagfactory" else ""
                )
                row(f"ratio {variant.ratio}", [f"{r:.2f}x" for r in values], note)
        values = ratios("mlspec", "hand")
        row(
            "ratio mlspec / hand-written",
            [f"{r:.2f}x" for r in values],
            verdict(values, TARGET_HAND, False),
        )


def report_split(results: Results, sizes: tuple[int, ...]) -> None:
    print("where the time goes, DAG files compiled from source, ms. In a fresh process (median):")
    print("the file's first compile() and the exec of its code. Compile of each part alone, best")
    print("of 5 in that process (min): task data (STEPS, GATES, PROMOTIONS), the rest of the")
    print("module (imports, constants, functions), the DAG block (DAG, tasks, edges), the runtime")
    print("constant _MLSPEC_RUNTIME")
    columns = ("compile", "exec", "data", "rest", "DAG", "runtime", "DagBag")
    print(f"  {'tasks':>6} {'file':<13}" + "".join(f"{c:>9}" for c in columns))
    for n in sizes:
        for key, label in (("mlspec", "mlspec"), ("hand", "hand-written")):
            runs = results.split[(key, n)]
            values = [statistics.median(r["compile"] for r in runs)]
            values.append(statistics.median(r["exec"] for r in runs))
            for part in ("data", "rest", "dag", "runtime"):
                found = [r["parts"][part] for r in runs if part in r["parts"]]
                values.append(min(found) if found else None)
            values.append(statistics.median(results.times[(key, "source", n)]))
            row = "".join(f"{ms(v) if v is not None else '-':>9}" for v in values)
            print(f"  {n:>6} {label:<13}{row}")


def report_sizes(dags: dict[int, DagFiles], sizes: tuple[int, ...]) -> None:
    width = 12
    print("bytes each variant reads per parse")
    print(f"  {'':<44}" + "".join(f"{f'{n} tasks':>{width}}" for n in sizes))
    rows = (
        ("mlspec .py", "mlspec"),
        ("hand-written .py", "hand"),
        ("dag-factory .yml + loader .py + callables .py", "dagfactory"),
    )
    for label, key in rows:
        print(f"  {label:<44}" + "".join(f"{dags[n].sizes[key]:>{width},}" for n in sizes))
    runtime = "".join(f"{dags[n].runtime_bytes:>{width},}" for n in sizes)
    print(f"  {'  of mlspec .py: the _MLSPEC_RUNTIME constant':<44}{runtime}")


def report_notes(results: Results, sizes: tuple[int, ...]) -> None:
    n = min(sizes)
    print(f"modules first imported during the timed parse, {n} tasks (median):")
    for variant in VARIANTS:
        count = statistics.median(results.modules[(variant.key, "source", n)])
        print(f"    {variant.label:<38}{count:>5.0f}")
    print("warnings DagBag captured per parse:")
    for variant in VARIANTS:
        print(f"    {variant.label:<38}{len(results.warnings[variant.key]):>5}")
    for text in sorted(set().union(*results.warnings.values())):
        print(f"      {text.rsplit('Warning: ', 1)[-1].split('. Please')[0]}")
    written = results.pyc.get("written") or []
    print(
        "DagBag with bytecode writing on (no PYTHONDONTWRITEBYTECODE) wrote "
        + (f"__pycache__/{written[0]}\nbeside the DAG file" if written else "no __pycache__")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", help="comma-separated task counts (default 5,50,500)")
    parser.add_argument("--repeats", type=int, help=f"fresh processes per cell (default {REPEATS})")
    parser.add_argument("--quick", action="store_true", help="sizes 5,50 and 3 repeats")
    args = parser.parse_args()
    sizes = QUICK_SIZES if args.quick else SIZES
    if args.sizes:
        sizes = tuple(sorted({int(s) for s in args.sizes.split(",")}))
    repeats = args.repeats or (QUICK_REPEATS if args.quick else REPEATS)

    start = time.perf_counter()
    airflow_env = load_airflow_env()
    test_python: Path = airflow_env.environment()
    pythons = {"test": test_python, "bench": bench_environment(airflow_env, test_python)}
    with tempfile.TemporaryDirectory(prefix="bench-airflow-") as scratch:
        home = Path(scratch)
        env = airflow_env.base_env(home)  # sets PYTHONDONTWRITEBYTECODE=1 for every process
        env.update(AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY="False", SCARF_NO_ANALYTICS="true")
        dags = write_dags(home / "dags" / "source", sizes)
        shutil.copytree(home / "dags" / "source", home / "dags" / "bytecode")
        subprocess.run(  # the same interpreter for both environments, so one cache tag
            [
                str(test_python),
                "-m",
                "compileall",
                "-q",
                "--invalidation-mode",
                "timestamp",
                str(home / "dags" / "bytecode"),
            ],
            env=env,
            check=True,
        )
        print(
            f"measuring {len(sizes)} sizes x {len(VARIANTS)} variants x {len(MODES)} modes, "
            f"{repeats} rounds"
        )
        results = measure(pythons, env, home, dags, repeats)
    check_same_dag(results, sizes)

    test_meta, bench_meta = results.meta["test"], results.meta["bench"]
    print()
    print(
        f"mlspec airflow benchmark  (python {test_meta['python']}, apache-airflow "
        f"{test_meta['airflow']}, dag-factory {bench_meta['dag_factory']}, {sys.platform}, "
        f"{os.cpu_count()} cpus)"
    )
    print(
        "A cell times `DagBag(dag_folder=FILE, safe_mode=True, known_pools={'default_pool'})`\n"
        "once per process: a child forked, as the DAG processor forks its parsers, from a process\n"
        "that imported Airflow, DagBag and the operator modules first (untimed, "
        f"{test_meta['imports']:.1f} s) and\n"
        "froze the GC. Each DAG is a chain of PythonOperator tasks, the same in all variants\n"
        "(checked: dag id, tasks, operators, edges, retries, owner, params). The dag-factory\n"
        "row's parse includes `import dagfactory`, as every fresh parser pays it; the\n"
        "pre-imported row has it imported before the clock starts; the no-.pyc row compiles\n"
        "dagfactory and what it imports from source. mlspec and hand-written run in the test\n"
        f"environment ({pythons['test'].parents[1].name}, no dag-factory); the dag-factory rows\n"
        f"in {pythons['bench'].parents[1].name} (the same pins + {DAG_FACTORY}, whose Airflow\n"
        "plugin stays out of the test environment)."
    )
    print()
    report_times(results, sizes, repeats)
    print()
    report_split(results, sizes)
    print()
    report_sizes(dags, sizes)
    print()
    report_notes(results, sizes)
    print()
    print(f"total benchmark time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
