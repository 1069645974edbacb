"""The `mlspec` command: thin Click commands over the compile facade (mlspec.api).

Exit codes are stable: 0 ok, 1 problems in a spec, 2 usage errors (Click's own included),
3 an operation refused or failed outside mlspec (e.g. a promotion whose gates did not pass).
Commands are grouped by job: spec (validate, compile, graph, schema, targets, init), testing
(test), build
(build), review (diff), registry (promote, rollback, resolve-model), lineage (lineage,
runs), ops (deploy, run), bandit
(bandit-controller, simulate).
"""

from __future__ import annotations

import os

import click

from mlspec import __version__

# pydantic looks for plug-ins through importlib.metadata on the first model build (~30 ms of
# every start); mlspec uses none. A user can still opt in by setting the variable.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from mlspec.cli import bandit, build, lineage, ops, review, spec, testing
from mlspec.cli import registry as models
from mlspec.cli.common import EXIT_OK, EXIT_REFUSED, EXIT_SPEC, EXIT_USAGE

__all__ = ["EXIT_OK", "EXIT_REFUSED", "EXIT_SPEC", "EXIT_USAGE", "main"]


class _Group(click.Group):
    """Lists each command with its whole first sentence (Click's default cuts it with "...")."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="mlspec")
def main() -> None:
    """Check ML pipeline specs and compile them for Kubeflow, Airflow and Prefect."""


for command in (
    spec.validate,
    spec.compile_command,
    build.build,
    spec.graph,
    spec.schema,
    spec.list_targets,
    spec.init,
    testing.test_command,
    review.diff_,
    models.promote,
    models.rollback,
    models.resolve_model,
    lineage.lineage,
    lineage.runs,
    ops.deploy,
    ops.run,
    bandit.bandit_controller,
    bandit.simulate,
):
    main.add_command(command)
