"""Channels against real loopback peers, and the outbox that posts each digest once."""

from __future__ import annotations

import email.policy
import json
import logging
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from reporter.config import EmailChannel as EmailSettings
from reporter.config import SlackChannel as SlackSettings
from reporter.deliver import deliver_pending
from reporter.deliver.email import EmailChannel
from reporter.deliver.file import FileChannel
from reporter.deliver.slack import SlackChannel
from reporter.errors import DeliveryError
from reporter.format import Templates
from reporter.format.email import EmailFormat
from reporter.format.html import HtmlFormat
from reporter.format.slack import SlackFormat
from reporter.store import Store
from tests.fakes import EVIL, FakeSlack, digest_named, free_port, smtp_controller


def bot(fake: FakeSlack, token: str = "xoxb-test-1") -> SlackChannel:
    return SlackChannel(SlackSettings(token=token, channel="#ci", api_url=f"{fake.url}/api/"))


def test_slack_bot_posts_mrkdwn_with_the_outbox_key(slack: FakeSlack) -> None:
    channel = bot(slack)
    channel.send(SlackFormat(Templates()).digest(digest_named(EVIL)), "slack:2026-11-20")
    assert len(slack.posted) == 1
    posted = slack.posted[0]
    assert posted["channel"] == "#ci"
    everything = json.dumps(posted["blocks"])
    assert "<!channel>" not in everything and "&lt;!channel&gt;" in everything
    metadata = posted["metadata"]
    metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
    assert metadata["event_payload"]["key"] == "slack:2026-11-20"


def test_slack_does_not_post_twice_after_a_crash(slack: FakeSlack, tmp_path: Path) -> None:
    channel = bot(slack)
    payload = SlackFormat(Templates()).digest(digest_named("a.ts"))
    channel.send(payload, "slack:2026-11-20")  # accepted by Slack, then the process died before recording
    with Store(tmp_path / "s.sqlite3") as store:
        store.outbox.enqueue("2026-11-20", "{}", {"slack": payload})
        report = deliver_pending(store, [channel])
        assert report.sent == ("slack:2026-11-20",)
        assert store.outbox.items() == []
    assert len(slack.posted) == 1


def test_slack_invalid_auth_is_explained_and_not_retried(slack: FakeSlack) -> None:
    slack.fail("conversations.history", "invalid_auth")
    with pytest.raises(DeliveryError) as caught:
        bot(slack).send(json.dumps({"text": "hi"}), "slack:x")
    assert "invalid_auth: the Slack bot token is invalid" in str(caught.value)
    assert not caught.value.retryable


def test_slack_not_in_channel(slack: FakeSlack) -> None:
    slack.fail("chat.postMessage", "not_in_channel")
    with pytest.raises(DeliveryError, match="invite it"):
        bot(slack).send(json.dumps({"text": "hi"}), "slack:x")


def test_slack_429_then_success(slack: FakeSlack) -> None:
    slack.script["chat.postMessage"] = [(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})]
    bot(slack).send(json.dumps({"text": "hi"}), "slack:x")
    assert [m for m, _ in slack.requests].count("chat.postMessage") == 2
    assert len(slack.posted) == 1


def test_slack_webhook_gone_is_final(slack: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    secret_url = f"{slack.url}/hooks/T000/B000/s3cretpath"
    slack.script["webhook"] = [(404, {"error": "no_service"}, {})]
    channel = SlackChannel(SlackSettings(webhook_url=secret_url))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DeliveryError) as caught:
        channel.send(json.dumps({"text": "hi"}), "slack:x")
    assert "HTTP 404" in str(caught.value) and not caught.value.retryable
    channel.send(json.dumps({"text": "hello"}), "slack:y")
    assert slack.posted[-1]["text"] == "hello"
    assert "s3cretpath" not in caplog.text + str(caught.value) + repr(channel)


def test_failed_delivery_stays_pending_and_is_retried(slack: FakeSlack, tmp_path: Path) -> None:
    channel = bot(slack)
    slack.fail("chat.postMessage", "internal_error")
    with Store(tmp_path / "s.sqlite3") as store:
        store.outbox.enqueue("2026-11-20", "{}", {"slack": json.dumps({"text": "hi"})})
        first = deliver_pending(store, [channel])
        assert first.sent == () and len(first.failed) == 1
        assert store.outbox.items()[0].attempts == 1
        assert deliver_pending(store, [channel]).sent == ()  # backing off for a minute
        later = datetime.now(UTC) + timedelta(minutes=2)
        second = deliver_pending(store, [channel], now=later)
        assert second.sent == ("slack:2026-11-20",)
    assert len(slack.posted) == 1


