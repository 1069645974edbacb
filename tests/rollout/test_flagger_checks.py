"""Flagger and issue #21: queries that measure the canary, no data, dry runs, the smoke test and
the load, read from the manifests and run by the consumers that run them (bash and sh, as
Flagger's load tester does, with the real curl against a server on localhost).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.crd_validation import validate_documents
from support.hostile import HOSTILE

from mlspec.backends import support
from mlspec.backends.rollout.flagger import Flagger
from mlspec.backends.rollout.release import Release
from mlspec.compiler import analyze_text, ir
from mlspec.compiler.source import load_text

MATRIX = Path(__file__).parent / "matrix"
CANARY_URL = "http://fraud-scorer-canary.ml-serving:8080"


def _text() -> str:
    return (MATRIX / "flagger--canary.yaml").read_text(encoding="utf-8")


def _pipeline(text: str) -> ir.Pipeline:
    return analyze_text(text, "spec.yaml").pipeline


def _docs(text: str) -> list[dict[str, Any]]:
    pipeline = _pipeline(text)
    assert pipeline.rollout is not None
    return Flagger().manifests(Release(pipeline, pipeline.rollout)).resources


def _of(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    return doc


def _hook(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [hook] = [h for h in _of(docs, "Canary")["spec"]["analysis"]["webhooks"] if h["name"] == name]
    return hook


def _requests() -> list[str]:
    return load_text(_text(), "spec.yaml").data["rollout"]["smoke"]["requests"]


# --- ${canary} and ${stable} -----------------------------------------------------------------

CANARY = 'destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"'
PRIMARY = (
    'destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}-primary"'
)


def test_placeholders_become_the_workload_matchers_of_flaggers_built_in_checks() -> None:
    text = _text().replace(
        '/ sum(rate(istio_requests_total{reporter="destination",${canary}}[5m]))',
        '/ sum(rate(istio_requests_total{reporter="destination",${stable}}[5m]))',
    )
    docs = _docs(text)
    query = _of(docs, "MetricTemplate", "fraud-scorer-error-rate")["spec"]["query"]
    assert query == (
        f'sum(rate(istio_requests_total{{reporter="destination",{CANARY},response_code=~"5.."}}'
        f'[5m])) / sum(rate(istio_requests_total{{reporter="destination",{PRIMARY}}}[5m]))'
    )
    assert "${" not in query
    assert validate_documents(docs) == []


def test_a_query_without_placeholders_is_written_as_it_is() -> None:
    plain = "sum(rate(http_errors_total[5m]))"
    text = _text().replace(
        'histogram_quantile(0.95, sum(rate(istio_request_duration_milliseconds_bucket{reporter="'
        'destination",${canary}}[5m])) by (le)) / 1000',
        plain,
    )
    query = _of(_docs(text), "MetricTemplate", "fraud-scorer-p95-latency")["spec"]["query"]
    assert query == plain


# --- no data and dry runs --------------------------------------------------------------------


def _diagnostics(text: str) -> list[Any]:
    pipeline = _pipeline(text)
    assert pipeline.rollout is not None
    release = Release(pipeline, pipeline.rollout)
    return Flagger().problems(release) + support.problems("flagger", pipeline)


def test_no_data_fail_is_what_flagger_does_and_is_not_reported() -> None:
    assert [d for d in _diagnostics(_text()) if "no data" in d.message] == []


def test_no_data_inconclusive_is_warned_with_what_flagger_does_instead() -> None:
    text = _text().replace("      no_data: fail\n", "", 1)  # error_rate: the default
    [found] = [d for d in _diagnostics(text) if "no data" in d.message]
    assert found.code == "MS302" and found.severity == "warning"
    assert "'error_rate'" in found.message and "failed check" in found.message
    assert found.span.line == text.splitlines().index("    error_rate:") + 1
    assert found.hint is not None and "no_data: fail" in found.hint


def test_dry_run_is_refused_at_the_metric() -> None:
    text = _text().replace("      no_data: fail\n", "      no_data: fail\n      dry_run: true\n", 1)
    [found] = [d for d in _diagnostics(text) if "dry_run" in d.message]
    assert found.code == "MS301" and found.severity == "error"
    assert found.span.line == text.splitlines().index("    error_rate:") + 1
    assert found.hint is not None and "argo-rollouts" in found.hint


# --- the smoke test and the load ---------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes, str]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append((self.path, body, self.headers["Content-Type"]))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Handler", (_Recorder,), {"bodies": [], "status": 200})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def _smoke(tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    hook = _hook(_docs(_text()), "smoke")
    assert CANARY_URL in hook["metadata"]["cmd"]
    cmd = hook["metadata"]["cmd"].replace(CANARY_URL, url)
    # The load tester's `bash` task: bash -c CMD (pkg/loadtester/bash.go).
    return subprocess.run(
        ["bash", "-c", cmd], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


def test_smoke_webhook_runs_before_traffic_through_the_blocking_bash_task() -> None:
    docs = _docs(_text())
    hook = _hook(docs, "smoke")
    assert hook["type"] == "pre-rollout" and hook["metadata"]["type"] == "bash"
    assert hook["url"] == "http://flagger-loadtester.ml-serving/"
    assert hook["timeout"] == "15s"  # two requests of 5s, and 5s for the load tester
    assert validate_documents(docs) == []


def test_smoke_command_posts_every_request_as_its_spec_text(
    server: tuple[str, type[_Recorder]], tmp_path: Path
) -> None:
    url, handler = server
    done = _smoke(tmp_path, url)
    assert done.returncode == 0, done.stderr
    path = "/v2/models/fraud-detector/infer"
    assert handler.bodies == [(path, r.encode(), "application/json") for r in _requests()]
    assert "$(not)" in _requests()[1] and list(tmp_path.iterdir()) == []


def test_hostile_request_text_reaches_the_server_as_text(
    server: tuple[str, type[_Recorder]], tmp_path: Path
) -> None:
    """Quotes, `$(...)`, backticks, backslashes, line breaks and U+2028 stay one shell word."""
    data = load_text(_text(), "spec.yaml").data
    bodies = [json.dumps({"t": HOSTILE}, ensure_ascii=False), '{"a": "\'; touch pwned; \'"}']
    data["rollout"]["smoke"]["requests"] = bodies
    hook = _hook(_docs(yaml.safe_dump(data, sort_keys=False, allow_unicode=True)), "smoke")
    url, handler = server
    cmd = hook["metadata"]["cmd"].replace(CANARY_URL, url)
    done = subprocess.run(
        ["bash", "-c", cmd], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert [body for _, body, _ in handler.bodies] == [b.encode() for b in bodies]
    assert list(tmp_path.iterdir()) == []


def test_smoke_command_fails_on_an_answer_that_is_not_2xx(
    server: tuple[str, type[_Recorder]], tmp_path: Path
) -> None:
    url, handler = server
    handler.status = 503
    done = _smoke(tmp_path, url)
    assert done.returncode != 0 and "answered HTTP 503" in done.stderr
    assert len(handler.bodies) == 1  # the first failure ends the test


def test_smoke_command_fails_when_nothing_answers(tmp_path: Path) -> None:
    done = _smoke(tmp_path, "http://127.0.0.1:9")
    assert done.returncode != 0


def test_load_webhook_runs_hey_at_the_rate_for_the_duration(tmp_path: Path) -> None:
    hook = _hook(_docs(_text()), "load")
    assert hook["type"] == "rollout" and hook["metadata"]["type"] == "cmd"
    # The load tester's `cmd` task: sh -c CMD (pkg/loadtester/task_shell.go); `hey` here
    # prints the words it was given.
    fake = tmp_path / "hey"
    fake.write_text("#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["sh", "-c", hook["metadata"]["cmd"]], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        *("-z", "600s", "-q", "1.5", "-c", "10"),  # 15 a second: 10 workers at 1.5
        *("-m", "POST", "-T", "application/json", "-d", _requests()[0]),
        f"{CANARY_URL}/v2/models/fraud-detector/infer",
    ]


def test_without_smoke_requests_the_load_gets_the_service_root() -> None:
    data = load_text(_text(), "spec.yaml").data
    del data["rollout"]["smoke"]
    data["rollout"]["load"] = {"rate": 5, "duration": "90s"}
    hooks = _of(_docs(yaml.safe_dump(data, sort_keys=False)), "Canary")["spec"]["analysis"][
        "webhooks"
    ]
    assert [h["name"] for h in hooks] == ["load"]
    assert hooks[0]["metadata"]["cmd"] == f"hey -z 90s -q 1.0 -c 5 {CANARY_URL}/"


def test_without_smoke_or_load_the_canary_has_no_webhooks() -> None:
    data = load_text(_text(), "spec.yaml").data
    del data["rollout"]["smoke"], data["rollout"]["load"]
    analysis = _of(_docs(yaml.safe_dump(data, sort_keys=False)), "Canary")["spec"]["analysis"]
    assert "webhooks" not in analysis
