"""A simulated scenario as the history ingestion would store, built in process (no HTTP, no store).

For iterating on the analysis over many seeds in seconds: every finished attempt becomes a
``RunRecord`` read off the simulator's own API views at the moment it finished (tested samples from
``/runs/{id}/samples``, failing samples and error types from the error summary, failing tests with
their exit codes), as ``poll`` stores them. Reported figures still come from the real pipeline
(benchmarks/evaluate_detection.py).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from reporter.history import History, RunRecord, TestFailure
from reporter.simulator import Scenario
from reporter.simulator.model import Attempt, SimRun
from reporter.simulator.views import error_buckets, run_samples, run_status

TESTED = ("pass", "fail", "missing_output")


def history_of(scenario: Scenario, every_attempt: bool = True) -> History:
    """Every attempt finished by the scenario's end, oldest run first, attempts in order.

    ``every_attempt`` False keeps only the attempt in force at the end, as one backfill at the end
    sees a restarted run (a daemon polling every few minutes sees each attempt).
    """
    records: list[RunRecord] = []
    categories: dict[int, set[str]] = defaultdict(set)
    tests: dict[int, set[int]] = defaultdict(set)
    names: dict[int, str] = {}
    shared: dict[frozenset[int], frozenset[int]] = {}
    for run in sorted(scenario.runs, key=lambda r: r.run_id):
        attempt_no = 0
        finished = [a for a in run.attempts if a.completed_at <= scenario.end]
        for attempt in finished if every_attempt else finished[-1:]:
            attempt_no += 1
            record = _record(scenario, run, attempt, attempt_no, shared)
            if record is None:
                continue
            records.append(record[0])
            for row in record[1]:
                if row["sample_id"] is not None:
                    categories[row["sample_id"]].update(row["categories"])
                    tests[row["sample_id"]].add(row["regression_test_id"])
                    names[row["sample_id"]] = row["sample_name"]
    return History(
        tuple(records),
        names,
        {s: frozenset(c) for s, c in categories.items()},
        {s: tuple(sorted(t)) for s, t in tests.items()},
    )


def _record(
    scenario: Scenario,
    run: SimRun,
    attempt: Attempt,
    number: int,
    shared: dict[frozenset[int], frozenset[int]],
) -> tuple[RunRecord, list[dict[str, Any]]] | None:
    now = attempt.completed_at
    status = run_status(run, now)
    if status in ("queued", "running"):
        return None
    rows = run_samples(scenario, run, now)
    tested = frozenset(r["sample_id"] for r in rows if r["sample_id"] is not None and r["status"] in TESTED)
    tested = shared.setdefault(tested, tested)
    by_sample = error_buckets(scenario, run, now, "sample_id", None)
    by_type = error_buckets(scenario, run, now, "type", None)
    failures: dict[int, tuple[str, ...]] = {int(b["key"]): () for b in by_sample if b["key"].isdigit()}
    for bucket in sorted(by_type, key=lambda b: b["key"]):
        for sample_id in bucket["sample_ids"]:
            if sample_id in failures:
                failures[sample_id] = (*failures[sample_id], bucket["key"])
    failed: dict[int, list[TestFailure]] = defaultdict(list)
    for row in rows:
        if row["sample_id"] is not None and row["status"] in ("fail", "missing_output"):
            failed[row["sample_id"]].append(
                TestFailure(row["regression_test_id"], row["status"], row["exit_code"], row["expected_rc"])
            )
    record = RunRecord(
        run_id=run.run_id,
        platform=run.platform,
        commit_sha=run.commit_sha,
        branch=run.branch,
        pr_number=run.pr_number,
        kind=run.test_type,
        status=status,
        created_at=run.created_at,
        completed_at=attempt.completed_at,
        tested=tested,
        failures=failures,
        failed_regressions={s: tuple(t.regression_id for t in f) for s, f in failed.items()},
        attempt=number,
        failed_tests={s: tuple(f) for s, f in failed.items()},
    )
    return record, rows