def email_channel(server: Any, **extra: Any) -> EmailChannel:
    return EmailChannel(
        EmailSettings(
            host="127.0.0.1",
            port=server.port,
            security="none",
            sender="reporter@ccx.example",
            recipients=("dev@ccx.example",),
            **extra,
        )
    )


def test_email_is_multipart_text_then_html(smtp_server: Any) -> None:
    channel = email_channel(smtp_server)
    name = "evil\r\nBcc: victim@example.com <script>x</script> & co"
    channel.send(EmailFormat(Templates()).digest(digest_named(name)), "email:2026-11-20")
    [received] = smtp_server.inbox.messages
    message = message_from_bytes(received.as_bytes(), policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert message["Bcc"] is None and "victim" not in str(message["To"])
    assert message["Subject"] == "[reporter] 2026-11-20: 0 failing, 1 flaky (1 new)"
    body = message.get_body(("html",))
    assert body is not None
    html = body.get_content()
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html
    assert 'href="https://sp.example/sample/99"' in html
    assert len(received.as_bytes()) < 100_000


def test_email_connection_refused_names_the_server() -> None:
    channel = EmailChannel(
        EmailSettings(
            host="127.0.0.1", port=9, security="none", sender="a@b.c", recipients=("d@e.f",), timeout=2
        )
    )
    with pytest.raises(DeliveryError, match="SMTP 127.0.0.1:9"):
        channel.send(json.dumps({"subject": "s", "text": "t", "html": "<p>h</p>"}), "email:x")


def test_file_channel_writes_atomically(tmp_path: Path) -> None:
    target = tmp_path / "out" / "digest.html"
    channel = FileChannel(target, "html")
    channel.send(HtmlFormat(Templates()).digest(digest_named("a.ts")), "file:x")
    assert target.read_text().startswith("<!doctype html>")
    assert [p.name for p in target.parent.iterdir()] == ["digest.html"]


def long_digest(samples: int = 80) -> Any:
    from datetime import UTC, datetime

    from reporter.analysis import analyse
    from reporter.config import AnalysisSettings
    from reporter.digest import build
    from reporter.history import History
    from tests.fakes import run

    pattern = "..x....x.....x..x...."
    runs = [
        run(
            i + 1,
            f"{i:040x}",
            {s for s in range(1000, 1000 + samples) if c == "x"},
            tested=set(range(1000, 1000 + samples)),
        )
        for i, c in enumerate(pattern)
    ]
    names = {s: f"sample-{s}-{'<b>&' * 3}.ts" for s in range(1000, 1000 + samples)}
    # every sample fails together: keep it from looking like an infrastructure breakdown
    settings = AnalysisSettings(infra_min_fraction=1.0, tail_min_tests=10**6, mass_min_samples=10**6)
    result = analyse(History(tuple(runs), names), settings)
    return build(
        result,
        period="2026-11-20",
        generated_at=datetime(2026, 11, 20, 7, tzinfo=UTC),
        window_days=30,
        web_url="https://sp.example",
        previous=None,
    )


def test_long_digest_goes_to_a_thread_within_slack_limits(slack: FakeSlack) -> None:
    channel = bot(slack)
    payload = SlackFormat(Templates()).digest(long_digest())
    channel.send(payload, "slack:2026-11-20")
    parent, *replies = slack.posted
    assert replies and all(r["thread_ts"] == parent["ts"] for r in replies)
    note = parent["blocks"][-1]["elements"][0]["text"]
    moved = sum(1 for r in replies for b in r["blocks"] if b.get("block_id", "").startswith("sample-"))
    assert note == f":thread: {moved} more samples in the thread."
    shown = sum(1 for m in slack.posted for b in m["blocks"] if b.get("block_id", "").startswith("sample-"))
    assert shown == 80  # nothing silently dropped
    assert all(FakeSlack.invalid(m) is None for m in slack.posted)


def test_crash_between_parent_and_thread_posts_only_what_is_missing(slack: FakeSlack) -> None:
    channel = bot(slack)
    payload = SlackFormat(Templates()).digest(long_digest(200))
    assert len(json.loads(payload)["thread"]) >= 2
    posts_before_crash = 2  # the parent and the first reply went out, then the process died
    real = channel._post
    calls = {"n": 0}

    def dying(*args: Any, **kwargs: Any) -> str:
        calls["n"] += 1
        if calls["n"] > posts_before_crash:
            raise OSError("killed")
        return real(*args, **kwargs)

    channel._post = dying  # type: ignore[method-assign]
    with pytest.raises(DeliveryError):
        channel.send(payload, "slack:2026-11-20")
    restarted = bot(slack)
    restarted.send(payload, "slack:2026-11-20")
    keys = [m["metadata"]["event_payload"]["key"] for m in slack.posted]
    assert len(keys) == len(set(keys)) == 1 + len(json.loads(payload)["thread"])


def test_block_kit_layout(slack: FakeSlack) -> None:
    text, blocks = SlackFormat(Templates()).blocks(digest_named(EVIL))
    assert text == "Flakiness digest 2026-11-20: 0 failing, 1 flaky (1 new), 0 recovered"
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Flakiness digest 2026-11-20"},
    }
    section = next(b for b in blocks if b.get("block_id") == "sample-99-linux")["text"]["text"]
    assert section.startswith(
        "*<https://sp.example/sample/99|&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"
    )
    assert "🟥" in section and "4/21 failed" in section


