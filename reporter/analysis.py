"""Classify every (sample, platform) as flaky, failing, fixed or stable, with evidence; pure.

The method, its formulas and defaults are explained in docs/analysis.md.
"""

from __future__ import annotations

import bisect
import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from reporter.config import AnalysisSettings
from reporter.history import History, RunRecord

FLAKY, FAILING, FIXED, STABLE = "flaky", "failing", "fixed", "stable"
HISTORY_LENGTH = 30


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
    classification: str
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

    def by_class(self, classification: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.classification == classification)


@dataclass(slots=True)
class _Observation:
    run: RunRecord
    failed: bool
    error_types: tuple[str, ...] = ()
    regressions: tuple[int, ...] = ()


@dataclass(slots=True)
class _Series:
    observations: list[_Observation] = field(default_factory=list)


def analyse(history: History, settings: AnalysisSettings) -> Analysis:
    """Run the whole method over ``history`` (runs oldest first)."""
    evidence = [run for run in history.runs if run.evidence]
    excluded: dict[str, int] = defaultdict(int)
    for run in history.runs:
        if not run.evidence:
            excluded[run.status] += 1
    infra = infra_runs(evidence, settings)
    excluded["infrastructure"] = len(infra)
    usable = [run for run in evidence if run.run_id not in infra]
    series = _series(usable)
    breakages, pr_noise = _pull_request_breakages(series, history.sample_names)
    excluded["pull request breakage"] = len({run_id for run_id, _ in pr_noise})
    findings = []
    for (sample_id, platform), data in sorted(series.items()):
        kept = [o for o in data.observations if (o.run.run_id, sample_id) not in pr_noise]
        finding = classify(
            sample_id, history.sample_names.get(sample_id, f"sample {sample_id}"), platform, kept, settings
        )
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
    )


def infra_runs(runs: Sequence[RunRecord], settings: AnalysisSettings) -> set[int]:
    """Runs where far more samples failed than is normal for their platform."""
    broken: set[int] = set()
    by_platform: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for run in runs:
        tested = len(run.tested | run.failures.keys())
        if tested:
            by_platform[run.platform].append((run.run_id, len(run.failures) / tested))
    for shares in by_platform.values():
        values = [share for _, share in shares]
        median = statistics.median(values)
        spread = statistics.median(abs(v - median) for v in values)
        bar = max(settings.infra_min_fraction, median + settings.infra_mad_factor * max(spread, 0.01))
        broken.update(run_id for run_id, share in shares if share >= bar)
    return broken


def _series(runs: Iterable[RunRecord]) -> dict[tuple[int, str], _Series]:
    series: dict[tuple[int, str], _Series] = defaultdict(_Series)
    for run in runs:
        for sample_id in run.tested | run.failures.keys():
            types = run.failures.get(sample_id)
            series[(sample_id, run.platform)].observations.append(
                _Observation(
                    run, types is not None, types or (), tuple(run.failed_regressions.get(sample_id, ()))
                )
            )
    return series


def _pull_request_breakages(
    series: Mapping[tuple[int, str], _Series], names: Mapping[int, str]
) -> tuple[list[PullRequestBreakage], set[tuple[int, int]]]:
    """Failures concentrated in one PR's runs while the sample passes on master around them."""
    per_pr: dict[tuple[int, int], list[tuple[_Observation, bool]]] = defaultdict(list)
    for (sample_id, _platform), data in series.items():
        observations = data.observations
        master = [i for i, o in enumerate(observations) if o.run.pr_number is None]
        for index, obs in enumerate(observations):
            if obs.run.pr_number is not None:
                alone = obs.failed and _master_passes_around(observations, master, index)
                per_pr[(obs.run.pr_number, sample_id)].append((obs, alone))
    breakages: list[PullRequestBreakage] = []
    noise: set[tuple[int, int]] = set()
    for (pr_number, sample_id), seen in sorted(per_pr.items()):
        local = [obs for obs, is_local in seen if is_local]
        if len(local) < 2 or len(local) * 2 < len(seen):
            continue
        noise.update((obs.run.run_id, sample_id) for obs in local)
        breakages.append(
            PullRequestBreakage(
                pr_number,
                sample_id,
                names.get(sample_id, f"sample {sample_id}"),
                tuple(sorted({o.run.platform for o in local})),
                tuple(sorted(o.run.run_id for o in local)),
            )
        )
    return breakages, noise


def _master_passes_around(
    observations: Sequence[_Observation], master: list[int], index: int, reach: int = 3
) -> bool:
    """Do the nearest master runs on this platform (up to ``reach`` each side) mostly pass?"""
    position = bisect.bisect_left(master, index)
    near = [observations[i] for i in master[max(0, position - reach) : position + reach]]
    return bool(near) and sum(o.failed for o in near) * 2 < len(near)


