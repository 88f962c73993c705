"""The ingested CI history as frozen records: what the store hands to the analysis."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One finished run with what it says about each sample it tested."""

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

    @property
    def evidence(self) -> bool:
        """Only pass and fail runs say anything about samples; canceled and error runs do not."""
        return self.status in ("pass", "fail")


@dataclass(frozen=True, slots=True)
class History:
    """Everything the analysis reads: runs oldest first, and sample names."""

    runs: tuple[RunRecord, ...]
    sample_names: Mapping[int, str]
