"""Digests made and the delivery outbox: what was reported, and what still has to be sent.

Lives in the state file beside the runs (tables ``digests``, ``outbox`` and ``outbox_parts``). An
item's key is ``<channel>:<subject>`` (the subject is a digest period, or ``alert-run-<id>``), so
queuing the same thing twice is a no-op and nothing is sent twice from here. A channel that sends an
item in parts records each part the moment it is delivered (``record_part``), so a retry after a
failure half-way sends only what is still missing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from reporter.state_errors import guarded

Transaction = Callable[[], AbstractContextManager[sqlite3.Connection]]


@dataclass(frozen=True, slots=True)
class OutboxItem:
    key: str
    channel: str
    period: str
    payload: str
    status: str
    attempts: int
    last_error: str | None


@guarded  # an SQLite error in any method is a StoreError naming the file
class Outbox:
    """The ``digests``, ``outbox`` and ``outbox_parts`` tables of one open state file."""

    def __init__(self, db: sqlite3.Connection, transaction: Transaction, path: Path) -> None:
        self._db, self.transaction, self.path = db, transaction, path

    def last_digest(self, before_period: str) -> tuple[str, str] | None:
        row = self._db.execute(
            "SELECT period, findings FROM digests WHERE period < ? ORDER BY period DESC LIMIT 1",
            (before_period,),
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def digests(self, first_period: str, before_period: str) -> list[tuple[str, str]]:
        """Stored digests (period, state) from ``first_period`` up to ``before_period``, oldest first."""
        rows = self._db.execute(
            "SELECT period, findings FROM digests WHERE period >= ? AND period < ? ORDER BY period",
            (first_period, before_period),
        )
        return [(str(period), str(state)) for period, state in rows]

    def latest_period(self) -> str | None:
        """The latest period a digest was made for, if any."""
        row = self._db.execute("SELECT MAX(period) FROM digests").fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def has_digest(self, period: str) -> bool:
        return self._db.execute("SELECT 1 FROM digests WHERE period = ?", (period,)).fetchone() is not None

    def enqueue(self, period: str, findings_json: str, payloads: dict[str, str]) -> None:
        """Record a digest and one outbox item per channel, once per period (idempotent)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO digests VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (period, _now(), findings_json),
            )
            _queue(db, period, payloads)

    def queue(self, subject: str, payloads: dict[str, str]) -> int:
        """One outbox item per channel for ``subject`` (e.g. an alert), once; returns how many are new."""
        with self.transaction() as db:
            return _queue(db, subject, payloads)

    def items(
        self, statuses: tuple[str, ...] = ("pending",), due: datetime | None = None
    ) -> list[OutboxItem]:
        """Items in ``statuses``; with ``due``, only those whose retry back-off has passed by then."""
        marks = ",".join("?" * len(statuses))
        wait = "" if due is None else "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
        rows = self._db.execute(
            f"SELECT key, channel, period, payload, status, attempts, last_error FROM outbox "
            f"WHERE status IN ({marks}) {wait}ORDER BY created_at, key",
            (*statuses, *(() if due is None else (_iso(due),))),
        )
        return [OutboxItem(*row) for row in rows]

    def parts(self, key: str) -> dict[str, str]:
        """The parts of item ``key`` already delivered, each with what the channel kept of it."""
        rows = self._db.execute("SELECT part, value FROM outbox_parts WHERE key = ?", (key,))
        return {str(part): str(value) for part, value in rows}

    def record_part(self, key: str, part: str, value: str) -> None:
        """Remember, durably and at once, that ``part`` of item ``key`` was delivered."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO outbox_parts VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key, part) DO UPDATE SET value = excluded.value",
                (key, part, value, _now()),
            )

    def mark_sent(self, key: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
                "last_error = NULL WHERE key = ?",
                (_now(), key),
            )

    def mark_failed(self, key: str, error: str, *, final: bool, retry_at: datetime | None = None) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
                "WHERE key = ?",
                ("failed" if final else "pending", error[:500], _iso(retry_at), key),
            )


def _queue(db: sqlite3.Connection, period: str, payloads: dict[str, str]) -> int:
    before = db.total_changes
    db.executemany(
        "INSERT INTO outbox (key, channel, period, payload, status, created_at) "
        "VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT DO NOTHING",
        [(f"{channel}:{period}", channel, period, payload, _now()) for channel, payload in payloads.items()],
    )
    return db.total_changes - before


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()
