"""Detection quality on simulated histories with known ground truth, next to two simple baselines.

    uv run python -m benchmarks.evaluate_detection [--seeds 3] [--profiles hard,realistic]
                                                   [--tuning] [--in-process]

The analysis defaults and the confidence model were chosen on the tuning seeds (1-10) only; the
figures are reported on held-out seeds (1001 on) that were never looked at while choosing them, and
the output says which seeds it used. Per profile and seed: a simulated platform, the real pipeline
over HTTP (one backfill poll at the end, the store, the analysis), then:

- flaky and failing precision / recall / F1, and two baselines on the same stored history, both
  after dropping runs where most samples failed: "same commit" (passed and failed on one commit) and
  "flip rate" (decayed flip rate > 0.1);
- what was mistaken for flaky (the most common cause among the failures a false finding rests on)
  and which kinds of flakes were missed;
- co-failing clusters against the planted ones: a reported cluster is right when most of its
  members belong to one planted cluster, a planted one is found when a reported one holds half of
  its members or more;
- a reliability table: flagged findings binned by confidence against the share truly right, and
  the Brier score.

``--in-process`` builds each history without HTTP (benchmarks/scenario_history.py): the same
records, in seconds, for iterating; reported figures come from the default HTTP run.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from benchmarks.common import END, platform, settings_for, variants
from benchmarks.detection_scores import FP_CLASSES, MISS_CLASSES, Tally, reliability, table
from benchmarks.scenario_history import history_of
from reporter import jobs
from reporter.analysis import Analysis, analyse
from reporter.config import AnalysisSettings
from reporter.history import History
from reporter.simulator import PROFILES, Scenario, generate

TUNING_SEEDS = tuple(range(1, 11))
HELD_OUT_SEEDS = tuple(range(1001, 1021))


def over_http(scenario: Scenario) -> tuple[History, Analysis]:
    with platform(scenario, rate_limit=10**9) as server, settings_for(server) as settings:
        with jobs.open_store(settings) as store:
            jobs.poll(settings, store, since=END - timedelta(days=3650))
            return jobs.analyse(settings, store, END, END - timedelta(days=3650))


def in_process(scenario: Scenario) -> tuple[History, Analysis]:
    history = history_of(scenario, every_attempt=False)
    return history, analyse(history, AnalysisSettings(window_days=3650))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per profile (default 3)")
    parser.add_argument("--profiles", default=",".join(PROFILES), help="comma-separated profile names")
    parser.add_argument("--tuning", action="store_true", help="the tuning seeds instead of held-out ones")
    parser.add_argument("--in-process", action="store_true", help="build histories without HTTP")
    parser.add_argument("--variants", action="store_true", help="profiles moved away from the defaults")
    args = parser.parse_args()
    seeds = (TUNING_SEEDS if args.tuning else HELD_OUT_SEEDS)[: args.seeds]
    profiles = variants() if args.variants else {n: PROFILES[n] for n in args.profiles.split(",") if n}
    run = in_process if args.in_process else over_http
    kind = "TUNING seeds (looked at while choosing defaults)" if args.tuning else "HELD-OUT seeds"
    print(f"{kind}: {', '.join(map(str, seeds))}; defaults were chosen on tuning seeds 1-10 only.")
    print(f"Histories built {'in process' if args.in_process else 'by the real pipeline over HTTP'}.\n")
    tallies = {}
    for name, profile in profiles.items():
        tally = Tally()
        for seed in seeds:
            scenario = generate(seed, profile, end=END)
            tally.add(scenario, *run(scenario))
        tallies[name] = tally
    print(report(tallies))


def report(tallies: dict[str, Tally]) -> str:
    main_rows = [
        (
            name,
            str(t.flaky),
            str(t.failing),
            f"F1 {t.same_commit.f1:.2f}",
            f"F1 {t.flip_rate.f1:.2f}",
            t.from_noise,
            str(t.clusters),
        )
        for name, t in tallies.items()
    ]
    header = (
        "profile",
        "flaky (reporter)",
        "failing (reporter)",
        "flaky: same commit",
        "flaky: flip rate",
        "called flaky from infra/outage/PR noise",
        "clusters",
    )
    parts = [table(header, main_rows)]
    parts.append("\nWhat was mistaken for flaky (false flaky findings by cause):\n")
    parts.append(
        table(
            ("profile", *FP_CLASSES), [(n, *(t.mistaken[c] for c in FP_CLASSES)) for n, t in tallies.items()]
        )
    )
    parts.append("\nFlaky samples missed, by kind:\n")
    parts.append(
        table(
            ("profile", *MISS_CLASSES),
            [(n, *(t.missed[c] for c in MISS_CLASSES)) for n, t in tallies.items()],
        )
    )
    rows, brier = reliability(j for t in tallies.values() for j in t.judged)
    parts.append("\nReliability of `confidence` (flaky and failing findings, every profile):\n")
    parts.append(
        table(
            ("confidence", "findings", "mean confidence", "share right"),
            [(b, n, f"{m:.3f}", f"{r:.3f}") for b, n, m, r in rows],
        )
    )
    parts.append(f"\nBrier score: {brier:.4f} over {sum(len(t.judged) for t in tallies.values())} findings")
    return "\n".join(parts)


if __name__ == "__main__":
    main()
