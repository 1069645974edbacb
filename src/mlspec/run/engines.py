"""The local engines `mlspec run` drives: each compiles, runs and reports the same way.

Every engine runs in a subprocess whose output is streamed (the lines that say what happened,
or everything with --verbose) and saved to the run's log; it ends with one JSON result line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import urllib.parse
import urllib.request
import venv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlspec.backends import code_files
from mlspec.backends.prefect.flow import file_name, function_name
from mlspec.backends.rollout.backend import FOLDER as ROLLOUT_FOLDER
from mlspec.compiler import ir
from mlspec.compiler.passes import localize
from mlspec.names import target_key
from mlspec.run.process import clean_env, stream
from mlspec.run.state import RunState

HERE = Path(__file__).resolve().parent
Echo = Callable[[str], None]


@dataclass(frozen=True)
class EngineResult:
    ok: bool  # the run finished (all gates passed, or one blocked); False: it failed
    run_id: str
    tasks: dict[str, str]  # task -> final state, in the engine's words, lower case
    detail: str  # the engine's final state or error, for the summary
    # alias -> version set by the run, read by the driver (local_registry.py)
    promoted: dict[str, str] = field(default_factory=dict)


NO_AIRFLOW_HINT = (
    "running on Airflow needs an interpreter with apache-airflow 3 (Airflow cannot share an "
    "environment with prefect)"
)
NO_AIRFLOW = f"{NO_AIRFLOW_HINT}: pass --airflow-python PATH or set MLSPEC_AIRFLOW_PYTHON"


class EngineUnavailable(Exception):
    """The engine cannot run here; the message says what to install or pass."""


def kubernetes_cluster(steps: list[str]) -> str:
    """The cluster container steps would run in (as Jobs, or pods), found as prefect-kubernetes and
    Airflow's KubernetesPodOperator find it: the pod's service account inside a cluster, else
    the kubeconfig's current context. Only the configuration is read; nothing is contacted."""
    try:
        from kubernetes_asyncio.client import Configuration
        from kubernetes_asyncio.config import ConfigException, incluster_config, kube_config
        from yaml import YAMLError  # kubernetes_asyncio reads kubeconfigs with PyYAML
    except ImportError:
        raise EngineUnavailable(
            "container steps run on Kubernetes, and finding the cluster needs "
            "kubernetes-asyncio: install mlspec[prefect]"
        ) from None
    try:
        incluster_config.load_incluster_config(Configuration(), try_refresh_token=False)
        return "this pod's cluster"
    except ConfigException:
        pass
    # Read at each call, not when kubernetes_asyncio was imported.
    path = os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
    try:
        if not any(Path(p).expanduser().is_file() for p in path.split(os.pathsep) if p):
            raise ConfigException(f"no kubeconfig at {path}")
        _, current = kube_config.list_kube_config_contexts(path)
    except (ConfigException, OSError, ValueError, YAMLError) as exc:
        why = " ".join(str(exc).split())
        raise EngineUnavailable(
            f"container steps ({', '.join(steps)}) run on Kubernetes, but no cluster is "
            f"configured ({why}; and this is not a pod in a cluster): set KUBECONFIG to a "
            "kubeconfig whose current context is the cluster to use (kind or minikube make a "
            "local one)"
        ) from None
    if not current:
        raise EngineUnavailable(
            f"container steps ({', '.join(steps)}) run on Kubernetes, but the kubeconfig at "
            f"{path} has no current context: choose one with `kubectl config use-context NAME`"
        )
    return f"context {current['name']!r} of {path}"


# Airflow's version from its metadata: importing Airflow would write an airflow.cfg somewhere.
_AIRFLOW_VERSION = """
import importlib.metadata, importlib.util
try:
    version = importlib.metadata.version("apache-airflow")
except importlib.metadata.PackageNotFoundError:
    version = ""
print(version if importlib.util.find_spec("airflow") else "")
"""


