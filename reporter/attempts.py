"""Write one finished attempt of a run: its per-test results, its errors, the regression tests seen."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime

from reporter.models import SEVERITY, ErrorBucket, Run, RunSample

Buckets = tuple[list[ErrorBucket] | None, list[ErrorBucket] | None]  # by sample, by type


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def number(db: sqlite3.Connection, run: Run) -> int:
    """The stored attempt ``run`` describes, or the next number if it was restarted since."""
    row = db.execute(
        "SELECT attempt, started_at, completed_at FROM attempts WHERE run_id = ? "
        "ORDER BY attempt DESC LIMIT 1",
        (run.run_id,),
    ).fetchone()
    if row is None:
        return 1
    same = (row[1], row[2]) == (iso(run.started_at), iso(run.completed_at))
    return int(row[0]) if same else int(row[0]) + 1


def _save_errors(
    db: sqlite3.Connection,
    key: tuple[int, int],
    tests: list[RunSample],
    by_sample: list[ErrorBucket] | None,
    by_type: list[ErrorBucket] | None,
) -> None:
    """The attempt's errors per sample and per type: as the platform grouped them, or derived."""
    if by_sample is None or by_type is None:
        by_sample, by_type = _derive_errors(tests)
    db.executemany(
        "INSERT INTO sample_errors VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
        "count = count + excluded.count",
        [(*key, b.sample_id, b.count, b.severity) for b in by_sample if b.sample_id is not None],
    )
    db.executemany(
        "INSERT INTO type_errors VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(*key, b.key, b.count, b.severity, json.dumps(sorted(b.sample_ids))) for b in by_type],
    )


def _derive_errors(tests: list[RunSample]) -> tuple[list[ErrorBucket], list[ErrorBucket]]:
    """Group the errors each test's result implies by sample and by type, as the platform does."""
    per_sample: dict[int, list[str]] = defaultdict(list)
    per_type: dict[str, list[int | None]] = defaultdict(list)
    for test in tests:
        for error_type in test.error_types:
            per_type[error_type].append(test.sample_id)
            if test.sample_id is not None:
                per_sample[test.sample_id].append(error_type)
    by_sample = [
        ErrorBucket(group_by="sample_id", key=str(sample_id), count=len(types), severity=_worst(types))
        for sample_id, types in per_sample.items()
    ]
    by_type = [
        ErrorBucket(
            group_by="type",
            key=error_type,
            count=len(samples),
            severity=SEVERITY[error_type],
            sample_ids=tuple(sorted({s for s in samples if s is not None})),
        )
        for error_type, samples in per_type.items()
    ]
    return by_sample, by_type


def _worst(types: list[str]) -> str:
    return "error" if any(SEVERITY[t] == "error" for t in types) else "warning"


def _save_regression_tests(
    db: sqlite3.Connection, tests: list[RunSample], seen: str | None, complete: bool
) -> None:
    """Remember each regression test's sample and categories (from listed rows) and when it last ran.

    Rows inferred from a reference listing (the passes of an incomplete attempt) carry no
    categories, so they only move ``last_seen``.
    """
    later = "MAX(COALESCE(last_seen, excluded.last_seen), COALESCE(excluded.last_seen, last_seen))"
    listed = [t for t in tests if complete or t.status != "pass"]
    db.executemany(
        "INSERT INTO regression_tests VALUES (?, ?, ?, ?) ON CONFLICT (regression_id) DO UPDATE SET "
        f"sample_id = excluded.sample_id, categories = excluded.categories, last_seen = {later}",
        [(t.regression_test_id, t.sample_id, json.dumps(sorted(set(t.categories))), seen) for t in listed],
    )
    inferred = [t for t in tests if not (complete or t.status != "pass")]
    db.executemany(
        "INSERT INTO regression_tests (regression_id, sample_id, last_seen) VALUES (?, ?, ?) "
        f"ON CONFLICT (regression_id) DO UPDATE SET last_seen = {later}",
        [(t.regression_test_id, t.sample_id, seen) for t in inferred],
    )


def write(
    db: sqlite3.Connection, run: Run, attempt: int, tests: list[RunSample], buckets: Buckets, complete: bool
) -> None:
    """Insert or replace attempt ``attempt`` of ``run`` with everything that belongs to it."""
    tested = sorted({t.sample_id for t in tests if t.sample_id is not None and t.tested})
    db.execute(
        """INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (run_id, attempt) DO UPDATE SET status = excluded.status,
               tested = excluded.tested, complete = excluded.complete,
               ingested_at = excluded.ingested_at""",
        (
            run.run_id,
            attempt,
            run.status,
            iso(run.created_at or run.queued_at),
            iso(run.started_at),
            iso(run.completed_at),
            ",".join(map(str, tested)),
            int(complete),
            now_iso(),
        ),
    )
    key = (run.run_id, attempt)
    for table in ("run_tests", "sample_errors", "type_errors"):
        db.execute(f"DELETE FROM {table} WHERE run_id = ? AND attempt = ?", key)
    db.executemany(
        "INSERT INTO run_tests VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(*key, t.regression_test_id, t.sample_id, t.status, t.exit_code, t.expected_rc) for t in tests],
    )
    _save_errors(db, key, tests, *buckets)
    _save_regression_tests(db, tests, iso(run.completed_at), complete)
