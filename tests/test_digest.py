"""Digests across periods: new, still, recovered, trend, hysteresis."""

from __future__ import annotations

from datetime import UTC, datetime

from reporter.analysis import analyse
from reporter.config import AnalysisSettings
from reporter.digest import Digest, build
from tests.test_analysis import history

NOW = datetime(2026, 11, 20, 7, tzinfo=UTC)


def digest_of(pattern: str, previous: Digest | None = None, period: str = "2026-11-20") -> Digest:
    result = analyse(history(pattern), AnalysisSettings())
    before = (previous.period, previous.state()) if previous else None
    return build(
        result,
        period=period,
        generated_at=NOW,
        window_days=30,
        web_url="https://sp.example/",
        previous=before,
        names={99: "sample.ts"},
    )


def test_first_flaky_digest_says_new() -> None:
    first = digest_of("..x....x.....x..x....")
    assert [e.finding.sample_id for e in first.new_flaky] == [99]
    assert first.trend["flaky"] == (None, 1)
    assert not first.all_clear


def test_second_digest_says_still_and_trend() -> None:
    first = digest_of("..x....x.....x..x....", period="2026-11-19")
    second = digest_of("..x....x.....x..x.....x", first)
    assert second.new_flaky == () and [e.finding.sample_id for e in second.still_flaky] == [99]
    assert second.trend["flaky"] == (1, 1)
    assert second.previous_period == "2026-11-19"


def test_hysteresis_keeps_a_flagged_sample_until_it_is_really_fixed() -> None:
    first = digest_of("..x....x.....x..x....", period="2026-11-19")
    # the window slid: one failure left in view is below the opening bar, not yet the closing one
    second = digest_of("..............x....", first)
    assert [e.finding.sample_id for e in second.still_flaky] == [99]


def test_recovered_when_the_failures_are_gone() -> None:
    first = digest_of("....xxxxx", period="2026-11-19")
    assert [e.finding.sample_id for e in first.failing] == [99]
    second = digest_of("..........", first)
    assert [e.finding.sample_name for e in second.recovered] == ["sample.ts"]
    assert second.all_clear


def test_all_clear() -> None:
    assert digest_of("..........").all_clear
