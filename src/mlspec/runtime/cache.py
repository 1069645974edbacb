"""Step caching for targets whose tasks run in a Python worker and whose engine caches (Prefect).

Runtime module: generated pipelines carry it as a file of its own (standard library and the
runtime's other modules). The engine stores a step's result under a cache key
and returns it for a later run with the same key, without calling the step. The key holds what
the result depends on: the step as the spec defines it, its input values, its environment and
the source of its Python module, and in a loop the element. Artifact inputs count by content,
not by path, since every run has its own folder: a step behind an uncached one is reused when that
one wrote the same data.

A reused step wrote its files in the run that computed it, and the steps after it read them in
their own run's folder, so `reuse_outputs` copies them over. If that run's folder is gone, the
step runs again.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import marshal
import os
import shutil
from typing import Any

from .tasks import (
    TASK_ARTIFACT_TYPES,
    TaskRun,
    artifact_path,
    env_values,
    input_value,
    own_index,
    pipeline_folder,
    run_output_path,
    run_path,
)

CACHE_FOLDER = ".cache"  # beside the run folders (named by Prefect run ids: UUIDs)


def cache_folder(run: TaskRun) -> str:
    """Where the engine keeps cached results: `<root>/<pipeline>/.cache`, beside the runs."""
    return os.path.join(pipeline_folder(run.artifact_root, run.pipeline), CACHE_FOLDER)


def cache_key(run: TaskRun, step: str) -> dict:
    """What the step's result depends on, as JSON-ready data for the engine to hash."""
    spec = run.steps[step]
    inputs: dict[str, Any] = {}
    for name, source in spec["inputs"].items():
        value = input_value(run, source)
        if "artifact" in source:
            value = {"sha256": content_digest(value)}
        elif "artifact" in source.get("fan_in", {}):  # every iteration's file, by content
            value = [{"sha256": content_digest(path)} for path in value]
        inputs[name] = value
    key = {"step": step, "spec": spec, "inputs": inputs, "env": env_values(run, spec["env"])}
    if spec["kind"] == "python":
        key["code"] = _code_digest(spec["function"])
    if run.iteration is not None:  # an iteration is reused only for the same element
        key["item"] = run.iteration.item
    return key


def file_outputs(run: TaskRun, step: str) -> list[str]:
    """The outputs a step writes as files: artifacts, and every output of a container step."""
    spec = run.steps[step]
    every = spec["kind"] == "container"
    return [n for n, kind in spec["outputs"].items() if every or kind in TASK_ARTIFACT_TYPES]


def written_files(run: TaskRun, step: str) -> list[str]:
    """The file outputs the step wrote in this run: what a later run copies when it reuses it."""
    return [name for name in file_outputs(run, step) if os.path.exists(run_path(run, step, name))]


def outcome(run: TaskRun, step: str, result: Any) -> dict:
    """What the engine caches of a step's run: its result, and where its files are (the run,
    and in a loop the iteration, since the same element may have another index later)."""
    files = written_files(run, step)
    return {"run_id": run.run_id, "index": own_index(run, step), "result": result, "files": files}


def reuse_outputs(run: TaskRun, step: str, done: dict) -> bool:
    """Copy the files of a cached result (`done`: run_id, index, files) into this run's folder.

    False, copying nothing, if the run that wrote them no longer has them all.
    """
    index = done.get("index")
    if done["run_id"] == run.run_id and index == own_index(run, step):
        return True
    sources = {
        name: artifact_path(run.artifact_root, run.pipeline, done["run_id"], step, name, index)
        for name in done["files"]
    }
    if not all(os.path.exists(path) for path in sources.values()):
        return False
    for name, source in sources.items():
        target = run_output_path(run, step, name)
        if os.path.isdir(source):
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    print(f"step {step!r}: reused the result of run {done['run_id']} (caching: true)")
    return True


def content_digest(path: str) -> str:
    """SHA-256 of a file, or of a folder's relative paths and file contents in sorted order."""
    digest = hashlib.sha256()
    if not os.path.isdir(path):
        _add_file(digest, path)
        return digest.hexdigest()
    for folder, folders, files in os.walk(path):
        folders.sort()
        for name in sorted(files):
            full = os.path.join(folder, name)
            digest.update(os.path.relpath(full, path).encode("utf-8") + b"\0")
            _add_file(digest, full)
    return digest.hexdigest()


def _add_file(digest: Any, path: str) -> None:
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)


def _code_digest(function: str) -> str:
    """SHA-256 of the source of the module that holds the step's function (its code object
    where the source is not available), so that editing the module recomputes the step."""
    module_name, _, name = function.partition(":")
    module = importlib.import_module(module_name)
    try:
        code = inspect.getsource(module).encode("utf-8")
    except (OSError, TypeError):
        code = marshal.dumps(getattr(module, name).__code__)
    return hashlib.sha256(code).hexdigest()
