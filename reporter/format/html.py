"""A standalone HTML page: the digest with its run grid and an inline SVG trend chart, autoescaped."""

from __future__ import annotations

from reporter.digest import Digest, TrendPoint
from reporter.format.templates import Links, Templates


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
        )


class Chart:
    """Coordinates of the trend chart's lines, for an inline SVG."""

    width, height, pad = 600, 140, 24

    def __init__(self, points: tuple[TrendPoint, ...]) -> None:
        self.points = points
        self.top = max([1, *(max(p.flaky, p.failing) for p in points)])

    def line(self, field: str) -> str:
        if not self.points:
            return ""
        step = (self.width - 2 * self.pad) / max(len(self.points) - 1, 1)
        scale = (self.height - 2 * self.pad) / self.top
        return " ".join(
            f"{self.pad + i * step:.1f},{self.height - self.pad - getattr(p, field) * scale:.1f}"
            for i, p in enumerate(self.points)
        )
