"""Pull-request triage against the simulator's planted truth: the share of failing cells judged right.

    uv run python -m benchmarks.evaluate_triage [--profile hard] [--seeds 11-15] [--speed]

For each seed: a simulated platform, the real pipeline over HTTP (poll, store), then every finished
pull-request run is triaged as the daemon would right after it finished, from the history stored up
to then (the analysis window before it). Each failing (sample, platform) cell of such a run has a
planted cause (``Scenario.failure_cause``); the verdict matches when flaky → known_flaky, regression
→ failing_on_master, pull_request → new_failure, and a shared infrastructure cause (partial,
category outage, whole run) → infrastructure. Printed: per planted cause, the cells and the share
judged right, with what the others were called; then the share over every cell, and the analysis
time per triaged run. ``--speed`` instead times the analysis and triage of one run over a 30-day
window at the real suite's size (a run every 29 minutes on alternating platforms, 250 samples, 5 %
failing cells): the history is handed over in memory, so only the analysis is timed.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from benchmarks.common import END, platform, settings_for
from reporter import analysis, jobs
from reporter.config import AnalysisSettings
from reporter.history import History, RunRecord
from reporter.simulator import PROFILES, Scenario, generate
from reporter.triage import triage
from reporter.triage_report import Verdict

EXPECTED = {
    "flaky": Verdict.KNOWN_FLAKY,
    "regression": Verdict.FAILING_ON_MASTER,
    "pull_request": Verdict.NEW_FAILURE,
    "partial_infrastructure": Verdict.INFRASTRUCTURE,
    "category_outage": Verdict.INFRASTRUCTURE,
    "infrastructure_run": Verdict.INFRASTRUCTURE,
}


@dataclass
class Tally:
    """Verdicts given, per planted cause."""

    given: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    seconds: list[float] = field(default_factory=list)

    def add(self, cause: str, verdict: str) -> None:
        self.given[cause][verdict] += 1

    def right(self, cause: str) -> int:
        return self.given[cause][EXPECTED[cause]] if cause in EXPECTED else 0

    def rows(self) -> list[str]:
        lines = ["| planted cause | expected verdict | cells | right | share | other verdicts |"]
        lines.append("| --- | --- | --- | --- | --- | --- |")
        for cause in sorted(self.given, key=lambda c: -sum(self.given[c].values())):
            total = sum(self.given[cause].values())
            expected = EXPECTED.get(cause, "-")
            others = ", ".join(f"{v} {n}" for v, n in self.given[cause].most_common() if v != expected)
            share = self.right(cause) / total if total else 0.0
            lines.append(f"| {cause} | {expected} | {total} | {self.right(cause)} | {share:.2f} | {others} |")
        cells = sum(sum(c.values()) for c in self.given.values())
        right = sum(self.right(cause) for cause in self.given)
        lines.append(f"| **all** | | {cells} | {right} | **{right / max(cells, 1):.3f}** | |")
        return lines


def attempt_index(scenario: Scenario, record: RunRecord) -> int:
    """Which attempt of the simulated run the stored record holds (matched by completion time).

    The API gives times to the second; the simulator keeps microseconds.
    """
    run = scenario.run(record.run_id)
    assert run is not None
    for index, attempt in enumerate(run.attempts):
        if (
            record.completed_at is not None
            and attempt.completed_at.replace(microsecond=0) == record.completed_at
        ):
            return index
    return -1


def evaluate(scenario: Scenario, tally: Tally, window_days: int) -> None:
    with platform(scenario, rate_limit=10**9) as server, settings_for(server) as settings:
        with jobs.open_store(settings) as store:
            jobs.poll(settings, store, since=END - timedelta(days=3650))
            history = store.history(END - timedelta(days=3650))
    runs = sorted(history.runs, key=lambda r: (r.completed_at or END, r.run_id))
    for position, run in enumerate(runs):
        if run.pr_number is None or not run.evidence or not run.failures:
            continue
        start = (run.completed_at or END) - timedelta(days=window_days)
        known = tuple(r for r in runs[: position + 1] if (r.completed_at or END) >= start)
        then = History(known, history.sample_names, history.categories, history.sample_tests)
        began = time.perf_counter()
        result = analysis.analyse(then, settings.analysis)
        (judged,) = triage(then, result, [run], settings.analysis)
        tally.seconds.append(time.perf_counter() - began)
        index = attempt_index(scenario, run)
        for verdict in judged.verdicts:
            cause = scenario.failure_cause(run.run_id, index, verdict.sample_id) or "passed"
            tally.add(cause, verdict.verdict)


def heavy_history(runs: int = 1490, samples: int = 250) -> History:
    """30 days at a run every 29 minutes; every 40th run a pull request's."""
    rng, start = random.Random(1), datetime(2026, 11, 1, tzinfo=UTC)
    everything = frozenset(range(1, samples + 1))
    records = []
    for run_id in range(1, runs + 1):
        failing = {s: ("exit_code_mismatch",) for s in everything if rng.random() < 0.05}
        at = start + timedelta(minutes=29 * run_id)
        pr = run_id // 40 if run_id % 40 == 0 else None
        records.append(
            RunRecord(
                run_id=run_id,
                platform="linux" if run_id % 2 else "windows",
                commit_sha=f"{run_id // 3:040x}",
                branch="pull_request" if pr else "master",
                pr_number=pr,
                kind="pr" if pr else "commit",
                status="fail" if failing else "pass",
                created_at=at,
                completed_at=at + timedelta(minutes=30),
                tested=everything,
                failures=failing,
            )
        )
    return History(tuple(records), {s: f"sample-{s}.ts" for s in everything})


