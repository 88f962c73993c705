"""What ``reporter status`` shows people and monitors: jobs, freshness, deliveries, in one time zone."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from reporter import watch
from reporter.config import Settings
from reporter.deliver import channels_from
from reporter.digest import Freshness
from reporter.errors import CheckFailed, DeliveryError, ReporterError
from reporter.outbox import OutboxItem
from reporter.store import Store

RECENT_FAILURE = timedelta(days=7)  # a delivery that failed for good counts as failing this long
_DATED = re.compile(r"^(?:(?:blind|recovered)-)?(\d{4})-?(\d{2})-?(\d{2})")  # a period, a notice's start


@dataclass(frozen=True)
class Status:
    """What ``reporter status`` shows; every time in ``timezone``."""

    now: datetime
    state: str
    timezone: str
    runs: dict[str, int]
    freshness: Freshness
    jobs: dict[str, watch.Outcome | None]
    last_error: watch.Outcome | None
    next_poll: datetime | None  # None before the first poll; never in the past
    next_digest: datetime | None
    outbox: tuple[OutboxItem, ...]
    failing: tuple[OutboxItem, ...]  # the outbox items that say deliveries are failing
    unconfigured: frozenset[str] = frozenset()  # keys of items waiting for a channel no longer configured
    invalid: tuple[str, ...] = ()  # runs whose answers broke the contract: how many, the latest

    @property
    def problems(self) -> list[str]:
        """What a monitoring probe should hear about: stale data, failing deliveries."""
        found = []
        if self.freshness.blind:
            found.append(f"stale data: {self.freshness.blind_reason()}")
        found += [f"delivery failing: {describe(item)}" for item in self.failing]
        return found

    def check_error(self) -> ReporterError | None:
        """The error ``status --check`` exits with: stale data first (exit 3), then deliveries (6)."""
        problems = self.problems
        if not problems:
            return None
        text = "status --check: " + "\n".join(problems)
        return CheckFailed(text) if self.freshness.blind else DeliveryError(text)

    def lines(self) -> list[str]:
        """The report for people, one ``label: value`` a line."""
        show = self._time
        fresh = self.freshness
        runs = ", ".join(f"{k} {v}" for k, v in sorted(self.runs.items())) or "none"
        rows = [("state", self.state), ("time zone", self.timezone), ("runs", runs)]
        rows.append(("data", fresh.line().removeprefix("Data: ").rstrip(".")))
        if fresh.blind:
            rows.append(("", fresh.blind_reason()))
        for job in watch.JOBS:
            done = self.jobs.get(job)
            label = {"deliver": "delivery", "backfill": "backfill"}.get(job, f"last {job}")
            rows.append((label, f"{show(done.at)} {done.result}: {done.text}" if done else "never"))
        error = self.last_error
        rows.append(("last error", f"{show(error.at)} {error.job}: {error.text}" if error else "none"))
        if self.next_poll is None:
            rows.append(("next poll", "at the daemon's start"))
        else:
            due = "due now" if self.next_poll <= self.now else show(self.next_poll)
            rows.append(("next poll", f"{due} (when the daemon runs)"))
        digest = show(self.next_digest) if self.next_digest else "never"
        rows.append(("next digest", f"{digest} (when the daemon runs)"))
        waiting = [
            (item, " (its channel is not configured)" if item.key in self.unconfigured else "")
            for item in self.outbox
        ]
        rows += [("outbox", describe(item) + note) for item, note in waiting] or [
            ("outbox", "nothing waiting")
        ]
        rows += [("invalid", line) for line in self.invalid]
        rows.append(("health", "; ".join(self.problems) or "ok"))
        return [f"{label + ':' if label else '':<14}{value}" for label, value in rows]

    def to_json(self) -> str:
        """The report for monitors and scripts (schema in docs/deploy.md)."""
        fresh = self.freshness
        data: dict[str, Any] = {
            "state": self.state,
            "timezone": self.timezone,
            "runs": self.runs,
            "freshness": {
                "newest_run_at": self._iso(fresh.newest_run_at),
                "last_poll_ok_at": self._iso(fresh.last_poll_ok_at),
                "max_age_minutes": fresh.max_age.total_seconds() / 60,
                "blind": fresh.blind,
                "blind_since": self._iso(fresh.blind_since),
                "last_error": fresh.last_error,
            },
            "jobs": {job: self._outcome(self.jobs.get(job)) for job in watch.JOBS},
            "last_error": self._outcome(self.last_error),
            "next_poll": self._iso(self.next_poll),
            "next_digest": self._iso(self.next_digest),
            "outbox": [
                {"key": i.key, "status": i.status, "attempts": i.attempts, "last_error": i.last_error}
                for i in self.outbox
            ],
            "invalid": list(self.invalid),
            "healthy": not self.problems,
            "problems": self.problems,
        }
        return json.dumps(data, indent=2) + "\n"

    def _time(self, moment: datetime) -> str:
        return moment.astimezone(ZoneInfo(self.timezone)).strftime("%Y-%m-%d %H:%M:%S %Z")

    def _iso(self, moment: datetime | None) -> str | None:
        if moment is None:
            return None
        return moment.astimezone(ZoneInfo(self.timezone)).isoformat(timespec="seconds")

    def _outcome(self, done: watch.Outcome | None) -> dict[str, Any] | None:
        if done is None:
            return None
        return {"job": done.job, "at": self._iso(done.at), "result": done.result, "text": done.text}


def read(settings: Settings, store: Store, now: datetime) -> Status:
    """The status of the reporter behind ``store``."""
    from apscheduler.triggers.cron import CronTrigger

    zone = ZoneInfo(settings.schedule.timezone)
    trigger = CronTrigger.from_crontab(settings.schedule.digest_cron, timezone=zone)
    outbox = tuple(store.outbox.items(("pending", "failed")))
    channels = configured(settings)
    jobs = {job: watch.outcome(store, job) for job in watch.JOBS}
    last_poll = jobs["poll"]
    next_poll = None
    if last_poll is not None:
        next_poll = max(now, last_poll.at + timedelta(minutes=settings.schedule.poll_interval_minutes))
    return Status(
        now=now,
        state=str(settings.state.path),
        timezone=settings.schedule.timezone,
        runs=store.counts(),
        freshness=watch.freshness(settings, watch.contact(store), now),
        jobs=jobs,
        last_error=watch.last_error(store),
        next_poll=next_poll,
        next_digest=trigger.get_next_fire_time(None, now),
        outbox=outbox,
        failing=tuple(failing([item for item in outbox if item.channel in channels], now)),
        unconfigured=frozenset(item.key for item in outbox if item.channel not in channels),
        invalid=store.invalid.summary(),
    )


def configured(settings: Settings) -> set[str]:
    """The names of the channels that deliver (an outbox item's ``channel``): ``channels_from``'s."""
    return {channel.name for channel in channels_from(settings)}


def failing(items: Sequence[OutboxItem], now: datetime) -> list[OutboxItem]:
    """Items that say deliveries are failing: retried after a failed attempt, or failed for good.

    A failure for good counts while its date (a digest period, a notice's start) is within
    ``RECENT_FAILURE``; after that ``status`` still lists it, but a monitor no longer hears of it.
    """
    retried = [item for item in items if item.status == "pending" and item.attempts]
    return retried + [item for item in items if _failed_lately(item, now)]


def outstanding(items: Sequence[OutboxItem], now: datetime) -> list[OutboxItem]:
    """Items a digest job must not call done: anything still pending, and recent failures for good."""
    return [item for item in items if item.status == "pending" or _failed_lately(item, now)]


def describe(item: OutboxItem) -> str:
    """One outbox item in words: 'slack:2026-11-20 pending after 1 attempt: ...'."""
    if item.attempts == 0:
        return f"{item.key} {item.status}, not tried yet"
    tries = f"{item.attempts} attempt{'s' if item.attempts != 1 else ''}"
    return f"{item.key} {item.status} after {tries}: {item.last_error or 'no error recorded'}"


def _failed_lately(item: OutboxItem, now: datetime) -> bool:
    if item.status != "failed":
        return False
    found = _DATED.search(item.period)
    if found is None:
        return False
    try:
        day = date(*(int(part) for part in found.groups()))
    except ValueError:
        return False
    return now.date() - day <= RECENT_FAILURE
