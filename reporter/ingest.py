"""Find runs that finished since the last look and store each one completely or not at all.

The live server lists runs newest first, offers no "finished since" filter and
lets runs finish out of order, so a poll: scans the head of the list down to
the highest run id already known, fetches any id it skipped, lists runs whose
progress began since the platform time it saw last (a restart clears a run's
progress, so restarted runs of any age show up there), re-checks runs it left
queued or running, and ingests every finished run whose status or completion
time differs from what is stored (new, late or restarted). A run whose answer
breaks the contract is marked invalid (``reporter.invalid``) and read again
after a pause; the other runs go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from reporter.attempts import iso
from reporter.client import PlatformClient
from reporter.config import Settings
from reporter.errors import (
    NotFound,
    PlatformError,
    PlatformUnreachable,
    RateLimited,
    RecordInvalid,
    RunChanged,
    ScopeMissing,
    TokenRejected,
)
from reporter.fetch import References, RunResults, fetch
from reporter.models import EVIDENCE, KNOWN_STATUSES, Run, RunSample
from reporter.scan import Scan, fill_gaps, refuse_impossible, scan_head, scan_restarted
from reporter.store import KnownRun, Store

logger = logging.getLogger(__name__)
FATAL = (TokenRejected, ScopeMissing, RateLimited, PlatformUnreachable)
CLOCK_SKEW = timedelta(days=1)  # platform times further ahead of ours are not believed
UNSTORABLE = (OverflowError, UnicodeError, ValueError)  # values sqlite3 refuses to bind
Progress = Callable[[int, int, int], None]  # runs done, runs to do, requests so far
Stop = Callable[[], bool]


@dataclass(frozen=True)
class PollResult:
    """What one polling cycle did."""

    ingested: int
    pending: int
    failed: tuple[str, ...]
    requests: int
    seconds: float
    new_run_ids: tuple[int, ...] = field(default=())


def poll(
    client: PlatformClient,
    store: Store,
    settings: Settings,
    *,
    since: datetime | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    stop: Stop | None = None,
) -> PollResult:
    """One cycle. ``since`` turns it into a backfill reaching back to that time."""
    started, requests_before = time.perf_counter(), client.requests
    now = now or datetime.now(UTC)
    high = store.high_water()
    horizon = since or now - timedelta(days=settings.analysis.window_days)
    waiting, due = store.invalid.split(now)
    seen = Scan()
    scan_head(client, settings, high if since is None else 0, horizon, seen)
    watermark = store.meta("platform_watermark")
    if watermark is not None and since is None:
        scan_restarted(client, settings, datetime.fromisoformat(watermark), seen)
    # ids below what this scan reached are older than the horizon, not gaps
    floor = high if high else min(seen.runs, default=1) - 1
    refuse_impossible(seen, floor, high)
    fill_gaps(client, floor, seen, waiting)
    seen.collect_rejected()
    _recheck(client, store, seen, waiting, due)
    observed = {run_id: run for run_id, run in seen.runs.items() if run_id not in waiting}
    known = store.known(observed)
    todo = _triage(store, settings, observed.values(), known, now)
    store.invalid.clear(due & set(observed) - {run.run_id for run in todo})  # read fine this time
    if since is None:
        todo += _sweep_changed(client, store, settings, now, {run.run_id for run in todo} | waiting)
    ingested, failed = _ingest(client, store, settings, todo, progress, stop, seen)
    failed += _mark_invalid(store, seen, waiting, now)
    _advance_watermark(store, observed.values(), watermark, now)
    store.prune(now - timedelta(days=max(settings.state.retention_days, settings.analysis.window_days)))
    return PollResult(
        ingested=len(ingested),
        pending=len(store.pending()),
        failed=tuple(failed),
        requests=client.requests - requests_before,
        seconds=time.perf_counter() - started,
        new_run_ids=tuple(sorted(ingested)),
    )


def _sweep_changed(
    client: PlatformClient, store: Store, settings: Settings, now: datetime, queued: set[int]
) -> list[Run]:
    """Now and then, compare recent runs' summaries: an approved baseline changes their results.

    A changed run is read again as the same attempt (its times did not change), replacing it.
    """
    last = store.meta("last_sweep")
    interval = timedelta(minutes=settings.ingest.recheck_interval_minutes)
    if last is not None and now - datetime.fromisoformat(last) < interval:
        return []
    watermark = store.meta("platform_watermark")
    reference = datetime.fromisoformat(watermark) if watermark else now
    changed = []
    for run in store.recent_evidence(reference - timedelta(hours=settings.ingest.recheck_hours)):
        if run.run_id in queued:
            continue
        try:
            summary = client.summary(run.run_id)
        except NotFound:
            continue
        except RecordInvalid as exc:
            logger.warning("%s; the stored results of run %d are kept", exc, run.run_id)
            continue
        fresh = (summary.pass_count, summary.fail_count, summary.missing_output_count)
        if summary.status in EVIDENCE and fresh != store.result_counts(run.run_id):
            logger.info("run %d: results changed since it was ingested; reading them again", run.run_id)
            changed.append(run.model_copy(update={"status": summary.status}))  # fail can turn pass
    store.set_meta("last_sweep", now.isoformat())
    return changed


def _advance_watermark(store: Store, runs: Iterable[Run], previous: str | None, now: datetime) -> None:
    """Remember the newest platform timestamp seen: the platform's clock, not ours (unless far ahead)."""
    times = [m for run in runs for m in (run.created_at, run.started_at, run.completed_at) if m]
    moments = [m for m in times if m <= now + CLOCK_SKEW]
    if len(moments) < len(times):
        logger.warning(
            "%d platform times more than %s ahead of this clock were ignored",
            len(times) - len(moments),
            CLOCK_SKEW,
        )
    if previous is not None:
        moments.append(datetime.fromisoformat(previous))
    if moments:
        store.set_meta("platform_watermark", max(moments).astimezone(UTC).isoformat())


