"""The ``reporter`` command line: each command calls one function and prints what it returns.

Every error a user can see is a ``ReporterError``; ``main`` prints its message and exits with its
``exit_code`` (the table in ``reporter.errors``).
"""

from __future__ import annotations

import json
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import click
from rich.console import Console

from reporter import __version__, jobs
from reporter.analysis import Classification
from reporter.config import Platform, Settings, load_settings, masked_dump
from reporter.errors import CheckFailed, DeliveryError, Interrupted, ReporterError, RunsNotIngested
from reporter.format import FINDINGS_FORMATS
from reporter.format.json import JsonFormat
from reporter.format.table import TableFormat
from reporter.logs import configure_logging

DEFAULT_CONFIG = "reporter.yaml"
DATE = click.DateTime(["%Y-%m-%d"])
PAGE_FORMATS = ("text", "markdown", "html")  # the digest formats that are a page to print or keep

seed_option = click.option("--seed", default=7, show_default=True, help="Seed of the simulated history.")


def _settings(ctx: click.Context) -> Settings:
    path: Path = ctx.obj["config"]
    return load_settings(path)


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment else None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="reporter")
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    envvar="REPORTER_CONFIG",
    default=DEFAULT_CONFIG,
    show_default=True,
    help="YAML configuration file.",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log line format.",
)
@click.pass_context
def cli(ctx: click.Context, config: Path, verbose: int, log_format: str) -> None:
    """Tell maintainers which CCExtractor samples are flaky, which are broken, and what changed.

    \b
    Example:
      reporter demo                      # the whole pipeline on a simulated platform
      reporter --config reporter.yaml poll
    """
    configure_logging(verbose, log_format)
    ctx.ensure_object(dict).update(config=config, verbose=verbose, log_format=log_format)


@cli.command()
@click.pass_context
def poll(ctx: click.Context) -> None:
    """Run one polling cycle: ingest runs that finished since the last one, then exit.

    \b
    Example (cron, every 10 minutes):
      */10 * * * *  reporter --config /etc/reporter.yaml poll
    """
    result = jobs.poll_once(_settings(ctx))
    click.echo(f"poll: {jobs.poll_summary(result)}")
    if result.failed:
        raise RunsNotIngested(result.failed)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Print the digest instead of sending it; record nothing.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(PAGE_FORMATS),
    default="text",
    show_default=True,
    help="Format for --dry-run or --output.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Write the digest to this file instead of sending it; record nothing.",
)
@click.pass_context
def digest(ctx: click.Context, dry_run: bool, fmt: str, output: Path | None) -> None:
    """Build today's digest now and deliver it to every configured channel (once per period).

    With --dry-run or --output nothing is sent or recorded: the digest is printed or written.

    \b
    Examples:
      reporter digest --dry-run
      reporter digest --format html --output report.html --dry-run
    """
    settings = _settings(ctx)
    if dry_run or output:
        rendered = jobs.preview_digest(settings, fmt)
        if output:
            from reporter.deliver.file import write_atomically

            write_atomically(output, rendered)
            click.echo(f"wrote {output}", err=True)
        if dry_run:
            click.echo(rendered, nl=False)
        return
    result = jobs.digest_once(settings)
    click.echo(f"digest: {result.summary}", err=True)
    if result.delivery.failed:
        failed = result.delivery.failed
        what = "1 delivery" if len(failed) == 1 else f"{len(failed)} deliveries"
        raise DeliveryError(f"{what} failed; queued, to be retried:\n" + "\n".join(failed))


@cli.command()
@click.option(
    "--format", "fmt", type=click.Choice(list(FINDINGS_FORMATS)), default="table", show_default=True
)
@click.option("--platform", type=click.Choice(get_args(Platform)), help="Only this platform.")
@click.option(
    "--classification",
    type=click.Choice([c.value for c in Classification]),
    help="Only this classification.",
)
@click.option("--since", type=DATE, help="Analyse from this date (default: window).")
@click.pass_context
def flaky(
    ctx: click.Context, fmt: str, platform: str | None, classification: str | None, since: datetime | None
) -> None:
    """List current findings, highest score first (JSON schema: docs/json-schema.md).

    \b
    Examples:
      reporter flaky
      reporter flaky --format json --classification flaky --platform linux
    """
    report = jobs.findings(
        _settings(ctx), platform=platform, classification=classification, since=_utc(since)
    )
    if fmt == "json":
        click.echo(JsonFormat().findings(report), nl=False)
    else:
        terminal = Console()
        click.echo(TableFormat(width=terminal.width, color=terminal.is_terminal).findings(report), nl=False)


