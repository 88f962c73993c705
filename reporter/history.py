"""The ingested CI history as frozen records: what the store hands to the analysis."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class TestFailure:
    """One regression test that did not pass in a run: how it failed, as the platform reported it."""

    __test__ = False  # not a pytest test class, despite the name

    regression_id: int
    status: str  # "fail" or "missing_output"
    exit_code: int | None = None
    expected_rc: int | None = None

    @property
    def unexpected_exit(self) -> bool:
        """The test exited with a code it was not expected to (crash, full disk, missing input...)."""
        return self.exit_code is not None and self.exit_code != (self.expected_rc or 0)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One finished attempt of a run, with what it says about each sample it tested.

    A run restarted under the same id (``POST /runs/{id}/restart``) gives one record per finished
    attempt: the same ``run_id`` and commit, ``attempt`` 1, 2, ...; ``(run_id, attempt)`` is unique.
    """

    run_id: int
    platform: str
    commit_sha: str
    branch: str | None
    pr_number: int | None
    kind: str
    status: str
    created_at: datetime | None
    completed_at: datetime | None
    tested: frozenset[int] = frozenset()
    failures: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    failed_regressions: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    attempt: int = 1
    failed_tests: Mapping[int, tuple[TestFailure, ...]] = field(default_factory=dict)  # per sample id

    @property
    def evidence(self) -> bool:
        """Only pass and fail runs say anything about samples; canceled and error runs do not."""
        return self.status in ("pass", "fail")

    @property
    def key(self) -> tuple[int, int]:
        """Unique per record: the run id and the attempt."""
        return (self.run_id, self.attempt)


@dataclass(frozen=True, slots=True)
class History:
    """Everything the analysis reads: records oldest first, sample names, and what each sample is.

    ``categories`` holds each sample's category labels (the union over its regression tests, e.g.
    ``{"DVB"}``); ``sample_tests`` each sample's regression test ids, ascending: the platform runs
    tests in regression-id order, so this gives the order in which a run reached each sample.
    Either may be empty (older state files, or samples never listed in full).
    """

    runs: tuple[RunRecord, ...]
    sample_names: Mapping[int, str]
    categories: Mapping[int, frozenset[str]] = field(default_factory=dict)
    sample_tests: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
