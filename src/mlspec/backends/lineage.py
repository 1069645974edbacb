"""What every target hands the runtime's lineage module (runtime/lineage.py), from the IR.

Tracking is on for a pipeline with a registry: its runs are MLflow runs on that registry's
tracking server. Three tasks of mlspec's own carry it on every target (`mlspec_` names are
reserved): TRACK_TASK opens the run before any step, LINEAGE_TASK records the steps' outputs
and datasets once every step has run, CLOSE_TASK ends the run however the pipeline ended.
"""

from __future__ import annotations

from mlspec.compiler import ir
from mlspec.runtime.lineage import ENV_GIT_SOURCE, ENV_SPEC_SHA256


def tracked(pipeline: ir.Pipeline) -> bool:
    """Whether the pipeline's runs are MLflow runs: a pipeline with a registry."""
    return pipeline.registry is not None and pipeline.monitor is None


def identity(pipeline: ir.Pipeline) -> dict[str, object]:
    """What the compiler knows of a run's origin: the `identity` of runtime lineage.open_run.

    `code`: each Python step's pinned package as `<package>@sha256:<digest>`; `git`: where the
    workers clone the compiled output from (`<url>@<commit>:<path>`), when code delivery says.
    """
    code: dict[str, str] = {}
    git = None
    for step in pipeline.steps:
        if step.code is None:
            continue
        if step.code.package is not None:
            code[step.name] = f"{step.code.package.name}@sha256:{step.code.package.digest}"
        if step.code.git is not None:
            source = step.code.git
            git = f"{source.url}@{source.commit}:{source.path}"
    return {
        "pipeline": pipeline.name,
        "spec_version": pipeline.version,
        "spec_sha256": pipeline.spec_sha256,
        "spec_path": pipeline.spec_path,
        "code": code,
        "git": git,
    }


def cloned_from_git(pipeline: ir.Pipeline) -> bool:
    """Whether workers clone the compiled files from git (code.git): then those files cannot
    hold the commit they are cloned at, nor the spec's hash, which changes with that pin."""
    return any(
        s.code is not None and s.code.git is not None and not s.code.local for s in pipeline.steps
    )


def file_identity(pipeline: ir.Pipeline) -> dict[str, object]:
    """identity() as compiled files may hold it: without the spec's hash and git source when
    the files are cloned from git (their deployment sets them: deployment_env)."""
    found = identity(pipeline)
    if cloned_from_git(pipeline):
        found.update(spec_sha256=None, git=None)
    return found


def deployment_env(pipeline: ir.Pipeline) -> dict[str, str]:
    """The environment a deployment gives its runs for what file_identity leaves out."""
    if not tracked(pipeline) or not cloned_from_git(pipeline):
        return {}
    found = identity(pipeline)
    return {ENV_SPEC_SHA256: str(found["spec_sha256"]), ENV_GIT_SOURCE: str(found["git"])}


def dataset_readers(pipeline: ir.Pipeline) -> dict[str, list[str]]:
    """Every dataset output of every step as "step.output", with the steps and gates that read
    it (sorted; [] for a dataset nothing reads), in step order."""
    readers: dict[str, set[str]] = {
        f"{step.name}.{out.name}": set()
        for step in pipeline.steps
        for out in step.outputs
        if out.type == "dataset"
    }

    def read(ref: ir.OutputRef | None, reader: str) -> None:
        name = None if ref is None else f"{ref.step}.{ref.output}"
        if name in readers:
            readers[name].add(reader)

    for step in pipeline.steps:
        for put in step.inputs:
            for ref in ir.output_refs(put.source):
                read(ref, step.name)
    for gate in pipeline.gates:
        read(gate.dataset, gate.name)
        for check in gate.checks:
            read(check.reference, gate.name)
        if gate.serving is not None:
            read(gate.serving.dataset, gate.name)
    return {name: sorted(found) for name, found in readers.items()}


def gate_datasets(pipeline: ir.Pipeline, gate: ir.Gate) -> list[str]:
    """The datasets ("step.output") a gate reads, in dataset_readers order."""
    return [name for name, found in dataset_readers(pipeline).items() if gate.name in found]
