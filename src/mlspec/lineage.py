"""Reading lineage back: from a model version to the run, spec, code, data and verdicts behind it.

The pipeline's tasks write it (runtime/lineage.py is the contract: one MLflow run per pipeline
run, namespaced keys, version tags pointing back); `mlspec lineage` and `mlspec runs` read it
here and print it as text, JSON (`as_json`: sorted keys, the shape docs/lineage.md documents) or
a Mermaid flowchart drawn with graph.py, whose labels keep spec text as text. Whatever the store
lacks is said in `missing`, never dropped: a version registered before lineage, a run that
stopped before its steps were recorded, a gate report that was never uploaded.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlspec import graph
from mlspec.runtime import lineage as contract
from mlspec.runtime import registry
from mlspec.runtime.rollback import REGISTRY_TAG_RESTORED_PREFIX

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

# Version tags a rollout leaves, by the word the output uses for each.
_ROLLOUT_TAGS = {
    "previous": registry.REGISTRY_TAG_PREVIOUS_PREFIX,
    "rolled_back": registry.REGISTRY_TAG_ROLLED_BACK_PREFIX,
    "restored": REGISTRY_TAG_RESTORED_PREFIX,
}
# How the text output says each rollout tag's value.
_ROLLOUT_WORDS = {
    "previous": "promoted here from version ",
    "rolled_back": "rolled back from here ",
    "restored": "restored here ",
}
NO_RUN = "no tracking run: registered before lineage, or tracking was unavailable"
NO_STEPS = "steps not recorded: the run stopped before every step ran"


class LineageError(registry.RegistryError):
    """An unknown model, alias or version: one line (registry.RegistryError says the rest, and
    registry._guard passes it through unchanged)."""


def parse_selector(selector: str) -> tuple[str, str | None, str | None]:
    """MODEL, MODEL@ALIAS or MODEL/VERSION as (model, alias, version)."""
    model, at, alias = selector.rpartition("@")
    if at:
        if not model or not alias:
            raise ValueError(f"{selector!r}: write MODEL, MODEL@ALIAS or MODEL/VERSION")
        return model, alias, None
    model, slash, version = selector.rpartition("/")
    if slash and model and version.isdigit():
        return model, None, version
    if not selector or (slash and not model):
        raise ValueError(f"{selector!r}: write MODEL, MODEL@ALIAS or MODEL/VERSION")
    return selector, None, None


def read(tracking_uri: str, model: str, alias: str | None, version: str | None) -> dict:
    """The lineage of one model version (the alias's, the given one, or the latest)."""
    with registry._guard(tracking_uri, f"read the lineage of model {model!r}"):
        client = registry._client(tracking_uri)
        found = registry._get_or_none(lambda: client.get_registered_model(model))
        if found is None:
            raise LineageError(f"model {model!r} is not registered at {_where(tracking_uri)}")
        aliases = {a: str(v) for a, v in found.aliases.items()}
        if alias is not None:
            if alias not in aliases:
                known = ", ".join(sorted(aliases)) or "none"
                raise LineageError(f"model {model!r} has no alias {alias!r} (its aliases: {known})")
            version = aliases[alias]
        if version is None:
            numbers = [
                int(v.version)
                for v in client.search_model_versions(f"name = {registry._quote(model)}")
            ]
            if not numbers:
                raise LineageError(f"model {model!r} has no versions")
            version = str(max(numbers))
        chosen = version
        held = registry._get_or_none(lambda: client.get_model_version(model, chosen))
        if held is None:
            raise LineageError(f"model {model!r} has no version {version}")
        tags = dict(held.tags)
        run_id = tags.get(contract.VERSION_TAG_TRACKING_RUN) or held.run_id or None
        run = None if run_id is None else registry._get_or_none(lambda: client.get_run(run_id))
        lineage = _version(model, str(held.version), held.source, tags, aliases)
        lineage |= _from_run(client, run, run_id, tags)
    lineage["promotions"] = _promotions(tags)
    lineage["rollouts"] = _rollouts(tags)
    if not lineage["promotions"]:
        lineage["missing"].append("no promotion recorded on this version")
    return lineage


def _version(model: str, version: str, source: str | None, tags: dict, aliases: dict) -> dict:
    return {
        "model": {
            "name": model,
            "version": version,
            "aliases": sorted(a for a, v in aliases.items() if v == version),
            "source": source,
            "sha256": tags.get(contract.VERSION_TAG_MODEL_SHA256),
            "pipeline_run": tags.get(registry.REGISTRY_TAG_RUN_ID),
        },
    }


def _from_run(client: MlflowClient, run: Run | None, run_id: str | None, tags: dict) -> dict:
    """Run, spec, code, datasets and gates: from the tracking run, or what the version says."""
    missing = []
    if run is None:
        missing.append(NO_RUN if run_id is None else f"tracking run {run_id} no longer exists")
        verdicts = {
            key.removeprefix(registry.REGISTRY_TAG_GATE_PREFIX): verdict
            for key, verdict in tags.items()
            if key.startswith(registry.REGISTRY_TAG_GATE_PREFIX)
        }
        spec = {
            "name": tags.get(registry.REGISTRY_TAG_SPEC),
            "version": tags.get(registry.REGISTRY_TAG_SPEC_VERSION),
            "sha256": None,
            "path": None,
            "git_commit": tags.get(registry.REGISTRY_TAG_GIT_COMMIT),
        }
        return {
            "run": None,
            "spec": spec,
            "code": {"steps": {}, "git": None},
            "datasets": [],
            "gates": [_gate(name, verdict, None) for name, verdict in sorted(verdicts.items())],
            "missing": missing + _spec_gaps(spec),
        }
    rt = dict(run.data.tags)
    if rt.get(contract.TAG_LINEAGE) != "recorded":
        missing.append(NO_STEPS)
    spec = {
        "name": rt.get(contract.TAG_SPEC),
        "version": rt.get(contract.TAG_SPEC_VERSION),
        "sha256": rt.get(contract.TAG_SPEC_SHA256),
        "path": rt.get(contract.TAG_SPEC_PATH),
        "git_commit": rt.get(contract.TAG_GIT_COMMIT),
    }
    steps = {
        key.removeprefix(contract.TAG_CODE_PREFIX): pin
        for key, pin in rt.items()
        if key.startswith(contract.TAG_CODE_PREFIX)
    }
    datasets = [_dataset(given) for given in run.inputs.dataset_inputs] if run.inputs else []
    if not datasets:
        missing.append("no dataset recorded on the run")
    gates = []
    for key, verdict in sorted(rt.items()):
        if key.startswith(contract.TAG_GATE_PREFIX):
            name = key.removeprefix(contract.TAG_GATE_PREFIX)
            report = _gate_report(client, run.info.run_id, name)
            if report is None:
                missing.append(f"gate {name}: its report artifact gates/{name}.json is missing")
            gates.append(_gate(name, verdict, report))
    return {
        "run": _run(run),
        "spec": spec,
        "code": {"steps": dict(sorted(steps.items())), "git": rt.get(contract.TAG_CODE_GIT)},
        "datasets": sorted(datasets, key=lambda d: d["name"]),
        "gates": gates,
        "missing": missing + _spec_gaps(spec),
    }


def _spec_gaps(spec: dict) -> list[str]:
    gaps = [f"spec {field} not recorded" for field in ("name", "version") if not spec[field]]
    if not spec["git_commit"]:
        gaps.append("no git commit recorded: the spec was not in a git repository")
    return gaps


def _run(run: Run) -> dict:
    tags = run.data.tags
    return {
        "id": run.info.run_id,
        "experiment": run.info.experiment_id,
        "engine": tags.get(contract.TAG_ENGINE),
        "engine_run_id": tags.get(contract.TAG_ENGINE_RUN_ID),
        "pipeline_run": tags.get(contract.TAG_PIPELINE_RUN),
        "status": run.info.status,
        "start": _time(run.info.start_time),
        "end": _time(run.info.end_time),
        "lineage_recorded": tags.get(contract.TAG_LINEAGE) == "recorded",
        "params": dict(sorted(run.data.params.items())),
        "metrics": dict(sorted(run.data.metrics.items())),
    }


def _time(millis: int | None) -> str | None:
    if not millis:
        return None
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="seconds")


