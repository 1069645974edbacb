"""The smoke test of `rollout.smoke` as an Argo Rollouts Job metric, and its requests.

The requests are the data of a ConfigMap, mounted as files, and the URL and the timeout are
environment variables: the Job's shell script is fixed text, so no spec text is ever read as
shell. The script POSTs each request to the new version's Service and fails on the first answer
that is not a 2xx (curl's --fail alone would pass a 3xx). The Job fails, so the metric fails and
Argo aborts the rollout before any user traffic reaches the new version.

curlimages/curl: a small image (about 10 MB, Alpine with curl and a POSIX sh) that runs as a
non-root user; python:slim would do the same in ~50 MB.
"""

from __future__ import annotations

from mlspec.backends.rollout.k8s import Doc, document
from mlspec.backends.rollout.release import Release
from mlspec.compiler import ir

IMAGE = "curlimages/curl:8.11.1"
METRIC = "smoke"
MOUNT = "/smoke"
SCRIPT = """\
set -u
for body in "$REQUESTS"/*.json; do
  code=$(curl -sS -o /tmp/answer -w '%{http_code}' --max-time "$TIMEOUT" \\
    -H 'Content-Type: application/json' --data-binary "@$body" "$URL") || {
    echo "$body: no answer from $URL"; exit 1; }
  case "$code" in
    2??) echo "$body: $code" ;;
    *) echo "$body: HTTP $code from $URL"; cat /tmp/answer; echo; exit 1 ;;
  esac
done
"""


def name(release: Release) -> str:
    """The ConfigMap's name."""
    return f"{release.name}-smoke"


def template_name(release: Release) -> str:
    """The AnalysisTemplate's: a metric's is `<service>-<target_key(metric)>`, which never holds
    '--', so no metric (not even one named smoke) takes this name."""
    return f"{release.name}--smoke"


def url(release: Release, service: str, smoke: ir.Smoke) -> str:
    return f"http://{service}.{release.namespace}.svc:{release.service.port}{smoke.path}"


def request_files(smoke: ir.Smoke) -> dict[str, str]:
    """File name -> JSON body; the names sort in the spec's order."""
    return {f"request-{i:02d}.json": body for i, body in enumerate(smoke.requests, 1)}


def config_map(release: Release, smoke: ir.Smoke) -> Doc:
    doc = document("v1", "ConfigMap", name(release), release.namespace, labels=release.labels())
    doc["data"] = request_files(smoke)
    return doc


def job_spec(release: Release, service: str, smoke: ir.Smoke) -> Doc:
    """The batch/v1 JobSpec: one try, bounded by every request's timeout plus a minute."""
    container = {
        "name": METRIC,
        "image": IMAGE,
        "command": ["/bin/sh", "-c", SCRIPT],
        "env": [
            {"name": "URL", "value": url(release, service, smoke)},
            {"name": "TIMEOUT", "value": str(smoke.timeout_seconds)},
            {"name": "REQUESTS", "value": MOUNT},
        ],
        "volumeMounts": [{"name": "requests", "mountPath": MOUNT, "readOnly": True}],
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    return {
        "backoffLimit": 0,
        "activeDeadlineSeconds": smoke.timeout_seconds * len(smoke.requests) + 60,
        "template": {
            # A sidecar would keep the Job running after curl exits: the Job calls the
            # Service directly, outside the mesh.
            "metadata": {"annotations": {"sidecar.istio.io/inject": "false"}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [container],
                "volumes": [{"name": "requests", "configMap": {"name": name(release)}}],
            },
        },
    }


def analysis_template(release: Release, service: str, smoke: ir.Smoke) -> Doc:
    """One Job measurement: the Job's success is the metric's."""
    metric = {
        "name": METRIC,
        "failureLimit": 0,
        "provider": {"job": {"spec": job_spec(release, service, smoke)}},
    }
    return document(
        "argoproj.io/v1alpha1",
        "AnalysisTemplate",
        template_name(release),
        release.namespace,
        labels=release.labels(),
        spec={"metrics": [metric]},
    )
