"""`mlspec deploy --target kubeflow` through the CLI, against a local fake of the KFP v2beta1 API.

No Kubeflow Pipelines server can run here, so these tests talk to fake_kfp.FakeKfp: the
endpoints kfp.Client 2.17.3 calls, with the published request and response shapes. They show
what mlspec sends and how it reacts; they cannot show what a real KFP does with it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from support.fake_kfp import FakeKfp
from support.published import publish_flagship

from mlspec.backends.kubeflow.backend import KubeflowBackend
from mlspec.cli import main
from mlspec.deploy import kubeflow
from mlspec.deploy.kubeflow import kfp_cron

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = Path()  # set by _published: the flagship, its wheel published


@pytest.fixture(scope="module", autouse=True)
def _published(tmp_path_factory: pytest.TempPathFactory) -> None:
    global FLAGSHIP
    FLAGSHIP = publish_flagship(tmp_path_factory.mktemp("flagship") / "bc")


NAME = "breast-cancer-classifier"
SCHEDULE = 'schedule: {cron: "0 3 * * 1", timezone: Europe/Berlin}\n'
TOKEN = "fake-kfp-token-7c1e9a"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fast retries and polls; no KFP settings or kfp context file from the machine."""
    monkeypatch.setattr(kubeflow, "RETRY_SECONDS", 3.0)
    monkeypatch.setattr(kubeflow, "FIRST_WAIT", 0.05)
    monkeypatch.setattr(kubeflow, "POLL_SECONDS", 0.01)
    for name in ("KF_PIPELINES_ENDPOINT", "KF_PIPELINES_TOKEN", "KF_PIPELINES_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    from kfp.client import client

    monkeypatch.setattr(client.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "kfp-context.json"))


_BUILDS: dict[tuple[str, object], list] = {}


@pytest.fixture(autouse=True)
def _compile_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each spec is checked and compiled once per session (compiling is what takes the time
    here, and tests/backends covers it); every deploy still goes through the whole CLI."""
    for method in ("check", "emit"):
        original = getattr(KubeflowBackend, method)

        def cached(self: KubeflowBackend, pipeline: object, _m=method, _f=original) -> list:
            key = (_m, pipeline)
            if key not in _BUILDS:
                _BUILDS[key] = _f(self, pipeline)
            return list(_BUILDS[key])

        monkeypatch.setattr(KubeflowBackend, method, cached)


@pytest.fixture
def kfp() -> Iterator[FakeKfp]:
    """The fake server, stopped when the test ends, also when it fails."""
    server = FakeKfp(token=TOKEN)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def deploy(spec: Path, url: str, *args: str, token: str = TOKEN) -> Result:
    result = CliRunner().invoke(
        main,
        ["deploy", str(spec), "--target", "kubeflow", "--kfp-host", url, *args],
        env={"KF_PIPELINES_TOKEN": token},
    )
    assert "Traceback" not in result.output, result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def variant(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """The flagship spec with some text replaced, beside a copy of its step package (which
    its components install as a pinned wheel)."""
    package = FLAGSHIP.parent / "breast_cancer"
    if not (tmp_path / package.name).exists():
        shutil.copytree(package, tmp_path / package.name)
    text = FLAGSHIP.read_text(encoding="utf-8")
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / f"spec-{len(list(tmp_path.glob('spec-*')))}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def version_of(result: Result) -> str:
    """The content version from the plan's first line."""
    line = next(line for line in result.stdout.splitlines() if line.startswith("deploy to "))
    return line.rsplit(", version ", 1)[1].rstrip(":")


def only(items: dict[str, dict]) -> dict:
    assert len(items) == 1, items
    return next(iter(items.values()))


# --- deploying -----------------------------------------------------------------------------


