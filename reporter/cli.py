"""The ``reporter`` command line: each command calls one function and prints what it returns.

Every error a user can see is a ``ReporterError``; ``main`` prints its message and exits with its
``exit_code`` (the table in ``reporter.errors``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import click
from rich.console import Console

from reporter import __version__, commands, jobs
from reporter.analysis import Classification
from reporter.cli_demo import demo, simulate
from reporter.cli_options import DEFAULT_CONFIG, PAGE_FORMATS, global_options, page_format
from reporter.config import Platform, Settings, load_settings, masked_dump
from reporter.errors import (
    CheckFailed,
    DeliveryError,
    Interrupted,
    ReporterError,
    RunsNotIngested,
    RunsNotTriaged,
)
from reporter.format import FINDINGS_FORMATS, TRIAGE_FORMATS, Templates, triage_format
from reporter.format.json import JsonFormat
from reporter.format.table import TableFormat
from reporter.logs import configure_logging
from reporter.shown import printable

DATE = click.DateTime(["%Y-%m-%d"])


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
    from reporter.scheduler import stop_on_signals

    settings = _settings(ctx)
    with stop_on_signals(Interrupted.exit_code) as stop:
        result = commands.poll_once(settings, stop)
    click.echo(f"poll: {jobs.poll_summary(result)}")
    if result.failed:
        raise RunsNotIngested(result.failed)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Print the digest instead of sending it; record nothing.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(PAGE_FORMATS),
    help="Format for --dry-run or --output [default: from the --output extension, else text].",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Write the digest to this file instead of sending it; record nothing. The extension "
    "(.txt, .md, .html) sets the format.",
)
@click.pass_context
def digest(ctx: click.Context, dry_run: bool, fmt: str | None, output: Path | None) -> None:
    """Build today's digest now and deliver it to every configured channel (once per period).

    With --dry-run or --output nothing is sent or recorded: the digest is printed or written.
    Exits 6 while a delivery of it (or of an earlier one) is still pending or failed.

    \b
    Examples:
      reporter digest --dry-run
      reporter digest --output report.html
    """
    settings = _settings(ctx)
    if dry_run or output:
        rendered = commands.preview_digest(settings, page_format(fmt, output))
        if output:
            from reporter.deliver.file import write_atomically

            write_atomically(output, rendered)
            click.echo(f"wrote {output}", err=True)
        if dry_run:
            click.echo(rendered, nl=False)
        return
    if fmt is not None:
        raise click.UsageError(
            f"--format {fmt} applies to --dry-run or --output; what the channels get is set by "
            "channels.<name>.format in the configuration"
        )
    result = commands.digest_once(settings)
    click.echo(f"digest: {result.summary}", err=True)
    waiting = commands.outstanding(settings)
    if waiting:
        what = "1 delivery" if len(waiting) == 1 else f"{len(waiting)} deliveries"
        raise DeliveryError(
            f"{what} waiting in the outbox (a failed one is retried later):\n" + "\n".join(waiting)
        )


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FINDINGS_FORMATS)),
    default="table",
    show_default=True,
    help="A table for people, or JSON for scripts (schema: docs/json-schema.md).",
)
@click.option("--platform", type=click.Choice(get_args(Platform)), help="Only this platform.")
@click.option(
    "--classification",
    type=click.Choice([c.value for c in Classification]),
    help="Only this classification; stable: failed in the window, too rarely to call flaky "
    "(samples that never failed are not findings).",
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
    report = commands.findings(
        _settings(ctx), platform=platform, classification=classification, since=_utc(since)
    )
    if report.hint:
        click.echo(f"note: {report.hint}", err=True)
    if fmt == "json":
        click.echo(JsonFormat().findings(report), nl=False)
    else:
        terminal = Console()
        click.echo(TableFormat(width=terminal.width, color=terminal.is_terminal).findings(report), nl=False)


@cli.command()
@click.argument("run_ids", nargs=-1, type=click.IntRange(min=1))
@click.option(
    "--pr", "pr_number", type=click.IntRange(min=1), help="The pull request's latest run per platform."
)
@click.option("--since", type=DATE, help="Every finished pull-request run since this date.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(TRIAGE_FORMATS)),
    default="text",
    show_default=True,
    help="text, markdown (GitHub's) or json (docs/json-schema.md).",
)
@click.option(
    "--comment", is_flag=True, help="Also post or update the pull request's comment (channels.github)."
)
@click.pass_context
def triage(
    ctx: click.Context,
    run_ids: tuple[int, ...],
    pr_number: int | None,
    since: datetime | None,
    fmt: str,
    comment: bool,
) -> None:
    """Judge each failing sample of pull-request runs: new, on master, flaky, infrastructure.

    For every failing sample of the runs, on the run's platform: new_failure (most likely the pull
    request's change), failing_on_master, known_flaky, infrastructure or unknown, with the evidence
    (docs/triage.md). Runs not stored yet are fetched first. JSON schema: docs/json-schema.md.

    \b
    Examples:
      reporter triage 4242 4243
      reporter triage --pr 1650 --format markdown
      reporter triage --since 2026-11-01 --format json
    """
    from reporter.triage_jobs import TriageRequest

    if (len(run_ids) > 0) + (pr_number is not None) + (since is not None) != 1:
        raise click.UsageError("give run ids, or --pr N, or --since DATE (one of them)")
    settings = _settings(ctx)
    outcome = commands.triage_once(settings, TriageRequest(run_ids, pr_number, _utc(since)), comment=comment)
    click.echo(triage_format(fmt, Templates(settings.templates.directory)).triage(outcome.triage), nl=False)
    if comment:
        click.echo(f"triage: {outcome.comments} pull-request comments queued", err=True)
    if outcome.problems:
        raise RunsNotTriaged(outcome.problems)


@cli.command()
@click.option("--since", type=DATE, help="Ingest runs created since this date (UTC).")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    help="Ingest the last N days instead [default: analysis.window_days].",
)
@click.pass_context
def backfill(ctx: click.Context, since: datetime | None, days: int | None) -> None:
    """Ingest past runs with a progress bar; safe to interrupt and run again.

    \b
    Example:
      reporter backfill --since 2026-10-01
    """
    from reporter.progress import progress_bar
    from reporter.scheduler import stop_on_signals

    if since is not None and days is not None:
        raise click.UsageError("--since and --days both say where to start; give one of them")
    settings = _settings(ctx)
    with stop_on_signals(Interrupted.exit_code) as stop, progress_bar("backfill") as advance:
        result = commands.backfill(settings, _utc(since), days, advance, stop)
    click.echo(f"backfill: {jobs.poll_summary(result)}")


@cli.command("check-config")
@click.option("--online", is_flag=True, help="Also reach the API (and Slack, SMTP, GitHub where configured).")
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
        lines, problems = commands.check_online(settings)
        for line in lines:
            click.echo(printable(line), err=True)
        if problems:
            raise CheckFailed("\n".join(problems))


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Lines for people, or JSON for monitors and scripts (fields: docs/deploy.md).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Exit 3 when the data is stale (no successful poll within schedule.max_data_age_minutes), "
    "6 when deliveries are failing, 0 otherwise: a probe for monitoring.",
)
@click.pass_context
def status(ctx: click.Context, fmt: str, check: bool) -> None:
    """Show the last poll, backfill, digest and delivery, the data's freshness, what waits to be sent.

    Times are in schedule.timezone.

    \b
    Examples:
      reporter status
      reporter status --format json --check
    """
    report = commands.status(_settings(ctx))
    text = report.to_json() if fmt == "json" else "\n".join(printable(line) for line in report.lines())
    click.echo(text, nl=fmt != "json")
    failure = report.check_error() if check else None
    if failure is not None:
        raise failure


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


cli.add_command(demo)
cli.add_command(simulate)
for _command in cli.commands.values():
    global_options(_command)


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
        for line in printable(str(exc)).splitlines():
            click.echo(f"{prefix}{line}", err=True)
        raise SystemExit(exc.exit_code) from None
