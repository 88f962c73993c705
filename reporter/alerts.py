"""Decide which failures of a newly finished run known flakiness does not explain; pure.

Alerts compare a poll's new runs with a ``Known`` snapshot of the last full analysis (flagged
samples and each platform's infrastructure bar), so the check costs what the new runs cost.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from reporter.analysis import FAILING, FLAKY, Analysis
from reporter.history import RunRecord
from reporter.noise import failing_share


@dataclass(frozen=True, slots=True)
class Unexplained:
    """A failure in a run that no known flaky or failing finding accounts for."""

    sample_id: int
    sample_name: str
    error_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Alert:
    """A finished master run with failures that known flakiness does not explain."""

    run: RunRecord
    failures: tuple[Unexplained, ...]


@dataclass(frozen=True, slots=True)
class Known:
    """What alerts compare new runs with: flagged (sample, platform) pairs and the infrastructure bars.

    Taken from a full analysis and kept in the state, so that checking a poll's new runs costs what
    those runs cost, not what the history costs.
    """

    at: datetime
    flagged: frozenset[tuple[int, str]]
    bars: Mapping[str, float]

    @classmethod
    def of(cls, result: Analysis, at: datetime) -> Known:
        flagged = frozenset(
            (f.sample_id, f.platform) for f in result.findings if f.classification in (FLAKY, FAILING)
        )
        return cls(at, flagged, dict(result.infra_bars))

    def with_flagged(self, pairs: Iterable[tuple[int, str]]) -> Known:
        return replace(self, flagged=self.flagged | frozenset(pairs))

    def to_json(self) -> str:
        return json.dumps(
            {"at": self.at.isoformat(), "flagged": sorted(self.flagged), "bars": dict(self.bars)}
        )

    @classmethod
    def from_json(cls, text: str) -> Known:
        data = json.loads(text)
        pairs = frozenset((int(s), str(p)) for s, p in data["flagged"])
        return cls(
            datetime.fromisoformat(data["at"]), pairs, {str(k): float(v) for k, v in data["bars"].items()}
        )


def unexplained(run: RunRecord, known: Known, names: Mapping[int, str]) -> Alert | None:
    """None unless ``run`` is a master run that failed for reasons known flakiness does not cover."""
    if run.status != "fail" or run.pr_number is not None:
        return None
    share = failing_share(run)
    if share is not None and share >= known.bars.get(run.platform, 1.0):
        return None  # the infrastructure broke: no sample is to blame
    failures = tuple(
        Unexplained(sample_id, names.get(sample_id, f"sample {sample_id}"), types)
        for sample_id, types in sorted(run.failures.items())
        if (sample_id, run.platform) not in known.flagged
    )
    return Alert(run, failures) if failures else None
