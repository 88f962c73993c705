"""One function per command: each takes the settings, opens the state itself and runs the jobs.

The CLI calls one of these per command (``poll_once`` for ``reporter poll``, ``digest_once`` for
``reporter digest`` ...); the jobs they run (``reporter.jobs``) take an open store, and are what the
scheduler and the demo run too.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from reporter import digest, ingest, triage_jobs
from reporter import status as status_of
from reporter.client import PlatformClient
from reporter.config import Settings
from reporter.deliver import channels_from
from reporter.errors import Interrupted, ReporterError
from reporter.format import Templates, digest_format
from reporter.jobs import (
    DigestResult,
    analyse,
    build_digest,
    open_store,
    poll,
    poll_summary,
    retry_deliveries,
    run_digest,
    writer,
)
from reporter.status import Status
from reporter.status import read as read_status


def poll_once(settings: Settings, stop: threading.Event | None = None) -> ingest.PollResult:
    """``reporter poll``: one polling cycle, then the deliveries due; ``stop`` ends it early."""
    with writer(settings, "poll") as store:
        result = poll(settings, store, stop=stop)
        _stopped(stop, result)
        retry_deliveries(settings, store)
    return result


def digest_once(settings: Settings) -> DigestResult:
    """``reporter digest``: this period's digest, made and delivered once."""
    with writer(settings, "digest") as store:
        return run_digest(settings, store)


def preview_digest(settings: Settings, fmt: str) -> str:
    """``reporter digest --dry-run/--output``: the digest in one format; nothing sent or recorded."""
    with open_store(settings) as store:  # only reads: no writer lock needed
        made = build_digest(settings, store)
    return digest_format(fmt, Templates(settings.templates.directory)).digest(made)


def findings(
    settings: Settings,
    *,
    platform: str | None = None,
    classification: str | None = None,
    since: datetime | None = None,
) -> digest.FindingsReport:
    """``reporter flaky``: the current findings, highest score first, optionally filtered."""
    now = datetime.now(UTC)
    with open_store(settings) as store:
        _, result = analyse(settings, store, now, since)
        stored = store.counts().get("ingested", 0)
    chosen = [
        f
        for f in result.findings
        if (platform is None or f.platform == platform)
        and (classification is None or f.classification == classification)
    ]
    shown = {(f.sample_id, f.platform) for f in chosen}
    clusters = [c for c in result.clusters if any((s, c.platform) in shown for s in c.sample_ids)]
    hint = (
        ""
        if chosen
        else _nothing_found(
            settings, stored, result.runs_analysed, classification, bool(platform or classification)
        )
    )
    return digest.FindingsReport(
        chosen, now, settings.analysis.window_days, settings.platform.web_url, hint=hint, clusters=clusters
    )


def _nothing_found(
    settings: Settings, stored: int, analysed: int, classification: str | None, filtered: bool
) -> str:
    """Why ``reporter flaky`` shows nothing, and what to do about it."""
    if stored == 0:
        return (
            f"no run ingested yet in {settings.state.path}: run `reporter poll` first "
            "(or `reporter backfill --days 30` for the history)"
        )
    if analysed == 0:
        return (
            "no finished run in the window was analysed: run `reporter poll`, "
            "or look further back with --since"
        )
    if classification == "stable":
        return "no stable findings: stable lists samples that failed in the window too rarely to call flaky"
    return f"no findings among {analysed} runs analysed" + (" with these filters" if filtered else "")


def backfill(
    settings: Settings,
    since: datetime | None,
    days: int | None,
    progress: ingest.Progress | None = None,
    stop: threading.Event | None = None,
) -> ingest.PollResult:
    """``reporter backfill``: ingest runs created since a date, or in the last ``days`` (the window)."""
    start = since or datetime.now(UTC) - timedelta(days=days or settings.analysis.window_days)
    with writer(settings, "backfill") as store:
        result = poll(settings, store, since=start, progress=progress, stop=stop)
    _stopped(stop, result)
    return result


def _stopped(stop: threading.Event | None, result: ingest.PollResult) -> None:
    """A command stopped by a signal ends with ``Interrupted`` (exit 130), saying what it did."""
    if stop is not None and stop.is_set():
        raise Interrupted(f"stopped: {poll_summary(result)}; the next poll continues")


def triage_once(
    settings: Settings, request: triage_jobs.TriageRequest, *, comment: bool = False
) -> triage_jobs.TriageOutcome:
    """``reporter triage``: fetch the runs not stored yet, judge them; with ``comment``, post comments."""
    fetched = fetch_runs(settings, request.run_ids) if request.run_ids else []
    with writer(settings, "triage") if comment else open_store(settings) as store:
        outcome = triage_jobs.run_triage(settings, store, request, comment=comment)
    return replace(outcome, problems=tuple(dict.fromkeys([*fetched, *outcome.problems])))


def check_online(settings: Settings) -> tuple[list[str], list[str]]:
    """``reporter check-config --online``: reach the API and every channel that can be probed.

    Returns what works and what does not; each check lives beside what it checks.
    """
    from reporter.deliver.email import EmailChannel
    from reporter.deliver.github import GithubChannel
    from reporter.deliver.slack import SlackChannel

    lines: list[str] = []
    problems: list[str] = []
    try:
        with PlatformClient(settings.platform) as client:
            found = client.reachability()
        lines.append(found.describe())
        problems += found.problems()
    except ReporterError as exc:
        problems.append(str(exc))
    probed = [c for c in channels_from(settings) if isinstance(c, SlackChannel | EmailChannel)]
    github = settings.channels.github
    for channel in [*probed, *([GithubChannel(github)] if github else [])]:  # GitHub even if off
        try:
            lines.append(channel.check())
        except ReporterError as exc:
            problems.append(str(exc))
    return lines, problems


def status(settings: Settings, now: datetime | None = None) -> Status:
    """``reporter status``: jobs' outcomes, the data's freshness, the next poll and digest, the outbox."""
    with open_store(settings) as store:
        return read_status(settings, store, now or datetime.now(UTC))


def outstanding(settings: Settings, now: datetime | None = None) -> list[str]:
    """Deliveries not done: items still pending, and recent failures for good (``digest`` exits 6).

    Items waiting for a channel that is no longer configured are left out: nothing can send them.
    """
    channels = status_of.configured(settings)
    with open_store(settings) as store:
        items = [item for item in store.outbox.items(("pending", "failed")) if item.channel in channels]
    return [status_of.describe(item) for item in status_of.outstanding(items, now or datetime.now(UTC))]


def fetch_runs(
    settings: Settings, run_ids: tuple[int, ...], client: PlatformClient | None = None
) -> list[str]:
    """Ingest those of ``run_ids`` not stored yet, holding the writer lock only then; problems per run."""
    with open_store(settings) as store:
        known = store.known(run_ids)
    missing = tuple(r for r in run_ids if r not in known or known[r].state != "ingested")
    if not missing:
        return []
    owned = client is None
    client = client or PlatformClient(settings.platform)
    try:
        with writer(settings, "fetch runs to triage") as store:
            return ingest.ingest_runs(client, store, settings, missing)[1]
    finally:
        if owned:
            client.close()
