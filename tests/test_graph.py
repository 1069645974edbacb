"""`mlspec graph`: the pipeline as Mermaid and DOT, checked by their real consumers.

Mermaid output is parsed by Mermaid's own parser (the npm package GitHub's renderer is built on)
under node, from tests/mermaid/ (installed there with `npm ci` on first use). DOT output is
rendered by Graphviz's `dot`. Without node or dot these tests skip with the reason in the
summary, so that a machine with Python and uv only passes; .ci/run installs both and sets
MLSPEC_REQUIRE_TOOLS, under which a missing tool fails the tests, so CI always checks the
diagrams. Snapshots of the two examples are in __snapshots__/: update them with
`pytest --snapshot-update`, then read the diff.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import re
import subprocess
import sys
import typing
import xml.etree.ElementTree as ET
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import hostile, mermaid
from support.environments import with_environments

from mlspec import graph
from mlspec.compiler import analyze_file, analyze_text
from mlspec.diff import diff, render
from mlspec.diff.sources import Side
from mlspec.graph import Edge, Graph, Node

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*/pipeline.yaml"))
FLAGSHIP = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
TRIGGERED = ROOT / "tests" / "support" / "specs" / "pipeline-triggers.yaml"
LOOPS = ROOT / "tests" / "support" / "specs" / "fanout.yaml"
MONITORS = sorted((ROOT / "examples").glob("*/monitor.yaml"))
SPECS = [
    *EXAMPLES,
    *MONITORS,
    *sorted((ROOT / "specs" / "valid").glob("*.yaml")),
    TRIGGERED,
    LOOPS,
]
SVG = "{http://www.w3.org/2000/svg}"
ENVS = ("dev", "staging", "prod")

MERMAID_SHAPES = {
    "step": "square",
    "gate": "hexagon",
    "promotion": "stadium",
    "rollout": "subroutine",
    "schedule": "odd",
    "trigger": "lean_right",
    "model": "round",
    "data": "cylinder",
    "monitor": "hexagon",
    "alarm": "odd",
    "rollback": "trapezoid",
    "environment": "inv_trapezoid",
}


# Text built to end a label early and start something else, in either language.
NASTY = (
    '"] --> injected["x"]',
    '%%{init: {"theme": "dark"}}%%',
    "<script>alert(1)</script> <img src=x onerror=alert(1)> <br> &lt; &amp;",
    "#quot; #35; &#35; | `**bold**` ; end subgraph style click step_a call alert()",
    '\\N \\G \\" \\\\ \\l \\n { } [ ] ( ) < > -->|x| === -.-> ~~~ o--o x--x',
    "  spaces at both ends  ",
    "\u202eevil\u202c \u00e9\u00df \u4e2d\u6587 \U0001f600 \t tab \r cr \u00a0 nbsp",
)


def _label(kind: str) -> str:
    return "\n".join((kind, hostile.HOSTILE.replace("\n", " "), *NASTY))


def hostile_graph() -> Graph:
    """Every kind of node and an edge of each colour, all labelled with hostile text."""
    kinds = typing.get_args(graph.Kind)
    nodes = tuple(Node(graph.node_id(kind, "x-" + kind), _label(kind), kind) for kind in kinds)
    edges = tuple(Edge(a.id, b.id, _label("edge")) for a, b in itertools.pairwise(nodes))
    return Graph(nodes, edges)


def hostile_marks(g: Graph) -> dict[str | Edge, graph.Mark]:
    marks: dict[str | Edge, graph.Mark] = {}
    for item, mark in zip(g.nodes, ("added", "changed", "removed"), strict=False):
        marks[item.id] = mark
    for edge, mark in zip(g.edges, ("added", "changed", "removed"), strict=False):
        marks[edge] = mark
    return marks


OLD_SPEC = """
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: pair, version: 1.0.0}
params:
  min_auc: {type: float, default: 0.9}
steps:
  ingest:
    python: pair.steps:ingest
    outputs: {train: dataset}
  train:
    python: pair.steps:train
    inputs: {train: ingest.train}
    outputs: {model: model, auc: float}
gates:
  data_quality:
    dataset: ingest.train
    checks:
      - row_count: {min: 100}
  model_quality:
    require:
      - {metric: train.auc, min: params.min_auc}
