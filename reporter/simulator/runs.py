"""Build the runs of a simulated history: every attempt, its per-test results and why each test failed.

``rng`` drives what every profile has always had, in the same order; ``extra`` drives only the
behaviours a profile switches on (shared causes, re-runs after red runs, restarts, empty commits).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from reporter.simulator.model import (
    PLATFORMS,
    Attempt,
    Episode,
    Outcome,
    Profile,
    RegressionTest,
    SampleSpec,
    SharedCause,
    SimRun,
)
from reporter.simulator.results import Verdicts, shared_causes

MAX_RETRIES = 2  # re-runs or restarts people make after a red one, at most


def commit_sha(seed: int, label: str) -> str:
    return hashlib.sha1(f"{seed}:{label}".encode(), usedforsecurity=False).hexdigest()


@dataclass
class World:
    """Everything a run's results depend on besides the run itself."""

    seed: int
    profile: Profile
    samples: list[SampleSpec]
    orphan: int
    suite: dict[int, RegressionTest]
    causes: list[SharedCause]
    overloads: list[Episode]
    disk_full: list[Episode]
    start: datetime
    end: datetime
    times: list[datetime]  # when each master commit was pushed
    gaps: set[int]  # days with few Windows runs


class RunBuilder:
    def __init__(self, rng: random.Random, extra: random.Random, world: World) -> None:
        self.rng, self.extra, self.world, self.profile = rng, extra, world, world.profile
        self.verdicts = Verdicts(rng, extra, world.samples, world.orphan, world.causes, world.overloads)
        self.runs: list[SimRun] = []
        self.same_code: dict[str, str] = {}

    # -- what gets run -----------------------------------------------------------------
    def commit_runs(self, index: int, sha: str, at: datetime) -> None:
        first = len(self.runs)
        for platform in PLATFORMS:
            if not self._skipped(platform, at):
                self._add(sha, index, platform, "master", "commit", None, at)
            if self.rng.random() < self.profile.rerun_share:
                later = at + timedelta(minutes=self.rng.randint(30, 240))
                self._add(sha, index, platform, "master", "commit", None, later)
        self._empty_commit(index, sha, self.runs[first:])

    def pull_request(self, number: int, n_commits: int) -> None:
        base = self.rng.randint(n_commits // 3, n_commits - 3)
        for push in range(self.rng.randint(2, 4)):
            sha = commit_sha(self.world.seed, f"pr-{number}-{push}")
            at = self._pr_time(base, push, n_commits)
            for platform in PLATFORMS:
                if not self._skipped(platform, at):
                    self._add(sha, base, platform, "pull_request", "pr", number, at, push=push)

    def pending(self, sha: str, index: int) -> None:
        for n in range(self.profile.pending_runs):
            at = self.world.end - timedelta(minutes=10 + 25 * n)
            self._add(sha, index, PLATFORMS[n % 2], "master", "commit", None, at, pending=True)

    def rare_flakes(self) -> None:
        """Each rare flake fails once, in a master run whose same-commit re-run then passes."""
        samples = self.world.samples
        for position, spec in [(i, s) for i, s in enumerate(samples) if s.kind == "rare_flaky"]:
            horizon = self.world.end - timedelta(days=1)
            candidates = [
                r
                for r in self.runs
                if r.platform in spec.platforms
                and r.branch == "master"
                and len(r.attempts) == 1
                and r.attempts[0].outcome == "completed"
                and not r.infra_broken
                and r.attempts[0].completed_at < horizon
                and spec.regression_ids[0] in r.attempts[0].results
            ]
            if not candidates:  # too short a history to plant its one failure: it stays stable
                samples[position] = replace(spec, kind="stable")
                continue
            run = self.extra.choice(candidates)
            attempt, first = run.attempts[0], spec.regression_ids[0]
            attempt.results[first] = spec.error_types[0]
            attempt.causes[first] = "flaky"
            later = attempt.completed_at + timedelta(minutes=self.extra.randint(15, 90))
            self._add(
                run.commit_sha, run.commit_index, run.platform, "master", "commit", None, later, clean=True
            )

    # -- one run -----------------------------------------------------------------------
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
        push: int = 0,
        clean: bool = False,
        retries: int = 0,
    ) -> SimRun | None:
        if at >= self.world.end and not pending:
            return None
        run = SimRun(0, platform, sha, index, branch, test_type, pr_number, at, push=push)
        roll = self.rng.random()
        outcome: Outcome = "completed"
        if roll < self.profile.cancel_share:
            outcome = "canceled" if self.rng.random() < 0.7 else "error"
        elif roll < self.profile.cancel_share + self.profile.infra_share:
            run.infra_broken = True
        if clean:
            outcome, run.infra_broken = "completed", False
        duration = timedelta(minutes=self.rng.randint(20, 90) * (2 if platform == "windows" else 1))
        started = at + timedelta(minutes=self.rng.randint(1, 120))
        if pending:
            started = at + timedelta(minutes=self.rng.choice((5, 40)))
        run.attempts.append(self._attempt(run, outcome, at, started, started + duration, clean))
        if not pending and self.rng.random() < self.profile.restart_share:
            again = started + duration + timedelta(minutes=self.rng.randint(10, 120))
            run.attempts.append(
                self._attempt(run, "completed", again, again + timedelta(minutes=2), again + duration, clean)
            )
        self.runs.append(run)
        if not pending:
            self._retry(run, duration, retries)
        return run

    def _attempt(
        self, run: SimRun, outcome: Outcome, queued: datetime, started: datetime, done: datetime, clean: bool
    ) -> Attempt:
        attempt = Attempt(queued, started, done, outcome, {})
        if outcome == "error":
            return attempt
        self.verdicts.fill(run, attempt, queued)
        if not clean:
            shared_causes(self.extra, self.world, run, attempt, queued)
        if outcome == "canceled":
            keep = self.rng.randint(0, len(attempt.results))
            attempt.results = dict(list(attempt.results.items())[:keep])
            attempt.incidents = [
                replace(i, regression_ids=tuple(r for r in i.regression_ids if r in attempt.results))
                for i in attempt.incidents
            ]
        return attempt

    def _retry(self, run: SimRun, duration: timedelta, retries: int) -> None:
        """People retry a red run now and then, a broken one most of the time: restart or run again."""
        restart, rerun = self.profile.restart_after_red, self.profile.rerun_after_red
        while retries < MAX_RETRIES and restart + rerun > 0:
            last = run.attempts[-1]
            broken = run.infra_broken or last.outcome != "completed" or bool(last.incidents)
            if not (broken or _surprising(last)):
                return
            chance = max(restart + rerun, self.profile.rerun_after_infra) if broken else restart + rerun
            if self.extra.random() >= chance:
                return
            retries += 1
            again = last.completed_at + timedelta(minutes=self.extra.randint(10, 180))
            if self.extra.random() >= restart / (restart + rerun):
                self._add(
                    run.commit_sha,
                    run.commit_index,
                    run.platform,
                    run.branch,
                    run.test_type,
                    run.pr_number,
                    again,
                    push=run.push,
                    retries=retries,
                )
                return
            started = again + timedelta(minutes=self.extra.randint(1, 30))
            run.attempts.append(self._attempt(run, "completed", again, started, started + duration, False))

    def _empty_commit(self, index: int, sha: str, made: list[SimRun]) -> None:
        """After a red master run, someone pushes an empty commit: a new SHA with the same code."""
        share = self.profile.empty_commit_share
        red = [r for r in made if r.infra_broken or any(_surprising(a) for a in r.attempts)]
        if not share or not red or self.extra.random() >= share:
            return
        empty = commit_sha(self.world.seed, f"master-{index}-empty")
        at = max(r.attempts[-1].completed_at for r in red) + timedelta(minutes=self.extra.randint(10, 90))
        added = [self._add(empty, index, platform, "master", "commit", None, at) for platform in PLATFORMS]
        if any(added):
            self.same_code[empty] = sha

    # -- when ----------------------------------------------------------------------------
    def _pr_time(self, base: int, push: int, n_commits: int) -> datetime:
        world = self.world
        if not self.profile.uneven_activity:
            return world.start + (world.end - world.start) * (base + push * 0.3 + 0.6) / (n_commits + 1)
        hours = self.extra.uniform(0.5, 8) + push * self.extra.uniform(3, 30)
        return world.times[base] + timedelta(hours=hours)

    def _skipped(self, platform: str, at: datetime) -> bool:
        if platform != "windows" or not self.world.gaps:
            return False
        day = int((at - self.world.start).total_seconds() // 86400)
        return day in self.world.gaps and self.extra.random() < 0.8


def _surprising(attempt: Attempt) -> bool:
    """Red in a way people react to: a failure other than a regression everyone already knows about."""
    return any(
        verdict != "pass" and attempt.causes.get(regression_id) != "regression"
        for regression_id, verdict in attempt.results.items()
    )
