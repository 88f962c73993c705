"""Turn an analysis and the previous digests into the next digest: new, still, recovered, trend; pure.

The trend is read from what each earlier digest stored (its counts), not recomputed: a point per
digest of the last ``TREND_DAYS`` days, then this one's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from reporter.analysis import (
    FAILING,
    FIXED,
    FLAKY,
    STABLE,
    Analysis,
    Classification,
    Cluster,
    Finding,
    InfraNoise,
    PullRequestBreakage,
)
from reporter.grid import Grid

FLAGGED = (FLAKY, FAILING)
TREND_DAYS = 30  # at most this many daily points in the report's trend
NOISE_SHOWN = 5  # the latest shared causes a digest lists (it counts them all)
CAUSE_NAMES = {
    "run": "whole run",
    "tail": "failing tail",
    "category": "category outage",
    "signature": "many failing alike",
}


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """What the digest of one day counted."""

    day: date
    flaky: int
    failing: int


@dataclass(frozen=True, slots=True)
class Freshness:
    """How fresh a report's data is, and whether the reporter can see the platform at all.

    ``blind`` is true when no poll has succeeded within ``max_age`` (or none ever did): then no
    report may say "all clear", and every format says since when it is blind and why.
    """

    newest_run_at: datetime | None  # completion time of the newest run ingested
    last_poll_ok_at: datetime | None  # when the last successful poll ended
    max_age: timedelta  # the longest time without a successful poll before the reporter is blind
    blind: bool
    blind_since: datetime | None = None  # the end of the last successful poll, or the first failure
    last_error: str | None = None  # the last poll's error, secrets never included
    timezone: str = "UTC"  # the zone its times are shown in

    def line(self) -> str:
        """One sentence: the newest run ingested and the last successful poll."""
        newest = self.newest_run_at
        ok = self.last_poll_ok_at
        run = f"newest run finished {when(newest, self.timezone)}" if newest else "no run ingested yet"
        poll = f"last successful poll {when(ok, self.timezone)}" if ok else "no successful poll yet"
        return f"Data: {run}; {poll}."

    def blind_reason(self) -> str:
        """Why nothing here can be vouched for: since when the platform has been out of sight, and why."""
        ok_at, error = self.last_poll_ok_at, self.last_error
        if ok_at is None:
            what = (
                "no poll of the Sample Platform has ever succeeded"
                if error
                else "the Sample Platform has never been polled"
            )
            how = (
                f"; the last poll failed: {error}"
                if error
                else ": run `reporter poll` or start `reporter run`"
            )
            return f"BLIND: {what}{how}. This is not an all clear."
        since = when(ok_at, self.timezone)
        what = f"no successful poll of the Sample Platform since {since} (allowed: {span(self.max_age)})"
        if error:
            how = f"; the last poll failed: {error}"
        else:
            how = "; none has run since: check that `reporter run` or the cron job for `reporter poll` runs"
        return f"BLIND: {what}{how}. This is not an all clear: the findings are as of {since}."


def when(moment: datetime, timezone: str) -> str:
    """A moment as people read it, in the configured time zone: 2026-11-20 07:55 CET."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")


def span(length: timedelta) -> str:
    """A duration in words: 45 min, 2 h 10 min, 3 days 4 h."""
    minutes = max(0, round(length.total_seconds() / 60))
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} day{'s' if days != 1 else ''}" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{minutes} min"


@dataclass(frozen=True, slots=True)
class FindingsReport:
    """The current findings as ``reporter flaky`` reports them, with what they were computed over."""

    findings: Sequence[Finding]
    generated_at: datetime
    window_days: int
    web_url: str
    clusters: Sequence[Cluster] = ()
    hint: str = ""  # what to do when there is nothing to show (no run ingested yet, say)


@dataclass(frozen=True, slots=True)
class Entry:
    """A finding as the digest shows it: the finding plus whether it is new since the last digest."""

    finding: Finding
    new: bool


