"""Per sample and platform, which run attempts tested it and which of them failed, as compact series; pure.

A year of history is about 18,000 runs of 250 samples: one object per (run, sample) would cost
gigabytes. A series instead holds positions into its platform's list of run attempts, shared between
all samples that the same attempts tested, plus the few positions where the sample failed. Failures
that a shared cause explains (reporter/noise.py) are not observations at all: the sample is treated
as not tested in that attempt.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from reporter.history import RunRecord

Key = tuple[int, int]  # (run_id, attempt)


@dataclass(frozen=True, slots=True)
class Platform:
    """One platform's usable run attempts in order, with what the analysis asks of each position."""

    runs: Sequence[RunRecord]
    commits: dict[str, list[int]]
    pulls: dict[int, list[int]]
    in_pull: Sequence[bool]  # per position: a pull-request run
    aside: Sequence[bool]  # per position: off master's line (a pull request, a re-run of an old commit)
    shas: Sequence[str]  # per position: the commit
    run_ids: Sequence[int]  # per position: the run
    pr_numbers: Sequence[int | None]  # per position: the pull request, if any
    days: Sequence[int]  # per position: the day it completed (proleptic ordinal), or -run_id
    mixed: dict[int, set[str]]  # per sample, commits on which it both passed and failed here


@dataclass(slots=True)
class Series:
    """One sample on one platform: observation ``k`` is run ``platform.runs[positions[k]]``.

    Master's line is its commits in the order they first ran, each with its re-runs and restarts;
    pull-request runs and later re-runs of an older commit stand aside from it (a pull request
    branched before a regression passes while master fails). ``aside_before[k]`` counts the
    observations aside among the first ``k``, so that the master observations between two failures
    are counted without walking the series.
    """

    platform: Platform
    sample_id: int
    positions: Sequence[int]
    failed: list[int]  # observation indices, ascending
    aside_before: Sequence[int]
    whole: bool = True  # False once observations were set aside: then the platform's ``mixed`` is stale
    _failset: set[int] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.positions)

    def run(self, k: int) -> RunRecord:
        return self.platform.runs[self.positions[k]]

    def fails(self, k: int) -> bool:
        if self._failset is None:
            self._failset = set(self.failed)
        return k in self._failset

    def is_aside(self, k: int) -> bool:
        return self.aside_before[k + 1] != self.aside_before[k]

    @property
    def masters(self) -> int:
        """Observations on master's line."""
        return len(self.positions) - self.aside_before[-1]

    def masters_between(self, i: int, j: int) -> int:
        """Observations on master's line strictly between observations ``i < j``."""
        if j <= i + 1:
            return 0
        return (j - i - 1) - (self.aside_before[j] - self.aside_before[i + 1])

    def masters_after(self, k: int) -> int:
        """Observations on master's line after observation ``k``."""
        n = len(self.positions)
        return (n - k - 1) - (self.aside_before[n] - self.aside_before[k + 1])

    def observes(self, position: int) -> int | None:
        """The observation index of a run position, or None if the sample was not tested there."""
        k = bisect.bisect_left(self.positions, position)
        return k if k < len(self.positions) and self.positions[k] == position else None

    def without(self, keys: set[Key]) -> Series:
        """The same series with some attempts' observations removed (noise set aside)."""
        keep = [k for k in range(len(self)) if self.run(k).key not in keys]
        failed = [i for i, k in enumerate(keep) if self.fails(k)]
        positions = [self.positions[k] for k in keep]
        aside = _aside_before(positions, self.platform.aside)
        return Series(self.platform, self.sample_id, positions, failed, aside, whole=False)

    def mixed_commits(self) -> set[str]:
        """Commits on which this sample both passed and failed on this platform."""
        if self.whole:
            return self.platform.mixed.get(self.sample_id, set())
        mixed = set()
        runs, commits = self.platform.runs, self.platform.commits
        for sha in {runs[self.positions[k]].commit_sha for k in self.failed}:
            positions = commits[sha]
            if len(positions) < 2:
                continue  # one attempt of this commit here: nothing to disagree with
            seen = (self.observes(p) for p in positions)
            if any(k is not None and not self.fails(k) for k in seen):
                mixed.add(sha)
        return mixed

    def in_pull_request(self, pr_number: int) -> int:
        """How many of a pull request's attempts on this platform tested the sample."""
        return sum(1 for p in self.platform.pulls.get(pr_number, ()) if self.observes(p) is not None)

    def master_neighbours(self, k: int, reach: int = 3) -> list[int]:
        """Up to ``reach`` observations on each side of ``k`` from runs outside pull requests."""
        pulled, positions = self.platform.in_pull, self.positions
        left = (i for i in range(k - 1, -1, -1) if not pulled[positions[i]])
        right = (i for i in range(k + 1, len(self)) if not pulled[positions[i]])
        return [*itertools.islice(left, reach), *itertools.islice(right, reach)]


