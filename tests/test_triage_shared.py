"""Shared causes in part of a pull-request run, as the analysis finds them, make infrastructure verdicts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from reporter import jobs
from reporter.config import Settings
from reporter.simulator import PROFILES, Scenario, SimulatedPlatform, generate
from reporter.simulator.server import READ_SCOPES
from reporter.triage_jobs import TriageRequest, run_triage
from reporter.triage_report import InfraEvidence, Verdict
from tests.fakes import END, TOKEN, make_settings

SHARED = ("partial_infrastructure", "category_outage")


@pytest.fixture(scope="module")
def hard() -> Scenario:
    return generate(2, replace(PROFILES["hard"], days=12, samples=30), end=END)


@pytest.fixture
def stored(hard: Scenario, tmp_path: Path) -> Iterator[Settings]:
    with SimulatedPlatform(hard, tokens={TOKEN: READ_SCOPES}, rate_limit=100_000) as server:
        settings = make_settings(tmp_path, server.base_url, analysis={"window_days": 3650})
        with jobs.open_store(settings) as store:
            jobs.poll(settings, store, since=END - timedelta(days=3650))
        yield settings


def test_samples_a_run_lost_part_way_or_a_category_outage_are_infrastructure(
    hard: Scenario, stored: Settings
) -> None:
    by_id = {r.run_id: r for r in hard.runs}
    pulls = {
        run
        for run, attempt, incident in hard.incidents()
        if by_id[run].pr_number and incident.cause in SHARED
    }
    with jobs.open_store(stored) as store:
        outcome = run_triage(stored, store, TriageRequest(run_ids=tuple(sorted(pulls))), now=END)
    judged = right = 0
    causes = set()
    for run in outcome.triage.runs:
        for verdict in run.verdicts:
            if hard.failure_cause(run.run_id, run.attempt - 1, verdict.sample_id) not in SHARED:
                continue
            judged += 1
            right += verdict.verdict == Verdict.INFRASTRUCTURE
            if isinstance(verdict.evidence, InfraEvidence):
                causes.add(verdict.evidence.cause)
    assert judged >= 20
    assert right >= 0.75 * judged  # the rest: a sample master fails as well, a tail in the first days
    assert causes - {"run"}  # explained as part of a run, not only whole broken runs
