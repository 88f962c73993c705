"""Classify every (sample, platform) as flaky, failing, fixed or stable, with evidence; pure.

The method, its formulas and defaults are explained in docs/analysis.md.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from reporter import observations
from reporter.config import AnalysisSettings
from reporter.history import History, RunRecord
from reporter.observations import Series


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
HISTORY_LENGTH = 30
VARIED_TYPES_BOOST = 1.25


@dataclass(frozen=True, slots=True)
class RunRef:
    """A pointer to one run as evidence."""

    run_id: int
    commit_sha: str
    completed_at: str | None


@dataclass(frozen=True, slots=True)
class Finding:
    """What the analysis concludes about one sample on one platform, and why."""

    sample_id: int
    sample_name: str
    platform: str
    classification: Classification
    score: float
    confidence: float
    runs: int
    failures: int
    flips: int
    same_commit_disagreements: int
    first_failure: RunRef | None
    last_failure: RunRef | None
    error_types: tuple[str, ...]
    regression_ids: tuple[int, ...]
    history: str
    failing_runs: tuple[int, ...] = ()
    regression_tests: tuple[RegressionTest, ...] = ()


@dataclass(frozen=True, slots=True)
class RegressionTest:
    """Drill-down: one of the sample's regression tests, classified on its own."""

    regression_id: int
    classification: Classification
    failures: int
    runs: int
    history: str


@dataclass(frozen=True, slots=True)
class PullRequestBreakage:
    """A sample broken only in one pull request's runs: that PR's bug, not flakiness."""

    pr_number: int
    sample_id: int
    sample_name: str
    platforms: tuple[str, ...]
    run_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Analysis:
    """The outcome over one window: findings plus what was set aside as noise."""

    findings: tuple[Finding, ...]
    runs_analysed: int
    excluded: Mapping[str, int]
    infra_run_ids: tuple[int, ...]
    pr_breakages: tuple[PullRequestBreakage, ...]
    error_types: Mapping[str, int]
    infra_bars: Mapping[str, float] = field(default_factory=dict)

    def by_class(self, classification: Classification) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.classification == classification)


def analyse(history: History, settings: AnalysisSettings) -> Analysis:
    """Run the whole method over ``history`` (runs oldest first)."""
    evidence = [run for run in history.runs if run.evidence]
    excluded: dict[str, int] = defaultdict(int)
    for run in history.runs:
        if not run.evidence:
            excluded[run.status] += 1
    bars = infra_bars(evidence, settings)
    infra = infra_runs(evidence, bars)
    excluded["infrastructure"] = len(infra)
    usable = [run for run in evidence if run.run_id not in infra]
    series = observations.build(usable)
    breakages, pr_noise = _pull_request_breakages(series, history.sample_names)
    excluded["pull request breakage"] = len({run_id for run_id, _ in pr_noise})
    noisy: dict[int, set[int]] = defaultdict(set)
    for run_id, sample_id in pr_noise:
        noisy[sample_id].add(run_id)
    findings = []
    for (sample_id, platform), data in sorted(series.items()):
        kept = data.without(noisy[sample_id]) if sample_id in noisy else data
        name = history.sample_names.get(sample_id, f"sample {sample_id}")
        finding = classify(sample_id, name, platform, kept, settings)
        if finding is not None:
            findings.append(finding)
    findings.sort(key=lambda f: (-f.score, f.sample_id, f.platform))
    return Analysis(
        tuple(findings),
        len(usable),
        dict(excluded),
        tuple(sorted(infra)),
        tuple(breakages),
        _error_types(usable),
        bars,
    )


def failing_share(run: RunRecord) -> float | None:
    """The share of a run's tested samples that failed (None if it tested nothing)."""
    tested = len(run.tested) + sum(1 for s in run.failures if s not in run.tested)
    return len(run.failures) / tested if tested else None


def infra_bars(runs: Sequence[RunRecord], settings: AnalysisSettings) -> dict[str, float]:
    """Per platform, the failing share from which a run counts as infrastructure-broken."""
    shares: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        share = failing_share(run)
        if share is not None:
            shares[run.platform].append(share)
    bars = {}
    for platform, values in shares.items():
        median = statistics.median(values)
        spread = statistics.median(abs(v - median) for v in values)
        bars[platform] = max(
            settings.infra_min_fraction, median + settings.infra_mad_factor * max(spread, 0.01)
        )
    return bars


def infra_runs(runs: Sequence[RunRecord], bars: Mapping[str, float]) -> set[int]:
    """Runs where far more samples failed than is normal for their platform."""
    return {
        run.run_id
        for run in runs
        if (share := failing_share(run)) is not None and share >= bars.get(run.platform, 1.0)
    }


