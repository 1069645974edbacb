"""Plans for mlspec's own tracking tasks on Kubeflow (backends/lineage.py says what they do).

TRACK_TASK runs first, inside the exit handler, and every root step waits for it; its output,
the MLflow run id, is an input of every gate, promotion and LINEAGE_TASK. LINEAGE_TASK reads
every step's scalar outputs and datasets, so the layout places it in the innermost `dsl.If`
block of the steps (KFP lets a task read a task in a block only from inside that block): it
runs when every step ran. Where the steps sit in blocks that do not nest (two gates that guard
different steps), no task sees them all: LINEAGE_TASK then reads the steps outside every block
(layout.py), and the gates still record the datasets they read. CLOSE_TASK is the exit
handler's task: an exit task may take no other task's output, so it finds the run by the
pipeline job's id (lineage.find_run); its `PipelineTaskFinalStatus` says how the run ended.
All three run the shared runtime module (runtime.py).
"""

from __future__ import annotations

from mlspec.backends import lineage
from mlspec.backends.kubeflow.plan import (
    DEFAULT_PYTHON_IMAGE,
    Parameter,
    Plan,
    RunId,
    annotation,
    entry,
    param_annotation,
    registry_packages,
    signature,
    tracking_uri_code,
)
from mlspec.backends.pysource import literal
from mlspec.compiler import ir
from mlspec.runtime.lineage import CLOSE_TASK, LINEAGE_TASK, TRACK_TASK

TRACK_OUTPUT = "Output"  # TRACK_TASK's single return value: the MLflow run id, or ""
TRACKING_RUN = "tracking_run"  # the input that takes it
# The runtime functions the tracking tasks call (runtime_wheel.entries).
ENTRIES = (
    "lineage:close_run",
    "lineage:find_run",
    "lineage:open_run",
    "lineage:record_gate",
    "lineage:record_steps",
)


def tracking_run() -> Parameter:
    """The input of a gate, promotion or LINEAGE_TASK that takes TRACK_TASK's run id."""
    return Parameter(TRACKING_RUN, "str", ir.OutputRef(TRACK_TASK, TRACK_OUTPUT))


def tracking_arg(pipeline: ir.Pipeline, extra: str) -> str:
    """The `tracking=` argument of a runtime entry point: the URI, the run, and `extra`."""
    return f"tracking={{'uri': {tracking_uri_code(pipeline)}, 'run': {TRACKING_RUN}, {extra}}},"


def datasets_code(names: list[str], paths: dict[str, str], readers: dict[str, list[str]]) -> str:
    """The datasets list of lineage.record_datasets; `paths`: each name's path expression."""
    items = [
        f"{{'name': {name!r}, 'path': {paths[name]}, 'readers': {literal(readers[name])}}}"
        for name in names
        if name in paths
    ]
    return f"[{', '.join(items)}]"


def gate_datasets_code(
    pipeline: ir.Pipeline, gate: ir.Gate, parameters: tuple[Parameter, ...]
) -> str:
    """A gate's `datasets`: each dataset it reads, at the path of the input that takes it."""
    paths = {
        f"{p.binding.step}.{p.binding.output}": f"{p.name}.path"
        for p in parameters
        if isinstance(p.binding, ir.OutputRef)
    }
    readers = lineage.dataset_readers(pipeline)
    return datasets_code(lineage.gate_datasets(pipeline, gate), paths, readers)


def track_plan(pipeline: ir.Pipeline) -> Plan:
    parameters = (
        Parameter("run_id", "str", RunId()),
        *(
            Parameter(f"param_{p.name}", param_annotation(p.type), ir.ParamRef(p.name))
            for p in pipeline.params
        ),
    )
    params = ", ".join(f"{p.name!r}: param_{p.name}" for p in pipeline.params)
    lines = [
        f"def {TRACK_TASK}({signature(parameters)}, {entry(TRACK_TASK)}) -> str:",
        "    return _mlspec_runtime('lineage').open_run(",
        f"        {tracking_uri_code(pipeline)},",
        f"        identity={_no_placeholder(literal(lineage.identity(pipeline), 2, 17))},",
        "        pipeline_run=run_id,",
        "        engine='kubeflow',",
        "        engine_run_id=run_id,",
        f"        params={{{params}}},",
        "    )",
    ]
    return _plan(pipeline, TRACK_TASK, parameters, lines, (), "Opens the run's MLflow run.")


def _no_placeholder(source: str) -> str:
    """KFP substitutes `{{$...` anywhere in a component's command, string literals included.
    Spec text never holds one (checks.py), but the spec's file name may: in a literal of plain
    values it can only be string content, which `{\\x7b$` spells without changing it."""
    return source.replace("{{$", "{\\x7b$")


