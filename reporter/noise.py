"""Recognise failures that one shared cause explains in a run attempt, so they make no sample flaky; pure.

Per attempt, in this order: the whole run (far more samples failed than is normal on the platform),
a contiguous tail of the run's tests (regression-id order) failing together, every tested sample of
one category failing, and many samples failing with one exit code or ``missing_output``. A group
counts only when its members failing together would be improbable if each failed at its own usual
rate: that keeps a co-failing cluster of flaky samples (which fail together often) out of the noise.
The method is explained in docs/analysis.md.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from reporter.config import AnalysisSettings
from reporter.history import History, RunRecord
from reporter.suite import Failing, Suite

Key = tuple[int, int]  # (run_id, attempt)
RARE = 0.01  # judging a new run alone, a sample not known flaky or failing fails one run in a hundred
RUN, TAIL, CATEGORY, SIGNATURE = "run", "tail", "category", "signature"


@dataclass(frozen=True, slots=True)
class InfraNoise:
    """Failures in one run attempt that one infrastructure cause explains, set aside for those samples.

    ``cause`` is ``run`` (most samples failed: the whole attempt is set aside), ``tail`` (every test
    from ``first_test`` on failed), ``category`` (every tested sample of one category failed) or
    ``signature`` (many samples failed the same way); ``signature`` says how: ``exit 5``,
    ``missing_output``, ``category DVB``, or the failing share for a whole run.
    """

    run_id: int
    attempt: int
    platform: str
    commit_sha: str
    cause: str
    signature: str
    sample_ids: tuple[int, ...]
    tests: int = 0
    first_test: int | None = None

    @property
    def key(self) -> Key:
        return (self.run_id, self.attempt)


@dataclass(frozen=True, slots=True)
class Noise:
    """What shared causes explain: whole attempts set aside, and per attempt the samples set aside."""

    events: tuple[InfraNoise, ...] = ()
    broken: frozenset[Key] = frozenset()
    explained: Mapping[Key, frozenset[int]] = field(default_factory=dict)
    bars: Mapping[str, float] = field(default_factory=dict)


def failing_share(run: RunRecord) -> float | None:
    """The share of a run's tested samples that failed (None if it tested nothing)."""
    tested = len(run.tested)
    if not run.failures.keys() <= run.tested:  # failed without a listed result: tested too
        tested += len(run.failures.keys() - run.tested)
    return len(run.failures) / tested if tested else None


def _bars(
    runs: Sequence[RunRecord], shares: Sequence[float | None], settings: AnalysisSettings
) -> dict[str, float]:
    by_platform: dict[str, list[float]] = defaultdict(list)
    for run, share in zip(runs, shares, strict=True):
        if share is not None:
            by_platform[run.platform].append(share)
    bars = {}
    for platform, values in by_platform.items():
        median = statistics.median(values)
        spread = statistics.median(abs(v - median) for v in values)
        bars[platform] = max(
            settings.infra_min_fraction, median + settings.infra_mad_factor * max(spread, 0.01)
        )
    return bars


def shared_causes(runs: Sequence[RunRecord], history: History, settings: AnalysisSettings) -> Noise:
    """Everything shared causes explain in ``runs`` (evidence attempts, oldest first)."""
    shares = [failing_share(run) for run in runs]
    bars = _bars(runs, shares, settings)
    broken: dict[Key, InfraNoise] = {}
    by_platform: dict[str, list[RunRecord]] = defaultdict(list)
    for run, share in zip(runs, shares, strict=True):
        if share is not None and share >= bars.get(run.platform, 1.0):
            broken[run.key] = _whole_run(run, share)
        else:
            by_platform[run.platform].append(run)
    events: list[InfraNoise] = []
    for platform_runs in by_platform.values():
        events += _platform_events(platform_runs, history, settings)
    every = sorted([*broken.values(), *events], key=lambda e: (e.run_id, e.attempt, e.cause))
    return Noise(tuple(every), frozenset(broken), _explained(events), bars)


def _explained(events: Iterable[InfraNoise]) -> dict[Key, frozenset[int]]:
    """Per attempt, every sample its causes explain (an attempt may have several)."""
    explained: dict[Key, set[int]] = defaultdict(set)
    for event in events:
        explained[event.key].update(event.sample_ids)
    return {key: frozenset(samples) for key, samples in explained.items()}


