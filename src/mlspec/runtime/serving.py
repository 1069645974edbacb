"""Serving gates: serve the candidate model with the real serving runtime and judge its answers.

Runtime module: generated pipelines carry it as a file of its own, so it uses the standard
library only (Linux: it reads /proc and locks with fcntl). The model is loaded by the server the
rollout will use, in an isolated virtual environment of the server's packages and the model's
requirements, on a free localhost port; the canned requests are sent one row each. It is TFX's
InfraValidator in portable form (docs/serving-check.md).

Environments are cached under $MLSPEC_SERVING_CACHE (default ~/.cache/mlspec/serving), one folder
per hash of (runtime, its pinned packages, the requirements, the Python version). A folder is
used only once its `.complete` marker exists (written last); a builder holds `<hash>.lock`
(flock) while it checks, removes a half-built folder and builds, so concurrent gates build one
environment once. uv builds it when on PATH or importable (`python -m uv`), else venv and pip.

Checks, all reported with their figures: environment (built within BUILD_SECONDS), ready (the
model answers ready within ready_seconds), answered (every request a 2xx with a prediction),
type and shape (when expected), p95_latency (nearest rank over every request's round trip) and
peak_memory (the process group's peak resident memory: the sum over its processes of each one's
VmHWM, sampled every SAMPLE_SECONDS from /proc: an upper bound of the tree's simultaneous peak).
A check that cannot be measured fails; `run_serving_gate` never raises.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable

from .report import CheckResult, GateReport, number_text

# The server packages per runtime, pinned to versions measured on Python 3.11
# (docs/serving-check.md). uvloop 0.22 breaks MLServer 1.7's inference workers.
SERVER_PACKAGES = {
    "mlserver": ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop<0.22"),
    "mlflow": ("mlflow==3.17.2",),
    "command": (),
}
MODEL_NAME = "model"  # the name the model is served under: /v2/models/model/infer
BUILD_SECONDS = 900  # an environment build (or the wait for another builder) takes at most this
STOP_SECONDS = 10  # after SIGTERM, the server's group gets this long before SIGKILL
REQUEST_SECONDS = 30  # one request's timeout
SAMPLE_SECONDS = 0.25  # memory sampling interval (each sample reads /proc/*/stat)
_TAIL = 15  # lines of installer or server output quoted in a reason
_COMPLETE = ".complete"
_EXCEPTION = re.compile(r"[A-Za-z_][\w.]*(Error|Exception|NotFound)\b: ")  # a traceback's end
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_V2_TYPES = {"BOOL": "bool", "BYTES": "str"}  # others: INT*/UINT* int, FP* float


# Requests go to localhost directly, whatever proxy the environment names.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _Blocked(Exception):
    """The gate cannot go on: the message says why."""


def cache_root() -> str:
    return os.environ.get("MLSPEC_SERVING_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "mlspec", "serving"
    )


def environment_key(runtime: str, requirements: list[str]) -> str:
    """The cache key: what the environment is built from."""
    what = {
        "runtime": runtime,
        "server": list(SERVER_PACKAGES[runtime]),
        "requirements": sorted(set(requirements)),
        "python": list(sys.version_info[:3]),
        "implementation": sys.implementation.name,
        "platform": sys.platform,
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def run_serving_gate(
    gate: str, model_path: str, config: dict, dataset_path: str | None = None
) -> GateReport:
    """Build (or reuse) the environment, serve the model, send the requests, judge."""
    checks: dict[str, CheckResult] = {}
    reason = ""
    try:
        requests = canned_requests(config, dataset_path)
        if not os.path.exists(model_path):
            raise _Blocked(f"the model {model_path} does not exist")
        python = _environment(gate, config, checks)
        _serve(gate, python, model_path, config, requests, checks)
    except _Blocked as exc:
        reason = str(exc)
    except Exception as exc:  # fail closed, whatever breaks
        reason = f"{type(exc).__name__}: {exc}"
    results = _all_checks(config, checks, reason)
    failed = [c.detail for c in results if not c.passed and c.detail]
    passed = not reason and all(c.passed for c in results)
    return GateReport(gate, "serving", passed, results, reason or "; ".join(failed))


def _environment(gate: str, config: dict, checks: dict[str, CheckResult]) -> str:
    started = time.monotonic()
    threshold = f"<= {BUILD_SECONDS} s"
    try:
        python = ensure_environment(config["runtime"], list(config["requirements"]), _say(gate))
    except _Blocked as exc:
        checks["environment"] = CheckResult(
            "environment", config["runtime"], None, threshold, False, str(exc)
        )
        raise
    spent = time.monotonic() - started
    checks["environment"] = CheckResult("environment", config["runtime"], spent, threshold, True)
    return python


def _all_checks(config: dict, checks: dict[str, CheckResult], reason: str) -> list[CheckResult]:
    """Every check the gate has, in a fixed order; one never measured fails."""
    names = ["environment", "ready", "answered"]
    names += ["type"] if config.get("expect_type") else []
    names += ["shape"] if config.get("expect_shape") else []
    names += ["p95_latency", "peak_memory"]
    missing = f"not measured: {reason}" if reason else "not measured"
    return [
        checks.get(name) or CheckResult(name, config["runtime"], None, "", False, missing)
        for name in names
    ]


def _say(gate: str) -> Callable[[str], None]:
    """Progress lines for the task's log."""

    def say(line: str) -> None:
        print(f"serving gate {gate}: {line}", flush=True)

    return say