def check_airflow_python(python: str) -> None:
    """Refuse an --airflow-python that cannot run the DAG, before anything is created: it must
    be an executable Python (a path, or a command on PATH) that imports apache-airflow 3."""
    found = shutil.which(python)
    if found is None:
        what = "is not an executable file" if Path(python).exists() else "does not exist"
        raise EngineUnavailable(f"--airflow-python {python} {what}; {NO_AIRFLOW_HINT}")
    try:
        done = subprocess.run(
            [found, "-c", _AIRFLOW_VERSION],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineUnavailable(f"--airflow-python {python} did not run as Python: {exc}") from None
    version = done.stdout.strip()
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise EngineUnavailable(f"--airflow-python {python} did not run as Python: {said}")
    if not version:
        raise EngineUnavailable(
            f"--airflow-python {python} cannot import airflow; {NO_AIRFLOW_HINT}"
        )
    if version.split(".")[0] != "3":
        raise EngineUnavailable(
            f"--airflow-python {python} has apache-airflow {version}; mlspec runs DAGs on Airflow 3"
        )


@dataclass(frozen=True)
class RunRequest:
    """What `mlspec run` was asked: checked before any state is created."""

    pipeline: ir.Pipeline
    spec_file: Path
    target: str
    params: dict[str, object]
    echo: Echo
    verbose: bool = False
    airflow_python: str | None = None  # an interpreter with apache-airflow 3

    @property
    def containers(self) -> list[str]:
        return [s.name for s in self.pipeline.steps if s.kind == "container"]


@dataclass(frozen=True)
class EngineRun:
    """What every engine is given: the request, and where the run lives."""

    request: RunRequest
    state: RunState

    @property
    def pipeline(self) -> ir.Pipeline:
        return self.request.pipeline

    @property
    def params(self) -> dict[str, object]:
        return self.request.params

    @property
    def code_path(self) -> Path:
        """Where the spec's Python step modules live."""
        return self.request.spec_file.resolve().parent

    @property
    def echo(self) -> Echo:
        return self.request.echo

    @property
    def verbose(self) -> bool:
        return self.request.verbose

    @property
    def tracking_env(self) -> dict[str, str]:
        """MLSPEC_GIT_COMMIT for the tasks, which record it as the run's commit (runtime
        lineage.py): HEAD of the spec's git repository; nothing when it is in none."""
        commit = git_commit(self.request.spec_file.resolve().parent)
        return {"MLSPEC_GIT_COMMIT": commit} if commit else {}

    @property
    def registry_args(self) -> list[str]:
        """A driver's REGISTRY_URI MODEL arguments ("" for no registered model)."""
        registry = self.pipeline.registry
        return [self.state.registry_uri, registry.registered_model if registry else ""]

    @property
    def local(self) -> ir.Pipeline:
        """The pipeline with this run's artifact folder and the local registry."""
        return localize(self.pipeline, self.state.registry_uri, str(self.state.artifacts))

    def write(self, folder: Path) -> None:
        """The local pipeline's own files, checked and compiled for the target; a local run
        rolls nothing out, so not the manifests."""
        from mlspec.api import compile_pipeline

        compiled = compile_pipeline(self.local, self.request.target)
        if not compiled.ok:
            errors = "; ".join(d.message for d in compiled.diagnostics if d.severity == "error")
            raise EngineUnavailable(f"the pipeline as run locally cannot compile: {errors}")
        folder.mkdir(parents=True, exist_ok=True)
        for artifact in compiled.artifacts:
            if not artifact.path.startswith(ROLLOUT_FOLDER):
                path = folder / artifact.path  # the runtime package is a folder beside the file
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(artifact.text, encoding="utf-8")

    def stream(
        self,
        command: list[str],
        env: dict[str, str],
        show: Callable[[str], bool],
        echo: Echo | None = None,
    ) -> tuple[int, dict | None]:
        state = self.state
        return stream(
            command,
            env=env,
            cwd=state.run_folder,
            log=state.log,
            show=show,
            echo=echo or self.echo,
        )


def git_commit(folder: Path) -> str | None:
    """HEAD of the git repository holding `folder`; None outside one, in one without commits,
    or without git."""
    env = {k: v for k, v in clean_env().items() if not k.startswith("GIT_")}  # not another repo
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "HEAD^{commit}"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None


# The one shape of an engine (the registry's `Engine` names one): run the pipeline, report;
# and of its optional refusal, called before anything is created.
EngineFunction = Callable[[EngineRun], EngineResult]
Refusal = Callable[[RunRequest], None]


def _shown(patterns: tuple[str, ...], verbose: bool) -> Callable[[str], bool]:
    pattern = re.compile("|".join(patterns))
    return (lambda line: True) if verbose else (lambda line: bool(pattern.search(line)))


_DAG_TEST_END = re.compile(r"\[DAG TEST\] end task task_id=(\w+)")


def _airflow_echo(echo: Echo, verbose: bool) -> Echo:
    """Airflow's structured log lines, shortened to what a reader follows."""
    if verbose:
        return echo

    def short(line: str) -> None:
        found = _DAG_TEST_END.search(line)
        echo(f"task {found.group(1)} ended" if found else line)

    return short


# Lines worth showing from every engine: gate verdicts, promotions, a monitor's verdict and
# actions (runtime/monitor.py), and errors.
_COMMON = (
    r"gate \w+ \((data|model)\): ",
    r"promotion to ",
    r"monitor [\w.-]+: ",
    r"  action: ",
    r"Error\b",
    r"PromotionRefused: ",  # a monitor's anomaly too: no alias, no version
    r"error:",
)


def prefect_server() -> str | None:
    """The running Prefect server a run should use, from PREFECT_API_URL; None: none is set, so
    the run starts a temporary one. Raises EngineUnavailable for a server that is not on this
    machine (a run stays local) or does not answer, before anything is created."""
    url = os.environ.get("PREFECT_API_URL", "").strip().rstrip("/")
    if not url:
        return None
    local = "its API URL (e.g. http://127.0.0.1:4200/api), or unset it to use a temporary server"
    parts = urllib.parse.urlsplit(url)
    shown = _public(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in _LOCAL_HOSTS:
        raise EngineUnavailable(
            f"PREFECT_API_URL is {shown}, but mlspec run uses only a Prefect server on this "
            f"machine: start one with `prefect server start` and set PREFECT_API_URL to {local}"
        )
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:  # Prefect serves /health without authentication
        with no_proxy.open(f"{shown}/health", timeout=_HEALTH_TIMEOUT) as response:
            answer = response.read(100).decode(errors="replace").strip()
        why = "" if answer == "true" else f"it answered {answer[:60]!r}"
    except (OSError, ValueError) as exc:  # refused, timed out, an HTTP error, a bad URL
        why = str(getattr(exc, "reason", None) or exc)
    if why:
        raise EngineUnavailable(
            f"no Prefect server answers at PREFECT_API_URL={shown} (GET {shown}/health: {why}): "
            f"start one with `prefect server start` and set PREFECT_API_URL to {local}"
        )
    return url


def _public(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parts = urllib.parse.urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
_HEALTH_TIMEOUT = 5  # seconds; a local server answers in milliseconds


def refuse_prefect(request: RunRequest) -> None:
    """A configured Prefect server that is not local, or does not answer, is refused."""
    prefect_server()


def run_prefect(run: EngineRun) -> EngineResult:
    flow_folder = run.state.run_folder / "prefect"
    run.write(flow_folder)
    server = prefect_server()
    # A running server: the run is one more flow run there. Else Prefect starts a temporary one,
    # with its database in the state folder.
    settings = {"PREFECT_API_URL": server} if server else {}
    if server and os.environ.get("PREFECT_API_AUTH_STRING"):
        settings["PREFECT_API_AUTH_STRING"] = os.environ["PREFECT_API_AUTH_STRING"]
    env = clean_env(
        PREFECT_HOME=str(run.state.engine_folder("prefect")),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
        PYTHONPATH=str(run.code_path),
        **settings,
        **run.tracking_env,
    )
    # and a monitor's verdict: what it judged and did (runtime/monitor.py), the alarm it raised
    monitor = (r"Task run 'monitor' - (monitor |  feedback: |  action: )", r" breached: ")
    shown = _shown((*_COMMON, *monitor, r"Finished in state", r"temporary server"), run.verbose)
    command = [sys.executable, str(HERE / "prefect_driver.py")]
    command += [str(flow_folder / file_name(run.pipeline)), function_name(run.pipeline)]
    command += [json.dumps(run.params), *run.registry_args]
    if server:
        run.echo(f"prefect: a flow run on the server at {_public(server)}")
    code, result = run.stream(command, env, shown)
    if result is None or "state" not in result:
        detail = f"the Prefect run ended with exit code {code}"
        return EngineResult(False, "", {}, detail, _promoted(result))
    ok = result["state"] == "completed"
    failure = result["failure"]
    why = f"task {failure['task']} failed: {failure['error']}" if failure else result["message"]
    detail = result["state_name"] + (f": {why}" if why else "")
    return EngineResult(ok, result["run_id"], result["tasks"], detail, _promoted(result))


def _promoted(result: dict[str, Any] | None) -> dict[str, str]:
    """What the driver found the run promoted; it reports that even when the run failed."""
    found = (result or {}).get("promoted", {})
    return {str(alias): str(version) for alias, version in found.items()}


def refuse_airflow(request: RunRequest) -> None:
    """Airflow runs in an interpreter of its own: refuse a missing or unfit one."""
    if not request.airflow_python:
        raise EngineUnavailable(NO_AIRFLOW)
    check_airflow_python(request.airflow_python)


def run_airflow(run: EngineRun) -> EngineResult:
    found = shutil.which(run.request.airflow_python or "")
    assert found is not None  # refuse_airflow refused the run
    airflow_python = str(Path(found).absolute())  # the driver runs in the run's folder
    home = run.state.engine_folder("airflow")
    dags = run.state.run_folder / "airflow"
    run.write(dags)
    # Steps import their package from the pinned copy beside the DAG, as on a deployed Airflow:
    # the spec's folder is on the path only for a step whose package is not there.
    path = {"PYTHONPATH": str(run.code_path)} if code_files.imports_from_path(run.pipeline) else {}
    env = clean_env(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        MLSPEC_ARTIFACT_ROOT=str(run.state.artifacts),
        **path,
        **run.tracking_env,
    )
    if not (home / "airflow.db").exists():
        run.echo(f"airflow: migrating a metadata database in {home} (once)")
        done = subprocess.run(
            [airflow_python, "-m", "airflow", "db", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise EngineUnavailable(f"airflow db migrate failed:\n{done.stderr[-3000:]}")
    shown = _shown((*_COMMON, r"\[DAG TEST\] end task"), run.verbose)
    [dag_file] = dags.glob("*.py")
    command = [airflow_python, str(HERE / "airflow_driver.py"), "test", str(dag_file)]
    command += [json.dumps(run.params), *run.registry_args]
    code, result = run.stream(command, env, shown, _airflow_echo(run.echo, run.verbose))
    if result is None or "state" not in result:
        errors = (result or {}).get("import_errors")
        why = f"import errors: {errors}" if errors else f"exit code {code}"
        detail = f"the Airflow run did not finish ({why})"
        return EngineResult(False, "", {}, detail, _promoted(result))
    ok = result["state"] == "success"
    return EngineResult(ok, result["run_id"], result["tasks"], result["state"], _promoted(result))


_KFP_FINISHED = re.compile(r"Task '([\w-]+)' finished with status (\w+)")


def refuse_kubeflow(request: RunRequest) -> None:
    if request.containers:
        raise EngineUnavailable(
            "kfp's local subprocess runner cannot run container steps "
            f"({', '.join(request.containers)})"
        )


def run_kubeflow(run: EngineRun) -> EngineResult:
    python = _kfp_venv(run.state.engine_folder("kubeflow"))
    env = clean_env(PYTHONPATH=str(run.code_path), **run.tracking_env)
    # kfp.local logs a task's outputs below it: a monitor's verdict is its output `breached`.
    patterns = (*_COMMON, r"Task '[\w-]+' finished with status", r"Pipeline '", r"^\s+breached: ")
    shown = _shown(patterns, run.verbose)
    tasks: dict[str, str] = {}
    # kfp names tasks with dashes for runs of underscores: a fan-out copy's features__eu too.
    known = {target_key(s.name): s.name for s in run.pipeline.steps}

    def watch(line: str) -> bool:
        found = _KFP_FINISHED.search(line)
        if found:
            name = found.group(1)
            tasks[known.get(name, name.replace("-", "_"))] = found.group(2).lower()
        return shown(line)

    with _shell_safe(python) as safe_python:
        spec_file = str(run.request.spec_file.resolve())
        command = [str(safe_python), str(HERE / "kubeflow_driver.py"), spec_file]
        command += [run.state.registry_uri, str(run.state.artifacts), json.dumps(run.params)]
        code, result = run.stream(command, env, watch)
    if result is None or "state" not in result:
        detail = f"the kfp local run ended with exit code {code}"
        return EngineResult(False, "", tasks, detail, _promoted(result))
    ok = result["state"] == "success"
    return EngineResult(ok, "", tasks, result["detail"], _promoted(result))


@contextlib.contextmanager
def _shell_safe(python: Path) -> Iterator[Path]:
    """The interpreter under a path that needs no shell quoting.

    kfp's local runner pastes the interpreter's path into `sh -c` unquoted, so a run folder with
    a space in its path fails (`sh: .../my: not found`). There the virtualenv is reached through
    a symbolic link in a temporary folder: Python finds its pyvenv.cfg through the link.
    """
    if shlex.quote(str(python)) == str(python):
        yield python
        return
    with tempfile.TemporaryDirectory(prefix="mlspec-kfp-") as folder:
        if shlex.quote(folder) != folder:
            raise EngineUnavailable(
                f"kfp's local runner cannot run an interpreter whose path needs shell quoting "
                f"({python}), and the temporary folder {folder} needs it too: set TMPDIR to a "
                "folder whose path has no spaces or shell characters"
            )
        environment = python.parent.parent  # <venv>/bin/python
        link = Path(folder) / "venv"
        link.symlink_to(environment, target_is_directory=True)
        yield link / python.relative_to(environment)


def _kfp_venv(folder: Path) -> Path:
    """A virtualenv with pip that sees this environment's packages (kfp.local runs `pip
    install` with the driver's interpreter, which uv-made environments lack)."""
    python = folder / "venv" / "bin" / "python"
    if not python.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(folder / "venv")
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    import mlspec

    paths = [sysconfig.get_paths()["purelib"], str(Path(mlspec.__file__).parents[1])]
    (Path(purelib) / "mlspec-run.pth").write_text("\n".join(paths) + "\n")
    return python
