"""Fan-out (`for_each`): the unrolled IR, what each target's output makes of it (read back by
kfp's protobufs, Prefect's loader; Airflow's DagBag in tests/backends/test_fanout_engines.py),
`mlspec graph` and `mlspec diff`. Running it on every engine: test_fanout_engines.py."""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import generated, kfp_ir

from mlspec import api, graph
from mlspec.backends import lineage, taskdata
from mlspec.backends.kubeflow.steps import step_plan
from mlspec.compiler import analyze_file, analyze_text, ir
from mlspec.diff.changes import compare

ROOT = Path(__file__).resolve().parents[2]
REGIONS = ROOT / "specs" / "valid" / "regions.yaml"
SMALL = ROOT / "tests" / "support" / "specs" / "fanout.yaml"
TWELVE = ["eu", "uk", "us", "ca", "br", "mx", "in", "jp", "kr", "au", "za", "sg"]


@pytest.fixture(scope="module")
def regions() -> ir.Pipeline:
    return analyze_file(REGIONS).pipeline


def test_the_forty_step_pipeline_is_a_short_spec(regions: ir.Pipeline) -> None:
    assert len(REGIONS.read_text(encoding="utf-8").splitlines()) < 80
    # 12 regions x 3 feature steps, the fan-in, 3 trainers, the selection
    assert len(regions.steps) == 41
    for step in ("ingest", "clean", "features"):
        copies = [s for s in regions.steps if s.fan_out and s.fan_out.step == step]
        assert [s.name for s in copies] == [f"{step}__{r}" for r in TWELVE]
        assert [(s.fan_out.index, s.fan_out.item) for s in copies if s.fan_out] == list(
            enumerate(TWELVE)
        )


def test_item_is_the_element_and_a_same_list_reader_reads_its_element(
    regions: ir.Pipeline,
) -> None:
    features = regions.step("features__jp")
    inputs = {i.name: i for i in features.inputs}
    assert inputs["region"].source == ir.Constant("jp") and inputs["region"].type == "str"
    assert inputs["cleaned"].source == ir.OutputRef("clean__jp", "table")
    assert features.upstream == ("clean__jp",)


def test_a_step_without_for_each_collects_in_list_order(regions: ir.Pipeline) -> None:
    combine = {i.name: i for i in regions.step("combine").inputs}
    assert combine["tables"].source == ir.Collected(
        tuple(ir.OutputRef(f"features__{r}", "table") for r in TWELVE)
    )
    assert combine["dropped"].type == "int"  # the element type; the function gets a list
    assert set(regions.step("combine").upstream) == {
        f"{s}__{r}" for s in ("features", "clean") for r in TWELVE
    }
    # A fanned step reading a step without for_each reads its one output.
    train = {i.name: i for i in regions.step("train__forest").inputs}
    assert train["table"].source == ir.OutputRef("combine", "table")
    assert train["algorithm"].source == ir.Constant("forest")


def test_elements_that_are_not_words_are_named_by_index() -> None:
    text = SMALL.read_text(encoding="utf-8").replace(
        "for_each: [eu, us, apac]", "for_each: [0.5, 1.5, 2.5]"
    )
    text = text.replace("region: item", "region: {value: eu}", 1)
    text = text.replace("{region: item, raw: make.table}", "{factor: item, raw: make.table}")
    pipeline = analyze_text(text, str(SMALL)).pipeline
    assert [s.name for s in pipeline.steps][:3] == ["make__0", "make__1", "make__2"]
    factor = next(i for i in pipeline.step("features__2").inputs if i.name == "factor")
    assert factor.source == ir.Constant(2.5) and factor.type == "float"


def test_airflow_and_prefect_tasks_read_a_fan_in_as_a_list(regions: ir.Pipeline) -> None:
    data = taskdata.step_data(regions.step("select"))
    inputs = data["inputs"]
    assert isinstance(inputs, dict)
    assert inputs["models"] == {
        "collect": [{"artifact": [f"train__{a}", "model"]} for a in ("gbm", "forest", "linear")]
    }
    assert inputs["aucs"] == {
        "collect": [{"output": [f"train__{a}", "auc"]} for a in ("gbm", "forest", "linear")]
    }


def test_the_runtime_reads_a_collected_input_as_a_list(tmp_path: Path) -> None:
    from mlspec.runtime import tasks

    class Run:
        artifact_root, pipeline, run_id = str(tmp_path), "p", "r1"
        params: dict[str, object] = {}
        steps = {f"s__{n}": {"kind": "python", "outputs": {"n": "int"}} for n in ("a", "b")}

        def results(self, step: str) -> dict:
            return {"n": {"s__a": 1, "s__b": "2"}[step]}

    spec = {"collect": [{"output": ["s__a", "n"]}, {"output": ["s__b", "n"]}]}
    assert tasks.input_value(Run(), spec) == [1, 2]  # type: ignore[arg-type]
    paths = tasks.input_value(Run(), {"collect": [{"artifact": ["s__b", "t"]}]})  # type: ignore[arg-type]
    assert paths == [tasks.artifact_path(str(tmp_path), "p", "r1", "s__b", "t")]


