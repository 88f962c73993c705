"""The SQLite state file: migrations, permissions, atomic run writes, clear errors."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reporter.errors import StoreError
from reporter.history import TestFailure
from reporter.models import ErrorBucket, Run, RunSample
from reporter.schema import MIGRATIONS
from reporter.store import Store


def run(run_id: int, status: str = "fail") -> Run:
    return Run(
        run_id=run_id,
        status=status,
        platform="linux",
        repository="a/b",
        commit_sha="c" * 40,
        branch="master",
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
        completed_at=datetime(2026, 11, 1, 1, tzinfo=UTC),
    )


def bucket(key: str, group_by: str = "sample_id", sample_ids: tuple[int, ...] = ()) -> ErrorBucket:
    return ErrorBucket(group_by=group_by, key=key, count=1, severity="error", sample_ids=sample_ids)


def test_new_file_is_private_wal_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.sqlite3"
    with Store(path) as store:
        assert store.migrations() == [name for name, _ in MIGRATIONS]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Store(path) as again:  # migrations are not applied twice
        assert again.migrations() == [name for name, _ in MIGRATIONS]


def test_save_run_replaces_old_data(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        tests = [
            RunSample(regression_test_id=1, sample_id=10, sample_name="a.ts", status="fail"),
            RunSample(regression_test_id=2, sample_id=11, sample_name="b.ts", status="pass"),
        ]
        store.save_run(
            run(1), tests, [bucket("10"), bucket("None")], [bucket("missing_output", "type", (10,))]
        )
        history = store.history(datetime(2026, 10, 1, tzinfo=UTC))
        assert history.runs[0].failures == {10: ("missing_output",)}
        assert history.runs[0].tested == {10, 11}
        assert history.sample_names == {10: "a.ts", 11: "b.ts"}
        store.save_run(run(1, "pass"), [RunSample(regression_test_id=1, sample_id=10, status="pass")], [], [])
        again = store.history(datetime(2026, 10, 1, tzinfo=UTC)).runs
        assert len(again) == 1 and again[0].failures == {} and again[0].status == "pass"


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        bad = [RunSample(regression_test_id=1, sample_id=10, status="fail")] * 2  # duplicate key
        with pytest.raises(StoreError):
            store.save_run(run(3), bad, [], [])
        assert store.known([3]) == {}


def test_corrupted_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"this is not a database, just text" * 100)
    with pytest.raises(StoreError) as caught:
        Store(path)
    assert str(path) in str(caught.value) and "corrupted" in str(caught.value)


def test_unwritable_directory_is_named(tmp_path: Path) -> None:
    target = tmp_path / "file-not-dir"
    target.write_text("x")
    with pytest.raises(StoreError, match="cannot create the state file"):
        Store(target / "state.sqlite3")


def test_a_locked_file_is_named_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    Store(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError) as caught, Store(path, timeout=0.2):
            pass
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(path) in str(caught.value) and "another reporter process" in str(caught.value)


def test_prune_keeps_recent_and_pending_runs(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        store.save_run(run(1), [], [], [])
        recent = run(2).model_copy(update={"completed_at": datetime(2026, 11, 25, tzinfo=UTC)})
        store.save_run(recent, [], [], [])
        store.record(run(3, "queued").model_copy(update={"completed_at": None}), "pending")
        assert store.prune(datetime(2026, 11, 10, tzinfo=UTC)) == 1
        assert set(store.known([1, 2, 3])) == {2, 3}


def test_migration_003_fills_tested_sets_of_runs_stored_before_it(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        for name, script in MIGRATIONS[:2]:
            db.executescript(script)
            db.execute("INSERT INTO migrations VALUES (?, 'then')", (name,))
        db.execute(
            "INSERT INTO runs (run_id, platform, repository, commit_sha, test_type, status, completed_at, "
            "state, seen_at) VALUES (1, 'linux', 'a/b', 'c', 'commit', 'pass', '2026-11-01T01:00:00+00:00', "
            "'ingested', 'then')"
        )
        db.executemany(
            "INSERT INTO run_tests VALUES (1, ?, ?, ?)",
            [(1, 10, "pass"), (2, 11, "fail"), (3, 12, "skipped")],
        )
    with Store(path) as store:
        assert "003_tested_sets" in store.migrations()
        [record] = store.history(datetime(2026, 10, 1, tzinfo=UTC)).runs
    assert record.tested == {10, 11}


def test_abandoned_runs_are_no_longer_pending(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        store.record_all([run(1, "queued"), run(2, "running")], "pending")
        store.abandon(1)
        assert [k.run_id for k in store.pending()] == [2]
        assert store.known([1])[1].state == "abandoned"


def restarted(first: Run, hours: int = 5, status: str = "pass") -> Run:
    """``first`` restarted under the same id: new progress times, new results."""
    assert first.completed_at is not None
    again = first.completed_at + timedelta(hours=hours)
    return first.model_copy(
        update={
            "status": status,
            "queued_at": again,
            "started_at": again + timedelta(minutes=2),
            "completed_at": again + timedelta(minutes=40),
        }
    )


def test_a_restarted_run_keeps_both_attempts_as_records_of_one_commit(tmp_path: Path) -> None:
    failing = [RunSample(regression_test_id=1, sample_id=10, status="fail", exit_code=-9, expected_rc=0)]
    passing = [RunSample(regression_test_id=1, sample_id=10, status="pass", exit_code=0, expected_rc=0)]
    with Store(tmp_path / "s.sqlite3") as store:
        assert store.save_run(run(1), failing) == 1
        assert store.save_run(restarted(run(1)), passing) == 2
        records = store.history(datetime(2026, 10, 1, tzinfo=UTC)).runs
        latest = store.records([1])
        assert store.counts() == {"ingested": 1}
        assert store.sample_error_counts(1) == {}  # what the platform shows now: the second attempt
    assert [(r.key, r.status, r.commit_sha) for r in records] == [
        ((1, 1), "fail", "c" * 40),
        ((1, 2), "pass", "c" * 40),
    ]
    assert records[0].failures == {10: ("exit_code_mismatch",)} and records[1].failures == {}
    assert records[0].tested == records[1].tested == {10}
    assert [r.key for r in latest] == [(1, 2)]


def test_a_restart_in_progress_keeps_the_finished_attempt_in_the_history(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        store.save_run(run(1), [RunSample(regression_test_id=1, sample_id=10, status="fail")])
        store.record(run(1, "queued").model_copy(update={"completed_at": None}), "pending")
        [record] = store.history(datetime(2026, 10, 1, tzinfo=UTC)).runs
        assert (record.key, record.status) == ((1, 1), "fail")
        store.save_run(restarted(run(1)), [RunSample(regression_test_id=1, sample_id=10, status="pass")])
        assert [r.key for r in store.history(datetime(2026, 10, 1, tzinfo=UTC)).runs] == [(1, 1), (1, 2)]


def test_a_re_read_after_an_approved_baseline_replaces_the_attempt(tmp_path: Path) -> None:
    two = [
        RunSample(regression_test_id=1, sample_id=10, status="fail", exit_code=0, expected_rc=0),
        RunSample(regression_test_id=2, sample_id=11, status="fail", exit_code=0, expected_rc=0),
    ]
    with Store(tmp_path / "s.sqlite3") as store:
        store.save_run(run(1), two)
        assert store.result_counts(1) == (0, 2, 0)
        approved = [two[0], two[1].model_copy(update={"status": "pass"})]
        assert store.save_run(run(1), approved) == 1
        [record] = store.history(datetime(2026, 10, 1, tzinfo=UTC)).runs
        assert store.result_counts(1) == (1, 1, 0)
    assert record.attempt == 1 and record.failures == {10: ("diff_mismatch",)}


def test_exit_codes_and_categories_round_trip(tmp_path: Path) -> None:
    tests = [
        RunSample(
            regression_test_id=4,
            sample_id=10,
            status="fail",
            exit_code=3221225477,
            expected_rc=0,
            categories=("DVB", "General"),
        ),
        RunSample(
            regression_test_id=2,
            sample_id=10,
            status="missing_output",
            exit_code=-9,
            expected_rc=0,
            categories=("DVB",),
        ),
        RunSample(regression_test_id=3, sample_id=11, status="pass", exit_code=2, expected_rc=2),
        RunSample(regression_test_id=9, sample_id=None, status="fail", exit_code=1, expected_rc=0),
    ]
    with Store(tmp_path / "s.sqlite3") as store:
        store.save_run(run(1), tests)
        history = store.history(datetime(2026, 10, 1, tzinfo=UTC))
    [record] = history.runs
    assert record.failed_tests == {
        10: (TestFailure(2, "missing_output", -9, 0), TestFailure(4, "fail", 3221225477, 0)),
    }
    assert record.failed_regressions == {10: (2, 4)}
    assert record.failures == {10: ("exit_code_mismatch", "missing_output")}
    assert record.tested == {10, 11}
    assert history.categories == {10: frozenset({"DVB", "General"}), 11: frozenset()}
    assert history.sample_tests == {10: (2, 4), 11: (3,)}


def test_inferred_passes_keep_the_categories_a_full_listing_gave(tmp_path: Path) -> None:
    listed = RunSample(regression_test_id=1, sample_id=10, status="pass", categories=("Teletext",))
    with Store(tmp_path / "s.sqlite3") as store:
        store.save_run(run(1), [listed])
        later = run(2).model_copy(update={"completed_at": datetime(2026, 11, 2, tzinfo=UTC)})
        store.save_run(later, [RunSample(regression_test_id=1, sample_id=10, status="pass")], complete=False)
        history = store.history(datetime(2026, 10, 1, tzinfo=UTC))
        [reference] = store.test_sets()
    assert history.categories == {10: frozenset({"Teletext"})}
    assert reference.completed_at == run(1).completed_at  # an inferred attempt is no reference
    assert dict(reference.samples) == {1: 10}


def test_prune_removes_old_attempts_and_tests_not_seen_since(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        store.save_run(run(1), [RunSample(regression_test_id=1, sample_id=10, status="fail")])
        recent = run(2).model_copy(update={"completed_at": datetime(2026, 11, 25, tzinfo=UTC)})
        store.save_run(recent, [RunSample(regression_test_id=2, sample_id=11, status="fail")])
        store.prune(datetime(2026, 11, 10, tzinfo=UTC))
        history = store.history(datetime(2026, 1, 1, tzinfo=UTC))
        leftovers = [
            store._db.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id = 1").fetchone()[0]
            for table in ("attempts", "run_tests", "sample_errors", "type_errors")
        ]
    assert [r.run_id for r in history.runs] == [2] and leftovers == [0, 0, 0, 0]
    assert history.sample_tests == {11: (2,)}


def test_migration_004_turns_ingested_runs_into_first_attempts(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        for name, script in MIGRATIONS[:3]:
            db.executescript(script)
            db.execute("INSERT INTO migrations VALUES (?, 'then')", (name,))
        for run_id, state, status in ((1, "ingested", "fail"), (2, "pending", "queued")):
            db.execute(
                "INSERT INTO runs (run_id, platform, repository, commit_sha, test_type, status, "
                "completed_at, state, seen_at, ingested_at, tested) VALUES (?, 'linux', 'a/b', 'c', "
                "'commit', ?, '2026-11-01T01:00:00+00:00', ?, 'then', 'then', '10,11')",
                (run_id, status, state),
            )
            db.executemany(
                "INSERT INTO run_tests VALUES (?, ?, ?, ?)",
                [(run_id, 1, 10, "pass"), (run_id, 2, 11, "fail")],
            )
            db.execute(f"INSERT INTO sample_errors VALUES ({run_id}, 11, 1, 'warning')")
            db.execute(f"INSERT INTO type_errors VALUES ({run_id}, 'diff_mismatch', 1, 'warning', '[11]')")
    with Store(path) as store:
        history = store.history(datetime(2026, 10, 1, tzinfo=UTC))
        kept = store._db.execute("SELECT COUNT(*) FROM run_tests WHERE run_id = 2").fetchone()[0]
    [record] = history.runs
    assert (record.key, record.tested, record.failures) == (
        (1, 1),
        frozenset({10, 11}),
        {11: ("diff_mismatch",)},
    )
    assert record.failed_tests == {11: (TestFailure(2, "fail"),)}
    assert history.sample_tests == {10: (1,), 11: (2,)}
    assert kept == 0  # a run pending again had no finished attempt to keep


def test_a_semicolon_inside_a_literal_does_not_split_a_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reporter.store

    step = (
        "900_notes",
        "CREATE TABLE notes (text TEXT NOT NULL);\n"
        "INSERT INTO notes VALUES ('one; two');  -- a comment; with a semicolon\n"
        "CREATE TRIGGER notes_upper AFTER INSERT ON notes BEGIN\n"
        "  UPDATE notes SET text = upper(text) WHERE rowid = new.rowid;\n"
        "END",
    )
    monkeypatch.setattr(reporter.store, "MIGRATIONS", (*MIGRATIONS, step))
    with Store(tmp_path / "s.sqlite3") as store:
        assert store.migrations()[-1] == "900_notes"
    with sqlite3.connect(tmp_path / "s.sqlite3") as db:
        db.execute("INSERT INTO notes VALUES ('three; four')")
        assert [row[0] for row in db.execute("SELECT text FROM notes")] == ["one; two", "THREE; FOUR"]


def test_a_failing_migration_keeps_nothing_and_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reporter.store

    path = tmp_path / "s.sqlite3"
    with Store(path) as store:
        store.save_run(run(1), [], [], [])
    broken = ("901_broken", "CREATE TABLE half (x); INSERT INTO no_such_table VALUES (1)")
    monkeypatch.setattr(reporter.store, "MIGRATIONS", (*MIGRATIONS, broken))
    with pytest.raises(StoreError) as caught:
        Store(path)
    assert str(path) in str(caught.value) and "no such table: no_such_table" in str(caught.value)
    assert "migration 901_broken" in str(caught.value)
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "half" not in tables
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1  # what was stored is intact
    fixed = ("901_broken", "CREATE TABLE half (x)")
    monkeypatch.setattr(reporter.store, "MIGRATIONS", (*MIGRATIONS, fixed))
    with Store(path) as store:
        assert store.migrations() == [*(name for name, _ in MIGRATIONS), "901_broken"]


def test_a_migration_another_process_applied_first_is_skipped(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        assert store._apply("902_twice", "CREATE TABLE twice (x)")
        assert not store._apply("902_twice", "CREATE TABLE twice (x)")  # lost the race: no error
        assert store.migrations().count("902_twice") == 1


def test_records_read_back_only_the_attempts_asked_for_with_their_own_failures(tmp_path: Path) -> None:
    def failing(*samples: int, status: str = "fail") -> list[RunSample]:
        return [
            RunSample(regression_test_id=s * 10 + k, sample_id=s, status=status, exit_code=1, expected_rc=0)
            for s in samples
            for k in (2, 1)  # two tests a sample, listed out of order
        ]

    later = datetime(2026, 11, 5, tzinfo=UTC)
    with Store(tmp_path / "s.sqlite3") as store:
        store.save_run(run(1), failing(10))
        store.save_run(restarted(run(1)), failing(11, status="missing_output"))
        store.save_run(run(2), failing(12))
        store.record(run(2), "filtered")  # filtered out by the configuration later: never read back
        store.save_run(run(3).model_copy(update={"completed_at": later}), failing(10, 13))
        store.save_run(run(4).model_copy(update={"completed_at": later}), failing(14))
        picked = store.records([3, 1, 2])
        recent = store.history(later - timedelta(hours=1)).runs
    assert [r.key for r in picked] == [(1, 2), (3, 1)]  # the latest attempt of each, run 2 left out
    assert picked[0].failed_regressions == {11: (111, 112)}
    assert picked[0].failures == {11: ("exit_code_mismatch", "missing_output")}  # both, in name order
    assert [t.status for t in picked[0].failed_tests[11]] == ["missing_output", "missing_output"]
    assert picked[1].failed_regressions == {10: (101, 102), 13: (131, 132)}
    assert set(picked[1].failures) == {10, 13}
    assert [(r.key, sorted(r.failures)) for r in recent] == [((3, 1), [10, 13]), ((4, 1), [14])]


def test_migration_007_makes_the_failed_results_index_cover_the_history(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path) as store:
        store.save_run(run(1), [RunSample(regression_test_id=1, sample_id=10, status="fail")])
    with sqlite3.connect(path) as db:
        plan = " ".join(
            str(row[3])
            for row in db.execute(
                "EXPLAIN QUERY PLAN SELECT run_id, attempt, sample_id, regression_id, status, exit_code, "
                "expected_rc FROM run_tests WHERE status != 'pass' AND run_id BETWEEN 1 AND 9"
            )
        )
        names = [row[0] for row in db.execute("SELECT name FROM migrations ORDER BY name")]
    assert "COVERING INDEX run_tests_failed" in plan
    assert names[-1] == "007_failed_results_index" == MIGRATIONS[-1][0]


def test_records_of_runs_far_apart_read_only_those_runs(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        for run_id, sample_id in ((1, 10), (2, 11), (3000, 12)):
            store.save_run(
                run(run_id), [RunSample(regression_test_id=sample_id, sample_id=sample_id, status="fail")]
            )
        picked = store.records([3000, 1])
    assert [(r.run_id, dict(r.failed_regressions)) for r in picked] == [(1, {10: (10,)}), (3000, {12: (12,)})]
