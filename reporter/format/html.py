"""A standalone HTML page: the digest with its run grid and an inline SVG trend chart, autoescaped.

The page uses the window's full width; each grid has an axis of dates and commits under it, the
trend chart a labelled scale, and every time is shown in the digest's time zone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from reporter.digest import Digest, TrendPoint
from reporter.format.templates import Links, Templates, when
from reporter.grid import Column


class HtmlFormat:
    """``email`` makes the page mail-safe: no SVG, the trend as a table, no links inside grid cells."""

    name = "html"

    def __init__(self, templates: Templates, *, email: bool = False) -> None:
        self.templates = templates
        self.email = email

    def digest(self, digest: Digest) -> str:
        return self.templates.render(
            "digest.html.j2",
            d=digest,
            links=Links(digest.web_url),
            email=self.email,
            chart=Chart(digest.trend_points),
            axis=Axis(digest.timezone),
        )


@dataclass(frozen=True, slots=True)
class Tick:
    value: int
    y: float


class Chart:
    """Coordinates of the trend chart: its two lines, the scale's ticks and the date labels."""

    width, height, left, right, top_pad, bottom_pad = 640, 170, 40, 12, 14, 30

    def __init__(self, points: tuple[TrendPoint, ...]) -> None:
        self.points = points
        highest = max([1, *(max(p.flaky, p.failing) for p in points)])
        self.step = _nice_step(highest)
        self.top = self.step * math.ceil(highest / self.step)

    @property
    def bottom(self) -> float:
        return self.height - self.bottom_pad

    def y(self, value: float) -> float:
        return self.bottom - value * (self.bottom - self.top_pad) / self.top

    def x(self, index: int) -> float:
        span = self.width - self.left - self.right
        return self.left + index * span / max(len(self.points) - 1, 1)

    def ticks(self) -> list[Tick]:
        return [Tick(v, self.y(v)) for v in range(0, self.top + 1, self.step)]

    def labels(self) -> list[tuple[float, str, str]]:
        """(x, anchor, day) for the first, middle and last points."""
        if not self.points:
            return []
        last = len(self.points) - 1
        chosen = sorted({0, last // 2, last}) if last >= 4 else sorted({0, last})
        anchor = {0: "start", last: "end"}
        return [(self.x(i), anchor.get(i, "middle"), self.points[i].day.strftime("%b %d")) for i in chosen]

    def line(self, field: str) -> str:
        return " ".join(f"{self.x(i):.1f},{self.y(getattr(p, field)):.1f}" for i, p in enumerate(self.points))


def _nice_step(highest: int) -> int:
    """A step of 1, 2 or 5 times a power of ten giving at most five ticks above zero."""
    raw = highest / 5
    power = 10 ** max(0, math.floor(math.log10(raw))) if raw >= 1 else 1
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


@dataclass(frozen=True, slots=True)
class Day:
    label: str
    span: int  # grid columns (runs) completed that day


class Axis:
    """What goes under a grid: each run's commit, and the days its runs completed (in ``zone``)."""

    def __init__(self, zone: str) -> None:
        self.zone = zone

    def days(self, columns: Sequence[Column]) -> list[Day]:
        days: list[Day] = []
        for column in columns:
            label = when(column.completed_at, self.zone, "%b %d")
            if days and days[-1].label == label:
                days[-1] = Day(label, days[-1].span + 1)
            else:
                days.append(Day(label, 1))
        return days

    def title(self, column: Column) -> str:
        """A column's run, commit and completion time, for its title."""
        return (
            f"run {column.run_id}, commit {column.commit_sha[:7]}, completed "
            f"{when(column.completed_at, self.zone)}"
            + (f" (excluded: {column.noise})" if column.noise else "")
        )
