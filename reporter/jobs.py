"""Where the stages meet: the poll, digest, alert and delivery jobs, each on an open store.

``poll`` ingests and then alerts and triages what is new; ``run_digest`` analyses the window, makes
the digest once per period and delivers it; ``retry_deliveries`` sends what the outbox still holds.
The scheduler, the demo and the commands (``reporter.commands``, one per CLI command) all run these.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from reporter import alerts, analysis, digest, grid, ingest, triage_jobs, watch
from reporter.client import PlatformClient
from reporter.config import Settings
from reporter.deliver import Channel, DeliveryReport, channels_from, deliver_pending
from reporter.errors import Interrupted, ReporterError, StoreError
from reporter.format import Templates, alert_format, digest_format
from reporter.history import History
from reporter.lock import exclusive
from reporter.store import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DigestResult:
    """One digest job: its period, the digest if this job made it (None if made before), delivery."""

    period: str
    digest: digest.Digest | None
    delivery: DeliveryReport

    @property
    def summary(self) -> str:
        return f"period {self.period}, sent {len(self.delivery.sent)}, failed {len(self.delivery.failed)}"


def poll_summary(result: ingest.PollResult) -> str:
    """One line about a polling cycle, for the log, the state and the command line."""
    return (
        f"{result.ingested} runs ingested, {result.pending} pending, {len(result.failed)} failed, "
        f"{result.requests} requests, {result.seconds:.1f} s"
    )


def open_store(settings: Settings) -> Store:
    """The state for reading, or for writing inside a process that holds the writer lock."""
    return Store(settings.state.path)


@contextmanager
def writer(settings: Settings, purpose: str) -> Iterator[Store]:
    """The state for writing: fails at once, naming the holder, if another process writes it."""
    with exclusive(settings.state.path, purpose), open_store(settings) as store:
        yield store


# -- jobs on an open store ----------------------------------------------------------------------
def poll(
    settings: Settings,
    store: Store,
    client: PlatformClient | None = None,
    *,
    since: datetime | None = None,
    progress: ingest.Progress | None = None,
    stop: threading.Event | ingest.Stop | None = None,
) -> ingest.PollResult:
    """One polling cycle (or a backfill when ``since`` is given), then alerts about its new runs.

    Its outcome and whether it reached the platform are recorded in the state; after a failure,
    polling that has failed for longer than the allowed age queues one notice (and a later
    success one more). A stop (an event ends every wait of the client at once) leaves what is not
    ingested pending for the next poll, and the poll's outcome says it was stopped.
    """
    job = "poll" if since is None else "backfill"
    event, asked = (stop, stop.is_set) if isinstance(stop, threading.Event) else (None, stop)
    owned = client is None
    try:
        client = client or PlatformClient(settings.platform, stop=event)
        try:
            result = ingest.poll(client, store, settings, since=since, progress=progress, stop=asked)
        finally:
            if owned:
                client.close()
    except Interrupted as exc:
        watch.record(store, job, "stopped", str(exc))
        raise Interrupted(f"{exc}; what was stored stays, and the next {job} goes on from there") from exc
    except StoreError:
        raise  # the state itself failed: nothing can be recorded in it
    except Exception as exc:
        _poll_failed(settings, store, job, exc)
        raise
    summary = poll_summary(result)
    _poll_reached(settings, store, result)
    if asked is not None and asked():
        watch.record(store, job, "stopped", summary)
        logger.info("%s stopped: %s", job, summary)
        return result
    watch.record(store, job, "failed" if result.failed else "ok", summary)
    if settings.alerts.enabled and result.new_run_ids:
        send_alerts(settings, store, result.new_run_ids)
    if since is None and result.new_run_ids:
        triage_jobs.triage_new_runs(settings, store, result.new_run_ids)
    logger.info("%s: %s", job, summary)
    return result


def _poll_reached(settings: Settings, store: Store, result: ingest.PollResult) -> None:
    now = datetime.now(UTC)
    finished = [known.completed_at for known in store.known(result.new_run_ids).values()]
    newest = max((datetime.fromisoformat(m) for m in finished if m), default=None)
    before = watch.reached(store, now, newest)
    _notify(settings, store, watch.recovered_notice(settings, before, now))


def _poll_failed(settings: Settings, store: Store, job: str, error: BaseException) -> None:
    text = str(error) if isinstance(error, ReporterError) else f"{type(error).__name__}: {error}"
    watch.record(store, job, "failed", text)
    try:
        known = watch.lost(store, datetime.now(UTC), text)
        notice = watch.blind_notice(settings, known, datetime.now(UTC))
        if notice is not None:
            _notify(settings, store, notice)
            watch.noticed(store, known)
    except Exception as exc:  # the poll's own error is what the caller must hear about
        logger.error("cannot record that %s failed: %s", job, exc)


def _notify(settings: Settings, store: Store, notice: watch.Notice | None) -> None:
    """Queue a notice about the reporter itself for every channel that carries alerts, and send it."""
    if notice is None:
        return
    chosen = [c for c in channels_from(settings) if c.alert_format is not None]
    logger.warning("%s", notice.text)
    if chosen:
        payloads = {c.name: watch.payload(notice, c.alert_format or "text") for c in chosen}
        store.outbox.queue(notice.subject, payloads)
        deliver_pending(store, chosen)


@contextmanager
def acyclic() -> Iterator[None]:
    """Pause the cyclic garbage collector while a history is read, analysed and formatted.

    That work makes millions of small objects without cycles (records, tuples, findings), freed by
    reference counting alone; the collector would walk them over and over for nothing (the speed
    benchmark prints the digest with it left on, side by side). It is switched back on after, if it
    was on before.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def analyse(
    settings: Settings, store: Store, now: datetime | None = None, since: datetime | None = None
) -> tuple[History, analysis.Analysis]:
    now = now or datetime.now(UTC)
    with acyclic():
        history = store.history(since or now - timedelta(days=settings.analysis.window_days))
        return history, analysis.analyse(history, settings.analysis)