# ---- requests -----------------------------------------------------------------------------


def canned_requests(config: dict, dataset_path: str | None) -> list[tuple[list[str], list]]:
    """(column names, row) per request: the first `rows` rows of the dataset without `drop`,
    in the file's column order (names empty for inline examples)."""
    if config.get("examples"):
        return [([], list(row)) for row in config["examples"]]
    if dataset_path is None:
        raise _Blocked("no dataset and no examples to send")
    from .datachecks import load_table

    try:
        table = load_table(dataset_path)
    except (OSError, ImportError, ValueError) as exc:
        raise _Blocked(f"the request dataset cannot be read: {exc}") from exc
    unknown = [c for c in config["drop"] if c not in table]
    if unknown:
        raise _Blocked(f"drop names columns the dataset does not have: {unknown}")
    names = [c for c in table if c not in config["drop"]]
    count = min(config["rows"], min((len(table[c]) for c in names), default=0))
    if not names or count == 0:
        raise _Blocked("the request dataset has no rows (or no columns) to send")
    return [(names, [table[c][i] for c in names]) for i in range(count)]


def _value(value: object) -> object:
    """CSV text as the number it spells, other values as they are."""
    if isinstance(value, str):
        text = value.strip()
        if _INT_TEXT.fullmatch(text):
            return int(text)
        with contextlib.suppress(ValueError):
            return float(text)
    return value


def _v2_body(row: list) -> bytes:
    """One row as a V2 request: a [1, n] tensor of the narrowest type that holds every value."""
    values = [_value(v) for v in row]
    if any(v is None or (isinstance(v, float) and not math.isfinite(v)) for v in values):
        raise ValueError("the row has a null or non-finite value, which JSON cannot carry")
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if all(isinstance(v, bool) for v in values):
        datatype = "BOOL"
    elif len(numbers) < len(values):
        datatype, values = "BYTES", [str(v) for v in values]
    elif all(isinstance(v, int) for v in values):
        datatype = "INT64"
    else:
        datatype, values = "FP64", list(numbers)
    tensor = {"name": "input-0", "shape": [1, len(values)], "datatype": datatype, "data": values}
    return json.dumps({"inputs": [tensor]}, allow_nan=False).encode()


def _mlflow_body(names: list[str], row: list) -> bytes:
    values = [_value(v) for v in row]
    if names:
        return json.dumps({"dataframe_split": {"columns": names, "data": [values]}}).encode()
    return json.dumps({"inputs": [values]}).encode()


# ---- the environment ----------------------------------------------------------------------


