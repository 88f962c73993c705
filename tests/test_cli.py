"""The command line end to end against the simulator: poll, flaky, digest, status, demo, help."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from reporter.cli import cli, main
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


def test_poll_then_flaky_json_then_digest(
    capsys: pytest.CaptureFixture[str], config: Path, scenario: Scenario
) -> None:
    code, out, _ = run(capsys, "--config", str(config), "poll")
    assert code == 0 and "runs ingested" in out
    code, out, _ = run(
        capsys, "--config", str(config), "flaky", "--format", "json", "--classification", "flaky"
    )
    assert code == 0
    found = {(f["sample_id"], f["platform"]) for f in json.loads(out)["findings"]}
    assert found and found <= scenario.flaky
    assert len(found) >= len(scenario.flaky) - 1
    code, out, _ = run(capsys, "--config", str(config), "digest", "--dry-run")
    assert code == 0 and "Sample Platform flakiness digest" in out
    assert not (config.parent / "out" / "digest.txt").exists()  # a dry run sends nothing
    code, _, err = run(capsys, "--config", str(config), "digest")
    assert code == 0 and "sent 1" in err
    assert (config.parent / "out" / "digest.txt").read_text().startswith("Sample Platform flakiness digest")
    code, _, err = run(capsys, "--config", str(config), "digest")
    assert "sent 0" in err  # once per period
    code, out, _ = run(capsys, "--config", str(config), "status")
    assert code == 0 and "last digest" in out and "ingested" in out
    code, out, _ = run(capsys, "--config", str(config), "flaky")
    assert code == 0 and "Findings" in out


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


def test_every_command_has_help_with_an_example() -> None:
    assert isinstance(cli, click.Group)
    ctx = click.Context(cli)
    assert "Example" in cli.get_help(ctx)
    for name, command in cli.commands.items():
        text = command.get_help(click.Context(command, info_name=name, parent=ctx))
        assert "Example" in text, name


def test_demo_finds_the_planted_flaky_samples(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "demo", "--dir", str(tmp_path / "demo"), "--days", "10")
    assert code == 0
    assert "Sample Platform flakiness digest" in out
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