def _loads(text: str | None) -> Any:
    """A JSON field the writer stored, or None when it is absent or not JSON."""
    try:
        return None if text is None else json.loads(text)
    except ValueError:
        return None


def _dataset(given: Any) -> dict:
    dataset = given.dataset
    profile = _loads(dataset.profile) or {}
    schema = _loads(dataset.schema) or {}
    columns = schema.get("mlflow_colspec") if isinstance(schema, dict) else None
    context = {tag.key: tag.value for tag in given.tags}.get(contract.DATASET_CONTEXT_TAG, "")
    return {
        "name": dataset.name,
        "digest": dataset.digest,
        "sha256": profile.get("sha256"),
        "bytes": profile.get("bytes"),
        "files": profile.get("files"),
        "rows": profile.get("rows"),
        "columns": None if columns is None else [[c["name"], c["type"]] for c in columns],
        "source": (_loads(dataset.source) or {}).get("uri", dataset.source),
        "readers": [reader for reader in context.split(",") if reader],
    }


def _gate_report(client: MlflowClient, run_id: str, gate: str) -> dict | None:
    """The gate's report artifact, or None when the run holds none."""
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory(prefix="mlspec-lineage-") as folder:
        try:
            path = client.download_artifacts(run_id, f"gates/{gate}.json", folder)
        except (MlflowException, OSError):
            return None
        report = _loads(Path(path).read_text(encoding="utf-8"))
    return report if isinstance(report, dict) else None