def _recheck(client: PlatformClient, store: Store, seen: Scan, waiting: set[int], due: set[int]) -> None:
    """Read again, one by one, runs left queued or running and invalid runs whose pause is over."""
    pending = {known.run_id for known in store.pending()} - waiting
    for run_id in sorted((pending | due) - set(seen.runs) - set(seen.invalid)):
        try:
            seen.runs[run_id] = client.run(run_id)
        except NotFound:
            if run_id in pending:
                logger.warning("run %d was pending but is gone from the platform; dropping it", run_id)
                store.abandon(run_id)
            store.invalid.clear([run_id])
        except RecordInvalid as exc:
            seen.invalid[run_id] = str(exc)


def _mark_invalid(store: Store, seen: Scan, waiting: set[int], now: datetime) -> list[str]:
    """Record this poll's invalid answers (their pause grows); one line each for the poll's failures."""
    lines = []
    for run_id, reason in sorted(seen.invalid.items()):
        if run_id in waiting:  # listed again before its pause is over: not a new try
            continue
        mark = store.invalid.mark(run_id, reason, now)
        lines.append(
            f"run {run_id}: invalid answer, read again after {mark.retry_at:%Y-%m-%d %H:%M} UTC: {reason}"
        )
        logger.warning("%s", lines[-1])
    return lines + list(dict.fromkeys(seen.untracked))  # two listings can show the same bad item


def _triage(
    store: Store, settings: Settings, runs: Iterable[Run], known: dict[int, KnownRun], now: datetime
) -> list[Run]:
    """Record filtered and pending runs; return the finished ones that need (re-)ingesting."""
    todo: list[Run] = []
    max_age = timedelta(hours=settings.ingest.max_pending_age_hours)
    for run in sorted(runs, key=lambda r: r.run_id):
        before = known.get(run.run_id)
        if not _wanted(run, settings):
            if before is None or before.state != "filtered":
                store.record(run, "filtered")
            continue
        if run.status not in KNOWN_STATUSES:
            logger.warning(
                "run %d has unknown status %r; treating it as not finished yet", run.run_id, run.status
            )
        if not run.finished:
            since = run.queued_at or run.created_at  # a restart queues an old run anew
            state = "abandoned" if since and now - since > max_age else "pending"
            if before is None or (before.state, before.status) != (state, run.status):
                store.record(run, state)
            continue
        unchanged = (
            before is not None
            and before.state == "ingested"
            and (before.status, before.completed_at) == (run.status, iso(run.completed_at))
        )
        if not unchanged:
            todo.append(run)
    return todo