def test_check_reports_token_and_channel(slack: FakeSlack) -> None:
    assert "token valid (team ccx, user reporter)" in bot(slack).check()
    slack.fail("conversations.history", "not_in_channel")
    with pytest.raises(DeliveryError, match="invite"):
        bot(slack).check()


def test_email_check_connects_without_sending(smtp_server: Any) -> None:
    assert email_channel(smtp_server).check() == (
        f"email: SMTP 127.0.0.1:{smtp_server.port} connected (no login configured)"
    )
    assert smtp_server.inbox.messages == []


def digest_with_grid(samples: int) -> Any:
    from dataclasses import replace

    from reporter import grid
    from reporter.analysis import analyse
    from reporter.config import AnalysisSettings
    from reporter.history import History
    from tests.fakes import run

    ids = range(1000, 1000 + samples)
    pattern = ("..x....x.....x..x...." * 3)[:60]
    runs = [
        run(i + 1, f"{i:040x}", {s for s in ids if c == "x"}, tested=set(ids)) for i, c in enumerate(pattern)
    ]
    history = History(tuple(runs), {s: f"sample-{s}.ts" for s in ids})
    result = analyse(
        history, AnalysisSettings(infra_min_fraction=1.0, tail_min_tests=10**6, mass_min_samples=10**6)
    )
    return replace(long_digest(samples), grids=grid.grids(history, result))


def received_html(smtp_server: Any, digest: Any) -> tuple[int, str]:
    channel = email_channel(smtp_server)
    channel.send(EmailFormat(Templates()).digest(digest), "email:2026-11-20")
    raw = smtp_server.inbox.messages[-1].as_bytes()
    body = message_from_bytes(raw, policy=email.policy.default).get_body(("html",))
    assert body is not None
    return len(raw), body.get_content()


def test_email_inlines_css_and_carries_the_grid_as_a_table(smtp_server: Any) -> None:
    size, html = received_html(smtp_server, digest_with_grid(8))
    assert size < 100_000
    assert 'style="' in html and "<svg" not in html
    assert '<td class="fail"' in html and '<td class="pass"' in html


def test_a_huge_email_shrinks_under_the_cap_and_says_what_it_left_out(smtp_server: Any) -> None:
    size, html = received_html(smtp_server, digest_with_grid(150))
    assert size < 100_000
    assert "more samples are not shown here" in html and "reporter flaky" in html


def test_email_headers_refuse_line_breaks(tmp_path: Path) -> None:
    from reporter.config import load_settings
    from reporter.errors import ConfigError

    config = tmp_path / "r.yaml"
    config.write_text(
        'channels:\n  email:\n    host: h\n    sender: "a@b.c\\r\\nBcc: x@y.z"\n    recipients: [d@e.f]\n'
    )
    with pytest.raises(ConfigError, match="channels.email.sender: must not contain line breaks"):
        load_settings(config, {"SAMPLE_PLATFORM_TOKEN": "x"})


