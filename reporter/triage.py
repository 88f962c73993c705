"""Judge every failing sample of a pull-request run against the stored history; pure.

Per failing sample and the run's platform, the first rule that holds gives the verdict:

1. ``failing_on_master``: master runs on that platform were failing the sample in a streak that
   began before this run and had not been fixed before the pull request's first run;
2. ``new_failure``: the analysis found the sample broken only in this pull request's runs (and it is
   not flaky elsewhere);
3. ``infrastructure``: a cause shared by many samples in this run explains the failure;
4. ``known_flaky``: the analysis calls the sample flaky on that platform, from failures outside
   this pull request (two; or one, when the pull request's earlier runs there passed it or when
   samples that failed with it then fail with it again here);
5. ``unknown``: master tested the sample on that platform fewer than ``min_runs`` times;
6. ``new_failure``: none of the above: most likely this pull request's change.

The method is explained in docs/triage.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime

from reporter.analysis import FAILING, FLAKY, Analysis, Finding, RunRef
from reporter.config import AnalysisSettings
from reporter.history import History, RunRecord
from reporter.master_runs import MasterRuns, moment, order
from reporter.triage_report import (
    Evidence,
    FlakyEvidence,
    InfraEvidence,
    MasterEvidence,
    NewEvidence,
    PullRun,
    RunTriage,
    SampleVerdict,
    UnknownEvidence,
    Verdict,
)

LAST_FAILURES = 3  # known_flaky: how many of the latest failures the evidence names
SHORT_STREAK = 2  # a streak still open on master counts from this length
CHANCE = 0.01  # a flaky sample's streak counts as a regression when less likely than this


class SharedCauses:
    """Which failures of which run attempt a shared cause explains, as the analysis found them.

    Built by ``shared_causes``: the only place that reads the analysis's noise.
    """

    def __init__(self, by_attempt: Mapping[tuple[int, int], Mapping[int | None, InfraEvidence]]) -> None:
        self._by_attempt = by_attempt

    def explains(self, run: RunRecord, sample_id: int) -> InfraEvidence | None:
        """The shared cause behind ``sample_id`` failing in ``run``, or None."""
        found = self._by_attempt.get(run.key)
        if not found:
            return None
        return found.get(None) or found.get(sample_id)

    def broken(self, run: RunRecord) -> bool:
        """Was the whole attempt set aside?"""
        return None in self._by_attempt.get(run.key, {})


def shared_causes(result: Analysis) -> SharedCauses:
    """The analysis's shared-cause noise per run attempt: whole attempts, and samples in part of one."""
    found: dict[tuple[int, int], dict[int | None, InfraEvidence]] = defaultdict(dict)
    for event in result.infra_noise:
        evidence = InfraEvidence(event.cause, event.signature, len(event.sample_ids))
        if event.cause == "run":
            found[event.key][None] = evidence
        else:
            for sample_id in event.sample_ids:
                found[event.key].setdefault(sample_id, evidence)
    return SharedCauses(found)


class _Context:
    """What every verdict of one triage call reads: indexes over the history, built once."""

    def __init__(self, history: History, result: Analysis, settings: AnalysisSettings) -> None:
        self.settings = settings
        self.names = history.sample_names
        self.causes = shared_causes(result)
        self.findings = {(f.sample_id, f.platform): f for f in result.findings}
        self.failing: dict[str, set[int]] = defaultdict(set)  # per platform, samples failing on master
        for found in result.findings:
            if found.classification == FAILING:
                self.failing[found.platform].add(found.sample_id)
        self.runs = {run.run_id: run for run in sorted(history.runs, key=lambda r: r.key)}
        self.breakages = {
            (b.pr_number, b.sample_id, platform) for b in result.pr_breakages for platform in b.platforms
        }
        evidence = sorted((r for r in history.runs if r.evidence), key=order)
        on_master: dict[str, list[RunRecord]] = defaultdict(list)
        self.pulls: dict[int, list[RunRecord]] = defaultdict(list)
        for run in evidence:
            if run.pr_number is not None:
                self.pulls[run.pr_number].append(run)
            elif not self.causes.broken(run):
                on_master[run.platform].append(run)
        self.master = {
            platform: MasterRuns(runs, lambda run, sample: self.causes.explains(run, sample) is not None)
            for platform, runs in on_master.items()
        }

    def master_on(self, platform: str) -> MasterRuns:
        return self.master.get(platform) or MasterRuns([], lambda _run, _sample: False)

    def pull_start(self, run: RunRecord) -> datetime | None:
        runs = self.pulls.get(run.pr_number or 0) or [run]
        return min((m for m in map(moment, runs) if m is not None), default=None)