def test_first_deploy_creates_pipeline_version_experiment_and_recurring_run(
    kfp: FakeKfp,
) -> None:
    result = deploy(FLAGSHIP, kfp.url)
    assert result.exit_code == 0, result.output
    version = version_of(result)

    pipeline = only(kfp.pipelines)
    assert (pipeline["display_name"], pipeline["namespace"]) == (NAME, "")
    uploaded = only(kfp.versions)
    assert uploaded["name"] == version and uploaded["pipeline_id"] == pipeline["pipeline_id"]
    package = uploaded["_package"]
    assert package["filename"] == f"{NAME}.kfp.yaml"  # the compiled pipeline, not the rollout
    assert package["spec"]["pipelineInfo"]["name"] == NAME
    experiment = only(kfp.experiments)
    assert experiment["display_name"] == NAME

    schedule = only(kfp.recurring_runs)
    assert schedule["display_name"] == NAME
    assert schedule["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * 1"}}
    assert (schedule["mode"], schedule["no_catchup"], schedule["max_concurrency"]) == (
        "ENABLE",
        True,
        "1",
    )
    assert schedule["experiment_id"] == experiment["experiment_id"]
    assert schedule["pipeline_version_reference"] == {
        "pipeline_id": pipeline["pipeline_id"],
        "pipeline_version_id": uploaded["pipeline_version_id"],
    }
    # The pipeline is created empty: every version it holds is named by a content hash.
    assert [r.path for r in kfp.calls("POST", r".*/pipelines/upload")] == []
    assert "Europe/Berlin" in result.output and "CRON_SCHEDULE_TIMEZONE" in result.output
    assert all(r.authorization == f"Bearer {TOKEN}" for r in kfp.requests)


def test_a_second_deploy_of_the_same_spec_changes_nothing(kfp: FakeKfp) -> None:
    assert deploy(FLAGSHIP, kfp.url).exit_code == 0
    kfp.requests.clear()

    result = deploy(FLAGSHIP, kfp.url)
    assert result.exit_code == 0, result.output
    assert "nothing to change" in result.stdout
    assert result.stdout.count("unchanged") == 4
    assert kfp.writes == []  # no upload, no create, no delete
    assert len(kfp.versions) == len(kfp.recurring_runs) == 1


def test_a_changed_spec_uploads_a_version_and_replaces_the_recurring_run(
    kfp: FakeKfp, tmp_path: Path
) -> None:
    assert deploy(FLAGSHIP, kfp.url).exit_code == 0
    old = only(kfp.recurring_runs)
    changed = variant(
        tmp_path,
        ("n_estimators: {type: int, default: 200", "n_estimators: {type: int, default: 300"),
    )

    result = deploy(changed, kfp.url)
    assert result.exit_code == 0, result.output
    new_version = version_of(result)
    assert len(kfp.versions) == 2 and len(kfp.pipelines) == len(kfp.experiments) == 1
    new = only(kfp.recurring_runs)
    assert new["recurring_run_id"] != old["recurring_run_id"]
    by_name = {v["name"]: v["pipeline_version_id"] for v in kfp.versions.values()}
    assert new["pipeline_version_reference"]["pipeline_version_id"] == by_name[new_version]
    # Safe order: the version first, then the new recurring run, and only then the old one goes.
    order = [(r.method, r.path.rsplit("/", 1)[-1]) for r in kfp.writes[-3:]]
    assert order == [
        ("POST", "upload_version"),
        ("POST", "recurringruns"),
        ("DELETE", old["recurring_run_id"]),
    ]
    assert "replaced; was mlspec-" in result.stdout


