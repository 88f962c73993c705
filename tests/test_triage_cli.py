"""`reporter triage` end to end against the simulator: runs fetched first, --pr, --since, comments."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reporter.errors import ConfigError
from reporter.simulator import SimulatedPlatform, generate
from reporter.simulator.scenario import Scenario
from reporter.simulator.server import READ_SCOPES
from tests.fake_github import FakeGithub
from tests.fakes import SMALL, TOKEN
from tests.test_cli import run

# In the session's scenario (seed 7): pull request 1 runs 27-30 and breaks sample 140 itself; its
# other failures are master regressions and a flake.


@pytest.fixture
def config(tmp_path: Path, platform: SimulatedPlatform, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SAMPLE_PLATFORM_TOKEN", TOKEN)
    path = tmp_path / "reporter.yaml"
    path.write_text(
        f"platform:\n  base_url: {platform.base_url}\n  web_url: https://sp.example\nstate:\n  path: state.sqlite3\n"
        "analysis:\n  window_days: 3650\nchannels: {}\n"
    )
    return path


def with_github(config: Path, github: FakeGithub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-test-token")
    text = config.read_text().replace("channels: {}\n", "")
    config.write_text(
        f"{text}channels:\n  github:\n    token: ${{GITHUB_TOKEN}}\n    repository: CCExtractor/ccextractor\n"
        f"    api_url: {github.url}\n    pr_comments: true\n"
    )


def test_a_run_not_stored_yet_is_fetched_first_and_costs_only_its_own_requests(
    capsys: pytest.CaptureFixture[str], config: Path, platform: SimulatedPlatform
) -> None:
    before = platform.stats.requests
    code, out, err = run(capsys, "--config", str(config), "triage", "29")
    assert code == 0, err
    assert "Run 29, pull request #1, linux" in out
    spent = platform.stats.requests - before
    assert 1 < spent <= 4  # the run, then what ingesting it takes (its tests and error summaries)
    before = platform.stats.requests
    assert run(capsys, "--config", str(config), "triage", "29")[0] == 0
    assert platform.stats.requests == before  # stored now: nothing more to fetch


def test_a_pull_requests_latest_runs_as_json(
    capsys: pytest.CaptureFixture[str], config: Path, scenario: Scenario
) -> None:
    assert run(capsys, "--config", str(config), "poll")[0] == 0
    code, out, err = run(capsys, "--config", str(config), "triage", "--pr", "1", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert [(r["run_id"], r["platform"]) for r in data["runs"]] == [(29, "linux"), (30, "windows")]
    linux = {v["sample_id"]: v for v in data["runs"][0]["verdicts"]}
    assert linux[140]["verdict"] == "new_failure"  # the pull request's own breakage
    assert linux[140]["evidence"]["failed_elsewhere"] >= 2
    assert {linux[s]["verdict"] for s in (134, 143)} == {"failing_on_master"}
    for verdict in linux.values():
        cause = scenario.failure_cause(29, -1, verdict["sample_id"])
        assert cause is not None  # only samples that really failed get a verdict


def test_every_pull_request_run_since_a_date(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    assert run(capsys, "--config", str(config), "poll")[0] == 0
    code, out, _ = run(capsys, "--config", str(config), "triage", "--since", "2026-11-18", "--format", "json")
    assert code == 0
    assert [r["run_id"] for r in json.loads(out)["runs"]] == [38, 39, 40, 41, 42, 43]
    code, out, _ = run(
        capsys, "--config", str(config), "triage", "--since", "2026-11-18", "--format", "markdown"
    )
    assert (
        code == 0 and "### Sample Platform triage" in out and "| sample | platform | verdict | why |" in out
    )


def test_bad_requests_are_refused_with_a_reason(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, _, err = run(capsys, "--config", str(config), "triage")
    assert code == 2 and "give run ids, or --pr N, or --since DATE" in err
    code, _, err = run(capsys, "--config", str(config), "triage", "5", "--pr", "1")
    assert code == 2
    code, _, err = run(capsys, "--config", str(config), "triage", "99999")
    assert code == 3 and "run 99999: not found on the platform" in err
    code, _, err = run(capsys, "--config", str(config), "triage", "--pr", "77")
    assert code == 3 and "pull request #77: no finished run of it is stored" in err


def test_comment_posts_once_per_pull_request_and_run(
    capsys: pytest.CaptureFixture[str], config: Path, github: FakeGithub, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_github(config, github, monkeypatch)
    assert run(capsys, "--config", str(config), "poll")[0] == 0
    assert github.writes() == []  # these runs finished days ago: a poll comments on fresh runs only
    code, _, err = run(capsys, "--config", str(config), "triage", "--pr", "1", "--comment")
    assert code == 0, err
    assert "1 pull-request comments queued" in err
    (comment,) = github.comments_on(1)
    assert comment["body"].startswith("<!-- reporter:pr-triage pr=1 version=30.1,29.1 -->")
    assert "[Run 29](https://sp.example/test/29)" in comment["body"]
    for again in (["--pr", "1"], ["27"]):  # the same latest runs: already sent
        code, _, err = run(capsys, "--config", str(config), "triage", *again, "--comment")
        assert code == 0 and "0 pull-request comments queued" in err
    assert len(github.comments_on(1)) == 1 and len(github.writes()) == 1


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SimulatedPlatform, Scenario]]:
    """A history ending now, so that its last pull-request runs are fresh for a poll."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    scenario = generate(1, SMALL, end=now)
    with SimulatedPlatform(scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=100_000) as server:
        yield server, scenario