registry:
  mlflow: {registered_model: pair}
  model: train.model
  promote:
    - {alias: challenger, after: [data_quality, model_quality]}
"""

# train: another function (changed); evaluate: new (added), and model_quality now reads it
# (its edge from train removed, from evaluate added); data_quality gone (removed, with its
# edges); the promotion rule unchanged in itself but fed by one gate fewer.
NEW_SPEC = """
apiVersion: mlspec/v1
kind: Pipeline
metadata: {name: pair, version: 1.1.0}
params:
  min_auc: {type: float, default: 0.9}
steps:
  ingest:
    python: pair.steps:ingest
    outputs: {train: dataset}
  train:
    python: pair.steps:train_v2
    inputs: {train: ingest.train}
    outputs: {model: model}
  evaluate:
    python: pair.steps:evaluate
    inputs: {model: train.model}
    outputs: {auc: float}
gates:
  model_quality:
    require:
      - {metric: evaluate.auc, min: params.min_auc}
registry:
  mlflow: {registered_model: pair}
  model: train.model
  promote:
    - {alias: challenger, after: [model_quality]}
"""


def merged_pair() -> tuple[Graph, dict[str | Edge, graph.Mark]]:
    old = graph.build(analyze_text(OLD_SPEC, "old.yaml").pipeline)
    new = graph.build(analyze_text(NEW_SPEC, "new.yaml").pipeline)
    return graph.merge(old, new)


@cache
def spec_graph(path: Path) -> Graph:
    return graph.build(analyze_file(path).pipeline)


def hostile_spec_graph() -> Graph:
    return graph.build(analyze_text(hostile.spec(hostile.HOSTILE), "hostile.yaml").pipeline)


def environment_graph(name: str, text: str | None = None) -> Graph:
    """The flagship with environments (support.environments), drawn as it runs in `name`."""
    analysis = analyze_text(text or with_environments(), str(FLAGSHIP))
    return graph.environment(analysis.for_environment(name))


def hostile_environment_graph() -> Graph:
    """Spec text an environment binds (an artifact root, a tracking URI) is hostile text."""
    text = with_environments().replace("s3://acme-prod/breast-cancer", json.dumps(hostile.HOSTILE))
    text = text.replace('"http://mlflow.prod:5000"', json.dumps(hostile.HOSTILE))
    return environment_graph("prod", text)


BROKEN_MERMAID = {
    # What naive quoting of a label holding a quote produces. (A label like "say "hi"" parses,
    # as "say hi": the round trips below catch that kind of damage.)
    "quote-in-label": 'flowchart TD\n    a["say "] end"] --> b\n',
    "empty-label": 'flowchart TD\n    a[""] --> b\n',
    "unclosed-label": 'flowchart TD\n    a["x --> b\n',
    # A colour ending in ';' is read as an entity code: why graph.mermaid ends no line with one.
    "style-semicolon": "flowchart TD\n    a --> b\n    linkStyle 0 stroke:#ff0000;\n",
    "no-diagram": "pipeline TD\n    a --> b\n",
}


def all_mermaid() -> dict[str, str]:
    """Every diagram the tests check, by name: node is started once for all of them."""
    diagrams = {f"spec:{p.relative_to(ROOT)}": graph.mermaid(spec_graph(p)) for p in SPECS}
    diagrams["hostile-spec"] = graph.mermaid(hostile_spec_graph())
    g = hostile_graph()
    diagrams["hostile-graph"] = graph.mermaid(g, hostile_marks(g))
    diagrams["merged"] = graph.mermaid(*merged_pair())
    diagrams["empty-label"] = graph.mermaid(Graph((Node("step_a", "", "step"),), ()))
    diagrams.update({f"environment:{n}": graph.mermaid(environment_graph(n)) for n in ENVS})
    diagrams["hostile-environment"] = graph.mermaid(hostile_environment_graph())
    diagrams.update({f"broken:{k}": v for k, v in BROKEN_MERMAID.items()})
    diagrams.update(diff_comment_diagrams())
    diagrams.update(doc_diagrams())
    return diagrams


def doc_diagrams() -> dict[str, str]:
    """The ```mermaid blocks of the documentation, which GitHub renders with the same parser."""
    out = {}
    for page in sorted((ROOT / "docs").rglob("*.md")):
        blocks = page.read_text(encoding="utf-8").split("```mermaid\n")[1:]
        for i, block in enumerate(blocks):
            out[f"doc:{page.relative_to(ROOT)}:{i}"] = block.split("```", 1)[0]
    return out