def test_paused_disables_in_place_and_no_schedule_deletes_it(kfp: FakeKfp, tmp_path: Path) -> None:
    paused = variant(tmp_path, (SCHEDULE, SCHEDULE.replace("}", ", paused: true}")))
    assert deploy(paused, kfp.url).exit_code == 0
    schedule = only(kfp.recurring_runs)
    assert (schedule["mode"], schedule["status"]) == ("DISABLE", "DISABLED")

    kfp.requests.clear()
    result = deploy(FLAGSHIP, kfp.url)  # resumed: another spec text, so another version
    assert result.exit_code == 0, result.output
    assert [(r.method, r.path) for r in kfp.writes] == [
        ("POST", "/apis/v2beta1/pipelines/upload_version"),
        ("POST", "/apis/v2beta1/recurringruns"),
        ("DELETE", f"/apis/v2beta1/recurringruns/{schedule['recurring_run_id']}"),
    ]
    resumed = only(kfp.recurring_runs)
    assert resumed["mode"] == "ENABLE"

    resumed["mode"], resumed["status"] = "DISABLE", "DISABLED"  # paused by hand in the UI
    kfp.requests.clear()
    result = deploy(FLAGSHIP, kfp.url)  # the same build: enabled in place
    assert result.exit_code == 0, result.output
    assert [r.path for r in kfp.writes] == [
        f"/apis/v2beta1/recurringruns/{resumed['recurring_run_id']}:enable"
    ]
    assert only(kfp.recurring_runs)["mode"] == "ENABLE"

    unscheduled = variant(tmp_path, (SCHEDULE, ""))
    result = deploy(unscheduled, kfp.url)
    assert result.exit_code == 0, result.output
    assert kfp.recurring_runs == {}
    assert "the spec has no schedule" in result.stdout


def test_manual_only_creates_no_recurring_run_and_deletes_ours(
    kfp: FakeKfp, tmp_path: Path
) -> None:
    """`triggers: [{manual: true}]`: runs start by hand only, so the recurring run goes."""
    assert deploy(FLAGSHIP, kfp.url).exit_code == 0
    assert len(kfp.recurring_runs) == 1
    manual = variant(tmp_path, (SCHEDULE, "triggers: [{manual: true}]\n"))
    result = deploy(manual, kfp.url)
    assert result.exit_code == 0, result.output
    assert kfp.recurring_runs == {}
    assert "runs start only by hand (manual: true)" in result.stdout
    assert kfp.pipelines, "the pipeline and its version are still deployed"

    again = deploy(manual, kfp.url, "--run")  # a run by hand still starts
    assert again.exit_code == 0, again.output
    assert kfp.recurring_runs == {}
    assert kfp.runs


def test_a_monitor_deploys_with_its_schedule_as_a_recurring_run(kfp: FakeKfp) -> None:
    """A Monitor spec (beside the pipeline it watches) is deployed as a pipeline is: its
    `schedule: {cron: "@hourly"}` becomes the recurring run of its one task, `monitor`."""
    monitor = FLAGSHIP.parent / "monitor.yaml"
    result = deploy(monitor, kfp.url)
    assert result.exit_code == 0, result.output
    package = only(kfp.versions)["_package"]
    assert package["filename"] == "breast-cancer-monitor.kfp.yaml"
    assert package["spec"]["pipelineInfo"]["name"] == "breast-cancer-monitor"
    assert "comp-monitor" in package["spec"]["components"]
    schedule = only(kfp.recurring_runs)
    assert schedule["display_name"] == "breast-cancer-monitor"
    assert schedule["trigger"] == {"cron_schedule": {"cron": "0 0 * * * *"}}
    assert schedule["mode"] == "ENABLE"


def test_dry_run_prints_the_plan_and_writes_nothing(kfp: FakeKfp) -> None:
    result = deploy(FLAGSHIP, kfp.url, "--dry-run", "--run")
    assert result.exit_code == 0, result.output
    assert kfp.requests and kfp.writes == []
    plan = result.stdout.split("deploy to kubeflow")[1]
    for what in ("pipeline ", "pipeline version ", "experiment ", "recurring run ", "run of "):
        assert f"create    {what}" in plan
    assert "cron '0 0 3 * * 1'" in plan
    assert kfp.pipelines == kfp.recurring_runs == {}
    # What Kubeflow does differently (the cron's time zone) is said before anything is sent.
    assert "error" not in result.stderr and "CRON_SCHEDULE_TIMEZONE" in result.stderr


def test_python_steps_without_their_code_send_nothing(kfp: FakeKfp, tmp_path: Path) -> None:
    wheels = next(line for line in FLAGSHIP.read_text().splitlines() if "wheels:" in line)
    result = deploy(variant(tmp_path, (wheels.strip(), "root: .")), kfp.url)
    assert result.exit_code == 1, result.output
    assert result.stderr.count("error[MS303]") == 3
    assert kfp.requests == [] and kfp.writes == []