def period_of(settings: Settings, now: datetime) -> str:
    """The digest period: the local date in the configured time zone."""
    return now.astimezone(ZoneInfo(settings.schedule.timezone)).date().isoformat()


def build_digest(settings: Settings, store: Store, now: datetime | None = None) -> digest.Digest:
    """The digest of the window ending ``now``: findings, grids, trend, changes and freshness."""
    now = now or datetime.now(UTC)
    with acyclic():
        history, result = analyse(settings, store, now)
        return _digest_of(settings, store, now, history, result)


def _digest_of(
    settings: Settings, store: Store, now: datetime, history: History, result: analysis.Analysis
) -> digest.Digest:
    period = period_of(settings, now)
    newest = max((run.completed_at for run in history.runs if run.completed_at), default=None)
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
        freshness=watch.freshness(settings, watch.contact(store), now, newest),
        timezone=settings.schedule.timezone,
    )


def run_digest(
    settings: Settings,
    store: Store,
    *,
    channels: list[Channel] | None = None,
    templates: Templates | None = None,
    now: datetime | None = None,
) -> DigestResult:
    """Make this period's digest once, queue its payload for every channel, deliver what is pending."""
    channels = channels if channels is not None else channels_from(settings)
    now = now or datetime.now(UTC)
    period = period_of(settings, now)
    made = None
    latest = store.outbox.latest_period()
    try:
        if latest is not None and period < latest:  # the clock went back: that period was reported on
            logger.warning(
                "digest %s: a digest for the later period %s was already made; no digest is made for an "
                "earlier period (is the system clock right?)",
                period,
                latest,
            )
        elif store.outbox.has_digest(period):
            logger.info("digest %s was already queued; delivering what is still pending", period)
        else:
            made = build_digest(settings, store, now)
            formats = {c.name: c.format for c in channels if c.format}
            payloads = digest_payloads(made, formats, templates or Templates(settings.templates.directory))
            store.outbox.enqueue(period, made.state(), payloads)
        result = DigestResult(period, made, deliver_pending(store, channels))
    except Exception as exc:
        _record_failure(store, "digest", exc)
        raise
    failed = result.delivery.failed
    watch.record(store, "digest", "failed" if failed else "ok", "; ".join((result.summary, *failed)))
    logger.info("digest: %s", result.summary)
    return result


def digest_payloads(made: digest.Digest, formats: Mapping[str, str], templates: Templates) -> dict[str, str]:
    """The digest in each channel's format: ``formats`` maps a channel's name to its format's."""
    with acyclic():
        return {name: digest_format(fmt, templates).digest(made) for name, fmt in formats.items()}


def retry_deliveries(settings: Settings, store: Store) -> DeliveryReport:
    """Send what the outbox holds and is due; recorded when something was sent or failed."""
    try:
        report = deliver_pending(store, channels_from(settings))
    except Exception as exc:
        _record_failure(store, "deliver", exc)
        raise
    if report.sent or report.failed:
        summary = f"sent {len(report.sent)}, failed {len(report.failed)}"
        result: watch.Result = "failed" if report.failed else "ok"
        watch.record(store, "deliver", result, "; ".join((summary, *report.failed)))
    return report


def _record_failure(store: Store, job: str, error: BaseException) -> None:
    if isinstance(error, StoreError):
        return  # the state itself failed: nothing can be recorded in it
    if isinstance(error, Interrupted):
        watch.record(store, job, "stopped", str(error))
    else:
        watch.record(store, job, "failed", str(error) or type(error).__name__)


def send_alerts(
    settings: Settings, store: Store, run_ids: tuple[int, ...], channels: list[Channel] | None = None
) -> int:
    """Queue and deliver one alert per new master run with unexplained failures; returns how many.

    The rules are in ``reporter.alerts``; this reads the runs and the snapshot, and stores both
    the alerts and the snapshot with the samples they blamed.
    """
    chosen = [
        c
        for c in (channels if channels is not None else channels_from(settings))
        if c.name in settings.alerts.channels and c.alert_format is not None
    ]
    if not chosen:
        return 0
    snapshot = _snapshot(settings, store)
    suite = store.suite()
    found, snapshot = alerts.check(
        store.records(run_ids), snapshot, suite.sample_names, suite, settings.analysis
    )
    templates = Templates(settings.templates.directory)
    count = 0
    for alert in found:
        payloads = {
            c.name: alert_format(c.alert_format or "text", templates).alert(alert, settings.platform.web_url)
            for c in chosen
        }
        count += 1 if store.outbox.queue(f"alert-run-{alert.run.run_id}", payloads) else 0
    if found:
        store.set_meta(alerts.SNAPSHOT_KEY, snapshot.to_json())
    if count:
        deliver_pending(store, chosen)
    return count


def _snapshot(settings: Settings, store: Store) -> alerts.Snapshot:
    """The stored snapshot of the last full analysis, taken again when missing or too old."""
    now = datetime.now(UTC)
    snapshot = alerts.Snapshot.from_json(store.meta(alerts.SNAPSHOT_KEY))
    if snapshot is None or snapshot.stale(now, settings.alerts.refresh_minutes):
        _, result = analyse(settings, store, now)
        snapshot = alerts.Snapshot.of(result, now)
        store.set_meta(alerts.SNAPSHOT_KEY, snapshot.to_json())
    return snapshot
