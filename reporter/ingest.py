"""Find runs that finished since the last look and store each one completely or not at all.

The live server lists runs newest first, offers no "finished since" filter and
lets runs finish out of order, so a poll: scans the head of the list down to
the highest run id already known, fetches any id it skipped, lists runs whose
progress began since the platform time it saw last (a restart clears a run's
progress, so restarted runs of any age show up there), re-checks runs it left
queued or running, and ingests every finished run whose status or completion
time differs from what is stored (new, late or restarted).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
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
    RunChanged,
    ScopeMissing,
    TokenRejected,
)
from reporter.fetch import References, RunResults, fetch
from reporter.models import EVIDENCE, KNOWN_STATUSES, Run
from reporter.store import KnownRun, Store

logger = logging.getLogger(__name__)
FATAL = (TokenRejected, ScopeMissing, RateLimited, PlatformUnreachable)
RESTART_MARGIN = timedelta(hours=1)
DEEP_PAGE = 100  # runs per listing page past the first
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
    observed = _scan_head(client, settings, high if since is None else 0, horizon)
    # ids below what this scan reached are older than the horizon, not gaps
    floor = high if high else min(observed, default=1) - 1
    observed.update(_fill_gaps(client, floor, observed))
    watermark = store.meta("platform_watermark")
    if watermark is not None and since is None:
        observed.update(_scan_restarted(client, settings, datetime.fromisoformat(watermark), observed))
    observed.update(_recheck_pending(client, store, observed))
    known = store.known(observed)
    todo = _triage(store, settings, observed.values(), known, now)
    if since is None:
        todo += _sweep_changed(client, store, settings, now, {run.run_id for run in todo})
    ingested, failed = _ingest(client, store, settings, todo, progress, stop)
    _advance_watermark(store, observed.values(), watermark)
    store.prune(now - timedelta(days=max(settings.state.retention_days, settings.analysis.window_days)))
    return PollResult(
        ingested=len(ingested),
        pending=len(store.pending()),
        failed=tuple(failed),
        requests=client.requests - requests_before,
        seconds=time.perf_counter() - started,
        new_run_ids=tuple(sorted(ingested)),
    )


def _scan_head(client: PlatformClient, settings: Settings, high: int, horizon: datetime) -> dict[int, Run]:
    """Newest runs first, down to the highest known id (or, on a first poll or a backfill, the horizon).

    The rest of the first page always comes along (it costs nothing): known runs on it are
    compared again, which catches recent restarts early.
    """
    seen: dict[int, Run] = {}
    page_size = settings.ingest.page_size
    for count, run in enumerate(_newest_first(client, page_size), start=1):
        old = run.run_id <= high if high else _before(run, horizon)
        if not (old and not high):  # runs older than the horizon are not wanted at all
            seen[run.run_id] = run
        if old and count >= page_size:
            break
    return seen


def _newest_first(client: PlatformClient, head: int) -> Iterator[Run]:
    """A first page of ``head`` runs, then pages of ``DEEP_PAGE``.

    The server recomputes every listed run (~9 ms each): a poll mostly needs only the newest few,
    so the first page is small; a deeper scan needs every run it lists, so large pages cost the
    server the same and take fewer requests. Offsets shift as runs arrive: runs may repeat, never
    go missing, and the caller de-duplicates them.
    """
    for count, run in enumerate(client.runs({"sort": "-run_id"}, head), start=1):
        yield run
        if count == head:
            break
    else:
        return  # the list ended on the first page
    yield from client.runs({"sort": "-run_id"}, max(head, DEEP_PAGE), offset=head)


def _before(run: Run, horizon: datetime) -> bool:
    moment = run.created_at or run.queued_at
    return moment is not None and moment < horizon


def _scan_restarted(
    client: PlatformClient, settings: Settings, watermark: datetime, seen: dict[int, Run]
) -> dict[int, Run]:
    """Runs whose progress began after the platform time last seen: restarts included.

    ``created_after`` filters on a run's first progress time, which a restart resets; queued runs
    match every window. Times are sent as UTC ``Z``, the only form the live server reads right.
    """
    since = (watermark - RESTART_MARGIN).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    found: dict[int, Run] = {}
    for run in client.runs({"sort": "-run_id", "created_after": since}, settings.ingest.page_size):
        if run.run_id not in seen:
            found[run.run_id] = run
    return found


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
        fresh = (summary.pass_count, summary.fail_count, summary.missing_output_count)
        if summary.status in EVIDENCE and fresh != store.result_counts(run.run_id):
            logger.info("run %d: results changed since it was ingested; reading them again", run.run_id)
            changed.append(run.model_copy(update={"status": summary.status}))  # fail can turn pass
    store.set_meta("last_sweep", now.isoformat())
    return changed


def _advance_watermark(store: Store, runs: Iterable[Run], previous: str | None) -> None:
    """Remember the newest platform timestamp seen: the platform's clock, not ours."""
    moments = [m for run in runs for m in (run.created_at, run.started_at, run.completed_at) if m]
    if previous is not None:
        moments.append(datetime.fromisoformat(previous))
    if moments:
        store.set_meta("platform_watermark", max(moments).astimezone(UTC).isoformat())


def _fill_gaps(client: PlatformClient, high: int, seen: dict[int, Run]) -> dict[int, Run]:
    """Ids the listing skipped (pages shift while runs arrive): fetch them one by one."""
    top = max(seen, default=high)
    found: dict[int, Run] = {}
    for run_id in range(high + 1, top + 1):
        if run_id in seen:
            continue
        try:
            found[run_id] = client.run(run_id)
        except NotFound:
            logger.debug("run %d is listed nowhere and not found; skipping it", run_id)
    return found


def _recheck_pending(client: PlatformClient, store: Store, seen: dict[int, Run]) -> dict[int, Run]:
    found: dict[int, Run] = {}
    for known in store.pending():
        if known.run_id in seen:
            continue
        try:
            found[known.run_id] = client.run(known.run_id)
        except NotFound:
            logger.warning("run %d was pending but is gone from the platform; dropping it", known.run_id)
            store.abandon(known.run_id)
    return found


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
) -> tuple[list[int], list[str]]:
    """Save canceled/error runs as they are, fetch and save the rest; stop early if asked."""
    ingested: list[int] = []
    failed: list[str] = []
    store.record_all(todo, "pending")  # a crash or a stop from here on leaves them to be re-checked
    quiet = [run for run in todo if run.status not in EVIDENCE]
    for run in quiet:
        store.save_run(run, [], [], [])  # canceled/error runs are kept, as noise, without results
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
                    logger.info("stopping: %d runs left pending for the next poll", len(loud) - done)
                    break
                run = futures[future]
                done += 1
                try:
                    fetched = future.result()
                except FATAL:
                    raise
                except NotFound:
                    logger.warning("run %d disappeared while being fetched; skipping it", run.run_id)
                    continue
                except RunChanged as exc:
                    logger.info("%s", exc)  # left pending: the next poll sees what it became
                    continue
                except PlatformError as exc:
                    logger.warning("run %d not ingested this cycle: %s", run.run_id, exc)
                    failed.append(f"run {run.run_id}: {exc}")
                    continue
                store.save_run(fetched.run, list(fetched.tests), complete=fetched.complete)
                ingested.append(run.run_id)
                if progress:
                    progress(done, len(todo), client.requests)
        finally:
            for future in futures:
                future.cancel()
    return ingested, failed