def _gate(name: str, verdict: str, report: dict | None) -> dict:
    failed = None
    if report is not None:
        failed = [
            f"{c.get('check', '')} {c.get('subject', '')}".strip()
            for c in report.get("checks", [])
            if not c.get("passed")
        ]
        if report.get("reason"):
            failed.insert(0, str(report["reason"]))
    return {"name": name, "verdict": verdict, "failed_checks": failed}


def _promotions(tags: dict) -> list[dict]:
    found = []
    for key, text in sorted(tags.items()):
        if key.startswith(contract.VERSION_TAG_PROMOTED_BY_PREFIX):
            by = _loads(text)
            by = by if isinstance(by, dict) else {"by": text}
            alias = key.removeprefix(contract.VERSION_TAG_PROMOTED_BY_PREFIX)
            fields = ("by", "pipeline_run", "actor", "rule", "rollout", "at")
            found.append({"alias": alias, **{f: by.get(f) for f in fields}})
    return found


def _rollouts(tags: dict) -> list[dict]:
    return [
        {"alias": key.removeprefix(prefix), "event": event, "detail": text}
        for event, prefix in _ROLLOUT_TAGS.items()
        for key, text in sorted(tags.items())
        if key.startswith(prefix)
    ]


def list_runs(tracking_uri: str, pipeline: str, limit: int) -> list[dict]:
    """The pipeline's runs, newest first: [] when none was ever tracked."""
    with registry._guard(tracking_uri, f"list the runs of pipeline {pipeline!r}"):
        client = registry._client(tracking_uri)
        experiment = client.get_experiment_by_name(pipeline)
        if experiment is None:
            return []
        runs = client.search_runs(
            [experiment.experiment_id],
            order_by=["attributes.start_time DESC", "attributes.run_id ASC"],
            max_results=limit,
        )
    return [_listed(run) for run in runs]