def test_kubeflow_passes_one_parameter_per_copy_and_the_function_one_list(
    regions: ir.Pipeline,
) -> None:
    plan = step_plan(regions.step("select"))
    names = [p.name for p in plan.parameters]
    assert names == [
        "models__0",
        "models__1",
        "models__2",
        "aucs__0",
        "aucs__1",
        "aucs__2",
        "model",
    ]
    assert plan.source is not None
    namespace: dict = {}
    exec(compile(plan.source.replace("Input[Model]", "object"), "select", "exec"), namespace)
    seen: dict = {}
    module = types.ModuleType("demand.steps")
    module.select = lambda **kwargs: seen.update(kwargs) or {"auc": 0.9}  # type: ignore[attr-defined]
    sys.modules["demand.steps"] = module
    try:
        artifact = type("A", (), {})
        made = [artifact() for _ in range(4)]
        for i, a in enumerate(made):
            a.path = f"/m{i}"
        result = namespace["select"](made[0], made[1], made[2], 0.5, 0.9, 0.7, made[3])
    finally:
        del sys.modules["demand.steps"]
    assert seen == {"models": ["/m0", "/m1", "/m2"], "aucs": [0.5, 0.9, 0.7], "model": "/m3"}
    assert tuple(result) == (0.9,)


def test_every_target_compiles_it_and_kfp_reads_it_back(tmp_path: Path) -> None:
    for target in ("kubeflow", "airflow", "prefect"):
        files = generated.compile_in(tmp_path / target, REGIONS, target)
        if target == "kubeflow":
            [text] = [v.decode() for k, v in files.items() if k.endswith(".kfp.yaml")]
            [spec, *_] = kfp_ir.validate(text)
            tasks = spec["root"]["dag"]["tasks"]
            inner = [
                t for c in spec["components"].values() for t in c.get("dag", {}).get("tasks", {})
            ]
            assert {f"features-{r}" for r in TWELVE} <= {*tasks, *inner}


def test_prefect_loads_the_flow(tmp_path: Path) -> None:
    from prefect.flows import load_flow_from_entrypoint

    files = generated.compile_in(tmp_path / "spec", REGIONS, "prefect")
    deploy = yaml.safe_load(files["prefect.yaml"])["deployments"][0]
    path, _, function = deploy["entrypoint"].partition(":")
    flow: Any = load_flow_from_entrypoint(f"{tmp_path / 'spec' / 'out' / path}:{function}")
    assert flow.name == "regional-demand"


def test_lineage_records_each_elements_dataset(regions: ir.Pipeline) -> None:
    readers = lineage.dataset_readers(regions)
    assert readers["features__eu.table"] == ["combine"]
    assert readers["clean__sg.table"] == ["features__sg"]
    trainers = [f"train__{a}" for a in ("gbm", "forest", "linear")]
    assert readers["combine.table"] == sorted(["enough_rows", *trainers])


def test_graph_draws_each_loop_once(regions: ir.Pipeline) -> None:
    drawn = graph.build(regions)
    steps = [n for n in drawn.nodes if n.kind == "step"]
    assert [n.id for n in steps] == [
        f"step_{s}" for s in ("ingest", "clean", "features", "combine", "train", "select")
    ]
    assert steps[0].label.endswith("for each: eu, uk, us, ca, br, mx, ... (12)")
    edges = {(e.source, e.target): e.label for e in drawn.edges}
    assert edges[("step_features", "step_combine")] == "table[]"
    assert edges[("step_clean", "step_features")] == "table"


def test_diff_reports_a_changed_list_once() -> None:
    text = REGIONS.read_text(encoding="utf-8")
    old = analyze_text(text, "regions.yaml").pipeline
    new = analyze_text(text.replace(", sg]", ", sg, nz]"), "regions.yaml").pipeline
    changes = compare(old, new)
    fanned = [c for c in changes if "for_each" in c.summary]
    assert [(c.subject, c.risk) for c in fanned] == [
        ("step clean", "review"),
        ("step features", "review"),
        ("step ingest", "review"),
    ]
    assert fanned[0].summary.endswith("sg] -> [eu, uk, us, ca, br, mx, in, jp, kr, au, za, sg, nz]")
    assert not [c for c in changes if c.summary in ("added", "removed")]


def test_a_target_says_a_problem_of_a_fanned_step_once_of_the_spec_step(tmp_path: Path) -> None:
    text = SMALL.read_text(encoding="utf-8")
    start = text.index("defaults:")
    text = text[:start] + text[text.index("steps:") :]  # no wheels: MS303 on Kubeflow
    spec = tmp_path / "fanout.yaml"
    spec.write_text(text, encoding="utf-8")
    shutil.copytree(SMALL.parent / "fanout_demo", tmp_path / "fanout_demo")
    compiled = api.compile_pipeline(str(spec), "kubeflow", emit=False)
    said = [
        (d.code, d.span.line, d.message.split(" in the default")[0]) for d in compiled.diagnostics
    ]
    assert said == [
        ("MS303", 10, "kubeflow runs Python step 'make'"),
        ("MS303", 15, "kubeflow runs Python step 'features'"),
        ("MS303", 20, "kubeflow runs Python step 'combine'"),
    ]