def triage(
    history: History, result: Analysis, runs: Iterable[RunRecord], settings: AnalysisSettings
) -> tuple[RunTriage, ...]:
    """Verdicts for every failing sample of each of ``runs`` (evidence runs; others get none)."""
    context = _Context(history, result, settings)
    return tuple(_run(context, run) for run in runs)


def latest_runs(runs: Iterable[RunRecord], pr_number: int) -> list[RunRecord]:
    """A pull request's latest finished pass/fail run on each platform, by platform."""
    latest: dict[str, RunRecord] = {}
    for run in runs:
        if run.pr_number == pr_number and run.evidence:
            before = latest.get(run.platform)
            if before is None or order(run) > order(before):
                latest[run.platform] = run
    return sorted(latest.values(), key=lambda r: r.platform)


def _run(context: _Context, run: RunRecord) -> RunTriage:
    failing = sorted(run.failures) if run.evidence else []
    verdicts = tuple(_judge(context, run, sample_id) for sample_id in failing)
    return RunTriage(
        run.run_id,
        run.attempt,
        run.pr_number,
        run.platform,
        run.commit_sha,
        run.status,
        run.completed_at,
        verdicts,
    )


def _judge(context: _Context, run: RunRecord, sample_id: int) -> SampleVerdict:
    finding = context.findings.get((sample_id, run.platform))
    flaky = finding is not None and finding.classification == FLAKY and _flaky_outside(finding, context, run)
    line = context.master_on(run.platform)
    verdict, evidence = _first_rule(context, run, sample_id, finding if flaky else None, line)
    return SampleVerdict(
        sample_id,
        context.names.get(sample_id, f"sample {sample_id}"),
        verdict,
        tuple(run.failures.get(sample_id, ())),
        tuple(run.failed_regressions.get(sample_id, ())),
        evidence,
    )


def _first_rule(
    context: _Context,
    run: RunRecord,
    sample_id: int,
    flaky: Finding | None,
    line: MasterRuns,
) -> tuple[Verdict, Evidence]:
    master = _master_streak(context, run, sample_id, line, flaky is not None)
    if master is not None:
        return Verdict.FAILING_ON_MASTER, master
    broken_here = (run.pr_number, sample_id, run.platform) in context.breakages
    if broken_here and flaky is None:
        return Verdict.NEW_FAILURE, _new(context, run, sample_id, line, broken_here)
    shared = context.causes.explains(run, sample_id)
    if shared is not None:
        return Verdict.INFRASTRUCTURE, shared
    if flaky is not None:
        return Verdict.KNOWN_FLAKY, _flaky(flaky)
    seen = line.count(sample_id)
    if seen < context.settings.min_runs:
        return Verdict.UNKNOWN, UnknownEvidence(seen, context.settings.min_runs)
    return Verdict.NEW_FAILURE, _new(context, run, sample_id, line, broken_here)


