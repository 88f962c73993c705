"""Hand-written histories for each class and each kind of noise."""

from __future__ import annotations

from dataclasses import replace

from reporter.analysis import FAILING, FIXED, FLAKY, STABLE, analyse, wilson_lower
from reporter.config import AnalysisSettings
from reporter.history import History
from tests.fakes import history, run

SETTINGS = AnalysisSettings()


def only(h: History) -> str:
    findings = [f for f in analyse(h, SETTINGS).findings if f.sample_id == 99]
    return findings[0].classification if findings else "none"


def test_same_commit_pass_and_fail_is_flaky() -> None:
    h = history("....x.......", commits=[f"{i // 2:040x}" for i in range(12)])
    finding = analyse(h, SETTINGS).findings[0]
    assert finding.classification == FLAKY
    assert finding.same_commit_disagreements == 1


def test_isolated_failures_that_come_and_go_are_flaky() -> None:
    finding = analyse(history("..x....x.....x..x...."), SETTINGS).findings[0]
    assert finding.classification == FLAKY
    assert finding.failures == 4 and finding.flips == 8
    assert finding.history == "..x....x.....x..x...."


def test_regression_reports_its_first_failing_commit_and_run() -> None:
    h = history("........xxxxxx")
    finding = analyse(h, SETTINGS).findings[0]
    assert finding.classification == FAILING
    assert finding.first_failure is not None and finding.first_failure.run_id == 9
    assert finding.first_failure.commit_sha == f"{8:040x}"


def test_fixed_regression_needs_several_passes() -> None:
    assert only(history("....xxxxx..")) == FAILING  # two passes are not yet a fix
    assert only(history("....xxxxx......")) == FIXED


def test_one_failure_is_not_enough_to_call_flaky() -> None:
    assert only(history("..........x.........")) == STABLE


def test_sparse_data_is_not_flaky() -> None:
    assert only(history("x.x")) == STABLE


def test_never_failing_sample_has_no_finding() -> None:
    assert only(history("..........")) == "none"


def test_infrastructure_broken_run_makes_nobody_flaky() -> None:
    broken = run(100, "f" * 40, set(range(1, 19)), tested={99})
    h = history("......................", extra=[broken])
    result = analyse(h, SETTINGS)
    assert result.infra_run_ids == (100,)
    assert result.findings == ()
    assert result.excluded["infrastructure"] == 1


def test_canceled_and_error_runs_are_not_evidence() -> None:
    noise = [run(200 + i, "e" * 40, {99}, status=s) for i, s in enumerate(("canceled", "error", "canceled"))]
    result = analyse(history("..............", extra=noise), SETTINGS)
    assert result.findings == ()
    assert result.excluded["canceled"] == 2 and result.excluded["error"] == 1


def test_breakage_only_in_one_pull_request_is_not_flaky() -> None:
    pr_runs = [run(300 + i, f"{0xABC + i:040x}", {99}, pr=42) for i in range(3)]
    result = analyse(history("....................", extra=pr_runs), SETTINGS)
    assert [f for f in result.findings if f.classification in (FLAKY, FAILING)] == []
    assert [(b.pr_number, b.sample_id) for b in result.pr_breakages] == [(42, 99)]


def test_unknown_statuses_are_set_aside() -> None:
    odd = run(400, "d" * 40, {99}, status="exploded")
    result = analyse(history("...........", extra=[odd]), SETTINGS)
    assert result.findings == () and result.excluded["exploded"] == 1


def test_platforms_are_judged_apart() -> None:
    windows = [
        run(500 + i, f"{i:040x}", {99} if i % 3 == 0 else set(), tested={99}, platform="windows")
        for i in range(12)
    ]
    result = analyse(history("............", extra=windows), SETTINGS)
    assert {(f.platform, f.classification) for f in result.findings} == {("windows", FLAKY)}


def test_score_grows_with_evidence_not_with_a_lucky_ratio() -> None:
    # the rate's lower bound alone would rank 1 of 2 above 12 of 100; the score counts red runs
    assert wilson_lower(1, 2) > wilson_lower(12, 100)
    assert wilson_lower(1, 2) * 2 < wilson_lower(12, 100) * 100
    few = analyse(history("x.x." + "." * 2), SETTINGS).findings[0]
    many = analyse(history(("x" + "." * 7) * 12 + "...."), SETTINGS).findings[0]
    assert many.score > few.score


def test_flip_points_and_decayed_rate() -> None:
    from reporter.analysis import decayed_flip_rate, flip_points

    assert flip_points(6, []) == []
    assert flip_points(6, [0, 1]) == [1]  # xx....
    assert flip_points(6, [2, 5]) == [1, 2, 4]  # ..x..x
    assert decayed_flip_rate(6, [], 0.05) == 0.0
    assert decayed_flip_rate(3, [1], 0.0) == 1.0  # .x. flips on both transitions
    assert 0 < decayed_flip_rate(10, [0], 0.5) < decayed_flip_rate(10, [9], 0.5)  # newer weighs more


def test_drill_down_classifies_each_regression_test() -> None:
    pattern = "..x....x.....x..x...." + "xxxxxxx"
    runs = []
    for i, c in enumerate(pattern):
        failing = {99} if c == "x" else set()
        record = run(i + 1, f"{i:040x}", failing, tested={99})
        # test 7 flakes all along (in two of the last seven runs too); test 8 broke for good at the end
        flaky = c == "x" and (i < 21 or i in (22, 25))
        regressions = {99: tuple(r for r in (7, 8) if (r == 7 and flaky) or (r == 8 and i >= 21))}
        runs.append(replace(record, failed_regressions=regressions if failing else {}))
    finding = analyse(History(tuple(runs), {99: "sample.ts"}), SETTINGS).findings[0]
    assert finding.classification == FAILING and finding.earlier_flaky == 4
    tests = {t.regression_id: (t.classification, t.failures) for t in finding.regression_tests}
    assert tests == {7: (FLAKY, 6), 8: (FAILING, 7)}


def test_a_drilled_test_disagrees_on_a_commit_by_its_own_results_not_the_samples() -> None:
    # commit 3 ran twice: test 11 failed in the first run, test 12 in the second (the sample failed
    # both times); commit 7 ran twice, test 12 failing once. Test 11 failed and passed on commit 3.
    runs, run_id = [], 0
    twice: dict[int, list[tuple[int, ...]]] = {3: [(11,), (12,)], 7: [(12,), ()]}
    for commit in range(12):
        tries = twice.get(commit, [()])
        for failing_tests in tries:
            run_id += 1
            record = run(run_id, f"{commit:040x}", {99} if failing_tests else set(), tested={99})
            runs.append(replace(record, failed_regressions={99: failing_tests} if failing_tests else {}))
    finding = analyse(History(tuple(runs), {99: "sample.ts"}), SETTINGS).findings[0]
    tests = {t.regression_id: t.classification for t in finding.regression_tests}
    assert finding.classification == FLAKY and tests == {11: FLAKY, 12: FLAKY}


def test_varying_error_types_support_a_flaky_finding() -> None:
    def finding_with(types: list[str]) -> float:
        runs = []
        for i, c in enumerate("..x....x.....x..x...."):
            record = run(i + 1, f"{i:040x}", {99} if c == "x" else set(), tested={99})
            if c == "x":  # each failure with the next error type in turn
                record = replace(record, failures={99: (types[i % len(types)],)})
            runs.append(record)
        found = analyse(History(tuple(runs), {99: "s.ts"}), SETTINGS).findings[0]
        assert found.classification == FLAKY
        return found.score

    assert finding_with(["missing_output", "diff_mismatch"]) > finding_with(["missing_output"])
