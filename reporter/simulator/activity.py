"""When things happen in a simulated history: commit times, overloads, full disks, quiet Windows days."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from reporter.simulator.model import PLATFORMS, Episode, Profile


def even_times(start: datetime, end: datetime, commits: int) -> list[datetime]:
    """Commits at a steady pace over the history."""
    return [start + (end - start) * (index + 0.5) / (commits + 1) for index in range(commits)]


def uneven_times(rng: random.Random, profile: Profile, start: datetime, end: datetime) -> list[datetime]:
    """Commits the way a volunteer project makes them: quiet weeks, ordinary days, busy days.

    A quiet week has 0-1 commits a day; a busy day twice the usual pace (8-12 runs on two
    platforms at 3 commits a day); weekends are slower. Falls back to a steady pace when the
    history would hold too few commits to plant anything.
    """
    pace = profile.commits_per_day
    quiet_week = rng.randrange(max(1, profile.days // 7)) if profile.days >= 14 else -1
    times: list[datetime] = []
    for day in range(profile.days):
        week = day // 7
        if week == quiet_week or rng.random() < 0.08:
            count = rng.choice((0, 0, 1))
        elif rng.random() < 0.15:
            count = rng.randint(round(pace * 4 / 3), round(pace * 2))
        else:
            count = rng.randint(max(0, round(pace) - 1), round(pace) + 1)
        if day % 7 in (5, 6):
            count = round(count * 0.6)
        midnight = start + timedelta(days=day)
        hours = sorted(rng.uniform(7.0, 23.5) for _ in range(count))
        times += [midnight + timedelta(hours=h) for h in hours if midnight + timedelta(hours=h) < end]
    if len(times) < 8:
        return even_times(start, end, max(4, round(profile.days * pace)))
    return times


def episodes(
    rng: random.Random, count: int, start: datetime, end: datetime, hours: tuple[float, float]
) -> list[Episode]:
    """``count`` spans of ``hours`` on one platform each, anywhere in the history."""
    found = []
    room = max(0.0, (end - start).total_seconds() - hours[1] * 3600)
    for _ in range(count):
        begin = start + timedelta(seconds=rng.uniform(0, room))
        length = timedelta(hours=rng.uniform(*hours))
        found.append(Episode(rng.choice(PLATFORMS), begin, begin + length))
    return sorted(found, key=lambda e: e.start)


def overloads(rng: random.Random, count: int, times: list[datetime]) -> list[Episode]:
    """Spans of 3-24 hours on one platform, starting when pushes come in (load follows activity)."""
    found = []
    for _ in range(count if times else 0):
        begin = rng.choice(times) - timedelta(hours=rng.uniform(0, 2))
        length = timedelta(hours=rng.uniform(3, 24))
        found.append(Episode(rng.choice(PLATFORMS), begin, begin + length))
    return sorted(found, key=lambda e: e.start)


def windows_gaps(rng: random.Random, profile: Profile) -> set[int]:
    """Days (counted from the start) on which most Windows runs do not happen."""
    return {day for day in range(profile.days) if rng.random() < profile.windows_gap_share}
