"""Runs a spec's Kubeflow pipeline under kfp's local runner; prints one `MLSPEC-RESULT` line.

    python kubeflow_driver.py SPEC REGISTRY_URI PIPELINE_ROOT PARAMS_JSON

Run with an interpreter that has pip (kfp.local installs each component's packages with it)
and sees mlspec and kfp. Lightweight components run as subprocesses; container steps cannot
run locally, and kfp refuses them. The spec's registered model is made ready in the local
registry first; the result says what the run promoted (local_registry.py).
"""

from __future__ import annotations

import json
import sys

from mlspec.compiler import ir


def main() -> None:
    import kfp.local

    from mlspec.api import compile_pipeline
    from mlspec.backends.kubeflow import KubeflowBackend
    from mlspec.compiler.passes import localize
    from mlspec.run.local_registry import promoted, ready

    spec, registry_uri, root, params = sys.argv[1:5]
    # Checked as compile checks it (the caller printed the spec's own problems already).
    compiled = compile_pipeline(
        spec, "kubeflow", passes=[lambda p: localize(p, registry_uri, root)], emit=False
    )
    if compiled.pipeline is None or not compiled.ok:
        errors = "; ".join(d.message for d in compiled.diagnostics if d.severity == "error")
        sys.exit(f"mlspec: the pipeline as run locally cannot compile: {errors}")
    pipeline = compiled.pipeline
    misread = _misread_by_kfp_local(pipeline)
    if misread:
        sys.exit(
            "mlspec: kfp's local runner hands a loop's tasks the loop's item in place of another "
            f"task's output value, so it would run {', '.join(misread)} with the wrong value "
            "(a cluster passes it): run it with --target airflow or prefect"
        )
    func = KubeflowBackend().pipeline_function(pipeline)
    # The model the run may move an alias of: the one it registers, or the one a monitor watches
    # (its rollback).
    model = (
        pipeline.registry.registered_model
        if pipeline.registry
        else pipeline.monitor.model.registered_model
        if pipeline.monitor
        else ""
    )
    before = ready(registry_uri, model)
    kfp.local.init(runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=root)
    result: dict[str, object] = {}
    try:  # what was promoted is reported even when the run itself could not be
        try:
            func(**json.loads(params))
            state, detail = "success", "SUCCEEDED"
        except RuntimeError as exc:  # kfp.local raises when a task fails
            state, detail = "failed", str(exc).splitlines()[0] if str(exc) else "FAILED"
        # Task states are read from kfp's log by the caller, which sees every line.
        result = {"state": state, "detail": detail, "run_id": "", "tasks": {}}
    finally:
        result["promoted"] = promoted(registry_uri, model, before)
        # Not print: kfp.local indents print by swapping builtins.print per task, and its
        # ParallelFor iterations, run in threads, can leave the indenting one in place.
        sys.stdout.write("MLSPEC-RESULT " + json.dumps(result, sort_keys=True) + "\n")
        sys.stdout.flush()


def _misread_by_kfp_local(pipeline: ir.Pipeline) -> list[str]:
    """Inputs of looped steps that take a value output of a task outside their loop: kfp.local
    (2.17.3, create_parameter_loop_iteration_task_spec) replaces every such input of an
    iteration with the item."""
    return [
        f"{step.name}.{item.name}"
        for step in pipeline.steps
        if step.loop is not None
        for item in step.inputs
        if isinstance(item.source, ir.OutputRef)
        and not item.is_artifact
        and pipeline.step(item.source.step).loop != step.loop
    ]


if __name__ == "__main__":
    main()