def test_json_format_prints_only_the_plan_on_stdout(kfp: FakeKfp) -> None:
    result = deploy(FLAGSHIP, kfp.url, "--format", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)  # the progress lines went to stderr
    assert plan["target"] == "kubeflow" and plan["server"] == kfp.url
    assert (plan["offline"], plan["dry_run"], plan["changes"]) == (False, False, True)
    assert [(a["verb"], a["what"].split(" ")[0]) for a in plan["actions"]] == [
        ("create", "pipeline"),
        ("create", "pipeline"),
        ("create", "experiment"),
        ("create", "recurring"),
    ]
    assert "done: create pipeline " in result.stderr
    again = deploy(FLAGSHIP, kfp.url, "--format", "json", "--dry-run")
    plan = json.loads(again.stdout)
    assert (plan["dry_run"], plan["changes"]) == (True, False)
    assert {a["verb"] for a in plan["actions"]} == {"unchanged"}


# --- running -------------------------------------------------------------------------------


@pytest.mark.parametrize(("final", "exit_code"), [("SUCCEEDED", 0), ("FAILED", 3)])
def test_run_and_wait_follow_the_run_to_its_final_state(
    kfp: FakeKfp, final: str, exit_code: int
) -> None:
    kfp.run_polls, kfp.run_final_state = 2, final
    result = deploy(FLAGSHIP, kfp.url, "--run", "--wait", "--kfp-namespace", "team-ml")
    assert result.exit_code == exit_code, result.output

    run = only(kfp.runs)
    assert run["state"] == final
    assert run["experiment_id"] == only(kfp.experiments)["experiment_id"]
    assert only(kfp.experiments)["namespace"] == only(kfp.pipelines)["namespace"] == "team-ml"
    assert run["pipeline_version_reference"]["pipeline_version_id"] == next(iter(kfp.versions))
    lines = [line for line in result.output.splitlines() if line.startswith("run ")]
    assert [line.rsplit(" ", 1)[-1] for line in lines] == ["(PENDING)", "RUNNING", final]
    if final == "FAILED":
        assert "ended FAILED (failed tasks: " in result.stderr
        assert "the deploy itself is complete" in result.stderr
        assert len(kfp.recurring_runs) == 1


def test_timeout_bounds_wait_and_the_run_goes_on(
    kfp: FakeKfp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kubeflow, "POLL_SECONDS", 0.2)
    kfp.run_polls = 10**6  # the run never ends
    started = time.monotonic()
    result = deploy(FLAGSHIP, kfp.url, "--run", "--wait", "--timeout", "2")
    assert result.exit_code == 3, result.output
    assert time.monotonic() - started < 2 + 15
    assert "stopped waiting after --timeout 2 s" in result.stderr
    assert "the deploy itself is complete" in result.stderr
    assert only(kfp.runs)["state"] == "RUNNING"
    assert len(kfp.recurring_runs) == 1


def test_a_multi_user_server_needs_a_namespace(kfp: FakeKfp) -> None:
    kfp.multi_user = True
    result = deploy(FLAGSHIP, kfp.url)
    assert result.exit_code == 3, result.output
    assert "multi-user: pass --kfp-namespace" in result.stderr
    assert kfp.writes == []


# --- failures ------------------------------------------------------------------------------


def test_transient_503s_are_retried_and_a_lost_answer_creates_nothing_twice(
    kfp: FakeKfp,
) -> None:
    kfp.fail(503, 2, path=r".*/healthz")
    kfp.fail(503, 1, method="POST", path=r".*/upload_version")  # refused before it took effect
    kfp.fail(502, 1, method="POST", path=r".*/recurringruns", after=True)  # answer lost

    result = deploy(FLAGSHIP, kfp.url)
    assert result.exit_code == 0, result.output
    assert [r.status for r in kfp.calls("GET", r".*/healthz")] == [503, 503, 200]
    assert [r.status for r in kfp.calls("POST", r".*/upload_version")] == [503, 200]
    assert [r.status for r in kfp.calls("POST", r".*/recurringruns")] == [502]
    assert len(kfp.versions) == len(kfp.recurring_runs) == 1


