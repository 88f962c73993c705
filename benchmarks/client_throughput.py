"""Client figures: rate-limit ceiling, concurrency against a sequential loop, faults survived.

    uv run python -m benchmarks.client_throughput [--runs 1000] [--skip-ceiling] [--long-windows 4]

The ceiling runs against the simulator's limiter, which behaves like the live server's (windows
opened by the first request after the last one expired, Reset truncated to whole seconds), at
120 requests per 6 s and, for a few windows only, at the real 120 requests per 60 s.

Prints, for each part, the figures and the target they are measured against.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections import Counter
from datetime import timedelta

import httpx

from benchmarks.common import END, TOKEN, platform, scenario_with_runs, settings_for
from reporter import jobs
from reporter.simulator import Faults
from reporter.simulator.views import run_status
from reporter.store import Store

LIMIT = 120


def ceiling(runs: int, window: float, max_windows: int | None = None, workers: int = 1) -> None:
    """Backfill ``runs`` finished runs against the live server's limiter at 120 requests per ``window`` s.

    With ``max_windows`` the backfill is stopped once that many windows have opened (long windows);
    with ``workers`` every request lands on one of that many server workers, each with its own window.
    """
    scenario = scenario_with_runs(runs)
    with platform(scenario, rate_limit=LIMIT, rate_window=window, rate_workers=workers) as server:
        stop = None if max_windows is None else (lambda: len(server.stats.by_window) >= max_windows)
        with settings_for(server) as settings, jobs.open_store(settings) as store:
            began = time.perf_counter()
            result = jobs.poll(settings, store, since=END - timedelta(days=3650), stop=stop)
            wall = time.perf_counter() - began
            finished = len(store.ingested_ids())
    windows = sorted(server.stats.by_window.items())
    full = windows[1:-1]  # the first (listing) and the last window are partial
    counted = [min(n, LIMIT) / LIMIT for _, n in full]
    # a window's allowance over time: the requests it took against LIMIT per `window` seconds of the
    # time until the next window opened (an idle gap after a window's end is allowance lost)
    spans = [b[0] - a[0] for a, b in itertools.pairwise(windows)][1:]
    timed = [min(n, LIMIT) / (LIMIT * span / window) for (_, n), span in zip(full, spans, strict=True)]
    requests, refused = server.stats.requests, server.stats.rate_limited
    each = f", {workers} workers each with its own window" if workers > 1 else ""
    print(f"== rate-limit ceiling (live-server limiter, {LIMIT} requests / {window:.0f} s{each}) ==")
    print(f"runs ingested      {result.ingested}")
    print(f"requests           {requests} ({requests / max(finished, 1):.2f} per finished run)")
    print(f"429 answers        {refused}  ({1000 * refused / requests:.2f} per 1,000; target <= 1)")
    print(f"wall time          {wall:.1f} s")
    print(f"achieved rate      {requests / wall:.2f} req/s against {LIMIT * workers / window:.0f} allowed")
    if full and workers == 1:
        print(
            f"full windows       {len(full)}: requests {min(counted):.1%} of the limit in the worst, "
            f"{sum(counted) / len(full):.1%} on average"
        )
        print(
            f"allowance in time  {min(timed):.1%} in the worst full window, "
            f"{sum(timed) / len(timed):.1%} on average (target >= 97% in every one)"
        )


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
    parser.add_argument("--skip-ceiling", action="store_true", help="skip the slow rate-limit parts")
    parser.add_argument(
        "--long-windows", type=int, default=4, help="windows of the 60 s part (each takes a minute)"
    )
    args = parser.parse_args()
    if not args.skip_ceiling:
        ceiling(args.runs, window=6.0)
        if args.long_windows > 0:
            ceiling(args.runs, window=60.0, max_windows=args.long_windows)
        ceiling(min(args.runs, 200), window=6.0, workers=3)
    concurrency(min(args.runs, 300))
    faults(min(args.runs, 300))


if __name__ == "__main__":
    main()
