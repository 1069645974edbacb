"""`mlspec deploy --target prefect`: the compiled flow and its prefect.yaml, through Prefect's API.

The deploy runs in three phases, so that a failure never leaves a half-made deployment:

1. local (settings.py, wanted.py): settings, prefect.yaml parsed, the flow's parameter schema,
   schedules built and validated by Prefect's own models (no remote call yet);
2. read (plan.py, through api.py): the server is reached (transient failures retried within a
   bounded time), and the work pool, the flow and the deployment are read, giving the plan (a
   dry run stops here);
3. write (plan.py's steps, applied by common.apply): the flow folder's files first (into a
   folder named by the content version, so a deployment never points at a file that a later
   deploy overwrote), then the work pool, the flow and the deployment (one upsert, which
   replaces its schedules). A failure names what was done and what was not.

`--run` and `--wait` (follow.py) trigger a flow run and follow it to its end. With `code.git`,
the workers clone the pinned commit (prefect.yaml's pull steps), which must hold the compiled
flow (commit.py checks it where the repository can be read); nothing is written to a folder.
Without it, they load the flow from `prefect_flow_dir`: the deployment's pull step sets the
working directory to `<flow dir>/<pipeline>/<version>`, and its entrypoint is the file there.
"""

from __future__ import annotations

from pathlib import Path

from mlspec.backends.prefect.delivery import git_source
from mlspec.backends.prefect.triggers import watch_flow_name
from mlspec.deploy.common import Action, Plan, Request, Setting, apply, shown_url
from mlspec.deploy.prefect import commit
from mlspec.deploy.prefect.api import Api
from mlspec.deploy.prefect.follow import run_deployment
from mlspec.deploy.prefect.plan import Writes, make_plan, read, summary
from mlspec.deploy.prefect.settings import offline_settings, settings_from
from mlspec.deploy.prefect.wanted import flow_names, folder_files, wanted_from, worker_files

__all__ = ["SETTINGS", "deploy", "offline_plan"]

# `mlspec deploy` flags: connection settings, each also read from its environment variable.
SETTINGS = (
    Setting(
        "prefect_api_url",
        "PREFECT_API_URL",
        "Prefect API, e.g. http://127.0.0.1:4200/api.",
        server=True,
    ),
    Setting(
        "prefect_work_pool", "MLSPEC_PREFECT_WORK_POOL", "Prefect work pool [default: mlspec]."
    ),
    Setting(
        "prefect_flow_dir",
        "MLSPEC_PREFECT_FLOW_DIR",
        "Folder the Prefect workers load the flow from (a shared volume or checkout); not "
        "used when the spec pins code.git (the workers clone the commit).",
    ),
)

AGAIN = "deploying again finishes the job (what is done shows as unchanged)"


def deploy(request: Request) -> Plan:
    """Plan the deploy, and unless it is a dry run apply it (and run the deployment if asked)."""
    settings = settings_from(request)
    wanted = wanted_from(request, settings)
    git = git_source(request.pipeline)  # type: ignore[arg-type]
    if git is not None:
        commit.check(git, worker_files(request.artifacts), Path(request.spec_path), request.echo)
    api = Api(settings, request.deadline)
    with api.connect():
        found = read(api, settings, wanted, watch_flow_name(request.pipeline))  # type: ignore[arg-type]
        planned, steps = make_plan(request, settings, wanted, found)
        if request.dry_run:
            request.echo("dry run: nothing was changed on the server or in the flow folder")
            return planned
        writes = Writes.starting_from(api, wanted, found)
        apply(steps, writes, note=AGAIN, secrets=settings.secrets)
        if request.run:
            planned.actions[-1] = run_deployment(api, request, settings, wanted[0], writes.ids)
    return planned


def offline_plan(request: Request) -> Plan:
    """What a deploy would apply, from the compiled files alone: the server is not asked and the
    flow folder not read, so each action is an "apply" (created, or updated where it differs)."""
    settings = offline_settings(request)
    wanted = wanted_from(request, settings)
    actions = [Action("apply", f"flow {g.what(folder)}") for folder, g in folder_files(wanted)]
    actions.append(Action("apply", f"work pool {settings.work_pool}", "a process pool if missing"))
    actions += [Action("apply", f"flow {name}") for name in flow_names(wanted)]
    for item in wanted:
        actions.append(Action("apply", f"deployment {item.full_name}", summary(item)))
        if item.triggers:
            names = ", ".join(str(t.name) for t in item.triggers)
            actions.append(Action("apply", f"triggers of deployment {item.full_name}", names))
    server = shown_url(settings.api_url) if settings.api_url else ""
    return Plan("prefect", request.version, actions, server=server, offline=True)
