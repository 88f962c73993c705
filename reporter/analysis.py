"""Classify every (sample, platform) as flaky, failing, fixed or stable, with evidence; pure.

The method, its formulas and defaults are explained in docs/analysis.md.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from reporter import clusters, observations
from reporter.clusters import Cluster
from reporter.confidence import confidence
from reporter.config import AnalysisSettings
from reporter.history import History, RunRecord
from reporter.noise import InfraNoise, shared_causes
from reporter.observations import Series
from reporter.verdict import FAILING, FIXED, FLAKY, STABLE, Classification, Verdict, judge

__all__ = [
    "FAILING",
    "FIXED",
    "FLAKY",
    "STABLE",
    "Analysis",
    "Classification",
    "Cluster",
    "Finding",
    "InfraNoise",
    "PullRequestBreakage",
    "RegressionTest",
    "RunRef",
    "analyse",
    "classify",
    "decayed_flip_rate",
    "flip_count",
    "flip_points",
    "wilson_lower",
]
HISTORY_LENGTH = 30
VARIED_TYPES_BOOST = 1.25
DETAIL_FAILURES = 200  # error types and failing tests are read off a finding's latest failures


@dataclass(frozen=True, slots=True)
class RunRef:
    """A pointer to one run as evidence."""

    run_id: int
    commit_sha: str
    completed_at: str | None

    @classmethod
    def of(cls, run: RunRecord) -> RunRef:
        return cls(run.run_id, run.commit_sha, run.completed_at.isoformat() if run.completed_at else None)


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
    cluster: int | None = None  # the co-failing cluster (Analysis.clusters) this sample belongs to
    earlier_flaky: int = 0  # failing: flaky failures seen before the regression began
    independent_failures: int = 0  # failure events: a streak, a re-run, a pull request count once
    noise_failures: int = 0  # failures set aside here as shared-cause noise (not counted above)


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
    infra_runs: tuple[tuple[int, int], ...] = ()  # (run_id, attempt) of every attempt set aside whole
    infra_noise: tuple[InfraNoise, ...] = ()  # every shared cause found, whole attempts included
    clusters: tuple[Cluster, ...] = ()

    def by_class(self, classification: Classification) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.classification == classification)


def analyse(history: History, settings: AnalysisSettings) -> Analysis:
    """Run the whole method over ``history`` (run attempts oldest first)."""
    evidence = [run for run in history.runs if run.evidence]
    excluded: dict[str, int] = defaultdict(int)
    for run in history.runs:
        if not run.evidence:
            excluded[run.status] += 1
    noise = shared_causes(evidence, history, settings)
    excluded["infrastructure"] = len(noise.broken)
    usable = [run for run in evidence if run.key not in noise.broken]
    series = observations.build(usable, noise.explained)
    breakages, pr_noise = _pull_request_breakages(series, history.sample_names)
    excluded["pull request breakage"] = len({key for key, _ in pr_noise})
    noisy: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for key, sample_id in pr_noise:
        noisy[sample_id].add(key)
    findings = []
    candidates = []
    for (sample_id, platform), data in sorted(series.items()):
        kept = data.without(noisy[sample_id]) if sample_id in noisy else data
        verdict = judge(kept, settings)
        if verdict is None:
            continue
        name = history.sample_names.get(sample_id, f"sample {sample_id}")
        findings.append(
            _with_drill_down(_finding(sample_id, name, platform, verdict, kept, settings), kept, settings)
        )
        if verdict.kind == FLAKY:
            candidates.append(_candidate(sample_id, name, platform, kept, verdict))
    found_clusters = clusters.co_failing(candidates, history.categories, settings)
    set_aside = Counter((s, e.platform) for e in noise.events for s in e.sample_ids)
    findings = [
        _calibrated(replace(f, noise_failures=set_aside[(f.sample_id, f.platform)]))
        for f in _name_clusters(findings, found_clusters)
    ]
    findings.sort(key=lambda f: (-f.score, f.sample_id, f.platform))
    infra = sorted(noise.broken)
    return Analysis(
        tuple(findings),
        len(usable),
        dict(excluded),
        tuple(sorted({run_id for run_id, _ in infra})),
        tuple(breakages),
        _error_types(usable),
        noise.bars,
        infra_runs=tuple(infra),
        infra_noise=noise.events,
        clusters=found_clusters,
    )


def _pull_request_breakages(
    series: Mapping[tuple[int, str], Series], names: Mapping[int, str]
) -> tuple[list[PullRequestBreakage], set[tuple[tuple[int, int], int]]]:
    """Failures concentrated in one PR's runs while the sample passes on master around them."""
    local: dict[tuple[int, int], list[RunRecord]] = defaultdict(list)
    for (sample_id, _platform), data in series.items():
        in_pull, positions = data.platform.in_pull, data.positions
        pulled = [k for k in data.failed if in_pull[positions[k]]]
        mixed = data.mixed_commits() if pulled else set()
        for k in pulled:
            run = data.run(k)
            if run.commit_sha not in mixed and _master_passes_around(data, k):
                local[(run.pr_number or 0, sample_id)].append(run)
    breakages: list[PullRequestBreakage] = []
    noise: set[tuple[tuple[int, int], int]] = set()
    for (pr_number, sample_id), runs in sorted(local.items()):
        if len(runs) < 2 or len(runs) * 2 < _observed_in_pr(series, sample_id, pr_number):
            continue
        noise.update((run.key, sample_id) for run in runs)
        breakages.append(
            PullRequestBreakage(
                pr_number,
                sample_id,
                names.get(sample_id, f"sample {sample_id}"),
                tuple(sorted({run.platform for run in runs})),
                tuple(sorted({run.run_id for run in runs})),
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
    verdict = judge(data, settings)
    if verdict is None:
        return None
    finding = _calibrated(_finding(sample_id, name, platform, verdict, data, settings))
    return _with_drill_down(finding, data, settings) if drill else finding


def _with_drill_down(finding: Finding, data: Series, settings: AnalysisSettings) -> Finding:
    if finding.classification == STABLE:
        return finding
    return replace(finding, regression_tests=_drill_down(finding, data, settings))


def _candidate(
    sample_id: int, name: str, platform: str, data: Series, verdict: Verdict
) -> clusters.Candidate:
    """A flaky sample as clustering sees it: its flaky failures, by position in the platform's attempts."""
    failed = [data.positions[k] for k in verdict.focus]
    return clusters.Candidate(sample_id, name, platform, data.positions, failed, data.platform.runs)


def _calibrated(finding: Finding) -> Finding:
    return replace(finding, confidence=round(confidence(finding), 3))


def _name_clusters(findings: Iterable[Finding], found: Iterable[Cluster]) -> list[Finding]:
    """The findings, each member of a cluster naming it."""
    member_of = {(s, c.platform): c.cluster_id for c in found for s in c.sample_ids}
    return [
        replace(f, cluster=member_of[(f.sample_id, f.platform)])
        if (f.sample_id, f.platform) in member_of
        else f
        for f in findings
    ]


def _drill_down(finding: Finding, data: Series, settings: AnalysisSettings) -> tuple[RegressionTest, ...]:
    """Each failing regression test of the sample, classified over the same runs (tests run together)."""
    sample_id = finding.sample_id
    ids: Sequence[int] = finding.regression_ids
    if len(finding.failing_runs) != finding.failures:  # the finding rests on some failures only
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
        alone = Series(data.platform, sample_id, data.positions, failed, data.aside_before, whole=False)
        test = classify(sample_id, finding.sample_name, finding.platform, alone, settings, drill=False)
        if test is not None:
            found.append(
                RegressionTest(regression_id, test.classification, test.failures, test.runs, test.history)
            )
    return tuple(found)


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
    if decay:  # flips older than this weigh less than a billionth: leave them out
        failed = failed[bisect.bisect_left(failed, n - 2 - math.log(1e-9) / math.log(keep)) :]
    return sum(keep ** (n - 2 - k) for k in flip_points(n, failed)) / weight


def flip_count(n: int, failed: Sequence[int]) -> int:
    """How many pass-fail transitions there are (``len(flip_points(n, failed))``, faster)."""
    if not failed:
        return 0
    gaps: int = sum(map(operator.ne, failed[1:], map((1).__add__, failed)))
    return 2 * (1 + gaps) - (failed[0] == 0) - (failed[-1] == n - 1)


def _finding(
    sample_id: int, name: str, platform: str, verdict: Verdict, data: Series, settings: AnalysisSettings
) -> Finding:
    kind = verdict.kind
    counted = list(verdict.focus) or list(data.failed)
    n = len(data)
    records, positions = data.platform.runs, data.positions
    recent = [records[positions[k]] for k in counted[-DETAIL_FAILURES:]]
    types: set[str] = set().union(*[run.failures.get(sample_id, ()) for run in recent])
    regression_ids: set[int] = set().union(*[run.failed_regressions.get(sample_id, ()) for run in recent])
    first, last = records[positions[counted[0]]], recent[-1]
    run_ids = data.platform.run_ids
    lower = wilson_lower(len(counted), n)
    if kind == FLAKY:  # failing in different ways on unchanged code points at nondeterminism
        boost = VARIED_TYPES_BOOST if len(types) > 1 else 1.0
        rate = max(lower, decayed_flip_rate(n, data.failed, settings.decay) / 2)
        score = round(min(1.0, rate * boost) * n, 2)
    elif kind == FAILING:
        score = float(len(counted))
    else:
        score = 0.0
    return Finding(
        sample_id=sample_id,
        sample_name=name,
        platform=platform,
        classification=kind,
        score=score,
        confidence=0.0,
        runs=n,
        failures=len(data.failed),
        flips=flip_count(n, data.failed),
        same_commit_disagreements=verdict.disagreements,
        first_failure=RunRef.of(first),
        last_failure=RunRef.of(last),
        error_types=tuple(sorted(types)),
        regression_ids=tuple(sorted(regression_ids)),
        history=_history(n, data.failed),
        failing_runs=tuple([run_ids[positions[k]] for k in counted]),
        earlier_flaky=verdict.earlier_flaky,
        independent_failures=verdict.events,
    )


def _history(n: int, failed: Sequence[int]) -> str:
    """The last ``HISTORY_LENGTH`` observations, oldest first: x failed, . passed."""
    start = max(0, n - HISTORY_LENGTH)
    recent = set(failed[bisect.bisect_left(failed, start) :])
    return "".join("x" if k in recent else "." for k in range(start, n))


def _error_types(runs: Iterable[RunRecord]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for run in runs:
        for types in run.failures.values():
            for error_type in types:
                counts[error_type] += 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))
