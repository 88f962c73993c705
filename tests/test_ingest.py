"""Polling against the simulator: every finished run exactly once, late and restarted runs included."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from reporter.client import PlatformClient
from reporter.config import Settings
from reporter.history import TestFailure
from reporter.ingest import poll
from reporter.simulator import PROFILES, SimulatedPlatform, generate, views
from reporter.simulator.scenario import Attempt, Scenario, SimRun
from reporter.simulator.server import READ_SCOPES
from reporter.simulator.views import run_status
from reporter.store import Store
from tests.fakes import END, SMALL, TOKEN, make_settings


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def finished(scenario: Scenario, now: datetime) -> dict[int, str]:
    return {
        r.run_id: status
        for r in scenario.runs
        if r.created_at <= now and (status := run_status(r, now)) not in ("queued", "running")
    }


def stored(store: Store) -> dict[int, str]:
    rows = store._db.execute("SELECT run_id, status FROM runs WHERE state = 'ingested'").fetchall()
    return dict(rows)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Scenario, Clock, SimulatedPlatform, Settings]]:
    scenario = generate(11, replace(SMALL, restart_share=0.15), end=END)
    clock = Clock(scenario.start + timedelta(days=2))
    with SimulatedPlatform(scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=100_000, clock=clock) as server:
        yield (
            scenario,
            clock,
            server,
            make_settings(tmp_path, server.base_url, analysis={"window_days": 30}, ingest={"page_size": 10}),
        )


def test_first_poll_ingests_every_finished_run(
    platform: SimulatedPlatform, scenario: Scenario, store: Store, client: PlatformClient, settings: Settings
) -> None:
    result = poll(client, store, settings, now=END)
    assert stored(store) == finished(scenario, END)
    assert result.pending == len([r for r in scenario.runs if run_status(r, END) in ("queued", "running")])
    assert result.failed == ()


def test_idle_poll_costs_two_requests(
    platform: SimulatedPlatform, store: Store, client: PlatformClient, settings: Settings, scenario: Scenario
) -> None:
    poll(client, store, settings, now=END)
    pending = {r.run_id for r in scenario.runs if run_status(r, END) in ("queued", "running")}
    before = platform.stats.requests
    result = poll(client, store, settings, now=END)
    assert result.ingested == 0
    # one page of the newest runs and one of runs (re)started lately; pending runs on those pages
    # need no request of their own
    assert platform.stats.requests - before == 2
    assert pending  # the scenario does have runs still in flight


def test_runs_finishing_late_and_restarted_are_caught(
    live: tuple[Scenario, Clock, SimulatedPlatform, Settings],
) -> None:
    scenario, clock, _server, settings = live
    with Store(settings.state.path) as store, PlatformClient(settings.platform) as client:
        while clock.now < scenario.end:
            poll(client, store, settings, now=clock.now)
            assert stored(store) == finished(scenario, clock.now)
            clock.now += timedelta(hours=3)
        clock.now = scenario.end + timedelta(days=1)
        poll(client, store, settings, now=clock.now)
        assert stored(store) == finished(scenario, clock.now)
        records = store.history(END - timedelta(days=30)).runs
    restarted = [r for r in scenario.runs if len(r.attempts) > 1]
    assert restarted, "the scenario restarts some runs"
    by_id = {r.run_id: r for r in scenario.runs}
    for record in records:  # every stored attempt is one the platform really finished, with its results
        [attempt] = [
            a for a in by_id[record.run_id].attempts if seconds(a.completed_at) == record.completed_at
        ]
        if record.evidence:
            assert set(record.failures) == failing_samples(scenario, attempt.results)
    assert len({r.key for r in records}) == len(records)
    assert any(r.attempt == 2 for r in records)


def test_a_restarted_run_keeps_both_attempts(
    live: tuple[Scenario, Clock, SimulatedPlatform, Settings],
) -> None:
    scenario, clock, _server, settings = live
    run = next(r for r in scenario.runs if len(r.attempts) > 1 and r.attempts[0].outcome == "completed")
    clock.now = run.attempts[0].completed_at + timedelta(minutes=1)
    with Store(settings.state.path) as store, PlatformClient(settings.platform) as client:
        poll(client, store, settings, now=clock.now)
        first = store.known([run.run_id])[run.run_id]
        clock.now = run.attempts[1].queued_at + timedelta(minutes=1)
        poll(client, store, settings, now=clock.now)
        assert store.known([run.run_id])[run.run_id].state == "pending"
        during = [r for r in store.history(END - timedelta(days=30)).runs if r.run_id == run.run_id]
        clock.now = run.attempts[1].completed_at + timedelta(minutes=1)
        poll(client, store, settings, now=clock.now)
        second = store.known([run.run_id])[run.run_id]
        records = [r for r in store.history(END - timedelta(days=30)).runs if r.run_id == run.run_id]
    assert first.state == second.state == "ingested"
    assert first.completed_at != second.completed_at
    assert [r.attempt for r in during] == [1]  # the finished attempt stays while the restart runs
    assert [r.attempt for r in records] == [1, 2] and len({r.commit_sha for r in records}) == 1
    for record, attempt in zip(records, run.attempts, strict=True):
        assert record.completed_at == seconds(attempt.completed_at)
        assert set(record.failures) == failing_samples(scenario, attempt.results)


def seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)  # the platform shows whole seconds


def failing_samples(scenario: Scenario, results: dict[int, str]) -> set[int]:
    owner = {r: s.sample_id for s in scenario.samples for r in s.regression_ids}
    return {owner[r] for r, verdict in results.items() if verdict != "pass" and r in owner}


def test_filters_keep_unwanted_runs_out(
    platform: SimulatedPlatform, tmp_path: Path, scenario: Scenario
) -> None:
    settings = make_settings(
        tmp_path,
        platform.base_url,
        analysis={"window_days": 30},
        filters={"platforms": ["linux"], "test_types": ["commit"]},
    )
    with Store(settings.state.path) as store, PlatformClient(settings.platform) as client:
        poll(client, store, settings, now=END)
        ingested = store.history(END - timedelta(days=30)).runs
    assert ingested and {r.platform for r in ingested} == {"linux"}
    assert {r.kind for r in ingested} == {"commit"}


def test_canceled_runs_are_kept_without_results(
    platform: SimulatedPlatform, store: Store, client: PlatformClient, settings: Settings, scenario: Scenario
) -> None:
    poll(client, store, settings, now=END)
    quiet = [r for r in store.history(END - timedelta(days=30)).runs if not r.evidence]
    expected = [r for r in scenario.runs if run_status(r, END) in ("canceled", "error")]
    assert len(quiet) == len(expected) and all(not r.failures and not r.tested for r in quiet)


def test_a_broken_run_is_retried_next_cycle(
    platform: SimulatedPlatform, store: Store, settings: Settings, scenario: Scenario
) -> None:
    platform.faults.malformed = 0.3
    with PlatformClient(settings.platform, sleep=lambda _s: None) as client:
        for _ in range(8):
            try:
                poll(client, store, settings, now=END)
            except Exception:
                continue
        platform.faults.malformed = 0.0
        poll(client, store, settings, now=END)
    assert stored(store) == finished(scenario, END)


def test_an_old_run_restarted_long_after_is_re_ingested(tmp_path: Path) -> None:
    scenario = copy.deepcopy(generate(5, SMALL, end=END))
    old = next(r for r in scenario.runs if r.attempts[-1].outcome == "completed" and len(r.attempts) == 1)
    first = old.attempts[0]
    again = END + timedelta(hours=2)
    flipped = {k: ("pass" if v != "pass" else "diff_mismatch") for k, v in first.results.items()}
    old.attempts.append(
        Attempt(again, again + timedelta(minutes=5), again + timedelta(minutes=50), "completed", flipped)
    )
    clock = Clock(END)
    with SimulatedPlatform(scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=100_000, clock=clock) as server:
        settings = make_settings(
            tmp_path, server.base_url, analysis={"window_days": 30}, ingest={"page_size": 5}
        )
        with Store(settings.state.path) as store, PlatformClient(settings.platform) as client:
            poll(client, store, settings, now=clock.now)
            before = store.known([old.run_id])[old.run_id]
            clock.now = again + timedelta(minutes=10)
            poll(client, store, settings, now=clock.now)
            assert store.known([old.run_id])[old.run_id].state == "pending"
            clock.now = again + timedelta(hours=1)
            poll(client, store, settings, now=clock.now)
            after = store.known([old.run_id])[old.run_id]
            assert stored(store) == finished(scenario, clock.now)
    assert old.run_id < max(r.run_id for r in scenario.runs) - 10  # far below the head page
    assert before.completed_at != after.completed_at and after.state == "ingested"


def test_a_stopped_poll_leaves_the_rest_pending_for_the_next(
    platform: SimulatedPlatform, store: Store, client: PlatformClient, settings: Settings, scenario: Scenario
) -> None:
    calls = {"n": 0}

    def stop_after_three() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    first = poll(client, store, settings, now=END, stop=stop_after_three)
    assert 0 < len(stored(store)) < len(finished(scenario, END))
    assert first.pending > 0
    poll(client, store, settings, now=END)
    assert stored(store) == finished(scenario, END)


def test_errors_changed_by_an_approved_baseline_are_picked_up(tmp_path: Path) -> None:
    scenario = copy.deepcopy(generate(5, SMALL, end=END))
    clock = Clock(END)
    with SimulatedPlatform(scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=100_000, clock=clock) as server:
        settings = make_settings(
            tmp_path,
            server.base_url,
            analysis={"window_days": 30},
            ingest={"recheck_hours": 48, "recheck_interval_minutes": 60},
        )
        with Store(settings.state.path) as store, PlatformClient(settings.platform) as client:
            poll(client, store, settings, now=clock.now)
            recent = next(
                r
                for r in reversed(scenario.runs)
                if run_status(r, END) == "fail"
                and sum(v != "pass" for v in r.attempts[-1].results.values()) >= 2
            )
            before = store.sample_error_counts(recent.run_id)
            approved = next(k for k, v in recent.attempts[-1].results.items() if v != "pass")
            recent.attempts[-1].results[approved] = "pass"  # a maintainer approves the new output
            cleared = next(
                r for r in reversed(scenario.runs) if run_status(r, END) == "fail" and r is not recent
            )
            for regression_id in cleared.attempts[-1].results:  # every output of this one approved
                cleared.attempts[-1].results[regression_id] = "pass"
            clock.now += timedelta(minutes=10)
            poll(client, store, settings, now=clock.now)
            assert store.sample_error_counts(recent.run_id) == before  # the sweep waits an hour
            clock.now += timedelta(hours=1)
            poll(client, store, settings, now=clock.now)
            after = store.sample_error_counts(recent.run_id)
            assert stored(store) == finished(scenario, clock.now)
            records = [r for r in store.history(END - timedelta(days=30)).runs if r.run_id == recent.run_id]
            now_passing = store.records([cleared.run_id])
    assert after != before and sum(after.values()) == sum(before.values()) - 1
    assert [r.attempt for r in records] == [1]  # a re-read, not a restart
    assert [(r.attempt, r.status, dict(r.failures)) for r in now_passing] == [(1, "pass", {})]


def test_a_first_poll_reaches_back_only_to_the_window(
    platform: SimulatedPlatform, tmp_path: Path, scenario: Scenario
) -> None:
    settings = make_settings(tmp_path, platform.base_url, analysis={"window_days": 2})
    with Store(settings.state.path) as store, PlatformClient(settings.platform) as client:
        poll(client, store, settings, now=END)
        ingested = store.ingested_ids()
    old = [r.run_id for r in scenario.runs if r.created_at < END - timedelta(days=2, hours=12)]
    assert old and not set(old) & ingested
    assert not any(f"/api/v1/runs/{run_id}" in platform.stats.by_path for run_id in old)


def test_a_finished_run_costs_one_request_when_its_tests_fit_a_page(
    platform: SimulatedPlatform, store: Store, client: PlatformClient, settings: Settings, scenario: Scenario
) -> None:
    poll(client, store, settings, now=END)
    evidence = {r.run_id for r in scenario.runs if run_status(r, END) in ("pass", "fail")}
    per_run = {path: n for path, n in platform.stats.by_path.items() if path.count("/") > 4}
    assert per_run == {f"/api/v1/runs/{run_id}/samples": 1 for run_id in evidence}
    listing = platform.stats.by_path["/api/v1/runs"]
    assert listing <= 3  # a first page of 10, then pages of 100
    assert platform.stats.requests == len(evidence) + listing


def test_a_sample_added_later_has_no_history_before_it(
    platform: SimulatedPlatform, store: Store, client: PlatformClient, settings: Settings, scenario: Scenario
) -> None:
    poll(client, store, settings, now=END)
    history = store.history(END - timedelta(days=30))
    [added] = [s for s in scenario.samples if s.kind == "new"]
    commit_of = {r.run_id: r.commit_index for r in scenario.runs}
    before = [r for r in history.runs if r.evidence and commit_of[r.run_id] < added.from_commit]
    after = [r for r in history.runs if r.evidence and commit_of[r.run_id] >= added.from_commit]
    assert before and after
    assert not any(added.sample_id in r.tested for r in before)
    assert all(added.sample_id in r.tested for r in after)
    assert history.sample_tests[added.sample_id] == added.regression_ids
    labels = {c for r in added.regression_ids for c in scenario.suite[r].categories}
    assert labels and history.categories[added.sample_id] == labels


def test_polling_the_hard_profile_keeps_every_attempt_with_its_exit_codes(tmp_path: Path) -> None:
    """237 tests (the real suite's size), restarts after red runs, partial failures, filtered reads."""
    scenario = generate(4, replace(PROFILES["hard"], days=6, samples=190, pending_runs=0), end=END)
    clock = Clock(scenario.start + timedelta(hours=6))
    with SimulatedPlatform(scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=100_000, clock=clock) as server:
        settings = make_settings(
            tmp_path,
            server.base_url,
            analysis={"window_days": 30},
            ingest={"recheck_interval_minutes": 10**6},
        )
        with Store(settings.state.path) as store, PlatformClient(settings.platform) as client:
            while clock.now < scenario.end + timedelta(hours=4):
                poll(client, store, settings, now=clock.now)
                clock.now += timedelta(hours=2)
            records = store.history(END - timedelta(days=30)).runs
        reads = {p: n for p, n in server.stats.by_path.items() if p.count("/") > 4}
    by_id = {r.run_id: r for r in scenario.runs}
    for record in records:
        run = by_id[record.run_id]
        [attempt] = [a for a in run.attempts if seconds(a.completed_at) == record.completed_at]
        if record.evidence:
            tested, failed = shown(scenario, run, attempt)
            assert (record.tested, record.failed_tests) == (tested, failed), record.key
    assert any(r.attempt == 2 for r in records)
    assert not any(p.endswith("/error-summary") for p in reads)
    attempts = Counter(r.run_id for r in records if r.evidence)
    listings = {run_id: reads.get(f"/api/v1/runs/{run_id}/samples", 0) for run_id in attempts}
    summaries = {run_id: reads.get(f"/api/v1/runs/{run_id}/summary", 0) for run_id in attempts}
    # at most a summary and the three pages of a full listing per attempt; mostly fewer
    assert all(listings[r] + summaries[r] <= 4 * n for r, n in attempts.items())
    filtered = sum(1 for r, n in attempts.items() if listings[r] < 3 * n)
    assert filtered > len(attempts) / 2


def shown(
    scenario: Scenario, run: SimRun, attempt: Attempt
) -> tuple[frozenset[int], dict[int, tuple[TestFailure, ...]]]:
    """What an attempt's results say per sample: tested samples, and how each failing test failed."""
    tested: set[int] = set()
    failed: dict[int, tuple[TestFailure, ...]] = {}
    for regression_id, verdict in sorted(attempt.results.items()):
        test = scenario.suite.get(regression_id)
        if test is None or test.sample_id is None:
            continue
        tested.add(test.sample_id)
        if verdict != "pass":
            code = views.exit_code(test, run.platform, attempt, verdict)
            failure = TestFailure(regression_id, views.sample_status(verdict), code, test.expected_rc)
            failed[test.sample_id] = (*failed.get(test.sample_id, ()), failure)
    return frozenset(tested), failed


@pytest.fixture
def real_size(tmp_path: Path) -> Iterator[tuple[Scenario, Clock, SimulatedPlatform, Settings]]:
    """A history with the real suite's size (about 237 tests), every completed run testing all of them."""
    scenario = copy.deepcopy(generate(6, replace(SMALL, samples=190, pending_runs=0), end=END))
    every = sorted(scenario.suite)
    for run in scenario.runs:
        for attempt in run.attempts:
            if attempt.outcome == "completed":
                attempt.results = {r: attempt.results.get(r, "pass") for r in every}
    clock = Clock(END)
    with SimulatedPlatform(scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=100_000, clock=clock) as server:
        settings = make_settings(
            tmp_path,
            server.base_url,
            analysis={"window_days": 30},
            ingest={"recheck_interval_minutes": 10**6},
        )
        yield scenario, clock, server, settings


@pytest.mark.parametrize(
    ("verdicts", "cost"),
    [
        ({}, {"summary": 1}),
        ({0: "diff_mismatch", 5: "exit_code_mismatch"}, {"summary": 1, "samples": 1}),
        ({0: "exit_code_mismatch", 5: "missing_output"}, {"summary": 1, "samples": 2}),
    ],
    ids=["green", "fails only", "fails and missing output"],
)
def test_what_a_finished_run_of_a_known_237_test_suite_costs(
    real_size: tuple[Scenario, Clock, SimulatedPlatform, Settings],
    verdicts: dict[int, str],
    cost: dict[str, int],
) -> None:
    scenario, clock, server, settings = real_size
    target = [r for r in scenario.runs if r.attempts[-1].outcome == "completed" and r.platform == "linux"][-1]
    attempt = target.attempts[-1]
    every = sorted(attempt.results)
    attempt.results = {r: "pass" for r in every} | {every[i]: verdict for i, verdict in verdicts.items()}
    clock.now = attempt.completed_at - timedelta(minutes=1)
    with Store(settings.state.path) as store, PlatformClient(settings.platform) as client:
        poll(client, store, settings, now=clock.now)
        clock.now = attempt.completed_at + timedelta(minutes=1)
        poll(client, store, settings, now=clock.now)
        [record] = store.records([target.run_id])
    prefix = f"/api/v1/runs/{target.run_id}/"
    spent = {p.removeprefix(prefix): n for p, n in server.stats.by_path.items() if p.startswith(prefix)}
    assert spent == cost
    assert len(record.tested) == len({scenario.suite[r].sample_id for r in every} - {None})
    assert (record.tested, record.failed_tests) == shown(scenario, target, attempt)