def _wanted(run: Run, settings: Settings) -> bool:
    filters = settings.filters
    if filters.repository and run.repository.lower() != filters.repository.lower():
        return False
    if run.platform not in filters.platforms or run.kind not in filters.test_types:
        return False
    return not (filters.branches and run.kind == "commit" and run.branch not in filters.branches)


def _ingest(
    client: PlatformClient,
    store: Store,
    settings: Settings,
    todo: list[Run],
    progress: Progress | None,
    stop: Stop | None,
    seen: Scan,
) -> tuple[list[int], list[str]]:
    """Save canceled/error runs as they are, fetch and save the rest; stop early if asked.

    A run whose answers break the contract goes to ``seen.invalid``; the others go on.
    """
    ingested: list[int] = []
    failed: list[str] = []
    store.record_all(todo, "pending")  # a crash or a stop from here on leaves them to be re-checked
    quiet = [run for run in todo if run.status not in EVIDENCE]
    for run in quiet:  # canceled/error runs are kept, as noise, without results
        if _save(store, run, [], True, seen):
            ingested.append(run.run_id)
    loud = [run for run in todo if run.status in EVIDENCE]
    done = len(quiet)
    if progress:
        progress(done, len(todo), client.requests)
    references = References(store.test_sets() if loud else ())
    with ThreadPoolExecutor(settings.platform.concurrency, thread_name_prefix="fetch") as pool:
        futures: dict[Future[RunResults], Run] = {
            pool.submit(fetch, client, run, references): run for run in loud
        }
        try:
            for future in as_completed(futures):
                if stop is not None and stop():
                    logger.info("stopping: %d runs left pending for the next poll", len(todo) - done)
                    break
                done += 1
                fetched = _fetched(future, futures[future], failed, seen)
                if fetched and _save(store, fetched.run, list(fetched.tests), fetched.complete, seen):
                    ingested.append(fetched.run.run_id)
                if progress:
                    progress(done, len(todo), client.requests)
        finally:
            for future in futures:
                future.cancel()
    return ingested, failed


def _fetched(future: Future[RunResults], run: Run, failed: list[str], seen: Scan) -> RunResults | None:
    """One run's results, or None with the reason kept where it belongs."""
    try:
        return future.result()
    except FATAL:
        raise
    except NotFound:
        logger.warning("run %d disappeared while being fetched; skipping it", run.run_id)
    except RunChanged as exc:
        logger.info("%s", exc)  # left pending: the next poll sees what it became
    except RecordInvalid as exc:
        seen.invalid[run.run_id] = str(exc)
    except PlatformError as exc:
        logger.warning("run %d not ingested this cycle: %s", run.run_id, exc)
        failed.append(f"run {run.run_id}: {exc}")
    return None


def _save(store: Store, run: Run, tests: list[RunSample], complete: bool, seen: Scan) -> bool:
    """Store one attempt; a value the state file cannot take marks the run invalid (nothing is kept)."""
    try:
        store.save_run(run, tests, complete=complete)
    except UNSTORABLE as exc:
        seen.invalid[run.run_id] = f"run {run.run_id}: its answer could not be stored: {exc}"
        return False
    return True


def ingest_runs(
    client: PlatformClient, store: Store, settings: Settings, run_ids: Iterable[int]
) -> tuple[list[int], list[str]]:
    """Fetch these runs now and ingest those finished and not stored as they are (a triage's runs).

    Returns the ids ingested and a line per run that could not be (not found, invalid, failed).
    """
    runs, problems, seen = [], [], Scan()
    for run_id in sorted(set(run_ids)):
        try:
            runs.append(client.run(run_id))
        except NotFound:
            problems.append(f"run {run_id}: not found on the platform")
        except RecordInvalid as exc:
            problems.append(f"run {run_id}: invalid answer: {exc}")
    todo = _triage(store, settings, runs, store.known(run.run_id for run in runs), datetime.now(UTC))
    ingested, failed = _ingest(client, store, settings, todo, None, None, seen)
    invalid = [f"run {run_id}: invalid answer: {reason}" for run_id, reason in sorted(seen.invalid.items())]
    return ingested, [*problems, *failed, *invalid]
