"""Per-test results of one attempt: each sample's own behaviour, then causes shared by many tests."""

from __future__ import annotations

import random
from datetime import datetime
from typing import TYPE_CHECKING

from reporter.simulator.model import OWN_CAUSES, Attempt, Episode, Incident, SampleSpec, SharedCause, SimRun
from reporter.simulator.suite import FILE_CREATION_FAILED, NO_INPUT_FILES, READ_ERROR, killed_code

if TYPE_CHECKING:
    from reporter.simulator.runs import World

OUTSIDE_OVERLOAD = 0.003  # a bursty sample's failure rate outside its overload episodes
_OWN_CAUSE = {
    "flaky": "flaky",
    "regression": "regression",
    "fixed": "regression",
    "platform_broken": "regression",
    "pr_broken": "pull_request",
}


class Verdicts:
    """Each sample's own verdict in a run, drawn the way every profile always drew it."""

    def __init__(
        self,
        rng: random.Random,
        extra: random.Random,
        samples: list[SampleSpec],
        orphan: int,
        causes: list[SharedCause],
        overloads: list[Episode],
    ) -> None:
        self.rng, self.extra, self.samples, self.orphan = rng, extra, samples, orphan
        self.clusters = [c for c in causes if c.kind == "cluster"]
        self.overloads = overloads

    def fill(self, run: SimRun, attempt: Attempt, at: datetime) -> None:
        results, causes, codes = attempt.results, attempt.causes, attempt.exit_codes
        fired = [run.platform in c.platforms and self.extra.random() < c.fire_rate for c in self.clusters]
        for spec in self.samples:
            if spec.kind == "new" and run.commit_index < spec.from_commit:
                continue
            verdict, cause, code = self._verdict(spec, run, at, fired)
            first = spec.regression_ids[0]
            for regression_id in spec.regression_ids:
                results[regression_id] = verdict if regression_id == first else "pass"
            if verdict != "pass":
                causes[first] = cause
                if code is not None:
                    codes[first] = code
            if run.infra_broken and self.rng.random() < 0.9:
                _override(attempt, spec.regression_ids, "missing_output", None, "infrastructure_run")
        results[self.orphan] = "exit_code_mismatch" if self.rng.random() < 0.05 else "pass"
        if results[self.orphan] != "pass":
            causes[self.orphan] = "flaky"
        broken = tuple(r for r, c in causes.items() if c == "infrastructure_run")
        if broken:
            attempt.incidents.append(Incident("infrastructure_run", broken))

    def _verdict(
        self, spec: SampleSpec, run: SimRun, at: datetime, fired: list[bool]
    ) -> tuple[str, str, int | None]:
        if run.platform not in spec.platforms:
            return "pass", "", None
        if spec.kind in _OWN_CAUSE:
            return self._legacy(spec, run), _OWN_CAUSE[spec.kind], None
        extra, index = self.extra, run.commit_index
        code: int | None = None
        cause, failing = "flaky", False
        if spec.kind == "bursty":
            overloaded = any(e.covers(run.platform, at) for e in self.overloads)
            failing = extra.random() < (spec.fail_rate if overloaded else OUTSIDE_OVERLOAD)
            code = killed_code(run.platform)
        elif spec.kind == "clustered" and spec.group is not None:
            group = self.clusters[spec.group]
            failing = fired[spec.group] and extra.random() < group.member_rate
            code = {"read_error": READ_ERROR, "killed": killed_code(run.platform)}.get(group.fault)
        elif spec.kind == "intermittent_regression":
            cause = "regression"
            steady = spec.steady_commit if spec.steady_commit is not None else spec.from_commit
            failing = index >= steady or (index >= spec.from_commit and extra.random() < spec.fail_rate)
        elif spec.kind == "flaky_broken":
            if index >= spec.from_commit:
                return spec.error_types[-1], "regression", None
            failing = extra.random() < spec.fail_rate
            return (spec.error_types[0] if failing else "pass"), "flaky", None
        return (extra.choice(spec.error_types) if failing else "pass"), cause, code

    def _legacy(self, spec: SampleSpec, run: SimRun) -> str:
        failing = False
        if spec.kind == "flaky":
            failing = self.rng.random() < spec.fail_rate
        elif spec.kind in ("regression", "fixed"):
            fixed = spec.fix_commit is not None and run.commit_index >= spec.fix_commit
            failing = run.commit_index >= spec.from_commit and not fixed
        elif spec.kind == "platform_broken":
            failing = True
        elif spec.kind == "pr_broken":
            failing = run.pr_number == spec.pr_number
            if spec.pr_fixed_push is not None and run.push >= spec.pr_fixed_push:
                failing = False
        return self.rng.choice(spec.error_types) if failing else "pass"


def shared_causes(extra: random.Random, world: World, run: SimRun, attempt: Attempt, at: datetime) -> None:
    """A category whose sample share is missing on the worker; a worker that dies part-way."""
    profile = world.profile
    if profile.category_outage_share and extra.random() < profile.category_outage_share:
        _category_outage(extra, world, attempt)
    full_disk = any(e.covers(run.platform, at) for e in world.disk_full)
    chance = 0.7 if full_disk else profile.partial_infra_share
    if chance and extra.random() < chance:
        _partial_failure(extra, run, attempt, full_disk)


def _category_outage(extra: random.Random, world: World, attempt: Attempt) -> None:
    by_category: dict[str, list[int]] = {}
    for test in world.suite.values():
        if test.regression_id in attempt.results:
            for category in test.categories:
                by_category.setdefault(category, []).append(test.regression_id)
    eligible = sorted(c for c, ids in by_category.items() if len(ids) >= 2)
    if not eligible:
        return
    category = extra.choice(eligible)
    verdict = "missing_output" if extra.random() < 0.5 else "exit_code_mismatch"
    ids = tuple(sorted(by_category[category]))
    _override(attempt, ids, verdict, NO_INPUT_FILES, "category_outage")
    attempt.incidents.append(Incident("category_outage", ids, NO_INPUT_FILES, category))


def _partial_failure(extra: random.Random, run: SimRun, attempt: Attempt, full_disk: bool) -> None:
    """From some test on (tests run in regression-id order) every remaining test fails the same way."""
    ids = sorted(attempt.results)
    if not ids:
        return
    tail = tuple(ids[-max(1, round(extra.uniform(0.2, 0.7) * len(ids))) :])
    mode = "disk_full" if full_disk else extra.choice(("disk_full", "killed", "killed", "no_output"))
    code: int | None = FILE_CREATION_FAILED if mode == "disk_full" else killed_code(run.platform)
    verdict = "missing_output" if extra.random() < 0.5 else "exit_code_mismatch"
    if mode == "no_output":
        verdict, code = "missing_output", None
    _override(attempt, tail, verdict, code, "partial_infrastructure")
    attempt.incidents.append(Incident("partial_infrastructure", tail, code))


def _override(attempt: Attempt, ids: tuple[int, ...], verdict: str, code: int | None, cause: str) -> None:
    for regression_id in ids:
        own = attempt.causes.get(regression_id)
        if attempt.results.get(regression_id, "pass") != "pass" and own in OWN_CAUSES:
            attempt.underlying[regression_id] = own
        attempt.results[regression_id] = verdict
        attempt.causes[regression_id] = cause
        if code is None:
            attempt.exit_codes.pop(regression_id, None)
        else:
            attempt.exit_codes[regression_id] = code