def build(
    runs: Iterable[RunRecord], explained: Mapping[Key, frozenset[int]] | None = None
) -> dict[tuple[int, str], Series]:
    """Series for every (sample, platform) in ``runs`` (oldest first), leaving out explained failures."""
    by_platform: dict[str, list[RunRecord]] = defaultdict(list)
    for run in runs:
        by_platform[run.platform].append(run)
    found: dict[tuple[int, str], Series] = {}
    for name, platform_runs in by_platform.items():
        for sample_id, series in _platform_series(platform_runs, explained or {}).items():
            found[(sample_id, name)] = series
    return found


def _platform_series(runs: list[RunRecord], explained: Mapping[Key, frozenset[int]]) -> dict[int, Series]:
    commits: dict[str, list[int]] = defaultdict(list)
    pulls: dict[int, list[int]] = defaultdict(list)
    groups: dict[int, tuple[frozenset[int], list[int]]] = {}
    failing: dict[int, list[int]] = defaultdict(list)
    untested_failures: dict[int, list[int]] = defaultdict(list)
    set_aside: dict[int, set[int]] = defaultdict(set)
    for position, run in enumerate(runs):
        commits[run.commit_sha].append(position)
        if run.pr_number is not None:
            pulls[run.pr_number].append(position)
        groups.setdefault(id(run.tested), (run.tested, []))[1].append(position)
        skip = explained.get(run.key, ())
        for sample_id in skip:
            set_aside[sample_id].add(position)
        if not run.failures.keys() <= run.tested:
            for sample_id in run.failures.keys() - run.tested:
                untested_failures[sample_id].append(position)
        for sample_id in run.failures.keys() - skip if skip else run.failures:
            failing[sample_id].append(position)
    platform = Platform(
        runs,
        dict(commits),
        dict(pulls),
        [run.pr_number is not None for run in runs],
        _aside(runs),
        [run.commit_sha for run in runs],
        [run.run_id for run in runs],
        [run.pr_number for run in runs],
        [run.completed_at.toordinal() if run.completed_at else -run.run_id for run in runs],
        _mixed(runs, commits, explained),
    )
    lists: dict[int, list[list[int]]] = defaultdict(list)
    for tested, positions in groups.values():
        for sample_id in tested:
            lists[sample_id].append(positions)
    for sample_id, positions in untested_failures.items():
        lists[sample_id].append(positions)
    return _series(platform, lists, failing, set_aside)


def _series(
    platform: Platform,
    lists: Mapping[int, list[list[int]]],
    failing: Mapping[int, list[int]],
    set_aside: Mapping[int, set[int]],
) -> dict[int, Series]:
    prefixes: dict[int, Sequence[int]] = {}
    made = {}
    for sample_id, parts in lists.items():
        merged: Sequence[int] = parts[0] if len(parts) == 1 else sorted(itertools.chain(*parts))
        if sample_id in set_aside:
            gone = set_aside[sample_id]
            merged = [p for p in merged if p not in gone]
        if not merged:
            continue
        if merged is not parts[0]:
            aside: Sequence[int] = _aside_before(merged, platform.aside)
        elif id(merged) in prefixes:  # a list shared by every sample the same runs tested
            aside = prefixes[id(merged)]
        else:
            aside = prefixes[id(merged)] = _aside_before(merged, platform.aside)
        found = failing.get(sample_id, ())
        failed = list(range(len(found))) if len(found) == len(merged) else _indices(merged, found)
        made[sample_id] = Series(platform, sample_id, merged, failed, aside)
    return made


def _indices(merged: Sequence[int], found: Sequence[int]) -> list[int]:
    """Where each failing position sits in the series (both ascending)."""
    if len(merged) == merged[-1] + 1 and merged[0] == 0:
        return list(found)  # the series observes every position: indices are positions
    return [bisect.bisect_left(merged, p) for p in found]


def _aside_before(positions: Sequence[int], aside: Sequence[bool]) -> list[int]:
    return list(itertools.accumulate((aside[p] for p in positions), initial=0))


def _aside(runs: Sequence[RunRecord]) -> list[bool]:
    """Per position: a pull-request run, or a master run of a commit older than one already run."""
    rank: dict[str, int] = {}
    newest = -1
    found = []
    for run in runs:
        if run.pr_number is not None:
            found.append(True)
            continue
        order = rank.setdefault(run.commit_sha, len(rank))
        newest = max(newest, order)
        found.append(order < newest)
    return found


def _mixed(
    runs: Sequence[RunRecord], commits: Mapping[str, list[int]], explained: Mapping[Key, frozenset[int]]
) -> dict[int, set[str]]:
    """Per sample, the commits that ran more than once here with it failing and passing."""
    mixed: dict[int, set[str]] = defaultdict(set)
    for sha, positions in commits.items():
        if len(positions) < 2:
            continue
        group = [runs[p] for p in positions]
        failed = set().union(*[run.failures.keys() - explained.get(run.key, ()) for run in group])
        for run in group:
            for sample_id in (failed - run.failures.keys()) & run.tested:
                mixed[sample_id].add(sha)
    return mixed
