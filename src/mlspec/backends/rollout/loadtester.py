"""Flagger webhooks through Flagger's load tester: the smoke test and the load of `rollout:`.

The load tester (ghcr.io/fluxcd/flagger-loadtester) is a small HTTP service that runs commands
for Flagger's webhooks. mlspec expects it where Flagger's documentation installs it, as
`flagger-loadtester` in the service's namespace (`helm upgrade -i flagger-loadtester
flagger/loadtester --namespace=NS`): the spec has no field for its address.

- smoke: a `pre-rollout` webhook, which Flagger calls after the new version is up and before
  any traffic moves to it. Its task type is `bash`, which the load tester runs to the end
  before it answers (type `cmd` would be queued and answered 202 at once), so a request that
  fails fails the webhook: Flagger counts a failed check and tries again the next interval,
  and rolls back when the failed checks reach the Canary's `threshold`. Every request is POSTed
  with curl to the new version's Service `<name>-canary` and must answer 2xx.
- load: a `rollout` webhook, called at every interval of the analysis, of type `cmd`: the load
  tester starts `hey` in the background unless the same command still runs. `hey` sends `rate`
  requests a second for `duration` to `<name>-canary`: the smoke test's path and first request
  when the spec has one, else GETs of `/`.

Spec text stays text: every value a command holds (the request bodies, the URL) is one
single-quoted shell word (`shlex.quote`), which neither `sh` nor `bash` expands; the bodies are
JSON, so no NUL byte can reach the shell.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from mlspec.backends.rollout.analysis import number
from mlspec.backends.rollout.k8s import Doc
from mlspec.backends.rollout.release import Release

ADDRESS = "http://flagger-loadtester.{namespace}/"
SMOKE_HOOK = "smoke"
LOAD_HOOK = "load"
_LOAD_WORKERS = 10  # hey's -q is per worker: up to this many share the rate
_HOOK_WAIT = 5  # seconds: the load tester's answer to a queued task; the smoke test's margin


def canary_url(release: Release, path: str = "/") -> str:
    """The new version's Service, which Flagger creates as `<name>-canary`."""
    return f"http://{release.name}-canary.{release.namespace}:{release.service.port}{path}"


def webhooks(release: Release, seconds: Callable[[int], str]) -> list[Doc]:
    """The Canary's `analysis.webhooks` for the rollout's smoke test and load, in that order;
    `seconds` writes a webhook timeout as the CRD takes it."""
    rollout = release.rollout
    address = ADDRESS.format(namespace=release.namespace)
    hooks: list[Doc] = []
    if rollout.smoke is not None:
        smoke = rollout.smoke
        wait = smoke.timeout_seconds * len(smoke.requests) + _HOOK_WAIT
        hooks.append(
            _hook(SMOKE_HOOK, "pre-rollout", address, seconds(wait), "bash", smoke_command(release))
        )
    if rollout.load is not None:
        hooks.append(
            _hook(LOAD_HOOK, "rollout", address, seconds(_HOOK_WAIT), "cmd", load_command(release))
        )
    return hooks


def _hook(name: str, kind: str, url: str, timeout: str, task: str, cmd: str) -> Doc:
    return {
        "name": name,
        "type": kind,
        "url": url,
        "timeout": timeout,
        "metadata": {"type": task, "cmd": cmd},
    }


def smoke_command(release: Release) -> str:
    """A bash command that POSTs every smoke request and fails unless each answers 2xx."""
    smoke = release.rollout.smoke
    assert smoke is not None
    url = shlex.quote(canary_url(release, smoke.path))
    # --data-binary reads a file for a value that starts with '@'; a JSON text never does.
    function = (
        "smoke() { code=$(curl -sS -o /dev/null -w '%{http_code}' "
        f"--max-time {smoke.timeout_seconds} -H 'Content-Type: application/json' "
        f'--data-binary "$1" {url}) || return 1; case "$code" in 2??) ;; '
        '*) echo "smoke request answered HTTP $code" >&2; return 1;; esac; }'
    )
    calls = " && ".join(f"smoke {shlex.quote(body)}" for body in smoke.requests)
    return f"{function}; {calls}"


def load_command(release: Release) -> str:
    """`hey` at `rate` requests a second for `duration`, against the new version."""
    load, smoke = release.rollout.load, release.rollout.smoke
    assert load is not None
    workers = min(load.rate, _LOAD_WORKERS)
    words = ["hey", "-z", f"{load.duration_seconds}s", "-q", number(load.rate / workers)]
    words += ["-c", str(workers)]
    if smoke is None:
        return shlex.join([*words, canary_url(release)])
    request = ["-m", "POST", "-T", "application/json", "-d", smoke.requests[0]]
    return shlex.join([*words, *request, canary_url(release, smoke.path)])