def ensure_environment(runtime: str, requirements: list[str], say: Callable[[str], None]) -> str:
    """The Python of the cached environment, built first when needed. Raises _Blocked."""
    if runtime not in SERVER_PACKAGES:
        raise _Blocked(f"unknown serving runtime {runtime!r}")
    bad = [r for r in requirements if r.startswith("-")]
    if bad:  # an installer option is not a requirement
        raise _Blocked(f"not a requirement: {bad[0]!r}")
    root = cache_root()
    os.makedirs(root, exist_ok=True)
    folder = os.path.join(root, environment_key(runtime, requirements))
    python = os.path.join(folder, "bin", "python")
    if os.path.exists(os.path.join(folder, _COMPLETE)):
        say(f"reusing the {runtime} environment {folder}")
        return python
    import fcntl

    deadline = time.monotonic() + BUILD_SECONDS
    with open(folder + ".lock", "w") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise _Blocked(f"another build of {folder} did not finish in time") from None
                time.sleep(1)
        if os.path.exists(os.path.join(folder, _COMPLETE)):  # built while we waited
            say(f"reusing the {runtime} environment {folder}")
            return python
        shutil.rmtree(folder, ignore_errors=True)  # a half-built one is never reused
        packages = [*SERVER_PACKAGES[runtime], *requirements]
        say(f"building the {runtime} environment {folder}: {' '.join(packages) or '(empty)'}")
        for argv in _build_commands(folder, python, packages):
            _install(argv, deadline, say)
        with open(os.path.join(folder, _COMPLETE), "w") as marker:
            marker.write(json.dumps(packages) + "\n")
        say("environment ready")
    return python


def _build_commands(folder: str, python: str, packages: list[str]) -> list[list[str]]:
    import importlib.util

    uv = shutil.which("uv")
    if uv is None and importlib.util.find_spec("uv") is not None:
        uv_command = [sys.executable, "-m", "uv"]
    else:
        uv_command = [uv] if uv else []
    if uv_command:
        commands = [[*uv_command, "venv", "--quiet", "--python", sys.executable, folder]]
        install = [*uv_command, "pip", "install", "--python", python]
    else:
        commands = [[sys.executable, "-m", "venv", folder]]
        install = [
            python,
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
        ]
    return commands + ([[*install, *packages]] if packages else [])


