"""Ingestion figures: requests per run, the cost of an idle poll, and the SIGKILL soak at a larger scale.

uv run python benchmarks/ingest_cost.py [--kills 60 --seconds 30] [--seeds 2]

Requests per finished run over a 30-day backfill are measured side by side with the previous
strategy (every run's full test listing plus its error summary by sample and by type), replayed
as a plain loop against the same simulated history.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx

from benchmarks.common import END, TOKEN, platform, scenario_with_runs, settings_for
from reporter import jobs
from reporter.client import PlatformClient
from reporter.simulator import PROFILES, Scenario, generate
from reporter.simulator.views import run_status
from tests.test_crash_safety import kill_loop

SUITES = {
    "realistic": PROFILES["realistic"],
    "hard": PROFILES["hard"],
    "hard, 237 tests (the real suite)": replace(PROFILES["hard"], samples=190),
}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def idle_poll() -> None:
    scenario = scenario_with_runs(1000)
    with (
        platform(scenario, rate_limit=10**9) as server,
        settings_for(server) as settings,
        jobs.open_store(settings) as store,
        PlatformClient(settings.platform) as client,
    ):
        jobs.poll(settings, store, client, since=END - timedelta(days=3650))
        jobs.poll(settings, store, client)  # settles the watermark
        samples = []
        for _ in range(20):
            before_requests, before_cpu, began = server.stats.requests, cpu_seconds(), time.perf_counter()
            jobs.poll(settings, store, client)
            samples.append(
                (
                    server.stats.requests - before_requests,
                    cpu_seconds() - before_cpu,
                    time.perf_counter() - began,
                )
            )
    requests = max(s[0] for s in samples)
    cpu = sorted(s[1] for s in samples)[len(samples) // 2]
    wall = sorted(s[2] for s in samples)[len(samples) // 2]
    print("== idle poll (1,000 runs stored, nothing new) ==")
    print(f"requests per poll  {requests} (target 1-2)")
    print(
        f"CPU per poll       {cpu * 1000:.1f} ms median, client and server in one process (target < 100 ms)"
    )
    print(f"wall per poll      {wall * 1000:.1f} ms median")


def previous_strategy(base_url: str, scenario: Scenario) -> int:
    """The requests the previous strategy made for the same backfill: listing, then three reads a run."""
    count, offset = 0, 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    evidence = [r.run_id for r in scenario.runs if run_status(r, scenario.end) in ("pass", "fail")]
    with httpx.Client(base_url=base_url + "/", headers=headers, timeout=30) as client:
        following: int | None = 0
        while following is not None:
            body = client.get("runs", params={"sort": "-run_id", "limit": 25, "offset": offset}).json()
            count, following = count + 1, body["pagination"]["next_offset"]
            offset = following or 0
        for run_id in evidence:
            following = 0
            while following is not None:
                body = client.get(f"runs/{run_id}/samples", params={"limit": 100, "offset": following}).json()
                count, following = count + 1, body["pagination"]["next_offset"]
            for group in ("sample_id", "type"):
                client.get(f"runs/{run_id}/error-summary", params={"group_by": group, "limit": 100})
                count += 1
    return count


def requests_per_run(seeds: int) -> None:
    print("== requests per finished run, 30-day backfill (target <= 2.0) ==")
    print(f"{'history (30 days)':34} {'seed':>4} {'runs':>5} {'tests':>5} {'now':>6} {'previous':>9}")
    for name, profile in SUITES.items():
        for seed in range(1, seeds + 1):
            scenario = generate(100 + seed, profile, end=END)
            tests = sum(len(s.regression_ids) for s in scenario.samples) + 1
            done = [r for r in scenario.runs if run_status(r, END) not in ("queued", "running")]
            with platform(scenario, rate_limit=10**9) as server:
                with settings_for(server) as settings, jobs.open_store(settings) as store:
                    jobs.poll(settings, store, since=END - timedelta(days=31))
                ours = server.stats.requests
                before = previous_strategy(server.base_url, scenario)
            print(
                f"{name:34} {seed:>4} {len(done):>5} {tests:>5} {ours / len(done):>6.2f} {before / len(done):>9.2f}"
            )


def soak(kills: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        outcome = kill_loop(Path(folder), kills=kills, seconds=seconds, seed=7)
    missing = outcome.expected.keys() - outcome.stored.keys()
    extra = outcome.stored.keys() - outcome.expected.keys()
    wrong = [
        k for k in outcome.expected.keys() & outcome.stored.keys() if outcome.expected[k] != outcome.stored[k]
    ]
    print(f"== SIGKILL soak ({outcome.polls} polls, {outcome.kills} killed) ==")
    print(f"runs on the platform   {len(outcome.expected)}")
    print(f"runs stored            {len(outcome.stored)}")
    print(f"missing / extra / stale  {len(missing)} / {len(extra)} / {len(wrong)} (target 0 / 0 / 0)")
    print(f"integrity check        {outcome.integrity}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    requests_per_run(args.seeds)
    idle_poll()
    soak(args.kills, args.seconds)


if __name__ == "__main__":
    main()
