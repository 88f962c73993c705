"""The local SQLite state: ingested runs, and (through ``reporter.outbox``) digests and deliveries.

One file, WAL mode, foreign keys on, named migrations recorded in the
``migrations`` table. ``runs`` holds what the platform last said about each
run; ``attempts`` one row per finished attempt (a restart keeps the run id), with
its per-test results, errors and exit codes beside it. An attempt's rows and
the run's ``ingested`` mark are written in one transaction, so a crash leaves
the whole attempt or nothing.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from reporter import __version__, attempts, records
from reporter.attempts import iso, now_iso
from reporter.errors import StoreError
from reporter.history import History, RunRecord
from reporter.invalid import InvalidRuns
from reporter.models import TESTED, ErrorBucket, Run, RunSample
from reporter.outbox import Outbox
from reporter.schema import MIGRATIONS
from reporter.state_errors import FAILURES, guarded, store_error

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KnownRun:
    """What the store remembers of a run to decide whether to fetch it again."""

    run_id: int
    status: str
    state: str
    completed_at: str | None
    created_at: str | None


@dataclass(frozen=True, slots=True)
class TestSet:
    """The regression tests one complete listing of a run showed: a reference for runs near it."""

    __test__ = False  # not a pytest test class, despite the name

    platform: str
    completed_at: datetime | None
    samples: Mapping[int, int | None]  # regression id -> sample id, for every test with a result


@guarded  # an SQLite error in any method is a StoreError naming the file
class Store:
    """Typed access to the state file; one connection, used from one thread."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = path
        self._db = _connect(path, timeout)
        try:
            self._migrate()
        except BaseException:
            self._db.close()
            raise
        self.outbox = Outbox(self._db, self.transaction, path)
        self.invalid = InvalidRuns(self._db, self.transaction, path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
        except FAILURES as exc:
            raise store_error(self.path, exc) from exc

    def _migrate(self) -> None:
        """Apply the named migrations not yet recorded, each in its own transaction.

        A file that records a migration this version does not know was written by a newer
        version: it is refused before anything in it changes (its journal mode included).
        """
        with self.transaction() as db:  # takes the write lock: fails, naming the file, if it is held
            listed = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'")
            done = (
                {row[0] for row in db.execute("SELECT name FROM migrations")} if listed.fetchone() else set()
            )
            _refuse_newer(self.path, done - {name for name, _ in MIGRATIONS})
            db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        try:
            self._db.execute("PRAGMA journal_mode = WAL")
        except FAILURES as exc:
            raise store_error(self.path, exc) from exc
        for name, script in MIGRATIONS:
            if name not in done and self._apply(name, script):
                logger.info("state %s: applied migration %s", self.path, name)

    def _apply(self, name: str, script: str) -> bool:
        """Run one migration's script and record it, atomically; False if another process just did.

        ``executescript`` hands the whole script to SQLite, which finds the statements itself (a
        semicolon inside a literal or a trigger is safe). The migration's row is written first, so a
        process that lost the race to apply it fails on that key, rolls back and finds it done.
        """
        head = f"BEGIN IMMEDIATE;\nINSERT INTO migrations VALUES ({_literal(name)}, {_literal(now_iso())});\n"
        try:
            self._db.executescript(f"{head}{script};\n;\nCOMMIT;")  # the second ; ends a last line comment
        except FAILURES as exc:
            if self._recorded_after_rollback(name):
                return False
            error = store_error(self.path, exc)
            raise StoreError(f"{error} (applying migration {name}; nothing of it was kept)") from exc
        return True

    def _recorded_after_rollback(self, name: str) -> bool:
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            return self._db.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone() is not None
        except FAILURES:
            return False

    def migrations(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT name FROM migrations ORDER BY name")]

    # -- bookkeeping ------------------------------------------------------------------------
    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def high_water(self) -> int:
        row = self._db.execute("SELECT MAX(run_id) FROM runs").fetchone()
        return int(row[0] or 0)

    def known(self, run_ids: Iterable[int]) -> dict[int, KnownRun]:
        found: dict[int, KnownRun] = {}
        for part, marks in _chunks(run_ids):
            rows = self._db.execute(
                f"SELECT run_id, status, state, completed_at, created_at FROM runs WHERE run_id IN ({marks})",
                part,
            )
            found.update({row[0]: KnownRun(*row) for row in rows})
        return found

    def pending(self) -> list[KnownRun]:
        rows = self._db.execute(
            "SELECT run_id, status, state, completed_at, created_at FROM runs WHERE state = 'pending' "
            "ORDER BY run_id"
        )
        return [KnownRun(*row) for row in rows]

    def record(self, run: Run, state: str) -> None:
        """Remember a run seen but not ingested (pending, filtered out or abandoned)."""
        self.record_all([run], state)

    def record_all(self, runs: Iterable[Run], state: str) -> None:
        """``record`` for many runs, in one transaction."""
        with self.transaction() as db:
            for run in runs:
                _upsert_run(db, run, state)

    def abandon(self, run_id: int) -> None:
        """Stop re-checking a run (gone from the platform, or pending for too long)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET state = 'abandoned', seen_at = ? WHERE run_id = ?", (now_iso(), run_id)
            )

    def save_run(
        self,
        run: Run,
        tests: list[RunSample],
        by_sample: list[ErrorBucket] | None = None,
        by_type: list[ErrorBucket] | None = None,
        *,
        complete: bool = True,
    ) -> int:
        """Store a finished attempt of ``run`` and mark the run ingested, atomically; return the attempt.

        The same attempt (same start and completion times: a re-read after an approved baseline)
        is replaced; a run restarted since the stored attempt gets a new one beside it. Without
        error buckets, errors are derived from the tests' statuses and exit codes. ``complete``
        says every test row was listed by the platform (not inferred from a reference listing).
        """
        with self.transaction() as db:
            attempt = attempts.number(db, run)
            _upsert_run(db, run, "ingested")
            attempts.write(db, run, attempt, tests, (by_sample, by_type), complete)
            names = {(t.sample_id, t.sample_name) for t in tests if t.sample_id and t.sample_name}
            db.executemany(
                "INSERT INTO samples VALUES (?, ?) ON CONFLICT DO UPDATE SET name = excluded.name",
                sorted(names),
            )
            db.execute("UPDATE runs SET ingested_at = ? WHERE run_id = ?", (now_iso(), run.run_id))
            db.execute("DELETE FROM invalid_runs WHERE run_id = ?", (run.run_id,))
        return attempt

    def recent_evidence(self, since: datetime) -> list[Run]:
        """Ingested pass/fail runs completed since ``since``, as the platform described them."""
        rows = self._db.execute(
            "SELECT run_id, status, platform, repository, commit_sha, test_type, branch, pr_number, "
            "created_at, started_at, completed_at FROM runs WHERE state = 'ingested' "
            "AND status IN ('pass', 'fail') AND completed_at >= ? ORDER BY run_id",
            (iso(since),),
        )
        names = (
            "run_id",
            "status",
            "platform",
            "repository",
            "commit_sha",
            "test_type",
            "branch",
            "pr_number",
            "created_at",
            "started_at",
            "completed_at",
        )
        found = []
        for row in rows:
            try:
                found.append(Run.model_validate(dict(zip(names, row, strict=True))))
            except ValidationError as exc:  # stored before the models checked as much
                logger.warning("stored run %d is not compared again: %s", row[0], exc.errors()[0]["msg"])
        return found

    def repositories(self, run_ids: Iterable[int]) -> dict[int, str]:
        """The repository (owner/name) of each of these stored runs."""
        found: dict[int, str] = {}
        for part, marks in _chunks(run_ids):
            rows = self._db.execute(f"SELECT run_id, repository FROM runs WHERE run_id IN ({marks})", part)
            found.update({int(run_id): str(repository) for run_id, repository in rows})
        return found

    def sample_error_counts(self, run_id: int) -> dict[int, int]:
        """Errors per sample in the latest attempt of ``run_id``."""
        rows = self._db.execute(
            f"SELECT sample_id, count FROM sample_errors WHERE run_id = ? AND attempt = {_LATEST}",
            (run_id, run_id),
        )
        return {int(sample_id): int(count) for sample_id, count in rows}

    def result_counts(self, run_id: int) -> tuple[int, int, int]:
        """(pass, fail, missing_output) tests in the latest attempt of ``run_id``: what its summary says."""
        rows = dict(
            self._db.execute(
                f"SELECT status, COUNT(*) FROM run_tests WHERE run_id = ? AND attempt = {_LATEST} "
                "GROUP BY status",
                (run_id, run_id),
            ).fetchall()
        )
        return (int(rows.get("pass", 0)), int(rows.get("fail", 0)), int(rows.get("missing_output", 0)))

    def test_sets(self, per_platform: int = 8) -> list[TestSet]:
        """Per platform, the tests of the latest completely listed attempts that had results."""
        found = []
        for platform, run_id, attempt, completed_at in self._db.execute(
            "SELECT platform, run_id, attempt, completed_at FROM (SELECT r.platform, a.run_id, a.attempt, "
            "a.completed_at, ROW_NUMBER() OVER (PARTITION BY r.platform ORDER BY a.completed_at DESC) AS n "
            "FROM attempts a JOIN runs r USING (run_id) WHERE a.complete AND a.tested != '') WHERE n <= ?",
            (per_platform,),
        ):
            rows = self._db.execute(
                "SELECT regression_id, sample_id FROM run_tests WHERE run_id = ? AND attempt = ? "
                f"AND status IN {TESTED}",
                (run_id, attempt),
            )
            found.append(TestSet(platform, records.when(completed_at), dict(rows.fetchall())))
        return found

    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT state, COUNT(*) FROM runs GROUP BY state")
        return {str(state): int(n) for state, n in rows}

    def ingested_ids(self) -> set[int]:
        return {row[0] for row in self._db.execute("SELECT run_id FROM runs WHERE state = 'ingested'")}

    def prune(self, before: datetime) -> int:
        with self.transaction() as db:
            cursor = db.execute(
                "DELETE FROM runs WHERE COALESCE(completed_at, created_at) < ? AND state != 'pending'",
                (iso(before),),
            )
            db.execute("DELETE FROM regression_tests WHERE last_seen < ?", (iso(before),))
            db.execute("DELETE FROM invalid_runs WHERE last_seen < ?", (iso(before),))
            return cursor.rowcount

    # -- history for the analysis -----------------------------------------------------------
    def history(self, since: datetime) -> History:
        """Every finished attempt completed since ``since``, oldest run first, with per-sample results.

        A restarted run gives one record per attempt, in attempt order. Runs that tested the same
        samples share one frozenset, so a year of history stays small.
        """
        found = records.read(self._db, "a.completed_at >= ?", (iso(since),))
        categories, sample_tests = records.regression_tests(self._db)
        return History(tuple(found), self.sample_names(), categories, sample_tests)

    def suite(self) -> History:
        """A history without runs: the samples' names, their regression tests and categories."""
        categories, sample_tests = records.regression_tests(self._db)
        return History((), self.sample_names(), categories, sample_tests)

    def records(self, run_ids: Iterable[int]) -> list[RunRecord]:
        """The latest attempt of each of these runs (if stored), oldest first: a poll's new runs."""
        found: list[RunRecord] = []
        for part, marks in _chunks(run_ids):
            found += records.read(self._db, f"a.run_id IN ({marks}) AND a.attempt = {_LATEST_OF_A}", part)
        return found

    def sample_names(self) -> dict[int, str]:
        return dict(self._db.execute("SELECT sample_id, name FROM samples").fetchall())


def _chunks(run_ids: Iterable[int]) -> Iterator[tuple[tuple[int, ...], str]]:
    """The distinct ids ascending, a query's worth at a time, each with its ``?`` placeholders."""
    ids = sorted(set(run_ids))
    for start in range(0, len(ids), records.MAX_LISTED):
        part = tuple(ids[start : start + records.MAX_LISTED])
        yield part, ",".join("?" * len(part))


_LATEST = "(SELECT MAX(attempt) FROM attempts WHERE run_id = ?)"
_LATEST_OF_A = "(SELECT MAX(attempt) FROM attempts m WHERE m.run_id = a.run_id)"


def _upsert_run(db: sqlite3.Connection, run: Run, state: str) -> None:
    db.execute(
        """INSERT INTO runs (run_id, platform, repository, branch, commit_sha, pr_number, test_type,
               status, created_at, started_at, completed_at, state, seen_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, state = excluded.state,
               started_at = excluded.started_at, completed_at = excluded.completed_at,
               seen_at = excluded.seen_at""",
        (
            run.run_id,
            run.platform,
            run.repository,
            run.branch,
            run.commit_sha,
            run.pr_number,
            run.kind,
            run.status,
            iso(run.created_at),
            iso(run.started_at),
            iso(run.completed_at),
            state,
            now_iso(),
        ),
    )


def _refuse_newer(path: Path, unknown: set[str]) -> None:
    if unknown:
        raise StoreError(
            f"{path}: written by a newer version of reporter (it records the migration "
            f"{', '.join(sorted(unknown))}, unknown to reporter {__version__}); it was left unchanged. "
            "Run the newer version, or set state.path to another file"
        )


def _literal(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot create the state file ({exc.strerror}); "
            "check state.path and the directory's permissions"
        ) from exc
    except FAILURES as exc:
        raise store_error(path, exc) from exc
    return db
