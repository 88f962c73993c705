"""Analysis speed over a year of history, against a naive pure-Python full recompute.

    uv run python benchmarks/analysis_speed.py [--runs 18000 --samples 250]

Builds a state file of ``--runs`` runs (two platforms, a run every 29 minutes) of ``--samples``
samples with 5 % failing cells, then times, side by side: loading the history plus the analysis
(what a digest does), and a naive recompute that walks every stored result in Python. Prints wall
time and peak RSS (targets: <= 2 s and <= 300 MB for 18,000 x 250).
"""

from __future__ import annotations

import argparse
import random
import resource
import sqlite3
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reporter.analysis import analyse
from reporter.config import AnalysisSettings
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


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=18_000)
    parser.add_argument("--samples", type=int, default=250)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.sqlite3"
        began = time.perf_counter()
        build(path, args.runs, args.samples)
        print(f"built {args.runs} runs x {args.samples} samples in {time.perf_counter() - began:.1f} s")
        baseline_rss = peak_mb()
        began = time.perf_counter()
        flagged = naive(path)
        naive_wall = time.perf_counter() - began
        began = time.perf_counter()
        with Store(path) as store:
            history = store.history(START - timedelta(days=1))
        loaded = time.perf_counter() - began
        result = analyse(history, AnalysisSettings(window_days=400))
        ours = time.perf_counter() - began
    print(f"naive recompute      {naive_wall:.2f} s ({flagged} series with some failures)")
    print(
        f"reporter (load+analyse) {ours:.2f} s (load {loaded:.2f} s, analyse {ours - loaded:.2f} s), "
        f"{len(result.findings)} findings; target <= 2 s"
    )
    print(
        f"peak RSS             {peak_mb():.0f} MB (after building: {baseline_rss:.0f} MB); target <= 300 MB"
    )


if __name__ == "__main__":
    main()
