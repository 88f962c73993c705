"""Generate a seeded CI history for the simulator, with the truth about every sample and failure."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from reporter.simulator.activity import episodes, even_times, overloads, uneven_times, windows_gaps
from reporter.simulator.model import (
    ERROR_TYPES,
    OWN_CAUSES,
    PLATFORMS,
    REPOSITORY,
    SHARED_CAUSES,
    Attempt,
    Episode,
    Incident,
    Kind,
    Outcome,
    Profile,
    RegressionTest,
    SampleSpec,
    SharedCause,
    SimRun,
)
from reporter.simulator.runs import RunBuilder, World, commit_sha
from reporter.simulator.samples import plant
from reporter.simulator.suite import build_suite

__all__ = [
    "ERROR_TYPES",
    "FAILING_KINDS",
    "FLAKY_KINDS",
    "OWN_CAUSES",
    "PLATFORMS",
    "PROFILES",
    "REPOSITORY",
    "SHARED_CAUSES",
    "Attempt",
    "Episode",
    "Incident",
    "Kind",
    "Outcome",
    "Profile",
    "RegressionTest",
    "SampleSpec",
    "Scenario",
    "SharedCause",
    "SimRun",
    "commit_sha",
    "generate",
]

Pair = tuple[int, str]  # (sample_id, platform)
FLAKY_KINDS: tuple[Kind, ...] = ("flaky", "bursty", "clustered", "rare_flaky")
FAILING_KINDS: tuple[Kind, ...] = ("regression", "platform_broken", "intermittent_regression", "flaky_broken")


@dataclass
class Scenario:
    """A generated history plus its ground truth."""

    seed: int
    start: datetime
    end: datetime
    samples: list[SampleSpec]
    orphan_regression_id: int
    runs: list[SimRun]
    commits: list[str]
    suite: dict[int, RegressionTest] = field(default_factory=dict)
    causes: list[SharedCause] = field(default_factory=list)
    overloads: list[Episode] = field(default_factory=list)
    disk_full: list[Episode] = field(default_factory=list)
    same_code: dict[str, str] = field(default_factory=dict)  # empty commit's SHA -> SHA with its code
    _by_id: dict[int, SimRun] = field(default_factory=dict, init=False, repr=False, compare=False)

    def truth(self, kind: Kind) -> set[Pair]:
        """(sample_id, platform) pairs generated with the given behaviour."""
        return {(s.sample_id, p) for s in self.samples if s.kind == kind for p in s.platforms}

    @property
    def flaky(self) -> set[Pair]:
        """Fails and passes without a code change: plain, bursty, clustered and one-off flakes."""
        return set().union(*(self.truth(k) for k in FLAKY_KINDS))

    @property
    def failing(self) -> set[Pair]:
        """Fails consistently from some commit on (possibly after flaking or failing now and then)."""
        return set().union(*(self.truth(k) for k in FAILING_KINDS))

    @property
    def clusters(self) -> list[frozenset[Pair]]:
        """Groups of samples that fail together from one cause (each member is also in ``flaky``)."""
        return [c.members for c in self.causes if c.kind == "cluster"]

    def failing_since(self) -> dict[Pair, int]:
        """The commit index (into ``commits``) whose code broke each failing pair."""
        return {
            (s.sample_id, p): s.from_commit
            for s in self.samples
            if s.kind in FAILING_KINDS
            for p in s.platforms
        }

    def sample(self, sample_id: int) -> SampleSpec | None:
        return next((s for s in self.samples if s.sample_id == sample_id), None)

    def run(self, run_id: int) -> SimRun | None:
        found = self._by_id.get(run_id)
        if found is None or found.run_id != run_id:
            self._by_id = {r.run_id: r for r in self.runs}
            found = self._by_id.get(run_id)
        return found

    def owner(self, regression_id: int) -> SampleSpec | None:
        """The sample a regression test belongs to (None for the test without a sample)."""
        return next((s for s in self.samples if regression_id in s.regression_ids), None)

    def noise_causes(self) -> dict[Pair, set[str]]:
        """Why pairs that are neither flaky nor failing still failed somewhere.

        Causes: partial_infrastructure, category_outage, infrastructure_run (the shared causes of
        one attempt), pull_request (broken only by one pull request's code) and fixed_regression
        (a regression fixed later). Every attempt finished by ``end`` counts, replaced ones too.
        """
        owners = {r: s for s in self.samples for r in s.regression_ids}
        guilty = self.flaky | self.failing
        found: dict[Pair, set[str]] = {}
        for run in self.runs:
            for attempt in run.attempts:
                if attempt.completed_at > self.end:
                    continue
                for regression_id, verdict in attempt.results.items():
                    spec = owners.get(regression_id)
                    if verdict == "pass" or spec is None or (spec.sample_id, run.platform) in guilty:
                        continue
                    cause = attempt.causes.get(regression_id, "flaky")
                    if cause == "regression" and spec.kind == "fixed":
                        cause = "fixed_regression"
                    found.setdefault((spec.sample_id, run.platform), set()).add(cause)
        return found

    def failure_cause(self, run_id: int, attempt: int, sample_id: int) -> str | None:
        """Why a sample failed in one attempt (index into the run's ``attempts``); None if it passed.

        The sample's own cause (flaky, regression, pull_request) wins over a shared cause
        (partial_infrastructure, category_outage, infrastructure_run) when both made it fail.
        """
        run, spec = self.run(run_id), self.sample(sample_id)
        if run is None or spec is None or not -len(run.attempts) <= attempt < len(run.attempts):
            return None
        chosen = run.attempts[attempt]
        failed = [r for r in spec.regression_ids if chosen.results.get(r, "pass") != "pass"]
        if not failed:
            return None
        causes = [chosen.underlying.get(r) or chosen.causes.get(r, "flaky") for r in failed]
        own = [c for c in causes if c in OWN_CAUSES]
        return min(own, key=OWN_CAUSES.index) if own else causes[0]

    def incidents(self) -> list[tuple[int, int, Incident]]:
        """(run_id, attempt index, incident) for every shared cause that hit an attempt."""
        return [
            (run.run_id, index, incident)
            for run in self.runs
            for index, attempt in enumerate(run.attempts)
            for incident in attempt.incidents
        ]


def generate(seed: int = 7, profile: Profile | None = None, end: datetime | None = None) -> Scenario:
    """Build a deterministic history of ``profile.days`` days ending at ``end``."""
    profile = profile or Profile()
    rng, extra = random.Random(seed), random.Random(f"{seed}:more")
    end = (end or datetime(2026, 11, 28, 6, tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)
    start = end - timedelta(days=profile.days)
    if profile.uneven_activity:
        times = uneven_times(extra, profile, start, end)
    else:
        times = even_times(start, end, max(4, round(profile.days * profile.commits_per_day)))
    n_commits = len(times)
    commits = [commit_sha(seed, f"master-{i}") for i in range(n_commits)]
    busy = overloads(extra, max(profile.overload_episodes, 2 if profile.bursty else 0), times)
    disk_full = episodes(extra, profile.disk_full_episodes, start, end, (2, 10))
    samples, causes = plant(rng, extra, profile, n_commits, busy)
    orphan = max(r for s in samples for r in s.regression_ids) + 1
    suite = build_suite(seed, samples, orphan)
    gaps = windows_gaps(extra, profile) if profile.windows_gap_share else set()
    world = World(seed, profile, samples, orphan, suite, causes, busy, disk_full, start, end, times, gaps)
    builder = RunBuilder(rng, extra, world)
    for index, sha in enumerate(commits):
        builder.commit_runs(index, sha, times[index])
    for number in range(1, profile.pull_requests + 1):
        builder.pull_request(number, n_commits)
    builder.rare_flakes()
    builder.pending(commits[-1], n_commits - 1)
    runs = sorted(builder.runs, key=lambda r: r.created_at)
    for run_id, run in enumerate(runs, start=1):
        run.run_id = run_id
    return Scenario(
        seed,
        start,
        end,
        samples,
        orphan,
        runs,
        commits,
        suite,
        causes,
        busy,
        disk_full,
        builder.same_code,
    )


BASE = Profile(days=30, samples=60, commits_per_day=3, pending_runs=0)
HARD = replace(
    BASE,
    flaky_share=0.1,
    flaky_rates=(0.04, 0.06, 0.1, 0.2, 0.35),
    regressions=2,
    fixed_regressions=3,
    fixed_span=(1, 5),
    pull_requests=8,
    pr_breakages=3,
    rerun_share=0.02,
    cancel_share=0.03,
    infra_share=0.015,
    partial_infra_share=0.06,
    disk_full_episodes=2,
    category_outage_share=0.03,
    overload_episodes=5,
    bursty=3,
    clusters=2,
    rare_flaky=2,
    intermittent_regressions=2,
    flaky_broken=1,
    rerun_after_red=0.14,
    rerun_after_infra=0.8,
    restart_after_red=0.06,
    empty_commit_share=0.08,
    uneven_activity=True,
    windows_gap_share=0.15,
)
PROFILES: dict[str, Profile] = {
    "small": replace(BASE, days=14, samples=20),
    "quiet": replace(BASE, flaky_share=0.08, flaky_rates=(0.04, 0.08), infra_share=0.005, cancel_share=0.01),
    "realistic": BASE,
    "noisy": replace(BASE, infra_share=0.15, cancel_share=0.10, rerun_share=0.3, pull_requests=8),
    "large": replace(BASE, samples=150, commits_per_day=5),
    "hard": HARD,
}