def fresh_config(tmp_path: Path, server: SimulatedPlatform, github: FakeGithub) -> Path:
    path = tmp_path / "reporter.yaml"
    path.write_text(
        f"platform:\n  base_url: {server.base_url}\n  max_attempts: 2\nstate:\n  path: state.sqlite3\n"
        f"analysis:\n  window_days: 3650\nchannels:\n  github:\n    token: ${{GITHUB_TOKEN}}\n"
        f"    repository: CCExtractor/ccextractor\n    api_url: {github.url}\n    pr_comments: true\n"
    )
    return path


def red_recent_pulls(scenario: Scenario) -> set[int]:
    """Pull requests whose latest run on some platform finished in the last two days with a failure."""
    now = scenario.end
    latest: dict[tuple[int, str], Any] = {}
    for sim in scenario.runs:
        done = sim.attempts[-1]
        if sim.pr_number and done.outcome == "completed" and done.completed_at <= now:
            latest[(sim.pr_number, sim.platform)] = sim
    owners = {r for s in scenario.samples for r in s.regression_ids}
    return {
        pr
        for (pr, _), sim in latest.items()
        if now - sim.attempts[-1].completed_at < timedelta(days=2)
        and any(v != "pass" and r in owners for r, v in sim.attempts[-1].results.items())
    }


