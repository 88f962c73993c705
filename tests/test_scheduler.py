"""The daemon's schedule: missed digests within the grace period, job settings."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from reporter.config import Settings
from reporter.scheduler import build_scheduler, missed_digest_due
from reporter.store import Store
from tests.conftest import make_settings


def settings(tmp_path: Path, cron: str = "0 7 * * *", zone: str = "Europe/Berlin") -> Settings:
    return make_settings(
        tmp_path,
        "http://127.0.0.1:9/api/v1",
        schedule={"digest_cron": cron, "timezone": zone, "misfire_grace_hours": 6},
    )


def test_missed_digest_is_due_within_grace_only(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert missed_digest_due(s, datetime(2026, 11, 20, 9, tzinfo=UTC))  # 10:00 Berlin, 07:00 passed
    assert not missed_digest_due(s, datetime(2026, 11, 20, 5, tzinfo=UTC))  # before 07:00 Berlin
    assert not missed_digest_due(s, datetime(2026, 11, 20, 17, tzinfo=UTC))  # grace of 6 h is over


def test_a_digest_already_made_is_not_due_again(tmp_path: Path) -> None:
    s = settings(tmp_path)
    with Store(s.state.path) as store:
        store.enqueue("2026-11-20", "{}", {})
    assert not missed_digest_due(s, datetime(2026, 11, 20, 9, tzinfo=UTC))


def test_jobs_have_fixed_ids_and_never_overlap(tmp_path: Path) -> None:
    scheduler = build_scheduler(settings(tmp_path), threading.Event())
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert {"poll", "digest", "deliver"} <= set(jobs)
    assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())
    assert jobs["digest"].misfire_grace_time == 6 * 3600
