"""The commands that run the simulated Sample Platform: ``reporter demo`` and ``reporter simulate``."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import click

from reporter.analysis import Classification
from reporter.format import Templates

seed_option = click.option("--seed", default=7, show_default=True, help="Seed of the simulated history.")


@click.command()
@seed_option
@click.option("--days", default=14, show_default=True, help="Days of simulated CI history.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    help="Where to keep state and digests (default: a new temporary directory).",
)
def demo(seed: int, days: int, directory: Path | None) -> None:
    """Run the whole pipeline against an embedded simulated Sample Platform.

    Starts the simulator on 127.0.0.1, polls it into a fresh SQLite file, analyses the runs,
    prints the digest and writes it as text and HTML, then triages one pull-request run.
    No network, no credentials.

    \b
    Example:
      reporter demo --seed 7 --dir ./demo
    """
    from reporter.demo import run_demo
    from reporter.progress import progress_bar

    target = directory or Path(tempfile.mkdtemp(prefix="reporter-demo-"))
    with progress_bar("polling the simulated platform") as advance:
        outcome = run_demo(target, seed=seed, days=days, progress=advance)
    click.echo("")
    click.echo(f"Ingested {outcome.runs_ingested} runs with {outcome.requests} API requests.")
    for kind in (Classification.FLAKY, Classification.FAILING):
        found, truth = outcome.found[kind], outcome.truth[kind]
        click.echo(
            f"{kind}: found {len(found)}, of which {len(found & truth)} match the simulator's "
            f"ground truth ({len(truth)} planted)"
        )
    if outcome.triage is not None:
        from reporter.format.text import TextFormat

        click.echo("")
        click.echo(TextFormat(Templates()).triage(outcome.triage))
    click.echo(f"Digest (text): {outcome.text_path}")
    click.echo(f"Digest (HTML): {outcome.html_path}")
    if outcome.triage_path is not None:
        click.echo(f"Triage:        {outcome.triage_path}")
    click.echo(f"State:         {outcome.state_path}")


@click.command()
@click.option("--port", default=8080, show_default=True, help="Port on 127.0.0.1 (0 picks a free one).")
@seed_option
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=None,
    help="Days of history [default: 14, or the profile's].",
)
@click.option(
    "--profile",
    "profile_name",
    default=None,
    help="A named history: small, quiet, realistic, noisy, large or hard (shared causes, bursts, clusters).",
)
@click.option("--token", default="sim-token", show_default=True, help="Bearer token the simulator accepts.")
@click.option("--rate-limit", default=120, show_default=True, help="Requests per window per token.")
@click.option("--window", default=60.0, show_default=True, help="Rate-limit window in seconds.")
@click.option("--error-rate", default=0.0, help="Share of requests answered 503.")
@click.option("--drop-rate", default=0.0, help="Share of connections dropped without an answer.")
@click.option("--malformed-rate", default=0.0, help="Share of answers with a truncated JSON body.")
@click.option("--latency", default=0.0, help="Seconds added to every answer.")
def simulate(
    port: int,
    seed: int,
    days: int | None,
    profile_name: str | None,
    token: str,
    rate_limit: int,
    window: float,
    error_rate: float,
    drop_rate: float,
    malformed_rate: float,
    latency: float,
) -> None:
    """Serve a simulated Sample Platform until interrupted, to point tools at.

    \b
    Example:
      reporter simulate --port 8080 --seed 7
      reporter simulate --profile hard --days 30
      SAMPLE_PLATFORM_TOKEN=sim-token reporter --config sim.yaml poll
    """
    from dataclasses import replace

    from reporter.demo import serve_simulation
    from reporter.simulator import Faults, Profile
    from reporter.simulator.scenario import PROFILES

    if profile_name is not None and profile_name not in PROFILES:
        raise click.BadParameter(
            f"{profile_name!r}; choose one of {', '.join(PROFILES)}", param_hint="--profile"
        )
    profile = PROFILES[profile_name] if profile_name else Profile(days=14)
    profile = replace(profile, days=days) if days is not None else profile
    faults = Faults(error_rate, drop_rate, malformed_rate, latency, seed)
    with serve_simulation(
        profile, seed=seed, token=token, rate_limit=rate_limit, window=window, faults=faults, port=port
    ) as base_url:
        click.echo(f"Simulated Sample Platform at {base_url} (token {token!r}); Ctrl-C stops it.")
        threading.Event().wait()
