"""Per sample and platform, which runs tested it and which of them failed, as compact series; pure.

A year of history is about 18,000 runs of 250 samples: one object per (run, sample) would cost
gigabytes. A series instead holds positions into its platform's list of runs, shared between all
samples that the same runs tested, plus the few positions where the sample failed.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from reporter.history import RunRecord


@dataclass(frozen=True, slots=True)
class Platform:
    """One platform's usable runs in order, and where each commit's and pull request's runs are."""

    runs: Sequence[RunRecord]
    commits: dict[str, list[int]]
    pulls: dict[int, list[int]]
    mixed: dict[int, set[str]]  # per sample, commits on which it both passed and failed here


@dataclass(slots=True)
class Series:
    """One sample on one platform: observation ``k`` is run ``platform.runs[positions[k]]``."""

    platform: Platform
    sample_id: int
    positions: Sequence[int]
    failed: list[int]  # observation indices, ascending
    whole: bool = True  # False once observations were set aside: then nothing precomputed applies
    _failset: set[int] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.positions)

    def run(self, k: int) -> RunRecord:
        return self.platform.runs[self.positions[k]]

    def fails(self, k: int) -> bool:
        if self._failset is None:
            self._failset = set(self.failed)
        return k in self._failset

    def observes(self, position: int) -> int | None:
        """The observation index of a run position, or None if the sample was not tested there."""
        k = bisect.bisect_left(self.positions, position)
        return k if k < len(self.positions) and self.positions[k] == position else None

    def without(self, run_ids: set[int]) -> Series:
        """The same series with some runs' observations removed (noise set aside)."""
        keep = [k for k in range(len(self)) if self.run(k).run_id not in run_ids]
        failed = [i for i, k in enumerate(keep) if self.fails(k)]
        return Series(self.platform, self.sample_id, [self.positions[k] for k in keep], failed, whole=False)

    def mixed_commits(self) -> set[str]:
        """Commits on which this sample both passed and failed on this platform."""
        if self.whole:
            return self.platform.mixed.get(self.sample_id, set())
        mixed = set()
        for sha in {self.run(k).commit_sha for k in self.failed}:
            positions = self.platform.commits[sha]
            if len(positions) < 2:
                continue  # one run of this commit here: nothing to disagree with
            seen = (self.observes(p) for p in positions)
            if any(k is not None and not self.fails(k) for k in seen):
                mixed.add(sha)
        return mixed

    def in_pull_request(self, pr_number: int) -> int:
        """How many of a pull request's runs on this platform tested the sample."""
        return sum(1 for p in self.platform.pulls.get(pr_number, ()) if self.observes(p) is not None)

    def master_neighbours(self, k: int, reach: int = 3) -> list[int]:
        """Up to ``reach`` observations on each side of ``k`` from runs outside pull requests."""
        left = (i for i in range(k - 1, -1, -1) if self.run(i).pr_number is None)
        right = (i for i in range(k + 1, len(self)) if self.run(i).pr_number is None)
        return [*itertools.islice(left, reach), *itertools.islice(right, reach)]


def build(runs: Iterable[RunRecord]) -> dict[tuple[int, str], Series]:
    """Series for every (sample, platform) in ``runs`` (oldest first)."""
    by_platform: dict[str, list[RunRecord]] = defaultdict(list)
    for run in runs:
        by_platform[run.platform].append(run)
    found: dict[tuple[int, str], Series] = {}
    for name, platform_runs in by_platform.items():
        for sample_id, series in _platform_series(platform_runs).items():
            found[(sample_id, name)] = series
    return found


def _platform_series(runs: list[RunRecord]) -> dict[int, Series]:
    commits: dict[str, list[int]] = defaultdict(list)
    pulls: dict[int, list[int]] = defaultdict(list)
    groups: dict[int, tuple[frozenset[int], list[int]]] = {}
    failing: dict[int, list[int]] = defaultdict(list)
    untested_failures: dict[int, list[int]] = defaultdict(list)
    for position, run in enumerate(runs):
        commits[run.commit_sha].append(position)
        if run.pr_number is not None:
            pulls[run.pr_number].append(position)
        groups.setdefault(id(run.tested), (run.tested, []))[1].append(position)
        for sample_id in run.failures:
            failing[sample_id].append(position)
            if sample_id not in run.tested:
                untested_failures[sample_id].append(position)
    platform = Platform(runs, dict(commits), dict(pulls), _mixed(runs, commits))
    lists: dict[int, list[list[int]]] = defaultdict(list)
    for tested, positions in groups.values():
        for sample_id in tested:
            lists[sample_id].append(positions)
    for sample_id, positions in untested_failures.items():
        lists[sample_id].append(positions)
    made = {}
    for sample_id, parts in lists.items():
        merged: Sequence[int] = parts[0] if len(parts) == 1 else sorted(itertools.chain(*parts))
        failed = [bisect.bisect_left(merged, p) for p in failing.get(sample_id, ())]
        made[sample_id] = Series(platform, sample_id, merged, failed)
    return made


def _mixed(runs: Sequence[RunRecord], commits: dict[str, list[int]]) -> dict[int, set[str]]:
    """Per sample, the commits that ran more than once here with it failing and passing."""
    mixed: dict[int, set[str]] = defaultdict(set)
    for sha, positions in commits.items():
        if len(positions) < 2:
            continue
        group = [runs[p] for p in positions]
        for sample_id in set().union(*(run.failures.keys() for run in group)):
            if any(sample_id in run.tested and sample_id not in run.failures for run in group):
                mixed[sample_id].add(sha)
    return mixed