def _pull_request_breakages(
    series: Mapping[tuple[int, str], Series], names: Mapping[int, str]
) -> tuple[list[PullRequestBreakage], set[tuple[int, int]]]:
    """Failures concentrated in one PR's runs while the sample passes on master around them."""
    local: dict[tuple[int, int], list[RunRecord]] = defaultdict(list)
    for (sample_id, _platform), data in series.items():
        for k in data.failed:
            run = data.run(k)
            if run.pr_number is not None and _master_passes_around(data, k):
                local[(run.pr_number, sample_id)].append(run)
    breakages: list[PullRequestBreakage] = []
    noise: set[tuple[int, int]] = set()
    for (pr_number, sample_id), runs in sorted(local.items()):
        if len(runs) < 2 or len(runs) * 2 < _observed_in_pr(series, sample_id, pr_number):
            continue
        noise.update((run.run_id, sample_id) for run in runs)
        breakages.append(
            PullRequestBreakage(
                pr_number,
                sample_id,
                names.get(sample_id, f"sample {sample_id}"),
                tuple(sorted({run.platform for run in runs})),
                tuple(sorted(run.run_id for run in runs)),
            )
        )
    return breakages, noise


def _observed_in_pr(series: Mapping[tuple[int, str], Series], sample_id: int, pr_number: int) -> int:
    """How many of a pull request's runs, on any platform, tested the sample."""
    platforms = {platform for _, platform in series}
    found = (series.get((sample_id, platform)) for platform in platforms)
    return sum(data.in_pull_request(pr_number) for data in found if data is not None)


def _master_passes_around(data: Series, k: int) -> bool:
    """Do the nearest master runs on this platform (up to three each side) mostly pass?"""
    near = data.master_neighbours(k)
    return bool(near) and sum(data.fails(i) for i in near) * 2 < len(near)


def classify(
    sample_id: int, name: str, platform: str, data: Series, settings: AnalysisSettings, drill: bool = True
) -> Finding | None:
    """One sample on one platform, and with ``drill`` each failing regression test; None if no failure."""
    fails = data.failed
    if not fails:
        return None
    n = len(data)
    mixed = data.mixed_commits()
    blocks = _regression_blocks(data, settings.regression_min_streak, mixed)
    in_blocks = {i for start, end in blocks for i in range(start, end)}
    loose = [i for i in fails if i not in in_blocks]
    flaky_enough = bool(mixed) or (len(loose) >= settings.flaky_min_failures and n >= settings.min_runs)
    if blocks and flaky_enough and _chance_streak(blocks[-1], settings.regression_min_streak):
        blocks, loose = blocks[:-1], sorted([*loose, *range(*blocks[-1])])
        in_blocks = {i for start, end in blocks for i in range(start, end)}
    passes_after = n - blocks[-1][1] if blocks else 0
    if blocks and passes_after < settings.recovery_passes:
        kind, focus = FAILING, list(range(*blocks[-1]))
    elif flaky_enough and loose:
        kind, focus = _flaky_or_recovered(n, loose, len(in_blocks)), loose
    elif blocks:
        kind, focus = FIXED, list(range(*blocks[-1]))
    else:
        kind, focus = STABLE, list(fails)
    finding = _finding(sample_id, name, platform, kind, data, focus, len(mixed), settings)
    if not drill or kind == STABLE:
        return finding
    return replace(finding, regression_tests=_drill_down(finding, data, settings))


def _drill_down(finding: Finding, data: Series, settings: AnalysisSettings) -> tuple[RegressionTest, ...]:
    """Each failing regression test of the sample, classified over the same runs (tests run together)."""
    sample_id = finding.sample_id
    ids = sorted({r for k in data.failed for r in data.run(k).failed_regressions.get(sample_id, ())})
    if len(ids) == 1:  # one test failed, every time: it shares the sample's verdict
        return (
            RegressionTest(ids[0], finding.classification, finding.failures, finding.runs, finding.history),
        )
    found = []
    for regression_id in ids:
        failed = [
            k for k in data.failed if regression_id in data.run(k).failed_regressions.get(sample_id, ())
        ]
        alone = Series(data.platform, sample_id, data.positions, failed, whole=False)
        test = classify(sample_id, finding.sample_name, finding.platform, alone, settings, drill=False)
        if test is not None:
            found.append(
                RegressionTest(regression_id, test.classification, test.failures, test.runs, test.history)
            )
    return tuple(found)


