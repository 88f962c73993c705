"""Hand-built histories for what real CI histories contain: shared causes, restarts, clusters, bursts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reporter.analysis import FAILING, FIXED, FLAKY, Analysis, analyse
from reporter.config import AnalysisSettings
from reporter.history import History, RunRecord, TestFailure

SETTINGS = AnalysisSettings()
T0 = datetime(2026, 11, 1, tzinfo=UTC)
SAMPLES = range(1, 41)  # sample s has one regression test, number s: tests run in sample order
CATEGORIES = {
    s: frozenset({"DVB"} if s in (31, 32, 33) else {"General" if s % 2 else "Options"}) for s in SAMPLES
}
Failing = Mapping[int, tuple[str, int]]  # sample -> (status, exit code)


def attempt(
    run_id: int,
    failing: Failing | Iterable[int] = (),
    *,
    number: int = 1,
    sha: str | None = None,
    pr: int | None = None,
    hours: float | None = None,
    platform: str = "linux",
) -> RunRecord:
    """One finished attempt testing every sample; ``failing`` as {sample: (status, exit code)} or ids."""
    failing = failing if isinstance(failing, Mapping) else {s: ("fail", 3) for s in failing}
    done = T0 + timedelta(hours=run_id if hours is None else hours)
    return RunRecord(
        run_id=run_id,
        platform=platform,
        commit_sha=sha or f"{run_id:040x}",
        branch="pull_request" if pr else "master",
        pr_number=pr,
        kind="pr" if pr else "commit",
        status="fail" if failing else "pass",
        created_at=done - timedelta(minutes=30),
        completed_at=done + timedelta(minutes=number),
        tested=frozenset(SAMPLES),
        failures={
            s: ("missing_output",) if st == "missing_output" else ("exit_code_mismatch",)
            for s, (st, _) in failing.items()
        },
        failed_regressions={s: (s,) for s in failing},
        attempt=number,
        failed_tests={s: (TestFailure(s, st, code, 0),) for s, (st, code) in failing.items()},
    )


def steady(runs: int, start: int = 1, **failing: Iterable[int]) -> list[RunRecord]:
    """``runs`` attempts on their own commits; samples named ``s<id>`` fail in the listed run ids."""
    fails = {int(name[1:]): set(ids) for name, ids in failing.items()}
    return [attempt(r, [s for s, ids in fails.items() if r in ids]) for r in range(start, start + runs)]


def analysed(runs: Iterable[RunRecord], settings: AnalysisSettings = SETTINGS) -> Analysis:
    ordered = tuple(sorted(runs, key=lambda r: r.key))
    names = {s: f"sample-{s}.ts" for s in SAMPLES}
    return analyse(History(ordered, names, CATEGORIES, {s: (s,) for s in SAMPLES}), settings)


def verdicts(result: Analysis) -> dict[int, str]:
    return {f.sample_id: f.classification for f in result.findings if f.platform == "linux"}


def test_a_partial_infrastructure_failure_makes_nobody_flaky_even_when_the_restart_passes() -> None:
    tail = {s: ("fail", 5) for s in range(25, 41)}  # the disk filled at test 25: every later test failed
    runs = [*steady(30), attempt(40, tail, sha="a" * 40), attempt(40, number=2, sha="a" * 40)]
    result = analysed(runs)
    assert [f for f in result.findings if f.classification == FLAKY] == []
    (event,) = result.infra_noise
    assert (event.run_id, event.attempt, event.cause) == (40, 1, "tail")
    assert event.signature == "exit 5" and event.first_test == 25
    assert event.sample_ids == tuple(range(25, 41))
    assert result.infra_runs == ()  # only part of the run: the rest still counts


def test_a_real_failure_before_the_broken_tail_still_counts() -> None:
    tail = {s: ("fail", 5) for s in range(25, 41)}
    flaky = {3: ("fail", 3)}
    runs = [*steady(30, s3=[4, 11, 19]), attempt(40, {**tail, **flaky})]
    finding = next(f for f in analysed(runs).findings if f.sample_id == 3)
    assert finding.classification == FLAKY and finding.failures == 4


def test_a_category_outage_makes_nobody_flaky() -> None:
    outage = {31: ("fail", 2), 32: ("missing_output", 2), 33: ("fail", 2)}
    runs = [*steady(30), attempt(40, outage, sha="b" * 40), attempt(41, sha="b" * 40)]
    result = analysed(runs)
    assert verdicts(result) == {}
    (event,) = result.infra_noise
    assert (event.cause, event.signature, event.sample_ids) == ("category", "category DVB", (31, 32, 33))


def test_many_samples_failing_the_same_unusual_way_are_one_cause() -> None:
    scattered = {s: ("missing_output", -9) for s in range(2, 40, 3)}  # thirteen, all over the suite
    runs = [*steady(30), attempt(40, scattered, sha="c" * 40), attempt(41, sha="c" * 40)]
    result = analysed(runs)
    assert verdicts(result) == {}
    assert [(e.cause, e.signature) for e in result.infra_noise] == [("signature", "missing_output, exit -9")]


def test_failed_restarted_passed_is_flaky_and_both_attempts_are_kept() -> None:
    runs = [*steady(30), attempt(40, [7], sha="d" * 40), attempt(40, number=2, sha="d" * 40), *steady(10, 50)]
    finding = next(f for f in analysed(runs).findings if f.sample_id == 7)
    assert finding.classification == FLAKY
    assert finding.same_commit_disagreements == 1 and finding.failures == 1
    assert finding.runs == 42  # both attempts of run 40 are observations


def test_an_infrastructure_broken_attempt_is_set_aside_alone() -> None:
    broken = attempt(40, range(1, 37), sha="e" * 40)
    retried = attempt(40, [5], number=2, sha="e" * 40)
    result = analysed([*steady(30, s5=[3, 12, 20]), broken, retried])
    assert result.infra_runs == ((40, 1),)
    finding = next(f for f in result.findings if f.sample_id == 5)
    assert finding.failures == 4 and 40 in finding.failing_runs  # the retry's failure counts


def test_four_samples_failing_together_are_one_cluster_named_by_each_member() -> None:
    fired = [5, 13, 21, 29, 37, 45, 53]
    members = {s: [r for r in fired if not (s == 12 and r == 21)] for s in (4, 12, 20, 28)}
    runs = steady(60, s4=members[4], s12=members[12], s20=members[20], s28=members[28], s9=[7, 30, 51])
    result = analysed(runs)
    (cluster,) = result.clusters
    assert cluster.sample_ids == (4, 12, 20, 28) and cluster.platform == "linux"
    assert cluster.run_ids == tuple(fired)
    assert cluster.error_types == ("exit_code_mismatch",)
    assert set(cluster.categories) <= {"Options"}
    named = {f.sample_id: f.cluster for f in result.findings}
    assert named == {
        4: cluster.cluster_id,
        12: cluster.cluster_id,
        20: cluster.cluster_id,
        28: cluster.cluster_id,
        9: None,
    }
    assert all(f.classification == FLAKY for f in result.findings)


def test_samples_flaky_on_their_own_form_no_cluster() -> None:
    runs = steady(80, s3=range(2, 80, 7), s8=range(5, 80, 9), s14=range(3, 80, 6))
    result = analysed(runs)
    assert result.clusters == ()
    assert set(verdicts(result).values()) == {FLAKY}


def test_a_burst_then_quiet_is_flaky_not_a_regression() -> None:
    burst = [31, 33, 34, 36, 38]  # half the runs of a bad afternoon, then never again
    runs = [
        attempt(r, [17] if r in burst else [], hours=(r if r < 31 else 31 + (r - 31) * 0.5))
        for r in range(1, 80)
    ]
    assert verdicts(analysed(runs)) == {17: FLAKY}


def test_a_pull_request_breaking_a_sample_makes_it_not_flaky() -> None:
    pr = [
        attempt(31, [9], sha="f1" * 20, pr=12),
        attempt(32, [9], sha="f1" * 20, pr=12),  # re-run of the red push: still red
        attempt(34, [9], sha="f2" * 20, pr=12),
        attempt(36, sha="f3" * 20, pr=12),  # the next push fixed it
    ]
    result = analysed([*steady(50), *pr])
    assert 9 not in {f.sample_id for f in result.findings if f.classification == FLAKY}
    assert [(b.pr_number, b.sample_id) for b in result.pr_breakages] == [(12, 9)]


def test_a_regression_that_starts_intermittent_is_failing_from_its_first_failure() -> None:
    fails = [31, 33, 34, 36, *range(37, 50)]
    finding = next(f for f in analysed(steady(49, s22=fails)).findings if f.sample_id == 22)
    assert finding.classification == FAILING
    assert finding.first_failure is not None and finding.first_failure.run_id == 31


def test_a_flaky_sample_broken_for_good_is_failing_with_its_flakiness_noted() -> None:
    fails = [4, 13, 19, 27, 35, 44, *range(52, 64)]
    finding = next(f for f in analysed(steady(63, s26=fails)).findings if f.sample_id == 26)
    assert finding.classification == FAILING
    assert finding.first_failure is not None and finding.first_failure.run_id == 52
    assert finding.earlier_flaky == 6


def test_a_regression_fixed_after_two_commits_is_not_flaky() -> None:
    assert verdicts(analysed(steady(60, s15=[30, 31]))) == {15: "stable"}
    assert verdicts(analysed(steady(60, s15=[30, 31, 32, 33]))) == {15: FIXED}


def test_a_regression_with_an_odd_pass_is_still_one_regression() -> None:
    fails = [*range(30, 36), *range(37, 45)]  # run 36 ran older code and passed
    finding = next(f for f in analysed(steady(60, s15=fails)).findings if f.sample_id == 15)
    assert finding.classification == FIXED


def cluster_history() -> Analysis:
    fired = [5, 13, 21, 29, 37, 45, 53]
    runs = steady(60, s4=fired, s12=fired, s20=fired, s28=fired)
    tail = {s: ("fail", 5) for s in range(30, 41)}
    return analysed([*runs, attempt(61, tail, sha="9" * 40), attempt(61, number=2, sha="9" * 40)])


def test_flaky_json_lists_clusters_and_each_member_names_its_cluster() -> None:
    import json

    from reporter.digest import FindingsReport
    from reporter.format.json import JsonFormat

    result = cluster_history()
    report = FindingsReport(result.findings, T0, 30, "https://sp.example", result.clusters)
    body = json.loads(JsonFormat().findings(report))
    assert body["schema_version"] == 2
    (cluster,) = body["clusters"]
    assert [s["sample_id"] for s in cluster["samples"]] == [4, 12, 20, 28]
    assert cluster["samples"][0]["url"] == "https://sp.example/sample/4"
    assert cluster["run_ids"] == [5, 13, 21, 29, 37, 45, 53] and cluster["platform"] == "linux"
    assert {f["sample_id"]: f["cluster"] for f in body["findings"]} == dict.fromkeys((4, 12, 20, 28), 1)


def test_the_digest_shows_clusters_and_shared_causes_in_every_format() -> None:
    from reporter.digest import build
    from reporter.format import digest_format
    from reporter.format.templates import Templates

    made = build(
        cluster_history(),
        period="2026-11-20",
        generated_at=T0,
        window_days=30,
        web_url="https://sp.example",
        previous=None,
    )
    assert made.noise_counts == {"failing tail": 1}
    text = digest_format("text", Templates()).digest(made)
    assert "FAILING TOGETHER" in text and "cluster 1 [linux]: sample-4.ts (#4), sample-12.ts (#12)" in text
    assert "fails with cluster 1" in text
    assert "run 61: every test from #30 on failed (exit 5), 11 samples set aside" in text
    assert "1 run attempt: failing tail 1" in text
    for name in ("markdown", "mrkdwn", "html", "slack"):
        rendered = digest_format(name, Templates()).digest(made)
        assert "cluster 1" in rendered and "every test from #30 on failed" in rendered, name


def test_the_digest_notes_the_flakiness_before_a_regression() -> None:
    from reporter.digest import build
    from reporter.format import digest_format
    from reporter.format.templates import Templates

    result = analysed(steady(63, s26=[4, 13, 19, 27, 35, 44, *range(52, 64)]))
    made = build(
        result,
        period="2026-11-20",
        generated_at=T0,
        window_days=30,
        web_url="https://sp.example",
        previous=None,
    )
    assert "since run 52" in (text := digest_format("text", Templates()).digest(made))
    assert "flaky before that (6 failures)" in text
    for name in ("markdown", "mrkdwn", "html", "slack"):
        assert "flaky before that" in digest_format(name, Templates()).digest(made), name


def test_an_alert_blames_no_sample_for_a_broken_tail_or_an_outage() -> None:
    from reporter.alerts import Snapshot, check

    known = Snapshot.of(analysed(steady(30, s3=[4, 11, 19])), T0)
    suite = History((), {s: f"sample-{s}.ts" for s in SAMPLES}, CATEGORIES, {s: (s,) for s in SAMPLES})
    broken = {**{s: ("fail", 5) for s in range(25, 41)}, 31: ("fail", 2), 7: ("fail", 3), 3: ("fail", 3)}
    outage = {31: ("fail", 2), 32: ("missing_output", 2), 33: ("fail", 2), 9: ("fail", 3)}
    found, _ = check([attempt(50, broken), attempt(51, outage)], known, suite.sample_names, suite, SETTINGS)
    assert [(a.run.run_id, [f.sample_id for f in a.failures]) for a in found] == [(50, [7]), (51, [9])]
    without, _ = check([attempt(50, broken)], known, suite.sample_names)
    assert len(without[0].failures) == 17  # judged without the suite, every failure but the known one


def test_records_without_test_detail_still_set_a_broken_tail_aside() -> None:
    """An older state: no per-test rows, no categories, no exit codes; samples stand for their tests."""
    from dataclasses import replace

    bare = [replace(r, failed_tests={}, failed_regressions={}) for r in steady(30)]
    tail = replace(attempt(40, range(25, 41), sha="a" * 40), failed_tests={}, failed_regressions={})
    runs = (*bare, tail, attempt(40, number=2, sha="a" * 40))
    result = analyse(History(runs, {}), SETTINGS)
    assert [(e.cause, e.first_test) for e in result.infra_noise] == [("tail", 25)]
    assert result.findings == ()


def test_odd_values_do_not_break_the_analysis() -> None:
    from dataclasses import replace

    odd = attempt(40, {5: ("fail", 0)})  # a failure whose exit code is the expected one
    odd = replace(
        odd,
        failed_tests={5: (TestFailure(5, "fail", None, None),), 77: (TestFailure(9999, "weird", -1, None),)},
        failures={5: (), 77: ("exit_code_mismatch",)},  # 77: failed without a tested row
    )
    unknown = replace(attempt(41, [6]), status="exploded")
    empty = replace(attempt(42), tested=frozenset())
    result = analysed([*steady(30, s5=[3, 9]), odd, unknown, empty])
    assert verdicts(result)[5] == FLAKY
    assert result.excluded["exploded"] == 1
    assert {f.sample_id for f in result.findings} == {5, 77}


def test_every_cause_of_an_attempt_is_left_out_of_the_usual_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    from reporter import noise

    seen: list[Mapping[tuple[int, int], frozenset[int]]] = []
    real = noise._Rates.__init__

    def spied(
        self: noise._Rates, runs: Any, explained: Mapping[tuple[int, int], frozenset[int]], suite: Any
    ) -> None:
        seen.append(explained)
        real(self, runs, explained, suite)

    monkeypatch.setattr(noise._Rates, "__init__", spied)
    fail = {s: ("fail", 0) for s in (31, 32, 33)} | {s: ("missing_output", 0) for s in range(1, 13)}
    found = analysed([*steady(30), attempt(40, fail), *steady(10, start=41)]).infra_noise
    assert {e.cause for e in found if e.key == (40, 1)} == {"category", "signature"}
    assert seen[-1][(40, 1)] == frozenset(fail)  # the second pass: both causes' samples, not the last's
