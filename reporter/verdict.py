"""Decide what one sample's series on one platform shows: flaky, failing, fixed or stable; pure.

The rules and their defaults are explained in docs/analysis.md ("Classification of one series").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from reporter.config import AnalysisSettings
from reporter.observations import Series

FLAKY, FAILING, FIXED, STABLE = "flaky", "failing", "fixed", "stable"
LOCAL_REACH = 10  # master observations on each side of a streak that say how often the sample failed there
END_CHANCE = 0.01  # a final streak this unlikely at the sample's failure rate is a regression
MID_CHANCE = 0.05  # expected number of such streaks anywhere in the series, for a streak in the middle
RECOVERY_CHANCE = 0.05  # a flaky sample is recovered once a quiet stretch this unlikely has passed


@dataclass(frozen=True, slots=True)
class Verdict:
    """The classification of one series and the observations behind it."""

    kind: str
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
    streaks = _streaks(data, settings.regression_min_streak, mixed)
    in_streaks = {k for streak in streaks for k in streak}
    masters = len(data) - data.pulls_before[len(data)]
    positions, in_pull = data.positions, data.platform.in_pull
    outside = [k for k in data.failed if not in_pull[positions[k]] and k not in in_streaks]
    background = _rate(outside, masters - len(in_streaks))
    real = [s for s in streaks if _regression(data, s, background, in_streaks)]
    episodes = [_episode(data, streak) for streak in real]
    covered = {k for episode in episodes for k in episode}
    first = min((episode[0] for episode in episodes), default=len(data))
    loose = [k for k in data.failed if k not in covered and not (k > first and in_pull[positions[k]])]
    flaky_enough = _flaky_enough(data, loose, mixed, settings)
    if real and data.masters_after(real[-1][-1]) < settings.recovery_passes:
        onset = episodes[-1][0]
        focus = tuple(k for k in data.failed if k >= onset)
        before = [k for k in loose if k < onset]
        earlier = len(before) if _flaky_enough(data, before, mixed, settings) else 0
        return Verdict(FAILING, focus, onset, 0, _events(data, focus), earlier)
    disagreements = len({data.platform.shas[data.positions[k]] for k in loose} & mixed) if mixed else 0
    if flaky_enough and loose:
        kind = FIXED if _recovered(data, loose) else FLAKY
        return Verdict(kind, tuple(loose), None, disagreements, _events(data, loose), 0)
    if real:
        return Verdict(FIXED, tuple(episodes[-1]), episodes[-1][0], 0, _events(data, episodes[-1]), 0)
    return Verdict(STABLE, tuple(data.failed), None, disagreements, _events(data, data.failed), 0)


def _streaks(data: Series, min_streak: int, mixed: set[str]) -> list[list[int]]:
    """Maximal runs of master failures with no master pass between them, on commits that never passed.

    Pull-request runs do not interrupt a streak: a pull request branched before a regression passes
    while master fails.
    """
    positions, in_pull, shas = data.positions, data.platform.in_pull, data.platform.shas
    before = data.pulls_before
    streaks: list[list[int]] = []
    current: list[int] = []
    for k in data.failed:
        p = positions[k]
        if in_pull[p]:
            continue
        if shas[p] in mixed:  # a failure on a commit that also passed belongs to no streak, and ends one
            if len(current) >= min_streak:
                streaks.append(current)
            current = []
        elif current and k - current[-1] - 1 == before[k] - before[current[-1] + 1]:
            current.append(k)  # every observation between the two is a pull request's
        else:
            if len(current) >= min_streak:
                streaks.append(current)
            current = [k]
    if len(current) >= min_streak:
        streaks.append(current)
    return streaks


def _rate(failures: list[int], observations: int) -> float:
    return len(failures) / observations if observations > 0 else 0.0


def _regression(data: Series, streak: list[int], background: float, in_streaks: set[int]) -> bool:
    """Is this streak too long to be chance at the rate the sample fails around it?"""
    rate = max(background, _local_rate(data, streak, in_streaks))
    if rate <= 0:
        return True
    if rate >= 1:
        return False
    chance = rate ** len(streak)
    if data.masters_after(streak[-1]) == 0:
        return chance <= END_CHANCE
    return chance * len(data) * (1 - rate) <= MID_CHANCE


def _local_rate(data: Series, streak: list[int], in_streaks: set[int]) -> float:
    """The failure share among the nearest master observations on either side of a streak, the higher."""
    best = 0.0
    for step, start in ((-1, streak[0] - 1), (1, streak[-1] + 1)):
        seen = failed = 0
        k = start
        while 0 <= k < len(data) and seen < LOCAL_REACH:
            if not data.in_pull(k):
                seen += 1
                failed += data.fails(k) and k not in in_streaks
            k += step
        if seen >= LOCAL_REACH // 2:
            best = max(best, failed / seen)
    return best


def _episode(data: Series, streak: list[int]) -> list[int]:
    """A regression streak with the failures just before it that belong to its start (intermittent onset).

    Walking back from the streak, an earlier failure joins while at least half of the master
    observations from it to the streak failed.
    """
    start = streak[0]
    failures = [k for k in data.failed if k < start and not data.in_pull(k)]
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
    """Independent failure events: each master commit once, each pull request once (its own bug?)."""
    positions, shas, pulls = data.positions, data.platform.shas, data.platform.pr_numbers
    return len({shas[p] if pulls[p] is None else pulls[p] for p in (positions[k] for k in failures)})


def _recovered(data: Series, loose: list[int]) -> bool:
    """Still flaky unless the quiet stretch since the last failure is unlikely at the old pace.

    The pace is failure days per observation: failures bunched in one episode (a bad day on the
    machines) count once, so a bursty sample is not called recovered between its bursts.
    """
    positions, days = data.positions, data.platform.days
    pace = min(0.99, len({days[positions[k]] for k in loose}) / max(len(data), 1))
    quiet = data.masters_after(loose[-1])
    return quiet >= math.ceil(math.log(RECOVERY_CHANCE) / math.log(1 - pace))
