"""Where the stages meet: poll, digest and delivery as the CLI, the scheduler and the demo run them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from reporter import alerts, analysis, digest, grid, ingest
from reporter.client import PlatformClient
from reporter.config import Settings
from reporter.deliver import Channel, DeliveryReport, channels_from, deliver_pending
from reporter.format import Templates, alert_format, digest_format
from reporter.history import History
from reporter.lock import exclusive
from reporter.store import Store

logger = logging.getLogger(__name__)
KNOWN = "known_findings"  # meta key of the alerts' snapshot of the last full analysis


@dataclass(frozen=True)
class DigestResult:
    """One digest job: its period, the digest if this job made it (None if made before), delivery."""

    period: str
    digest: digest.Digest | None
    delivery: DeliveryReport


def open_store(settings: Settings) -> Store:
    """The state for reading, or for writing inside a process that holds the writer lock."""
    return Store(settings.state.path)


@contextmanager
def writer(settings: Settings, purpose: str) -> Iterator[Store]:
    """The state for writing: fails at once, naming the holder, if another process writes it."""
    with exclusive(settings.state.path, purpose), open_store(settings) as store:
        yield store


def poll(
    settings: Settings,
    store: Store,
    client: PlatformClient | None = None,
    *,
    since: datetime | None = None,
    progress: ingest.Progress | None = None,
    stop: ingest.Stop | None = None,
) -> ingest.PollResult:
    """One polling cycle (or a backfill when ``since`` is given)."""
    owned = client is None
    client = client or PlatformClient(settings.platform)
    try:
        result = ingest.poll(client, store, settings, since=since, progress=progress, stop=stop)
    finally:
        if owned:
            client.close()
    if settings.alerts.enabled and result.new_run_ids:
        send_alerts(settings, store, result.new_run_ids)
    summary = (
        f"{result.ingested} runs ingested, {result.pending} pending, {len(result.failed)} failed, "
        f"{result.requests} requests, {result.seconds:.1f} s"
    )
    store.set_meta("last_poll", f"{datetime.now(UTC).isoformat(timespec='seconds')} {summary}")
    logger.info("poll: %s", summary)
    return result


def analyse(
    settings: Settings, store: Store, now: datetime | None = None, since: datetime | None = None
) -> tuple[History, analysis.Analysis]:
    now = now or datetime.now(UTC)
    history = store.history(since or now - timedelta(days=settings.analysis.window_days))
    return history, analysis.analyse(history, settings.analysis)


def period_of(settings: Settings, now: datetime) -> str:
    """The digest period: the local date in the configured time zone."""
    return now.astimezone(ZoneInfo(settings.schedule.timezone)).date().isoformat()


def build_digest(settings: Settings, store: Store, now: datetime | None = None) -> digest.Digest:
    now = now or datetime.now(UTC)
    period = period_of(settings, now)
    history, result = analyse(settings, store, now)
    return digest.build(
        result,
        period=period,
        generated_at=now,
        window_days=settings.analysis.window_days,
        web_url=settings.platform.web_url,
        previous=store.outbox.last_digest(period),
        names=history.sample_names,
        grids=grid.grids(history, result),
        past=store.outbox.digests(digest.trend_start(period), period),
    )


def run_digest(
    settings: Settings,
    store: Store,
    *,
    channels: list[Channel] | None = None,
    templates: Templates | None = None,
    now: datetime | None = None,
) -> DigestResult:
    """Render this period's digest once, queue it for every channel, deliver what is pending."""
    channels = channels if channels is not None else channels_from(settings)
    now = now or datetime.now(UTC)
    period = period_of(settings, now)
    made = None
    if store.outbox.has_digest(period):
        logger.info("digest %s was already queued; delivering what is still pending", period)
    else:
        made = build_digest(settings, store, now)
        templates = templates or Templates(settings.templates.directory)
        payloads = {c.name: digest_format(c.format, templates).digest(made) for c in channels}
        store.outbox.enqueue(period, made.state(), payloads)
    report = deliver_pending(store, channels)
    summary = f"period {period}, sent {len(report.sent)}, failed {len(report.failed)}"
    store.set_meta("last_digest", f"{datetime.now(UTC).isoformat(timespec='seconds')} {summary}")
    logger.info("digest: %s", summary)
    return DigestResult(period, made, report)


def retry_deliveries(settings: Settings, store: Store) -> DeliveryReport:
    return deliver_pending(store, channels_from(settings))


