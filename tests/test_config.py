from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reporter.config import load_settings, masked_dump
from reporter.errors import ConfigError

GOOD = """\
platform:
  base_url: http://127.0.0.1:9/api/v1
state:
  path: state/reporter.sqlite3
channels:
  stdout: {}
  slack:
    token: ${SLACK_BOT_TOKEN}
    channel: "#ci"
schedule:
  timezone: ${TZ_NAME:-Europe/Berlin}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reporter.yaml"
    path.write_text(text)
    return path


def test_valid_file_interpolates_and_resolves_paths(tmp_path: Path) -> None:
    env = {"SAMPLE_PLATFORM_TOKEN": "tok-1", "SLACK_BOT_TOKEN": "xoxb-secret"}
    settings = load_settings(write(tmp_path, GOOD), env)
    assert settings.platform.token.get_secret_value() == "tok-1"
    assert settings.schedule.timezone == "Europe/Berlin"
    assert settings.state.path == tmp_path / "state" / "reporter.sqlite3"
    dumped = str(masked_dump(settings))
    assert "tok-1" not in dumped and "xoxb-secret" not in dumped and "**********" in dumped


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "platform:\n  base_url: [unclosed\nstate: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {"SAMPLE_PLATFORM_TOKEN": "x"})
    assert str(caught.value).startswith(f"{path}:")
    assert "invalid YAML" in str(caught.value)


def test_unknown_key_names_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "platform:\n  base_url: http://x/api/v1\n  tokn: abc\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {"SAMPLE_PLATFORM_TOKEN": "x"})
    assert str(caught.value) == (
        f"{path}:3: platform.tokn: unknown key; did you mean token? (see config.example.yaml)"
    )


def test_unset_token_variable_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "state:\n  path: s.sqlite3\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "platform.token: environment variable SAMPLE_PLATFORM_TOKEN is not set" in str(caught.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = "platform:\n  concurrency: many\nanalysis:\n  window_days: -3\nschedule:\n  timezone: Mars/Base\n"
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), {"SAMPLE_PLATFORM_TOKEN": "x"})
    lines = str(caught.value).splitlines()
    assert len(lines) == 3
    assert any("platform.concurrency" in line and ":2:" in line for line in lines)
    assert any("analysis.window_days" in line for line in lines)
    assert any("schedule.timezone: unknown IANA time zone; write one such as UTC" in line for line in lines)


def test_slack_needs_a_token_or_webhook(tmp_path: Path) -> None:
    path = write(tmp_path, "channels:\n  slack:\n    channel: '#ci'\n")
    with pytest.raises(ConfigError, match="channels.slack"):
        load_settings(path, {"SAMPLE_PLATFORM_TOKEN": "x"})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_settings(tmp_path / "nope.yaml", {})


@pytest.mark.parametrize(
    ("text", "env", "needle"),
    [
        ("platform: {base_url: [x\n", {"SAMPLE_PLATFORM_TOKEN": "x"}, "invalid YAML"),
        ("platform:\n  bogus: 1\n", {"SAMPLE_PLATFORM_TOKEN": "x"}, "platform.bogus: unknown key"),
        ("state: {}\n", {}, "SAMPLE_PLATFORM_TOKEN is not set"),
    ],
)
def test_cli_exits_2_with_one_line_and_creates_no_state(
    tmp_path: Path, text: str, env: dict[str, str], needle: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)  # the state file would default to tmp_path/reporter.sqlite3
    result = subprocess.run(
        [sys.executable, "-m", "reporter", "--config", str(path), "poll"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin", **env},
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1
    assert str(path) in errors[0] and needle in errors[0]
    assert not list(tmp_path.glob("*.sqlite3"))
