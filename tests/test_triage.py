"""Every triage verdict from small hand-built histories: master runs, then a pull request's runs."""

from __future__ import annotations

from collections.abc import Iterable

from reporter.analysis import analyse
from reporter.config import AnalysisSettings
from reporter.history import History, RunRecord
from reporter.triage import triage
from reporter.triage_report import (
    FlakyEvidence,
    InfraEvidence,
    MasterEvidence,
    NewEvidence,
    RunTriage,
    UnknownEvidence,
    Verdict,
)
from tests.fakes import OTHERS, run

SAMPLE = 99
SETTINGS = AnalysisSettings()


def master(pattern: str, *, first: int = 1, platform: str = "linux", sample: int = SAMPLE) -> list[RunRecord]:
    """One master run per character, each on its own commit: '.' pass, 'x' fail, ' ' not tested."""
    return [
        run(
            first + i,
            f"{first + i:040x}",
            {sample} if c == "x" else set(),
            tested={sample},
            platform=platform,
        )
        if c != " "
        else run(first + i, f"{first + i:040x}", set(), platform=platform)
        for i, c in enumerate(pattern)
    ]


def pull(
    run_id: int, failing: Iterable[int], *, pr: int = 7, sha: str = "a" * 40, platform: str = "linux"
) -> RunRecord:
    return run(run_id, sha, set(failing), tested={SAMPLE}, platform=platform, pr=pr)


def judge(runs: list[RunRecord], target: int, sample: int = SAMPLE) -> RunTriage:
    history = History(tuple(sorted(runs, key=lambda r: r.run_id)), {sample: "sample.ts"})
    chosen = [r for r in history.runs if r.run_id == target]
    (result,) = triage(history, analyse(history, SETTINGS), chosen, SETTINGS)
    return result


def only(result: RunTriage, sample: int = SAMPLE) -> tuple[Verdict, object]:
    (verdict,) = [v for v in result.verdicts if v.sample_id == sample]
    return verdict.verdict, verdict.evidence


def test_a_sample_flaky_on_master_is_known_flaky() -> None:
    runs = [*master("..x...x....x..x...x.."), pull(40, {SAMPLE})]
    verdict, evidence = only(judge(runs, 40))
    assert verdict == Verdict.KNOWN_FLAKY
    assert isinstance(evidence, FlakyEvidence)
    assert evidence.failures >= 5 and evidence.runs >= 21
    assert set(evidence.failing_runs) <= {3, 7, 12, 15, 19, 40}
    assert evidence.last_failure is not None


def test_master_failing_since_a_run_is_failing_on_master() -> None:
    runs = [*master("..........xxxxxx"), pull(40, {SAMPLE})]
    verdict, evidence = only(judge(runs, 40))
    assert verdict == Verdict.FAILING_ON_MASTER
    assert isinstance(evidence, MasterEvidence)
    assert evidence.since.run_id == 11
    assert evidence.failures == 6 and evidence.fixed is None


def test_a_regression_fixed_on_master_before_the_pull_request_began_is_not_blamed_on_master() -> None:
    runs = [*master("....xxxx.........."), pull(40, {SAMPLE})]
    verdict, evidence = only(judge(runs, 40))
    assert verdict == Verdict.NEW_FAILURE
    assert isinstance(evidence, NewEvidence)
    assert evidence.master_passed is not None and evidence.master_passed.run_id == 18


def test_a_pull_request_opened_while_master_was_broken_still_carries_the_regression() -> None:
    # master breaks at run 5; the pull request's first run (10) comes while it is broken; master is
    # fixed at run 12; the pull request, based on the broken code, fails again at run 20
    runs = [*master("....xxxxx"), pull(10, {SAMPLE}), *master("x.......", first=11), pull(20, {SAMPLE})]
    verdict, evidence = only(judge(runs, 20))
    assert verdict == Verdict.FAILING_ON_MASTER
    assert isinstance(evidence, MasterEvidence)
    assert evidence.since.run_id == 5
    assert evidence.fixed is not None and evidence.fixed.run_id == 12


def test_a_streak_that_began_after_the_run_does_not_count() -> None:
    runs = [*master(".........."), pull(11, {SAMPLE}), *master("xxxxx", first=12)]
    assert only(judge(runs, 11))[0] != Verdict.FAILING_ON_MASTER


def test_master_judgements_are_per_platform() -> None:
    broken_on_windows = master("..........xxxxxx", platform="windows", first=100)
    runs = [*master("................"), *broken_on_windows, pull(200, {SAMPLE})]
    assert only(judge(runs, 200))[0] == Verdict.NEW_FAILURE


def test_failures_in_an_infrastructure_broken_run_are_infrastructure() -> None:
    broken = run(40, "b" * 40, set(OTHERS) | {SAMPLE}, tested={SAMPLE}, pr=7)
    runs = [*master("...................."), broken]
    result = judge(runs, 40)
    assert {v.verdict for v in result.verdicts} == {Verdict.INFRASTRUCTURE}
    evidence = only(result)[1]
    assert isinstance(evidence, InfraEvidence)
    assert evidence.cause == "run" and evidence.samples == len(OTHERS) + 1


def test_a_regression_on_master_wins_over_infrastructure() -> None:
    broken = run(40, "b" * 40, set(OTHERS) | {SAMPLE}, tested={SAMPLE}, pr=7)
    runs = [*master("..............xxxxxx"), broken]
    assert only(judge(runs, 40))[0] == Verdict.FAILING_ON_MASTER