DIFF_CASES = sorted((ROOT / "tests" / "diff" / "cases").glob("*.yaml"))


def diff_comment_diagrams() -> dict[str, str]:
    """The Mermaid block of `mlspec diff --format markdown` for every case of the diff corpus."""
    out = {}
    for case in DIFF_CASES:
        data = yaml.safe_load(case.read_text())
        old = (ROOT / data["base"]).read_text()
        new = old
        for before, after in data["edits"]:
            new = new.replace(before, after)
        # the base's path: a trigger names a pipeline beside it
        comment = render.markdown([diff(Side(data["base"], old), Side(data["base"], new))])
        block = comment.split("```mermaid\n", 1)[1].split("```", 1)[0]
        out[f"diff:{case.stem}"] = block
    return out


# --- the consumers -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mermaid_results() -> dict[str, dict[str, Any]]:
    """Mermaid's verdict on every diagram of `all_mermaid`, by name."""
    diagrams = all_mermaid()
    return dict(zip(diagrams, mermaid.parse(list(diagrams.values())), strict=True))


@pytest.fixture(scope="session")
def render_dot() -> Callable[[str], subprocess.CompletedProcess[bytes]]:
    dot = mermaid.require_tool("dot", "install Graphviz (`apt-get install graphviz`; .ci/run does)")
    return lambda text: subprocess.run(
        [dot, "-Tsvg"], input=text.encode(), capture_output=True, timeout=60
    )


def svg_of(render: Callable[[str], subprocess.CompletedProcess[bytes]], text: str) -> ET.Element:
    done = render(text)
    assert done.returncode == 0, done.stderr.decode()
    root = ET.fromstring(done.stdout)
    assert root.tag == f"{SVG}svg"
    return root


def _spaced(line: str) -> str:
    """Graphviz writes a space that follows a space as U+00A0, to keep it in SVG."""
    return line.replace("\xa0", " ")


def svg_items(root: ET.Element, cls: str) -> dict[str, list[str]]:
    """The text lines of each node or edge Graphviz drew, by its title (its id, or a->b)."""
    found = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == cls:
            title = group.findtext(f"{SVG}title", "")
            assert title not in found
            found[title] = [_spaced(t.text or "") for t in group.iter(f"{SVG}text")]
    return found


def _lines(label: str) -> list[str]:
    return [_spaced(line) for line in label.split("\n")]


def drawn_nodes(g: Graph) -> dict[str, list[str]]:
    return {n.id: _lines(n.label) for n in g.nodes}


def drawn_edges(g: Graph) -> dict[str, list[str]]:
    return {f"{e.source}->{e.target}": _lines(e.label) if e.label else [] for e in g.edges}


# --- Mermaid -----------------------------------------------------------------------------------


def decoded_lines(text: str) -> list[str]:
    """A parsed label as lines: our <br> separators, then Mermaid's entities decoded."""
    return [html.unescape(part) for part in text.split("<br>")]


def assert_parsed_as_drawn(result: dict[str, Any], g: Graph, marks: graph.Marks) -> None:
    """Mermaid saw exactly our nodes and edges, each with its whole label, shape and class."""
    assert result["ok"], result.get("error")
    assert result["type"] == "flowchart-v2"
    vertices = result["vertices"]
    assert [v["id"] for v in vertices] == [n.id for n in g.nodes]
    for vertex, node in zip(vertices, g.nodes, strict=True):
        assert decoded_lines(vertex["text"]) == node.label.split("\n")
        assert vertex["type"] == MERMAID_SHAPES[node.kind]
        assert vertex["classes"] == ([marks[node.id]] if node.id in marks else [])
    subgraphs = sorted(result["subgraphs"], key=lambda s: s["id"])
    clusters = sorted(g.clusters, key=lambda c: c.id)
    assert [(s["id"], sorted(s["nodes"])) for s in subgraphs] == [
        (c.id, sorted(c.members)) for c in clusters
    ]
    for parsed_cluster, cluster in zip(subgraphs, clusters, strict=True):
        assert decoded_lines(parsed_cluster["title"]) == cluster.label.split("\n")
    edges = result["edges"]
    assert [(e["start"], e["end"]) for e in edges] == [(e.source, e.target) for e in g.edges]
    for parsed, edge in zip(edges, g.edges, strict=True):
        assert (decoded_lines(parsed["text"]) if parsed["text"] else [""]) == edge.label.split("\n")
        assert parsed["stroke"] == ("dotted" if marks.get(edge) == "removed" else "normal")


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_spec_mermaid_parses(path: Path, mermaid_results: dict[str, dict[str, Any]]) -> None:
    result = mermaid_results[f"spec:{path.relative_to(ROOT)}"]
    assert_parsed_as_drawn(result, spec_graph(path), {})


