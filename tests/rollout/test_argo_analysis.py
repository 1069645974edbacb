"""Argo Rollouts analysis (issue #21): queries scoped to the canary or stable pods, the no-data
policy, dry-run, the smoke test before any traffic, and rollout.load.

The conditions are judged as Argo judges them (support/argo_expr.py, checked first against the
examples of Argo's own docs); the smoke Job's script runs for real, in `sh` with curl, against a
local server.
"""

from __future__ import annotations

import http.server
import json
import math
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.argo_expr import phase
from support.crd_validation import validate_core

from mlspec.backends.rollout import analysis, smoke
from mlspec.backends.rollout.backend import artifacts, problems
from mlspec.backends.rollout.release import Release
from mlspec.compiler import analyze_file, analyze_text

ROOT = Path(__file__).resolve().parents[2]
MATRIX = ROOT / "tests" / "rollout" / "matrix"
CANARY = MATRIX / "argo-rollouts--canary.yaml"
BLUE_GREEN = MATRIX / "argo-rollouts--blue_green.yaml"
FLAGSHIP = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
ARGO_CASES = [
    p
    for p in [*sorted((ROOT / "examples").glob("*/pipeline.yaml")), *sorted(MATRIX.glob("*.yaml"))]
    if "controller: argo-rollouts" in p.read_text(encoding="utf-8")
]
NAN, INF = math.nan, math.inf
Doc = dict[str, Any]


