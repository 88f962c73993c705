"""The simulated platform's data: profiles, samples, runs and their attempts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Outcome = Literal["completed", "canceled", "error"]
Kind = Literal[
    "stable",
    "flaky",
    "regression",
    "fixed",
    "platform_broken",
    "pr_broken",
    "new",
    "bursty",
    "clustered",
    "rare_flaky",
    "intermittent_regression",
    "flaky_broken",
]
ERROR_TYPES = ("exit_code_mismatch", "missing_output", "diff_mismatch")
PLATFORMS = ("linux", "windows")
REPOSITORY = "CCExtractor/ccextractor"

# Why a test failed in one attempt. The first group belongs to the sample itself, the second is a
# cause shared by many tests of one run.
OWN_CAUSES = ("flaky", "regression", "pull_request")
SHARED_CAUSES = ("partial_infrastructure", "category_outage", "infrastructure_run")


@dataclass(frozen=True)
class Profile:
    """Size and noise of a generated history.

    The knobs after ``restart_share`` are off by default, so a profile that does not set them
    generates exactly the history it always did for a given seed.
    """

    days: int = 14
    samples: int = 40
    commits_per_day: float = 3.0
    flaky_share: float = 0.15
    flaky_rates: tuple[float, ...] = (0.08, 0.15, 0.3)
    regressions: int = 3
    fixed_regressions: int = 2
    platform_broken: int = 1
    pull_requests: int = 4
    rerun_share: float = 0.15
    cancel_share: float = 0.03
    infra_share: float = 0.03
    pending_runs: int = 3
    restart_share: float = 0.0
    # -- shared causes inside one run ------------------------------------------------------
    partial_infra_share: float = 0.0  # runs whose worker dies or fills its disk part-way
    disk_full_episodes: int = 0  # hours on one platform when most runs hit a full disk
    category_outage_share: float = 0.0  # runs where one category's tests all exit with 2
    # -- kinds of flakiness ----------------------------------------------------------------
    overload_episodes: int = 0  # hours-to-a-day spans of one platform under load
    bursty: int = 0  # samples that flake only during overload episodes
    clusters: int = 0  # groups of 3-6 samples failing together from one cause
    rare_flaky: int = 0  # samples failing once, in a run whose same-commit re-run passed
    # -- kinds of breakage -----------------------------------------------------------------
    intermittent_regressions: int = 0  # regressions failing now and then before failing always
    flaky_broken: int = 0  # flaky samples a later regression breaks for good
    pr_breakages: int = 0  # more samples broken by one pull request's own code
    fixed_span: tuple[int, int] | None = None  # commits a fixed regression lasts (None: long)
    # -- how people run CI -----------------------------------------------------------------
    rerun_after_red: float = 0.0  # a surprising red run gets a new run on the same commit
    rerun_after_infra: float = 0.0  # a run whose infrastructure broke is retried (either way)
    restart_after_red: float = 0.0  # a red attempt is restarted under the same run id
    empty_commit_share: float = 0.0  # a red master commit is followed by an empty commit
    uneven_activity: bool = False  # quiet weeks and busy days instead of a steady pace
    windows_gap_share: float = 0.0  # days on which most Windows runs do not happen


@dataclass(frozen=True)
class SampleSpec:
    """One media sample, its regression tests and how it is meant to behave."""

    sample_id: int
    name: str
    regression_ids: tuple[int, ...]
    kind: Kind
    platforms: tuple[str, ...] = PLATFORMS
    fail_rate: float = 0.0
    error_types: tuple[str, ...] = ("exit_code_mismatch",)
    from_commit: int = 0
    fix_commit: int | None = None
    pr_number: int | None = None
    steady_commit: int | None = None  # intermittent regression: fails always from this commit
    group: int | None = None  # clustered: index of its shared cause in ``Scenario.causes``
    pr_fixed_push: int | None = None  # pr_broken: the push of the pull request that fixes it


@dataclass(frozen=True)
class RegressionTest:
    """One regression test of the suite as the platform describes it."""

    regression_id: int
    sample_id: int | None
    categories: tuple[str, ...]
    expected_rc: int
    command: str


@dataclass(frozen=True)
class Incident:
    """A cause shared by several tests of one attempt (what an operator would call noise)."""

    cause: str  # one of SHARED_CAUSES
    regression_ids: tuple[int, ...]
    exit_code: int | None = None
    category: str | None = None


@dataclass(frozen=True)
class SharedCause:
    """Something outside the code that makes several samples fail together."""

    kind: Literal["cluster", "overload"]
    members: frozenset[tuple[int, str]]
    platforms: tuple[str, ...]
    fire_rate: float = 0.0  # cluster: share of runs in which the cause fires
    member_rate: float = 0.0  # cluster: chance a member fails when it fires
    fault: str = ""  # cluster: how members fail (missing_output, read_error, killed, diff_mismatch)


@dataclass(frozen=True)
class Episode:
    """A span of time on one platform (an overload, a full disk)."""

    platform: str
    start: datetime
    end: datetime

    def covers(self, platform: str, moment: datetime) -> bool:
        return platform == self.platform and self.start <= moment < self.end


@dataclass
class Attempt:
    """One execution of a run; a restart adds another under the same run id."""

    queued_at: datetime
    started_at: datetime
    completed_at: datetime
    outcome: Outcome
    results: dict[int, str]  # regression_id -> pass | error type
    exit_codes: dict[int, int] = field(default_factory=dict)  # regression_id -> rc, when set
    causes: dict[int, str] = field(default_factory=dict)  # failing regression_id -> what made it fail
    underlying: dict[int, str] = field(default_factory=dict)  # own cause hidden under a shared one
    incidents: list[Incident] = field(default_factory=list)


@dataclass
class SimRun:
    """A CI run as the platform stores it."""

    run_id: int
    platform: str
    commit_sha: str
    commit_index: int
    branch: str
    test_type: str
    pr_number: int | None
    created_at: datetime
    attempts: list[Attempt] = field(default_factory=list)
    infra_broken: bool = False
    push: int = 0  # pull-request runs: which push of the pull request
