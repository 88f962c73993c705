"""Read stored attempts back as ``RunRecord``s, and what the stored regression tests say of samples."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from datetime import datetime

from reporter.history import RunRecord, TestFailure

_SCOPE = "JOIN attempts a USING (run_id, attempt) JOIN runs r USING (run_id) WHERE r.state != 'filtered'"


def when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def read(db: sqlite3.Connection, condition: str, params: tuple[object, ...]) -> list[RunRecord]:
    """The attempts matching ``condition`` (on ``a``, the attempt, and ``r``, its run), oldest first.

    Runs later filtered out by the configuration are left out; a run pending again after a restart
    keeps its finished attempts.
    """
    failed, regressions = _failed_tests(db, condition, params)
    failures = _failures(db, condition, params)
    shared: dict[str, frozenset[int]] = {}
    rows = db.execute(
        "SELECT a.run_id, a.attempt, r.platform, r.commit_sha, r.branch, r.pr_number, r.test_type, "
        "a.status, a.created_at, a.completed_at, a.tested FROM attempts a JOIN runs r USING (run_id) "
        f"WHERE r.state != 'filtered' AND {condition} ORDER BY a.run_id, a.attempt",
        params,
    )
    return [
        RunRecord(
            run_id=row[0],
            attempt=row[1],
            platform=row[2],
            commit_sha=row[3],
            branch=row[4],
            pr_number=row[5],
            kind=row[6],
            status=row[7],
            created_at=when(row[8]),
            completed_at=when(row[9]),
            tested=_tested(shared, row[10]),
            failures=failures.get((row[0], row[1]), {}),
            failed_regressions=regressions.get((row[0], row[1]), {}),
            failed_tests=failed.get((row[0], row[1]), {}),
        )
        for row in rows
    ]


def regression_tests(db: sqlite3.Connection) -> tuple[dict[int, frozenset[str]], dict[int, tuple[int, ...]]]:
    """Per sample: its category labels (over all its regression tests) and its test ids, ascending."""
    categories: dict[int, set[str]] = defaultdict(set)
    tests: dict[int, list[int]] = defaultdict(list)
    for regression_id, sample_id, labels in db.execute(
        "SELECT regression_id, sample_id, categories FROM regression_tests "
        "WHERE sample_id IS NOT NULL ORDER BY regression_id"
    ):
        tests[sample_id].append(regression_id)
        categories[sample_id].update(json.loads(labels))
    return {s: frozenset(c) for s, c in categories.items()}, {s: tuple(t) for s, t in tests.items()}


Key = tuple[int, int]


def _failed_tests(
    db: sqlite3.Connection, condition: str, params: tuple[object, ...]
) -> tuple[dict[Key, dict[int, tuple[TestFailure, ...]]], dict[Key, dict[int, tuple[int, ...]]]]:
    """Per attempt and failing sample: how each of its tests failed, and their ids, ascending.

    The same test failing the same way in many runs shares one ``TestFailure``.
    """
    tests: dict[Key, dict[int, tuple[TestFailure, ...]]] = {}
    ids: dict[Key, dict[int, tuple[int, ...]]] = {}
    shared: dict[tuple[int, str, int | None, int | None], TestFailure] = {}
    per_test: dict[int, tuple[TestFailure, ...]] = {}
    per_id: dict[int, tuple[int, ...]] = {}
    last: Key = (0, 0)
    for run_id, attempt, sample_id, regression_id, status, exit_code, expected_rc in db.execute(
        "SELECT t.run_id, t.attempt, t.sample_id, t.regression_id, t.status, t.exit_code, t.expected_rc "
        f"FROM run_tests t {_SCOPE} AND t.status != 'pass' AND t.status IN ('fail', 'missing_output') "
        f"AND {condition} ORDER BY t.run_id, t.attempt, t.regression_id",
        params,
    ):
        if sample_id is None:
            continue
        if (run_id, attempt) != last:
            last = (run_id, attempt)
            per_test, per_id = tests[last], ids[last] = {}, {}
        signature = (regression_id, status, exit_code, expected_rc)
        failure = shared.get(signature)
        if failure is None:
            failure = shared[signature] = TestFailure(*signature)
        if sample_id in per_test:
            per_test[sample_id] += (failure,)
            per_id[sample_id] += (regression_id,)
        else:
            per_test[sample_id], per_id[sample_id] = (failure,), (regression_id,)
    return tests, ids


def _failures(
    db: sqlite3.Connection, condition: str, params: tuple[object, ...]
) -> dict[Key, dict[int, tuple[str, ...]]]:
    """Per attempt, each failing sample's error types, in name order."""
    failures: dict[Key, dict[int, tuple[str, ...]]] = defaultdict(dict)
    for run_id, attempt, sample_id in db.execute(
        f"SELECT e.run_id, e.attempt, e.sample_id FROM sample_errors e {_SCOPE} AND {condition}", params
    ):
        failures[(run_id, attempt)][sample_id] = ()
    for run_id, attempt, error_type, sample_ids in db.execute(
        f"SELECT e.run_id, e.attempt, e.error_type, e.sample_ids FROM type_errors e {_SCOPE} AND {condition} "
        "ORDER BY e.error_type",
        params,
    ):
        found = failures.get((run_id, attempt), {})
        for sample_id in json.loads(sample_ids):
            if sample_id in found:
                found[sample_id] = (*found[sample_id], error_type)  # in name order, thanks to ORDER BY
    return failures


def _tested(shared: dict[str, frozenset[int]], text: str | None) -> frozenset[int]:
    key = text or ""
    if key not in shared:
        shared[key] = frozenset(int(part) for part in key.split(",") if part)
    return shared[key]