def lineage_plan(pipeline: ir.Pipeline, steps: list[ir.Step], collected: bool = True) -> Plan:
    """LINEAGE_TASK reading `steps`: their scalar outputs and datasets (a looped step's only if
    `collected`); waits for the others. A looped step's outputs come collected, and are
    recorded per iteration as the python-worker runtime names them, `STEP.INDEX.OUTPUT`."""
    scalars = [(s, o) for s in steps for o in s.outputs if not o.is_artifact]
    datasets = [
        (s, o)
        for s in steps
        if collected or s.loop is None
        for o in s.outputs
        if o.type == "dataset"
    ]

    def parameter(name: str, step: ir.Step, output: ir.Output) -> Parameter:
        ref = ir.OutputRef(step.name, output.name)
        looped = step.loop is not None
        kind = annotation(output.type, "in", looped)
        return Parameter(name, kind, ir.FanIn(ref) if looped else ref)

    parameters = (
        tracking_run(),
        *(parameter(f"output_{i}", s, o) for i, (s, o) in enumerate(scalars)),
        *(parameter(f"dataset_{i}", s, o) for i, (s, o) in enumerate(datasets)),
    )
    read = {s.name for s, _ in scalars + datasets}
    after = tuple(s.name for s in steps if s.name not in read and s.loop is None)
    outputs = ", ".join(_recorded(s, o, f"output_{i}") for i, (s, o) in enumerate(scalars))
    readers = lineage.dataset_readers(pipeline)
    plain = [(s, o, i) for i, (s, o) in enumerate(datasets) if s.loop is None]
    paths = {f"{s.name}.{o.name}": f"dataset_{i}.path" for s, o, i in plain}
    looped = [
        f"{{'name': {_key(s, o)}, 'path': _mlspec_d.path, "
        f"'readers': {literal(readers[f'{s.name}.{o.name}'])}}}"
        f" for _mlspec_i, _mlspec_d in enumerate(dataset_{i})"
        for i, (s, o) in enumerate(datasets)
        if s.loop is not None and f"{s.name}.{o.name}" in readers
    ]
    every = datasets_code(list(paths), paths, readers)
    every += "".join(f" + [{item}]" for item in looped)
    lines = [
        f"def {LINEAGE_TASK}({signature(parameters)}, {entry(LINEAGE_TASK)}):",
        "    _mlspec_runtime('lineage').record_steps(",
        f"        {tracking_uri_code(pipeline)},",
        f"        {TRACKING_RUN},",
        f"        {{{outputs}}},",
        f"        {every},",
        "    )",
    ]
    return _plan(pipeline, LINEAGE_TASK, parameters, lines, after, "Records every step's outputs.")


def _key(step: ir.Step, output: ir.Output) -> str:
    """The expression of an output's lineage name in an iteration `_mlspec_i`."""
    return f"f{f'{step.name}.{{_mlspec_i}}.{output.name}'!r}"


def _recorded(step: ir.Step, output: ir.Output, name: str) -> str:
    """An item of record_steps' `outputs`: `STEP.OUTPUT`, or one per iteration."""
    if step.loop is None:
        return f"{f'{step.name}.{output.name}'!r}: {name}"
    return f"**{{{_key(step, output)}: _mlspec_v for _mlspec_i, _mlspec_v in enumerate({name})}}"


def close_plan(pipeline: ir.Pipeline) -> Plan:
    """The exit handler's task: prints how the run ended (as the untracked run's outcome task
    does) and closes the MLflow run."""
    parameters = (Parameter("run_id", "str", RunId()),)
    lines = [
        f"def {CLOSE_TASK}(status: PipelineTaskFinalStatus, run_id: str, {entry(CLOSE_TASK)}):",
        "    print(f'mlspec: run {status.pipeline_job_resource_name} ended {status.state}')",
        "    if status.error_code or status.error_message:",
        "        print(f'mlspec: error {status.error_code}: {status.error_message}')",
        "    _mlspec_lineage = _mlspec_runtime('lineage')",
        f"    _mlspec_uri = {tracking_uri_code(pipeline)}",
        "    _mlspec_lineage.close_run(",
        "        _mlspec_uri,",
        f"        _mlspec_lineage.find_run(_mlspec_uri, {pipeline.name!r}, run_id),",
        "        succeeded=status.state == 'SUCCEEDED',",
        "    )",
    ]
    return _plan(pipeline, CLOSE_TASK, parameters, lines, (), "Ends the run's MLflow run.")


def _plan(
    pipeline: ir.Pipeline,
    name: str,
    parameters: tuple[Parameter, ...],
    lines: list[str],
    after: tuple[str, ...],
    description: str,
) -> Plan:
    return Plan(
        name=name,
        kind="tracking",
        parameters=parameters,
        scalar_outputs=(),
        source="\n".join(lines) + "\n",
        image=DEFAULT_PYTHON_IMAGE,
        packages=registry_packages(pipeline),
        step=None,
        after=after,
        span=pipeline.span,
        description=description,
    )