def test_hostile_spec_mermaid_parses(mermaid_results: dict[str, dict[str, Any]]) -> None:
    assert_parsed_as_drawn(mermaid_results["hostile-spec"], hostile_spec_graph(), {})


@pytest.mark.parametrize("name", ENVS)
def test_environment_mermaid_parses(name: str, mermaid_results: dict[str, dict[str, Any]]) -> None:
    assert_parsed_as_drawn(mermaid_results[f"environment:{name}"], environment_graph(name), {})


def test_hostile_environment_mermaid_parses(mermaid_results: dict[str, dict[str, Any]]) -> None:
    g = hostile_environment_graph()
    assert hostile.HOSTILE.split()[0] in next(n.label for n in g.nodes if n.kind == "environment")
    assert_parsed_as_drawn(mermaid_results["hostile-environment"], g, {})


def test_hostile_labels_stay_in_their_quotes_mermaid(
    mermaid_results: dict[str, dict[str, Any]],
) -> None:
    g = hostile_graph()
    assert_parsed_as_drawn(mermaid_results["hostile-graph"], g, hostile_marks(g))


@pytest.mark.parametrize("case", [c.stem for c in DIFF_CASES])
def test_diff_comment_graph_parses(case: str, mermaid_results: dict[str, dict[str, Any]]) -> None:
    result = mermaid_results[f"diff:{case}"]
    assert result["ok"], result


@pytest.mark.parametrize("name", sorted(doc_diagrams()))
def test_doc_mermaid_parses(name: str, mermaid_results: dict[str, dict[str, Any]]) -> None:
    result = mermaid_results[name]
    assert result["ok"], result.get("error")
    assert result["vertices"] and result["edges"]


def test_merged_mermaid_parses_with_marks(mermaid_results: dict[str, dict[str, Any]]) -> None:
    assert_parsed_as_drawn(mermaid_results["merged"], *merged_pair())


@pytest.mark.parametrize("name", sorted(BROKEN_MERMAID))
def test_broken_mermaid_is_rejected(name: str, mermaid_results: dict[str, dict[str, Any]]) -> None:
    """The parser really checks: what a careless writer would emit is an error."""
    result = mermaid_results[f"broken:{name}"]
    assert not result["ok"]
    assert result["error"]


def test_empty_label_parses(mermaid_results: dict[str, dict[str, Any]]) -> None:
    result = mermaid_results["empty-label"]
    assert result["ok"], result.get("error")
    assert [(v["id"], v["text"]) for v in result["vertices"]] == [("step_a", "&#32;")]


def test_mermaid_label_escaping() -> None:
    assert graph.mermaid_text('a "b" #c <d> | é') == "a #34;b#34; #35;c #60;d#62; #124; é"
    text = graph.mermaid(Graph((Node("step_a", "x\ny", "step"),), ()))
    assert text == 'flowchart TD\n    step_a["x<br>y"]\n'
    assert not any(line.endswith(";") for line in all_mermaid()["merged"].splitlines())


# --- DOT ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_spec_dot_renders(path: Path, render_dot: Callable[..., Any]) -> None:
    g = spec_graph(path)
    root = svg_of(render_dot, graph.dot(g))
    assert svg_items(root, "node") == drawn_nodes(g)
    assert svg_items(root, "edge") == drawn_edges(g)


def test_hostile_spec_dot_renders(render_dot: Callable[..., Any]) -> None:
    g = hostile_spec_graph()
    root = svg_of(render_dot, graph.dot(g))
    assert svg_items(root, "node") == drawn_nodes(g)