def test_a_poll_triages_fresh_pull_request_runs_and_comments_once(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    fresh: tuple[SimulatedPlatform, Scenario],
    github: FakeGithub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, scenario = fresh
    monkeypatch.setenv("SAMPLE_PLATFORM_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-test-token")
    config = fresh_config(tmp_path, server, github)
    code, _, err = run(capsys, "-vv", "--config", str(config), "poll")
    assert code == 0
    expected = red_recent_pulls(scenario)
    assert expected
    commented = {c["issue"] for c in github.state.comments.values()}
    assert commented == expected
    assert all(len(github.comments_on(pr)) == 1 for pr in expected)
    assert "reporter.triage_jobs: triage: run " in err and "commented on pull request" in err
    assert "ghp-test-token" not in err
    writes = len(github.writes())
    assert run(capsys, "--config", str(config), "poll")[0] == 0
    assert len(github.writes()) == writes


@pytest.mark.slow
def test_killed_after_github_took_the_comment_then_restarted_comments_once(
    tmp_path: Path, fresh: tuple[SimulatedPlatform, Scenario], github: FakeGithub
) -> None:
    server, scenario = fresh
    config = fresh_config(tmp_path, server, github)
    env = {**os.environ, "SAMPLE_PLATFORM_TOKEN": TOKEN, "GITHUB_TOKEN": "ghp-test-token"}
    command = [sys.executable, "-m", "reporter", "--config", str(config)]
    github.hold_writes.set()
    poll = subprocess.Popen([*command, "poll"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert github.held.wait(60), "no comment ever reached GitHub"
        poll.send_signal(signal.SIGKILL)  # GitHub has the comment; the outbox does not know
    finally:
        poll.wait(10)
    github.hold_writes.clear()
    github.released.set()
    assert len(github.state.comments) == 1
    again = subprocess.run([*command, "poll"], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    expected = red_recent_pulls(scenario)
    assert {c["issue"] for c in github.state.comments.values()} == expected
    assert all(len(github.comments_on(pr)) == 1 for pr in expected)
    status = subprocess.run([*command, "status"], env=env, capture_output=True, text=True, timeout=60)
    assert "outbox:       nothing waiting" in status.stdout


def test_the_demo_shows_the_triage_of_one_pull_request_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "demo", "--dir", str(tmp_path / "demo"), "--days", "10")
    assert code == 0
    triage = out[out.index("Pull-request triage") : out.index("Digest (text)")]
    assert ", pull request #" in triage and "failing:" in triage
    assert (
        len({v for v in ("new_failure", "failing_on_master", "known_flaky", "infrastructure") if v in triage})
        >= 2
    )
    assert (tmp_path / "demo" / "triage.txt").read_text() == triage.strip("\n") + "\n"


def test_check_config_online_checks_the_github_token_without_writing(
    capsys: pytest.CaptureFixture[str], config: Path, github: FakeGithub, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_github(config, github, monkeypatch)
    code, _, err = run(capsys, "--config", str(config), "check-config", "--online")
    assert code == 0, err
    assert "github: token of reporter-bot can read CCExtractor/ccextractor, comment and open issues" in err
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-revoked-secret")
    code, out, err = run(capsys, "--config", str(config), "check-config", "--online")
    assert code == 3
    assert "error: github: GET /repos/CCExtractor/ccextractor: HTTP 401" in err
    assert "ghp-revoked-secret" not in out + err
    assert github.writes() == []


def test_the_digest_opens_issues_for_flaky_samples_up_to_the_daily_cap(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    github: FakeGithub,
    monkeypatch: pytest.MonkeyPatch,
    scenario: Scenario,
) -> None:
    with_github(config, github, monkeypatch)
    config.write_text(
        config.read_text().replace(
            "pr_comments: true", "pr_comments: false\n    issues: true\n    issues_per_day: 2"
        )
    )
    assert run(capsys, "--config", str(config), "poll")[0] == 0
    code, _, err = run(capsys, "--config", str(config), "digest")
    assert code == 0 and "sent 1" in err, err
    issues = github.our_issues()
    assert len(issues) == 2 and all(i["state"] == "open" for i in issues)
    flaky_names = {
        s.name
        for s in scenario.samples
        if (s.sample_id, "linux") in scenario.flaky or (s.sample_id, "windows") in scenario.flaky
    }
    assert all(any(name in i["title"] for name in flaky_names) for i in issues)
    assert all(i["body"].startswith("<!-- reporter:issue key=flaky-") for i in issues)
    assert run(capsys, "--config", str(config), "digest")[0] == 0  # once per period
    assert len(github.our_issues()) == 2


def test_a_github_token_sent_in_clear_text_is_warned_about(tmp_path: Path) -> None:
    from reporter.config import load_config

    path = tmp_path / "reporter.yaml"
    path.write_text(
        "channels:\n  github:\n    token: ${GITHUB_TOKEN}\n    repository: CCExtractor/ccextractor\n"
        "    api_url: http://github.internal.example\n    pr_comments: true\n"
    )
    loaded = load_config(path, {"SAMPLE_PLATFORM_TOKEN": "x", "GITHUB_TOKEN": "ghp-1"})
    assert any("channels.github.api_url" in w and "unencrypted" in w for w in loaded.warnings)
    path.write_text("channels:\n  github:\n    repository: not a repo\n    issues: true\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {"SAMPLE_PLATFORM_TOKEN": "x"})
    assert "channels.github.repository: must be owner/name" in str(caught.value)
    path.write_text("channels:\n  github:\n    repository: a/b\n    issues: true\n")
    with pytest.raises(ConfigError, match=r"channels.github: .*token is empty; export GITHUB_TOKEN"):
        load_config(path, {"SAMPLE_PLATFORM_TOKEN": "x"})