def _whole_run(run: RunRecord, share: float) -> InfraNoise:
    return InfraNoise(
        run.run_id,
        run.attempt,
        run.platform,
        run.commit_sha,
        RUN,
        f"{share:.0%} of samples failed",
        tuple(sorted(run.failures)),
        sum(len(tests) or 1 for tests in run.failed_regressions.values()) or len(run.failures),
    )


def _platform_events(runs: list[RunRecord], history: History, settings: AnalysisSettings) -> list[InfraNoise]:
    """Two passes: usual failure rates from all failures, then from those no cause explained."""
    suite = Suite(history)
    typical = statistics.median(len(run.failures) for run in runs) if runs else 0.0
    events: list[InfraNoise] = []
    for _ in range(2):
        rates = _Rates(runs, _explained(events), suite)
        found = _Detector(suite, rates, settings, typical)
        again = [event for run in runs if found.may_explain(run) for event in found.events(run)]
        if not again:
            return again
        if [e.key for e in again] == [e.key for e in events]:
            break  # the second pass found the same causes
        events = again
    return events


class _Rates:
    """How often each sample fails here, leaving out the attempt in question and what causes explained.

    With a signature, only failures of that kind count: a flaky sample that often has no output
    still rarely fails with exit code 2.
    """

    def __init__(
        self, runs: Sequence[RunRecord], explained: Mapping[Key, frozenset[int]], suite: Suite
    ) -> None:
        groups: dict[int, tuple[frozenset[int], int]] = {}
        failed: Counter[int] = Counter()
        extra: Counter[int] = Counter()
        for run in runs:
            tested, count = groups.get(id(run.tested), (run.tested, 0))
            groups[id(run.tested)] = (tested, count + 1)
            failed.update(run.failures.keys())
            if not run.failures.keys() <= run.tested:
                extra.update(run.failures.keys() - run.tested)
        for samples in explained.values():
            failed.subtract(samples)
        seen: Counter[int] = Counter(extra)
        for tested, count in groups.values():
            for sample_id in tested:
                seen[sample_id] += count
        self.failed, self.seen, self.explained = failed, seen, explained
        self.runs, self.suite = runs, suite
        self._where: dict[int, list[RunRecord]] | None = None
        self._kinds: dict[int, Counter[str | None]] = {}

    def log_elsewhere(self, sample_id: int, key: Key, kind: str | None) -> float:
        """log((failures in other attempts + 0.5) / (attempts + 1)) for a sample failing in ``key``."""
        counted = sample_id not in self.explained.get(key, ())
        total = self.failed[sample_id] if kind is None else self.kinds(sample_id)[kind]
        return math.log((max(total - counted, 0) + 0.5) / (self.seen[sample_id] + 1))

    def kinds(self, sample_id: int) -> Counter[str | None]:
        """How the sample failed in the attempts no cause explained, by signature."""
        found = self._kinds.get(sample_id)
        if found is None:
            if self._where is None:
                self._where = defaultdict(list)
                for run in self.runs:
                    for failing in run.failures:
                        self._where[failing].append(run)
            found = Counter(
                self.suite.kind(run, sample_id)
                for run in self._where.get(sample_id, ())
                if sample_id not in self.explained.get(run.key, ())
            )
            self._kinds[sample_id] = found
        return found


class _Usual(Protocol):
    def log_elsewhere(self, sample_id: int, key: Key, kind: str | None) -> float: ...


class _Known:
    """Usual rates when a new run is judged alone (alerts): flagged samples fail often, others rarely."""

    def __init__(self, flagged: frozenset[int]) -> None:
        self.flagged = flagged

    def log_elsewhere(self, sample_id: int, key: Key, kind: str | None) -> float:
        return 0.0 if sample_id in self.flagged else math.log(RARE)


def explained_alone(
    run: RunRecord, suite: History, flagged: frozenset[int], settings: AnalysisSettings
) -> frozenset[int]:
    """The samples whose failure in ``run`` one shared cause explains, judged without the history.

    For alerts on a newly finished run: a sample known flaky or failing (``flagged``) is taken to fail
    often, any other one run in a hundred (``RARE``).
    """
    detector = _Detector(Suite(suite), _Known(flagged), settings, 0.0)
    if not run.failures or not detector.may_explain(run):
        return frozenset()
    return frozenset(s for event in detector.events(run) for s in event.sample_ids)