def test_hostile_labels_stay_in_their_quotes_dot(render_dot: Callable[..., Any]) -> None:
    """Graphviz drew our nodes and edges only, each label whole, line for line."""
    g = hostile_graph()
    root = svg_of(render_dot, graph.dot(g, hostile_marks(g)))
    assert svg_items(root, "node") == drawn_nodes(g)
    assert svg_items(root, "edge") == drawn_edges(g)


def test_merged_dot_renders(render_dot: Callable[..., Any]) -> None:
    merged, marks = merged_pair()
    text = graph.dot(merged, marks)
    root = svg_of(render_dot, text)
    assert svg_items(root, "node") == drawn_nodes(merged)
    assert svg_items(root, "edge") == drawn_edges(merged)
    assert '"gate_data_quality" [label=' in text
    assert re.search(r'"gate_data_quality" \[.*style="filled,dashed"', text)
    assert re.search(r'"step_train" -> "gate_model_quality" \[.*style=dashed', text)


@pytest.mark.parametrize(
    "text",
    [
        'digraph pipeline {\n    "a" [label="say "hi""];\n}\n',
        'digraph pipeline {\n    "a" [label="unclosed];\n}\n',
        "digraph pipeline {\n    a -> ;\n}\n",
    ],
)
def test_broken_dot_is_rejected(text: str, render_dot: Callable[..., Any]) -> None:
    assert render_dot(text).returncode != 0


def test_dot_label_escaping() -> None:
    assert graph.dot_text('a "b" \\N & c\u2028d') == 'a \\"b\\" \\\\N &amp; c&#8232;d'


# --- JSON --------------------------------------------------------------------------------------