def _docs(pipeline: Any) -> dict[str, Doc]:
    """kind/name -> document, read back with PyYAML."""
    out = {}
    for a in artifacts(pipeline):
        if "/" in a.path or a.path == "kustomization.yaml":
            continue
        doc = yaml.safe_load(a.text)
        out[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return out


def _manifests(path: Path) -> dict[str, Doc]:
    return _docs(analyze_file(path).pipeline)


def _metric(docs: dict[str, Doc], template: str) -> Doc:
    [metric] = docs[f"AnalysisTemplate/{template}"]["spec"]["metrics"]
    return metric


def _judge(metric: Doc, result: Any) -> str:
    return phase(result, metric.get("successCondition", ""), metric.get("failureCondition", ""))


# -- the evaluator agrees with Argo's documented examples (docs/features/analysis.md) ----------

DOCUMENTED = [
    # "Handling Metric Results": NaN and Infinity
    (NAN, "isNaN(result) || result >= 0.95", "", "Successful"),
    (NAN, "result >= 0.95", "result < 0.95", "Inconclusive"),
    (NAN, "result >= 0.95", "", "Failed"),
    (INF, "result >= 0.95", "", "Successful"),
    (INF, "", "isInf(result)", "Failed"),
    # Empty array (Prometheus)
    ([], "len(result) == 0 || result[0] >= 0.95", "", "Successful"),
    ([], "len(result) > 0 && result[0] >= 0.95", "", "Failed"),
    # "Inconclusive Runs": neither condition true
    ([0.7], "result[0] >= 0.90", "result[0] < 0.50", "Inconclusive"),
]


@pytest.mark.parametrize(("result", "success", "failure", "expected"), DOCUMENTED)
def test_the_evaluator_agrees_with_argos_docs(
    result: Any, success: str, failure: str, expected: str
) -> None:
    assert phase(result, success, failure) == expected


def test_an_index_into_an_empty_vector_is_an_error() -> None:
    # What the conditions before issue #21 did with an idle canary: Error, then abort.
    assert phase([], "result[0] <= 0.01") == "Error"


# -- the no-data policy -------------------------------------------------------------------------

# (template, result, phase): error-rate says no_data: fail (bounds 0..0.00001), latency-ratio
# no_data: inconclusive (max 1.5), health is a web check (inconclusive by default, max 3).
VERDICTS = [
    ("fraud-scorer-error-rate", [], "Failed"),
    ("fraud-scorer-error-rate", [NAN], "Failed"),
    ("fraud-scorer-error-rate", [0.0], "Successful"),
    ("fraud-scorer-error-rate", [0.00001], "Successful"),
    ("fraud-scorer-error-rate", [0.5], "Failed"),
    ("fraud-scorer-error-rate", [-1.0], "Failed"),
    ("fraud-scorer-latency-ratio", [], "Inconclusive"),
    ("fraud-scorer-latency-ratio", [NAN], "Inconclusive"),
    ("fraud-scorer-latency-ratio", [1.2, NAN], "Successful"),  # Argo reads the first sample
    ("fraud-scorer-latency-ratio", [1.5], "Successful"),
    ("fraud-scorer-latency-ratio", [2.0], "Failed"),
    ("fraud-scorer-latency-ratio", [INF], "Failed"),
    ("fraud-scorer-health", None, "Inconclusive"),
    ("fraud-scorer-health", 2, "Successful"),
    ("fraud-scorer-health", 3.5, "Failed"),
]


@pytest.mark.parametrize(("template", "result", "expected"), VERDICTS)
def test_argo_judges_the_emitted_conditions(template: str, result: Any, expected: str) -> None:
    assert _judge(_metric(_manifests(CANARY), template), result) == expected


def _metrics(path: Path) -> Iterator[tuple[Any, Doc]]:
    pipeline = analyze_file(path).pipeline
    docs = _docs(pipeline)
    for m in analysis.used(pipeline.rollout):
        yield m, _metric(docs, analysis.template_name(Release(pipeline, pipeline.rollout), m.name))


@pytest.mark.parametrize("path", ARGO_CASES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_data_is_never_a_pass(path: Path) -> None:
    for m, metric in _metrics(path):
        empties = [[], [NAN]] if m.provider == "prometheus" else [None]
        expected = "Inconclusive" if m.no_data == "inconclusive" else "Failed"
        assert [_judge(metric, e) for e in empties] == [expected] * len(empties), m.name


def test_no_data_fail_is_a_failed_measurement_inconclusive_pauses() -> None:
    text = CANARY.read_text(encoding="utf-8").replace("no_data: fail", "no_data: inconclusive")
    docs = _docs(analyze_text(text, "spec.yaml").pipeline)
    assert _judge(_metric(docs, "fraud-scorer-error-rate"), []) == "Inconclusive"
    # inconclusiveLimit is left at Argo's default, 0: the first such measurement pauses
    assert "inconclusiveLimit" not in _metric(docs, "fraud-scorer-error-rate")


# -- dry run --------------------------------------------------------------------------------------


def test_dry_run_names_exactly_the_dry_run_metrics() -> None:
    docs = _manifests(CANARY)
    dry = {
        name: doc["spec"].get("dryRun")
        for name, doc in docs.items()
        if name.startswith("AnalysisTemplate/")
    }
    assert dry.pop("AnalysisTemplate/fraud-scorer-latency-ratio") == [
        {"metricName": "latency-ratio"}
    ]
    assert set(dry.values()) == {None}


# -- ${canary} and ${stable} ---------------------------------------------------------------------


def test_expand_fills_both_placeholders() -> None:
    query = 'x{a="1",${canary}} / x{${stable}} + y{${canary}}'
    assert analysis.expand(query, canary='h="c"', stable='h="s"') == (
        'x{a="1",h="c"} / x{h="s"} + y{h="c"}'
    )
    assert analysis.placeholders(query) == (True, True)
    assert analysis.placeholders('x{a="1"}') == (False, False)


def _resolve(query: str, args: dict[str, str]) -> str:
    """Argo's argument substitution in a template: {{args.NAME}}."""
    return re.sub(r"\{\{\s*args\.([A-Za-z0-9_-]+)\s*\}\}", lambda m: args[m.group(1)], query)


_MATCHER = re.compile(r'\s*[A-Za-z_][A-Za-z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*')


def _selectors_parse(query: str) -> bool:
    """Every {...} label selector is a comma-separated list of PromQL label matchers."""
    for body in re.findall(r"\{([^{}]*)\}", query):
        if not all(_MATCHER.fullmatch(m) for m in body.split(",")):
            return False
    return True


HASHES = {"Latest": "7c9d8f6b5", "Stable": "5f4b8c7d9"}


def _analyses(rollout: Doc) -> Iterator[Doc]:
    strategy = rollout["spec"]["strategy"]
    for block in strategy.values():
        for key in ("analysis", "prePromotionAnalysis", "postPromotionAnalysis"):
            if key in block:
                yield block[key]
        for step in block.get("steps", []):
            if "analysis" in step:
                yield step["analysis"]


@pytest.mark.parametrize("path", [CANARY, FLAGSHIP], ids=lambda p: p.name)
def test_the_rollout_fills_each_query_with_the_pods_hashes(path: Path) -> None:
    docs = _manifests(path)
    [rollout] = [d for n, d in docs.items() if n.startswith("Rollout/")]
    seen = 0
    for ref in _analyses(rollout):
        args = {
            a["name"]: HASHES[a["valueFrom"]["podTemplateHashValue"]] for a in ref.get("args", [])
        }
        for t in ref["templates"]:
            template = docs[f"AnalysisTemplate/{t['templateName']}"]
            declared = {a["name"] for a in template["spec"].get("args", [])}
            [metric] = template["spec"]["metrics"]
            if "prometheus" not in metric["provider"]:
                continue
            query = metric["provider"]["prometheus"]["query"]
            named = set(re.findall(r"\{\{args\.([a-z-]+)\}\}", query))
            assert named == declared  # Argo refuses an argument without a value
            assert named <= set(args)  # ... and the Rollout gives each one
            resolved = _resolve(query, args)
            assert "${" not in resolved and "{{" not in resolved
            assert _selectors_parse(resolved), resolved
            seen += 1
            if t["templateName"].endswith("latency-ratio"):
                assert 'rollouts_pod_template_hash="7c9d8f6b5"' in resolved
                assert 'rollouts_pod_template_hash="5f4b8c7d9"' in resolved
    assert seen


def test_the_flagship_measures_the_canary_alone() -> None:
    docs = _manifests(FLAGSHIP)
    for name in ("error-rate", "p95-latency"):
        query = _metric(docs, f"breast-cancer-scorer-{name}")["provider"]["prometheus"]["query"]
        selectors = re.findall(r"\{([^{}]*service=[^{}]*)\}", _resolve(query, {"canary-hash": "h"}))
        assert selectors
        assert all('rollouts_pod_template_hash="h"' in s for s in selectors), query


def test_a_query_without_placeholders_takes_no_arguments() -> None:
    docs = _manifests(BLUE_GREEN)
    template = docs["AnalysisTemplate/fraud-scorer-error-rate"]
    assert "args" not in template["spec"]
    rollout = docs["Rollout/fraud-scorer"]["spec"]["strategy"]["blueGreen"]
    assert "args" not in rollout["prePromotionAnalysis"]


@pytest.mark.parametrize(
    ("path", "start"), [(CANARY, 4), (FLAGSHIP, 1)], ids=["matrix", "flagship"]
)
def test_the_background_analysis_starts_once_the_canary_gets_requests(
    path: Path, start: int
) -> None:
    canary = _manifests(path)[
        f"Rollout/{yaml.safe_load(path.read_text())['rollout']['service']['name']}"
    ]
    strategy = canary["spec"]["strategy"]["canary"]
    assert strategy["analysis"]["startingStep"] == start
    assert "setWeight" in strategy["steps"][start - 1]
    assert all("setWeight" not in step for step in strategy["steps"][: start - 1])


# -- the smoke test -------------------------------------------------------------------------------


def test_canary_smoke_runs_on_one_pod_before_the_first_weight() -> None:
    steps = _manifests(CANARY)["Rollout/fraud-scorer"]["spec"]["strategy"]["canary"]["steps"]
    assert steps[:4] == [
        {"setCanaryScale": {"replicas": 1}},
        {"analysis": {"templates": [{"templateName": "fraud-scorer--smoke"}]}},
        {"setCanaryScale": {"matchTrafficWeight": True}},
        {"setWeight": 5},
    ]


def test_a_strategy_at_full_size_keeps_it_for_the_smoke_test() -> None:
    text = (MATRIX / "argo-rollouts--shadow.yaml").read_text(encoding="utf-8")
    text += "  smoke: {path: /infer, requests: ['[1]']}\n"
    docs = _docs(analyze_text(text, "spec.yaml").pipeline)
    steps = docs["Rollout/fraud-scorer"]["spec"]["strategy"]["canary"]["steps"]
    assert "replicas" in steps[0]["setCanaryScale"]
    assert steps[1] == {"analysis": {"templates": [{"templateName": "fraud-scorer--smoke"}]}}
    assert "setMirrorRoute" in steps[2]


def test_blue_green_smoke_tests_the_preview_before_promotion() -> None:
    docs = _manifests(BLUE_GREEN)
    pre = docs["Rollout/fraud-scorer"]["spec"]["strategy"]["blueGreen"]["prePromotionAnalysis"]
    assert pre["templates"][0] == {"templateName": "fraud-scorer--smoke"}
    env = _job(docs)["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "URL",
        "value": "http://fraud-scorer-preview.ml-serving.svc:8080/invocations",
    } in env


def _job(docs: dict[str, Doc]) -> Doc:
    return _metric(docs, "fraud-scorer--smoke")["provider"]["job"]["spec"]


@pytest.mark.parametrize("path", [CANARY, BLUE_GREEN], ids=lambda p: p.name)
def test_the_smoke_job_is_a_valid_job(path: Path) -> None:
    docs = _manifests(path)
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}, "spec": _job(docs)}
    assert validate_core(job) == []
    volume = _job(docs)["template"]["spec"]["volumes"][0]
    assert docs[f"ConfigMap/{volume['configMap']['name']}"]


