from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from reporter.config import LoadedConfig, load_config, load_settings, masked_dump
from reporter.errors import ConfigError
from tests.fakes import ROOT, uncommented

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


def test_a_github_token_with_a_final_newline_is_refused_like_the_others(tmp_path: Path) -> None:
    path = write(
        tmp_path, "channels:\n  github:\n    token: ${GH}\n    repository: a/b\n    pr_comments: true\n"
    )
    with pytest.raises(ConfigError, match=r"channels.github.token.*ends with a line break"):
        load_settings(path, {"SAMPLE_PLATFORM_TOKEN": "x", "GH": "ghp_abc\n"})


def test_a_slack_api_url_always_ends_with_a_slash(tmp_path: Path) -> None:
    text = "channels:\n  slack:\n    token: xoxb-1\n    channel: '#ci'\n    api_url: http://127.0.0.1:9/api\n"
    settings = load_settings(write(tmp_path, text), {"SAMPLE_PLATFORM_TOKEN": "x"})
    assert (
        settings.channels.slack is not None and settings.channels.slack.api_url == "http://127.0.0.1:9/api/"
    )


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


def load(tmp_path: Path, text: str, **env: str) -> LoadedConfig:
    return load_config(write(tmp_path, text), {"SAMPLE_PLATFORM_TOKEN": "x", **env})


def test_a_variable_that_expands_to_nothing_counts_as_unset(tmp_path: Path) -> None:
    text = "schedule:\n  timezone: ${TZ_NAME:-}\nfilters:\n  repository: ${REPO}\n"
    settings = load(tmp_path, text, REPO="").settings
    assert settings.schedule.timezone == "UTC" and settings.filters.repository is None


def test_a_channel_written_with_nothing_under_it_is_on(tmp_path: Path) -> None:
    assert load(tmp_path, "channels:\n  stdout:\n").settings.channels.stdout is not None
    loaded = load(tmp_path, "channels:\n")
    assert loaded.settings.channels.stdout is None
    assert loaded.warnings == (
        f"{tmp_path / 'reporter.yaml'}:1: channels: no channel is configured, "
        "so digests go nowhere; enable stdout, file, slack or email",
    )


def test_warnings_are_logged_when_a_command_loads_the_settings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "platform:\n  base_url: http://ci.internal/api/v1\n")
    with caplog.at_level(logging.WARNING, logger="reporter.config"):
        load_settings(path, {"SAMPLE_PLATFORM_TOKEN": "x"})
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "platform.base_url: http:// to a host other than this machine" in caplog.records[0].getMessage()


def test_both_slack_methods_and_a_missing_template_directory_are_warned_about(tmp_path: Path) -> None:
    text = (
        "channels:\n  slack:\n    token: xoxb-1\n    channel: '#c'\n    webhook_url: https://hooks.x/1\n"
        "templates:\n  directory: mine\n"
    )
    warnings = load(tmp_path, text).warnings
    assert len(warnings) == 2
    assert ":2: channels.slack: both webhook_url and token are set" in warnings[0]
    assert f":7: templates.directory: {tmp_path / 'mine'} is not a directory" in warnings[1]


def test_a_file_channel_that_cannot_be_written_is_warned_about_when_probed(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("x")
    text = "channels:\n  file:\n    path: taken/digest.html\n"
    assert load(tmp_path, text).warnings == ()
    probed = load_config(write(tmp_path, text), {"SAMPLE_PLATFORM_TOKEN": "x"}, probe=True)
    assert len(probed.warnings) == 1 and "taken is a file, not a directory" in probed.warnings[0]


def test_smtp_without_encryption_warns_only_with_a_password(tmp_path: Path) -> None:
    email = "channels:\n  email:\n    host: mail.ci.net\n    security: none\n    sender: a@ci.net\n    recipients: [b@ci.net]\n"
    assert load(tmp_path, email).warnings == ()
    warnings = load(tmp_path, email + "    username: a\n    password: ${PW}\n", PW="pw").warnings
    assert len(warnings) == 1 and ":4: channels.email.security: security: none sends" in warnings[0]


def test_the_example_with_every_channel_switched_on_warns_about_its_placeholders(tmp_path: Path) -> None:
    text = uncommented((ROOT / "config.example.yaml").read_text())
    loaded = load(tmp_path, text, SLACK_BOT_TOKEN="xoxb-1", SMTP_PASSWORD="pw", GITHUB_TOKEN="ghp-1")
    keys = [w.split(": ")[1] for w in loaded.warnings]
    assert keys == ["channels.email.host", "channels.email.sender", "channels.email.recipients[0]"]
    assert loaded.settings.channels.slack is not None and loaded.settings.channels.email is not None
    assert load(tmp_path, (ROOT / "config.example.yaml").read_text()).warnings == ()


@pytest.mark.parametrize(
    "value",
    ["${A:-${B}}", "${1X}", "x${", "$SAMPLE_PLATFORM_TOKEN"],
)
def test_a_malformed_variable_reference_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r":2: platform.token: .*(not a complete variable|not expanded)"):
        load(tmp_path, f"platform:\n  token: '{value}'\n", A="a", B="b")


def test_a_literal_dollar_in_a_value_is_kept(tmp_path: Path) -> None:
    settings = load(tmp_path, "platform:\n  token: 'pa$word$x'\n").settings
    assert settings.platform.token.get_secret_value() == "pa$word$x"