def _listed(run: Run) -> dict:
    tags = run.data.tags

    def prefixed(prefix: str) -> dict[str, str]:
        return {k.removeprefix(prefix): v for k, v in sorted(tags.items()) if k.startswith(prefix)}

    return {
        "id": run.info.run_id,
        "engine": tags.get(contract.TAG_ENGINE),
        "engine_run_id": tags.get(contract.TAG_ENGINE_RUN_ID),
        "start": _time(run.info.start_time),
        "status": run.info.status,
        "spec_version": tags.get(contract.TAG_SPEC_VERSION),
        "spec_sha256": tags.get(contract.TAG_SPEC_SHA256),
        "gates": prefixed(contract.TAG_GATE_PREFIX),
        "promoted": prefixed(contract.TAG_PROMOTED_PREFIX),
        "lineage_recorded": tags.get(contract.TAG_LINEAGE) == "recorded",
    }


def _where(tracking_uri: str) -> str:
    return f"registry {registry._redact(tracking_uri)}"


# --- output ------------------------------------------------------------------------------------


def as_json(data: object) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _short(digest: str | None, size: int = 12) -> str:
    return "-" if not digest else digest.removeprefix("sha256:")[:size]


def _or(value: object, absent: str = "not recorded") -> str:
    return absent if value in (None, "") else str(value)


def text(lineage: dict) -> str:
    model, run, spec, code = lineage["model"], lineage["run"], lineage["spec"], lineage["code"]
    aliases = ", ".join(model["aliases"]) or "none"
    lines = [f"model     {model['name']} version {model['version']} (aliases: {aliases})"]
    lines.append(f"  source  {model['source']}")
    lines.append(f"  sha256  {_or(model['sha256'])}")
    if run is None:
        lines.append("run       none")
    else:
        lines.append(f"run       {run['id']} ({run['status']})")
        lines.append(f"  engine  {_or(run['engine'])}, run {_or(run['engine_run_id'])}")
        lines.append(f"  time    {_or(run['start'])} .. {_or(run['end'], 'not ended')}")
    lines.append(f"spec      {_or(spec['name'])} {_or(spec['version'], '')}".rstrip())
    lines.append(f"  sha256  {_or(spec['sha256'])}")
    lines.append(f"  path    {_or(spec['path'])}")
    lines.append(f"  commit  {_or(spec['git_commit'])}")
    lines.append("code")
    width = max([len(s) for s in code["steps"]] + [3])
    lines += [f"  {step:<{width}}  {pin}" for step, pin in code["steps"].items()]
    lines.append(f"  {'git':<{width}}  {_or(code['git'], 'none')}")
    lines.append("datasets" + ("" if lineage["datasets"] else "  none recorded"))
    width = max((len(d["name"]) for d in lineage["datasets"]), default=0)
    for d in lineage["datasets"]:
        shape = "" if d["rows"] is None else f", {d['rows']} rows"
        if d["columns"] is not None:
            shape += f", columns {', '.join(f'{n} {t}' for n, t in d['columns'])}"
        sha256 = _short(d["sha256"] or d["digest"])
        lines.append(f"  {d['name']:<{width}}  sha256 {sha256}{shape}")
        lines.append(f"  {'':<{width}}  read by {', '.join(d['readers']) or 'nothing'}")
    lines.append("gates" + ("" if lineage["gates"] else "  none recorded"))
    width = max((len(g["name"]) for g in lineage["gates"]), default=0)
    for g in lineage["gates"]:
        failed = g["failed_checks"]
        why = f": {', '.join(failed)}" if failed else ""
        lines.append(f"  {g['name']:<{width}}  {g['verdict']}{why}")
    lines.append("promotions" + ("" if lineage["promotions"] else "  none recorded"))
    width = max((len(p["alias"]) for p in lineage["promotions"]), default=0)
    for p in lineage["promotions"]:
        rule = ", ".join(p["rule"] or []) or "no gates"
        who = _or(p["by"]) + (f" ({p['actor']})" if p["actor"] else "")
        lines.append(f"  {p['alias']:<{width}}  by {who} at {_or(p['at'])}{_run_of(p)}")
        lines.append(f"  {'':<{width}}  rule: {rule}; rollout: {_or(p['rollout'], '-')}")
    if lineage["rollouts"]:
        lines.append("rollouts")
        width = max(len(r["alias"]) for r in lineage["rollouts"])
        for r in lineage["rollouts"]:
            lines.append(f"  {r['alias']:<{width}}  {_ROLLOUT_WORDS[r['event']]}{r['detail']}")
    lines += [f"missing   {gap}" for gap in lineage["missing"]]
    return "\n".join(lines) + "\n"


