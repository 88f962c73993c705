"""The ``reporter`` command line: thin commands over ``jobs``, one error handler, exit codes."""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.console import Console

from reporter import __version__, jobs
from reporter.config import Settings, load_settings, masked_dump
from reporter.errors import ReporterError
from reporter.logs import configure_logging
from reporter.render import Renderer, findings_json, findings_table

DEFAULT_CONFIG = "reporter.yaml"
console = Console(stderr=True)


def _settings(ctx: click.Context) -> Settings:
    path: Path = ctx.obj["config"]
    return load_settings(path)


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
    settings = _settings(ctx)
    with jobs.writer(settings, "poll") as store:
        result = jobs.poll(settings, store)
        jobs.retry_deliveries(settings, store)
    click.echo(
        f"poll: {result.ingested} runs ingested, {result.pending} pending, "
        f"{len(result.failed)} failed, {result.requests} requests, {result.seconds:.1f} s"
    )
    if result.failed:
        sys.exit(3)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Print the digest instead of sending it; record nothing.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "html"]),
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
        with jobs.open_store(settings) as store:  # only reads: no writer lock needed
            rendered = Renderer(settings.templates.directory).digest(jobs.build_digest(settings, store), fmt)
        if output:
            from reporter.deliver.file import write_atomically

            write_atomically(output, rendered)
            click.echo(f"wrote {output}", err=True)
        if dry_run:
            click.echo(rendered, nl=False)
        return
    with jobs.writer(settings, "digest") as store:
        result = jobs.run_digest(settings, store)
    click.echo(
        f"digest {result.period}: sent {len(result.delivery.sent)}, failed {len(result.delivery.failed)}",
        err=True,
    )
    if result.delivery.failed:
        sys.exit(6)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--platform", type=click.Choice(["linux", "windows"]), help="Only this platform.")
@click.option(
    "--classification",
    type=click.Choice(["flaky", "failing", "fixed", "stable"]),
    help="Only this classification.",
)
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Analyse from this date (default: window).")
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
    settings = _settings(ctx)
    now = datetime.now(UTC)
    with jobs.open_store(settings) as store:
        _, result = jobs.analyse(settings, store, now, since.replace(tzinfo=UTC) if since else None)
    findings = [
        f
        for f in result.findings
        if (platform is None or f.platform == platform)
        and (classification is None or f.classification == classification)
    ]
    if fmt == "json":
        click.echo(
            findings_json(
                findings,
                generated_at=now,
                window_days=settings.analysis.window_days,
                web_url=settings.platform.web_url,
            ),
            nl=False,
        )
    else:
        Console().print(findings_table(findings))


@cli.command()
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Ingest runs created since this date.")
@click.option("--days", type=click.IntRange(min=1), help="Ingest the last N days instead.")
@click.pass_context
def backfill(ctx: click.Context, since: datetime | None, days: int | None) -> None:
    """Ingest past runs with a progress bar; safe to interrupt and run again.

    \b
    Example:
      reporter backfill --since 2026-10-01
    """
    settings = _settings(ctx)
    start = (
        since.replace(tzinfo=UTC)
        if since
        else datetime.now(UTC) - timedelta(days=days or settings.analysis.window_days)
    )
    from reporter.progress import progress_bar

    with jobs.writer(settings, "backfill") as store, progress_bar("backfill") as advance:
        result = jobs.poll(settings, store, since=start, progress=advance)
    click.echo(
        f"backfill: {result.ingested} runs ingested, {result.requests} requests, {result.seconds:.1f} s"
    )


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
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        if problems:
            sys.exit(3)


@cli.command()
@click.option("--seed", default=7, show_default=True, help="Seed of the simulated history.")
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
    for kind in ("flaky", "failing"):
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
@click.option("--seed", default=7, show_default=True)
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
    import threading
    from dataclasses import replace

    from reporter.simulator import Faults, Profile, SimulatedPlatform, generate
    from reporter.simulator.scenario import PROFILES
    from reporter.simulator.server import READ_SCOPES

    if profile_name is not None and profile_name not in PROFILES:
        raise click.BadParameter(
            f"{profile_name!r}; choose one of {', '.join(PROFILES)}", param_hint="--profile"
        )
    profile = PROFILES[profile_name] if profile_name else Profile(days=14)
    profile = replace(profile, days=days) if days is not None else profile
    faults = Faults(error_rate, drop_rate, malformed_rate, latency, seed)
    server = SimulatedPlatform(
        generate(seed, profile),
        tokens={token: READ_SCOPES},
        rate_limit=rate_limit,
        rate_window=window,
        faults=faults,
        port=port,
    )
    click.echo(f"Simulated Sample Platform at {server.base_url} (token {token!r}); Ctrl-C stops it.")
    with server:
        threading.Event().wait()


@cli.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show the last poll and digest, stored runs and pending deliveries.

    \b
    Example:
      reporter status
    """
    settings = _settings(ctx)
    with jobs.open_store(settings) as store:
        report = jobs.status(settings, store)
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
    """Entry point: one handler turns every ReporterError into a message and its exit code."""
    try:
        cli.main(args=argv, prog_name="reporter", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ReporterError as exc:
        for line in str(exc).splitlines():
            click.echo(f"error: {line}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