def speed(repeat: int = 5) -> None:
    """Best and median of ``repeat``: the analysis of the window, then the triage of one run."""
    history = heavy_history()
    settings = AnalysisSettings()
    target = [run for run in history.runs if run.pr_number is not None][-1]
    broken = replace(
        target, run_id=len(history.runs) + 1, failures=dict.fromkeys(target.tested, ("missing_output",))
    )
    cases = {
        "a run with 5 % failing": history,
        "a run where every sample failed": replace(history, runs=(*history.runs, broken)),
    }
    for label, judged in cases.items():
        chosen = judged.runs[-1] if judged is not history else target
        analysed, triaged = [], []
        for _ in range(repeat):
            began = time.perf_counter()
            result = analysis.analyse(judged, settings)
            middle = time.perf_counter()
            triage(judged, result, [chosen], settings)
            analysed.append(middle - began)
            triaged.append(time.perf_counter() - middle)
        print(
            f"{label}, {len(judged.runs)} runs x {len(judged.sample_names)} samples (30 days): "
            f"analysis median {sorted(analysed)[repeat // 2] * 1000:.0f} ms, "
            f"triage median {sorted(triaged)[repeat // 2] * 1000:.0f} ms"
        )


def seed_range(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="hard", choices=sorted(PROFILES))
    parser.add_argument("--seeds", default="11-15", help="a seed or a range such as 11-15")
    parser.add_argument("--window-days", type=int, default=30)
    parser.add_argument("--samples", type=int, help="samples in the suite (default: the profile's)")
    parser.add_argument("--speed", action="store_true", help="time one triage at the real suite's size")
    args = parser.parse_args()
    if args.speed:
        speed()
        return
    tally = Tally()
    profile = PROFILES[args.profile]
    profile = replace(profile, samples=args.samples) if args.samples else profile
    for seed in seed_range(args.seeds):
        evaluate(generate(seed, profile, end=END), tally, args.window_days)
    print(f"profile {args.profile} ({profile.samples} samples), seeds {args.seeds}")
    print("\n".join(tally.rows()))
    if tally.seconds:
        ordered = sorted(tally.seconds)
        print(
            f"analysis + triage per run: median {ordered[len(ordered) // 2] * 1000:.0f} ms, "
            f"max {ordered[-1] * 1000:.0f} ms over {len(ordered)} runs"
        )


if __name__ == "__main__":
    main()
