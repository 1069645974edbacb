"""The prefect target: snapshots, Prefect's own loaders, determinism, and hostile strings.

Snapshots (flow file and prefect.yaml per example, found by glob) are in __snapshots__/:
update them with `pytest --snapshot-update`, then read the diff. The flagship runs on the real
Prefect engine in test_run.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from support import generated, hostile
from support.yaml_readers import assert_reads_back, yaml_string

from mlspec.backends.prefect import PrefectBackend, deployment
from mlspec.backends.prefect.flow import function_name, param_default
from mlspec.compiler import analyze_file, analyze_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/pipeline.yaml"))
# Loops (mapped tasks) over a written list and over a list parameter.
LOOP_SPECS = [ROOT / "specs" / "valid" / "regions.yaml", ROOT / "tests/support/specs/fanout.yaml"]
BACKEND = PrefectBackend()


def emit_text(text: str, name: str = "spec.yaml") -> dict[str, str]:
    pipeline = analyze_text(text, name).pipeline
    assert [d for d in BACKEND.check(pipeline) if d.severity == "error"] == []
    return {a.path: a.text for a in generated.without_rollout(BACKEND.emit(pipeline))}


def _spec_id(spec: Path) -> str:
    return spec.parent.name if spec.name == "pipeline.yaml" else spec.stem


@pytest.fixture(scope="module", params=EXAMPLES + LOOP_SPECS, ids=_spec_id)
def compiled(request: pytest.FixtureRequest, tmp_path_factory) -> tuple[Path, Path, dict]:
    """(spec, the output folder, {file: text})."""
    spec: Path = request.param
    files = emit_text(spec.read_text(), spec.name)
    folder = tmp_path_factory.mktemp("prefect")
    for path, text in files.items():
        (folder / path).write_text(text)
    return spec, folder, files


def test_example_snapshot(compiled: tuple[Path, Path, dict], snapshot: object) -> None:
    assert compiled[2] == snapshot


def test_flow_file_is_python_that_imports_prefect_only_from_its_api(
    compiled: tuple[Path, Path, dict],
) -> None:
    files = compiled[2]
    flow_file = next(text for path, text in files.items() if path.endswith(".py"))
    modules = {
        node.module
        for node in ast.walk(ast.parse(flow_file))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert {m for m in modules if m.startswith("prefect")} <= {
        "prefect", "prefect.cache_policies", "prefect.events", "prefect.runtime", "prefect.states",
        "prefect_kubernetes.jobs",
    }  # fmt: skip


def test_prefect_loads_the_flow_and_the_deployment(compiled: tuple[Path, Path, dict]) -> None:
    """Prefect's own loaders: the flow from its entrypoint, prefect.yaml through its models."""
    from prefect.cli.deploy._models import PrefectYamlModel
    from prefect.flows import load_flow_from_entrypoint

    spec, folder, files = compiled
    pipeline = analyze_file(spec).pipeline
    config = PrefectYamlModel.model_validate(yaml.safe_load(files["prefect.yaml"]))
    [deploy] = config.deployments
    assert deploy.name == pipeline.name and deploy.version == pipeline.version
    assert deploy.entrypoint is not None
    path, _, function = deploy.entrypoint.partition(":")
    assert function == function_name(pipeline)
    flow = load_flow_from_entrypoint(f"{folder / path}:{function}")
    assert flow.name == pipeline.name and flow.version == pipeline.version
    schema = flow.parameters.model_dump()
    assert list(schema["properties"]) == [p.name for p in pipeline.params]
    described = {n: p.get("description") for n, p in schema["properties"].items()}
    assert described == {p.name: p.description or None for p in pipeline.params}
    assert deploy.parameters == {p.name: param_default(p) for p in pipeline.params}
    if pipeline.schedule:
        [schedule] = deploy.schedules or []
        assert schedule.cron == pipeline.schedule.cron
        assert schedule.timezone == pipeline.schedule.timezone
    assert deploy.work_pool is not None and deploy.work_pool.name == deployment.WORK_POOL
    labels = [f"{k}:{v}" for k, v in pipeline.labels]
    assert deploy.tags == ["mlspec", *labels, *(f"owner:{o}" for o in pipeline.owners)]


