"""Ingestion figures: the cost of an idle poll, and the SIGKILL soak at a larger scale.

uv run python benchmarks/ingest_cost.py [--kills 60 --seconds 30]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from benchmarks.common import END, platform, scenario_with_runs, settings_for
from reporter import jobs
from reporter.client import PlatformClient
from tests.test_crash_safety import kill_loop


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
    args = parser.parse_args()
    idle_poll()
    soak(args.kills, args.seconds)


if __name__ == "__main__":
    main()
