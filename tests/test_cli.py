"""The command line end to end against the simulator: poll, flaky, digest, status, demo, help."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from reporter.cli import main
from reporter.simulator import SimulatedPlatform
from reporter.simulator.scenario import Scenario
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


def table_rows(out: str) -> list[tuple[str, str, str]]:
    """(platform, class, score) of each row of the findings table (a folded name spans lines)."""
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]
    return [(c[1], c[2], c[3]) for c in cells if c[1]]


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
    assert rest[0] == "error: 1 delivery failed; queued, to be retried:"
    assert rest[1].startswith("error: file:") and "cannot write the digest" in rest[1]
    code, out, _ = run(capsys, "--config", str(config), "status")
    assert "pending after 1 attempts" in out


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