def test_a_list_parameter_is_a_list_in_the_run_form(tmp_path: Path) -> None:
    """The flow's signature types it: Prefect's run form takes a list and refuses text, and the
    deployment's default is a YAML list."""
    from prefect.flows import load_flow_from_entrypoint

    spec = LOOP_SPECS[1]
    files = emit_text(spec.read_text(), spec.name)
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    flow = load_flow_from_entrypoint(f"{tmp_path / 'fanout.py'}:fanout_flow")
    regions = flow.parameters.model_dump()["properties"]["regions"]
    assert regions["type"] == "array" and regions["items"] == {"type": "string"}
    assert yaml.safe_load(files["prefect.yaml"])["deployments"][0]["parameters"]["regions"] == [
        "eu", "us", "apac"
    ]  # fmt: skip
    assert flow.validate_parameters({"regions": ["eu"]})["regions"] == ["eu"]
    with pytest.raises(Exception, match="regions"):
        flow.validate_parameters({"regions": "eu"})


# -- prefect.yaml keys -----------------------------------------------------------------------


def _model_keys(model: type) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def test_known_keys_are_exactly_what_prefect_reads() -> None:
    """mlspec's key table against Prefect's own models, so the check cannot drift."""
    from prefect.cli.deploy import _models as m

    assert set(deployment.KEYS) == _model_keys(m.PrefectYamlModel)
    [deploy] = deployment.KEYS["deployments"]  # type: ignore[misc]
    assert set(deploy) == _model_keys(m.DeploymentConfig)
    assert set(deploy["work_pool"]) == _model_keys(m.WorkPoolConfig)
    assert set(deploy["concurrency_limit"]) == _model_keys(m.ConcurrencyLimitSpec)
    assert set(deploy["schedules"][0]) == _model_keys(m.RawScheduleConfig)


def test_misspelled_keys_are_found() -> None:
    data = {
        "name": "x",
        "deployment": [],
        "deployments": [
            {"name": "d", "schedule": {"cron": "* * * * *", "timezone": "UTC"}},
            {"name": "e", "workpool": {"name": "p"}, "schedules": [{"cron": "1", "tz": "x"}]},
            {"work_pool": {"name": "p", "job_variable": {}}},
        ],
    }
    assert deployment.check_keys(data) == [
        "prefect.yaml.deployment",
        "prefect.yaml.deployments[1].workpool",
        "prefect.yaml.deployments[1].schedules[0].tz",
        "prefect.yaml.deployments[2].work_pool.job_variable",
    ]


# -- determinism and imports -----------------------------------------------------------------


def test_compiling_imports_no_orchestrator(tmp_path: Path) -> None:
    assert generated.orchestrators_imported_by_compile(EXAMPLES[0], "prefect", tmp_path) == []


# -- spec strings stay data ------------------------------------------------------------------


def _flow(files: dict[str, str]) -> str:
    return next(text for path, text in files.items() if path.endswith(".py"))


def _hostile_without_param_default(text: str) -> str:
    # A `{{` in a string parameter's default cannot go into prefect.yaml (MS301, tested below).
    return hostile.spec(text).replace('"default": ' + _json(text), '"default": "safe"', 1)


def _json(text: str) -> str:
    import json

    return json.dumps(text)


def test_hostile_strings_add_no_code() -> None:
    harmful = emit_text(_hostile_without_param_default(hostile.HOSTILE), "hostile.yaml")
    harmless = emit_text(_hostile_without_param_default(hostile.HARMLESS), "hostile.yaml")
    assert generated.shape(_flow(harmful)) == generated.shape(_flow(harmless))
    strings = hostile.module_strings(_flow(harmful))
    assert hostile.HOSTILE in strings  # verbatim: nothing in a flow is rendered by Jinja
    assert "/tmp/" + hostile.HOSTILE in strings and "http://" + hostile.HOSTILE in strings
    assert hostile.HOSTILE not in harmful["prefect.yaml"]


def test_a_param_default_prefect_would_template_is_ms301() -> None:
    pipeline = analyze_text(hostile.spec(), "hostile.yaml").pipeline
    [problem] = [d for d in BACKEND.check(pipeline) if d.severity == "error"]
    assert problem.code == "MS301"
    assert "parameter 'p'" in problem.message and "placeholder" in problem.message


LOOP_SPEC = """apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: loop-text, version: 1.0.0}
params:
  names: {type: "list[str]", default: DEFAULT}
steps:
  each:
    for_each: params.names
    python: mod:each
    inputs: {name: item}
  other:
    for_each: WRITTEN
    python: mod:each
    inputs: {name: item}
"""


