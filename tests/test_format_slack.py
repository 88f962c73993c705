"""Slack gets nothing it refuses: every block type within its limits, split or cut with a note."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reporter.alerts import Alert, Unexplained
from reporter.analysis import PullRequestBreakage
from reporter.config import SlackChannel as SlackSettings
from reporter.deliver.slack import SlackChannel
from reporter.format import Templates
from reporter.format.slack import CUT, SlackFormat, fit
from tests.fakes import FakeSlack, finding, full_digest, run


def bot(fake: FakeSlack) -> SlackChannel:
    return SlackChannel(SlackSettings(token="xoxb-test-1", channel="#ci", api_url=f"{fake.url}/api/"))


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def every_text(fake: FakeSlack) -> str:
    return json.dumps([m["blocks"] for m in fake.posted], ensure_ascii=False)


TOO_MUCH: dict[str, list[dict[str, Any]]] = {
    "header over 150": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
    "header in mrkdwn": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}],
    "section over 3,000": [section("s" * 3001)],
    "empty section": [section("")],
    "11 fields": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
    "field over 2,000": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
    "11 context elements": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "e"}] * 11}],
    "context element over 3,000": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "e" * 3001}]}],
    "same block id twice": [section("a", block_id="x"), section("b", block_id="x")],
    "block id over 255": [section("a", block_id="x" * 256)],
    "51 blocks": [section("a")] * 51,
}


@pytest.mark.parametrize("what", TOO_MUCH)
def test_the_fake_slack_refuses_what_slack_refuses(what: str) -> None:
    assert FakeSlack.invalid({"text": "t", "blocks": TOO_MUCH[what]}) == "invalid_blocks"
    assert FakeSlack.invalid({"text": "t", "blocks": fit(TOO_MUCH[what])[:50]}) is None  # and fit fixes it


def test_the_fake_slack_accepts_a_message_at_every_limit() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        section("s" * 3000, block_id="x" * 255),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 200}] * 10},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "e" * 100}] * 10},
    ]
    assert FakeSlack.invalid({"text": "t", "blocks": blocks}) is None
    assert FakeSlack.invalid({"text": "t", "blocks": [section("s" * 2000)] * 7}) == "msg_blocks_too_long"
    assert FakeSlack.invalid({"text": "t" * 40_001}) == "msg_too_long"


def test_eighty_pull_request_breakages_reach_slack(slack: FakeSlack) -> None:
    breakages = tuple(
        PullRequestBreakage(
            2000 + n, 500 + n, f"teletext/broadcast-sample-{n:03d}.ts", ("linux", "windows"), (n,)
        )
        for n in range(80)
    )
    digest = replace(full_digest(), pr_breakages=breakages)
    bot(slack).send(SlackFormat(Templates()).digest(digest), "slack:2026-11-20")
    assert slack.posted and all(FakeSlack.invalid(m) is None for m in slack.posted)
    assert every_text(slack).count("PR #") == 80  # split over blocks, nothing dropped


def test_a_user_template_beyond_every_block_limit_is_fitted(slack: FakeSlack, tmp_path: Path) -> None:
    lines = [f"line {n} " + "l" * 100 for n in range(80)] + ["w" * 5000]
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Header " + "h" * 300}},
        section("\n".join(lines), block_id="long"),
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"field {n} " + "f" * 2500} for n in range(25)],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"element {n}"} for n in range(23)]},
        section("again", block_id="b" * 300),
        section("and again", block_id="b" * 300),
    ]
    (tmp_path / "slack.blocks.j2").write_text("\n".join(json.dumps(b) for b in blocks))
    bot(slack).send(SlackFormat(Templates(tmp_path)).digest(full_digest()), "slack:2026-11-20")
    assert all(FakeSlack.invalid(m) is None for m in slack.posted)
    posted = every_text(slack)
    assert all(f"line {n} " in posted for n in range(80))  # split at line breaks, every line kept
    assert all(f"field {n} " in posted for n in range(25)) and all(
        f'element {n}"' in posted for n in range(23)
    )
    assert "w" * 2000 in posted and "w" * 5000 not in posted and CUT.strip() in posted  # cut with a note
    assert '"Header hhh' in posted and "h" * 150 not in posted


def test_a_sample_with_thousands_of_error_types_is_cut_with_a_note(slack: FakeSlack) -> None:
    types = tuple(f"error_type_number_{n}" for n in range(1000))
    digest = replace(
        full_digest(),
        new_flaky=(
            replace(
                full_digest().new_flaky[0], finding=finding(8, "f.ts", "linux", "flaky", "..x.x", types=types)
            ),
        ),
    )
    bot(slack).send(SlackFormat(Templates()).digest(digest), "slack:2026-11-20")
    assert all(FakeSlack.invalid(m) is None for m in slack.posted)
    assert "error_type_number_1" in every_text(slack) and "reporter flaky" in every_text(slack)


def test_an_alert_about_every_sample_reaches_slack(slack: FakeSlack) -> None:
    failures = tuple(
        Unexplained(n, f"category/sample-name-{n:04d}.ts", ("missing_output",)) for n in range(400)
    )
    alert = Alert(run(5, "c" * 40, set(range(400))), failures)
    payload = SlackFormat(Templates()).alert(alert, "https://sp.example")
    bot(slack).send(payload, "slack:alert-run-5")
    assert all(FakeSlack.invalid(m) is None for m in slack.posted)
    posted = every_text(slack)
    assert all(f"sample-name-{n:04d}.ts" in posted for n in range(400))
    assert slack.posted[0]["text"].startswith(":warning: <https://sp.example/test/5|Run 5>")


def test_unfitted_the_same_digest_is_refused() -> None:
    """The fake refuses for real: the template's blocks before fitting are not accepted."""
    breakages = tuple(PullRequestBreakage(n, n, "x" * 60, ("linux",), (n,)) for n in range(80))
    _, blocks = SlackFormat(Templates()).blocks(replace(full_digest(), pr_breakages=breakages))
    assert FakeSlack.invalid({"text": "t", "blocks": blocks}) == "invalid_blocks"