@dataclass(frozen=True, slots=True)
class Digest:
    """Everything a template needs for one period's report."""

    period: str
    generated_at: datetime
    window_days: int
    runs_analysed: int
    excluded: Mapping[str, int]
    new_flaky: tuple[Entry, ...]
    still_flaky: tuple[Entry, ...]
    failing: tuple[Entry, ...]
    recovered: tuple[Entry, ...]
    pr_breakages: tuple[PullRequestBreakage, ...]
    error_types: Mapping[str, int]
    trend: Mapping[str, tuple[int | None, int]]
    previous_period: str | None
    web_url: str
    grids: tuple[Grid, ...] = ()
    trend_points: tuple[TrendPoint, ...] = ()
    omitted: int = 0
    freshness: Freshness | None = None
    carried: Mapping[str, str] = field(default_factory=dict)  # flagged before, unseen for lack of runs
    timezone: str = "UTC"  # the IANA zone every time in the report is shown in (schedule.timezone)
    clusters: tuple[Cluster, ...] = ()  # flaky samples that fail together, one cause each
    noise: tuple[InfraNoise, ...] = ()  # shared causes set aside (whole attempts or parts), latest first

    @property
    def noise_attempts(self) -> int:
        """How many run attempts shared causes hit (one attempt may have several causes)."""
        return len({event.key for event in self.noise})

    @property
    def noise_counts(self) -> dict[str, int]:
        """How many run attempts each kind of shared cause hit, by its name in words."""
        hit: dict[str, set[tuple[int, int]]] = {}
        for event in self.noise:
            hit.setdefault(CAUSE_NAMES.get(event.cause, event.cause), set()).add(event.key)
        return {name: len(keys) for name, keys in hit.items()}

    @property
    def noise_shown(self) -> tuple[InfraNoise, ...]:
        return self.noise[:NOISE_SHOWN]

    def shortened(self, per_section: int) -> Digest:
        """At most ``per_section`` samples in each list; how many were left out is kept."""
        lists = (self.failing, self.new_flaky, self.still_flaky)
        cut = sum(max(0, len(entries) - per_section) for entries in lists)
        return replace(
            self,
            failing=self.failing[:per_section],
            new_flaky=self.new_flaky[:per_section],
            still_flaky=self.still_flaky[:per_section],
            omitted=self.omitted + cut,
        )

    @property
    def blind(self) -> bool:
        """The reporter cannot vouch for this period: no recent successful poll, or no run analysed."""
        return self.runs_analysed == 0 or (self.freshness is not None and self.freshness.blind)

    @property
    def all_clear(self) -> bool:
        return not (self.blind or self.new_flaky or self.still_flaky or self.failing)

    @property
    def _freshness(self) -> Freshness | None:
        """The freshness with its times in the report's time zone."""
        fresh = self.freshness
        return (
            fresh
            if fresh is None or fresh.timezone == self.timezone
            else replace(fresh, timezone=self.timezone)
        )

    @property
    def freshness_line(self) -> str:
        """How fresh the data is, one sentence ("" when unknown)."""
        return self._freshness.line() if self._freshness is not None else ""

    @property
    def blind_reason(self) -> str:
        """Why this digest is not an all clear although it may list nothing ("" when it can vouch)."""
        if self._freshness is not None and self._freshness.blind:
            return self._freshness.blind_reason()
        if self.runs_analysed == 0:
            return (
                f"NO DATA: no finished run of the last {self.window_days} days was analysed, so this is "
                "not an all clear; check that polls ingest runs (`reporter status`) and the filters."
            )
        return ""

    @property
    def excluded_total(self) -> int:
        return sum(self.excluded.values())

    def state(self) -> str:
        """What the next digest needs to know of this one, as JSON."""
        findings = dict(self.carried) | {
            f"{e.finding.sample_id}:{e.finding.platform}": e.finding.classification
            for e in (*self.new_flaky, *self.still_flaky, *self.failing)
        }
        counts = {name: current for name, (_, current) in self.trend.items()}
        return json.dumps({"findings": findings, "counts": counts}, sort_keys=True)