def _loop_spec(default: list[str], written: list[str]) -> str:
    return LOOP_SPEC.replace("DEFAULT", _json(default)).replace("WRITTEN", _json(written))


def test_loop_elements_stay_text() -> None:
    """Elements of a written list and of a list parameter's default are data in the flow and
    in prefect.yaml, never code; a `{{` in a default is refused, as in a string default."""
    default = hostile.HOSTILE.replace("{{", "{")  # with `{{`: MS301, below
    harmful = emit_text(_loop_spec([default], [hostile.HOSTILE]), "loop.yaml")
    harmless = emit_text(_loop_spec([hostile.HARMLESS], [hostile.HARMLESS]), "loop.yaml")
    assert generated.shape(_flow(harmful)) == generated.shape(_flow(harmless))
    strings = hostile.module_strings(_flow(harmful))
    assert hostile.HOSTILE in strings and default in strings
    [deploy] = yaml.safe_load(harmful["prefect.yaml"])["deployments"]
    assert deploy["parameters"] == {"names": [default]}
    templated = _loop_spec(["a", "{{ prefect.variables.x }}"], ["b"])
    pipeline = analyze_text(templated, "l.yaml").pipeline
    [problem] = [d for d in BACKEND.check(pipeline) if d.severity == "error"]
    assert problem.code == "MS301" and "parameter 'names'" in problem.message


# -- prefect.yaml reads back as written ------------------------------------------------------

SPEC = """apiVersion: mlspec/v1
kind: Pipeline
metadata:
  name: texts
  version: 1.0.0
  labels: {LABELS}
params:
PARAMS
steps:
  make:
    python: steps:make
    outputs: {score: float}
"""


def text_spec(defaults: dict[str, str], labels: dict[str, str] | None = None) -> str:
    params = "".join(
        f"  {k}: {{type: str, default: {yaml_string(v)}}}\n" for k, v in defaults.items()
    )
    pairs = ", ".join(f"{yaml_string(k)}: {yaml_string(v)}" for k, v in (labels or {}).items())
    return SPEC.replace("PARAMS\n", params).replace("{LABELS}", "{" + pairs + "}")


ISSUE_DEFAULTS = {
    "country": "no",  # YAML 1.2's dumper wrote `country: no`, which Prefect read as False
    "when": "1:30",  # ... `when: 1:30`, read as 90
    "name": "yes",
    "at": "12:30:00",
    "flag": "y",
    "big": "1e3",
    "mode": "0o17",
    "day": "2001-12-14",
}


def test_string_defaults_reach_prefect_as_strings() -> None:
    """#16 item 1: Prefect reads prefect.yaml with PyYAML (YAML 1.1)."""
    from prefect.cli.deploy._models import PrefectYamlModel

    pipeline = analyze_text(text_spec(ISSUE_DEFAULTS, {"1": "30"}), "texts.yaml").pipeline
    text = deployment.render(pipeline)
    [deploy] = PrefectYamlModel.model_validate(yaml.safe_load(text)).deployments
    assert deploy.parameters == ISSUE_DEFAULTS
    assert deploy.tags == ["mlspec", "1:30"]
    assert_reads_back(text, [deployment.prefect_yaml(pipeline)])


# Label keys and values are Kubernetes-checked; a tag `1:30` (`1: "30"`) is still sexagesimal.
LABEL_KEY = st.from_regex(r"[a-z0-9]([a-z0-9._-]{0,6}[a-z0-9])?", fullmatch=True)
LABEL_VALUE = st.from_regex(r"([A-Za-z0-9]([A-Za-z0-9._-]{0,6}[A-Za-z0-9])?)?", fullmatch=True)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30) | st.sampled_from(
    [*ISSUE_DEFAULTS.values(), "Y", "N", "0b101", "1_000", "\r\n", "\u2028", "\x85", "\x0b"]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=4), st.dictionaries(LABEL_KEY, LABEL_VALUE, max_size=2))
def test_any_default_and_label_reads_back_under_every_reader(texts: list, labels: dict) -> None:
    assume(not any("{{" in t for t in texts))  # refused with MS301 (tested above)
    defaults = {f"p{i}": text for i, text in enumerate(texts)}
    pipeline = analyze_text(text_spec(defaults, labels), "texts.yaml").pipeline
    assert_reads_back(deployment.render(pipeline), [deployment.prefect_yaml(pipeline)])
