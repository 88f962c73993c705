"""Client figures: rate-limit ceiling, concurrency against a sequential loop, faults survived.

    uv run python benchmarks/client_throughput.py [--runs 1000] [--skip-ceiling]

Prints, for each part, the figures and the target they are measured against.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import timedelta

import httpx

from benchmarks.common import END, TOKEN, platform, scenario_with_runs, settings_for
from reporter import jobs
from reporter.simulator import Faults
from reporter.simulator.views import run_status
from reporter.store import Store


def ceiling(runs: int) -> None:
    """Backfill ``runs`` finished runs with the limit scaled to 120 requests per 6 s."""
    scenario = scenario_with_runs(runs)
    with platform(scenario, rate_limit=120, rate_window=6.0) as server:
        with settings_for(server) as settings, jobs.open_store(settings) as store:
            began = time.perf_counter()
            result = jobs.poll(settings, store, since=END - timedelta(days=3650))
            wall = time.perf_counter() - began
        allowed = 120 / 6.0
        achieved = server.stats.requests / wall
        full = sorted(server.stats.by_window.items())[1:-1]  # the first and last windows are partial
        share = sum(n for _, n in full) / (120 * len(full)) if full else 0.0
        print("== rate-limit ceiling (120 requests / 6 s) ==")
        print(f"runs ingested      {result.ingested}")
        print(f"requests           {server.stats.requests}")
        print(
            f"429 answers        {server.stats.rate_limited}  "
            f"({1000 * server.stats.rate_limited / server.stats.requests:.2f} per 1,000; target <= 1)"
        )
        print(f"wall time          {wall:.1f} s")
        print(f"achieved rate      {achieved:.2f} req/s against {allowed:.0f} allowed")
        print(f"full windows       {len(full)}, used {share:.1%} of their allowance (target >= 95%)")


def sequential_requests(base_url: str, run_ids: list[int]) -> int:
    """The plain loop: the same listing and per-run requests, one after another."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    count = 0
    with httpx.Client(base_url=base_url + "/", headers=headers, timeout=30) as client:
        offset: int | None = 0
        while offset is not None:
            body = client.get("runs", params={"sort": "-run_id", "limit": 25, "offset": offset}).json()
            count += 1
            offset = body["pagination"]["next_offset"]
        for run_id in run_ids:
            client.get(f"runs/{run_id}/samples", params={"offset": 0}).raise_for_status()
            client.get(f"runs/{run_id}/error-summary", params={"group_by": "sample_id"}).raise_for_status()
            client.get(f"runs/{run_id}/error-summary", params={"group_by": "type"}).raise_for_status()
            count += 3
    return count


def concurrency(runs: int) -> None:
    """Limit off, 50 ms per answer: the reporter's poll against the sequential loop, side by side."""
    scenario = scenario_with_runs(runs)
    evidence = [r.run_id for r in scenario.runs if run_status(r, scenario.end) in ("pass", "fail")]
    with platform(scenario, rate_limit=10**9, faults=Faults(latency=0.05)) as server:
        began = time.perf_counter()
        plain = sequential_requests(server.base_url, evidence)
        plain_wall = time.perf_counter() - began
        with settings_for(server) as settings, jobs.open_store(settings) as store:
            began = time.perf_counter()
            result = jobs.poll(settings, store, since=END - timedelta(days=3650))
            ours = time.perf_counter() - began
    print("== concurrency (no limit, 50 ms latency) ==")
    print(f"sequential loop    {plain} requests in {plain_wall:.1f} s")
    print(
        f"reporter poll      {result.requests} requests in {ours:.1f} s "
        f"(concurrency {settings.platform.concurrency})"
    )
    print(f"speed-up           {plain_wall / ours:.1f}x (target >= 5x)")


def faults(runs: int) -> None:
    """10% 5xx, 2% dropped connections, 1% malformed bodies: every run ingested, none twice."""
    scenario = scenario_with_runs(runs)
    writes: Counter[int] = Counter()
    original = Store.save_run

    def counting(self: Store, run, *args, **kwargs):  # type: ignore[no-untyped-def]
        writes[run.run_id] += 1
        return original(self, run, *args, **kwargs)

    Store.save_run = counting  # type: ignore[method-assign]
    expected = {r.run_id for r in scenario.runs if run_status(r, scenario.end) not in ("queued", "running")}
    cycles = 0
    with platform(
        scenario, rate_limit=10**9, faults=Faults(server_error=0.10, drop=0.02, malformed=0.01, seed=5)
    ) as server:
        with (
            settings_for(server, platform={"max_retry_seconds": 20}) as settings,
            jobs.open_store(settings) as store,
        ):
            while cycles < 20:
                cycles += 1
                try:
                    jobs.poll(settings, store, since=END - timedelta(days=3650))
                except Exception as exc:
                    print(f"cycle {cycles} failed: {exc}")
                if store.ingested_ids() | _quiet(store) >= expected:
                    break
            stored = store.ingested_ids()
        injected = server.stats.faults
    Store.save_run = original  # type: ignore[method-assign]
    print("== faults (10% 5xx, 2% drops, 1% malformed) ==")
    print(f"faults injected    {injected} of {server.stats.requests} requests")
    print(f"cycles needed      {cycles}")
    print(f"runs expected      {len(expected)}")
    print(f"runs ingested      {len(stored & expected)} (missing {len(expected - stored)})")
    print(f"written twice      {sum(1 for n in writes.values() if n > 1)} (target 0)")


def _quiet(store: Store) -> set[int]:
    return set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--skip-ceiling", action="store_true", help="skip the slow rate-limit part")
    args = parser.parse_args()
    if not args.skip_ceiling:
        ceiling(args.runs)
    concurrency(min(args.runs, 300))
    faults(min(args.runs, 300))


if __name__ == "__main__":
    main()
