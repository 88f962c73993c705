"""One platform's master runs as the triage reads them: per sample, failures and streaks; pure.

Runs are ordered by creation (when their code was pushed). A sample is observed in a run that tested
it or that it failed; a failure a shared cause explains is no observation at all. Only failure
positions are indexed: a suite of 250 samples over a month of runs is read once, and a sample's
streaks, counts and nearest passes cost about what its failures cost.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from reporter.history import RunRecord

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Explained = Callable[[RunRecord, int], bool]  # does a shared cause explain this sample failing here?


def moment(run: RunRecord | None) -> datetime | None:
    """When a run's code was pushed, as near as the record says: creation, else completion."""
    if run is None:
        return None
    return run.created_at or run.completed_at


def order(run: RunRecord) -> tuple[datetime, int, int]:
    """Runs in push order; ties by id, then attempt."""
    return (moment(run) or EPOCH, run.run_id, run.attempt)


@dataclass(frozen=True, slots=True)
class Streak:
    """Consecutive failures of a sample on master, and the master run that passed it next."""

    first: RunRecord
    last: RunRecord
    length: int
    fixed: RunRecord | None


class MasterRuns:
    """One platform's master runs, oldest first, with where each sample failed."""

    def __init__(self, runs: Sequence[RunRecord], explained: Explained) -> None:
        self.runs = sorted(runs, key=order)
        self._orders = [order(run) for run in self.runs]
        self._failed: dict[int, list[int]] = defaultdict(list)
        self._explained: dict[int, set[int]] = defaultdict(set)
        sizes: dict[int, int] = defaultdict(int)
        sets: dict[int, frozenset[int]] = {}
        for position, run in enumerate(self.runs):
            for sample_id in run.failures:
                if explained(run, sample_id):
                    self._explained[sample_id].add(position)
                else:
                    self._failed[sample_id].append(position)
            sizes[id(run.tested)] += 1  # runs that tested the same samples share one set
            sets[id(run.tested)] = run.tested
        self._groups = [(sets[key], size) for key, size in sizes.items()]

    def count(self, sample_id: int) -> int:
        """How many of these runs observed the sample."""
        tested = sum(size for members, size in self._groups if sample_id in members)
        failing = [*self._failed.get(sample_id, ()), *self._explained.get(sample_id, ())]
        untested = sum(1 for p in failing if sample_id not in self.runs[p].tested)
        return tested + untested - len(self._explained.get(sample_id, ()))

    def failures(self, sample_id: int) -> int:
        return len(self._failed.get(sample_id, ()))

    def streaks(self, sample_id: int) -> list[Streak]:
        """Maximal streaks of consecutive failures, oldest first."""
        found: list[Streak] = []
        positions = self._failed.get(sample_id, [])
        start = 0
        for index in range(1, len(positions) + 1):
            after = self._next(sample_id, positions[index - 1])
            if index < len(positions) and after == positions[index]:
                continue
            first, last = positions[start], positions[index - 1]
            fixed = self.runs[after] if after is not None else None
            found.append(Streak(self.runs[first], self.runs[last], index - start, fixed))
            start = index
        return found

    def last_pass(self, sample_id: int, before: RunRecord) -> RunRecord | None:
        """The latest master run up to ``before`` that passed the sample."""
        position = bisect.bisect_right(self._orders, order(before)) - 1
        while position >= 0:
            if self._state(sample_id, position) == "pass":
                return self.runs[position]
            position -= 1
        return None

    def latest(self, sample_id: int) -> RunRecord | None:
        """The latest master run that observed the sample."""
        position = len(self.runs) - 1
        while position >= 0 and self._state(sample_id, position) is None:
            position -= 1
        return self.runs[position] if position >= 0 else None

    def _next(self, sample_id: int, position: int) -> int | None:
        """The position of the sample's next observation after ``position``."""
        for later in range(position + 1, len(self.runs)):
            if self._state(sample_id, later) is not None:
                return later
        return None

    def _state(self, sample_id: int, position: int) -> str | None:
        run = self.runs[position]
        if sample_id in run.failures:
            return None if position in self._explained.get(sample_id, ()) else "fail"
        return "pass" if sample_id in run.tested else None
