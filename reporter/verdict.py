"""Decide what one sample's series on one platform shows: flaky, failing, fixed or stable; pure.

The rules and their defaults are explained in docs/analysis.md ("Classification of one series").
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from reporter.config import AnalysisSettings
from reporter.observations import Series
from reporter.spells import broken_spells


class Classification(StrEnum):
    """What the analysis calls a sample on a platform; the values are what JSON and templates show."""

    FLAKY = "flaky"
    FAILING = "failing"
    FIXED = "fixed"
    STABLE = "stable"


FLAKY, FAILING, FIXED, STABLE = (
    Classification.FLAKY,
    Classification.FAILING,
    Classification.FIXED,
    Classification.STABLE,
)
RECOVERY_CHANCE = 0.05  # a flaky sample is recovered once a quiet stretch this unlikely has passed


@dataclass(frozen=True, slots=True)
class Verdict:
    """The classification of one series and the observations behind it."""

    kind: Classification
    focus: tuple[int, ...]  # the failures the verdict rests on (observation indices)
    onset: int | None  # failing: the first failure of the regression
    disagreements: int  # commits on which the sample both passed and failed (among the focus)
    events: int  # independent failure events: distinct master commits, plus one per pull request
    earlier_flaky: int  # failing: flaky failures before the regression began


def judge(data: Series, settings: AnalysisSettings) -> Verdict | None:
    """The verdict on one series, or None if it never failed."""
    if not data.failed:
        return None
    mixed = data.mixed_commits()
    real = _regressions(data, settings, mixed)
    episodes = [_episode(data, spell) for spell in real]
    positions, aside = data.positions, data.platform.aside
    loose = data.failed
    if episodes:
        covered = {k for episode in episodes for k in episode}
        first = min(episode[0] for episode in episodes)
        loose = [k for k in data.failed if k not in covered and not (k > first and aside[positions[k]])]
    if real and data.masters_after(real[-1][-1]) < settings.recovery_passes:
        onset = episodes[-1][0]
        focus = tuple(k for k in data.failed if k >= onset)
        before = [k for k in loose if k < onset]
        earlier = len(before) if _flaky_enough(data, before, mixed, settings) else 0
        return Verdict(FAILING, focus, onset, 0, _events(data, focus), earlier)
    shas = data.platform.shas
    disagreements = len({shas[positions[k]] for k in loose} & mixed) if mixed else 0
    events = _events(data, loose)
    if loose and (
        disagreements or (events >= settings.flaky_min_failures and len(data) >= settings.min_runs)
    ):
        kind = FIXED if _recovered(data, loose) else FLAKY
        return Verdict(kind, tuple(loose), None, disagreements, events, 0)
    if real:
        return Verdict(FIXED, tuple(episodes[-1]), episodes[-1][0], 0, _events(data, episodes[-1]), 0)
    return Verdict(STABLE, tuple(data.failed), None, disagreements, _events(data, data.failed), 0)


def _regressions(data: Series, settings: AnalysisSettings, mixed: set[str]) -> list[list[int]]:
    """The broken spells on master's line (reporter/spells.py) that count as regressions.

    A spell needs ``regression_min_streak`` failures; one that ended, with a failure on a commit that
    also passed, was flakiness bunched in time (the same code passed), not a regression.
    """
    positions, aside, before = data.positions, data.platform.aside, data.aside_before
    masters = [k for k in data.failed if not aside[positions[k]]]
    line = [k - before[k] for k in masters]
    shas = data.platform.shas
    found = []
    spells = broken_spells(line, data.masters)
    for number, spell in enumerate(spells, start=1):
        failures = [masters[i] for i in spell]
        if len(failures) < settings.regression_min_streak:
            continue
        current = number == len(spells) and data.masters_after(failures[-1]) < settings.recovery_passes
        if not current and mixed and any(shas[positions[k]] in mixed for k in failures):
            continue
        found.append(failures)
    return found


def _episode(data: Series, streak: list[int]) -> list[int]:
    """A regression streak with the failures just before it that belong to its start (intermittent onset).

    Walking back from the streak, an earlier failure joins while at least half of the master
    observations from it to the streak failed.
    """
    start = streak[0]
    failures = [k for k in data.failed if k < start and not data.is_aside(k)]
    joined = 0
    for count, k in enumerate(reversed(failures), start=1):
        span = data.masters_between(k, start) + 1
        if count * 2 >= span:
            joined = count
    return [*failures[len(failures) - joined :], *streak]


def _flaky_enough(data: Series, loose: list[int], mixed: set[str], settings: AnalysisSettings) -> bool:
    """One same-commit disagreement, or enough independent failure events over enough observations."""
    if not loose:
        return False
    if mixed and any(data.platform.shas[data.positions[k]] in mixed for k in loose):
        return True
    return _events(data, loose) >= settings.flaky_min_failures and len(data) >= settings.min_runs


def _events(data: Series, failures: Sequence[int]) -> int:
    """Independent failure events: each streak of consecutive master failures once, each pull request once.

    A regression that lasted two commits fails twice in a row and then never again: one event; a
    later re-run of one of its commits adds none. A pull request's failures may be its own bug: one
    event however many pushes and re-runs it had.
    """
    positions, aside, pulls = data.positions, data.platform.aside, data.platform.pr_numbers
    shas, before = data.platform.shas, data.aside_before
    masters = [k for k in failures if not aside[positions[k]]]
    line = [k - before[k] for k in masters]  # positions on master's line: a gap means a pass between
    streaks = 1 + sum(map(operator.ne, line[1:], map((1).__add__, line))) if line else 0
    apart = {shas[p] if pulls[p] is None else pulls[p] for p in (positions[k] for k in failures) if aside[p]}
    if apart:  # a re-run of a commit that failed on master's line is part of that event
        apart -= {shas[positions[k]] for k in masters}
    return int(streaks) + len(apart)


def _recovered(data: Series, loose: list[int]) -> bool:
    """Still flaky unless the quiet stretch since the last failure is unlikely at the old pace.

    The pace is failure days per observation: failures bunched in one episode (a bad day on the
    machines) count once, so a bursty sample is not called recovered between its bursts.
    """
    positions, days = data.positions, data.platform.days
    pace = min(0.99, len({days[positions[k]] for k in loose}) / max(len(data), 1))
    quiet = data.masters_after(loose[-1])
    return quiet >= math.ceil(math.log(RECOVERY_CHANCE) / math.log(1 - pace))
