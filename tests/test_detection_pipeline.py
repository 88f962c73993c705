"""The whole way: a restart polled over HTTP, stored, analysed; a partial failure through the same path."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from reporter.analysis import FLAKY, Analysis, analyse
from reporter.client import PlatformClient
from reporter.history import RunRecord
from reporter.ingest import poll
from reporter.simulator import SimulatedPlatform, generate
from reporter.simulator.scenario import Scenario, SimRun
from reporter.simulator.server import READ_SCOPES
from reporter.store import Store
from tests.fakes import END, SMALL, TOKEN, make_settings


class Clock:
    def __init__(self, scenario: Scenario) -> None:
        self.now = scenario.end

    def __call__(self) -> datetime:
        return self.now


def restarted_flake() -> tuple[Scenario, SimRun, int]:
    """A stable sample failing once, in a master run restarted under the same id whose retry passed."""
    scenario = generate(5, replace(SMALL, restart_share=0.0, infra_share=0.0, cancel_share=0.0), end=END)
    spec = next(s for s in scenario.samples if s.kind == "stable")
    run = next(
        r
        for r in scenario.runs[len(scenario.runs) // 2 :]
        if r.branch == "master" and len(r.attempts) == 1 and r.attempts[0].outcome == "completed"
    )
    failed = run.attempts[0]
    failed.results[spec.regression_ids[0]] = "exit_code_mismatch"
    retry = copy.deepcopy(failed)
    retry.results[spec.regression_ids[0]] = "pass"
    retry.queued_at = failed.completed_at + timedelta(minutes=20)
    retry.started_at = retry.queued_at + timedelta(minutes=2)
    retry.completed_at = retry.started_at + (failed.completed_at - failed.started_at)
    run.attempts.append(retry)
    return scenario, run, spec.sample_id


def analysed_after(
    scenario: Scenario, moments: list[datetime], tmp_path: Path
) -> tuple[list[RunRecord], Analysis]:
    clock = Clock(scenario)
    with SimulatedPlatform(scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=100_000, clock=clock) as server:
        settings = make_settings(tmp_path, server.base_url, analysis={"window_days": 30})
        with Store(settings.state.path) as store, PlatformClient(settings.platform) as client:
            for moment in [*moments, END]:
                clock.now = moment
                poll(client, store, settings, since=scenario.start - timedelta(days=1), now=moment)
            history = store.history(scenario.start - timedelta(days=1))
    return list(history.runs), analyse(history, settings.analysis)


def test_failed_restarted_passed_over_http_is_a_flaky_sample(tmp_path: Path) -> None:
    scenario, run, sample_id = restarted_flake()
    moments = [
        run.attempts[0].completed_at + timedelta(minutes=1),
        run.attempts[1].completed_at + timedelta(minutes=1),
    ]
    records, result = analysed_after(scenario, moments, tmp_path)
    assert [r.attempt for r in records if r.run_id == run.run_id] == [1, 2]
    finding = next(f for f in result.findings if f.sample_id == sample_id and f.platform == run.platform)
    assert finding.classification == FLAKY and finding.same_commit_disagreements == 1
    assert finding.failing_runs == (run.run_id,)


def test_one_backfill_after_the_restart_sees_only_the_retry(tmp_path: Path) -> None:
    scenario, run, sample_id = restarted_flake()
    records, result = analysed_after(scenario, [], tmp_path / "late")
    assert [r.attempt for r in records if r.run_id == run.run_id] == [1]
    assert sample_id not in {f.sample_id for f in result.findings}


def test_partial_failures_and_outages_over_http_are_set_aside(tmp_path: Path) -> None:
    from reporter.simulator import PROFILES

    scenario = generate(3, replace(PROFILES["hard"], days=12), end=END)
    _, result = analysed_after(scenario, [], tmp_path)
    found = {(e.run_id, e.cause) for e in result.infra_noise}
    planted = [
        (run, incident)
        for run in scenario.runs
        if len(run.attempts) == 1 and run.attempts[0].completed_at <= END
        for incident in run.attempts[0].incidents
        if incident.cause in ("partial_infrastructure", "category_outage")
        and len(incident.regression_ids) >= 8
    ]
    assert planted, "the hard profile plants shared causes"
    assert all(
        {(run.run_id, c) for c in ("run", "tail", "category", "signature")} & found for run, _ in planted
    )
    for finding in result.by_class(FLAKY):
        if (finding.sample_id, finding.platform) in scenario.flaky:
            continue
        causes = {scenario.failure_cause(r, -1, finding.sample_id) for r in finding.failing_runs}
        assert not causes & {"partial_infrastructure", "category_outage", "infrastructure_run"}, finding
