"""Pull-request triage against the simulator's planted truth: the share of failing cells judged right.

    uv run python -m benchmarks.evaluate_triage [--profile hard] [--seeds 11-15]

For each seed: a simulated platform, the real pipeline over HTTP (poll, store), then every finished
pull-request run is triaged as the daemon would right after it finished, from the history stored up
to then (the analysis window before it). Each failing (sample, platform) cell of such a run has a
planted cause (``Scenario.failure_cause``); the verdict matches when flaky → known_flaky, regression
→ failing_on_master, pull_request → new_failure, and a shared infrastructure cause (partial,
category outage, whole run) → infrastructure. Printed: per planted cause, the cells and the share
judged right, with what the others were called; then the share over every cell, and the analysis
time per triaged run.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from benchmarks.common import END, platform, settings_for
from reporter import analysis, jobs
from reporter.history import History, RunRecord
from reporter.simulator import PROFILES, Scenario, generate
from reporter.triage import Verdict, triage

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


def seed_range(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="hard", choices=sorted(PROFILES))
    parser.add_argument("--seeds", default="11-15", help="a seed or a range such as 11-15")
    parser.add_argument("--window-days", type=int, default=30)
    args = parser.parse_args()
    tally = Tally()
    for seed in seed_range(args.seeds):
        evaluate(generate(seed, PROFILES[args.profile], end=END), tally, args.window_days)
    print(f"profile {args.profile}, seeds {args.seeds}")
    print("\n".join(tally.rows()))
    if tally.seconds:
        ordered = sorted(tally.seconds)
        print(
            f"analysis + triage per run: median {ordered[len(ordered) // 2] * 1000:.0f} ms, "
            f"max {ordered[-1] * 1000:.0f} ms over {len(ordered)} runs"
        )


if __name__ == "__main__":
    main()
