"""The daemon: APScheduler runs poll, digest and delivery retry until SIGTERM or SIGINT.

``stop_on_signals`` is how the daemon and the long commands (``poll``, ``backfill``) stop: a signal
sets an event every wait watches, and the process ends within ``STOP_GRACE`` seconds whatever
it was doing.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from types import FrameType
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from reporter import jobs
from reporter.config import Settings
from reporter.errors import Interrupted, ReporterError
from reporter.lock import exclusive

logger = logging.getLogger(__name__)
STOP_GRACE = 3.0  # seconds from a stop request to the end of the process, at most


def build_scheduler(settings: Settings, stop: threading.Event) -> BackgroundScheduler:
    """Jobs with fixed ids: never two of one kind at once, missed firings coalesced."""
    zone = ZoneInfo(settings.schedule.timezone)
    scheduler = BackgroundScheduler(timezone=zone)
    once = {
        "coalesce": True,
        "max_instances": 1,
        "misfire_grace_time": int(settings.schedule.misfire_grace_hours * 3600),
        "replace_existing": True,
    }
    # Poll, digest and retries share the state file: one lock keeps them from interleaving.
    lock = threading.Lock()

    def guarded(name: str, work: Callable[[Settings, threading.Event], None]) -> None:
        with lock:
            if stop.is_set():
                return
            try:
                work(settings, stop)  # each job records its own outcome in the state
            except Interrupted as exc:
                logger.info("%s %s", name, exc)
            except ReporterError as exc:
                logger.error("%s failed: %s", name, exc)
            except Exception:
                logger.exception("%s failed unexpectedly", name)

    poll_every = IntervalTrigger(minutes=settings.schedule.poll_interval_minutes)
    nightly = CronTrigger.from_crontab(settings.schedule.digest_cron, timezone=zone)
    now = datetime.now(UTC)
    scheduler.add_job(guarded, poll_every, args=("poll", _poll), id="poll", next_run_time=now, **once)
    scheduler.add_job(guarded, nightly, args=("digest", _digest), id="digest", **once)
    scheduler.add_job(guarded, IntervalTrigger(minutes=15), args=("deliver", _deliver), id="deliver", **once)
    if missed_digest_due(settings, now):
        scheduler.add_job(guarded, args=("missed digest", _digest), id="digest-catch-up", **once)
    return scheduler


def missed_digest_due(settings: Settings, now: datetime) -> bool:
    """True when the last cron firing is within the grace period and its digest was never made."""
    zone = ZoneInfo(settings.schedule.timezone)
    trigger = CronTrigger.from_crontab(settings.schedule.digest_cron, timezone=zone)
    grace = timedelta(hours=settings.schedule.misfire_grace_hours)
    last, moment = None, trigger.get_next_fire_time(None, now - grace)
    while moment is not None and moment <= now:
        # step in UTC: wall-clock arithmetic on a zoned time stalls in a repeated (DST) hour
        after = moment.astimezone(UTC) + timedelta(seconds=1)
        last, moment = moment, trigger.get_next_fire_time(moment, after)
    if last is None:
        return False
    with jobs.open_store(settings) as store:
        return not store.outbox.has_digest(jobs.period_of(settings, last))


def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT; the running job stops early, then the process exits 0."""
    with stop_on_signals(exit_code=0) as stop, exclusive(settings.state.path, "run the daemon"):
        _run_until(stop, build_scheduler(settings, stop), settings)


@contextmanager
def stop_on_signals(exit_code: int, grace: float = STOP_GRACE) -> Iterator[threading.Event]:
    """SIGTERM and SIGINT set the event the work watches; the process ends ``grace`` s later at most.

    The work stops at its next wait (a request, the rate limit, a retry pause) and leaves the rest
    for the next time. Whatever still runs after ``grace`` (a delivery to a server that does not
    answer, say) is cut short: every write to the state is one transaction, so it stays whole. A
    second signal ends the process at once.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield stop
        return

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            _exit_now(exit_code, f"received {name} again; exiting now")
        logger.info("received %s; stopping (within %g s)", name, grace)
        stop.set()
        threading.Thread(target=_exit_after, args=(grace, exit_code), name="stop-grace", daemon=True).start()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _exit_after(grace: float, exit_code: int) -> None:
    time.sleep(grace)
    _exit_now(exit_code, f"still busy {grace:g} s after the stop request; exiting now")


def _exit_now(exit_code: int, why: str) -> None:
    logger.warning("%s", why)
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    os._exit(exit_code)


def _run_until(stop: threading.Event, scheduler: BackgroundScheduler, settings: Settings) -> None:
    scheduler.start()
    logger.info(
        "reporter daemon started: poll every %s min, digest at %r (%s)",
        settings.schedule.poll_interval_minutes,
        settings.schedule.digest_cron,
        settings.schedule.timezone,
    )
    stop.wait()
    scheduler.shutdown(wait=True)


def _poll(settings: Settings, stop: threading.Event) -> None:
    with jobs.open_store(settings) as store:
        jobs.poll(settings, store, stop=stop)


def _digest(settings: Settings, _stop: threading.Event) -> None:
    with jobs.open_store(settings) as store:
        jobs.run_digest(settings, store)


def _deliver(settings: Settings, _stop: threading.Event) -> None:
    with jobs.open_store(settings) as store:
        jobs.retry_deliveries(settings, store)