@cli.command()
@click.option("--since", type=DATE, help="Ingest runs created since this date.")
@click.option("--days", type=click.IntRange(min=1), help="Ingest the last N days instead.")
@click.pass_context
def backfill(ctx: click.Context, since: datetime | None, days: int | None) -> None:
    """Ingest past runs with a progress bar; safe to interrupt and run again.

    \b
    Example:
      reporter backfill --since 2026-10-01
    """
    from reporter.progress import progress_bar

    settings = _settings(ctx)
    with progress_bar("backfill") as advance:
        result = jobs.backfill(settings, _utc(since), days, advance)
    click.echo(f"backfill: {jobs.poll_summary(result)}")


@cli.command("check-config")
@click.option("--online", is_flag=True, help="Also reach the API (and Slack/SMTP where configured).")
@click.pass_context
def check_config(ctx: click.Context, online: bool) -> None:
    """Validate the configuration file and print the effective settings, secrets masked.

    \b
    Example:
      reporter --config reporter.yaml check-config --online
    """
    from reporter.config import load_config

    loaded = load_config(ctx.obj["config"], probe=True)
    settings = loaded.settings
    click.echo(json.dumps(masked_dump(settings), indent=2))
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{ctx.obj['config']}: configuration is valid", err=True)
    if online:
        lines, problems = jobs.check_online(settings)
        for line in lines:
            click.echo(line, err=True)
        if problems:
            raise CheckFailed("\n".join(problems))


@cli.command()
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
    prints the digest and writes it as text and HTML. No network, no credentials.

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
    click.echo(f"Digest (text): {outcome.text_path}")
    click.echo(f"Digest (HTML): {outcome.html_path}")
    click.echo(f"State:         {outcome.state_path}")


@cli.command()
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


@cli.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show the last poll and digest, stored runs and pending deliveries.

    \b
    Example:
      reporter status
    """
    report = jobs.status(_settings(ctx))
    click.echo(f"state:        {report.state}")
    click.echo(f"runs:         {', '.join(f'{k} {v}' for k, v in sorted(report.runs.items())) or 'none'}")
    click.echo(f"last poll:    {report.last_poll}")
    click.echo(f"last digest:  {report.last_digest}")
    next_poll = report.next_poll.isoformat(timespec="seconds") if report.next_poll else "at the next start"
    click.echo(f"next poll:    {next_poll} (when the daemon runs)")
    click.echo(
        f"next digest:  {report.next_digest.isoformat() if report.next_digest else 'never'} "
        "(when the daemon runs)"
    )
    click.echo(f"last error:   {report.last_error}")
    for line in report.outbox or ("nothing waiting",):
        click.echo(f"outbox:       {line}")
    for line in report.invalid:
        click.echo(f"invalid:      {line}")


@cli.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run the daemon: poll on an interval, digest on the cron schedule, until SIGTERM.

    \b
    Example:
      reporter --config /etc/reporter.yaml run
    """
    from reporter.scheduler import serve

    configure_logging(max(ctx.obj["verbose"], 1), ctx.obj["log_format"])  # a daemon logs each job
    serve(_settings(ctx))


def main(argv: list[str] | None = None) -> None:
    """Entry point: one handler turns every ReporterError into its message and exit code."""
    try:
        try:
            cli.main(args=argv, prog_name="reporter", standalone_mode=False)
        except click.exceptions.Abort:
            raise Interrupted("aborted") from None
        except KeyboardInterrupt:
            raise Interrupted("interrupted") from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except ReporterError as exc:
        prefix = "" if isinstance(exc, Interrupted) else "error: "
        for line in str(exc).splitlines():
            click.echo(f"{prefix}{line}", err=True)
        raise SystemExit(exc.exit_code) from None