def build(
    analysis: Analysis,
    *,
    period: str,
    generated_at: datetime,
    window_days: int,
    web_url: str,
    previous: tuple[str, str] | None,
    names: Mapping[int, str] | None = None,
    grids: tuple[Grid, ...] = (),
    past: Sequence[tuple[str, str]] = (),
    freshness: Freshness | None = None,
    timezone: str = "UTC",
) -> Digest:
    """Compare ``analysis`` with the previous digest's stored state (period, JSON).

    ``past`` holds the stored states of earlier digests (period, JSON), oldest first; those of the
    last ``TREND_DAYS`` days make the trend, this digest's counts its last point. The first digest
    (no previous one) counts as recovered what the analysis found fixed within the window.
    """
    before = _state(previous[1]) if previous else {}
    was: Mapping[str, str] = before.get("findings", {})
    flaky, failing, recovered = [], [], []
    for finding in analysis.findings:
        key = f"{finding.sample_id}:{finding.platform}"
        kind = _sticky(finding, was.get(key))
        if kind == FLAKY:
            flaky.append(Entry(finding, was.get(key) != FLAKY))
        elif kind == FAILING:
            failing.append(Entry(finding, was.get(key) != FAILING))
        elif was.get(key) in FLAGGED or (previous is None and kind == FIXED):
            recovered.append(Entry(finding, True))
    present = {f"{f.sample_id}:{f.platform}" for f in analysis.findings}
    gone = [key for key, kind in was.items() if kind in FLAGGED and key not in present]
    # with no run analysed nothing was seen to pass: what was flagged stays flagged, for the next digest
    carried = {key: was[key] for key in gone} if analysis.runs_analysed == 0 else {}
    recovered.extend(Entry(_quiet(key, names or {}), True) for key in sorted(gone) if key not in carried)
    counts = {
        "flaky": len(flaky),
        "failing": len(failing),
        "runs": analysis.runs_analysed,
        "excluded": sum(analysis.excluded.values()),
    }
    old_counts: Mapping[str, int] = before.get("counts", {})
    return Digest(
        period=period,
        generated_at=generated_at,
        window_days=window_days,
        runs_analysed=analysis.runs_analysed,
        excluded=dict(analysis.excluded),
        new_flaky=tuple(e for e in flaky if e.new),
        still_flaky=tuple(e for e in flaky if not e.new),
        failing=tuple(failing),
        recovered=tuple(recovered),
        pr_breakages=analysis.pr_breakages,
        error_types=dict(analysis.error_types),
        trend={name: (old_counts.get(name) if previous else None, value) for name, value in counts.items()},
        previous_period=previous[0] if previous else None,
        web_url=web_url.rstrip("/"),
        grids=grids,
        trend_points=(*_points(past, period), TrendPoint(_day(period), len(flaky), len(failing))),
        carried=carried,
        freshness=freshness,
        timezone=timezone,
        clusters=analysis.clusters,
        noise=tuple(sorted(analysis.infra_noise, key=lambda e: (-e.run_id, -e.attempt))),
    )


def trend_start(period: str) -> str:
    """The first period whose digest belongs in the trend of ``period``'s digest."""
    return (_day(period) - timedelta(days=TREND_DAYS - 1)).isoformat()


def _points(past: Sequence[tuple[str, str]], period: str) -> list[TrendPoint]:
    """Trend points from stored digests inside the trend's span; unreadable states are skipped."""
    first = trend_start(period)
    points = []
    for stored, state in sorted(past):
        counts = _counts(state)
        if first <= stored < period and counts is not None:
            points.append(TrendPoint(_day(stored), *counts))
    return points


def _state(text: str) -> dict[str, Any]:
    """A stored digest state as a dict; an unreadable one reads as empty (nothing was reported)."""
    try:
        state = json.loads(text)
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def _counts(state: str) -> tuple[int, int] | None:
    """The flaky and failing counts a digest stored, if its state has them."""
    counts = _state(state).get("counts")
    if not isinstance(counts, dict):
        return None
    flaky, failing = counts.get("flaky"), counts.get("failing")
    return (flaky, failing) if isinstance(flaky, int) and isinstance(failing, int) else None


def _day(period: str) -> date:
    return date.fromisoformat(period)


def _sticky(finding: Finding, before: str | None) -> Classification:
    """Hysteresis: a flagged sample stays flagged until the analysis calls it fixed."""
    if before in FLAGGED and finding.classification == STABLE:
        return Classification(before)
    return finding.classification


def _quiet(key: str, names: Mapping[int, str]) -> Finding:
    sample_id, platform = key.split(":", 1)
    name = names.get(int(sample_id), f"sample {sample_id}")
    return Finding(int(sample_id), name, platform, FIXED, 0.0, 0.0, 0, 0, 0, 0, None, None, (), (), "")
