"""Decide which failures of newly finished runs known flakiness does not explain; pure.

Alerts compare a poll's new runs with a ``Snapshot`` of the last full analysis (flagged samples and
each platform's infrastructure bar), so the check costs what the new runs cost. The rules: only a
failed master run alerts; a run past its platform's infrastructure bar blames no sample, nor do
failures one shared cause explains in part of a run; a sample already flagged is explained; a
sample alerted about joins the snapshot, so it alerts once; the
snapshot is taken again when it is older than ``alerts.refresh_minutes``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from reporter.analysis import FAILING, FLAKY, Analysis
from reporter.config import AnalysisSettings
from reporter.history import History, RunRecord
from reporter.noise import explained_alone, failing_share

SNAPSHOT_KEY = "known_findings"  # where the state keeps the snapshot (a meta key; the name is stored)


@dataclass(frozen=True, slots=True)
class Unexplained:
    """A failure in a run that no flaky or failing finding accounts for."""

    sample_id: int
    sample_name: str
    error_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Alert:
    """A finished master run with failures that known flakiness does not explain."""

    run: RunRecord
    failures: tuple[Unexplained, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What alerts compare new runs with: flagged (sample, platform) pairs and the infrastructure bars.

    Taken from a full analysis and kept in the state, so that checking a poll's new runs costs what
    those runs cost, not what the history costs.
    """

    at: datetime
    flagged: frozenset[tuple[int, str]]
    bars: Mapping[str, float]

    @classmethod
    def of(cls, result: Analysis, at: datetime) -> Snapshot:
        flagged = frozenset(
            (f.sample_id, f.platform) for f in result.findings if f.classification in (FLAKY, FAILING)
        )
        return cls(at, flagged, dict(result.infra_bars))

    def with_flagged(self, pairs: Iterable[tuple[int, str]]) -> Snapshot:
        return replace(self, flagged=self.flagged | frozenset(pairs))

    def stale(self, now: datetime, refresh_minutes: float) -> bool:
        return now - self.at > timedelta(minutes=refresh_minutes)

    def to_json(self) -> str:
        return json.dumps(
            {"at": self.at.isoformat(), "flagged": sorted(self.flagged), "bars": dict(self.bars)}
        )

    @classmethod
    def from_json(cls, text: str | None) -> Snapshot | None:
        """The stored snapshot, or None if there is none or it cannot be read (it is taken again)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            pairs = frozenset((int(s), str(p)) for s, p in data["flagged"])
            bars = {str(k): float(v) for k, v in data["bars"].items()}
            return cls(datetime.fromisoformat(data["at"]), pairs, bars)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


def unexplained(
    run: RunRecord,
    snapshot: Snapshot,
    names: Mapping[int, str],
    suite: History | None = None,
    settings: AnalysisSettings | None = None,
) -> Alert | None:
    """None unless ``run`` is a master run that failed for reasons known flakiness does not cover.

    With ``suite`` (the samples' tests and categories), failures that one shared cause explains (a
    failing tail of the run, a category outage, many samples failing the same way) blame no sample.
    """
    if run.status != "fail" or run.pr_number is not None:
        return None
    share = failing_share(run)
    if share is not None and share >= snapshot.bars.get(run.platform, 1.0):
        return None  # the infrastructure broke: no sample is to blame
    shared: frozenset[int] = frozenset()
    if suite is not None:
        flagged = frozenset(s for s, platform in snapshot.flagged if platform == run.platform)
        shared = explained_alone(run, suite, flagged, settings or AnalysisSettings())
    failures = tuple(
        Unexplained(sample_id, names.get(sample_id, f"sample {sample_id}"), types)
        for sample_id, types in sorted(run.failures.items())
        if (sample_id, run.platform) not in snapshot.flagged and sample_id not in shared
    )
    return Alert(run, failures) if failures else None


def check(
    runs: Iterable[RunRecord],
    snapshot: Snapshot,
    names: Mapping[int, str],
    suite: History | None = None,
    settings: AnalysisSettings | None = None,
) -> tuple[list[Alert], Snapshot]:
    """Alerts for ``runs`` in order, and the snapshot with every blamed sample flagged (alerts once)."""
    found = []
    for run in runs:
        alert = unexplained(run, snapshot, names, suite, settings)
        if alert is not None:
            found.append(alert)
            snapshot = snapshot.with_flagged((f.sample_id, run.platform) for f in alert.failures)
    return found, snapshot
