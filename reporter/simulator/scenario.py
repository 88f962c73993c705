"""Generate a seeded CI history for the simulator, with the truth about every sample."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

Outcome = Literal["completed", "canceled", "error"]
Kind = Literal["stable", "flaky", "regression", "fixed", "platform_broken", "pr_broken", "new"]
ERROR_TYPES = ("exit_code_mismatch", "missing_output", "diff_mismatch")
PLATFORMS = ("linux", "windows")
REPOSITORY = "CCExtractor/ccextractor"


@dataclass(frozen=True)
class Profile:
    """Size and noise of a generated history."""

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


@dataclass
class Attempt:
    """One execution of a run; a restart adds another under the same run id."""

    queued_at: datetime
    started_at: datetime
    completed_at: datetime
    outcome: Outcome
    results: dict[int, str]  # regression_id -> pass | error type


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

    def truth(self, kind: Kind) -> set[tuple[int, str]]:
        """(sample_id, platform) pairs generated with the given behaviour."""
        return {(s.sample_id, p) for s in self.samples if s.kind == kind for p in s.platforms}

    @property
    def flaky(self) -> set[tuple[int, str]]:
        return self.truth("flaky")

    @property
    def failing(self) -> set[tuple[int, str]]:
        return self.truth("regression") | self.truth("platform_broken")

    def sample(self, sample_id: int) -> SampleSpec | None:
        return next((s for s in self.samples if s.sample_id == sample_id), None)


def commit_sha(seed: int, label: str) -> str:
    return hashlib.sha1(f"{seed}:{label}".encode(), usedforsecurity=False).hexdigest()


def generate(seed: int = 7, profile: Profile | None = None, end: datetime | None = None) -> Scenario:
    """Build a deterministic history of ``profile.days`` days ending at ``end``."""
    profile = profile or Profile()
    rng = random.Random(seed)
    end = (end or datetime(2026, 11, 28, 6, tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)
    start = end - timedelta(days=profile.days)
    n_commits = max(4, round(profile.days * profile.commits_per_day))
    commits = [commit_sha(seed, f"master-{i}") for i in range(n_commits)]
    samples = _samples(rng, profile, n_commits)
    orphan = max(r for s in samples for r in s.regression_ids) + 1
    builder = _RunBuilder(rng, profile, samples, orphan, start, end)
    for index, sha in enumerate(commits):
        at = start + (end - start) * (index + 0.5) / (n_commits + 1)
        builder.commit_runs(index, sha, at)
    for number in range(1, profile.pull_requests + 1):
        builder.pull_request(seed, number, n_commits)
    builder.pending(commits[-1], n_commits - 1)
    runs = sorted(builder.runs, key=lambda r: r.created_at)
    for run_id, run in enumerate(runs, start=1):
        run.run_id = run_id
    return Scenario(seed, start, end, samples, orphan, runs, commits)


_NAMES = (
    "broadcast",
    "teletext",
    "dvb-sub",
    "cea708",
    "mp4-tx3g",
    "atsc",
    "wtv",
    "mkv",
    "h264",
    "scc",
    "isdb",
    "hdhomerun",
    "bbc-one",
    "arte",
    "nhk",
    "tivo",
    "ts-pat",
    "rai",
    "ota",
)


def _samples(rng: random.Random, profile: Profile, n_commits: int) -> list[SampleSpec]:
    kinds: list[Kind] = ["stable"] * profile.samples
    cursor = 0
    planted: tuple[tuple[Kind, int], ...] = (
        ("regression", profile.regressions),
        ("fixed", profile.fixed_regressions),
        ("platform_broken", profile.platform_broken),
        ("pr_broken", 1),
        ("new", 1),
        ("flaky", round(profile.samples * profile.flaky_share)),
    )
    for kind, count in planted:
        for _ in range(count):
            if cursor < len(kinds):
                kinds[cursor] = kind
                cursor += 1
    rng.shuffle(kinds)
    specs: list[SampleSpec] = []
    next_regression = 1
    for index, kind in enumerate(kinds):
        sample_id = 100 + index * 3 + 1
        n_tests = 2 if rng.random() < 0.25 else 1
        regression_ids = tuple(range(next_regression, next_regression + n_tests))
        next_regression += n_tests
        name = f"{rng.choice(_NAMES)}-{sample_id}.{rng.choice(('ts', 'mp4', 'mkv', 'wtv'))}"
        specs.append(_spec(rng, kind, sample_id, name, regression_ids, n_commits, profile))
    return specs


def _spec(
    rng: random.Random,
    kind: Kind,
    sample_id: int,
    name: str,
    regression_ids: tuple[int, ...],
    n_commits: int,
    profile: Profile,
) -> SampleSpec:
    one_platform = (rng.choice(PLATFORMS),)
    if kind == "flaky":
        platforms = one_platform if rng.random() < 0.4 else PLATFORMS
        types = ERROR_TYPES if rng.random() < 0.5 else (rng.choice(ERROR_TYPES),)
        return SampleSpec(
            sample_id, name, regression_ids, kind, platforms, rng.choice(profile.flaky_rates), types
        )
    if kind in ("regression", "fixed"):
        first = rng.randint(n_commits // 4, n_commits // 2)
        fix = (
            min(rng.randint(first + 4, max(first + 4, n_commits - 8)), n_commits - 2)
            if kind == "fixed"
            else None
        )
        platforms = one_platform if rng.random() < 0.5 else PLATFORMS
        return SampleSpec(
            sample_id, name, regression_ids, kind, platforms, 1.0, (rng.choice(ERROR_TYPES),), first, fix
        )
    if kind == "platform_broken":
        return SampleSpec(sample_id, name, regression_ids, kind, one_platform, 1.0, ("missing_output",))
    if kind == "pr_broken":
        return SampleSpec(
            sample_id, name, regression_ids, kind, PLATFORMS, 1.0, ("exit_code_mismatch",), pr_number=1
        )
    if kind == "new":
        return SampleSpec(sample_id, name, regression_ids, kind, PLATFORMS, from_commit=n_commits - 6)
    return SampleSpec(sample_id, name, regression_ids, "stable")


class _RunBuilder:
    def __init__(
        self,
        rng: random.Random,
        profile: Profile,
        samples: list[SampleSpec],
        orphan: int,
        start: datetime,
        end: datetime,
    ) -> None:
        self.rng, self.profile, self.samples, self.orphan = rng, profile, samples, orphan
        self.start, self.end = start, end
        self.runs: list[SimRun] = []

    def commit_runs(self, index: int, sha: str, at: datetime) -> None:
        for platform in PLATFORMS:
            self._add(sha, index, platform, "master", "commit", None, at)
            if self.rng.random() < self.profile.rerun_share:
                self._add(
                    sha,
                    index,
                    platform,
                    "master",
                    "commit",
                    None,
                    at + timedelta(minutes=self.rng.randint(30, 240)),
                )

    def pull_request(self, seed: int, number: int, n_commits: int) -> None:
        base = self.rng.randint(n_commits // 3, n_commits - 3)
        for push in range(self.rng.randint(2, 4)):
            sha = commit_sha(seed, f"pr-{number}-{push}")
            at = self.start + (self.end - self.start) * (base + push * 0.3 + 0.6) / (n_commits + 1)
            for platform in PLATFORMS:
                self._add(sha, base, platform, "pull_request", "pr", number, at)

    def pending(self, sha: str, index: int) -> None:
        for n in range(self.profile.pending_runs):
            at = self.end - timedelta(minutes=10 + 25 * n)
            self._add(sha, index, PLATFORMS[n % 2], "master", "commit", None, at, pending=True)

    def _add(
        self,
        sha: str,
        index: int,
        platform: str,
        branch: str,
        test_type: str,
        pr_number: int | None,
        at: datetime,
        pending: bool = False,
    ) -> None:
        if at >= self.end and not pending:
            return
        run = SimRun(0, platform, sha, index, branch, test_type, pr_number, at)
        roll = self.rng.random()
        outcome: Outcome = "completed"
        if roll < self.profile.cancel_share:
            outcome = "canceled" if self.rng.random() < 0.7 else "error"
        elif roll < self.profile.cancel_share + self.profile.infra_share:
            run.infra_broken = True
        duration = timedelta(minutes=self.rng.randint(20, 90) * (2 if platform == "windows" else 1))
        started = at + timedelta(minutes=self.rng.randint(1, 120))
        if pending:
            started = at + timedelta(minutes=self.rng.choice((5, 40)))
        run.attempts.append(Attempt(at, started, started + duration, outcome, self._results(run, outcome)))
        if not pending and self.rng.random() < self.profile.restart_share:
            again = started + duration + timedelta(minutes=self.rng.randint(10, 120))
            run.attempts.append(
                Attempt(
                    again,
                    again + timedelta(minutes=2),
                    again + duration,
                    "completed",
                    self._results(run, "completed"),
                )
            )
        self.runs.append(run)

    def _results(self, run: SimRun, outcome: Outcome) -> dict[int, str]:
        if outcome == "error":
            return {}
        results: dict[int, str] = {}
        for spec in self.samples:
            if spec.kind == "new" and run.commit_index < spec.from_commit:
                continue
            verdict = self._verdict(spec, run)
            for regression_id in spec.regression_ids:
                results[regression_id] = verdict if regression_id == spec.regression_ids[0] else "pass"
            if run.infra_broken and self.rng.random() < 0.9:
                for regression_id in spec.regression_ids:
                    results[regression_id] = "missing_output"
        results[self.orphan] = "exit_code_mismatch" if self.rng.random() < 0.05 else "pass"
        if outcome == "canceled":
            keep = self.rng.randint(0, len(results))
            results = dict(list(results.items())[:keep])
        return results

    def _verdict(self, spec: SampleSpec, run: SimRun) -> str:
        if run.platform not in spec.platforms:
            return "pass"
        failing = False
        if spec.kind == "flaky":
            failing = self.rng.random() < spec.fail_rate
        elif spec.kind in ("regression", "fixed"):
            fixed = spec.fix_commit is not None and run.commit_index >= spec.fix_commit
            failing = run.commit_index >= spec.from_commit and not fixed
        elif spec.kind == "platform_broken":
            failing = True
        elif spec.kind == "pr_broken":
            failing = run.pr_number == spec.pr_number
        return self.rng.choice(spec.error_types) if failing else "pass"