def _run_of(promotion: dict) -> str:
    return f", pipeline run {promotion['pipeline_run']}" if promotion["pipeline_run"] else ""


def mermaid(lineage: dict) -> str:
    """The chain as a `flowchart TD`, every label escaped by graph.py."""
    model, run, spec, code = lineage["model"], lineage["run"], lineage["spec"], lineage["code"]
    nodes = [
        graph.Node(
            "version",
            f"{model['name']} version {model['version']}\nsha256 {_short(model['sha256'])}",
            "model",
        )
    ]
    edges = []
    chain = "version"
    if run is not None:
        nodes.append(
            graph.Node("run", f"run {run['id']}\n{_or(run['engine'])} {run['status']}", "step")
        )
        edges.append(graph.Edge("version", "run", "source run"))
        chain = "run"
    spec_label = f"spec {_or(spec['name'])} {_or(spec['version'], '')}".rstrip()
    nodes.append(graph.Node("spec", f"{spec_label}\nsha256 {_short(spec['sha256'])}", "step"))
    edges.append(graph.Edge(chain, "spec", "compiled from"))
    if spec["git_commit"]:
        nodes.append(graph.Node("commit", f"git {spec['git_commit'][:12]}", "trigger"))
        edges.append(graph.Edge("spec", "commit", "at"))
    for step, pin in code["steps"].items():
        node = graph.node_id("code", step)
        nodes.append(graph.Node(node, f"{step}\n{pin}", "rollout"))
        edges.append(graph.Edge(chain, node, "code"))
    for d in lineage["datasets"]:
        node = graph.node_id("data", d["name"])
        rows = "" if d["rows"] is None else f"\n{d['rows']} rows"
        nodes.append(graph.Node(node, f"{d['name']}\nsha256 {_short(d['sha256'])}{rows}", "data"))
        edges.append(graph.Edge(node, chain, "read by " + (", ".join(d["readers"]) or "nothing")))
    for g in lineage["gates"]:
        node = graph.node_id("gate", g["name"])
        nodes.append(graph.Node(node, f"{g['name']}\n{g['verdict']}", "gate"))
        edges.append(graph.Edge(chain, node, "judged"))
    for p in lineage["promotions"]:
        node = graph.node_id("alias", p["alias"])
        nodes.append(graph.Node(node, f"{p['alias']}\nby {_or(p['by'])}", "promotion"))
        edges.append(graph.Edge("version", node, "promoted"))
    for i, r in enumerate(lineage["rollouts"]):
        node = f"rollout_{i}"
        words = _ROLLOUT_WORDS[r["event"]]
        nodes.append(graph.Node(node, f"{r['alias']}\n{words}{r['detail']}", "rollback"))
        edges.append(graph.Edge("version", node))
    return graph.mermaid(graph.Graph(tuple(nodes), tuple(edges)))


def runs_text(pipeline: str, runs: list[dict]) -> str:
    if not runs:
        return f"no runs of pipeline {pipeline} recorded\n"
    lines = []
    for r in runs:
        spec = f"spec {_or(r['spec_version'], '?')} {_short(r['spec_sha256'], 8)}"
        lines.append(f"{r['id']}  {_or(r['start'], '-')}  {r['status']}  {spec}")
        lines.append(f"  engine    {_or(r['engine'])}, run {_or(r['engine_run_id'])}")
        gates = ", ".join(f"{g} {v}" for g, v in r["gates"].items()) or "none recorded"
        lines.append(f"  gates     {gates}")
        promoted = ", ".join(f"{a} -> version {v}" for a, v in r["promoted"].items())
        lines.append(f"  promoted  {promoted or 'nothing'}")
        if not r["lineage_recorded"]:
            lines.append(f"  missing   {NO_STEPS}")
    return "\n".join(lines) + "\n"