def test_a_rejected_credential_fails_fast_without_showing_the_token(kfp: FakeKfp) -> None:
    wrong = "wrong-token-3f9a2b"
    started = time.monotonic()
    result = deploy(FLAGSHIP, kfp.url, token=wrong)
    assert result.exit_code == 3, result.output
    assert time.monotonic() - started < 10
    assert "HTTP 401: Unauthenticated: request is missing a valid bearer token" in result.stderr
    assert "nothing was changed on the server" in result.stderr
    assert wrong not in result.output and TOKEN not in result.output
    assert [(r.path, r.authorization) for r in kfp.requests] == [
        ("/apis/v2beta1/healthz", f"Bearer {wrong}")
    ]


def test_a_stopped_server_fails_cleanly_within_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubeflow, "RETRY_SECONDS", 60.0)  # refused: a few seconds, not this
    gone = FakeKfp()
    url = gone.start()
    gone.stop()  # nothing listens on its port any more

    started = time.monotonic()
    result = deploy(FLAGSHIP, url)
    elapsed = time.monotonic() - started
    assert result.exit_code == 3, result.output
    assert elapsed < 15
    assert f"connecting to {url}: the connection was refused" in result.stderr
    assert "Connection refused" in result.stderr
    assert "nothing was changed on the server" in result.stderr


def test_a_failure_midway_says_what_was_done_and_leaves_the_old_schedule(
    kfp: FakeKfp, tmp_path: Path
) -> None:
    assert deploy(FLAGSHIP, kfp.url).exit_code == 0
    old = only(kfp.recurring_runs)
    changed = variant(tmp_path, ("default: 0.95", "default: 0.96"))
    kfp.fail(400, 1, method="POST", path=r".*/recurringruns", message="Invalid input error: no")

    result = deploy(changed, kfp.url)
    assert result.exit_code == 3, result.output
    message = result.stderr
    assert f"deploy failed: creating recurring run {NAME}: HTTP 400" in message
    assert (
        f"done before the failure: create pipeline version {NAME}/{version_of_failed(message)}"
    ) in message
    assert f"not done: create recurring run {NAME}; delete recurring run {NAME}" in message
    assert only(kfp.recurring_runs) == old  # untouched, still enabled on the old version
    assert len(kfp.versions) == 2


def version_of_failed(message: str) -> str:
    return message.split(f"pipeline version {NAME}/")[1].split(";")[0].split()[0]


# --- cron ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kfp_form"),
    [
        ("0 3 * * 1", "0 0 3 * * 1"),
        ("*/15 9-17 * * mon-fri", "0 */15 9-17 * * mon-fri"),
        ("30 2 1,15 * 7", "0 30 2 1,15 * 0"),
        ("0 0 * * 5-7", "0 0 0 * * 0,5,6"),
        ("0 0 * * SUN,7", "0 0 0 * * SUN,0"),
        ("@daily", "0 0 0 * * *"),
        ("@weekly", "0 0 0 * * 0"),
    ],
)
def test_cron_becomes_kfps_six_fields_with_seconds(spec: str, kfp_form: str) -> None:
    assert kfp_cron(spec) == kfp_form


def test_the_uploaded_package_is_the_compiled_pipeline(kfp: FakeKfp, tmp_path: Path) -> None:
    out = tmp_path / "out"
    compiled = CliRunner().invoke(
        main, ["compile", str(FLAGSHIP), "-t", "kubeflow", "-o", str(out)]
    )
    assert compiled.exit_code == 0, compiled.output
    assert deploy(FLAGSHIP, kfp.url).exit_code == 0
    text = only(kfp.versions)["_package"]["text"]
    assert text == (out / f"{NAME}.kfp.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load_all(text)