def _install(argv: list[str], deadline: float, say: Callable[[str], None]) -> None:
    """Run one build command, its output as progress lines; its last lines explain a failure."""
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    tail: deque[str] = deque(maxlen=_TAIL)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line.rstrip())
            say("  " + line.rstrip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        code = process.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        _stop(process)
        raise _Blocked(f"building the environment took longer than {BUILD_SECONDS} s") from None
    reader.join(5)
    if code != 0:
        raise _Blocked(f"{os.path.basename(argv[0])} failed (exit {code}): " + " | ".join(tail))


# ---- serving ------------------------------------------------------------------------------


def _free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now, all different (held together while they are chosen)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def _server(
    runtime: str, config: dict, python: str, model: str, scratch: str, port: int
) -> tuple[list[str], str, str]:
    """(argv, ready path, infer path) of the runtime's server."""
    bin_dir = os.path.dirname(python)
    if runtime == "mlserver":
        grpc_port, metrics_port = _free_ports(2)
        settings = {
            "host": "127.0.0.1",
            "http_port": port,
            "grpc_port": grpc_port,
            "metrics_port": metrics_port,
        }
        model_settings = {
            "name": MODEL_NAME,
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": model},
        }
        for name, data in (("settings.json", settings), ("model-settings.json", model_settings)):
            with open(os.path.join(scratch, name), "w", encoding="utf-8") as handle:
                json.dump(data, handle)
        argv = [os.path.join(bin_dir, "mlserver"), "start", scratch]
        return argv, f"/v2/models/{MODEL_NAME}/ready", f"/v2/models/{MODEL_NAME}/infer"
    if runtime == "mlflow":
        if not os.path.isfile(os.path.join(model, "MLmodel")):
            raise _Blocked(f"runtime mlflow serves an MLflow model folder; {model} has no MLmodel")
        argv = [os.path.join(bin_dir, "mlflow"), "models", "serve", "-m", model, "-h", "127.0.0.1"]
        return [*argv, "-p", str(port), "--env-manager", "local"], "/ping", "/invocations"
    argv = [
        part.replace("${model}", model).replace("${port}", str(port)) for part in config["command"]
    ]
    return argv, "/v2/health/ready", f"/v2/models/{MODEL_NAME}/infer"


def _serve(
    gate: str,
    python: str,
    model_path: str,
    config: dict,
    requests: list[tuple[list[str], list]],
    checks: dict[str, CheckResult],
) -> None:
    runtime, say = config["runtime"], _say(gate)
    scratch = tempfile.mkdtemp(prefix="mlspec-serving-")
    port = _free_ports(1)[0]
    try:
        argv, ready_path, infer_path = _server(
            runtime, config, python, os.path.abspath(model_path), scratch, port
        )
        say(f"starting {runtime} on 127.0.0.1:{port}")
        process, log_path = _start(argv, python, scratch)
        memory = _MemorySampler(process.pid)
        try:
            memory.start()
            base = f"http://127.0.0.1:{port}"
            _wait_ready(process, base, ready_path, config["ready_seconds"], log_path, checks)
            say(f"ready after {checks['ready'].measured:.3g} s; sending {len(requests)} requests")
            _send(runtime, base, infer_path, requests, config, checks)
        finally:
            memory.stop()
            _stop(process)
            limit = config.get("max_memory_bytes")
            peak = memory.peak
            checks["peak_memory"] = CheckResult(
                "peak_memory",
                "server process group",
                float(peak) if peak else None,
                f"<= {limit} bytes" if limit else "(no limit)",
                bool(peak) and (not limit or peak <= limit),
                "" if peak else "the server's memory could not be read from /proc",
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _start(argv: list[str], python: str, scratch: str) -> tuple[subprocess.Popen, str]:
    """The server in a process group of its own, in the environment, its output in a log."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.path.dirname(python) + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = os.path.dirname(os.path.dirname(python))
    log_path = os.path.join(scratch, "server.log")
    with open(log_path, "wb") as log:
        try:
            process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=scratch,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise _Blocked(f"the server command cannot start: {exc}") from exc
    return process, log_path


def _log_tail(path: str) -> str:
    """What the server said about its failure: the exceptions its tracebacks ended with (the
    first is usually the cause), else its last lines."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = [line.rstrip() for line in handle if line.strip()]
    raised = list(dict.fromkeys(line for line in lines if _EXCEPTION.match(line)))
    return " | ".join(raised[:3] or lines[-_TAIL:]) or "(the server printed nothing)"


def _wait_ready(
    process: subprocess.Popen, base: str, path: str, seconds: int, log_path: str, checks: dict
) -> None:
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        if process.poll() is not None:
            detail = f"the server exited (code {process.returncode}): {_log_tail(log_path)}"
            checks["ready"] = CheckResult("ready", path, None, f"<= {seconds} s", False, detail)
            raise _Blocked(detail)
        if _status(base + path) == 200:
            checks["ready"] = CheckResult("ready", path, elapsed, f"<= {seconds} s", True)
            return
        if elapsed > seconds:
            detail = f"not ready within {seconds} s: {_log_tail(log_path)}"
            checks["ready"] = CheckResult("ready", path, None, f"<= {seconds} s", False, detail)
            raise _Blocked(detail)
        time.sleep(0.2)


def _status(url: str) -> int:
    try:
        with _LOCAL.open(url, timeout=2) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return 0


def _send(
    runtime: str,
    base: str,
    path: str,
    requests: list[tuple[list[str], list]],
    config: dict,
    checks: dict[str, CheckResult],
) -> None:
    latencies: list[float] = []
    problems: list[str] = []
    predictions: list[tuple[int, list[int], str | None]] = []  # request, shape, type
    for number, (names, row) in enumerate(requests, 1):
        try:
            body = _mlflow_body(names, row) if runtime == "mlflow" else _v2_body(row)
        except ValueError as exc:
            problems.append(f"request {number}: {exc}")
            continue
        request = urllib.request.Request(
            base + path, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        started = time.monotonic()
        try:
            with _LOCAL.open(request, timeout=REQUEST_SECONDS) as answer:
                text = answer.read().decode("utf-8", "replace")
            latencies.append((time.monotonic() - started) * 1000)
            shape, kind = _prediction(runtime, json.loads(text))
            predictions.append((number, shape, kind))
        except urllib.error.HTTPError as exc:
            latencies.append((time.monotonic() - started) * 1000)
            answer_text = exc.read().decode("utf-8", "replace")[:300]
            problems.append(f"request {number}: HTTP {exc.code}: {answer_text}")
        except (OSError, ValueError, LookupError, TypeError) as exc:
            problems.append(f"request {number}: no prediction: {type(exc).__name__}: {exc}")
    count = len(requests)
    checks["answered"] = CheckResult(
        "answered",
        path,
        float(len(predictions)),
        f"== {count} requests",
        len(predictions) == count,
        "; ".join(problems[:3]),
    )
    _judge_predictions(config, predictions, checks)
    limit = config.get("max_p95_latency_ms")
    p95 = _p95(latencies)
    checks["p95_latency"] = CheckResult(
        "p95_latency",
        "ms per request",
        p95,
        f"<= {number_text(limit)} ms" if limit else "(no limit)",
        p95 is not None and (not limit or p95 <= limit),
        "" if p95 is not None else "no request was answered",
    )


def _p95(latencies: list[float]) -> float | None:
    """Nearest rank: the smallest latency that at least 95% of the requests did not exceed."""
    if not latencies:
        return None
    ordered = sorted(latencies)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def _prediction(runtime: str, answer: dict) -> tuple[list[int], str | None]:
    """The shape of one row's prediction (a scalar counts as [1]) and its value type."""
    if runtime == "mlflow":
        row = answer["predictions"][0]
        row = list(row.values()) if isinstance(row, dict) else row
        shape = _nested_shape(row)
        return shape or [1], _json_type(row)
    output = answer["outputs"][0]
    if not output["data"]:
        raise ValueError("the first output holds no data")
    shape = [int(n) for n in output["shape"]][1:]  # without the batch axis (the one row)
    datatype = str(output["datatype"])
    kind = _V2_TYPES.get(datatype) or ("float" if datatype.startswith("FP") else "int")
    return shape or [1], kind


def _nested_shape(value: object) -> list[int]:
    shape: list[int] = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return shape


def _json_type(value: object) -> str | None:
    while isinstance(value, list):
        value = value[0] if value else None
    for name, kind in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(value, kind):
            return name
    return None


def _judge_predictions(
    config: dict, predictions: list[tuple[int, list[int], str | None]], checks: dict
) -> None:
    wanted_type, wanted_shape = config.get("expect_type"), config.get("expect_shape")
    if wanted_type:
        allowed = {"float": ("float", "int")}.get(wanted_type, (wanted_type,))
        wrong = [(n, k) for n, _, k in predictions if k not in allowed]
        checks["type"] = CheckResult(
            "type",
            "prediction",
            float(len(predictions) - len(wrong)),
            f"{wanted_type} in all {len(predictions)} answers",
            bool(predictions) and not wrong,
            f"request {wrong[0][0]}: {wrong[0][1]}, expected {wanted_type}" if wrong else "",
        )
    if wanted_shape:
        wrong_shapes = [(n, s) for n, s, _ in predictions if not _fits(s, wanted_shape)]
        checks["shape"] = CheckResult(
            "shape",
            "prediction",
            float(len(predictions) - len(wrong_shapes)),
            f"{wanted_shape} in all {len(predictions)} answers",
            bool(predictions) and not wrong_shapes,
            f"request {wrong_shapes[0][0]}: shape {wrong_shapes[0][1]}, expected {wanted_shape}"
            if wrong_shapes
            else "",
        )


def _fits(shape: list[int], wanted: list[int]) -> bool:
    return len(shape) == len(wanted) and all(
        w in (-1, s) for s, w in zip(shape, wanted, strict=True)
    )


# ---- processes ----------------------------------------------------------------------------


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process's group, SIGKILL after STOP_SECONDS: nothing it started survives."""
    for sig, wait in ((signal.SIGTERM, STOP_SECONDS), (signal.SIGKILL, STOP_SECONDS)):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _group_members(process.pid):
            process.poll()  # reaps the leader: a zombie is no member
            time.sleep(0.1)
        if not _group_members(process.pid):
            break
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_SECONDS)


def _group_members(group: int) -> list[int]:
    """Live (not zombie) processes of the process group, from /proc/<pid>/stat."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
            members.append(int(entry))
    return members


def _high_water_mark(pid: int) -> int:
    """VmHWM of the process in bytes (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class _MemorySampler:
    """The peak of each process of the server's group, sampled until stopped."""

    def __init__(self, group: int) -> None:
        self.group = group
        self.peaks: dict[int, int] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def peak(self) -> int:
        return sum(self.peaks.values())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._sample()  # the last figures, before the group is stopped
        self._done.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._done.wait(SAMPLE_SECONDS):
            self._sample()

    def _sample(self) -> None:
        for pid in _group_members(self.group):
            mark = _high_water_mark(pid)
            self.peaks[pid] = max(self.peaks.get(pid, 0), mark)
