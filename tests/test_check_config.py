"""`reporter check-config` as a user runs it: exit codes, messages, secrets kept out, nothing created."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from reporter.cli import main
from tests.fakes import ROOT

SECRET = "98765432109"
WEBHOOK = "https://hooks.slack.com/services/T0SECRET/B0SECRET/xyzSECRETxyz"
JARGON = ("Value error", "Input should", "valid tuple", "(got", "pydantic", "Traceback")


def reporter(tmp_path: Path, text: str, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "reporter.yaml"
    config.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "reporter", "--config", str(config), *(command or ("check-config",))],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin", "SAMPLE_PLATFORM_TOKEN": "tok-ok", **env},
        cwd=tmp_path,
        timeout=60,
    )


def in_process(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """The same command through ``main`` in this process: faster, for the wording of messages."""
    config = tmp_path / "reporter.yaml"
    config.write_text(text)
    monkeypatch.setenv("SAMPLE_PLATFORM_TOKEN", "tok-ok")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        main(["--config", str(config), "check-config"])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess([], code, out, err)


def refused(tmp_path: Path, result: subprocess.CompletedProcess[str], *secrets: str) -> list[str]:
    """Exit 2, one 'error: file[:line]: key: ...' line per problem, no jargon, no secret, no state made."""
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    config = tmp_path / "reporter.yaml"
    assert lines and all(re.match(rf"error: {re.escape(str(config))}(:\d+)?: ", line) for line in lines), (
        lines
    )
    for word in (*JARGON, *secrets):
        assert word not in result.stderr, word
    assert not [p for p in tmp_path.rglob("*") if "sqlite3" in p.name or p.suffix == ".lock"]
    return lines


@pytest.mark.parametrize(
    ("text", "env", "key"),
    [
        (f"platform:\n  token: {SECRET}\n", {}, "platform.token: must be text"),
        (  # a password typed into port
            f"channels:\n  email:\n    host: h\n    port: pw{SECRET}\n    sender: a@b.c\n    recipients: [d@e.f]\n",
            {},
            "channels.email.port: must be a whole number",
        ),
        (  # the same through a variable: named, never shown
            "channels:\n  email:\n    host: h\n    port: ${SMTP_PASSWORD}\n    sender: a@b.c\n    recipients: [d@e.f]\n",
            {"SMTP_PASSWORD": SECRET},
            "(the value comes from ${SMTP_PASSWORD})",
        ),
        (
            f"channels:\n  email:\n    host: h\n    port: {SECRET}\n    sender: a\n    recipients: [d]\n",
            {},
            "at most",
        ),
        (
            f"channels:\n  email:\n    host: h\n    timeout: {WEBHOOK}\n    sender: a\n    recipients: [d]\n",
            {},
            "channels.email.timeout: must be a number",
        ),
        (
            "channels:\n  slack:\n    webhook_url: ${HOOK}\n",
            {"HOOK": WEBHOOK + "\n"},
            "ends with a line break",
        ),
        ("state:\n  path: s.sqlite3\n", {"SAMPLE_PLATFORM_TOKEN": SECRET + "\n"}, "secret file"),
        ("state:\n  path: s.sqlite3\n", {"SAMPLE_PLATFORM_TOKEN": f"Bearer {SECRET}"}, "a token is one word"),
        ("platform:\n  base_url: ${URL}\n", {"URL": f"http://x/{SECRET} y"}, "http:// or https:// URL"),
        ("schedule:\n  timezone: ${TZ_NAME}\n", {"TZ_NAME": f"Zone/{SECRET}"}, "unknown IANA time zone"),
    ],
)
def test_no_value_of_a_secret_or_a_variable_is_ever_shown(
    tmp_path: Path, text: str, env: dict[str, str], key: str
) -> None:
    lines = refused(tmp_path, reporter(tmp_path, text, **env), SECRET, WEBHOOK)
    assert len(lines) == 1 and key in lines[0]


def test_a_token_with_a_trailing_newline_names_the_key_and_the_likely_cause(tmp_path: Path) -> None:
    text = "platform:\n  token: ${SAMPLE_PLATFORM_TOKEN}\n"
    [line] = refused(tmp_path, reporter(tmp_path, text, SAMPLE_PLATFORM_TOKEN=SECRET + "\n"), SECRET)
    assert line.endswith(
        "reporter.yaml:2: platform.token: ends with a line break, usually left by a secret file saved with "
        "a final newline; remove the newline from the file or the variable "
        "(the value comes from ${SAMPLE_PLATFORM_TOKEN})"
    )


def test_an_empty_slack_token_is_unset_and_says_which_variable(tmp_path: Path) -> None:
    text = "channels:\n  slack:\n    token: ${SLACK_BOT_TOKEN:-}\n    channel: '#ci'\n"
    for env in ({}, {"SLACK_BOT_TOKEN": ""}):
        [line] = refused(tmp_path, reporter(tmp_path, text, **env))
        assert "reporter.yaml:2: channels.slack: needs a bot token and a channel, or a webhook_url" in line
        assert "channels.slack.token is empty because SLACK_BOT_TOKEN is unset or empty" in line


def test_an_empty_platform_token_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text = "platform:\n  read_timeout: 5\n"
    [line] = refused(tmp_path, in_process(capsys, monkeypatch, tmp_path, text, SAMPLE_PLATFORM_TOKEN=""))
    assert "platform.token: is empty because SAMPLE_PLATFORM_TOKEN is unset or empty" in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "platform:\n  read_timeout: 5\nstate:\n  path: a.sqlite3\nplatform:\n  read_timeout: 6\n",
            ":5: platform: written twice (first at line 1)",
        ),
        ("# only a comment\n\n", ":1: the file is empty (or only comments)"),
        (
            "platform:\n  token: ${SAMPLE_PLATFORM_TOKEN\n",
            ":2: platform.token: '${SAMPLE_PLATFORM_TOKEN' is not a complete variable reference",
        ),
        ("platform:\n  token: $SAMPLE_PLATFORM_TOKEN\n", ":2: platform.token: $SAMPLE_PLATFORM_TOKEN is not"),
        (
            'platform:\n  base_url: "https://x\nstate:\n  path: s.sqlite3\n',
            ":2: invalid YAML: a quoted value opened on this line is never closed (noticed at line 5)",
        ),
        (
            "platform:\n  base_url: [unclosed\nstate: {}\n",
            ":2: invalid YAML: a '[' list opened on this line is never closed with ']' (noticed at line 3)",
        ),
        ("platform:\n\tbase_url: x\n", ":2: invalid YAML: a tab or a special character where a value starts"),
        ("filters:\n  platforms: linux\n", ":2: filters.platforms: must be a list, written [a, b]"),
        (
            "platform:\n  concurrency: 64\n",
            ":2: platform.concurrency: must be at most 32, such as concurrency: 8",
        ),
        (
            "channels:\n  email:\n    security: ssl\n",
            ":3: channels.email.security: must be 'starttls', 'tls' or 'none'",
        ),
        (
            "platform:\n  read_timout: 5\n",
            ":2: platform.read_timout: unknown key; did you mean read_timeout?",
        ),
        ("platform:\n  read_timeout: .inf\n", ":2: platform.read_timeout: must be a finite number"),
        ('state:\n  path: "a\\0b"\n', ":2: state.path: must not contain a NUL character"),
    ],
)
def test_a_mistake_is_named_by_file_line_and_key_in_plain_words(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    text: str,
    expected: str,
) -> None:
    lines = refused(tmp_path, in_process(capsys, monkeypatch, tmp_path, text))
    assert any(expected in line for line in lines), lines


def test_an_unclosed_variable_is_never_taken_as_the_literal_token(tmp_path: Path) -> None:
    result = reporter(tmp_path, "platform:\n  token: ${SAMPLE_PLATFORM_TOKEN\n", "poll")
    refused(tmp_path, result)


def test_several_mistakes_come_sorted_by_line_without_a_repeated_value(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text = (
        "platform:\n  base_url: ftp://example\n  concurrency: many\nfilters:\n  platforms: linux\n"
        "schedule:\n  timezone: Mars/Base\n  digest_cron: '61 * * * *'\n"
    )
    result = in_process(capsys, monkeypatch, tmp_path, text)
    lines = refused(tmp_path, result, "ftp://example", "Mars/Base", "many", "61")
    assert [int(line.split(":")[2]) for line in lines] == [2, 3, 5, 7, 8]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("folder", "folder is a directory; state.path names the SQLite file itself"),
        ("/proc/nope/reporter.sqlite3", "cannot be created: no file can be made in /proc"),
        ("notes.txt", "notes.txt is not an SQLite database"),
        ("notes.txt/reporter.sqlite3", "notes.txt is a file, not a directory"),
    ],
)
def test_an_unusable_state_path_is_refused_before_any_command_needs_it(
    tmp_path: Path, state: str, expected: str
) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("my notes\n")
    [line] = refused(tmp_path, reporter(tmp_path, f"state:\n  path: {state}\n"))
    assert ":2: state.path: " in line and expected in line
    assert (tmp_path / "notes.txt").read_text() == "my notes\n"


def test_a_directory_as_state_path_is_named_as_such_by_every_command(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    for command in ("poll", "status"):
        [line] = refused(tmp_path, reporter(tmp_path, "state:\n  path: folder\n", command))
        assert "folder is a directory" in line and "permission" not in line


def test_a_usable_state_path_passes_and_is_not_created(tmp_path: Path) -> None:
    result = reporter(tmp_path, "state:\n  path: new/dir/reporter.sqlite3\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"{tmp_path / 'reporter.yaml'}: configuration is valid"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reporter.yaml"]


def test_unsafe_and_hopeless_settings_are_warned_about(tmp_path: Path) -> None:
    text = (
        "platform:\n  base_url: http://ci.internal:8080/api/v1\n"
        "channels:\n  email:\n    host: smtp.example.org\n    security: none\n"
        "    username: me\n    password: ${SMTP_PASSWORD}\n    sender: me@real.net\n"
        "    recipients: [team@example.com]\n"
        "alerts:\n  enabled: true\n  channels: [slack]\n"
    )
    result = reporter(tmp_path, text, SMTP_PASSWORD=SECRET)
    assert result.returncode == 0 and SECRET not in result.stdout + result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    config = tmp_path / "reporter.yaml"
    assert [w.split(": ")[1:3] for w in warnings] == [
        [f"{config}:2", "platform.base_url"],
        [f"{config}:6", "channels.email.security"],
        [f"{config}:13", "alerts.channels[0]"],
        [f"{config}:5", "channels.email.host"],
        [f"{config}:10", "channels.email.recipients[0]"],
    ]
    assert "sends the API token unencrypted; use https://" in warnings[0]
    assert "sends the SMTP password unencrypted" in warnings[1]
    assert result.stderr.splitlines()[-1].endswith("configuration is valid")


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost", "[::1]:9"])
def test_plain_http_to_this_machine_is_not_warned_about(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, host: str
) -> None:
    result = in_process(capsys, monkeypatch, tmp_path, f"platform:\n  base_url: http://{host}/api/v1\n")
    assert result.returncode == 0 and "warning" not in result.stderr


def test_the_example_works_as_copied(tmp_path: Path) -> None:
    result = reporter(tmp_path, (ROOT / "config.example.yaml").read_text())
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"{tmp_path / 'reporter.yaml'}: configuration is valid"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reporter.yaml"]


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    [line] = refused(tmp_path, reporter(tmp_path, "\n".join(levels) + "\n"))  # 10^9 values: hangs if walked
    assert "more than 10000 values once aliases (*name) are expanded" in line


def test_absurd_nesting_and_escape_sequences_in_keys_are_refused_plainly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deep = "platform: " + "[" * 2000 + "]" * 2000 + "\n"
    [line] = refused(tmp_path, in_process(capsys, monkeypatch, tmp_path, deep))
    assert "invalid YAML: values nested too deeply" in line
    text = 'platform:\n  "\\e[2Jbad": 1\n'
    [line] = refused(tmp_path, in_process(capsys, monkeypatch, tmp_path, text))
    assert "\x1b" not in line and ":2: platform.?[2Jbad: unknown key" in line
