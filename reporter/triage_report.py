"""What a triage reports: per run, each failing sample's verdict with its evidence; read by formats.

``reporter.triage`` gives the verdicts (its docstring has the rules); these objects carry them to
the formats (text, Markdown, GitHub comments, JSON) unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from reporter.analysis import RunRef


class Verdict(StrEnum):
    """What a failing sample of a pull-request run is put down to; the values are what JSON shows."""

    KNOWN_FLAKY = "known_flaky"
    FAILING_ON_MASTER = "failing_on_master"
    INFRASTRUCTURE = "infrastructure"
    NEW_FAILURE = "new_failure"
    UNKNOWN = "unknown"


ORDER = (
    Verdict.NEW_FAILURE,
    Verdict.UNKNOWN,
    Verdict.FAILING_ON_MASTER,
    Verdict.KNOWN_FLAKY,
    Verdict.INFRASTRUCTURE,
)

SHORT = {
    Verdict.NEW_FAILURE: "new",
    Verdict.UNKNOWN: "unknown",
    Verdict.FAILING_ON_MASTER: "failing on master",
    Verdict.KNOWN_FLAKY: "known flaky",
    Verdict.INFRASTRUCTURE: "infrastructure",
}


@dataclass(frozen=True, slots=True)
class FlakyEvidence:
    """The sample's flaky finding on this platform."""

    score: float
    failures: int
    runs: int
    history: str
    last_failure: RunRef | None
    failing_runs: tuple[int, ...]  # the latest few
    same_commit_disagreements: int
    cluster: int | None = None


@dataclass(frozen=True, slots=True)
class MasterEvidence:
    """Master failing the sample on this platform: since which run, how many in a row, fixed where."""

    since: RunRef
    failures: int
    fixed: RunRef | None
    last: RunRef


@dataclass(frozen=True, slots=True)
class InfraEvidence:
    """A shared cause in this run attempt, as the analysis names it: ``run`` (most samples failed),
    ``tail`` (every test from one on), ``category`` or ``signature`` (many failing one way)."""

    cause: str
    signature: str
    samples: int


@dataclass(frozen=True, slots=True)
class PullRun:
    """Another run of the same pull request that tested the sample."""

    run_id: int
    platform: str
    commit_sha: str
    same_commit: bool
    earlier: bool
    failed: bool


@dataclass(frozen=True, slots=True)
class NewEvidence:
    """Why it looks like this pull request's change: its other runs, and master's last pass."""

    pull_runs: tuple[PullRun, ...]
    master_passed: RunRef | None
    broken_in_pull_request: bool

    @property
    def failed_elsewhere(self) -> int:
        return sum(run.failed for run in self.pull_runs)


@dataclass(frozen=True, slots=True)
class UnknownEvidence:
    """Too little history: how often master tested the sample on this platform."""

    master_runs: int
    needed: int


Evidence = FlakyEvidence | MasterEvidence | InfraEvidence | NewEvidence | UnknownEvidence


@dataclass(frozen=True, slots=True)
class SampleVerdict:
    """One failing sample of a run, what it is put down to, and the evidence."""

    sample_id: int
    sample_name: str
    verdict: Verdict
    error_types: tuple[str, ...]
    regression_ids: tuple[int, ...]
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class RunTriage:
    """The verdicts for one finished run (usually a pull request's)."""

    run_id: int
    attempt: int
    pr_number: int | None
    platform: str
    commit_sha: str
    status: str
    completed_at: datetime | None
    verdicts: tuple[SampleVerdict, ...]

    def count(self, verdict: Verdict) -> int:
        return sum(1 for v in self.verdicts if v.verdict == verdict)

    def ordered(self) -> list[SampleVerdict]:
        """New failures first (what the contributor has to look at), then by sample."""
        return sorted(self.verdicts, key=lambda v: (ORDER.index(v.verdict), v.sample_id))

    @property
    def summary(self) -> str:
        """``3 failing: 1 new, 2 known flaky``, or that every sample passed."""
        if self.status not in ("pass", "fail"):
            return f"{self.status}: no results to judge"
        if not self.verdicts:
            return "every sample passed"
        counts = [f"{self.count(v)} {SHORT[v]}" for v in ORDER if self.count(v)]
        return f"{len(self.verdicts)} failing: {', '.join(counts)}"

    @property
    def key(self) -> tuple[int, int]:
        return (self.run_id, self.attempt)


@dataclass(frozen=True, slots=True)
class Triage:
    """What ``reporter triage`` reports: the runs judged, when, from how many days of history."""

    generated_at: datetime
    runs: tuple[RunTriage, ...]
    web_url: str
    window_days: int
