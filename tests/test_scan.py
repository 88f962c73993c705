"""Gap filling within bounds, and invalid runs kept apart with a growing pause, against the simulator."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reporter import scan
from reporter.client import PlatformClient
from reporter.config import Settings
from reporter.ingest import poll
from reporter.invalid import MAX_PAUSE, InvalidRuns
from reporter.models import ErrorBucket, Run, RunSample
from reporter.simulator import SimulatedPlatform
from reporter.simulator.scenario import Scenario
from reporter.simulator.views import run_status
from reporter.store import Store
from tests.fakes import END

HIDDEN = range(10, 41)  # ids the listing leaves out (GET /runs/{id} still answers them)


def hiding(total: int | None = None) -> Any:
    def tamper(path: str, _query: dict[str, str], body: Any) -> Any:
        if path == "/api/v1/runs":
            body["data"] = [item for item in body["data"] if item["run_id"] not in HIDDEN]
            if total is not None:
                body["pagination"]["total"] = total
        return body

    return tamper


def reads_of_single_runs(platform: SimulatedPlatform) -> int:
    return sum(n for path, n in platform.stats.by_path.items() if path.count("/") == 4 and path[-1].isdigit())


def finished(scenario: Scenario) -> set[int]:
    return {r.run_id for r in scenario.runs if run_status(r, END) not in ("queued", "running")}


def test_ids_the_listing_skipped_are_read_one_by_one(
    platform: SimulatedPlatform, store: Store, client: PlatformClient, settings: Settings, scenario: Scenario
) -> None:
    platform.tamper = hiding()
    poll(client, store, settings, now=END)
    assert reads_of_single_runs(platform) == len(HIDDEN)
    assert store.ingested_ids() == finished(scenario)


def test_gap_filling_stops_at_its_maximum_per_poll_and_says_so(
    platform: SimulatedPlatform,
    store: Store,
    client: PlatformClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(scan, "MAX_GAP_FETCHES", 5)
    platform.tamper = hiding()
    with caplog.at_level(logging.WARNING):
        poll(client, store, settings, now=END)
    assert reads_of_single_runs(platform) == 5
    assert (
        "31 ids from 10 to 40 are missing from the listing; reading 5 of them (at most 5 a poll; "
        "its total of 54 runs leaves 31 unlisted)"
    ) in caplog.text


def test_no_gap_is_read_when_the_listing_total_says_every_run_was_listed(
    platform: SimulatedPlatform, store: Store, client: PlatformClient, settings: Settings, scenario: Scenario
) -> None:
    platform.tamper = hiding(total=len(scenario.runs) - len(HIDDEN))
    poll(client, store, settings, now=END)
    assert reads_of_single_runs(platform) == 0


def test_a_listed_id_far_above_the_known_ones_is_refused_and_reads_no_gap(
    platform: SimulatedPlatform, store: Store, client: PlatformClient, settings: Settings, scenario: Scenario
) -> None:
    poll(client, store, settings, now=END)
    newest = max(r.run_id for r in scenario.runs)

    def absurd(path: str, query: dict[str, str], body: Any) -> Any:
        if path == "/api/v1/runs" and query.get("offset") == "0":
            body["data"].insert(0, {**body["data"][0], "run_id": newest + len(scenario.runs) + 2000})
        return body

    platform.tamper = absurd
    before = platform.stats.requests
    result = poll(client, store, settings, now=END)
    assert platform.stats.requests - before <= 3 and store.high_water() == newest
    assert result.failed == (
        f"GET /runs: field run_id: run {newest + len(scenario.runs) + 2000} is beyond any run the platform "
        f"accounts for (highest known run {newest}, {len(scenario.runs)} runs in all); skipping it",
    )


def test_a_plausible_new_id_beyond_a_few_missing_ones_fills_them(
    platform: SimulatedPlatform, store: Store, client: PlatformClient, settings: Settings, scenario: Scenario
) -> None:
    poll(client, store, settings, now=END)
    newest = max(r.run_id for r in scenario.runs)

    def jump(path: str, query: dict[str, str], body: Any) -> Any:
        if path == "/api/v1/runs" and query.get("offset") == "0":
            body["data"].insert(0, {**body["data"][0], "run_id": newest + 4})
        return body

    platform.tamper = jump
    result = poll(client, store, settings, now=END)
    assert {f"/api/v1/runs/{newest + i}" for i in (1, 2, 3)} <= set(platform.stats.by_path)
    assert result.failed == () and store.high_water() == newest + 4


def test_a_platform_time_far_ahead_does_not_move_the_watermark(
    platform: SimulatedPlatform, store: Store, client: PlatformClient, settings: Settings, scenario: Scenario
) -> None:
    newest = max(r.run_id for r in scenario.runs)

    def far_ahead(path: str, _query: dict[str, str], body: Any) -> Any:
        for item in body.get("data", [body]) if path.startswith("/api/v1/runs") else []:
            if isinstance(item, dict) and item.get("run_id") == newest:
                item["created_at"] = "2199-06-01T00:00:00Z"
        return body

    platform.tamper = far_ahead
    poll(client, store, settings, now=END)
    watermark = datetime.fromisoformat(store.meta("platform_watermark") or "")
    assert watermark <= END and newest in store.known([newest])


# -- the invalid runs' table --------------------------------------------------------------------
def test_each_invalid_answer_doubles_the_pause_up_to_its_cap(tmp_path: Path) -> None:
    now = datetime(2026, 11, 20, 7, tzinfo=UTC)
    with Store(tmp_path / "state.sqlite3") as store:
        pauses = []
        for _ in range(8):
            mark = store.invalid.mark(7, "GET /runs/7: field x: bad", now)
            pauses.append(mark.retry_at - now)
        assert pauses[:4] == [timedelta(minutes=m) for m in (10, 20, 40, 80)]
        assert pauses[-1] == MAX_PAUSE and mark.tries == 8
        assert store.invalid.split(now) == ({7}, set()) and store.invalid.split(now + MAX_PAUSE) == (
            set(),
            {7},
        )
        assert store.invalid.summary()[1].startswith("run 7 (8 tries since 2026-11-20 07:00 UTC, next after ")


def test_a_reason_is_kept_printable_and_bounded(tmp_path: Path) -> None:
    with Store(tmp_path / "state.sqlite3") as store:
        store.invalid.mark(7, "bad \x1b[31mred\x1b[0m " + "x" * 2000, datetime.now(UTC))
        [kept] = store.invalid.all()
    assert "\x1b" not in kept.reason and len(kept.reason) == 500


def test_storing_the_run_clears_its_mark(tmp_path: Path) -> None:
    run = Run(run_id=7, status="fail", platform="linux", repository="a/b", commit_sha="c" * 40)
    with Store(tmp_path / "state.sqlite3") as store:
        store.invalid.mark(7, "bad", datetime.now(UTC))
        store.save_run(run, [RunSample(regression_test_id=1, sample_id=10, status="fail")])
        assert store.invalid.all() == [] and isinstance(store.invalid, InvalidRuns)


def test_a_bucket_key_that_only_looks_like_digits_is_not_stored_as_a_sample(tmp_path: Path) -> None:
    run = Run(run_id=7, status="fail", platform="linux", repository="a/b", commit_sha="c" * 40)
    buckets = [
        ErrorBucket(group_by="sample_id", key=k, count=1, severity="error") for k in ("²", "None", "12")
    ]
    with Store(tmp_path / "state.sqlite3") as store:
        store.save_run(run, [RunSample(regression_test_id=1, sample_id=12, status="fail")], buckets, [])
        assert store.sample_error_counts(7) == {12: 1}


def test_a_stored_run_that_fails_todays_checks_is_left_out_of_the_recheck(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    done = datetime(2026, 11, 20, 7, tzinfo=UTC)
    runs = [
        Run(
            run_id=i,
            status="fail",
            platform="linux",
            repository="a/b",
            commit_sha="c" * 40,
            completed_at=done,
        )
        for i in (7, 8)
    ]
    with Store(tmp_path / "state.sqlite3") as store:
        for run in runs:
            store.save_run(run, [RunSample(regression_test_id=1, sample_id=12, status="fail")])
        with store.transaction() as db:  # written by an older version that checked less
            db.execute("UPDATE runs SET branch = ? WHERE run_id = 7", ("b" * 2000,))
        with caplog.at_level(logging.WARNING):
            assert [r.run_id for r in store.recent_evidence(done - timedelta(hours=1))] == [8]
    assert "stored run 7 is not compared again: String should have at most 1000 characters" in caplog.text