def test_a_new_failure_says_what_other_runs_of_the_pull_request_showed() -> None:
    runs = [
        *master("...................."),
        pull(30, set(), sha="1" * 40),  # the first push passed
        pull(31, {SAMPLE}, sha="2" * 40, platform="windows"),
        pull(32, {SAMPLE}, sha="2" * 40),
    ]
    verdict, evidence = only(judge(runs, 32))
    assert verdict == Verdict.NEW_FAILURE
    assert isinstance(evidence, NewEvidence)
    seen = {(r.run_id, r.same_commit, r.earlier, r.failed) for r in evidence.pull_runs}
    assert seen == {(30, False, True, False), (31, True, True, True)}
    assert evidence.failed_elsewhere == 1
    assert evidence.master_passed is not None and evidence.master_passed.run_id == 20


def test_a_breakage_the_analysis_pins_on_the_pull_request_is_new_even_in_a_broken_run() -> None:
    runs = [
        *master("...................."),
        pull(30, {SAMPLE}, sha="1" * 40),
        *master("...", first=31),
        pull(34, {SAMPLE}, sha="2" * 40),
        *master("...", first=35),
        pull(38, {SAMPLE, *OTHERS}, sha="3" * 40),  # and this run's infrastructure broke too
    ]
    result = judge(runs, 38)
    assert result.count(Verdict.INFRASTRUCTURE) == len(OTHERS)
    verdict, evidence = only(result)
    assert verdict == Verdict.NEW_FAILURE
    assert isinstance(evidence, NewEvidence) and evidence.broken_in_pull_request
    assert evidence.failed_elsewhere == 2


def test_flakiness_seen_only_in_this_pull_request_does_not_make_it_known_flaky() -> None:
    runs = [
        *master("...................."),
        pull(30, {SAMPLE}),
        pull(31, set()),  # same commit passes: the analysis alone would call that flaky
        pull(32, {SAMPLE}),
    ]
    assert only(judge(runs, 32))[0] == Verdict.NEW_FAILURE


def test_a_sample_new_in_the_window_is_unknown() -> None:
    runs = [*master("                ..", sample=SAMPLE), pull(40, {SAMPLE})]
    verdict, evidence = only(judge(runs, 40))
    assert verdict == Verdict.UNKNOWN
    assert isinstance(evidence, UnknownEvidence)
    assert (evidence.master_runs, evidence.needed) == (2, SETTINGS.min_runs)


def test_every_failing_sample_gets_one_verdict_and_passing_ones_none() -> None:
    runs = [*master("..x...x....x..x...x.."), pull(40, {SAMPLE, 3})]
    result = judge(runs, 40)
    assert [v.sample_id for v in result.verdicts] == [3, SAMPLE]
    assert result.count(Verdict.KNOWN_FLAKY) == 1 and result.count(Verdict.NEW_FAILURE) == 1


def test_a_canceled_run_has_no_verdicts() -> None:
    canceled = run(40, "c" * 40, set(), pr=7, status="canceled")
    result = judge([*master("....."), canceled], 40)
    assert result.verdicts == () and result.status == "canceled"


def test_a_fresh_regression_still_open_on_master_counts_from_two_failures() -> None:
    runs = [*master(".............xx"), pull(40, {SAMPLE})]
    assert only(judge(runs, 40))[0] == Verdict.FAILING_ON_MASTER
    runs = [*master("..............x"), pull(40, {SAMPLE})]
    assert only(judge(runs, 40))[0] == Verdict.NEW_FAILURE


def test_in_a_flaky_sample_a_short_streak_is_chance_not_a_regression() -> None:
    runs = [*master("..x...x....x..x...x..xxx.."), pull(40, {SAMPLE})]
    assert only(judge(runs, 40))[0] == Verdict.KNOWN_FLAKY


def test_one_failure_outside_the_pull_request_is_flaky_only_if_its_earlier_runs_passed() -> None:
    once = master("..............x......")
    assert only(judge([*once, pull(40, {SAMPLE})], 40))[0] == Verdict.NEW_FAILURE
    passed_first = [*once, pull(39, set(), sha="1" * 40), pull(40, {SAMPLE})]
    assert only(judge(passed_first, 40))[0] == Verdict.KNOWN_FLAKY
    failed_first = [*once, pull(39, {SAMPLE}, sha="1" * 40), pull(40, {SAMPLE})]
    assert only(judge(failed_first, 40))[0] == Verdict.NEW_FAILURE


def test_a_flaky_sample_broken_for_good_is_failing_on_master_once_chance_cannot_explain_it() -> None:
    flaky_then_broken = master("..x...x....x..x...x...xxxxx")
    verdict, evidence = only(judge([*flaky_then_broken, pull(40, {SAMPLE})], 40))
    assert verdict == Verdict.FAILING_ON_MASTER
    assert isinstance(evidence, MasterEvidence) and (evidence.since.run_id, evidence.failures) == (23, 5)


def test_one_failure_outside_shared_with_samples_failing_again_here_is_flaky() -> None:
    alone = master("..............x......")
    with_companion = [
        run(r.run_id, r.commit_sha, {SAMPLE, 5} if r.run_id == 15 else set(), tested={SAMPLE, 5})
        for r in alone
    ]
    assert only(judge([*with_companion, pull(40, {SAMPLE, 5})], 40))[0] == Verdict.KNOWN_FLAKY
    assert only(judge([*with_companion, pull(40, {SAMPLE})], 40))[0] == Verdict.NEW_FAILURE
