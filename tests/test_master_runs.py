"""Master runs per sample: observations, streaks across runs that did not test it, explained failures."""

from __future__ import annotations

from reporter.history import RunRecord
from reporter.master_runs import MasterRuns
from tests.fakes import run

SAMPLE = 99


def line(
    pattern: str, explained: set[int] | frozenset[int] = frozenset()
) -> tuple[MasterRuns, list[RunRecord]]:
    """'.' pass, 'x' fail, ' ' not tested, 'e' failed for a shared cause; run ids from 1."""
    runs = []
    for i, c in enumerate(pattern, start=1):
        failing = {SAMPLE} if c in "xe" else set()
        runs.append(run(i, f"{i:040x}", failing, tested=set() if c == " " else {SAMPLE}))
    shared = {i for i, c in enumerate(pattern, start=1) if c == "e"} | set(explained)
    return MasterRuns(list(reversed(runs)), lambda r, s: r.run_id in shared and s == SAMPLE), runs


def test_counts_leave_out_untested_runs_and_explained_failures() -> None:
    master, _ = line("..x  .e.x")
    assert (master.count(SAMPLE), master.failures(SAMPLE)) == (6, 2)
    assert master.count(12345) == 0


def test_a_streak_runs_across_runs_that_did_not_observe_the_sample() -> None:
    master, _ = line("..xx e x..x")
    first, second = master.streaks(SAMPLE)
    assert (first.first.run_id, first.last.run_id, first.length) == (3, 8, 3)
    assert first.fixed is not None and first.fixed.run_id == 9
    assert (second.first.run_id, second.length, second.fixed) == (11, 1, None)


def test_last_pass_and_latest_observation() -> None:
    master, runs = line(".x.xx  ")
    assert (master.last_pass(SAMPLE, runs[4]) or runs[0]).run_id == 3
    assert (last := master.last_pass(SAMPLE, runs[0])) is not None and last.run_id == 1
    assert (master.latest(SAMPLE) or runs[0]).run_id == 5