def test_graph_json_from_the_command_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mlspec.cli import main

    spec = tmp_path / "hostile.yaml"
    spec.write_text(hostile.spec(hostile.HOSTILE), encoding="utf-8")
    for path, expected in ((FLAGSHIP, spec_graph(FLAGSHIP)), (spec, hostile_spec_graph())):
        result = CliRunner().invoke(main, ["graph", str(path), "--format", "json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)  # stdout holds the JSON and nothing else
        assert set(data) == {"nodes", "edges", "clusters"}
        nodes = [Node(n["id"], n["label"], n["kind"]) for n in data["nodes"]]
        edges = [Edge(e["source"], e["target"], e["label"]) for e in data["edges"]]
        assert Graph(tuple(nodes), tuple(edges)) == expected  # spec text round-trips exactly
    kinds = {n["kind"] for n in json.loads(graph.as_json(spec_graph(FLAGSHIP)))["nodes"]}
    assert kinds == {"schedule", "step", "gate", "promotion", "rollout"}


def test_graph_of_an_environment_from_the_command_line(tmp_path: Path) -> None:
    """`mlspec graph --env E`: the pipeline bound to E, with a box of E's bindings and an edge
    to each gate E makes stricter; an unknown E is MS270 at the spec's line, exit 1."""
    import shutil

    from click.testing import CliRunner

    from mlspec.cli import main

    shutil.copytree(FLAGSHIP.parent / "breast_cancer", tmp_path / "breast_cancer")
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(with_environments(), encoding="utf-8")
    result = CliRunner().invoke(main, ["graph", str(spec), "--env", "prod", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    [box] = [n for n in data["nodes"] if n["kind"] == "environment"]
    assert box == {
        "id": "environment_prod",
        "kind": "environment",
        "label": "environment prod\n"
        "registry: http://mlflow.prod:5000, model breast-cancer-classifier\n"
        "artifacts: s3://acme-prod/breast-cancer\n"
        "namespace: ml-prod\n"
        "serving: 6 replicas, cpu 2, memory 4Gi\n"
        "images: ghcr.io/acme -> registry.prod.acme.io/acme\n"
        "serves versions proven in staging",
    }
    assert [e for e in data["edges"] if e["source"] == "environment_prod"] == [
        {
            "source": "environment_prod",
            "target": "gate_model_quality",
            "label": "stricter: evaluate.accuracy min 0.95",
        },
        {
            "source": "environment_prod",
            "target": "gate_data_quality",
            "label": "stricter: row_count min 300, range(mean_radius) 6..30",
        },
    ]
    # the rest is the bound pipeline: prod's namespace on the rollout, dev's schedule paused
    assert "service: ml-prod/" in next(n["label"] for n in data["nodes"] if n["id"] == "rollout")
    dev = CliRunner().invoke(main, ["graph", str(spec), "--env", "dev"])
    assert dev.exit_code == 0, dev.output
    assert dev.stdout == graph.mermaid(environment_graph("dev"))
    assert 'schedule>"schedule: 0 3 * * 1 Europe/Berlin, paused"]' in dev.stdout

    unknown = CliRunner().invoke(main, ["graph", str(spec), "--env", "prd"])
    assert unknown.exit_code == 1
    assert unknown.stdout == ""
    line = with_environments().splitlines().index("environments:") + 1
    assert f"{spec}:{line}:1: error[MS270]: no environment 'prd' in the spec" in unknown.stderr
    assert "did you mean 'prod'?" in unknown.stderr


def test_environment_dot_renders(render_dot: Callable[..., Any]) -> None:
    for g in (environment_graph("prod"), hostile_environment_graph()):
        root = svg_of(render_dot, graph.dot(g))
        assert svg_items(root, "node") == drawn_nodes(g)
        assert svg_items(root, "edge") == drawn_edges(g)


# --- build, merge, ids -------------------------------------------------------------------------


def test_flagship_graph() -> None:
    g = spec_graph(ROOT / "examples" / "breast-cancer" / "pipeline.yaml")
    assert [n.id for n in g.nodes] == [
        "schedule",
        "step_ingest",
        "step_train",
        "step_evaluate",
        "gate_data_quality",
        "gate_model_quality",
        "gate_servable",
        "promote_challenger",
        "promote_champion",
        "rollout",
    ]
    edges = {(e.source, e.target): e.label for e in g.edges}
    assert edges[("step_ingest", "gate_data_quality")] == "train, reference"
    assert edges[("step_train", "gate_servable")] == "model"
    assert edges[("step_evaluate", "gate_model_quality")] == "auc, accuracy"
    assert edges[("gate_data_quality", "step_train")] == ""
    assert edges[("promote_challenger", "rollout")] == "serves"
    assert edges[("rollout", "promote_champion")] == "passed"
    assert ("rollout", "promote_challenger") not in edges
    rollout = g.nodes[-1]
    assert rollout.label.split("\n")[0] == "rollout: argo-rollouts canary"


def test_bandit_arms_are_served() -> None:
    g = spec_graph(ROOT / "specs" / "valid" / "bandit.yaml")
    served = {e.source for e in g.edges if e.target == "rollout" and e.label == "serves"}
    assert served == {"promote_champion", "promote_challenger"}


def test_a_serving_gate_reads_the_model_and_the_requests_dataset() -> None:
    g = spec_graph(ROOT / "specs" / "valid" / "serving-gates.yaml")
    labels = {n.id: n.label for n in g.nodes if n.kind == "gate"}
    assert labels == {
        "gate_servable": "servable\nserving gate, mlserver, on fail: block",
        "gate_custom_server": "custom_server\nserving gate, command, on fail: fail",
    }
    into = {(e.source, e.label) for e in g.edges if e.target == "gate_servable"}
    assert into == {("step_train", "model"), ("step_ingest", "test")}
    assert {e.source for e in g.edges if e.target == "gate_custom_server"} == {"step_train"}
    assert {e.source for e in g.edges if e.target == "promote_challenger"} == set(labels)


def test_after_is_an_edge() -> None:
    g = spec_graph(ROOT / "specs" / "valid" / "container-steps.yaml")
    assert Edge("step_train", "step_report", "after") in g.edges


def test_triggers_start_the_first_steps() -> None:
    """What starts the pipeline: the schedule, files arriving, another pipeline's promotion."""
    g = spec_graph(TRIGGERED)
    starts = [(n.id, n.label) for n in g.nodes if n.kind in ("schedule", "trigger")]
    assert starts == [
        ("schedule", "schedule: 0 3 * * 1 UTC"),
        (
            "trigger__data_20__2f_data_2f_incoming_2f_triggered",
            "data arrives: /data/incoming/triggered\nlooked at every 10m",
        ),
        ("trigger__pipeline_20_extras", "pipeline extras\npromoted to challenger"),
    ]
    assert {(e.source, e.target) for e in g.edges} == {(i, "step_score") for i, _ in starts}
    manual = TRIGGERED.read_text().replace('schedule: {cron: "0 3 * * 1"}\n', "")
    manual = (
        manual.split("triggers:")[0]
        + "triggers: [{manual: true}]\n"
        + manual.split("promoted: challenger}\n")[1]
    )
    g = graph.build(analyze_text(manual, str(TRIGGERED)).pipeline)
    assert [(n.id, n.label) for n in g.nodes if n.kind == "trigger"] == [
        ("trigger_manual", "manual runs only")
    ]


def test_a_monitor_draws_what_it_watches_reads_checks_and_does_on_a_breach() -> None:
    g = spec_graph(ROOT / "examples" / "breast-cancer" / "monitor.yaml")
    nodes = {n.id: (n.kind, n.label.split("\n")) for n in g.nodes}
    assert list(nodes) == [
        "schedule",
        "monitor_model",
        "monitor_inputs",
        "monitor_feedback",
        "monitor",
        "monitor_alarm",
        "monitor_rollback",
    ]
    assert nodes["monitor_model"] == (
        "model",
        ["serves breast-cancer-classifier@champion", "registered model: breast-cancer-classifier"],
    )
    assert nodes["monitor_inputs"] == (
        "data",
        ["served inputs: /data/serving/breast-cancer/inputs", "files of the last 1d"],
    )
    assert nodes["monitor_feedback"][1][1] == "files of the last 7d, at least 50 rows"
    assert nodes["monitor"] == (
        "monitor",
        [
            "monitor breast-cancer-monitor",
            "row_count min 50",
            "columns: mean_radius, mean_texture, worst_area",
            "null_fraction(mean_radius) max 0.01",
            "range(mean_radius) 5..35",
            "drift(mean_texture) max 0.2 (psi) vs the training data",
            "drift(worst_area) max 0.15 (ks) vs the training data",
            "feedback accuracy min 0.9",
            "feedback recall min 0.9",
        ],
    )
    assert nodes["monitor_alarm"] == ("alarm", ["alarm: breast-cancer-monitor breached"])
    assert nodes["monitor_rollback"] == (
        "rollback",
        ["roll champion back one version", "never twice in a row"],
    )
    assert [(e.source, e.target, e.label) for e in g.edges] == [
        ("schedule", "monitor", ""),
        ("monitor_model", "monitor", "version, training data"),
        ("monitor_inputs", "monitor", "inputs"),
        ("monitor_feedback", "monitor", "predictions, labels"),
        ("monitor", "monitor_alarm", "breach"),
        ("monitor", "monitor_rollback", "breach of feedback"),
        ("monitor_rollback", "monitor_model", "previous version"),
    ]


def test_a_monitor_trigger_starts_the_first_steps() -> None:
    text = FLAGSHIP.read_text().replace(
        "\nschedule:", "\ntriggers:\n  - monitor: {name: breast-cancer-monitor}\nschedule:"
    )
    g = graph.build(analyze_text(text, str(FLAGSHIP)).pipeline)
    [trigger] = [n for n in g.nodes if n.kind == "trigger"]
    assert (trigger.id, trigger.label) == (
        "trigger__monitor_20_breast_2d_cancer_2d_monitor",
        "monitor breast-cancer-monitor\nraises its alarm",
    )
    assert Edge(trigger.id, "step_ingest") in g.edges


def test_merge_marks_a_changed_trigger() -> None:
    text = TRIGGERED.read_text()
    old = graph.build(analyze_text(text, str(TRIGGERED)).pipeline)
    new_text = text.replace("every: 10m", "every: 1h").replace(", promoted: challenger", "")
    new = graph.build(analyze_text(new_text, str(TRIGGERED)).pipeline)
    _, marks = graph.merge(old, new)
    assert marks == {
        "trigger__data_20__2f_data_2f_incoming_2f_triggered": "changed",
        "trigger__pipeline_20_extras": "changed",
    }


def test_merge_marks_added_changed_removed() -> None:
    merged, marks = merged_pair()
    assert {k: v for k, v in marks.items() if isinstance(k, str)} == {
        "step_train": "changed",
        "step_evaluate": "added",
        "gate_data_quality": "removed",
    }
    edges = {(e.source, e.target, e.label): v for e, v in marks.items() if isinstance(e, Edge)}
    assert edges == {
        ("step_train", "step_evaluate", "model"): "added",
        ("step_evaluate", "gate_model_quality", "auc"): "added",
        ("step_ingest", "gate_data_quality", "train"): "removed",
        ("gate_data_quality", "step_train", ""): "removed",
        ("step_train", "gate_model_quality", "auc"): "removed",
        ("gate_data_quality", "promote_challenger", ""): "removed",
    }
    assert [n.id for n in merged.nodes][-1] == "gate_data_quality"
    train = next(n for n in merged.nodes if n.id == "step_train")
    assert train.label == "train\npython: pair.steps:train_v2"


def test_a_loop_is_a_box_of_its_steps_and_per_item_gates() -> None:
    """Mermaid's parser reads each loop as a subgraph (test_spec_mermaid_parses); here: what
    is in it, its title, and the edges that cross out of it (a fan-in reads a list, a step or
    promotion after a per-item gate needs every item to pass)."""
    g = spec_graph(LOOPS)
    assert [(c.id, c.label, c.members) for c in g.clusters] == [
        (
            "loop_make",
            "for each: params.regions",
            ("step_make", "step_features", "gate_region_rows"),
        ),
        ("loop_score", "for each: 0.5, 2.0", ("step_score",)),
    ]
    edges = {(e.source, e.target): e.label for e in g.edges}
    assert edges[("step_make", "step_features")] == "table"  # the same iteration's
    assert edges[("gate_region_rows", "step_features")] == ""  # inside the loop: its own item
    assert edges[("step_features", "step_combine")] == "table[]"
    assert edges[("gate_region_rows", "step_combine")] == "every item"
    assert edges[("gate_region_rows", "promote_challenger")] == "every item"
    assert "step_make" in graph.dot(g).split('subgraph "cluster_loop_make"')[1].split("}")[0]
    assert json.loads(graph.as_json(g))["clusters"][1] == {
        "id": "loop_score",
        "label": "for each: 0.5, 2.0",
        "members": ["step_score"],
    }


def test_merge_marks_the_members_of_a_loop_whose_list_changed() -> None:
    text = LOOPS.read_text()
    old = graph.build(analyze_text(text, "old.yaml").pipeline)
    new = graph.build(analyze_text(text.replace("[0.5, 2.0]", "[0.5, 3.0]"), "new.yaml").pipeline)
    merged, marks = graph.merge(old, new)
    assert marks == {"step_score": "changed"}
    assert merged.clusters == new.clusters


def test_merge_of_a_graph_with_itself_marks_nothing() -> None:
    g = spec_graph(EXAMPLES[0])
    assert graph.merge(g, g) == (g, {})


def test_merge_marks_a_relabelled_edge_changed() -> None:
    old = Graph((Node("a", "a", "step"), Node("b", "b", "step")), (Edge("a", "b", "x"),))
    new = Graph(old.nodes, (Edge("a", "b", "y"),))
    assert graph.merge(old, new) == (new, {Edge("a", "b", "y"): "changed"})


def test_node_ids_are_safe_and_distinct() -> None:
    names = ["champion", "champ-ion", "champ_ion", "champ_2d_ion", "Champion", "a__b", "_a", ""]
    ids = [graph.node_id("promote", name) for name in names]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", i) for i in ids)
    assert ids[:2] == ["promote_champion", "promote__champ_2d_ion"]


# --- determinism and snapshots -----------------------------------------------------------------

_RENDER = (
    "import sys\nfrom mlspec import graph\nfrom mlspec.compiler import analyze_file\n"
    "g = graph.build(analyze_file(sys.argv[1]).pipeline)\n"
    "sys.stdout.write(graph.mermaid(g) + graph.dot(g))\n"
)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_output_is_deterministic(path: Path) -> None:
    """The same text in processes with different hash seeds (no set or dict order leaks)."""
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", _RENDER, str(path)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        outputs.add(done.stdout)
    g = spec_graph(path)
    assert outputs == {graph.mermaid(g) + graph.dot(g)}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_mermaid_snapshot(path: Path, snapshot: object) -> None:
    assert graph.mermaid(spec_graph(path)) == snapshot


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_dot_snapshot(path: Path, snapshot: object) -> None:
    assert graph.dot(spec_graph(path)) == snapshot
