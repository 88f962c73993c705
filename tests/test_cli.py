"""The command line end to end against the simulator: poll, flaky, digest, status, demo, help."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import click
import pytest

from reporter.cli import main
from reporter.simulator import SimulatedPlatform
from reporter.simulator.scenario import Scenario
from reporter.store import Store
from tests.fakes import TOKEN


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(tmp_path: Path, platform: SimulatedPlatform, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SAMPLE_PLATFORM_TOKEN", TOKEN)
    path = tmp_path / "reporter.yaml"
    path.write_text(
        f"platform:\n  base_url: {platform.base_url}\nstate:\n  path: state.sqlite3\n"
        f"analysis:\n  window_days: 3650\nchannels:\n  file:\n    path: out/digest.txt\n"
    )
    return path


def table_rows(out: str) -> list[tuple[str, ...]]:
    """(platform, class, score) of each row of the findings table (not a terminal: a line a row)."""
    return [tuple(re.split(r"\s{2,}", line)[2:5]) for line in out.splitlines()[2:] if line.strip()]


def test_poll_then_flaky_json_then_digest(
    capsys: pytest.CaptureFixture[str], config: Path, scenario: Scenario
) -> None:
    code, out, _ = run(capsys, "--config", str(config), "poll")
    ingested = int(out.removeprefix("poll: ").split(" runs ingested, 0 pending, 0 failed, ")[0])
    assert code == 0 and ingested > 0
    code, out, _ = run(capsys, "--config", str(config), "flaky", "--format", "json")
    assert code == 0
    every = json.loads(out)["findings"]
    flaky = {(f["sample_id"], f["platform"]) for f in every if f["classification"] == "flaky"}
    assert flaky and flaky <= scenario.flaky and len(flaky) >= len(scenario.flaky) - 1
    code, out, _ = run(
        capsys, "--config", str(config), "flaky", "--format", "json", "--classification", "flaky"
    )
    assert {(f["sample_id"], f["platform"]) for f in json.loads(out)["findings"]} == flaky
    code, out, _ = run(capsys, "--config", str(config), "flaky")
    assert table_rows(out) == [(f["platform"], f["classification"], f"{f['score']:g}") for f in every]
    code, dry, _ = run(capsys, "--config", str(config), "digest", "--dry-run")
    assert code == 0 and not (config.parent / "out" / "digest.txt").exists()  # a dry run sends nothing
    code, _, err = run(capsys, "--config", str(config), "digest")
    period = dry.split("Sample Platform flakiness digest, ", 1)[1][:10]
    assert code == 0 and err == f"digest: period {period}, sent 1, failed 0\n"
    assert (config.parent / "out" / "digest.txt").read_text() == dry  # what the dry run showed was sent
    code, _, err = run(capsys, "--config", str(config), "digest")
    assert err == f"digest: period {period}, sent 0, failed 0\n"  # once per period
    code, out, _ = run(capsys, "--config", str(config), "status")
    lines = dict(line.split(":", 1) for line in out.splitlines())
    runs = dict(part.split(" ") for part in lines["runs"].strip().split(", "))
    assert code == 0 and runs["ingested"] == str(ingested)
    assert lines["last digest"].strip().endswith(f" period {period}, sent 0, failed 0")
    assert lines["outbox"].strip() == "nothing waiting"


def test_a_poll_that_leaves_runs_behind_exits_3_naming_them(
    capsys: pytest.CaptureFixture[str], config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reporter.client import PlatformClient
    from reporter.errors import ServerFailed

    real = PlatformClient.run_samples
    victims: list[int] = []
    lock = threading.Lock()  # runs are fetched in parallel: the first one asked for is the victim

    def failing(self: PlatformClient, run_id: int, status: str | None = None) -> Any:
        with lock:
            victims[:] = victims or [run_id]
        if run_id == victims[0]:
            raise ServerFailed(f"GET /runs/{run_id}/samples: HTTP 503 after 3 attempts", run_id=run_id)
        return real(self, run_id, status)

    monkeypatch.setattr(PlatformClient, "run_samples", failing)
    code, out, err = run(capsys, "--config", str(config), "poll")
    assert code == 3 and ", 1 pending, 1 failed, " in out  # it stays pending
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        "error: 1 run not ingested this cycle; later polls retry them:",
        f"error: run {victims[0]}: GET /runs/{victims[0]}/samples: HTTP 503 after 3 attempts",
    ]
    monkeypatch.setattr(PlatformClient, "run_samples", real)
    code, out, _ = run(capsys, "--config", str(config), "poll")
    assert code == 0 and out.startswith("poll: 1 runs ingested, 0 pending, 0 failed")


def test_a_failed_delivery_exits_6_and_stays_queued(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    (config.parent / "out").write_text("a file where the digest's folder should be")
    assert run(capsys, "--config", str(config), "poll")[0] == 0
    code, _, err = run(capsys, "--config", str(config), "digest")
    assert code == 6
    first, *rest = [line for line in err.splitlines() if line.startswith(("digest:", "error:"))]
    assert first.startswith("digest: period ") and first.endswith(", sent 0, failed 1")
    assert rest[0] == "error: 1 delivery waiting in the outbox (a failed one is retried later):"
    assert rest[1].startswith("error: file:") and " pending after 1 attempt: " in rest[1]
    assert "cannot write the digest" in rest[1]
    code, out, _ = run(capsys, "--config", str(config), "status")
    assert " pending after 1 attempt: " in out


def test_check_config_online_names_each_problem_and_exits_3(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    from tests.fakes import free_port

    port = free_port()
    config.write_text(
        config.read_text()
        + f"  email:\n    host: 127.0.0.1\n    port: {port}\n    security: none\n"
        + "    sender: r@ccx.example\n    recipients: [d@ccx.example]\n    timeout: 2\n"
    )
    code, _, err = run(capsys, "--config", str(config), "check-config", "--online")
    assert code == 3
    assert "scopes present: runs:read, results:read" in err  # what works is said too
    assert err.splitlines()[-1].startswith(f"error: SMTP 127.0.0.1:{port}: ConnectionRefusedError")


def test_check_config_masks_the_token(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, err = run(capsys, "--config", str(config), "check-config", "--online")
    assert code == 0
    assert TOKEN not in out + err and "**********" in out
    assert "scopes present: runs:read, results:read" in err


def test_platform_errors_exit_3_with_one_message(
    capsys: pytest.CaptureFixture[str], config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMPLE_PLATFORM_TOKEN", "not-valid")
    code, _, err = run(capsys, "--config", str(config), "poll")
    assert code == 3
    assert err.startswith("error: GET /runs: the Sample Platform rejected the API token")
    assert "not-valid" not in err
    assert (config.parent / "state.sqlite3").stat().st_size != 0  # state exists and is intact


def test_demo_finds_the_planted_flaky_samples(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "demo", "--dir", str(tmp_path / "demo"), "--days", "10")
    assert code == 0
    assert (tmp_path / "demo" / "digest.txt").read_text() in out  # printed, and written as text
    assert (tmp_path / "demo" / "digest.html").read_text().startswith("<!doctype html>")
    line = next(x for x in out.splitlines() if x.startswith("flaky: found"))
    found, matched, planted = (
        int(w) for w in line.replace("(", " ").replace(",", " ").split() if w.isdigit()
    )
    assert matched >= planted - 1 and found - matched <= 1


def test_json_logs_one_object_per_line_without_secrets(config: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "SAMPLE_PLATFORM_TOKEN": TOKEN}
    result = subprocess.run(
        [sys.executable, "-m", "reporter", "--config", str(config), "-v", "--log-format", "json", "poll"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert any(line["message"].startswith("poll: ") and "runs ingested" in line["message"] for line in lines)
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert TOKEN not in result.stderr


def test_digest_output_writes_the_report_and_sends_nothing(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    assert run(capsys, "--config", str(config), "poll")[0] == 0
    report = config.parent / "report.html"
    code, _, err = run(capsys, "--config", str(config), "digest", "--format", "html", "--output", str(report))
    assert code == 0 and f"wrote {report}" in err
    assert report.read_text().startswith("<!doctype html>") and '<td class="fail"' in report.read_text()
    assert not (config.parent / "out" / "digest.txt").exists()
    code, printed, _ = run(capsys, "--config", str(config), "digest", "--format", "html", "--dry-run")
    assert printed == report.read_text()


# -- what cron-mode commands record, and status for people and monitors ---------------------------
def status_lines(capsys: pytest.CaptureFixture[str], config: Path, *extra: str) -> tuple[int, dict[str, str]]:
    code, out, _ = run(capsys, "--config", str(config), "status", *extra)
    pairs = [line.split(":", 1) for line in out.splitlines() if not line.startswith(" ")]
    return code, {label: value.strip() for label, value in pairs}


def test_cron_mode_failures_are_recorded_for_status(
    capsys: pytest.CaptureFixture[str], config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMPLE_PLATFORM_TOKEN", "not-valid")
    assert run(capsys, "--config", str(config), "poll")[0] == 3
    assert run(capsys, "--config", str(config), "backfill", "--days", "3")[0] == 3
    _, lines = status_lines(capsys, config)
    assert "failed: GET /runs: the Sample Platform rejected the API token" in lines["last poll"]
    assert "failed: GET /runs: the Sample Platform rejected the API token" in lines["backfill"]
    assert " backfill: GET /runs: the Sample Platform rejected the API token" in lines["last error"]
    monkeypatch.setenv("SAMPLE_PLATFORM_TOKEN", TOKEN)
    (config.parent / "out").write_text("a file where the digest's folder should be")
    assert run(capsys, "--config", str(config), "poll")[0] == 0
    assert run(capsys, "--config", str(config), "digest")[0] == 6
    _, lines = status_lines(capsys, config)
    assert " ok: " in lines["last poll"] and "runs ingested" in lines["last poll"]
    assert " failed: period " in lines["last digest"] and "cannot write the digest" in lines["last digest"]
    assert " digest: period " in lines["last error"]


def test_status_shows_one_time_zone_and_no_next_poll_in_the_past(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    config.write_text(config.read_text() + "schedule:\n  timezone: America/New_York\n")
    assert run(capsys, "--config", str(config), "poll")[0] == 0
    with Store(config.parent / "state.sqlite3") as store:
        moved = json.loads(store.meta("job.poll") or "{}")
        moved["at"] = "2026-01-01T00:00:00+00:00"  # a poll long ago: its next one is overdue
        store.set_meta("job.poll", json.dumps(moved))
    _, lines = status_lines(capsys, config)
    assert lines["time zone"] == "America/New_York"
    assert lines["last poll"].startswith("2025-12-31 19:00:00 EST ok: ")
    assert lines["next poll"] == "due now (when the daemon runs)"
    stamps = re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)? ([A-Z]+)", "\n".join(lines.values()))
    assert stamps and set(stamps) <= {"EST", "EDT"}


def test_status_json_and_check_for_monitors(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, err = run(capsys, "--config", str(config), "status", "--format", "json", "--check")
    report = json.loads(out)
    assert code == 3 and report["freshness"]["blind"] and not report["healthy"]
    assert err.startswith(
        "error: status --check: stale data: BLIND: the Sample Platform has never been polled"
    )
    assert run(capsys, "--config", str(config), "poll")[0] == 0
    code, out, _ = run(capsys, "--config", str(config), "status", "--format", "json", "--check")
    report = json.loads(out)
    assert code == 0 and report["healthy"] and report["problems"] == []
    assert report["jobs"]["poll"]["result"] == "ok" and report["jobs"]["digest"] is None
    assert report["freshness"]["last_poll_ok_at"].endswith("+00:00")
    (config.parent / "out").write_text("a file where the digest's folder should be")
    assert run(capsys, "--config", str(config), "digest")[0] == 6
    code, out, err = run(capsys, "--config", str(config), "status", "--format", "json", "--check")
    report = json.loads(out)
    assert code == 6 and [item["attempts"] for item in report["outbox"]] == [1]
    assert "delivery failing: file:" in err


def test_digest_exits_6_while_a_delivery_is_still_pending(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    (config.parent / "out").write_text("a file where the digest's folder should be")
    assert run(capsys, "--config", str(config), "poll")[0] == 0
    assert run(capsys, "--config", str(config), "digest")[0] == 6
    code, _, err = run(capsys, "--config", str(config), "digest")  # nothing is due: the retry waits
    assert code == 6 and ", sent 0, failed 0" in err
    assert "error: 1 delivery waiting in the outbox" in err and " pending after 1 attempt: " in err


def test_an_item_for_a_github_section_that_sends_nothing_does_not_hold_the_digest(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    assert run(capsys, "--config", str(config), "poll")[0] == 0
    with Store(config.parent / "state.sqlite3") as store:  # queued while pr_comments was on
        store.outbox.queue("pr-7-runs-31.1", {"github": "{}"})
    config.write_text(config.read_text() + "  github:\n    repository: a/b\n")  # both switched off now
    code, _, err = run(capsys, "--config", str(config), "digest")
    assert code == 0, err


# -- the command line's own surprises -------------------------------------------------------------
def test_global_options_are_accepted_after_the_command(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    code, out, err = run(capsys, "poll", "--config", str(config), "-v")
    assert code == 0 and out.startswith("poll: ") and "INFO reporter.jobs: poll: " in err
    code, _, err = run(capsys, "--config", str(config), "status", "--config", str(tmp_path / "other.yaml"))
    assert code == 2 and "--config given twice" in err
    assert run(capsys, "--config", str(config), "status", "--config", str(config))[0] == 0


def test_digest_format_follows_the_output_extension_and_refuses_conflicts(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    assert run(capsys, "--config", str(config), "poll")[0] == 0
    page = config.parent / "report.html"
    assert run(capsys, "--config", str(config), "digest", "--output", str(page))[0] == 0
    assert page.read_text().startswith("<!doctype html>")
    notes = config.parent / "report.md"
    assert run(capsys, "--config", str(config), "digest", "--output", str(notes))[0] == 0
    assert notes.read_text().startswith("# Sample Platform flakiness digest")
    code, _, err = run(capsys, "--config", str(config), "digest", "--format", "html", "--output", "x.txt")
    assert code == 2 and "--format html but --output x.txt has the extension of text" in err
    code, _, err = run(capsys, "--config", str(config), "digest", "--format", "html")
    assert code == 2 and "--format html applies to --dry-run or --output" in err
    assert not (config.parent / "out" / "digest.txt").exists()  # nothing was sent


def test_exclusive_backfill_options_are_refused(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, _, err = run(capsys, "--config", str(config), "backfill", "--days", "3", "--since", "2026-11-01")
    assert code == 2 and "--since and --days both say where to start; give one of them" in err
    assert not (config.parent / "state.sqlite3").exists()


def test_every_option_of_every_command_has_help() -> None:
    from reporter.cli import cli

    for name, command in cli.commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"reporter {name} {param.opts[0]} has no help"


def test_flaky_on_an_empty_state_says_to_poll_first(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, _, err = run(capsys, "--config", str(config), "flaky", "--format", "json")
    assert code == 0 and "note: no run ingested yet in " in err and "run `reporter poll` first" in err
    assert run(capsys, "--config", str(config), "poll")[0] == 0
    code, _, err = run(capsys, "--config", str(config), "flaky", "--classification", "stable")
    assert code == 0 and "note: no stable findings: stable lists samples that failed" in err


def test_items_of_a_channel_no_longer_configured_neither_fail_digest_nor_check(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    assert run(capsys, "--config", str(config), "poll")[0] == 0
    with Store(config.parent / "state.sqlite3") as store:
        store.outbox.queue("alert-run-20261120", {"slack": "{}"})  # slack was configured once
    assert run(capsys, "--config", str(config), "digest")[0] == 0
    code, lines = status_lines(capsys, config, "--check")
    assert code == 0 and lines["health"] == "ok"
    assert (
        lines["outbox"] == "slack:alert-run-20261120 pending, not tried yet (its channel is not configured)"
    )
