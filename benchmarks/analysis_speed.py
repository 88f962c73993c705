"""The whole digest over a year of history and over 30 days, against naive recomputes.

    uv run python -m benchmarks.analysis_speed [--runs 18000 --samples 250]

Builds a state file of ``--runs`` runs (two platforms, a run every 29 minutes) of ``--samples``
samples with 5 % failing cells, and the digests of the 29 days before the last, then times (best of
``--repeat``) the whole digest as the nightly job makes it (load the history, analyse, grids, trend,
and every format: text, Markdown, HTML, Slack, email) with a window of a year and of 30 days, with a
breakdown by stage.
Side by side: a naive recompute that walks every stored result in Python, and the trend computed the
old way (the analysis re-run for each of the 30 days). Prints wall time and peak RSS (targets for
18,000 x 250: whole digest of a year <= 2 s, <= 300 MB).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import random
import resource
import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

from reporter import analysis, digest, grid, jobs
from reporter.analysis import FAILING, FLAKY
from reporter.config import Settings, settings_from_mapping
from reporter.format import DIGEST_FORMATS, Templates
from reporter.models import ErrorBucket, Run, RunSample
from reporter.store import Store

START = datetime(2025, 11, 1, tzinfo=UTC)


def build(path: Path, runs: int, samples: int) -> None:
    rng = random.Random(1)
    names = {s: f"sample-{s}.ts" for s in range(1, samples + 1)}
    with Store(path) as store:
        for run_id in range(1, runs + 1):
            at = START + timedelta(minutes=29 * run_id)
            failing = {s for s in names if rng.random() < 0.05}
            run = Run(
                run_id=run_id,
                status="fail" if failing else "pass",
                platform="linux" if run_id % 2 else "windows",
                repository="CCExtractor/ccextractor",
                commit_sha=f"{run_id // 3:040x}",
                branch="master",
                created_at=at,
                started_at=at,
                completed_at=at + timedelta(minutes=30),
            )
            tests = [
                RunSample(
                    regression_test_id=s,
                    sample_id=s,
                    sample_name=names[s],
                    status="fail" if s in failing else "pass",
                )
                for s in names
            ]
            by_sample = [
                ErrorBucket(group_by="sample_id", key=str(s), count=1, severity="error") for s in failing
            ]
            by_type = (
                [
                    ErrorBucket(
                        group_by="type",
                        key="exit_code_mismatch",
                        count=len(failing),
                        severity="error",
                        sample_ids=tuple(sorted(failing)),
                    )
                ]
                if failing
                else []
            )
            store.save_run(run, tests, by_sample, by_type)
        last = START + timedelta(minutes=29 * runs + 30)
        for days_ago in range(29, 0, -1):  # the nightly digests before this one, for the trend
            period = (last - timedelta(days=days_ago)).date().isoformat()
            state = {"findings": {}, "counts": {"flaky": 40 - days_ago, "failing": days_ago % 4}}
            store.outbox.enqueue(period, json.dumps(state), {})


def naive(path: Path) -> int:
    """Walk every stored result and count, per sample and platform, runs and failures."""
    counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    with sqlite3.connect(path) as db:
        failing = set(db.execute("SELECT run_id, sample_id FROM sample_errors"))
        for run_id, sample_id, platform in db.execute(
            "SELECT t.run_id, t.sample_id, r.platform FROM run_tests t JOIN runs r USING (run_id)"
        ):
            entry = counts[(sample_id, platform)]
            entry[0] += 1
            entry[1] += (run_id, sample_id) in failing
    return sum(1 for runs, fails in counts.values() if 0 < fails < runs)


def settings_for(path: Path, window_days: int) -> Settings:
    data = {
        "platform": {"base_url": "http://127.0.0.1:9/api/v1", "token": "unused"},
        "state": {"path": str(path)},
        "analysis": {"window_days": window_days},
        "channels": {},
    }
    return settings_from_mapping(data, path.parent)


def whole_digest(settings: Settings, now: datetime) -> tuple[float, int]:
    """The nightly job's work: build the digest, then every format's payload; (seconds, bytes)."""
    began = time.perf_counter()
    with jobs.open_store(settings) as store:
        made = jobs.build_digest(settings, store, now)
    payloads = jobs.digest_payloads(made, {name: name for name in DIGEST_FORMATS}, Templates())
    return time.perf_counter() - began, sum(map(len, payloads.values()))


STAGES: tuple[tuple[object, str, str], ...] = (  # (owner, function, stage): what the whole digest calls
    (Store, "history", "load"),
    (analysis, "analyse", "analyse"),
    (grid, "grids", "grids"),
    (digest, "build", "trend and digest"),
    (jobs, "digest_payloads", "formats"),
)


def stages(settings: Settings, now: datetime) -> dict[str, float]:
    """The same work, timed stage by stage: each stage's function wrapped in a stopwatch."""
    spent: dict[str, float] = defaultdict(float)
    originals = [(owner, name, stage, getattr(owner, name)) for owner, name, stage in STAGES]

    def timed(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - began

        return wrapper

    for owner, name, stage, call in originals:
        setattr(owner, name, timed(stage, call))
    try:
        whole_digest(settings, now)
    finally:
        for owner, name, _, call in originals:
            setattr(owner, name, call)
    with jobs.open_store(settings) as store:
        made = jobs.build_digest(settings, store, now)
    for name in DIGEST_FORMATS:  # and each format alone
        began = time.perf_counter()
        jobs.digest_payloads(made, {name: name}, Templates())
        spent[name] = time.perf_counter() - began
    return dict(spent)


def with_collector(settings: Settings, now: datetime) -> float:
    """The whole digest with the cyclic garbage collector left on throughout (``jobs.acyclic`` off)."""
    paused = jobs.acyclic
    jobs.acyclic = contextlib.nullcontext  # type: ignore[assignment]
    try:
        return whole_digest(settings, now)[0]
    finally:
        jobs.acyclic = paused


def per_day_trend(settings: Settings, now: datetime, days: int = digest.TREND_DAYS) -> float:
    """The old way: the analysis re-run over each trend day's window; returns seconds."""
    began = time.perf_counter()
    window = settings.analysis.window_days
    with jobs.open_store(settings) as store:
        history = store.history(now - timedelta(days=window + days))
    points = []
    for offset in range(days - 1, -1, -1):
        day: date = now.date() - timedelta(days=offset)
        end = datetime.combine(day + timedelta(days=1), clock.min, tzinfo=UTC)
        runs = tuple(
            r for r in history.runs if r.completed_at and end - timedelta(days=window) <= r.completed_at < end
        )
        result = analysis.analyse(replace(history, runs=runs), settings.analysis)
        points.append((len(result.by_class(FLAKY)), len(result.by_class(FAILING))))
    return time.perf_counter() - began


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=18_000)
    parser.add_argument("--samples", type=int, default=250)
    parser.add_argument("--state", type=Path, help="Keep the built state file here and reuse it next time.")
    parser.add_argument(
        "--repeat", type=int, default=3, help="Best of this many digests (the machine is shared)."
    )
    args = parser.parse_args()
    now = START + timedelta(minutes=29 * args.runs + 90)
    with tempfile.TemporaryDirectory() as folder:
        path = args.state or Path(folder) / "state.sqlite3"
        if not path.exists():
            began = time.perf_counter()
            builder = multiprocessing.get_context("spawn").Process(
                target=build, args=(path, args.runs, args.samples)
            )
            builder.start()  # in a process of its own: this one's memory stays as a nightly job finds it
            builder.join()
            print(f"built {args.runs} runs x {args.samples} samples in {time.perf_counter() - began:.1f} s")
        baseline_rss = peak_mb()
        for label, window in (("a year", 400), ("30 days", 30)):  # first: a baseline's garbage slows them
            settings = settings_for(path, window)
            first, size = whole_digest(settings, now)
            wall = min([first, *(whole_digest(settings, now)[0] for _ in range(args.repeat - 1))])
            tries = [stages(settings, now) for _ in range(args.repeat)]
            parts = ", ".join(f"{name} {min(t[name] for t in tries):.2f}" for name in tries[0])
            target = "; target <= 2 s" if window > 30 else ""
            print(f"whole digest, window {label:8} {wall:.2f} s ({parts}; {size:,} bytes){target}")
            if window > 30:
                print(f"  the first in this process (templates compiled)  {first:.2f} s")
                kept_on = min(with_collector(settings, now) for _ in range(args.repeat))
                print(f"  the same with the garbage collector left on  {kept_on:.2f} s")
        began = time.perf_counter()
        flagged = naive(path)
        print(f"naive recompute (walk every result)  {time.perf_counter() - began:.2f} s ({flagged} series)")
        settings = settings_for(path, 30)
        print(
            f"old trend, window 30 days (30 analyses)  {per_day_trend(settings, now):.2f} s, the trend alone"
        )
    print(f"peak RSS {peak_mb():.0f} MB (before the first digest: {baseline_rss:.0f} MB); target <= 300 MB")


if __name__ == "__main__":
    main()
