"""Runs whose platform answers broke the contract: kept with the reason, read again after a growing pause.

Lives in the state file (table ``invalid_runs``, one row per run id). A run whose description or
results hold a value the reporter cannot store (a timestamp without a time zone, an id beyond
64 bits, text that is not text...) is marked here instead of failing the poll: it is not read
again before its pause is over (10 minutes, doubling with each failed try, at most 6 hours), and
the mark goes when the run is stored or the platform no longer has it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reporter.shown import clip, one_line
from reporter.state_errors import guarded

Transaction = Callable[[], AbstractContextManager[sqlite3.Connection]]
FIRST_PAUSE = timedelta(minutes=10)
MAX_PAUSE = timedelta(hours=6)
REASON_LENGTH = 500


@dataclass(frozen=True, slots=True)
class InvalidRun:
    """One run's latest invalid answer: why, how many tries so far, and when it is read again."""

    run_id: int
    reason: str
    tries: int
    first_seen: datetime
    retry_at: datetime

    def describe(self) -> str:
        tries = "1 try" if self.tries == 1 else f"{self.tries} tries"
        return (
            f"run {self.run_id} ({tries} since {self.first_seen:%Y-%m-%d %H:%M} UTC, next after "
            f"{self.retry_at:%Y-%m-%d %H:%M} UTC): {self.reason}"
        )


def pause(tries: int) -> timedelta:
    """The wait after the ``tries``-th invalid answer in a row."""
    doubled: timedelta = FIRST_PAUSE * 2 ** min(tries - 1, 16)
    return min(doubled, MAX_PAUSE)


@guarded  # an SQLite error in any method is a StoreError naming the file
class InvalidRuns:
    """The ``invalid_runs`` table of one open state file."""

    def __init__(self, db: sqlite3.Connection, transaction: Transaction, path: Path) -> None:
        self._db, self.transaction, self.path = db, transaction, path

    def mark(self, run_id: int, reason: str, now: datetime) -> InvalidRun:
        """Record another invalid answer about ``run_id``; its pause grows with every try."""
        shown = clip(one_line(reason), REASON_LENGTH)
        with self.transaction() as db:
            row = db.execute(
                "SELECT tries, first_seen FROM invalid_runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            tries, first = (int(row[0]) + 1, row[1]) if row else (1, _iso(now))
            retry_at = now + pause(tries)
            db.execute(
                "INSERT INTO invalid_runs VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET "
                "reason = excluded.reason, tries = excluded.tries, last_seen = excluded.last_seen, "
                "retry_at = excluded.retry_at",
                (run_id, shown, tries, first, _iso(now), _iso(retry_at)),
            )
        return InvalidRun(run_id, shown, tries, datetime.fromisoformat(first), retry_at)

    def clear(self, run_ids: Iterable[int]) -> None:
        """Forget the marks of these runs (read fine since, or gone from the platform)."""
        ids = [(run_id,) for run_id in run_ids]
        if ids:
            with self.transaction() as db:
                db.executemany("DELETE FROM invalid_runs WHERE run_id = ?", ids)

    def all(self) -> list[InvalidRun]:
        """Every marked run, the latest invalid answer first."""
        rows = self._db.execute(
            "SELECT run_id, reason, tries, first_seen, retry_at FROM invalid_runs "
            "ORDER BY last_seen DESC, run_id DESC"
        )
        return [
            InvalidRun(run_id, reason, tries, datetime.fromisoformat(first), datetime.fromisoformat(retry))
            for run_id, reason, tries, first, retry in rows
        ]

    def split(self, now: datetime) -> tuple[set[int], set[int]]:
        """The marked runs whose pause is not over (nothing is read about them now), and the others
        (read again in this poll)."""
        marked = self.all()
        return {r.run_id for r in marked if r.retry_at > now}, {r.run_id for r in marked if r.retry_at <= now}

    def summary(self, latest: int = 3) -> tuple[str, ...]:
        """For ``reporter status``: how many, then the latest few with their reasons."""
        marked = self.all()
        if not marked:
            return ()
        runs = "1 run" if len(marked) == 1 else f"{len(marked)} runs"
        head = f"{runs} with an invalid answer, read again after a pause"
        return (head, *(run.describe() for run in marked[:latest]))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
