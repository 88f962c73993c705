"""Post a stored Slack payload with slack-sdk: a bot token and channel, or an incoming webhook.

The payload (``reporter.format.slack``) is a message and the replies that continue it in its
thread. Each part (``slack:<period>``, and ``#n`` for the n-th thread reply) is recorded in the
outbox the moment Slack takes it, with its ``ts``: a retry posts only the parts still missing, in
the thread of the message already posted. With a bot token every post also carries its part's key
in message metadata, and before posting, the channel's recent history (and the thread) are searched
for it, so a crash between Slack taking a post and the outbox recording it does not post twice; that
search needs ``channels:history`` (``groups:history`` for a private channel), and without it the
delivery still works, with that crash window open. Webhooks can neither read history nor thread:
their parts follow as separate messages, each recorded once posted.

Slack's transient failures (HTTP 5xx or 429, whatever the body, and its own ``internal_error``-like
codes) are retried by the outbox; what a retry cannot fix fails the item for good.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.web import WebClient
from slack_sdk.webhook import WebhookClient

from reporter.config import SlackChannel as SlackSettings
from reporter.deliver import Delivered
from reporter.errors import DeliveryError
from reporter.format.slack import SlackMessage

logger = logging.getLogger(__name__)
# slack-sdk logs full request URLs (a webhook URL is a secret) at DEBUG: its clients get a logger
# that never goes below INFO, whatever the root level is.
sdk_logger = logging.getLogger(f"{__name__}.sdk")
sdk_logger.setLevel(logging.INFO)
EVENT_TYPE = "reporter_digest"
HINTS = {
    "invalid_auth": "the Slack bot token is invalid; set channels.slack.token",
    "not_authed": "no Slack bot token was sent; set channels.slack.token",
    "account_inactive": "the Slack bot token belongs to a deactivated app or user",
    "token_revoked": "the Slack bot token was revoked; create a new one",
    "channel_not_found": "the Slack channel does not exist or is private; check channels.slack.channel",
    "not_in_channel": "the bot is not a member of the channel; invite it with /invite @app",
    "missing_scope": "the bot token lacks the scope {needed}; add it to the Slack app and reinstall it",
    "msg_blocks_too_long": "the message is too long for Slack",
    "invalid_blocks": "Slack refused the message layout; check a customised slack.blocks.j2",
}
TRANSIENT = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
POSTING_SCOPE = "chat:write"
HISTORY_COST = (
    "without it reporter cannot see whether Slack already took a post before the outbox recorded "
    "it, so a crash at that moment can post it twice; everything else works (a thread's replies are "
    "posted from the parent kept in the outbox)"
)
Blocks = list[dict[str, Any]]


class SlackChannel:
    name = "slack"
    format = "slack"
    alert_format = "slack"

    def __init__(self, settings: SlackSettings) -> None:
        self.settings = settings
        handlers = [
            RateLimitErrorRetryHandler(max_retry_count=3),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ]
        self._web: WebClient | None = None
        self._hook: WebhookClient | None = None
        if settings.webhook_url is not None:
            url = settings.webhook_url.get_secret_value()
            self._hook = WebhookClient(url, retry_handlers=handlers, logger=sdk_logger)
        else:
            token = settings.token.get_secret_value() if settings.token else None
            self._web = WebClient(
                token=token, base_url=settings.api_url, retry_handlers=handlers, logger=sdk_logger
            )

    def __repr__(self) -> str:
        return f"SlackChannel(channel={self.settings.channel!r})"

    def send(self, payload: str, key: str, delivered: Delivered | None = None) -> None:
        message = SlackMessage.from_payload(payload)
        delivered = delivered or Delivered()
        try:
            if self._hook is not None:
                self._send_webhook(message, key, delivered)
            else:
                self._send_bot(message, key, delivered)
        except SlackApiError as exc:
            raise _api_error(exc) from None
        except (SlackRequestError, OSError) as exc:
            raise DeliveryError(f"slack: cannot reach Slack: {type(exc).__name__}", channel="slack") from None

    def check(self) -> str:
        """For ``check-config --online``: the token, its scopes and the channel, as far as Slack says."""
        if self._web is None:
            return "slack: incoming webhook configured (a webhook cannot be checked without posting)"
        channel = self.settings.channel or ""
        try:
            who = self._web.auth_test()
            _require_posting(who.headers)
            history = self._history_note(channel)
        except SlackApiError as exc:
            raise _api_error(exc) from None
        except (SlackRequestError, OSError) as exc:
            raise DeliveryError(f"slack: cannot reach Slack: {type(exc).__name__}", channel="slack") from None
        who_is = f"team {who.get('team')}, user {who.get('user')}"
        return f"slack: token valid ({who_is}), channel {channel} {history}"

    def _history_note(self, channel: str) -> str:
        """``readable``, or which optional scope is missing and what that costs."""
        assert self._web is not None
        try:
            self._web.conversations_history(channel=channel, limit=1)
        except SlackApiError as exc:
            if exc.response.get("error") != "missing_scope":
                raise
            needed = exc.response.get("needed") or "channels:history"
            return f"not readable: the token lacks the optional scope {needed}; {HISTORY_COST}"
        return "readable"

    def _send_bot(self, message: SlackMessage, key: str, delivered: Delivered) -> None:
        channel = self.settings.channel or ""
        parent = delivered.get(key)
        posted_now = False
        if parent is None:
            parent = self._find(channel, key)
            if parent is None:
                parent, posted_now = self._post(channel, message.text, message.blocks, key), True
            else:
                logger.info("slack: digest %s is already in %s; not posting it again", key, channel)
            delivered.record(key, parent)
        parts = {f"{key}#{n}": blocks for n, blocks in enumerate(message.thread, start=1)}
        if not posted_now and any(delivered.get(part) is None for part in parts):
            for part, ts in self._replies(channel, parent).items():
                if part in parts and delivered.get(part) is None:
                    delivered.record(part, ts)
        for number, (part, blocks) in enumerate(parts.items(), start=1):
            if delivered.get(part) is None:
                text = f"{message.text} (part {number + 1})"
                delivered.record(part, self._post(channel, text, blocks, part, thread_ts=parent))

    def _post(self, channel: str, text: str, blocks: Blocks, key: str, thread_ts: str | None = None) -> str:
        assert self._web is not None
        response = self._web.chat_postMessage(
            channel=channel,
            text=text,
            blocks=blocks or None,
            unfurl_links=False,
            unfurl_media=False,
            thread_ts=thread_ts,
            metadata={"event_type": EVENT_TYPE, "event_payload": {"key": key}},
        )
        return str(response["ts"])

    def _find(self, channel: str, key: str) -> str | None:
        """The ts of a message already posted with this key, from the channel's recent history."""
        assert self._web is not None
        try:
            history = self._web.conversations_history(channel=channel, limit=50, include_all_metadata=True)
        except SlackApiError as exc:
            _unless_missing_scope(exc, "the channel's history")
            return None
        return _with_key(history.get("messages") or [], {key}).get(key)

    def _replies(self, channel: str, parent: str) -> dict[str, str]:
        """The keys of the replies already in the thread of ``parent``, with their ts."""
        assert self._web is not None
        try:
            replies = self._web.conversations_replies(channel=channel, ts=parent, include_all_metadata=True)
        except SlackApiError as exc:
            _unless_missing_scope(exc, "the thread")
            return {}
        return _with_key(replies.get("messages") or [], None)

    def _send_webhook(self, message: SlackMessage, key: str, delivered: Delivered) -> None:
        assert self._hook is not None
        parts = {key: message.blocks, **{f"{key}#{n}": b for n, b in enumerate(message.thread, start=1)}}
        for part, blocks in parts.items():
            if delivered.get(part) is not None:
                continue
            response = self._hook.send(text=message.text, blocks=blocks or None, unfurl_links=False)
            if response.status_code >= 300:
                raise _webhook_error(response.status_code, str(response.body))
            delivered.record(part, "posted")


