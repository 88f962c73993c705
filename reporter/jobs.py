"""Where the stages meet: poll, digest and delivery as the CLI, the scheduler and the demo run them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from reporter import alerts, analysis, digest, grid, ingest, triage
from reporter.client import PlatformClient
from reporter.config import Settings
from reporter.deliver import Channel, DeliveryReport, channels_from, deliver_pending
from reporter.format import Templates, alert_format, digest_format
from reporter.history import History, RunRecord
from reporter.lock import exclusive
from reporter.store import KnownRun, Store

logger = logging.getLogger(__name__)
KNOWN = "known_findings"  # meta key of the alerts' snapshot of the last full analysis
RECENT = timedelta(days=2)  # a poll comments on pull-request runs completed this recently


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
    if since is None and result.new_run_ids:
        triage_new_runs(settings, store, result.new_run_ids)
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
        payloads = {c.name: digest_format(c.format, templates).digest(made) for c in channels if c.format}
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
    from reporter.deliver.github import GithubChannel
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
    probed = [c for c in channels_from(settings) if isinstance(c, SlackChannel | EmailChannel)]
    github = settings.channels.github
    for channel in [*probed, *([GithubChannel(github)] if github else [])]:  # GitHub even if off
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


# -- pull-request triage ------------------------------------------------------------------------
@dataclass(frozen=True)
class TriageRequest:
    """Which runs to triage: these ids, a pull request's latest run per platform, or every PR run since."""

    run_ids: tuple[int, ...] = ()
    pr_number: int | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class TriageOutcome:
    """The triage, the runs that could not be triaged (and why), and pull-request comments queued."""

    triage: triage.Triage
    problems: tuple[str, ...]
    comments: int


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


def run_triage(
    settings: Settings,
    store: Store,
    request: TriageRequest,
    *,
    now: datetime | None = None,
    comment: bool = False,
) -> TriageOutcome:
    """Judge the requested runs from the stored history; with ``comment``, queue and post PR comments."""
    now = now or datetime.now(UTC)
    window = timedelta(days=settings.analysis.window_days)
    start = min(now - window, request.since or now, *_completed(store.records(request.run_ids)))
    history = store.history(start)
    result = analysis.analyse(history, settings.analysis)
    chosen, problems = _chosen(store, history, request)
    judged = triage.triage(history, result, chosen, settings.analysis)
    report = triage.Triage(now, judged, settings.platform.web_url, settings.analysis.window_days)
    pulls = {run.pr_number for run in chosen if run.pr_number is not None}
    queued = queue_comments(settings, store, history, result, pulls, now) if comment else 0
    return TriageOutcome(report, tuple(problems), queued)


def triage_new_runs(settings: Settings, store: Store, run_ids: tuple[int, ...]) -> int:
    """After a poll: judge its new pull-request runs, log the verdicts, queue and post comments."""
    now = datetime.now(UTC)
    fresh = [
        run
        for run in store.records(run_ids)
        if run.pr_number is not None and run.evidence and now - (run.completed_at or now) <= RECENT
    ]
    if not fresh:
        return 0
    history, result = analyse(settings, store, now)
    keys = {run.key for run in fresh}
    chosen = [run for run in history.runs if run.key in keys]
    for judged in triage.triage(history, result, chosen, settings.analysis):
        where = f"pull request #{judged.pr_number}, {judged.platform}"
        logger.info("triage: run %d (%s): %s", judged.run_id, where, judged.summary)
    return queue_comments(settings, store, history, result, {run.pr_number or 0 for run in fresh}, now)


def queue_comments(
    settings: Settings,
    store: Store,
    history: History,
    result: analysis.Analysis,
    pulls: set[int],
    now: datetime,
) -> int:
    """One comment payload per pull request, covering its latest run per platform, once per run."""
    from reporter.format.github import GithubFormat

    github = settings.channels.github
    if github is None or not github.pr_comments or not pulls:
        return 0
    repositories = store.repositories(run.run_id for run in history.runs if run.pr_number in pulls)
    mine = [r for r in history.runs if repositories.get(r.run_id, "").lower() == github.repository.lower()]
    form = GithubFormat(Templates(settings.templates.directory))
    queued = 0
    for pr_number in sorted(pulls):
        latest = triage.latest_runs(mine, pr_number)
        if not latest:
            continue
        judged = triage.triage(history, result, latest, settings.analysis)
        report = triage.Triage(now, judged, settings.platform.web_url, settings.analysis.window_days)
        run_id, attempt = max(run.key for run in latest)
        payload = form.comment(report, pr_number, github.repository)
        queued += store.outbox.queue(f"pr-{pr_number}-run-{run_id}.{attempt}", {"github": payload})
    if queued:
        deliver_pending(store, [c for c in channels_from(settings) if c.name == "github"])
    return queued


def _chosen(store: Store, history: History, request: TriageRequest) -> tuple[list[RunRecord], list[str]]:
    """The stored runs the request names, and why any of them cannot be triaged."""
    if request.pr_number is not None:
        found = triage.latest_runs(list(history.runs), request.pr_number)
        missing = f"pull request #{request.pr_number}: no finished run of it is stored in the analysis window"
        return found, [] if found else [missing]
    latest = {run.run_id: run for run in sorted(history.runs, key=lambda r: r.key)}  # a run's last attempt
    if request.since is not None:
        since = request.since
        return [
            r for r in latest.values() if r.pr_number is not None and (r.completed_at or since) >= since
        ], []
    wanted = set(request.run_ids)
    chosen = [run for run_id, run in sorted(latest.items()) if run_id in wanted]
    absent = wanted - {run.run_id for run in chosen}
    known = store.known(absent)
    return chosen, [f"run {run_id}: {_why_not(known.get(run_id))}" for run_id in sorted(absent)]


def _why_not(known: KnownRun | None) -> str:
    if known is None:
        return "not stored: the platform did not give it"
    return {
        "pending": f"still {known.status}: it is judged once it finishes",
        "filtered": "left out by the filters of the configuration (filters.*)",
        "abandoned": "given up on: it stayed queued too long or left the platform",
    }.get(known.state, "stored, but outside the analysis window")


def _completed(records: list[RunRecord]) -> list[datetime]:
    return [run.completed_at for run in records if run.completed_at is not None]