def test_the_requests_are_the_config_maps_data() -> None:
    pipeline = analyze_file(CANARY).pipeline
    data = _docs(pipeline)["ConfigMap/fraud-scorer-smoke"]["data"]
    assert list(data.values()) == list(pipeline.rollout.smoke.requests)
    assert list(data) == sorted(data)  # the script reads them in the spec's order


class _Server(http.server.BaseHTTPRequestHandler):
    status = 200
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(self.rfile.read(length))
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b'{"answer": 1}')

    def log_message(self, *args: Any) -> None:
        pass


HOSTILE = ['{"x": "$(touch pwned)"}', '{"y": "\'; exit 0; \'"}', '["`id`", "\\n"]']


@pytest.mark.parametrize(("status", "ok"), [(200, True), (204, True), (302, False), (500, False)])
def test_the_smoke_script_sends_every_request_and_fails_on_non_2xx(
    tmp_path: Path, status: int, ok: bool
) -> None:
    text = CANARY.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    data["rollout"]["smoke"]["requests"] = HOSTILE
    pipeline = analyze_text(yaml.safe_dump(data, sort_keys=False), "spec.yaml").pipeline
    docs = _docs(pipeline)
    for file, body in docs["ConfigMap/fraud-scorer-smoke"]["data"].items():
        (tmp_path / file).write_text(body, encoding="utf-8")
    [container] = _job(docs)["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["URL"].startswith("http://fraud-scorer-canary.ml-serving.svc:8080/")

    class Handler(_Server):
        bodies: list[bytes] = []

    Handler.status = status
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env |= {"URL": f"http://127.0.0.1:{server.server_port}/v2/infer", "REQUESTS": str(tmp_path)}
        run = subprocess.run(
            container["command"], env={"PATH": "/usr/bin:/bin", **env}, cwd=tmp_path,
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        server.shutdown()
    assert (run.returncode == 0) is ok, run.stdout + run.stderr
    sent = [b.decode() for b in Handler.bodies]
    assert sent == (HOSTILE if ok else HOSTILE[:1])
    assert [json.loads(b) for b in sent]
    assert not (tmp_path / "pwned").exists()


def test_the_smoke_image_is_pinned() -> None:
    assert re.fullmatch(r"[a-z/]+:\d+\.\d+\.\d+", smoke.IMAGE)


# -- load ------------------------------------------------------------------------------------------


def test_load_is_a_warning_at_the_field() -> None:
    text = CANARY.read_text(encoding="utf-8") + "  load: {rate: 5, duration: 2m}\n"
    pipeline = analyze_text(text, "spec.yaml").pipeline
    [d] = problems(pipeline, alone=True)
    assert (d.code, d.severity) == ("MS302", "warning")
    assert "no load generator" in d.message and "flagger" in (d.hint or "")
    assert d.span.line == len(text.splitlines())
    assert artifacts(pipeline)  # the manifests are still written