def _flaky_outside(finding: Finding, context: _Context, run: RunRecord) -> bool:
    """Is the sample known flaky from failures outside this pull request?

    ``flaky_min_failures`` failures outside it suffice. A single one does when earlier runs of the
    pull request on this platform tested the sample and all passed it: a change that broke it
    would have failed it there too.
    """
    mine = context.pulls.get(run.pr_number, []) if run.pr_number is not None else [run]
    own = {r.run_id for r in mine}
    outside = sum(1 for run_id in finding.failing_runs if run_id not in own)
    if outside >= context.settings.flaky_min_failures or outside == 0:
        return outside > 0
    sample = finding.sample_id
    earlier = [
        r
        for r in mine
        if r.platform == run.platform
        and order(r) < order(run)
        and (sample in r.tested or sample in r.failures)
    ]
    if earlier and not any(sample in r.failures for r in earlier):
        return True
    return _fails_with_companions(finding, context, run, own)


def _fails_with_companions(finding: Finding, context: _Context, run: RunRecord, own: set[int]) -> bool:
    """Did its failure outside the pull request come with other samples that fail in this run too?

    Samples failing together again, with no shared cause explaining either run and none of them
    failing on master, point to one flaky cause (a co-failing group), not to this change.
    """
    here = {s for s in run.failures if s != finding.sample_id and context.causes.explains(run, s) is None}
    here -= context.failing.get(run.platform, set())
    for run_id in finding.failing_runs:
        other = context.runs.get(run_id)
        if run_id in own or other is None:
            continue
        if any(context.causes.explains(other, s) is None for s in here & other.failures.keys()):
            return True
    return False


def _master_streak(
    context: _Context, run: RunRecord, sample_id: int, line: MasterRuns, flaky: bool
) -> MasterEvidence | None:
    """The latest master failing streak that covers this run, if long enough to be a regression.

    A streak covers the run when it began before the run and was not fixed before the pull
    request's first run (its code may predate the fix). It counts from ``regression_min_streak``
    failures, or two while still open; in a flaky sample only if that many failures in a row would
    be unlikely (below ``CHANCE``) at the sample's failure rate outside the streak.
    """
    at, start = moment(run), context.pull_start(run)
    seen, failed = line.count(sample_id), line.failures(sample_id)
    for streak in reversed(line.streaks(sample_id)):
        began = moment(streak.first)
        if at is not None and began is not None and began > at:
            continue
        fixed_at = moment(streak.fixed)
        if fixed_at is not None and start is not None and fixed_at <= start:
            return None  # fixed before the pull request began: older streaks are older still
        length = streak.length
        enough = length >= context.settings.regression_min_streak or (
            streak.fixed is None and length >= SHORT_STREAK
        )
        if enough and not (flaky and _by_chance(seen, failed, length)):
            return MasterEvidence(
                RunRef.of(streak.first),
                length,
                RunRef.of(streak.fixed) if streak.fixed is not None else None,
                RunRef.of(line.latest(sample_id) or streak.last),
            )
    return None


def _by_chance(seen: int, failed: int, length: int) -> bool:
    """Could a flaky sample fail ``length`` times in a row at its rate elsewhere (Laplace)?"""
    rate = (failed - length + 1) / (seen - length + 2)
    return bool(rate**length >= CHANCE)


def _flaky(finding: Finding) -> FlakyEvidence:
    return FlakyEvidence(
        finding.score,
        finding.failures,
        finding.runs,
        finding.history,
        finding.last_failure,
        tuple(finding.failing_runs[-LAST_FAILURES:]),
        finding.same_commit_disagreements,
        getattr(finding, "cluster", None),
    )


def _new(context: _Context, run: RunRecord, sample_id: int, line: MasterRuns, broken: bool) -> NewEvidence:
    others = []
    for other in context.pulls.get(run.pr_number, ()) if run.pr_number is not None else ():
        failed = sample_id in other.failures
        if other.key == run.key or not (failed or sample_id in other.tested):
            continue
        same = other.commit_sha == run.commit_sha
        others.append(
            PullRun(other.run_id, other.platform, other.commit_sha, same, order(other) < order(run), failed)
        )
    passed = line.last_pass(sample_id, run)
    return NewEvidence(tuple(others), RunRef.of(passed) if passed is not None else None, broken)