def _regression_blocks(data: Series, min_streak: int, mixed: set[str]) -> list[tuple[int, int]]:
    """Maximal streaks of failures, at least ``min_streak`` long, on commits that never passed."""
    blocks: list[tuple[int, int]] = []
    start = end = -1
    for k in data.failed:
        if data.run(k).commit_sha in mixed:
            continue  # a failure on a commit that also passed belongs to no streak, and ends one
        if k == end:
            end = k + 1
            continue
        if end - start >= min_streak:
            blocks.append((start, end))
        start, end = k, k + 1
    if end - start >= min_streak:
        blocks.append((start, end))
    return blocks


def _chance_streak(block: tuple[int, int], min_streak: int) -> bool:
    """A short streak in an already flaky series is more likely chance than a regression."""
    return block[1] - block[0] < 2 * min_streak


def _flaky_or_recovered(n: int, loose: list[int], blocked: int) -> Classification:
    """Still flaky unless the passes since the last failure would be unlikely at the old rate."""
    rate = min(0.99, len(loose) / max(n - blocked, 1))
    quiet_needed = math.ceil(math.log(0.05) / math.log(1 - rate)) if rate > 0 else 0
    quiet = n - 1 - loose[-1] if loose else n
    return FIXED if quiet >= max(quiet_needed, 1) else FLAKY


def wilson_lower(successes: int, trials: int, z: float = 1.96) -> float:
    """Lower bound of the Wilson score interval for a proportion."""
    if trials == 0:
        return 0.0
    p = successes / trials
    centre = p + z * z / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return max(0.0, (centre - margin) / (1 + z * z / trials))


def flip_points(n: int, failed: Sequence[int]) -> list[int]:
    """Transitions ``k -> k + 1`` where pass turns to fail or back, given the failing indices."""
    if not failed:
        return []
    points = []
    for k, previous in zip(failed, [-2, *failed], strict=False):
        if k != previous + 1 and k > 0:
            points.append(k - 1)  # a streak of failures starts at k
    for k, following in zip(failed, [*failed[1:], n + 1], strict=True):
        if following != k + 1 and k < n - 1:
            points.append(k)  # a streak of failures ends at k
    return sorted(points)


def decayed_flip_rate(n: int, failed: Sequence[int], decay: float) -> float:
    """Flips per transition, newer transitions weighing more (Kowalczyk et al., 2020)."""
    if n < 2:
        return 0.0
    keep = 1 - decay
    weight = (1 - keep ** (n - 1)) / decay if decay else float(n - 1)
    return sum(keep ** (n - 2 - k) for k in flip_points(n, failed)) / weight


def _finding(
    sample_id: int,
    name: str,
    platform: str,
    kind: Classification,
    data: Series,
    focus: list[int],
    disagreements: int,
    settings: AnalysisSettings,
) -> Finding:
    counted = focus or list(data.failed)
    n = len(data)
    runs = [data.run(k) for k in counted]
    confidence = wilson_lower(len(counted), n)
    types = {t for run in runs for t in run.failures.get(sample_id, ())}
    if kind == FLAKY:
        confidence = max(confidence, decayed_flip_rate(n, data.failed, settings.decay) / 2)
        if len(types) > 1:  # failing in different ways on unchanged code: supporting evidence
            confidence = min(1.0, confidence * VARIED_TYPES_BOOST)
    if kind == FAILING:
        confidence = 1 - 0.5 ** len(counted)
    score = round(confidence * n if kind != FAILING else float(len(counted)), 2)
    if kind in (FIXED, STABLE):
        score = 0.0
    return Finding(
        sample_id=sample_id,
        sample_name=name,
        platform=platform,
        classification=kind,
        score=score,
        confidence=round(confidence, 3),
        runs=n,
        failures=len(data.failed),
        flips=len(flip_points(n, data.failed)),
        same_commit_disagreements=disagreements,
        first_failure=_ref(runs[0]),
        last_failure=_ref(runs[-1]),
        error_types=tuple(sorted(types)),
        regression_ids=tuple(sorted({r for run in runs for r in run.failed_regressions.get(sample_id, ())})),
        history="".join("x" if data.fails(k) else "." for k in range(max(0, n - HISTORY_LENGTH), n)),
        failing_runs=tuple(run.run_id for run in runs),
    )


def _ref(run: RunRecord) -> RunRef:
    return RunRef(run.run_id, run.commit_sha, run.completed_at.isoformat() if run.completed_at else None)


def _error_types(runs: Iterable[RunRecord]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for run in runs:
        for types in run.failures.values():
            for error_type in types:
                counts[error_type] += 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))
