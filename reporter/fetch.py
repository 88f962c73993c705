"""Read a finished run's per-test results in as few requests as correctness allows.

``/runs/{id}/samples`` lists a run's results, 100 a page; when one page holds them all, that one
request is the whole cost. On a larger suite the run's summary (one request) gives how many
tests passed, failed and gave no output. If as many tests ran as in a complete listing of a run
close in time on the same platform (the reference), only the failing ones are listed
(``status=fail``, ``status=missing_output``) and the others passed. Whatever does not add up (a
different count, a failing test the reference lacks, counts that move between requests, no
reference within ``REFERENCE_MAX_AGE``) falls back to the complete listing, which becomes the next
reference; so does the case where filtering would not save a request. Error types are derived
from each result's status and exit codes, as the platform derives them (``RunSample.error_types``).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from reporter.client import PlatformClient
from reporter.errors import RunChanged
from reporter.models import EVIDENCE, Run, RunSample, RunSummary
from reporter.store import TestSet

logger = logging.getLogger(__name__)
PAGE = 100  # the platform's largest page
REFERENCE_MAX_AGE = timedelta(hours=72)  # a complete listing at least this often per platform
KEPT = 32  # complete listings remembered per platform


@dataclass(frozen=True, slots=True)
class RunResults:
    """One attempt of a run with every tested regression test's result.

    ``complete`` when every row was listed by the platform; otherwise the passing rows were
    inferred from a reference listing and carry no exit codes or categories.
    """

    run: Run
    tests: tuple[RunSample, ...]
    complete: bool


class References:
    """Complete listings per platform, for runs near them in time; shared by the fetching threads."""

    def __init__(self, known: Iterable[TestSet] = (), max_age: timedelta = REFERENCE_MAX_AGE) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._sets: dict[str, list[TestSet]] = defaultdict(list)
        for test_set in known:
            self.add(test_set)

    def add(self, test_set: TestSet) -> None:
        if test_set.completed_at is None or not test_set.samples:
            return
        with self._lock:
            kept = self._sets[test_set.platform]
            kept.append(test_set)
            del kept[:-KEPT]

    def near(self, run: Run, size: int | None = None) -> TestSet | None:
        """The listing closest in time to ``run`` on its platform (of ``size`` tests if given).

        Only listings within ``max_age`` of the run count.
        """
        moment = run.completed_at
        if moment is None:
            return None
        with self._lock:
            kept = [t for t in self._sets.get(run.platform, []) if size is None or len(t.samples) == size]
        timed = [(abs(t.completed_at - moment), i, t) for i, t in enumerate(kept) if t.completed_at]
        if not timed:
            return None
        gap, _, best = min(timed)
        return best if gap <= self.max_age else None


def fetch(client: PlatformClient, run: Run, references: References) -> RunResults:
    """Every tested regression test's result in ``run`` (a finished pass or fail run)."""
    reference = references.near(run)
    if reference is None or _pages(len(reference.samples)) <= 1:
        why = "no complete listing near it" if reference is None else "one page holds them"
        return _complete(client, run, references, why)
    counts = _summary_counts(run, client.summary(run.run_id))
    tested = sum(counts.values())
    failing = {status: n for status, n in counts.items() if status != "pass" and n}
    reference = references.near(run, tested)
    if reference is None:
        return _complete(client, run, references, f"no complete listing of {tested} tests near it")
    if sum(map(_pages, failing.values())) >= _pages(tested):
        return _complete(client, run, references, "filtering would not save a request")
    rows: list[RunSample] = []
    for status, count in failing.items():
        listed = client.run_samples(run.run_id, status)
        if any(row.status != status for row in listed):
            logger.info("run %d: the platform ignores the status filter; using its full listing", run.run_id)
            return _checked(run, listed, references)
        if len(listed) != count:  # re-judged since the summary: the complete listing says how
            return _complete(client, run, references, f"{count} {status} counted, {len(listed)} listed")
        rows += listed
    if any(row.regression_test_id not in reference.samples for row in rows):
        return _complete(client, run, references, "a failing test the reference lacks")
    listed_ids = {row.regression_test_id for row in rows}
    passes = [
        RunSample(regression_test_id=regression_id, sample_id=sample_id, status="pass")
        for regression_id, sample_id in reference.samples.items()
        if regression_id not in listed_ids
    ]
    tests = tuple(sorted(rows + passes, key=lambda t: t.regression_test_id))
    return RunResults(run, tests, complete=False)


def _pages(count: int) -> int:
    return math.ceil(count / PAGE)


def _summary_counts(run: Run, summary: RunSummary) -> dict[str, int]:
    if summary.status not in EVIDENCE:
        raise RunChanged(
            f"run {run.run_id}: listed as {run.status} but its summary says {summary.status}; "
            "it changed while being read and will be read again",
            run_id=run.run_id,
        )
    return {
        "pass": summary.pass_count,
        "fail": summary.fail_count,
        "missing_output": summary.missing_output_count,
    }


def _complete(client: PlatformClient, run: Run, references: References, why: str) -> RunResults:
    logger.debug("run %d: listing every test (%s)", run.run_id, why)
    return _checked(run, client.run_samples(run.run_id), references)


def _checked(run: Run, tests: list[RunSample], references: References) -> RunResults:
    """A complete listing, if it shows results (it is the truth about the run); the next reference."""
    tested = {t.regression_test_id: t.sample_id for t in tests if t.tested}
    if not tested:
        raise RunChanged(
            f"run {run.run_id}: finished as {run.status} but lists no results (restarted?); "
            "it will be read again",
            run_id=run.run_id,
        )
    references.add(TestSet(run.platform, run.completed_at, tested))
    return RunResults(run, tuple(sorted(tests, key=lambda t: t.regression_test_id)), complete=True)
