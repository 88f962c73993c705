"""`reporter poll` killed with SIGKILL at random moments, again and again, never loses or mixes a run."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from reporter.simulator import SimulatedPlatform, generate
from reporter.simulator.scenario import Scenario
from reporter.simulator.server import READ_SCOPES, LiveClock
from reporter.simulator.views import run_status, visible_results
from tests.fakes import END, SMALL, TOKEN


@dataclass(frozen=True)
class KillLoopOutcome:
    kills: int
    polls: int
    expected: dict[int, tuple[str, frozenset[int]]]
    stored: dict[int, tuple[str, frozenset[int]]]
    integrity: str


def truth(scenario: Scenario, clock: Callable[[], datetime]) -> dict[int, tuple[str, frozenset[int]]]:
    now = clock()
    table = {r: s.sample_id for s in scenario.samples for r in s.regression_ids}
    found = {}
    for run in scenario.runs:
        status = run_status(run, now)
        if run.created_at > now or status in ("queued", "running"):
            continue
        failing = {table[r] for r, v in visible_results(run, now).items() if v != "pass" and r in table}
        found[run.run_id] = (status, frozenset(failing if status in ("pass", "fail") else ()))
    return found


def stored(path: Path) -> dict[int, tuple[str, frozenset[int]]]:
    with sqlite3.connect(path) as db:
        runs = dict(db.execute("SELECT run_id, status FROM runs WHERE state = 'ingested'").fetchall())
        failing: dict[int, set[int]] = {run_id: set() for run_id in runs}
        for run_id, sample_id in db.execute(
            "SELECT run_id, sample_id FROM sample_errors e WHERE attempt = "
            "(SELECT MAX(attempt) FROM attempts a WHERE a.run_id = e.run_id)"  # what the platform shows now
        ):
            failing.setdefault(run_id, set()).add(sample_id)
    return {run_id: (status, frozenset(failing[run_id])) for run_id, status in runs.items()}


def soak_scenario() -> Scenario:
    return generate(13, replace(SMALL, restart_share=0.2), end=END)


def kill_loop(workdir: Path, *, kills: int, seconds: float, seed: int = 1) -> KillLoopOutcome:
    """Poll in a loop while runs appear, finish out of order and restart; SIGKILL at random moments."""
    scenario = soak_scenario()
    start = scenario.start + timedelta(days=1)
    clock = LiveClock(start, speed=(scenario.end - start).total_seconds() / seconds)
    rng = random.Random(seed)
    config = workdir / "reporter.yaml"
    state = workdir / "state.sqlite3"
    done_kills = polls = 0
    with SimulatedPlatform(
        scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=1_000_000, clock=clock
    ) as server:
        config.write_text(
            f"platform:\n  base_url: {server.base_url}\n  max_attempts: 2\nstate:\n  path: {state}\n"
            "ingest:\n  page_size: 10\n  max_pending_age_hours: 100000\nanalysis:\n  window_days: 3650\n"
            "channels: {}\n"
        )
        env = {**os.environ, "SAMPLE_PLATFORM_TOKEN": TOKEN}
        command = [sys.executable, "-m", "reporter", "--config", str(config), "poll"]
        give_up = time.monotonic() + max(120.0, seconds * 10)  # a bound, should a machine be very fast
        while (done_kills < kills or clock() < scenario.end) and time.monotonic() < give_up:
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            polls += 1
            try:
                process.wait(timeout=rng.uniform(0.25, 1.2))
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                done_kills += 1
        clock.freeze(scenario.end + timedelta(days=1))
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
        expected = truth(scenario, clock)
    with sqlite3.connect(state) as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    return KillLoopOutcome(done_kills, polls, expected, stored(state), integrity)


@pytest.mark.slow
def test_store_equals_the_platform_after_twenty_kills(tmp_path: Path) -> None:
    outcome = kill_loop(tmp_path, kills=20, seconds=8)
    assert outcome.kills >= 20
    assert outcome.integrity == "ok"
    missing = outcome.expected.keys() - outcome.stored.keys()
    extra = outcome.stored.keys() - outcome.expected.keys()
    wrong = {
        k for k in outcome.expected.keys() & outcome.stored.keys() if outcome.expected[k] != outcome.stored[k]
    }
    assert (missing, extra, wrong) == (set(), set(), set())
    assert_attempts_are_real(tmp_path / "state.sqlite3")


def assert_attempts_are_real(state: Path) -> None:
    """Every stored attempt is one the platform finished, numbered 1, 2, ... per run."""
    finished = {
        (run.run_id, attempt.completed_at.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
        for run in soak_scenario().runs
        for attempt in run.attempts
    }
    with sqlite3.connect(state) as db:
        rows = db.execute(
            "SELECT run_id, attempt, completed_at FROM attempts ORDER BY run_id, attempt"
        ).fetchall()
    assert rows and {(run_id, completed) for run_id, _, completed in rows} <= finished
    per_run: dict[int, list[int]] = {}
    for run_id, attempt, _ in rows:
        per_run.setdefault(run_id, []).append(attempt)
    assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in per_run.values())
