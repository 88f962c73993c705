"""Scoring findings against a scenario's truth: F1, what was mistaken for flaky, what was missed.

Used by benchmarks/evaluate_detection.py. The two baselines mirror simple detectors a team could
write in an afternoon, given the same stored history.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from reporter.analysis import FAILING, FLAKY, Analysis, Finding, decayed_flip_rate
from reporter.history import History
from reporter.noise import failing_share
from reporter.simulator import Scenario
from reporter.simulator.scenario import FAILING_KINDS

Pair = tuple[int, str]
NOISE_CLASSES = ("partial infrastructure", "outage", "infrastructure run", "pull request")
FP_CLASSES = (*NOISE_CLASSES, "fixed regression", "real regression", "other")
MISS_CLASSES = ("bursty", "correlated", "single failure", "low-rate (< 10 %)", "other")
CAUSE_CLASS = {
    "partial_infrastructure": "partial infrastructure",
    "category_outage": "outage",
    "infrastructure_run": "infrastructure run",
    "pull_request": "pull request",
}
BINS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0001)


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: set[Pair], truth: set[Pair]) -> None:
        self.tp += len(predicted & truth)
        self.fp += len(predicted - truth)
        self.fn += len(truth - predicted)

    @property
    def f1(self) -> float:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        return 2 * p * r / (p + r) if p + r else 0.0

    def __str__(self) -> str:
        if not self.tp + self.fp + self.fn:
            return "none planted, none found"
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        return f"P {p:.2f} R {r:.2f} F1 {self.f1:.2f}"


@dataclass
class Tally:
    """Everything counted for one profile over its seeds."""

    flaky: Score = field(default_factory=Score)
    failing: Score = field(default_factory=Score)
    same_commit: Score = field(default_factory=Score)
    flip_rate: Score = field(default_factory=Score)
    mistaken: Counter[str] = field(default_factory=Counter)
    missed: Counter[str] = field(default_factory=Counter)
    clusters: Score = field(default_factory=Score)
    judged: list[tuple[float, bool]] = field(default_factory=list)  # (confidence, right) per flagged finding

    def add(self, scenario: Scenario, history: History, result: Analysis) -> None:
        flaky = {(f.sample_id, f.platform) for f in result.by_class(FLAKY)}
        failing = {(f.sample_id, f.platform) for f in result.by_class(FAILING)}
        self.flaky.add(flaky, scenario.flaky)
        self.failing.add(failing, scenario.failing)
        self.same_commit.add(same_commit_baseline(history), scenario.flaky)
        self.flip_rate.add(flip_rate_baseline(history), scenario.flaky)
        for finding in result.by_class(FLAKY):
            if (finding.sample_id, finding.platform) not in scenario.flaky:
                self.mistaken[mistaken_for_flaky(scenario, finding)] += 1
        failures = observed_failures(history)
        for pair in scenario.flaky - flaky:
            self.missed[missed_kind(scenario, pair, failures[pair])] += 1
        self._clusters(scenario, result)
        for finding in result.findings:
            pair = (finding.sample_id, finding.platform)
            if finding.classification == FLAKY:
                self.judged.append((finding.confidence, pair in scenario.flaky))
            elif finding.classification == FAILING:
                self.judged.append((finding.confidence, pair in scenario.failing))

    def _clusters(self, scenario: Scenario, result: Analysis) -> None:
        truth = [
            frozenset(p for p in c if p[1] == name) for c in scenario.clusters for name in {p[1] for p in c}
        ]
        found = [frozenset((s, c.platform) for s in c.sample_ids) for c in result.clusters]
        right = sum(1 for a in found if any(2 * len(a & b) > len(a) for b in truth))  # mostly one cluster
        self.clusters.tp += right
        self.clusters.fp += len(found) - right
        self.clusters.fn += sum(1 for b in truth if not any(2 * len(a & b) >= len(b) for a in found))

    @property
    def from_noise(self) -> int:
        """Samples called flaky because of infrastructure, outage or pull-request noise."""
        return sum(self.mistaken[c] for c in NOISE_CLASSES)


def mistaken_for_flaky(scenario: Scenario, finding: Finding) -> str:
    """What a false flaky finding really was: the most common cause among the failures it rests on."""
    spec = scenario.sample(finding.sample_id)
    if spec is not None and spec.kind in FAILING_KINDS and finding.platform in spec.platforms:
        return "real regression"
    causes: Counter[str] = Counter()
    for run_id in finding.failing_runs:
        run = scenario.run(run_id)
        for index in range(len(run.attempts) if run else 0):
            cause = scenario.failure_cause(run_id, index, finding.sample_id)
            if cause is not None:
                causes[cause] += 1
    for cause, _ in causes.most_common():
        if cause in CAUSE_CLASS:
            return CAUSE_CLASS[cause]
        if cause == "regression":
            return "fixed regression"
    return "other"


def missed_kind(scenario: Scenario, pair: Pair, failures: int) -> str:
    """Which kind of flake a missed flaky pair is."""
    spec = scenario.sample(pair[0])
    if failures <= 1:
        return "single failure"
    if spec is not None and spec.kind == "bursty":
        return "bursty"
    if spec is not None and spec.kind == "clustered":
        return "correlated"
    if spec is not None and spec.fail_rate < 0.1:
        return "low-rate (< 10 %)"
    return "other"


def observed_failures(history: History) -> Counter[Pair]:
    found: Counter[Pair] = Counter()
    for run in history.runs:
        if run.evidence:
            found.update((s, run.platform) for s in run.failures)
    return found


def _clean_series(history: History) -> dict[Pair, list[tuple[str, bool]]]:
    """Per pair, (commit, failed) over evidence runs where fewer than half of the samples failed."""
    found: dict[Pair, list[tuple[str, bool]]] = defaultdict(list)
    for run in history.runs:
        share = failing_share(run)
        if run.evidence and share is not None and share < 0.5:
            for sample_id in run.tested | run.failures.keys():
                found[(sample_id, run.platform)].append((run.commit_sha, sample_id in run.failures))
    return found


def same_commit_baseline(history: History) -> set[Pair]:
    """Flaky: passed and failed on one commit, once runs where most samples failed are dropped."""
    flaky = set()
    for pair, seen in _clean_series(history).items():
        outcomes: dict[str, set[bool]] = defaultdict(set)
        for sha, failed in seen:
            outcomes[sha].add(failed)
        if any(len(o) == 2 for o in outcomes.values()):
            flaky.add(pair)
    return flaky


def flip_rate_baseline(history: History, decay: float = 0.05, bar: float = 0.1) -> set[Pair]:
    """Flaky: decayed flip rate above 0.1, once runs where most samples failed are dropped."""
    return {
        pair
        for pair, seen in _clean_series(history).items()
        if decayed_flip_rate(len(seen), [k for k, (_, failed) in enumerate(seen) if failed], decay) > bar
    }


def reliability(judged: Iterable[tuple[float, bool]]) -> tuple[list[tuple[str, int, float, float]], float]:
    """Findings binned by confidence: (bin, count, mean confidence, share right); and the Brier score."""
    pairs = list(judged)
    rows = []
    for low, high in itertools.pairwise(BINS):
        inside = [(c, r) for c, r in pairs if low <= c < high]
        if inside:
            mean = sum(c for c, _ in inside) / len(inside)
            right = sum(r for _, r in inside) / len(inside)
            rows.append((f"{low:.2f}-{min(high, 1.0):.2f}", len(inside), mean, right))
    brier = sum((c - r) ** 2 for c, r in pairs) / len(pairs) if pairs else 0.0
    return rows, brier


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