class _Detector:
    """Finds the shared causes of one attempt's failures, given each sample's usual failure rate."""

    def __init__(self, suite: Suite, rates: _Usual, settings: AnalysisSettings, typical: float) -> None:
        self.suite, self.rates, self.settings = suite, rates, settings
        self.bar = math.log(settings.noise_alpha)
        self.mass = max(settings.mass_min_samples, math.ceil(3 * typical))

    def may_explain(self, run: RunRecord) -> bool:
        """A quick look: could any cause be found in this attempt?"""
        failures = run.failures
        if len(failures) >= self.settings.category_min_samples and self.suite.categories:
            return True
        if len(failures) >= self.mass:
            return True
        order = self.suite.order(run.tested)
        return bool(order) and order[-1][1] in failures

    def improbable(self, failing: Failing, samples: Iterable[int]) -> bool:
        """Would these samples all failing so in one run be improbable if each failed independently?"""
        key = failing.run.key
        return sum(self.rates.log_elsewhere(s, key, failing.kind(s)) for s in samples) <= self.bar

    def events(self, run: RunRecord) -> list[InfraNoise]:
        failing = Failing(self.suite, run)
        events: list[InfraNoise] = []
        done: set[int] = set()
        for finder in (self._tail, self._categories, self._signatures):
            for event in finder(run, failing, done):
                events.append(event)
                done.update(event.sample_ids)
        return [self._widen(event, failing, done) for event in events]

    def _event(self, run: RunRecord, cause: str, sig: str, samples: Iterable[int], tests: int) -> InfraNoise:
        return InfraNoise(
            run.run_id, run.attempt, run.platform, run.commit_sha, cause, sig, tuple(sorted(samples)), tests
        )

    def _tail(self, run: RunRecord, failing: Failing, done: set[int]) -> list[InfraNoise]:
        """Every test from some point to the end of the run failed."""
        order = self.suite.order(run.tested)
        length = 0
        for regression_id, sample_id in reversed(order):
            if regression_id not in failing.ids(sample_id):
                break
            length += 1
        if length < self.settings.tail_min_tests:
            return []
        start = order[-length][0]
        members = {s for _, s in order[-length:]}
        inside = [s for s in members if min(failing.ids(s)) >= start]
        if not self.improbable(failing, members):
            return []
        kinds = Counter(k for s in members for _, k in failing.tests(s) if k)
        sig = kinds.most_common(1)[0][0] if kinds else "failed"
        return [replace(self._event(run, TAIL, sig, inside, length), first_test=start)]

    def _categories(self, run: RunRecord, failing: Failing, done: set[int]) -> list[InfraNoise]:
        """Every tested sample of one category failed."""
        if not self.suite.categories:
            return []
        members: dict[str, list[int]] = defaultdict(list)
        for sample_id in run.failures:
            for label in self.suite.categories.get(sample_id, ()):
                members[label].append(sample_id)
        sizes = self.suite.category_sizes(run.tested)
        found = []
        for label, samples in sorted(members.items()):
            whole = len(samples) >= max(sizes.get(label, 0), self.settings.category_min_samples)
            fresh = [s for s in samples if s not in done]
            if whole and fresh and self.improbable(failing, samples):
                found.append(self._event(run, CATEGORY, f"category {label}", fresh, len(samples)))
                done.update(fresh)
        return found

    def _signatures(self, run: RunRecord, failing: Failing, done: set[int]) -> list[InfraNoise]:
        """Many samples failed the same way (one unexpected exit code, or no output)."""
        if len(run.failures) - len(done) < self.mass:
            return []
        groups: dict[str, list[int]] = defaultdict(list)
        for sample_id in run.failures:
            sig = failing.kind(sample_id)
            if sample_id not in done and sig is not None:
                groups[sig].append(sample_id)
        return [
            self._event(run, SIGNATURE, sig, samples, len(samples))
            for sig, samples in sorted(groups.items())
            if len(samples) >= self.mass and self.improbable(failing, samples)
        ]

    def _widen(self, event: InfraNoise, failing: Failing, done: set[int]) -> InfraNoise:
        """Failures of the same unusual kind elsewhere in the attempt have the same cause."""
        if not event.signature.startswith(("exit ", "missing_output")):  # a tail of wrong outputs
            return event
        more = [s for s in failing.run.failures if s not in done and failing.kind(s) == event.signature]
        if not more:
            return event
        done.update(more)
        samples = tuple(sorted([*event.sample_ids, *more]))
        return replace(
            event, sample_ids=samples, tests=event.tests + sum(len(failing.tests(s)) for s in more)
        )
