"""Delivery under faults, against the loopback Slack and a real SMTP server: every part sent once.

Each test makes a peer answer one bad way (a missing scope, a proxy's 502 page, a 500 half-way,
greylisting, a QUIT that fails after the message was taken), then delivers through the outbox as
the daemon does, and checks what arrived: nothing lost, nothing twice.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult

from reporter.config import EmailChannel as EmailSettings
from reporter.config import SlackChannel as SlackSettings
from reporter.deliver import DeliveryReport, deliver_pending
from reporter.deliver.email import EmailChannel
from reporter.deliver.file import FileChannel
from reporter.deliver.slack import SlackChannel
from reporter.format import Templates
from reporter.format.slack import SlackFormat
from reporter.store import Store
from tests.fakes import BAD_GATEWAY, FakeSlack, free_port
from tests.test_deliver import long_digest

PERIOD = "2026-11-20"
HTML_MAIL = json.dumps({"subject": "digest", "text": "t", "html": "<p>h</p>"})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "state.sqlite3") as opened:
        yield opened


def bot(fake: FakeSlack) -> SlackChannel:
    return SlackChannel(SlackSettings(token="xoxb-faults-1", channel="#ci", api_url=f"{fake.url}/api/"))


def hook(fake: FakeSlack) -> SlackChannel:
    return SlackChannel(SlackSettings(webhook_url=f"{fake.url}/hooks/T1/B1/secretpath"))


def threaded() -> str:
    payload = SlackFormat(Templates()).digest(long_digest(200))
    assert len(json.loads(payload)["thread"]) >= 2
    return payload


def cycles(
    store: Store, channels: list[Any], times: int, start: datetime | None = None
) -> list[DeliveryReport]:
    """``times`` delivery cycles, each late enough for the back-off of the one before."""
    start = start or datetime.now(UTC)
    return [deliver_pending(store, channels, now=start + timedelta(hours=7 * n)) for n in range(times)]


def posts(fake: FakeSlack, method: str) -> int:
    return [m for m, _ in fake.requests].count(method)


# -- Slack ------------------------------------------------------------------------------------
def test_without_history_scope_a_thread_is_posted_whole_and_once(
    slack: FakeSlack, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    slack.scopes = {"chat:write"}
    payload = threaded()
    store.outbox.enqueue(PERIOD, "{}", {"slack": payload})
    [report] = cycles(store, [bot(slack)], 1)
    assert report.sent == (f"slack:{PERIOD}",) and report.failed == ()
    parent, *replies = slack.posted
    assert replies and all(r["thread_ts"] == parent["ts"] for r in replies)
    assert len(replies) == len(json.loads(payload)["thread"])
    assert "lacks channels:history" in caplog.text


def test_without_history_scope_a_retry_goes_on_from_the_recorded_parent(
    slack: FakeSlack, store: Store
) -> None:
    slack.scopes = {"chat:write"}
    payload = threaded()
    store.outbox.enqueue(PERIOD, "{}", {"slack": payload})
    slack.script["chat.postMessage"] = [None, None, (200, {"ok": False, "error": "internal_error"}, {})]
    first, second = cycles(store, [bot(slack)], 2)
    assert first.failed and "internal_error" in first.failed[0]
    assert second.sent == (f"slack:{PERIOD}",)
    keys = slack.keys()
    assert len(keys) == len(set(keys)) == 1 + len(json.loads(payload)["thread"])
    parent = slack.posted[0]["ts"]
    assert all(m.get("thread_ts") == parent for m in slack.posted[1:])
    assert store.outbox.parts(f"slack:{PERIOD}")[f"slack:{PERIOD}"] == parent


def test_a_crash_after_the_parent_was_recorded_posts_the_replies_in_its_thread(
    slack: FakeSlack, store: Store
) -> None:
    slack.scopes = {"chat:write"}
    payload = threaded()
    store.outbox.enqueue(PERIOD, "{}", {"slack": payload})
    channel = bot(slack)
    real = channel._post

    def dies_after_the_parent(*args: Any, **kwargs: Any) -> str:
        if kwargs.get("thread_ts"):
            raise KeyboardInterrupt  # the process stops: nothing after this line runs
        return real(*args, **kwargs)

    channel._post = dies_after_the_parent  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        deliver_pending(store, [channel])
    assert len(slack.posted) == 1 and store.outbox.items()[0].attempts == 0
    assert cycles(store, [bot(slack)], 1)[0].sent == (f"slack:{PERIOD}",)
    assert len(slack.keys()) == len(set(slack.keys())) == 1 + len(json.loads(payload)["thread"])


def test_check_names_the_missing_optional_scope_and_its_cost(slack: FakeSlack) -> None:
    slack.scopes = {"chat:write"}
    line = bot(slack).check()
    assert "token valid" in line and "lacks the optional scope channels:history" in line
    assert "post it twice" in line


def test_check_config_online_names_the_missing_scope_without_failing(
    slack: FakeSlack, platform: Any, settings_for: Any
) -> None:
    from reporter import commands

    slack.scopes = {"chat:write"}
    channel = {"token": "xoxb-faults-2", "channel": "#ci", "api_url": f"{slack.url}/api/"}
    lines, problems = commands.check_online(settings_for(platform.base_url, channels={"slack": channel}))
    assert problems == []
    [line] = [x for x in lines if x.startswith("slack:")]
    assert "lacks the optional scope channels:history" in line and "xoxb" not in line


def test_check_fails_when_the_token_cannot_post(slack: FakeSlack) -> None:
    from reporter.errors import DeliveryError

    slack.scopes = {"channels:history"}
    with pytest.raises(DeliveryError, match="lacks the scope chat:write, which posting needs"):
        bot(slack).check()


def test_a_missing_posting_scope_is_named_and_final(slack: FakeSlack, store: Store) -> None:
    slack.scopes = {"channels:history"}
    store.outbox.enqueue(PERIOD, "{}", {"slack": json.dumps({"text": "hi"})})
    [report] = cycles(store, [bot(slack)], 1)
    assert "missing_scope: the bot token lacks the scope chat:write" in report.failed[0]
    assert store.outbox.items(("failed",))[0].key == f"slack:{PERIOD}"


@pytest.mark.parametrize("path", ["bot", "webhook"])
def test_a_502_page_from_a_proxy_is_transient(slack: FakeSlack, store: Store, path: str) -> None:
    method = "chat.postMessage" if path == "bot" else "webhook"
    slack.script[method] = [BAD_GATEWAY]
    channel = bot(slack) if path == "bot" else hook(slack)
    store.outbox.enqueue(PERIOD, "{}", {"slack": json.dumps({"text": "hi"})})
    started = time.monotonic()
    first, second = cycles(store, [channel], 2)
    assert time.monotonic() - started < 20
    [failure] = first.failed
    assert "HTTP 502" in failure and "retried later" in failure
    assert "<html" not in failure and "secretpath" not in failure
    assert second.sent == (f"slack:{PERIOD}",)
    assert len(slack.posted) == 1


def test_webhook_retry_after_part_two_failed_posts_only_what_is_missing(
    slack: FakeSlack, store: Store
) -> None:
    payload = threaded()
    parts = 1 + len(json.loads(payload)["thread"])
    slack.script["webhook"] = [None, (500, {"error": "internal"}, {})]
    store.outbox.enqueue(PERIOD, "{}", {"slack": payload})
    first, second = cycles(store, [hook(slack)], 2)
    assert first.failed and "HTTP 500" in first.failed[0]
    assert second.sent == (f"slack:{PERIOD}",)
    assert len(slack.posted) == parts  # the first part once, not again after the failure
    assert [json.dumps(p["blocks"]) for p in slack.posted] == [
        json.dumps(b) for b in [json.loads(payload)["blocks"], *json.loads(payload)["thread"]]
    ]


# -- SMTP -------------------------------------------------------------------------------------
class Grumpy:
    """An SMTP server's handler that greylists each recipient once, or fails QUIT after taking mail."""

    def __init__(self, *, greylist: bool = False, quit_answer: str | None = None) -> None:
        self.greylist, self.quit_answer = greylist, quit_answer
        self.seen: set[str] = set()
        self.delivered: list[tuple[str, ...]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.greylist and address not in self.seen:
            self.seen.add(address)
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.delivered.append(tuple(envelope.rcpt_tos))
        return "250 OK queued"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> Any:
        return MISSING if self.quit_answer is None else self.quit_answer  # MISSING: the usual 221


def accept_anyone(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    return AuthResult(success=True)


@pytest.fixture
def grumpy() -> Iterator[tuple[Grumpy, int]]:
    handler, port = Grumpy(), free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, authenticator=accept_anyone, auth_require_tls=False
    )
    controller.start()
    yield handler, port
    controller.stop()


def mail(port: int, *recipients: str, **extra: Any) -> EmailChannel:
    return EmailChannel(
        EmailSettings(
            host="127.0.0.1",
            port=port,
            security="none",
            sender="r@ccx.example",
            recipients=recipients,
            timeout=5,
            **extra,
        )
    )


def test_greylisting_is_transient_and_the_retry_delivers_once(
    grumpy: tuple[Grumpy, int], store: Store
) -> None:
    handler, port = grumpy
    handler.greylist = True
    store.outbox.enqueue(PERIOD, "{}", {"email": HTML_MAIL})
    first, second, third = cycles(store, [mail(port, "dev@ccx.example")], 3)
    assert first.failed and "451" in first.failed[0] and "tried again later" in first.failed[0]
    assert second.sent == (f"email:{PERIOD}",) and third == DeliveryReport((), ())
    assert handler.delivered == [("dev@ccx.example",)]


def test_a_recipient_greylisted_while_another_took_it_gets_it_alone_later(
    grumpy: tuple[Grumpy, int], store: Store
) -> None:
    handler, port = grumpy
    handler.greylist = True
    handler.seen.add("a@ccx.example")  # already known to the server: accepted at once
    store.outbox.enqueue(PERIOD, "{}", {"email": HTML_MAIL})
    first, second = cycles(store, [mail(port, "a@ccx.example", "b@ccx.example")], 2)
    assert first.failed and "b@ccx.example: 451" in first.failed[0]
    assert second.sent == (f"email:{PERIOD}",)
    assert handler.delivered == [("a@ccx.example",), ("b@ccx.example",)]


def test_a_message_taken_before_quit_failed_is_sent_once(grumpy: tuple[Grumpy, int], store: Store) -> None:
    handler, port = grumpy
    handler.quit_answer = "421 4.3.2 service shutting down"
    store.outbox.enqueue(PERIOD, "{}", {"email": HTML_MAIL})
    reports = cycles(store, [mail(port, "dev@ccx.example")], 4)
    assert reports[0].sent == (f"email:{PERIOD}",)
    assert all(r == DeliveryReport((), ()) for r in reports[1:])
    assert handler.delivered == [("dev@ccx.example",)]


def test_a_crash_after_the_server_took_it_does_not_send_it_again(
    grumpy: tuple[Grumpy, int], store: Store
) -> None:
    handler, port = grumpy
    store.outbox.enqueue(PERIOD, "{}", {"email": HTML_MAIL})
    real = store.outbox.mark_sent

    def dies(key: str) -> None:
        raise KeyboardInterrupt

    store.outbox.mark_sent = dies  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        deliver_pending(store, [mail(port, "dev@ccx.example")])
    store.outbox.mark_sent = real  # type: ignore[method-assign]
    assert cycles(store, [mail(port, "dev@ccx.example")], 1)[0].sent == (f"email:{PERIOD}",)
    assert handler.delivered == [("dev@ccx.example",)]


def test_a_non_ascii_password_fails_that_item_only_and_clearly(
    grumpy: tuple[Grumpy, int], store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    handler, port = grumpy
    password = "pässwörd-s3cret"
    email = mail(port, "dev@ccx.example", username="reporter", password=password)
    file = FileChannel(tmp_path / "digest.txt")
    store.outbox.enqueue(PERIOD, "{}", {"email": HTML_MAIL, "file": "the digest\n"})
    [report] = cycles(store, [email, file], 1)
    assert report.sent == (f"file:{PERIOD}",)
    [failure] = report.failed
    assert "outside ASCII" in failure and "SMTP password" in failure
    [item] = store.outbox.items(("pending", "failed"))
    assert item.key == f"email:{PERIOD}" and item.attempts == 1
    assert (tmp_path / "digest.txt").read_text() == "the digest\n"
    assert handler.delivered == []
    assert all(s not in caplog.text + failure for s in (password, "ä", "ö"))


def test_an_unexpected_exception_in_one_channel_is_recorded_and_the_next_channel_still_goes(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        name, format, alert_format = "stdout", "text", None

        def send(self, payload: str, key: str, delivered: Any = None) -> None:
            raise UnicodeEncodeError("ascii", "sécret", 1, 2, "ordinal not in range(128)")

    file = FileChannel(tmp_path / "digest.txt")
    store.outbox.enqueue(PERIOD, "{}", {"stdout": "x", "file": "the digest\n"})
    first, second = cycles(store, [Broken(), file], 2)
    assert first.sent == (f"file:{PERIOD}",)
    [failure] = first.failed
    assert "unexpected UnicodeEncodeError at test_deliver_faults.py:" in failure and "bug" in failure
    assert "sécret" not in failure + caplog.text
    assert second.failed and store.outbox.items()[0].attempts == 2  # counted, retried, not stuck


# -- file -------------------------------------------------------------------------------------
def test_a_full_disk_leaves_no_temporary_file_and_the_old_digest_intact(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out" / "digest.txt"
    target.parent.mkdir()
    target.write_text("yesterday\n")
    real = os.fdopen

    def full_disk(handle: int, *args: Any, **kwargs: Any) -> Any:
        os.close(handle)
        return real(os.open("/dev/full", os.O_WRONLY), *args, **kwargs)  # every write: ENOSPC

    monkeypatch.setattr(os, "fdopen", full_disk)
    store.outbox.enqueue(PERIOD, "{}", {"file": "today\n" * 10_000})
    [report] = cycles(store, [FileChannel(target)], 1)
    assert "No space left on device" in report.failed[0]
    assert sorted(p.name for p in target.parent.iterdir()) == ["digest.txt"]
    assert target.read_text() == "yesterday\n"
    monkeypatch.undo()
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert cycles(store, [FileChannel(target)], 1, tomorrow)[0].sent == (f"file:{PERIOD}",)
    assert target.read_text() == "today\n" * 10_000


def test_an_unencodable_payload_leaves_no_temporary_file(tmp_path: Path) -> None:
    from reporter.errors import DeliveryError

    target = tmp_path / "digest.txt"
    with pytest.raises(DeliveryError, match="cannot be written as UTF-8"):
        FileChannel(target).send("lone \udc80 surrogate", f"file:{PERIOD}")
    assert list(tmp_path.iterdir()) == []


def test_logs_of_a_failed_webhook_never_show_its_url(
    slack: FakeSlack, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    slack.script["webhook"] = [BAD_GATEWAY]
    store.outbox.enqueue(PERIOD, "{}", {"slack": json.dumps({"text": "hi"})})
    [report] = cycles(store, [hook(slack)], 1)
    assert report.failed and "secretpath" not in caplog.text + report.failed[0]


# -- the period ---------------------------------------------------------------------------------
def test_a_clock_moved_back_never_sends_a_digest_for_an_earlier_period(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import io

    from reporter import jobs
    from reporter.deliver.stdout import StdoutChannel
    from tests.fakes import make_settings

    settings = make_settings(tmp_path, "http://127.0.0.1:9", schedule={"timezone": "UTC"})
    out = io.StringIO()
    channel = StdoutChannel(stream=out)
    day = datetime(2026, 11, 20, 7, tzinfo=UTC)
    with Store(settings.state.path) as store:
        made = [
            jobs.run_digest(settings, store, channels=[channel], now=moment).digest is not None
            for moment in (
                day,
                day - timedelta(days=1),
                day - timedelta(days=30),
                day,
                day + timedelta(days=1),
            )
        ]
        periods = [period for period, _ in store.outbox.digests("2000-01-01", "2100-01-01")]
    assert made == [True, False, False, False, True]
    assert periods == ["2026-11-20", "2026-11-21"]
    assert "2026-11-20" in out.getvalue() and "2026-11-19" not in out.getvalue()
    assert "a digest for the later period 2026-11-20 was already made" in caplog.text
