"""Detection quality on simulated histories with known ground truth, next to two baselines.

    uv run python benchmarks/evaluate_detection.py [--seeds 3]

For each profile and seed: a simulated platform, the real pipeline over HTTP (poll, store,
analysis), then precision / recall / F1 for "flaky" and "failing", and for two baselines on the same
stored data: naive (failed in some but not all of the last 20 runs) and the flip rate with decay
(> 0.1). "noise FP" counts samples called flaky that were planted stable or broken only by a pull
request: flakiness invented from infrastructure-broken runs or a PR's own bug.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from benchmarks.common import END, platform, settings_for
from reporter import jobs
from reporter.analysis import FAILING, FLAKY, decayed_flip_rate
from reporter.history import History
from reporter.simulator import PROFILES, Scenario, generate

Pairs = set[tuple[int, str]]


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: Pairs, truth: Pairs) -> None:
        self.tp += len(predicted & truth)
        self.fp += len(predicted - truth)
        self.fn += len(truth - predicted)

    def __str__(self) -> str:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        return f"P {p:.2f} R {r:.2f} F1 {f1:.2f}"


def series(history: History) -> dict[tuple[int, str], list[bool]]:
    """Every evidence run per sample and platform, pass or fail, no noise removed (what the baselines see)."""
    found: dict[tuple[int, str], list[bool]] = defaultdict(list)
    for run in history.runs:
        if run.evidence:
            for sample_id in run.tested | run.failures.keys():
                found[(sample_id, run.platform)].append(sample_id in run.failures)
    return found


def naive(history: History, last: int = 20) -> Pairs:
    return {key for key, seen in series(history).items() if 0 < sum(seen[-last:]) < len(seen[-last:])}


def flip_rate(history: History, decay: float = 0.05, bar: float = 0.1) -> Pairs:
    return {
        key
        for key, seen in series(history).items()
        if decayed_flip_rate(len(seen), [k for k, failed in enumerate(seen) if failed], decay) > bar
    }


def evaluate(scenario: Scenario) -> tuple[Pairs, Pairs, Pairs, Pairs]:
    with platform(scenario, rate_limit=10**9) as server, settings_for(server) as settings:
        with jobs.open_store(settings) as store:
            jobs.poll(settings, store, since=END - timedelta(days=3650))
            history, result = jobs.analyse(settings, store, END, END - timedelta(days=3650))
    flaky = {(f.sample_id, f.platform) for f in result.by_class(FLAKY)}
    failing = {(f.sample_id, f.platform) for f in result.by_class(FAILING)}
    return flaky, failing, naive(history), flip_rate(history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    print(
        "| profile | flaky (reporter) | failing (reporter) | flaky (naive) | flaky (flip rate) | noise FP |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, profile in PROFILES.items():
        scores = {k: Score() for k in ("flaky", "failing", "naive", "flip")}
        noise = 0
        for seed in range(1, args.seeds + 1):
            scenario = generate(seed, profile, end=END)
            flaky, failing, by_naive, by_flip = evaluate(scenario)
            scores["flaky"].add(flaky, scenario.flaky)
            scores["failing"].add(failing, scenario.failing)
            scores["naive"].add(by_naive, scenario.flaky)
            scores["flip"].add(by_flip, scenario.flaky)
            innocent = scenario.truth("stable") | scenario.truth("pr_broken")
            noise += len(flaky & innocent)
        print(
            f"| {name} | {scores['flaky']} | {scores['failing']} | {scores['naive']} | {scores['flip']} | {noise} |"
        )


if __name__ == "__main__":
    main()
