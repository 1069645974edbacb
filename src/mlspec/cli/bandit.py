"""Bandit rollouts: the in-cluster controller, and its offline simulation."""

from __future__ import annotations

import json
import sys

import click

from mlspec.cli.common import EXIT_REFUSED, checked, require, result_format


@click.command("bandit-controller")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The controller's config.json (the ConfigMap that `compile` writes).",
)
@click.option("--once", is_flag=True, help="Run one interval now and exit (e.g. from a CronJob).")
def bandit_controller(config_path: str, once: bool) -> None:
    """Steer a bandit rollout's VirtualService until its stopping rule holds.

    Runs in the cluster (see docker/bandit-controller/Dockerfile): each interval it reads
    rewards and guardrails from Prometheus and patches the route weights; it prints a JSON
    report when it stops.
    """
    import logging

    from mlspec.bandit.config import ConfigError
    from mlspec.bandit.controller import ControllerError, run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        run(config_path, once=once)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="'--config'") from None
    except ControllerError as exc:
        click.echo(f"failed: {exc}", err=True)
        sys.exit(EXIT_REFUSED)


def _rates(values: tuple[str, ...]) -> dict[str, float] | dict[str, dict[str, float]]:
    """ARM=P or SEGMENT:ARM=P -> {arm: p} or {segment: {arm: p}}."""
    flat: dict[str, float] = {}
    nested: dict[str, dict[str, float]] = {}
    for value in values:
        key, sep, number = value.partition("=")
        try:
            rate = float(number)
        except ValueError:
            raise click.UsageError(f"--rate {value!r}: write ARM=P or SEGMENT:ARM=P") from None
        if not sep:
            raise click.UsageError(f"--rate {value!r}: write ARM=P or SEGMENT:ARM=P")
        segment, colon, arm = key.rpartition(":")
        into = nested.setdefault(segment, {}) if colon else flat
        if arm in into:
            raise click.UsageError(f"--rate {value!r}: {key} has a rate already")
        into[arm] = rate
    if flat and nested:
        raise click.UsageError("--rate: use ARM=P for a bandit or SEGMENT:ARM=P, not both")
    return nested or flat


def _no_data(values: tuple[str, ...], intervals: int) -> dict[str, set[int]]:
    """ARM=FIRST[-LAST] -> {arm: {FIRST, ..., LAST}}, up to the last simulated interval."""
    out: dict[str, set[int]] = {}
    for value in values:
        arm, sep, span = value.partition("=")
        first, _, last = span.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            low = high = 0
        if not sep or not arm or low < 1 or high < low:
            raise click.UsageError(
                f"--no-data {value!r}: write ARM=FIRST or ARM=FIRST-LAST, intervals from 1"
            )
        out.setdefault(arm, set()).update(range(low, min(high, intervals) + 1))
    return out


@click.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--rate",
    "rate_values",
    multiple=True,
    required=True,
    metavar="[SEGMENT:]ARM=P",
    help="True reward rate of an arm (per segment for a contextual bandit); repeat for each.",
)
@click.option(
    "--requests", default=1000, show_default=True, help="Requests per route per interval."
)
@click.option("--intervals", default=200, show_default=True, help="Intervals to simulate at most.")
@click.option("--seed", type=int, help="Random seed [default: the controller's, from the spec].")
@click.option(
    "--no-data",
    "no_data_values",
    multiple=True,
    metavar="ARM=FIRST[-LAST]",
    help="The arm's metrics are missing in these intervals (1-based); repeat for more.",
)
@click.option("--compare", is_flag=True, help="Also run the other algorithms and a fixed split.")
@click.option(
    "--plot", "plot_path", type=click.Path(dir_okay=False), help="Write a PNG of weights."
)
@result_format("Tables for people, or every interval and the comparison as JSON.")
def simulate(
    spec: str,
    rate_values: tuple[str, ...],
    requests: int,
    intervals: int,
    seed: int | None,
    no_data_values: tuple[str, ...],
    compare: bool,
    plot_path: str | None,
    fmt: str,
) -> None:
    """Run SPEC's bandit offline against simulated arms and print weights, regret and the stop.

    It makes the deployed controller's decisions (same policy, same seeding) on simulated
    rewards: e.g. `--rate incumbent=0.05 --rate candidate=0.07`.
    """
    if plot_path is not None:
        require("plot", why="mlspec simulate --plot")
    analysis = checked(spec)
    from mlspec.api import bandit_config
    from mlspec.bandit import simulate as sim
    from mlspec.bandit.policy import Algorithm
    from mlspec.compiler import ir

    pipeline = analysis.pipeline
    rollout = pipeline.rollout
    if rollout is None or not isinstance(rollout.strategy, ir.Bandit):
        raise click.UsageError(f"{spec} has no bandit or contextual_bandit rollout")
    if rollout.prometheus is None:
        raise click.UsageError(f"{spec}: set rollout.prometheus (`mlspec validate` says more)")
    config = bandit_config(pipeline)
    rates = _rates(rate_values)
    gaps = _no_data(no_data_values, intervals)
    found: dict[str, object] = {"run": None, "comparison": None}
    try:
        result = sim.simulate(
            config, rates, requests=requests, max_intervals=intervals, seed=seed, no_data=gaps
        )
        found["run"] = sim.as_json(result)
        if fmt == "text":
            click.echo(sim.render_table(result))
        if compare:
            every: tuple[Algorithm, ...] = ("thompson", "epsilon_greedy", "ucb1")
            others = [a for a in every if a != config.algorithm]
            runs = sim.compare(
                config,
                rates,
                [config.algorithm, *others],
                requests=requests,
                max_intervals=intervals,
                seed=seed,
                no_data=gaps,
            )
            found["comparison"] = sim.comparison_json(runs, intervals)
            if fmt == "text":
                click.echo(sim.render_comparison(runs, intervals))
        if plot_path is not None:
            sim.plot(result, plot_path)
            click.echo(f"wrote {plot_path}", err=fmt == "json")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except ImportError as exc:
        raise click.UsageError(str(exc)) from None
    if fmt == "json":
        click.echo(json.dumps(found, indent=2))
