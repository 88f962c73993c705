"""The probability that a finding is right, from its evidence: a small logistic model; pure.

The weights were fitted on simulated histories with known truth (the tuning seeds of
benchmarks/evaluate_detection.py, every profile: ``uv run python -m benchmarks.calibrate``), never on
the held-out seeds the benchmark reports. docs/analysis.md ("Confidence") lists the features.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from reporter.verdict import FAILING, FLAKY

FEATURES = (
    "log(1 + independent failures)",
    "same-commit disagreements (at most 2)",
    "failure rate",
    "in a co-failing cluster",
    "more than one error type",
    "share of failures set aside as shared-cause noise",
    "classified flaky",
)
# Intercept first, then one weight per feature, as benchmarks/calibrate.py printed them.
FLAKY_WEIGHTS = (-3.803, 1.861, 3.092, -2.561, 1.574, 3.649, 0.385, 3.158)
FAILING_WEIGHTS = (1.229, 1.234)  # intercept, log(1 + failures since the regression began)


class Evidence(Protocol):
    """What the model reads off a finding."""

    @property
    def classification(self) -> str: ...
    @property
    def failures(self) -> int: ...
    @property
    def runs(self) -> int: ...
    @property
    def independent_failures(self) -> int: ...
    @property
    def same_commit_disagreements(self) -> int: ...
    @property
    def cluster(self) -> int | None: ...
    @property
    def error_types(self) -> tuple[str, ...]: ...
    @property
    def noise_failures(self) -> int: ...
    @property
    def failing_runs(self) -> tuple[int, ...]: ...


def features(finding: Evidence) -> tuple[float, ...]:
    """The inputs of the model of P(flaky), in ``FEATURES`` order (one model for every class)."""
    return (
        math.log1p(finding.independent_failures),
        float(min(finding.same_commit_disagreements, 2)),
        finding.failures / max(finding.runs, 1),
        0.0 if finding.cluster is None else 1.0,
        1.0 if len(finding.error_types) > 1 else 0.0,
        finding.noise_failures / max(finding.noise_failures + finding.failures, 1),
        1.0 if finding.classification == FLAKY else 0.0,
    )


def logistic(weights: Sequence[float], inputs: Sequence[float]) -> float:
    z = weights[0] + sum(w * x for w, x in zip(weights[1:], inputs, strict=True))
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


def confidence(finding: Evidence) -> float:
    """P(flaky) for a flaky finding, P(failing) for a failing one, P(neither) for the others."""
    if finding.classification == FAILING:
        return logistic(FAILING_WEIGHTS, (math.log1p(len(finding.failing_runs)),))
    flaky = logistic(FLAKY_WEIGHTS, features(finding))
    return flaky if finding.classification == FLAKY else 1 - flaky
