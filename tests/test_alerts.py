"""Alert rules: which failures of a new run known flakiness does not explain, and alerting once."""

from __future__ import annotations

from datetime import timedelta

from reporter.alerts import Snapshot, check, unexplained
from reporter.analysis import analyse
from reporter.config import AnalysisSettings
from tests.fakes import T0, history, run

NAMES = {99: "flaky.ts", 7: "new-break.ts", 8: "other-break.ts"}


def snapshot() -> Snapshot:
    return Snapshot.of(analyse(history("..x....x.....x..x...."), AnalysisSettings()), T0)


def test_alert_names_only_failures_known_flakiness_does_not_explain() -> None:
    known = snapshot()
    assert (99, "linux") in known.flagged
    alert = unexplained(run(50, "a" * 40, {99, 7}, tested={99}), known, NAMES)
    assert alert is not None and [f.sample_name for f in alert.failures] == ["new-break.ts"]
    assert unexplained(run(51, "b" * 40, {99}, tested={99}), known, NAMES) is None
    assert unexplained(run(52, "c" * 40, {7}, pr=3), known, NAMES) is None  # a pull request's own
    broken = run(53, "d" * 40, set(range(1, 19)) | {7}, tested={99})
    assert unexplained(broken, known, NAMES) is None  # the infrastructure broke
    assert unexplained(run(54, "e" * 40, {7}, status="canceled"), known, NAMES) is None


def test_a_sample_alerts_once_per_platform_across_new_runs() -> None:
    runs = [
        run(60, "a" * 40, {7}),
        run(61, "b" * 40, {7, 8}),
        run(62, "c" * 40, {7}, platform="windows"),
        run(63, "d" * 40, {7, 8}),
    ]
    alerts, after = check(runs, snapshot(), NAMES)
    assert [(a.run.run_id, [f.sample_id for f in a.failures]) for a in alerts] == [
        (60, [7]),
        (61, [8]),
        (62, [7]),
    ]
    assert {(7, "linux"), (8, "linux"), (7, "windows")} <= after.flagged
    assert check(runs, after, NAMES)[0] == []


def test_snapshot_round_trip_staleness_and_unreadable_state() -> None:
    known = snapshot()
    assert Snapshot.from_json(known.to_json()) == known
    assert not known.stale(T0 + timedelta(minutes=59), 60)
    assert known.stale(T0 + timedelta(minutes=61), 60)
    for text in (None, "", "not json", "[]", '{"at": "yesterday", "flagged": [], "bars": {}}', '{"at": 1}'):
        assert Snapshot.from_json(text) is None, text