def classify(
    sample_id: int, name: str, platform: str, observations: Sequence[_Observation], settings: AnalysisSettings
) -> Finding | None:
    """One sample on one platform; None when it never failed in the window."""
    fails = [i for i, o in enumerate(observations) if o.failed]
    if not fails:
        return None
    disagreements = _same_commit_disagreements(observations)
    blocks = _regression_blocks(observations, settings.regression_min_streak, disagreements[1])
    in_blocks = {i for start, end in blocks for i in range(start, end)}
    loose = [i for i in fails if i not in in_blocks]
    flaky_enough = disagreements[0] > 0 or (
        len(loose) >= settings.flaky_min_failures and len(observations) >= settings.min_runs
    )
    if blocks and flaky_enough and _chance_streak(blocks[-1], settings.regression_min_streak):
        blocks, loose = blocks[:-1], sorted([*loose, *range(*blocks[-1])])
        in_blocks = {i for start, end in blocks for i in range(start, end)}
    passes_after = len(observations) - blocks[-1][1] if blocks else 0
    if blocks and passes_after < settings.recovery_passes:
        kind, focus = FAILING, list(range(*blocks[-1]))
    elif flaky_enough and loose:
        kind, focus = _flaky_or_recovered(observations, loose, len(in_blocks)), loose
    elif blocks:
        kind, focus = FIXED, list(range(*blocks[-1]))
    else:
        kind, focus = STABLE, fails
    return _finding(sample_id, name, platform, kind, observations, focus, disagreements[0], settings)


def _same_commit_disagreements(observations: Sequence[_Observation]) -> tuple[int, set[str]]:
    outcomes: dict[str, set[bool]] = defaultdict(set)
    for obs in observations:
        outcomes[obs.run.commit_sha].add(obs.failed)
    mixed = {sha for sha, seen in outcomes.items() if len(seen) == 2}
    return len(mixed), mixed


def _regression_blocks(
    observations: Sequence[_Observation], min_streak: int, mixed: set[str]
) -> list[tuple[int, int]]:
    """Maximal streaks of failures, at least ``min_streak`` long, on commits that never passed."""
    blocks, start = [], None
    for i, obs in enumerate([*observations, None]):
        if obs is not None and obs.failed and obs.run.commit_sha not in mixed:
            start = i if start is None else start
            continue
        if start is not None and i - start >= min_streak:
            blocks.append((start, i))
        start = None
    return blocks


def _chance_streak(block: tuple[int, int], min_streak: int) -> bool:
    """A short streak in an already flaky series is more likely chance than a regression."""
    return block[1] - block[0] < 2 * min_streak


def _flaky_or_recovered(observations: Sequence[_Observation], loose: list[int], blocked: int) -> str:
    """Still flaky unless the passes since the last failure would be unlikely at the old rate."""
    base = len(observations) - blocked
    rate = min(0.99, len(loose) / max(base, 1))
    quiet_needed = math.ceil(math.log(0.05) / math.log(1 - rate)) if rate > 0 else 0
    quiet = len(observations) - 1 - loose[-1] if loose else len(observations)
    return FIXED if quiet >= max(quiet_needed, 1) else FLAKY


def wilson_lower(successes: int, trials: int, z: float = 1.96) -> float:
    """Lower bound of the Wilson score interval for a proportion."""
    if trials == 0:
        return 0.0
    p = successes / trials
    centre = p + z * z / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return max(0.0, (centre - margin) / (1 + z * z / trials))


def decayed_flip_rate(observations: Sequence[_Observation], decay: float) -> float:
    """Flips per transition, newer transitions weighing more (Kowalczyk et al., 2020)."""
    flips = weight = 0.0
    for age, (old, new) in enumerate(
        zip(reversed(observations[:-1]), reversed(observations[1:]), strict=True)
    ):
        factor = (1 - decay) ** age
        weight += factor
        flips += factor * (old.failed != new.failed)
    return flips / weight if weight else 0.0


def _finding(
    sample_id: int,
    name: str,
    platform: str,
    kind: str,
    observations: Sequence[_Observation],
    focus: list[int],
    disagreements: int,
    settings: AnalysisSettings,
) -> Finding:
    fails = [observations[i] for i in focus] or [o for o in observations if o.failed]
    n = len(observations)
    flips = sum(a.failed != b.failed for a, b in itertools.pairwise(observations))
    confidence = wilson_lower(len(fails), n)
    if kind == FLAKY:
        confidence = max(confidence, decayed_flip_rate(observations, settings.decay) / 2)
    if kind == FAILING:
        confidence = 1 - 0.5 ** len(fails)
    score = round(confidence * n if kind != FAILING else float(len(fails)), 2)
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
        failures=sum(o.failed for o in observations),
        flips=flips,
        same_commit_disagreements=disagreements,
        first_failure=_ref(fails[0].run),
        last_failure=_ref(fails[-1].run),
        error_types=tuple(sorted({t for o in fails for t in o.error_types})),
        regression_ids=tuple(sorted({r for o in fails for r in o.regressions})),
        history="".join("x" if o.failed else "." for o in observations[-HISTORY_LENGTH:]),
        failing_runs=tuple(o.run.run_id for o in fails),
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


def unexplained(run: RunRecord, result: Analysis, names: Mapping[int, str]) -> Alert | None:
    """None unless ``run`` is a master run that failed for reasons the findings do not cover."""
    if run.status != "fail" or run.pr_number is not None or run.run_id in result.infra_run_ids:
        return None
    known = {
        f.sample_id
        for f in result.findings
        if f.platform == run.platform and f.classification in (FLAKY, FAILING)
    }
    failures = tuple(
        Unexplained(sample_id, names.get(sample_id, f"sample {sample_id}"), types)
        for sample_id, types in sorted(run.failures.items())
        if sample_id not in known
    )
    return Alert(run, failures) if failures else None
