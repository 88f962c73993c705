"""The daemon's schedule: missed digests within the grace period, job settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reporter.config import Settings
from reporter.scheduler import build_scheduler, missed_digest_due
from reporter.simulator import SimulatedPlatform
from reporter.store import Store
from tests.fakes import TOKEN, make_settings


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
        store.outbox.enqueue("2026-11-20", "{}", {})
    assert not missed_digest_due(s, datetime(2026, 11, 20, 9, tzinfo=UTC))


def test_jobs_have_fixed_ids_and_never_overlap(tmp_path: Path) -> None:
    scheduler = build_scheduler(settings(tmp_path), threading.Event())
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert {"poll", "digest", "deliver"} <= set(jobs)
    assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())
    assert jobs["digest"].misfire_grace_time == 6 * 3600


def test_daemon_polls_refuses_a_second_instance_and_stops_on_sigterm(
    tmp_path: Path, platform: SimulatedPlatform
) -> None:
    config = tmp_path / "reporter.yaml"
    config.write_text(
        f"platform:\n  base_url: {platform.base_url}\nstate:\n  path: state.sqlite3\n"
        "analysis:\n  window_days: 3650\nschedule:\n  poll_interval_minutes: 0.02\nchannels: {}\n"
    )
    env = {**os.environ, "SAMPLE_PLATFORM_TOKEN": TOKEN}
    command = [sys.executable, "-m", "reporter", "--config", str(config), "run"]
    daemon = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        polls: list[str] = []
        deadline = time.monotonic() + 30
        while len(polls) < 2 and time.monotonic() < deadline:  # the first at start, the next on schedule
            if (tmp_path / "state.sqlite3").exists():
                with Store(tmp_path / "state.sqlite3") as store:
                    last = store.meta("job.poll")
                if last and (not polls or polls[-1] != last):
                    polls.append(last)
            time.sleep(0.2)
        if len(polls) < 2:
            pytest.fail(f"the daemon polled {len(polls)} times in 30 s with a 1.2 s interval")
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
        assert second.returncode == 4
        assert f"already in use by pid {daemon.pid} (run the daemon)" in second.stderr
        began = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=10) == 0
        assert time.monotonic() - began < 5
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()


def fire_dates(cron: str, zone: str, start: datetime, days: int) -> list[str]:
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(cron, timezone=ZoneInfo(zone))
    moments, moment = [], trigger.get_next_fire_time(None, start)
    while moment is not None and moment < start + timedelta(days=days):
        moments.append(moment)
        moment = trigger.get_next_fire_time(moment, moment.astimezone(UTC) + timedelta(seconds=1))
    return [m.astimezone(ZoneInfo(zone)).date().isoformat() for m in moments]


def test_daylight_saving_neither_skips_nor_doubles_the_digest(tmp_path: Path) -> None:
    s = settings(tmp_path, cron="30 2 * * *", zone="Europe/Berlin")
    spring = fire_dates(s.schedule.digest_cron, s.schedule.timezone, datetime(2026, 3, 27, tzinfo=UTC), 5)
    assert spring == ["2026-03-27", "2026-03-28", "2026-03-29", "2026-03-30", "2026-03-31"]  # 02:30 missing
    autumn = fire_dates(s.schedule.digest_cron, s.schedule.timezone, datetime(2026, 10, 23, tzinfo=UTC), 5)
    # APScheduler fires twice when 02:30 happens twice; both firings are the same period, and the
    # outbox queues one digest per period, so one digest is sent
    assert autumn.count("2026-10-25") == 2
    assert sorted(set(autumn)) == ["2026-10-23", "2026-10-24", "2026-10-25", "2026-10-26", "2026-10-27"]
    from reporter.jobs import period_of

    doubled = [datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)]
    assert {period_of(s, moment) for moment in doubled} == {"2026-10-25"}


def test_a_missed_digest_is_sent_once_after_restart(tmp_path: Path, platform: SimulatedPlatform) -> None:
    import io

    from reporter import jobs
    from reporter.deliver.stdout import StdoutChannel

    s = make_settings(tmp_path, platform.base_url, schedule={"digest_cron": "0 7 * * *", "timezone": "UTC"})
    now = datetime.now(UTC)
    out = io.StringIO()
    with Store(s.state.path) as store:
        jobs.poll(s, store)
    for _restart in range(3):
        due = missed_digest_due(s, now.replace(hour=9, minute=0))
        with Store(s.state.path) as store:
            if due or not store.outbox.has_digest(jobs.period_of(s, now)):
                jobs.run_digest(s, store, channels=[StdoutChannel(stream=out)])
    assert out.getvalue().count("Sample Platform flakiness digest") == 1
    assert not missed_digest_due(s, now.replace(hour=9, minute=0))
