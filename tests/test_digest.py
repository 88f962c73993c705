"""Digests across periods: new, still, recovered, trend, hysteresis."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reporter.analysis import analyse
from reporter.config import AnalysisSettings
from reporter.digest import Digest, build
from reporter.simulator import SimulatedPlatform
from tests.fakes import history

NOW = datetime(2026, 11, 20, 7, tzinfo=UTC)


def digest_of(pattern: str, previous: Digest | None = None, period: str = "2026-11-20") -> Digest:
    before = (previous.period, previous.state()) if previous else None
    return built(pattern, period=period, previous=before, names={99: "sample.ts"})


def built(pattern: str, **given: Any) -> Digest:
    """The digest of one sample's history ``pattern`` (x failed, . passed) on 2026-11-20 by default."""
    result = analyse(history(pattern), AnalysisSettings())
    defaults = {
        "period": "2026-11-20",
        "generated_at": NOW,
        "window_days": 30,
        "web_url": "https://sp.example/",
    }
    return build(result, **{**defaults, **given})


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


def test_the_trend_is_what_earlier_digests_stored_then_this_one() -> None:
    from datetime import date

    from reporter.digest import TrendPoint

    counts = '{{"findings": {{}}, "counts": {{"flaky": {}, "failing": {}}}}}'
    past = [
        ("2026-10-21", counts.format(9, 9)),  # 30 days before: outside the trend
        ("2026-10-22", counts.format(4, 1)),
        ("2026-11-01", "{}"),  # stored without counts: skipped
        ("2026-11-02", "not json"),  # unreadable: skipped
        ("2026-11-03", '{"counts": {"flaky": "3", "failing": 1}}'),
        ("2026-11-04", '["counts"]'),
        ("2026-11-19", counts.format(2, 0)),
        ("2026-11-20", counts.format(7, 7)),  # the same period: replaced by this digest
    ]
    made = built("..x....x.....x..x....", previous=past[6], past=past)
    assert made.trend_points == (
        TrendPoint(date(2026, 10, 22), 4, 1),
        TrendPoint(date(2026, 11, 19), 2, 0),
        TrendPoint(date(2026, 11, 20), 1, 0),
    )


def test_a_digest_analyses_once_whatever_the_trend(
    tmp_path: Path, platform: SimulatedPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from reporter import analysis, jobs
    from reporter.store import Store
    from tests.fakes import make_settings

    settings = make_settings(tmp_path, platform.base_url, analysis={"window_days": 3650})
    calls = []
    real = analysis.analyse

    def counted(*args: Any, **kwargs: Any) -> analysis.Analysis:
        calls.append(1)
        return real(*args, **kwargs)

    now = datetime.now(UTC)
    with Store(settings.state.path) as store:
        jobs.poll(settings, store)
        for days_ago in range(20, 0, -1):
            jobs.run_digest(settings, store, channels=[], now=now - timedelta(days=days_ago))
        monkeypatch.setattr(analysis, "analyse", counted)
        made = jobs.build_digest(settings, store, now)
    assert len(calls) == 1
    assert len(made.trend_points) == 21
    assert made.trend_points[-1].flaky == len(made.new_flaky) + len(made.still_flaky)


def test_an_unreadable_previous_state_reads_as_nothing_reported() -> None:
    made = built("..x....x.....x..x....", previous=("2026-11-19", "not json"))
    assert [e.finding.sample_id for e in made.new_flaky] == [99] and made.trend["flaky"] == (None, 1)


def test_shared_causes_are_counted_by_the_run_attempts_they_hit() -> None:
    from dataclasses import replace

    from reporter.format.templates import Templates
    from reporter.format.text import TextFormat
    from reporter.noise import InfraNoise

    def event(run_id: int, cause: str, samples: tuple[int, ...]) -> InfraNoise:
        return InfraNoise(run_id, 1, "linux", "a" * 40, cause, "missing_output", samples, len(samples))

    made = replace(
        built("..x....x.....x..x....", previous=None),
        noise=(
            event(40, "category", (31, 32)),
            event(40, "signature", (1, 2, 3)),
            event(41, "signature", (5,)),
        ),
    )
    assert made.noise_attempts == 2
    assert sorted(made.noise_counts.values()) == [1, 2]
    assert "2 run attempts:" in TextFormat(Templates()).digest(made)
