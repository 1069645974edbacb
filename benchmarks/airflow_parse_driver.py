"""Runs inside an Airflow environment for bench_airflow.py: times DAG-file parses.

    python airflow_parse_driver.py PLAN.json RESULTS.json

PLAN.json: {"files": DAG files whose `airflow.*` imports to pre-import, "pre_import": more
modules to import first, "jobs": [{"kind": "parse" | "compile" | "pyc_check", ...}]}.
RESULTS.json: {"meta": versions and import time, "results": one dict per job, in order}.

Works like Airflow 3's DAG processor: this process imports Airflow, DagBag and the `airflow.*`
modules the DAG files import (the processor pre-imports exactly those before it forks a parser),
freezes the garbage collector (as the processor's manager does), then forks one child per job.
Each child does its job once - for a `parse` job, one timed `DagBag(dag_folder=FILE, ...)` -
checks the result and sends it back through a pipe. Needs AIRFLOW_HOME and the rest of the
configuration from the caller.
"""

from __future__ import annotations

import gc
import importlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import types
from pathlib import Path
from typing import Any

RUNTIME_MARKER = "\n_MLSPEC_RUNTIME = "


def _dagbag(file: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    # safe_mode: skip files without "airflow" and "dag", as the DAG processor does.
    return DagBag(dag_folder=file, safe_mode=True, known_pools={"default_pool"})


def _signature(dag: Any) -> dict[str, Any]:
    """What must be the same in every variant of one benchmark DAG (not tags, docs, kwargs)."""
    return {
        "dag_id": dag.dag_id,
        "timetable": type(dag.timetable).__name__,
        "start_date": str(dag.start_date),
        "catchup": dag.catchup,
        "params": {
            k: [dag.params.get_param(k).resolve(), dag.params.get_param(k).schema]
            for k in dag.params
        },
        "tasks": {
            t.task_id: [type(t).__name__, sorted(t.upstream_task_ids), t.retries, t.owner]
            for t in dag.tasks
        },
    }


def parse(job: dict[str, Any]) -> dict[str, Any]:
    for name in job["pre_import"]:  # untimed: e.g. dagfactory, for the "pre-imported" row
        importlib.import_module(name)
    if job["pycache_prefix"]:  # a folder with no .pyc: what the parse imports, it compiles
        sys.pycache_prefix = job["pycache_prefix"]
    sys.path.append(job["folder"])  # as BundleDagBag does with the bundle folder
    before = set(sys.modules)
    start = time.perf_counter()
    bag = _dagbag(job["file"])
    seconds = time.perf_counter() - start
    if bag.import_errors:
        raise RuntimeError(f"import errors in {job['file']}: {bag.import_errors}")
    dag = bag.dags.get(job["dag_id"])
    if dag is None or len(dag.tasks) != job["tasks"]:
        found = {d: len(bag.dags[d].tasks) for d in bag.dags}
        raise RuntimeError(
            f"{job['file']}: expected {job['dag_id']} with {job['tasks']} tasks, found {found}"
        )
    new = [m for m in set(sys.modules) - before if not m.startswith("unusual_prefix_")]
    return {
        "seconds": seconds,
        "modules": len(new),
        "warnings": sorted({w for ws in bag.captured_warnings.values() for w in ws}),
        "signature": _signature(dag),
    }


def split(text: str) -> dict[str, str]:
    """A DAG file's top-level parts: mlspec's runtime constant, the DAG block, mlspec's task data
    (STEPS, GATES, PROMOTIONS) and the rest (imports, constants, functions); each compiles alone.
    """
    parts = {}
    cut = text.find(RUNTIME_MARKER)
    if cut >= 0:
        text, parts["runtime"] = text[: cut + 1], text[cut + 1 :]
    cut = text.find("\nwith DAG(")
    if cut >= 0:
        text, parts["dag"] = text[: cut + 1], text[cut + 1 :]
    start = text.find("\nSTEPS = ")
    if start >= 0:
        end = text.find("\n\n", text.find("\nPROMOTIONS = ", start))
        parts["data"] = text[start + 1 : end + 1]
        text = text[: start + 1] + text[end + 1 :]
    parts["rest"] = text
    return parts


def compile_split(job: dict[str, Any]) -> dict[str, Any]:
    """The first compile of the file in a fresh process, its exec, then each part's compile."""
    text = Path(job["file"]).read_text(encoding="utf-8")
    start = time.perf_counter()
    code = compile(text, job["file"], "exec")
    first = time.perf_counter() - start
    module = types.ModuleType("bench_dag_module")
    module.__file__ = job["file"]
    sys.modules[module.__name__] = module
    start = time.perf_counter()
    exec(code, module.__dict__)
    body = time.perf_counter() - start
    parts = {}
    gc.disable()  # steady state: best of 5, no collections in between
    for name, part in split(text).items():
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            compile(part, job["file"], "exec")
            best = min(best, time.perf_counter() - start)
        parts[name] = best
    gc.enable()
    return {"compile": first, "exec": body, "parts": parts}


def pyc_check(job: dict[str, Any]) -> dict[str, Any]:
    """Does DagBag leave a __pycache__ beside a DAG file when Python may write bytecode?"""
    sys.dont_write_bytecode = False
    with tempfile.TemporaryDirectory(prefix="bench-pyc-") as folder:
        copy = Path(folder) / Path(job["file"]).name
        shutil.copyfile(job["file"], copy)
        bag = _dagbag(str(copy))
        cache = Path(folder) / "__pycache__"
        written = sorted(p.name for p in cache.iterdir()) if cache.is_dir() else []
    return {"dags": len(bag.dags), "written": written}


JOBS = {"parse": parse, "compile": compile_split, "pyc_check": pyc_check}


def run_forked(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job in a forked child; its result (or traceback) comes back as JSON."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        try:
            result = JOBS[job["kind"]](job)
        except BaseException:
            result = {"error": traceback.format_exc()}
        with os.fdopen(write_end, "w", encoding="utf-8") as pipe:
            json.dump(result, pipe)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as pipe:
        text = pipe.read()  # before waitpid: a large result would fill the pipe
    _, status = os.waitpid(pid, 0)
    if not text:
        return {"error": f"child exited with status {status} and no result"}
    return json.loads(text)


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    start = time.perf_counter()
    import airflow
    from airflow.dag_processing.dagbag import DagBag  # noqa: F401
    from airflow.utils.file import iter_airflow_imports

    modules = {m for f in plan["files"] for m in iter_airflow_imports(f)}
    modules |= set(plan["pre_import"])
    for name in sorted(modules):
        importlib.import_module(name)
    imports = time.perf_counter() - start
    gc.collect()
    gc.freeze()
    try:
        dag_factory = importlib.metadata.version("dag-factory")
    except importlib.metadata.PackageNotFoundError:
        dag_factory = None
    results = [run_forked(job) for job in plan["jobs"]]
    meta = {
        "python": sys.version.split()[0],
        "airflow": airflow.__version__,
        "dag_factory": dag_factory,
        "imports": imports,
    }
    Path(sys.argv[2]).write_text(json.dumps({"meta": meta, "results": results}), encoding="utf-8")


if __name__ == "__main__":
    main()