@dataclass(frozen=True)
class Status:
    """What ``reporter status`` shows."""

    state: str
    last_poll: str
    last_digest: str
    last_error: str
    runs: dict[str, int]
    next_poll: datetime | None
    next_digest: datetime | None
    outbox: tuple[str, ...]


def status(settings: Settings, store: Store, now: datetime | None = None) -> Status:
    from apscheduler.triggers.cron import CronTrigger

    now = now or datetime.now(UTC)
    zone = ZoneInfo(settings.schedule.timezone)
    trigger = CronTrigger.from_crontab(settings.schedule.digest_cron, timezone=zone)
    waiting = tuple(
        f"{i.key} {i.status} after {i.attempts} attempts: {i.last_error or ''}".strip()
        for i in store.outbox.items(("pending", "failed"))
    )
    return Status(
        state=str(settings.state.path),
        last_poll=store.meta("last_poll") or "never",
        last_digest=store.meta("last_digest") or "never",
        last_error=store.meta("last_error") or "none",
        runs=store.counts(),
        next_poll=_after_last_poll(store.meta("last_poll"), settings.schedule.poll_interval_minutes),
        next_digest=trigger.get_next_fire_time(None, now),
        outbox=waiting,
    )


def record_error(settings: Settings, job: str, error: BaseException) -> None:
    """Keep the latest job failure for ``reporter status``."""
    with open_store(settings) as store:
        store.set_meta("last_error", f"{datetime.now(UTC).isoformat(timespec='seconds')} {job}: {error}")


def check_online(settings: Settings) -> tuple[list[str], list[str]]:
    """Reach the API and every channel that can be probed: (what works, what does not)."""
    from reporter.deliver.email import EmailChannel
    from reporter.deliver.slack import SlackChannel
    from reporter.errors import ReporterError

    lines: list[str] = []
    problems: list[str] = []
    try:
        with PlatformClient(settings.platform) as client:
            found = client.reachability()
        lines.append(
            f"platform {found.base_url}: reachable, token accepted, scopes present: "
            f"{', '.join(found.scopes_present)}; rate-limit headroom {found.remaining}/{found.limit}"
        )
        if found.scopes_missing:
            problems.append(f"platform: the token lacks scope {', '.join(found.scopes_missing)}")
    except ReporterError as exc:
        problems.append(str(exc))
    for channel in channels_from(settings):
        if isinstance(channel, SlackChannel | EmailChannel):
            try:
                lines.append(channel.check())
            except ReporterError as exc:
                problems.append(str(exc))
    return lines, problems


def send_alerts(
    settings: Settings, store: Store, run_ids: tuple[int, ...], channels: list[Channel] | None = None
) -> int:
    """Queue and deliver one alert per new master run with unexplained failures; returns how many.

    New runs are compared with the ``Known`` snapshot of the last full analysis, refreshed when it is
    older than ``alerts.refresh_minutes``; a sample alerted about joins it, so it alerts once.
    """
    chosen = [
        c
        for c in (channels if channels is not None else channels_from(settings))
        if c.name in settings.alerts.channels and c.alert_format is not None
    ]
    if not chosen:
        return 0
    known = _known(settings, store)
    templates = Templates(settings.templates.directory)
    names = store.sample_names()
    count, blamed = 0, list[tuple[int, str]]()
    for run in store.records(run_ids):
        alert = alerts.unexplained(run, known, names)
        if alert is None:
            continue
        pairs = [(failure.sample_id, run.platform) for failure in alert.failures]
        known, blamed = known.with_flagged(pairs), [*blamed, *pairs]
        payloads = {
            c.name: alert_format(c.alert_format or "text", templates).alert(alert, settings.platform.web_url)
            for c in chosen
        }
        count += 1 if store.outbox.queue(f"alert-run-{run.run_id}", payloads) else 0
    if blamed:
        store.set_meta(KNOWN, known.with_flagged(blamed).to_json())
    if count:
        deliver_pending(store, chosen)
    return count


def _known(settings: Settings, store: Store) -> alerts.Known:
    now = datetime.now(UTC)
    saved = store.meta(KNOWN)
    known = alerts.Known.from_json(saved) if saved else None
    if known is None or now - known.at > timedelta(minutes=settings.alerts.refresh_minutes):
        _, result = analyse(settings, store, now)
        known = alerts.Known.of(result, now)
        store.set_meta(KNOWN, known.to_json())
    return known


def _after_last_poll(last: str | None, minutes: float) -> datetime | None:
    if not last:
        return None
    return datetime.fromisoformat(last.split(" ", 1)[0]) + timedelta(minutes=minutes)
