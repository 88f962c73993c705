"""The reporter watching itself: each job's last outcome, the data's freshness, the blind notices.

Every command and the daemon record in the state what their jobs did (``job.<name>``: when, ok,
failed or stopped, the summary or the error). A poll or a backfill also records whether it reached
the platform (``platform``: the end of the last successful poll, since when polls fail and why, the
newest run ingested). ``freshness`` reads that for every digest and ``reporter status``; ``notices``
queues one notice when polling has failed for longer than the allowed age and one when it recovers.
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from reporter.config import Settings
from reporter.digest import Freshness, span, when
from reporter.format.email import EmailPayload
from reporter.format.slack import SlackMessage
from reporter.format.templates import escape_mrkdwn
from reporter.store import Store

logger = logging.getLogger(__name__)
Result = Literal["ok", "failed", "stopped"]
JOBS = ("poll", "backfill", "digest", "deliver")
RESULTS: dict[str, Result] = {"ok": "ok", "failed": "failed", "stopped": "stopped"}
PLATFORM_KEY = "platform"
ERROR_KEY = "last_error"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one job did the last time it ran."""

    job: str
    at: datetime
    result: Result
    text: str  # the summary, or the error

    def to_json(self) -> str:
        at = self.at.isoformat()
        return json.dumps({"job": self.job, "at": at, "result": self.result, "text": self.text})

    @classmethod
    def from_json(cls, raw: str | None) -> Outcome | None:
        data = _object(raw)
        try:
            result = RESULTS.get(str(data["result"]), "failed")
            return cls(str(data["job"]), _moment(data["at"]), result, str(data["text"]))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Contact:
    """What the state knows of the reporter's sight of the platform."""

    ok_at: datetime | None = None  # the end of the last poll that reached the platform
    failing_since: datetime | None = None  # the first failed poll after it
    error: str | None = None  # the last failed poll's error
    newest_run_at: datetime | None = None  # completion time of the newest run ingested
    noticed: datetime | None = None  # the failing_since a blind notice was queued for

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps({k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()})

    @classmethod
    def from_json(cls, raw: str | None) -> Contact:
        data = _object(raw)
        moments = {
            name: _moment_or_none(data.get(name))
            for name in ("ok_at", "failing_since", "newest_run_at", "noticed")
        }
        error = data.get("error")
        return cls(error=error if isinstance(error, str) else None, **moments)


# -- job outcomes -------------------------------------------------------------------------------
def record(store: Store, job: str, result: Result, text: str, now: datetime | None = None) -> Outcome:
    """Keep what a job did; a failure also becomes the last error. Never raises for the state's sake."""
    flat = " / ".join(line.strip() for line in text.splitlines() if line.strip())[:2000]
    outcome = Outcome(job, now or datetime.now(UTC), result, flat)
    try:
        store.set_meta(f"job.{job}", outcome.to_json())
        if result == "failed":
            store.set_meta(ERROR_KEY, outcome.to_json())
    except Exception as exc:  # a state that cannot be written must not hide the job's own error
        logger.error("cannot record the outcome of %s in the state: %s", job, exc)
    return outcome


def outcome(store: Store, job: str) -> Outcome | None:
    """The last outcome of ``job``; a state written before outcomes were recorded has a summary line."""
    found = Outcome.from_json(store.meta(f"job.{job}"))
    legacy = store.meta(f"last_{job}") if found is None else None
    if legacy:
        at, _, text = legacy.partition(" ")
        try:
            return Outcome(job, _moment(at), "ok", text)
        except ValueError:
            return None
    return found


def last_error(store: Store) -> Outcome | None:
    """The latest failure of any job (kept after later successes: it says when it happened)."""
    return Outcome.from_json(store.meta(ERROR_KEY))


# -- sight of the platform ----------------------------------------------------------------------
def contact(store: Store) -> Contact:
    """What the state knows of the sight of the platform (a state from before: its last poll)."""
    raw = store.meta(PLATFORM_KEY)
    if raw is None:
        legacy = outcome(store, "poll")
        return Contact(ok_at=legacy.at if legacy is not None and legacy.result == "ok" else None)
    return Contact.from_json(raw)