def _unless_missing_scope(exc: SlackApiError, what: str) -> None:
    """Re-raise ``exc`` unless it says a scope is missing; that only costs the duplicate check."""
    if exc.response.get("error") != "missing_scope":
        raise exc
    needed = exc.response.get("needed") or "channels:history"
    logger.warning("slack: cannot read %s (the token lacks %s); %s", what, needed, HISTORY_COST)


def _require_posting(headers: Any) -> None:
    """Fail when Slack lists the token's scopes and posting's is not among them."""
    found = [v for k, v in dict(headers or {}).items() if str(k).lower() == "x-oauth-scopes"]
    listed = found[0] if found else None
    listed = listed[0] if isinstance(listed, list) and listed else listed
    if isinstance(listed, str) and POSTING_SCOPE not in {s.strip() for s in listed.split(",")}:
        raise DeliveryError(
            f"slack: the bot token lacks the scope {POSTING_SCOPE}, which posting needs; add it to the "
            "Slack app and reinstall it",
            channel="slack",
            retryable=False,
        )


def _with_key(messages: list[dict[str, Any]], keys: set[str] | None) -> dict[str, str]:
    """Outbox keys found in messages' metadata, mapped to the messages' ts."""
    found: dict[str, str] = {}
    for item in messages:
        metadata = item.get("metadata") or {}
        key = (metadata.get("event_payload") or {}).get("key")
        if metadata.get("event_type") == EVENT_TYPE and key and (keys is None or key in keys):
            found[str(key)] = str(item.get("ts"))
    return found


def _webhook_error(status: int, body: str) -> DeliveryError:
    shown = _short(body)
    if status in (404, 410):
        return DeliveryError(
            f"slack webhook: HTTP {status} ({shown}); the webhook was removed or its channel archived: "
            "create a new one",
            channel="slack",
            retryable=False,
        )
    transient = status >= 500 or status == 429
    advice = "Slack or a proxy before it failed; retried later" if transient else "Slack refused the message"
    return DeliveryError(
        f"slack webhook: HTTP {status} ({shown}); {advice}", channel="slack", retryable=transient
    )


def _api_error(exc: SlackApiError) -> DeliveryError:
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = response.data if isinstance(response.data, dict) else {}
    code = str(data.get("error") or "unknown_error")
    if not re.fullmatch(r"[a-z0-9_]+", code):  # not Slack's JSON: a proxy's page, or another server
        transient = status >= 500 or status == 429
        advice = (
            "Slack or a proxy before it failed; retried later"
            if transient
            else "check channels.slack.api_url"
        )
        return DeliveryError(
            f"slack: HTTP {status} with no Slack answer in the body ({_short(code)}); {advice}",
            channel="slack",
            retryable=transient,
        )
    needed = str(data.get("needed") or "chat:write")
    hint = HINTS.get(code, "see the Slack API documentation for this error").format(needed=needed)
    retryable = code in TRANSIENT or status >= 500
    return DeliveryError(f"slack: {code}: {hint}", channel="slack", retryable=retryable)


def _short(text: str, limit: int = 80) -> str:
    """A server's body for a message: markup and control characters gone, one line, bounded."""
    plain = " ".join(re.sub(r"<[^>]*>|[\x00-\x1f\x7f]", " ", text).split())
    plain = plain.removeprefix("Received a response in a non-JSON format:").strip()
    return plain if len(plain) <= limit else plain[: limit - 1] + "…"
