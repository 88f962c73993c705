"""Read stored attempts back as ``RunRecord``s, and what the stored regression tests say of samples."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from itertools import groupby
from operator import itemgetter

from reporter.history import RunRecord, TestFailure


def when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def read(db: sqlite3.Connection, condition: str, params: tuple[object, ...]) -> list[RunRecord]:
    """The attempts matching ``condition`` (on ``a``, the attempt, and ``r``, its run), oldest first.

    Runs later filtered out by the configuration are left out; a run pending again after a restart
    keeps its finished attempts. The attempts are read first; their failing results and errors then
    come from one pass over their runs (no join per row), kept only for those attempts.
    """
    rows = db.execute(
        "SELECT a.run_id, a.attempt, r.platform, r.commit_sha, r.branch, r.pr_number, r.test_type, "
        "a.status, a.created_at, a.completed_at, a.tested FROM attempts a JOIN runs r USING (run_id) "
        f"WHERE r.state != 'filtered' AND {condition} ORDER BY a.run_id, a.attempt",
        params,
    ).fetchall()
    if not rows:
        return []
    keys = {(row[0], row[1]) for row in rows}
    scope = _scope(sorted({row[0] for row in rows}))
    failed, regressions = _failed_tests(db, keys, scope)
    failures = _failures(db, keys, scope)
    shared: dict[str, frozenset[int]] = {}
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
Scope = tuple[str, tuple[int, ...]]  # a condition on run_id, and its parameters


def _scope(run_ids: list[int]) -> Scope:
    """The runs to read rows of: one range when they lie close together (a window), else the list."""
    if len(run_ids) > MAX_LISTED or run_ids[-1] - run_ids[0] < 4 * len(run_ids):
        return "run_id BETWEEN ? AND ?", (run_ids[0], run_ids[-1])
    return f"run_id IN ({','.join('?' * len(run_ids))})", tuple(run_ids)


_BY_ATTEMPT = itemgetter(0, 1)
MAX_LISTED = 500  # run ids listed in one query at most (Store.records reads in chunks of this size)


def _failed_tests(
    db: sqlite3.Connection, keys: set[Key], scope: Scope
) -> tuple[dict[Key, dict[int, tuple[TestFailure, ...]]], dict[Key, dict[int, tuple[int, ...]]]]:
    """Per attempt in ``keys`` and failing sample: how each of its tests failed, and their ids, ascending.

    The same test failing the same way in many runs shares one ``TestFailure`` (and the one-test
    tuples holding it and its id). The rows come in index order (run, attempt, regression test),
    read from the index alone (migration 007).
    """
    tests: dict[Key, dict[int, tuple[TestFailure, ...]]] = {}
    ids: dict[Key, dict[int, tuple[int, ...]]] = {}
    shared: dict[tuple[int, str, int | None, int | None], tuple[tuple[TestFailure], tuple[int]]] = {}
    rows = db.execute(
        "SELECT run_id, attempt, sample_id, regression_id, status, exit_code, expected_rc FROM run_tests "
        f"WHERE status != 'pass' AND status IN ('fail', 'missing_output') AND {scope[0]} "
        "AND sample_id IS NOT NULL ORDER BY run_id, attempt, regression_id",
        scope[1],
    )
    for key, group in groupby(rows, _BY_ATTEMPT):
        if key not in keys:
            continue
        per_test: dict[int, tuple[TestFailure, ...]] = {}
        per_id: dict[int, tuple[int, ...]] = {}
        for row in group:
            signature = row[3:]
            one = shared.get(signature)
            if one is None:
                failure = TestFailure(*signature)
                one = shared[signature] = ((failure,), (failure.regression_id,))
            sample_id = row[2]
            if sample_id in per_test:
                per_test[sample_id] += one[0]
                per_id[sample_id] += one[1]
            else:
                per_test[sample_id], per_id[sample_id] = one
        tests[key], ids[key] = per_test, per_id
    return tests, ids


def _failures(db: sqlite3.Connection, keys: set[Key], scope: Scope) -> dict[Key, dict[int, tuple[str, ...]]]:
    """Per attempt in ``keys``, each failing sample's error types, in name order."""
    failures: dict[Key, dict[int, tuple[str, ...]]] = {}
    for run_id, attempt, sample_ids in db.execute(  # one row an attempt: far fewer values to convert
        f"SELECT run_id, attempt, group_concat(sample_id) FROM sample_errors WHERE {scope[0]} "
        "GROUP BY run_id, attempt",
        scope[1],
    ):
        if (run_id, attempt) in keys:
            failures[(run_id, attempt)] = dict.fromkeys(sorted(map(int, sample_ids.split(","))), ())
    rows = db.execute(
        f"SELECT run_id, attempt, error_type, sample_ids FROM type_errors WHERE {scope[0]} "
        "ORDER BY run_id, attempt, error_type",
        scope[1],
    )
    for key, group in groupby(rows, _BY_ATTEMPT):
        if key in failures:
            _add_types(failures[key], group)
    return failures


def _add_types(found: dict[int, tuple[str, ...]], listed: Iterable[tuple[int, int, str, str]]) -> None:
    """Give one attempt's failing samples the error types that list them, in name order."""
    for number, (_, _, error_type, sample_ids) in enumerate(listed):
        hit = found.keys() & json.loads(sample_ids)
        if number == 0:  # every sample still has no type: one shared tuple for all of them
            found.update(dict.fromkeys(hit, (error_type,)))
        else:
            for sample_id in hit:
                found[sample_id] += (error_type,)


def _tested(shared: dict[str, frozenset[int]], text: str | None) -> frozenset[int]:
    key = text or ""
    if key not in shared:
        shared[key] = frozenset(int(part) for part in key.split(",") if part)
    return shared[key]
