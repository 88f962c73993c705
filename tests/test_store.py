"""The SQLite state file: migrations, permissions, atomic run writes, clear errors."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reporter.errors import StoreError
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