def reached(store: Store, now: datetime, newest_run_at: datetime | None) -> Contact:
    """A poll reached the platform: it is in sight again. Returns what was known before."""
    before = contact(store)
    newest = max((m for m in (before.newest_run_at, newest_run_at) if m is not None), default=None)
    store.set_meta(PLATFORM_KEY, Contact(ok_at=now, newest_run_at=newest).to_json())
    return before


def lost(store: Store, now: datetime, error: str) -> Contact:
    """A poll failed to reach the platform (or to store what it said). Returns what is known now."""
    before = contact(store)
    after = replace(before, failing_since=before.failing_since or now, error=error.splitlines()[0][:500])
    store.set_meta(PLATFORM_KEY, after.to_json())
    return after


def freshness(settings: Settings, known: Contact, now: datetime, newest: datetime | None = None) -> Freshness:
    """How fresh the data is: blind when no poll has succeeded within ``schedule.max_data_age``."""
    max_age = settings.schedule.max_data_age
    ok_at = known.ok_at
    newest = max((m for m in (known.newest_run_at, newest) if m is not None), default=None)
    blind = ok_at is None or now - ok_at > max_age
    return Freshness(
        newest_run_at=newest,
        last_poll_ok_at=ok_at,
        max_age=max_age,
        blind=blind,
        blind_since=(ok_at or known.failing_since) if blind else None,
        last_error=known.error if known.failing_since is not None else None,
        timezone=settings.schedule.timezone,
    )


# -- notices ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Notice:
    """A message about the reporter itself, queued once under ``subject``."""

    subject: str
    title: str  # an email subject: times only, never text from the platform
    text: str


def blind_notice(settings: Settings, known: Contact, now: datetime) -> Notice | None:
    """The one notice of a blind spell: polls have failed for longer than the allowed age."""
    if known.failing_since is None or known.noticed == known.failing_since:
        return None
    max_age = settings.schedule.max_data_age
    since = known.ok_at or known.failing_since
    if now - since <= max_age:
        return None
    zone = settings.schedule.timezone
    text = (
        f"reporter cannot see the Sample Platform: no successful poll since {when(since, zone)} "
        f"({span(now - since)}, more than the allowed {span(max_age)}). The last poll failed: "
        f"{known.error}. Until a poll succeeds, digests say they are blind instead of all clear; "
        "`reporter status` shows the details."
    )
    return Notice(_subject("blind", known.failing_since), f"[reporter] blind since {when(since, zone)}", text)


def recovered_notice(settings: Settings, before: Contact, now: datetime) -> Notice | None:
    """The one notice that the platform is in sight again, after a blind spell that was noticed."""
    if before.noticed is None or before.failing_since is None:
        return None
    zone = settings.schedule.timezone
    since = before.ok_at or before.failing_since
    text = (
        f"reporter sees the Sample Platform again: a poll succeeded at {when(now, zone)} after "
        f"{span(now - since)} without one (failing since {when(before.failing_since, zone)})."
    )
    return Notice(_subject("recovered", before.failing_since), "[reporter] platform in sight again", text)


def noticed(store: Store, known: Contact) -> None:
    """Remember that the blind spell starting at ``known.failing_since`` has had its notice."""
    store.set_meta(PLATFORM_KEY, replace(known, noticed=known.failing_since).to_json())


def payload(notice: Notice, alert_format: str) -> str:
    """The notice as a channel of ``alert_format`` takes it; our own error texts are escaped too."""
    if alert_format == "slack":
        return SlackMessage(escape_mrkdwn(notice.text)).to_payload()
    if alert_format == "markdown":
        return escape_mrkdwn(notice.text) + "\n"
    if alert_format == "email":
        return EmailPayload(notice.title, notice.text, f"<p>{html.escape(notice.text)}</p>").to_payload()
    return notice.text + "\n"


def _subject(kind: str, moment: datetime) -> str:
    return f"{kind}-{moment.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def _object(raw: str | None) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _moment(raw: Any) -> datetime:
    moment = datetime.fromisoformat(str(raw))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _moment_or_none(raw: Any) -> datetime | None:
    try:
        return _moment(raw) if raw else None
    except ValueError:
        return None