@pytest.mark.slow
def test_killed_after_slack_took_the_post_then_restarted_posts_once(
    slack: FakeSlack, platform: Any, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.fakes import TOKEN

    config = tmp_path / "reporter.yaml"
    config.write_text(
        f"platform:\n  base_url: {platform.base_url}\nstate:\n  path: state.sqlite3\nanalysis:\n  window_days: 3650\n"
        f"channels:\n  slack:\n    token: ${{SLACK_BOT_TOKEN}}\n    channel: '#ci'\n    api_url: {slack.url}/api/\n"
    )
    env = {**os.environ, "SAMPLE_PLATFORM_TOKEN": TOKEN, "SLACK_BOT_TOKEN": "xoxb-kill-test"}
    command = [sys.executable, "-m", "reporter", "--config", str(config)]
    subprocess.run([*command, "poll"], env=env, check=True, capture_output=True, timeout=60)
    slack.hang_after_post = 30.0
    digest = subprocess.Popen(
        [*command, "digest"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while not slack.posted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert slack.posted, "the digest never reached Slack"
    digest.send_signal(signal.SIGKILL)  # Slack has the message; the outbox does not know
    digest.wait()
    slack.hang_after_post = 0.0
    again = subprocess.run([*command, "digest"], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    top = [m for m in slack.posted if not m.get("thread_ts")]
    assert len(top) == 1
    status = subprocess.run([*command, "status"], env=env, capture_output=True, text=True, timeout=60)
    assert "outbox:       nothing waiting" in status.stdout


def test_smtp_auth_failure_and_refused_recipients_are_explained() -> None:

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Picky:
        async def handle_RCPT(
            self, server: Any, session: Any, envelope: Any, address: str, options: Any
        ) -> str:
            if address.startswith("nobody@"):
                return "550 5.1.1 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        return AuthResult(success=auth_data.password == b"right", handled=False)

    port = free_port()
    controller = Controller(
        Picky(), hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    try:
        payload = json.dumps({"subject": "s", "text": "t", "html": "<p>h</p>"})

        def channel(password: str, recipients: tuple[str, ...]) -> EmailChannel:
            return EmailChannel(
                EmailSettings(
                    host="127.0.0.1",
                    port=port,
                    security="none",
                    username="reporter",
                    password=password,
                    sender="r@ccx.example",
                    recipients=recipients,
                )
            )

        with pytest.raises(DeliveryError, match="authentication failed") as caught:
            channel("wrong", ("dev@ccx.example",)).send(payload, "email:x")
        assert not caught.value.retryable and "wrong" not in str(caught.value)
        with pytest.raises(DeliveryError, match=r"every recipient was refused: nobody@ccx.example"):
            channel("right", ("nobody@ccx.example",)).send(payload, "email:x")
        with pytest.raises(DeliveryError, match=r"refused recipients nobody@ccx.example"):
            channel("right", ("dev@ccx.example", "nobody@ccx.example")).send(payload, "email:x")
        channel("right", ("dev@ccx.example",)).send(payload, "email:x")
    finally:
        controller.stop()


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_smtp_over_starttls_and_implicit_tls(tmp_path: Path, security: str) -> None:
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("OPENSSL IS NOT INSTALLED: cannot make a certificate to test SMTP over TLS")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)

    options: dict[str, Any] = (
        {"tls_context": server_side, "require_starttls": True}
        if security == "starttls"
        else {"ssl_context": server_side}
    )
    controller = smtp_controller(**options)
    port = controller.port
    controller.start()
    try:
        settings = EmailSettings(
            host="127.0.0.1",
            port=port,
            security=security,
            sender="r@ccx.example",
            recipients=("dev@ccx.example",),
            ca_bundle=cert,
        )
        EmailChannel(settings).send(json.dumps({"subject": "s", "text": "t", "html": "<p>h</p>"}), "email:x")
        untrusted = EmailChannel(settings.model_copy(update={"ca_bundle": None}))
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            untrusted.send(json.dumps({"subject": "s", "text": "t", "html": "<p>h</p>"}), "email:y")
    finally:
        controller.stop()
    assert len(controller.inbox.messages) == 1


@pytest.mark.parametrize("samples", [8, 20, 60, 150])  # shapes 0, 2, 3 and 4 fit first
def test_email_picks_the_first_shape_that_fits_as_a_scan_would(samples: int) -> None:
    from reporter.format.email import MAX_BYTES, SHAPES

    digest = digest_with_grid(samples)
    email = EmailFormat(Templates())
    sizes = [sum(len(part.encode()) for part in email._render(digest, *shape)) for shape in SHAPES]
    assert sizes == sorted(sizes, reverse=True)  # each shape smaller than the one before
    first = next((i for i, size in enumerate(sizes) if size < MAX_BYTES), len(SHAPES) - 1)
    payload = json.loads(email.digest(digest))
    assert (payload["text"], payload["html"]) == email._render(digest, *SHAPES[first])
